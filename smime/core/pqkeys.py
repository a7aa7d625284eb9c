"""ML-KEM and ML-DSA private keys in the three PKCS#8 forms other implementations write.

RFC 9881 (ML-DSA) and RFC 9935 (ML-KEM) give the private key as a CHOICE: the ``seed``
([0] IMPLICIT OCTET STRING), the ``expandedKey`` (OCTET STRING), or ``both`` (a SEQUENCE
of the two). cryptography 50 loads the seed form only. :func:`seed_form` rewrites the
"both" form into the seed form after checking that the two halves belong together (the
RFCs' consistency check, as far as it can be made without regenerating the expanded key:
the public parts the expanded key carries must be the seed's); it refuses an expanded-only
key, from which no seed can be recovered, and ML-KEM-512, which cryptography lacks.
"""

from __future__ import annotations

import hashlib
import hmac

from asn1crypto import core, pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from ..algorithms import ML_KEMS, SIGNATURE_ALGORITHMS, oid_name
from ..errors import LoadError, ParseError, UnsupportedError
from .der import OCTET_STRING, SEQUENCE, UNIVERSAL, children, encode, read

__all__ = ["seed_form"]

_ML_DSA_OIDS = {oid for oid, alg in SIGNATURE_ALGORITHMS.items() if alg.name.startswith("ml-dsa")}
_SEED_TAG, _EXPANDED_TAG, _BOTH_TAG = 0x80, 0x04, 0x30
_WHAT = "PKCS#8 private key"


def _der(data: bytes) -> bytes | None:
    """The DER of an unencrypted PKCS#8 key in PEM or DER, else None."""
    if not pem.detect(data):
        return data
    try:
        blocks = pem.unarmor(data, multiple=True)
        return next((der for kind, _h, der in blocks if kind == "PRIVATE KEY"), None)
    except (ValueError, TypeError):
        return None  # the normal loader says what is wrong


def _fields(der: bytes) -> tuple[str, bytes, list[bytes]] | None:
    """(algorithm OID, privateKey contents, the DER of every field) of a OneAsymmetricKey
    (RFC 5958), or None when ``der`` is not one."""
    try:
        top = read(der, 0, len(der), _WHAT)
        fields = children(der, top, _WHAT) if top.is_(UNIVERSAL, SEQUENCE) else []
        if len(fields) < 3 or not fields[2].is_(UNIVERSAL, OCTET_STRING):
            return None
        algorithm = children(der, fields[1], _WHAT)
        oid = core.ObjectIdentifier.load(der[algorithm[0].start:algorithm[0].next]).dotted
    except (ParseError, ValueError, TypeError, IndexError):
        return None
    return oid, der[fields[2].body:fields[2].end], [der[f.start:f.next] for f in fields]


def _both(inner: bytes, name: str) -> tuple[bytes, bytes]:
    """(seed, expandedKey) of the "both" form."""
    try:
        top = read(inner, 0, len(inner), _WHAT)
        halves = children(inner, top, _WHAT)
    except ParseError as exc:
        raise LoadError(f"malformed {name} private key: {exc}") from None
    if top.next != len(inner) or len(halves) != 2 or not all(
        h.is_(UNIVERSAL, OCTET_STRING) and not h.constructed for h in halves
    ):
        raise LoadError(f"malformed {name} private key: bad seed and expanded key pair")
    seed, expanded = (inner[h.body:h.end] for h in halves)
    return seed, expanded


def seed_form(data: bytes) -> bytes | None:
    """DER PKCS#8 in the seed form for an ML-KEM/ML-DSA key in the "both" form; None for
    every other key (the seed form included), which cryptography loads as it is.

    LoadError for an expanded-only key or halves that disagree; UnsupportedError for
    ML-KEM-512.
    """
    der = _der(data)
    found = None if der is None else _fields(der)
    if found is None:
        return None
    oid, inner, fields = found
    name = oid_name(oid).upper()
    if oid in ML_KEMS and ML_KEMS[oid].name == "ml-kem-512":
        raise UnsupportedError(
            "ML-KEM-512 private keys are not supported: cryptography does not implement "
            "ML-KEM-512 (use ML-KEM-768 or ML-KEM-1024)"
        )
    if (oid not in ML_KEMS and oid not in _ML_DSA_OIDS) or not inner or inner[0] == _SEED_TAG:
        return None
    if inner[0] == _EXPANDED_TAG:
        raise LoadError(
            f"this {name} private key holds only the expanded key, without the seed it was "
            "made from; cryptography builds keys from seeds alone and the seed cannot be "
            "recovered, so export the key in the seed or both form (RFC 9881, RFC 9935)"
        )
    if inner[0] != _BOTH_TAG:
        raise LoadError(f"malformed {name} private key: neither seed, expanded key nor both")
    seed, expanded = _both(inner, name)
    private_key = encode(UNIVERSAL, OCTET_STRING, encode(2, 0, seed, constructed=False),
                         constructed=False)
    rewritten = encode(UNIVERSAL, SEQUENCE, fields[0] + fields[1] + private_key)
    try:
        key = serialization.load_der_private_key(rewritten, None)
    except ValueError as exc:
        raise LoadError(f"malformed {name} private key: {exc}") from None
    if not _consistent(key, seed, expanded):
        raise LoadError(
            f"malformed {name} private key: its seed and its expanded key do not belong "
            "together (the consistency check of RFC 9881 and RFC 9935)"
        )
    return rewritten


def _consistent(key: object, seed: bytes, expanded: bytes) -> bool:
    """Whether the public parts of ``expanded`` are those of the key made from ``seed``.

    ML-KEM (FIPS 203): dk = dk_PKE || ek || H(ek) || z, with z the seed's second half.
    ML-DSA (FIPS 204): sk = rho || K || tr || ..., rho the public key's first 32 bytes and
    tr = SHAKE256(pk, 64).
    """
    if isinstance(key, (mlkem.MLKEM768PrivateKey, mlkem.MLKEM1024PrivateKey)):
        ek = key.public_key().public_bytes_raw()
        k = (len(ek) - 32) // 384
        expected = 384 * k + len(ek) + 32 + 32
        return len(expanded) == expected and hmac.compare_digest(
            expanded[384 * k:], ek + hashlib.sha3_256(ek).digest() + seed[32:]
        )
    if isinstance(key, (mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey,
                        mldsa.MLDSA87PrivateKey)):
        pk = key.public_key().public_bytes_raw()
        return hmac.compare_digest(expanded[:32], pk[:32]) and hmac.compare_digest(
            expanded[64:128], hashlib.shake_256(pk).digest(64)
        )
    return False
