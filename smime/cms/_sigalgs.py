"""Signature algorithms of CMS SignerInfos: what we write, and how to read what others wrote.

Writing is one fixed choice per key type (RFC 5754, RFC 4056, RFC 5753, RFC 8419). Reading is
lenient about spellings seen in the wild (plain ``rsaEncryption`` or ``ecPublicKey`` in the
signatureAlgorithm, OIW OIDs, digest parameters absent or NULL), because those are encodings
of the same mathematics, but never about the mathematics itself.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from asn1crypto import algos as asn1_algos
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from .._cache import LRUCache
from ..algorithms import DIGESTS, SIGNATURE_PADDINGS, check_option, digest
from ..errors import InvalidOptionError, UnsupportedError
from ..keys import PrivateKey
from ._signed_der import digest_algorithm

__all__ = [
    "PublicKey",
    "SignatureScheme",
    "SigningAlgorithm",
    "digest_name",
    "key_mismatch",
    "signing_algorithm",
    "verify_signature",
    "verifying_scheme",
]

PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | dsa.DSAPublicKey
)

_RSA, _PSS, _ECDSA, _ED25519, _DSA = "rsa-pkcs1v15", "rsassa-pss", "ecdsa", "ed25519", "dsa"

#: signatureAlgorithm OID -> (scheme, hash named by the OID or None: take the digestAlgorithm)
_SIGNATURE_OIDS: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.1": (_RSA, None),  # rsaEncryption, as OpenSSL and NSS write it
    "1.2.840.113549.1.1.4": (_RSA, "md5"),
    "1.2.840.113549.1.1.5": (_RSA, "sha1"),
    "1.2.840.113549.1.1.14": (_RSA, "sha224"),
    "1.2.840.113549.1.1.11": (_RSA, "sha256"),
    "1.2.840.113549.1.1.12": (_RSA, "sha384"),
    "1.2.840.113549.1.1.13": (_RSA, "sha512"),
    "1.3.14.3.2.3": (_RSA, "md5"),  # OIW md5WithRSA
    "1.3.14.3.2.29": (_RSA, "sha1"),  # OIW sha1WithRSA
    "1.2.840.113549.1.1.10": (_PSS, None),
    "1.2.840.10040.4.1": (_DSA, None),  # id-dsa
    "1.2.840.10040.4.3": (_DSA, "sha1"),
    "1.3.14.3.2.27": (_DSA, "sha1"),  # OIW dsaWithSHA1
    "2.16.840.1.101.3.4.3.1": (_DSA, "sha224"),
    "2.16.840.1.101.3.4.3.2": (_DSA, "sha256"),
    "1.2.840.10045.2.1": (_ECDSA, None),  # id-ecPublicKey, written by some old clients
    "1.2.840.10045.4.1": (_ECDSA, "sha1"),
    "1.2.840.10045.4.3.1": (_ECDSA, "sha224"),
    "1.2.840.10045.4.3.2": (_ECDSA, "sha256"),
    "1.2.840.10045.4.3.3": (_ECDSA, "sha384"),
    "1.2.840.10045.4.3.4": (_ECDSA, "sha512"),
    "1.3.101.112": (_ED25519, None),
}
_MGF1 = "1.2.840.113549.1.1.8"

_KEY_TYPES: dict[str, tuple[type, ...]] = {
    _RSA: (rsa.RSAPublicKey,),
    _PSS: (rsa.RSAPublicKey,),
    _ECDSA: (ec.EllipticCurvePublicKey,),
    _ED25519: (ed25519.Ed25519PublicKey,),
    _DSA: (dsa.DSAPublicKey,),
}
_KEY_NAMES = {
    rsa.RSAPublicKey: "RSA",
    ec.EllipticCurvePublicKey: "EC",
    ed25519.Ed25519PublicKey: "Ed25519",
    ed448.Ed448PublicKey: "Ed448",
    dsa.DSAPublicKey: "DSA",
}


def digest_name(oid: str) -> str:
    """Our name for a digestAlgorithm OID (``sha256``); UnsupportedError when unknown.

    A few signers put a signature OID (sha256WithRSAEncryption) where the digest belongs;
    the hash it names is what they meant.
    """
    for d in DIGESTS.values():
        if d.oid == oid:
            return d.name
    scheme = _SIGNATURE_OIDS.get(oid)
    if scheme is not None and scheme[1] is not None:
        return scheme[1]
    raise UnsupportedError(f"the digest algorithm {oid} is not supported")


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
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise UnsupportedError(f"cannot sign with a {type(key).__name__}")  # pragma: no cover


def _hash(name: str) -> hashes.HashAlgorithm:
    return DIGESTS[name].hash()


def _rsa_padding(scheme: str, name: str) -> padding.AsymmetricPadding:
    if scheme == _PSS:  # RFC 4056: MGF1 with the same hash, salt as long as the hash
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
    else:
        raise InvalidOptionError(
            f"a {type(key).__name__} cannot sign; use an RSA, EC or Ed25519 key"
        )
    if padding_option == "pss" and kind != "rsa":
        raise InvalidOptionError("padding='pss' needs an RSA key; use padding='pkcs1v15'")
    cache_key = (kind, name, padding_option)
    return _ALGORITHM_CACHE.get_or_make(
        cache_key, lambda: _make_signing_algorithm(kind, name, padding_option)
    )


def _make_signing_algorithm(kind: str, name: str, padding_option: str) -> SigningAlgorithm:
    if kind == "ed25519":
        identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": "ed25519"})
        return SigningAlgorithm(name, identifier.dump(), _ED25519)
    if kind == "ec":
        identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": f"{name}_ecdsa"})
        return SigningAlgorithm(name, identifier.dump(), _ECDSA)
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
        return SigningAlgorithm(name, identifier.dump(), _PSS)
    identifier = asn1_algos.SignedDigestAlgorithm({"algorithm": f"{name}_rsa"})
    return SigningAlgorithm(name, identifier.dump(), _RSA)


# ---------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class SignatureScheme:
    """What a SignerInfo's signatureAlgorithm asks for, read leniently."""

    name: str  # rsa-pkcs1v15 | rsassa-pss | ecdsa | ed25519 | dsa
    hash: str | None  # hash of the signature operation; None for Ed25519
    salt_length: int = 0  # RSASSA-PSS only
    mgf_hash: str | None = None  # RSASSA-PSS only


def verifying_scheme(
    identifier: asn1_algos.SignedDigestAlgorithm, digest_algorithm: str
) -> SignatureScheme:
    """The scheme a signatureAlgorithm names; UnsupportedError for what we cannot check."""
    oid = identifier["algorithm"].dotted
    known = _SIGNATURE_OIDS.get(oid)
    if known is None:
        name = {"1.3.101.113": "Ed448"}.get(oid, oid)
        raise UnsupportedError(f"the signature algorithm {name} is not supported")
    scheme, named_hash = known
    if scheme == _ED25519:
        return SignatureScheme(_ED25519, None)
    if scheme != _PSS:
        return SignatureScheme(scheme, named_hash or digest_algorithm)
    params = identifier["parameters"]
    if not isinstance(params, asn1_algos.RSASSAPSSParams):
        raise UnsupportedError("RSASSA-PSS without parameters is not supported")
    hash_name = digest_name(params["hash_algorithm"]["algorithm"].dotted)
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].dotted != _MGF1:
        raise UnsupportedError(f"the RSASSA-PSS mask generation function {mgf['algorithm'].dotted}"
                               " is not supported")
    mgf_hash = digest_name(mgf["parameters"]["algorithm"].dotted)
    if params["trailer_field"].native not in ("trailer_field_bc", 1):
        raise UnsupportedError("RSASSA-PSS with a trailer field other than 1 is not supported")
    salt = params["salt_length"].native
    if not isinstance(salt, int) or not 0 <= salt <= 1024:
        raise UnsupportedError(f"the RSASSA-PSS salt length {salt} is not usable")
    return SignatureScheme(_PSS, hash_name, salt, mgf_hash)


def key_mismatch(scheme: SignatureScheme, key: object) -> str | None:
    """A sentence when the signer's key cannot have made this kind of signature."""
    if isinstance(key, _KEY_TYPES[scheme.name]):
        return None
    kind = next((n for t, n in _KEY_NAMES.items() if isinstance(key, t)), type(key).__name__)
    return f"the signature algorithm {scheme.name} does not fit the signer's {kind} key"


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
    h = hashes.Hash(_hash(name))
    h.update(data)
    expected = asn1_algos.DigestInfo({
        "digest_algorithm": asn1_algos.DigestAlgorithm.load(digest_algorithm(name)),
        "digest": h.finalize(),
    }).dump()
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, expected)


def verify_signature(
    key: PublicKey, scheme: SignatureScheme, signature: bytes, data: bytes
) -> bool:
    """True when ``signature`` is ``key``'s signature of ``data`` under ``scheme``.

    Every refusal from cryptography (wrong signature, malformed DER in an ECDSA/DSA
    signature, a hash the backend refuses) is a failed signature, never an exception.
    """
    try:
        if scheme.name == _ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if not scheme.hash:
            return False
        algorithm = _hash(scheme.hash)
        if isinstance(key, rsa.RSAPublicKey):
            if scheme.name != _PSS:
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
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True
