"""Trust, chain validation, revocation, sender binding and the certificate store.

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
from .policy import (
    DEFAULT_POLICY,
    VerificationPolicy,
    check_digest,
    validation_times,
)
from .revocation import RevocationStatus, check_revocation
from .store import CertificateStore
from .trust import TrustStore

__all__ = [
    "DEFAULT_POLICY",
    "CacheInfo",
    "CertificateStore",
    "ChainResult",
    "RevocationStatus",
    "TrustStore",
    "VerificationPolicy",
    "check_digest",
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
