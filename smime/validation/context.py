"""The trust a signature was judged with, kept so that later steps judge the same way.

``verify`` records one on its result; :meth:`CertificateStore.harvest` reads it to
validate every certificate it keeps against the same roots, revocation data and mode,
instead of trusting whatever a message happened to carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

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
    def __reduce__(self) -> tuple[Any, ...]:
        """CRL and OCSP objects travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)

    def __eq__(self, other: object) -> bool:
        """Field by field, CRL and OCSP objects by their DER (cryptography's OCSP responses
        compare by identity, so a context that came back from another process would equal
        nothing)."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _compared(self) == _compared(other)

    def __hash__(self) -> int:
        return hash(_compared(self))


def _compared(context: ValidationContext) -> tuple[Any, ...]:
    return (context.trust, tuple(map(_der, context.crls)),
            tuple(map(_der, context.ocsp_responses)), context.revocation, context.fetch,
            context.policy)


def _der(item: Any) -> Any:
    """A CRL or OCSP object as its DER (which hashes); bytes and text as they are."""
    if isinstance(item, (x509.CertificateRevocationList, ocsp.OCSPResponse)):
        return item.public_bytes(Encoding.DER)
    return bytes(item) if isinstance(item, (bytearray, memoryview)) else item
