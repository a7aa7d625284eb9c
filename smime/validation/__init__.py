"""Trust, chain validation, revocation and sender binding.

This layer answers "should a careful mail client believe this signer?" for certificates;
the API layer feeds it the certificates, signing time and addresses of a message.
"""

from __future__ import annotations

from .._cache import CacheInfo
from .binding import check_key_usage, check_sender, normalize_address, signer_addresses
from .chain import (
    ChainResult,
    clear_validation_cache,
    validate_certificate,
    validate_certificate_async,
    validation_cache_info,
)
from .context import ValidationContext
from .policy import (
    DEFAULT_POLICY,
    VerificationPolicy,
    validation_times,
)
from .revocation import RevocationStatus, check_revocation
from .trust import TrustStore

__all__ = [
    "DEFAULT_POLICY",
    "CacheInfo",
    "ChainResult",
    "RevocationStatus",
    "TrustStore",
    "ValidationContext",
    "VerificationPolicy",
    "check_key_usage",
    "check_revocation",
    "check_sender",
    "clear_validation_cache",
    "normalize_address",
    "signer_addresses",
    "validate_certificate",
    "validate_certificate_async",
    "validation_cache_info",
    "validation_times",
]
