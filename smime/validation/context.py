"""The trust a signature was judged with, kept so that later steps judge the same way.

``verify`` records one on its result; :meth:`CertificateStore.harvest` reads it to
validate every certificate it keeps against the same roots, revocation data and mode,
instead of trusting whatever a message happened to carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.pickling import reduce_fields
from ..options import RevocationMode
from .policy import DEFAULT_POLICY, VerificationPolicy
from .revocation import CrlLike, OcspLike
from .trust import TrustStore

__all__ = ["ValidationContext"]


@dataclass(frozen=True)
class ValidationContext:
    """The roots, revocation data and settings a verification used."""

    trust: TrustStore
    crls: tuple[CrlLike, ...] = ()
    ocsp_responses: tuple[OcspLike, ...] = ()
    revocation: RevocationMode = "soft-fail"
    fetch: bool = False
    policy: VerificationPolicy = DEFAULT_POLICY

    def __reduce__(self) -> tuple[Any, ...]:
        """CRL and OCSP objects travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)
