"""Key agreement recipients (RFC 5652 6.2.2): ephemeral-static ECDH and X25519.

EC (RFC 5753, RFC 8551 profile): P-256 uses dhSinglePass-stdDH-sha256kdf with aes128-wrap,
P-384 sha384kdf with aes256-wrap, P-521 sha512kdf with aes256-wrap; the KEK comes from the
ANSI X9.63 KDF over ECC-CMS-SharedInfo. X25519 (RFC 8418): HKDF-SHA256 with that
SharedInfo as ``info``, no ukm and so no salt. OpenSSL 3.0 cannot encrypt to X25519
certificates at all; we read both KDF families for either key type.
"""

from __future__ import annotations

import hmac
import os
from typing import TypeAlias

from asn1crypto import cms, keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..algorithms import DIGESTS, KDF_SCHEMES, KEY_WRAPS, KdfScheme, oid_name
from ..errors import UnsupportedError
from ._schema import EccCmsSharedInfo, KeyWrapAlgorithm, RecipientInfo
from .recipients import RecipientSpec, recipient_id

__all__ = ["AgreementKey", "build_kari", "check_kari", "open_kari"]

AgreementKey: TypeAlias = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey

_EC_PROFILE = {
    "secp256r1": ("ecdh_sha256kdf", "aes128_wrap"),
    "secp384r1": ("ecdh_sha384kdf", "aes256_wrap"),
    "secp521r1": ("ecdh_sha512kdf", "aes256_wrap"),
}


def _kek(
    scheme: KdfScheme,
    shared: bytes,
    wrap: cms.KeyEncryptionAlgorithm,
    ukm: bytes | None,
    salt: bytes | None,
) -> bytes:
    _name, length = KEY_WRAPS[wrap["algorithm"].native]
    fields: dict[str, object] = {"key_info": wrap, "supp_pub_info": (length * 8).to_bytes(4, "big")}
    if ukm is not None:
        fields["entity_u_info"] = ukm
    info = EccCmsSharedInfo(fields).dump()
    digest = DIGESTS[scheme.hash_name].hash()
    if scheme.kdf == "hkdf":
        return HKDF(digest, length, salt, info).derive(shared)
    return X963KDF(digest, length, info).derive(shared)


def build_kari(spec: RecipientSpec, cek: bytes) -> cms.RecipientInfo:
    """A KeyAgreeRecipientInfo for one recipient, with a fresh ephemeral key."""
    peer = spec.certificate.public_key()
    if isinstance(peer, ec.EllipticCurvePublicKey):
        scheme_name, wrap_name = _EC_PROFILE[peer.curve.name]
        ephemeral = ec.generate_private_key(peer.curve)
        shared = ephemeral.exchange(ec.ECDH(), peer)
        point = ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point})
    else:
        assert isinstance(peer, x25519.X25519PublicKey)
        scheme_name = "ecdh_hkdf_sha256"
        wrap_name = "aes256_wrap" if len(cek) > 16 else "aes128_wrap"
        x_ephemeral = x25519.X25519PrivateKey.generate()
        shared = x_ephemeral.exchange(peer)
        raw = x_ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "x25519"}, "public_key": raw})
    wrap = KeyWrapAlgorithm({"algorithm": wrap_name})
    kek = _kek(KDF_SCHEMES[scheme_name], shared, wrap, None, None)
    choice, value = recipient_id(spec)
    if choice == "issuer_and_serial_number":
        rid = cms.KeyAgreementRecipientIdentifier(name=choice, value=value)
    else:
        rid = cms.KeyAgreementRecipientIdentifier(
            name="r_key_id", value={"subject_key_identifier": value}
        )
    return RecipientInfo(
        name="kari",
        value={
            "version": "v3",
            "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
            "key_encryption_algorithm": {"algorithm": scheme_name, "parameters": wrap},
            "recipient_encrypted_keys": [{"rid": rid, "encrypted_key": aes_key_wrap(kek, cek)}],
        },
    )


def check_kari(kari: cms.KeyAgreeRecipientInfo) -> str:
    """Our key-management name ("ecdh" or "x25519"), or UnsupportedError naming what is not."""
    alg = kari["key_encryption_algorithm"]
    if alg["algorithm"].native not in KDF_SCHEMES:
        oid = alg["algorithm"].dotted
        raise UnsupportedError(
            f"unsupported key agreement algorithm {oid} ({oid_name(oid)})"
        )
    wrap = alg["parameters"]
    if not isinstance(wrap, KeyWrapAlgorithm):
        raise UnsupportedError("unsupported key agreement: no key-wrap algorithm is named")
    if wrap["algorithm"].native not in KEY_WRAPS:
        oid = wrap["algorithm"].dotted
        raise UnsupportedError(f"unsupported key wrap algorithm {oid} ({oid_name(oid)})")
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise UnsupportedError(
            "unsupported key agreement: the originator is named by certificate "
            "(static-static ECDH), not by an ephemeral key"
        )
    kind = originator.chosen["algorithm"]["algorithm"].native
    if kind not in ("ec", "x25519"):
        raise UnsupportedError(f"unsupported originator key type {kind}")
    return "ecdh" if kind == "ec" else "x25519"


def open_kari(
    kari: cms.KeyAgreeRecipientInfo, encrypted_key: bytes, key: AgreementKey, key_length: int
) -> tuple[bytes, bool]:
    """The content key and whether it is genuine; a random key on any failure (see open_ktri)."""
    alg = kari["key_encryption_algorithm"]
    scheme = KDF_SCHEMES[alg["algorithm"].native]
    wrap = alg["parameters"]
    public = kari["originator"].chosen["public_key"].native
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, public)
            shared = key.exchange(ec.ECDH(), peer)
        else:
            shared = key.exchange(x25519.X25519PublicKey.from_public_bytes(public))
    except (ValueError, TypeError):
        return os.urandom(key_length), False
    ukm = kari["ukm"].native
    # RFC 8418 2.2 makes the ukm the HKDF salt; some implementations leave the salt empty.
    salts: list[bytes | None] = [ukm, None] if scheme.kdf == "hkdf" and ukm else [None]
    for salt in salts:
        kek = _kek(scheme, shared, wrap, ukm, salt)
        try:
            if wrap["algorithm"].native == "des_ede3_wrap":
                cek = _des_ede3_unwrap(kek, encrypted_key)
            else:
                cek = aes_key_unwrap(kek, encrypted_key)
        except (InvalidUnwrap, ValueError):
            continue
        if len(cek) == key_length:
            return cek, True
    return os.urandom(key_length), False


_DES_WRAP_IV = bytes.fromhex("4adda22c79e82105")


def _des_ede3_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3217 3.2 triple-DES key unwrap; ValueError when the checksum does not match."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

    if len(wrapped) != 40:
        raise ValueError("wrong length")

    def cbc_decrypt(iv: bytes, data: bytes) -> bytes:
        decryptor = Cipher(TripleDES(kek), modes.CBC(iv)).decryptor()
        return decryptor.update(data) + decryptor.finalize()

    temp2 = cbc_decrypt(_DES_WRAP_IV, wrapped)[::-1]
    cek_icv = cbc_decrypt(temp2[:8], temp2[8:])
    cek, icv = cek_icv[:24], cek_icv[24:]
    digest = hashes.Hash(hashes.SHA1())
    digest.update(cek)
    if not hmac.compare_digest(digest.finalize()[:8], icv):
        raise ValueError("checksum mismatch")
    return cek
