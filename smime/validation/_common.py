"""Small pieces the revocation checkers share: the status value, names, times, signatures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from .._cache import LRUCache
from ..core.times import utc

__all__ = [
    "COMPROMISE_REASONS",
    "TOLERANCE",
    "RevocationStatus",
    "cert_label",
    "issued_by",
    "name_key",
    "name_key_der",
    "utc",
    "verify_signature",
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


def cert_label(cert: x509.Certificate) -> str:
    """``"Alice (alice@example.com)"``-style short name of a certificate for messages."""
    try:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if cns and isinstance(cns[0].value, str):
            return repr(cns[0].value)
        return repr(cert.subject.rfc4514_string())
    except ValueError:
        return f"serial {cert.serial_number:#x}"


def verify_signature(
    public_key: Any, signature: bytes, data: bytes, algorithm: asn1_algos.SignedDigestAlgorithm
) -> bool:
    """Check a signature made with any algorithm X.509 uses; False on any failure."""
    try:
        sig_algo = algorithm.signature_algo
        if sig_algo == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
            return True
        if sig_algo == "ed448" and isinstance(public_key, ed448.Ed448PublicKey):
            public_key.verify(signature, data)
            return True
        if sig_algo == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            params = algorithm["parameters"]
            pss_hash = _hash(params["hash_algorithm"]["algorithm"].native)
            mgf_hash = _hash(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            public_key.verify(
                signature, data,
                padding.PSS(padding.MGF1(mgf_hash), params["salt_length"].native), pss_hash,
            )
            return True
        digest = _hash(algorithm.hash_algo)
        if sig_algo == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
            return True
        if sig_algo == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(digest))
            return True
        if sig_algo == "dsa" and isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, data, digest)
            return True
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError, KeyError):
        return False
    return False


def _hash(name: str) -> hashes.HashAlgorithm:
    table: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
        "sha384": hashes.SHA384, "sha512": hashes.SHA512, "md5": hashes.MD5,
        "sha3_256": hashes.SHA3_256, "sha3_384": hashes.SHA3_384, "sha3_512": hashes.SHA3_512,
    }
    if name not in table:
        raise ValueError(f"unsupported hash {name}")
    return table[name]()


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
    return verify_signature(key, cert.signature, cert.tbs_certificate_bytes, algorithm)
