"""Signature algorithms of CMS SignerInfos: what we write, and how we read what others wrote.

Writing is one fixed choice per key type (RFC 5754, RFC 4056, RFC 5753, RFC 8419, RFC 9882).
Reading is the one verifier's (:mod:`smime.core.signatures`), with two CMS rules on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa

from .._cache import LRUCache
from ..algorithms import (
    DIGESTS,
    ECDSA,
    ED448,
    ED25519,
    ML_DSA,
    RSA_PKCS1V15,
    RSASSA_PSS,
    SIGNATURE_ALGORITHMS,
    SIGNATURE_PADDINGS,
    check_option,
    digest,
)
from ..core.der import SEQUENCE, UNIVERSAL, encode
from ..core.signatures import SignatureScheme, signature_scheme
from ..errors import InvalidOptionError, UnsupportedError
from ..keys import PrivateKey

__all__ = [
    "SigningAlgorithm",
    "signing_algorithm",
    "verifying_scheme",
]


# ---------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class SigningAlgorithm:
    """How one signer signs: the digest for messageDigest and the signatureAlgorithm."""

    digest: str  # digestAlgorithm name; SHA-512 for Ed25519 whatever was asked (RFC 8419)
    identifier: bytes  # DER signatureAlgorithm
    scheme: str

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, _rsa_padding(self.scheme, self.digest), _hash(self.digest))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_hash(self.digest)))
        if isinstance(key, (ed25519.Ed25519PrivateKey, *_ML_DSA_KEYS)):
            return key.sign(data)  # ML-DSA: pure mode, empty context (RFC 9882)
        raise UnsupportedError(f"cannot sign with a {type(key).__name__}")  # pragma: no cover


_ML_DSA_KEYS = (mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey, mldsa.MLDSA87PrivateKey)


def _hash(name: str) -> hashes.HashAlgorithm:
    return DIGESTS[name].hash()


def _rsa_padding(scheme: str, name: str) -> padding.AsymmetricPadding:
    if scheme == RSASSA_PSS:  # RFC 4056: MGF1 with the same hash, salt as long as the hash
        return padding.PSS(mgf=padding.MGF1(_hash(name)), salt_length=DIGESTS[name].size)
    return padding.PKCS1v15()


_ALGORITHM_CACHE: LRUCache[SigningAlgorithm] = LRUCache("cms.signing_algorithms", 64)


def signing_algorithm(key: PrivateKey, digest_option: str, padding_option: str) -> SigningAlgorithm:
    """The algorithm a key signs with; InvalidOptionError for combinations that do not exist."""
    name = digest(digest_option).name
    check_option("padding", padding_option, SIGNATURE_PADDINGS)
    if isinstance(key, rsa.RSAPrivateKey):
        kind = "rsa"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        kind = "ec"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "ed25519"
        name = "sha512"  # RFC 8419 section 3.1: Ed25519 is always paired with SHA-512
    elif isinstance(key, _ML_DSA_KEYS):
        kind = next(ML_DSA[i] for i, t in enumerate(_ML_DSA_KEYS) if isinstance(key, t))
        name = "sha512"  # RFC 9882 section 3.3: SHA-512 suits every ML-DSA parameter set
    else:
        raise InvalidOptionError(
            f"a {type(key).__name__} cannot sign; use an RSA, EC, Ed25519 or ML-DSA key"
        )
    if padding_option == "pss" and kind != "rsa":
        raise InvalidOptionError("padding='pss' needs an RSA key; use padding='pkcs1v15'")
    cache_key = (kind, name, padding_option)
    return _ALGORITHM_CACHE.get_or_make(
        cache_key, lambda: _make_signing_algorithm(kind, name, padding_option)
    )


def _make_signing_algorithm(kind: str, name: str, padding_option: str) -> SigningAlgorithm:
    if kind in ML_DSA:  # RFC 9881: the OID alone, parameters absent
        oid = next(o for o, a in SIGNATURE_ALGORITHMS.items() if a.name == kind)
        identifier_der = encode(UNIVERSAL, SEQUENCE, asn1_core.ObjectIdentifier(oid).dump())
        return SigningAlgorithm(name, identifier_der, kind)
    if kind == "ed25519":
        identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": "ed25519"})
        return SigningAlgorithm(name, identifier.dump(), ED25519)
    if kind == "ec":
        identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": f"{name}_ecdsa"})
        return SigningAlgorithm(name, identifier.dump(), ECDSA)
    if padding_option == "pss":
        # RFC 4055/4056: hash and MGF1 hash are the digest, salt = hash length, trailer 1.
        # Hash, MGF and salt are written out, not left to the SHA-1 defaults; the trailer
        # equals its DEFAULT, which DER omits (as OpenSSL does).
        hash_id = {"algorithm": name}
        params = asn1_algos.RSASSAPSSParams({
            "hash_algorithm": hash_id,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": hash_id},
            "salt_length": DIGESTS[name].size,
            "trailer_field": "trailer_field_bc",
        })
        identifier = asn1_algos.SignedDigestAlgorithm(
            {"algorithm": "rsassa_pss", "parameters": params}
        )
        return SigningAlgorithm(name, identifier.dump(), RSASSA_PSS)
    identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": f"{name}_rsa"})
    return SigningAlgorithm(name, identifier.dump(), RSA_PKCS1V15)


# ---------------------------------------------------------------------------- verifying


def verifying_scheme(
    identifier: asn1_algos.SignedDigestAlgorithm, digest_algorithm: str
) -> SignatureScheme:
    """The scheme a SignerInfo's signatureAlgorithm names, its hash taken from the
    digestAlgorithm when the OID names none; UnsupportedError for what we cannot check.

    Ed448 in CMS digests with SHAKE256 (RFC 8419 section 3), which we do not implement,
    so a CMS signer's Ed448 is refused here, while certificates and CRLs signed with it
    are checked. ML-DSA takes the digests RFC 9882 section 3.3 lists for its parameter
    set (a weaker digest would lower the signature's strength to its own).
    """
    scheme = signature_scheme(identifier, digest_algorithm)
    if scheme.name == ED448:
        raise UnsupportedError("the signature algorithm Ed448 is not supported")
    allowed = _ML_DSA_DIGESTS.get(scheme.name)
    if allowed is not None and digest_algorithm not in allowed:
        raise UnsupportedError(
            f"{scheme.name} with the digest {digest_algorithm or 'unknown'} is not supported "
            f"(RFC 9882 pairs it with {', '.join(allowed)})"
        )
    return scheme


#: RFC 9882 section 3.3's digests for each ML-DSA parameter set, of those we implement.
_ML_DSA_DIGESTS = dict(
    zip(ML_DSA, (("sha256", "sha384", "sha512"), ("sha384", "sha512"), ("sha512",)), strict=True)
)
