"""The trust a signature was judged with, kept so that later steps judge the same way.

``verify`` records one on its result; :meth:`CertificateStore.harvest` reads it to
validate every certificate it keeps against the same roots, revocation data and mode,
instead of trusting whatever a message happened to carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``trust`` (:meth:`TrustStore.to_dict`), the number of
        ``crls`` and ``ocsp_responses`` given, ``revocation``, ``fetch`` and ``policy``."""
        return {
            "trust": self.trust.to_dict(),
            "crls": len(self.crls),
            "ocsp_responses": len(self.ocsp_responses),
            "revocation": self.revocation,
            "fetch": self.fetch,
            "policy": self.policy.to_dict(),
        }
