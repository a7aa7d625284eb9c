"""Small pieces the revocation checkers share: the status value, names, times, issuers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._cache import LRUCache
from ..core.signatures import verify_signature
from ..core.times import utc

__all__ = [
    "COMPROMISE_REASONS",
    "TOLERANCE",
    "RevocationStatus",
    "issued_by",
    "name_key",
    "name_key_der",
    "utc",
]

#: Clock skew allowed when comparing revocation data times.
TOLERANCE = dt.timedelta(seconds=1)

#: Reasons after which no signature by the key can be believed, whatever time it claims.
COMPROMISE_REASONS = frozenset({
    x509.ReasonFlags.key_compromise, x509.ReasonFlags.ca_compromise,
    x509.ReasonFlags.aa_compromise,
})


@dataclass(frozen=True)
class RevocationStatus:
    """What the revocation data says about one certificate at the validation time.

    ``status`` is ``"good"``, ``"revoked"`` or ``"unknown"`` (no usable data; ``detail``
    says why). ``source`` is ``"crl"`` or ``"ocsp"`` when the data decided.
    """

    status: str
    source: str | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    detail: str = ""

    @property
    def known(self) -> bool:
        return self.status != "unknown"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: each field by its name, ``revoked_at`` in ISO 8601."""
        return {
            "status": self.status,
            "source": self.source,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
            "detail": self.detail,
        }


_NAME_KEYS: LRUCache[Any] = LRUCache("validation.name_keys", 4096)


def name_key(name: x509.Name) -> Any:
    """A value equal for names equal under RFC 5280 §7.1 (case, whitespace), via asn1crypto."""
    return name_key_der(name.public_bytes())


def name_key_der(der: bytes) -> Any:
    """:func:`name_key` of a DER-encoded Name."""
    return _NAME_KEYS.get_or_make(der, lambda: _name_key(der))


def _name_key(der: bytes) -> Any:
    try:
        return asn1_x509.Name.load(der).hashable
    except (ValueError, TypeError):
        return der


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer`` named and signed ``cert`` (any algorithm, DSA included, unlike
    cryptography's ``verify_directly_issued_by``)."""
    if name_key(cert.issuer) != name_key(issuer.subject):
        return False
    try:
        algorithm = asn1_x509.Certificate.load(
            cert.public_bytes(serialization.Encoding.DER)
        )["signature_algorithm"]
        key = issuer.public_key()
    except Exception:  # unparsable certificate or unsupported key algorithm
        return False
    return verify_signature(key, algorithm, cert.signature, cert.tbs_certificate_bytes)
