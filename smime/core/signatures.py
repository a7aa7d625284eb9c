"""Verifying a signature: one verifier for CMS signers, certificates, CRLs and OCSP responses.

A signature algorithm identifier (OID and parameters) names a scheme and its hash:
:func:`signature_scheme` reads it, leniently about spellings seen in the wild (plain
``rsaEncryption`` or ``ecPublicKey`` where a signature OID belongs, OIW OIDs, digest
parameters absent or NULL), because those are encodings of the same mathematics, but never
about the mathematics itself. :func:`verify_signature` then checks the signature and says
True or False: every refusal from cryptography is a failed signature, never an exception.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, TypeAlias

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    mldsa,
    padding,
    rsa,
)
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ..algorithms import (
    DIGESTS,
    DSA,
    ECDSA,
    ED448,
    ED25519,
    MGF1_OID,
    ML_DSA,
    RSA_PKCS1V15,
    RSASSA_PSS,
    SIGNATURE_ALGORITHMS,
)
from ..errors import UnsupportedError
from .der import OCTET_STRING, SEQUENCE, UNIVERSAL, encode

__all__ = [
    "PublicKey",
    "SignatureScheme",
    "digest_name",
    "key_mismatch",
    "signature_scheme",
    "verify_signature",
]

#: The keys that sign.
PublicKey: TypeAlias = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | dsa.DSAPublicKey
    | mldsa.MLDSA44PublicKey
    | mldsa.MLDSA65PublicKey
    | mldsa.MLDSA87PublicKey
)
#: ML-DSA public keys by scheme (``ml-dsa-44``...): each parameter set is its own scheme.
_ML_DSA_KEYS: dict[str, type] = dict(
    zip(ML_DSA, (mldsa.MLDSA44PublicKey, mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey),
        strict=True)
)

_KEY_TYPES: dict[str, type] = {
    RSA_PKCS1V15: rsa.RSAPublicKey,
    RSASSA_PSS: rsa.RSAPublicKey,
    ECDSA: ec.EllipticCurvePublicKey,
    ED25519: ed25519.Ed25519PublicKey,
    ED448: ed448.Ed448PublicKey,
    DSA: dsa.DSAPublicKey,
    **_ML_DSA_KEYS,
}
_KEY_NAMES = {
    rsa.RSAPublicKey: "RSA",
    ec.EllipticCurvePublicKey: "EC",
    ed25519.Ed25519PublicKey: "Ed25519",
    ed448.Ed448PublicKey: "Ed448",
    dsa.DSAPublicKey: "DSA",
    **{key_type: scheme.upper() for scheme, key_type in _ML_DSA_KEYS.items()},
}


@dataclass(frozen=True)
class SignatureScheme:
    """What a signature algorithm identifier asks for, read leniently."""

    name: str  # rsa-pkcs1v15 | rsassa-pss | ecdsa | ed25519 | ed448 | dsa | ml-dsa-44...
    hash: str | None  # hash of the signature operation; None for EdDSA and ML-DSA, ""
    # when unknown
    salt_length: int = 0  # RSASSA-PSS only
    mgf_hash: str | None = None  # RSASSA-PSS only


def digest_name(oid: str) -> str:
    """Our name for a digest algorithm OID (``sha256``); UnsupportedError when unknown.

    A few signers put a signature OID (sha256WithRSAEncryption) where the digest belongs;
    the hash it names is what they meant.
    """
    for d in DIGESTS.values():
        if d.oid == oid:
            return d.name
    known = SIGNATURE_ALGORITHMS.get(oid)
    if known is not None and known.hash is not None:
        return known.hash
    raise UnsupportedError(f"the digest algorithm {oid} is not supported")


def signature_scheme(identifier: Any, digest_algorithm: str = "") -> SignatureScheme:
    """The scheme a signature AlgorithmIdentifier (asn1crypto or DER) names;
    UnsupportedError for what we cannot check.

    ``digest_algorithm`` is the hash to use when the OID names none (a CMS SignerInfo's
    digestAlgorithm); without it such a scheme's ``hash`` is ``""``.
    """
    if isinstance(identifier, (bytes, bytearray, memoryview)):
        identifier = asn1_algos.SignedDigestAlgorithm.load(bytes(identifier))
    oid = identifier["algorithm"].dotted
    known = SIGNATURE_ALGORITHMS.get(oid)
    if known is None:
        raise UnsupportedError(f"the signature algorithm {oid} is not supported")
    scheme, named_hash = known.scheme, known.hash
    if scheme in (ED25519, ED448) or scheme in ML_DSA:  # pure: they hash the data themselves
        return SignatureScheme(scheme, None)
    if scheme != RSASSA_PSS:
        return SignatureScheme(scheme, named_hash or digest_algorithm)
    params = identifier["parameters"]
    if not isinstance(params, asn1_algos.RSASSAPSSParams):
        raise UnsupportedError("RSASSA-PSS without parameters is not supported")
    hash_name = digest_name(params["hash_algorithm"]["algorithm"].dotted)
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].dotted != MGF1_OID:
        raise UnsupportedError(f"the RSASSA-PSS mask generation function {mgf['algorithm'].dotted}"
                               " is not supported")
    mgf_hash = digest_name(mgf["parameters"]["algorithm"].dotted)
    if params["trailer_field"].native not in ("trailer_field_bc", 1):
        raise UnsupportedError("RSASSA-PSS with a trailer field other than 1 is not supported")
    salt = params["salt_length"].native
    if not isinstance(salt, int) or not 0 <= salt <= 1024:
        raise UnsupportedError(f"the RSASSA-PSS salt length {salt} is not usable")
    return SignatureScheme(RSASSA_PSS, hash_name, salt, mgf_hash)


def key_mismatch(scheme: SignatureScheme, key: object) -> str | None:
    """A sentence when ``key`` cannot have made this kind of signature."""
    if isinstance(key, _KEY_TYPES[scheme.name]):
        return None
    kind = next((n for t, n in _KEY_NAMES.items() if isinstance(key, t)), type(key).__name__)
    return f"the signature algorithm {scheme.name} does not fit the signer's {kind} key"


def _hash(name: str) -> hashes.HashAlgorithm:
    return DIGESTS[name].hash()


def _digest_info(name: str, data: bytes) -> bytes:
    """DER DigestInfo of ``data`` with the hash's parameters absent (RFC 4055 2.1)."""
    h = hashes.Hash(_hash(name))
    h.update(data)
    oid = asn1_core.ObjectIdentifier(DIGESTS[name].oid).dump()
    algorithm = encode(UNIVERSAL, SEQUENCE, oid)
    digest = encode(UNIVERSAL, OCTET_STRING, h.finalize(), constructed=False)
    return encode(UNIVERSAL, SEQUENCE, algorithm + digest)


def _verify_pkcs1v15(key: rsa.RSAPublicKey, signature: bytes, data: bytes, name: str) -> bool:
    """RSASSA-PKCS1-v1_5, also when the DigestInfo leaves the hash's NULL parameters out.

    RFC 8017 (note 2 of section 9.2) writes NULL; some signers (Bouncy Castle's
    rawsha256nonull sample) omit it, as RFC 4055 allows for SHA-2 identifiers. The padding
    is still checked by OpenSSL; only the DigestInfo is compared here, in full.
    """
    try:
        key.verify(signature, data, padding.PKCS1v15(), _hash(name))
        return True
    except InvalidSignature:
        pass
    expected = _digest_info(name, data)
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, expected)


def _verify(key: CertificatePublicKeyTypes, scheme: SignatureScheme, signature: bytes,
            data: bytes) -> bool:
    if key_mismatch(scheme, key) is not None:
        return False
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey, mldsa.MLDSA44PublicKey,
                        mldsa.MLDSA65PublicKey, mldsa.MLDSA87PublicKey)):
        key.verify(signature, data)  # ML-DSA: pure mode, empty context (RFC 9881, RFC 9882)
        return True
    if not scheme.hash:
        return False
    algorithm = _hash(scheme.hash)
    if isinstance(key, rsa.RSAPublicKey):
        if scheme.name == RSA_PKCS1V15:
            return _verify_pkcs1v15(key, signature, data, scheme.hash)
        if scheme.mgf_hash is None:
            return False
        pss = padding.PSS(padding.MGF1(_hash(scheme.mgf_hash)), scheme.salt_length)
        key.verify(signature, data, pss, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, dsa.DSAPublicKey):
        key.verify(signature, data, algorithm)
    else:
        return False  # pragma: no cover - key_mismatch admits no other key type
    return True


def verify_signature(
    key: CertificatePublicKeyTypes, algorithm: SignatureScheme | Any, signature: bytes,
    data: bytes,
) -> bool:
    """True when ``signature`` is ``key``'s signature of ``data``.

    ``algorithm`` is a scheme already read (a CMS signer's, see :func:`signature_scheme`),
    or the signature AlgorithmIdentifier of a certificate, CRL or OCSP response (asn1crypto
    or DER): one we cannot read or do not support is a failed signature, like a key of
    the wrong type, a wrong signature, malformed DER in an ECDSA/DSA signature or a hash
    the backend refuses.
    """
    try:
        scheme = (
            algorithm if isinstance(algorithm, SignatureScheme) else signature_scheme(algorithm)
        )
        return _verify(key, scheme, signature, data)
    except (InvalidSignature, UnsupportedError, UnsupportedAlgorithm, ValueError, TypeError,
            KeyError):
        return False
