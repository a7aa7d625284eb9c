"""KEM recipients (RFC 9629 KEMRecipientInfo) with ML-KEM (RFC 9936).

A KEMRecipientInfo travels in an OtherRecipientInfo of type id-ori-kem. The sender
encapsulates to the recipient's ML-KEM key, derives the key-encryption key from the shared
secret with a KDF whose ``info`` is the DER CMSORIforKEMOtherInfo (the wrap algorithm, the
KEK length and any ukm; no salt), and wraps the content key with it. We write what RFC 9936
requires of ML-KEM-768 and ML-KEM-1024: HKDF-SHA256 and AES-256 key wrap. We read HKDF with
SHA-256, SHA-384 or SHA-512 and AES-128/192/256 key wrap, as RFC 9629 allows.

ML-KEM rejects implicitly: a wrong ciphertext decapsulates to an unrelated secret, so the
unwrap fails and the caller's one ``DecryptionError`` follows; a ciphertext of the wrong
length, which cryptography refuses outright, takes the same path.
"""

from __future__ import annotations

import os
from typing import TypeAlias

from asn1crypto import cms
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..algorithms import (
    DIGESTS,
    HKDF_KEM_KDFS,
    HKDF_SHA256_OID,
    ID_ORI_KEM_OID,
    KEY_WRAPS,
    ML_KEMS,
    oid_name,
)
from ..errors import ParseError, UnsupportedError
from ._schema import CMSORIforKEMOtherInfo, KEMRecipientInfo, KeyWrapAlgorithm, RecipientInfo
from .recipients import RecipientSpec, recipient_id

__all__ = ["KemKey", "KemPublicKey", "build_kemri", "check_kemri", "kem_name", "open_kemri"]

KemKey: TypeAlias = mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey
KemPublicKey: TypeAlias = mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey

_KDF_WRITTEN = HKDF_SHA256_OID  # RFC 9936 section 3
#: The AES key wraps we unwrap with (3DES wrap has no place in a KEMRecipientInfo).
_AES_WRAPS = ("aes128_wrap", "aes192_wrap", "aes256_wrap")


def kem_name(key: KemKey | KemPublicKey) -> str:
    """``ml-kem-768`` or ``ml-kem-1024`` for a key of that parameter set."""
    if isinstance(key, (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey)):
        return "ml-kem-768"
    return "ml-kem-1024"


def _kem_oid(name: str) -> str:
    return next(k.oid for k in ML_KEMS.values() if k.name == name)


def _kek(hash_name: str, shared: bytes, wrap: cms.KeyEncryptionAlgorithm, length: int,
         ukm: bytes | None) -> bytes:
    fields: dict[str, object] = {"wrap": wrap, "kek_length": length}
    if ukm is not None:
        fields["ukm"] = ukm
    info = CMSORIforKEMOtherInfo(fields).dump()
    return HKDF(DIGESTS[hash_name].hash(), length, None, info).derive(shared)


def build_kemri(spec: RecipientSpec, cek: bytes) -> cms.RecipientInfo:
    """An OtherRecipientInfo holding a KEMRecipientInfo for one ML-KEM recipient."""
    peer = spec.certificate.public_key()
    assert isinstance(peer, (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey))
    kem = _kem_oid(kem_name(peer))
    wrap_name = ML_KEMS[kem].wrap
    _wrap_label, length = KEY_WRAPS[wrap_name]
    wrap = KeyWrapAlgorithm({"algorithm": wrap_name})
    shared, ciphertext = peer.encapsulate()
    kek = _kek(HKDF_KEM_KDFS[_KDF_WRITTEN], shared, wrap, length, None)
    choice, value = recipient_id(spec)
    kemri = KEMRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier(name=choice, value=value),
        "kem": {"algorithm": kem},
        "kemct": ciphertext,
        "kdf": {"algorithm": _KDF_WRITTEN},
        "kek_length": length,
        "wrap": wrap,
        "encrypted_key": aes_key_wrap(kek, cek),
    })
    return RecipientInfo(name="ori", value={"ori_type": ID_ORI_KEM_OID, "ori_value": kemri})


def check_kemri(kemri: KEMRecipientInfo) -> str:
    """The KEM's name (``ml-kem-768``) when we can open this KEMRecipientInfo, decided from
    its structure alone; ParseError when it contradicts itself, else UnsupportedError."""
    if kemri["version"].native != "v0":
        raise ParseError("malformed KEMRecipientInfo: its version must be 0 (RFC 9629)")
    kem = kemri["kem"]["algorithm"].dotted
    if kem not in ML_KEMS:
        raise UnsupportedError(f"unsupported KEM {kem} ({oid_name(kem)})")
    if ML_KEMS[kem].name == "ml-kem-512":
        raise UnsupportedError("unsupported KEM ml-kem-512: cryptography does not implement it")
    kdf = kemri["kdf"]["algorithm"].dotted
    if kdf not in HKDF_KEM_KDFS:
        raise UnsupportedError(f"unsupported key derivation {kdf} ({oid_name(kdf)})")
    wrap = kemri["wrap"]["algorithm"]
    if wrap.native not in _AES_WRAPS:
        raise UnsupportedError(f"unsupported key wrap {wrap.dotted} ({oid_name(wrap.dotted)})")
    if kemri["kek_length"].native != KEY_WRAPS[wrap.native][1]:
        raise ParseError(
            f"malformed KEMRecipientInfo: kekLength {kemri['kek_length'].native} does not fit "
            f"{KEY_WRAPS[wrap.native][0]}"
        )
    return ML_KEMS[kem].name


def open_kemri(kemri: KEMRecipientInfo, key: KemKey, key_length: int) -> tuple[bytes, bool]:
    """The content key, and whether it is genuine (checked first with :func:`check_kemri`).

    Every failure (a ciphertext of the wrong length, an unwrap that fails, a key of the
    wrong length) gives a random key instead, like RSA key transport, so the caller does
    the same work and raises the same error whatever went wrong.
    """
    wrap = kemri["wrap"]
    _wrap_label, length = KEY_WRAPS[wrap["algorithm"].native]
    ukm = kemri["ukm"].native
    try:
        shared = key.decapsulate(kemri["kemct"].native)
        kek = _kek(HKDF_KEM_KDFS[kemri["kdf"]["algorithm"].dotted], shared, wrap, length, ukm)
        cek = aes_key_unwrap(kek, kemri["encrypted_key"].native)
    except (ValueError, InvalidUnwrap):
        cek = b""
    if len(cek) != key_length:
        return os.urandom(key_length), False
    return cek, True
