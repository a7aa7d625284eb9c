"""Content encryption: AES-CBC and AES-GCM both ways; 3DES and RC2 read for old mail.

Written for large messages: the plaintext is encrypted in one call, padding touches only
the last block, and nothing concatenates the ciphertext before the final DER is joined.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from asn1crypto import algos
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..algorithms import CIPHERS, RC2_OID, oid_name
from ..core.der import Chunk
from ..errors import ParseError, UnsupportedError
from ._schema import EncryptionAlgorithm, GcmParams

__all__ = ["ContentCipher", "algorithm_name", "decrypt", "encrypt", "resolve"]

GCM_NONCE_LENGTH = 12
GCM_TAG_LENGTH = 16
#: RC2 parameter versions (RFC 8018 B.2.3) -> effective key bits.
_RC2_VERSIONS = {160: 40, 120: 64, 58: 128}


@dataclass(frozen=True)
class ContentCipher:
    """A content-encryption algorithm as a message states it, parameters checked."""

    name: str  # our name: "aes-256-gcm", "des-ede3-cbc", "rc2-cbc"
    key_length: int
    mode: str  # "cbc" | "gcm"
    block: str  # "aes" | "3des" | "rc2"
    iv: bytes  # CBC IV or GCM nonce
    tag_length: int = GCM_TAG_LENGTH

    @property
    def authenticated(self) -> bool:
        return self.mode == "gcm"

    def algorithm(self, key: bytes) -> BlockCipherAlgorithm:
        if self.block == "aes":
            return algorithms.AES(key)
        from cryptography.hazmat.decrepit.ciphers import algorithms as decrepit

        if self.block == "3des":
            return decrepit.TripleDES(key)
        return decrepit.RC2(key)


_READABLE = {
    **{c.asn1_name: (c.name, c.key_size, c.mode, c.block) for c in CIPHERS.values()},
    "aes192_gcm": ("aes-192-gcm", 24, "gcm", "aes"),
}


def algorithm_name(alg: algos.EncryptionAlgorithm) -> str:
    """Our name for the algorithm, or its dotted OID; never raises (for inspection)."""
    return oid_name(alg["algorithm"].dotted)


def resolve(alg: algos.EncryptionAlgorithm) -> ContentCipher:
    """The cipher and its IV/nonce, or UnsupportedError naming the OID, or ParseError."""
    oid = alg["algorithm"].dotted
    name = alg["algorithm"].native
    if oid == RC2_OID:
        return _rc2(alg)
    if name not in _READABLE:
        raise UnsupportedError(
            f"unsupported content-encryption algorithm {oid} ({algorithm_name(alg)})"
        )
    ours, key_length, mode, block = _READABLE[name]
    params = alg["parameters"]
    if mode == "gcm":
        if not isinstance(params, GcmParams):
            raise ParseError(f"malformed {ours} parameters: GCMParameters expected")
        nonce = params["aes_nonce"].native
        tag_length = params["aes_icvlen"].native
        if not 8 <= len(nonce) <= 128 or tag_length not in range(12, 17):
            raise ParseError(
                f"malformed {ours} parameters: nonce of {len(nonce)} bytes, tag of {tag_length}"
            )
        return ContentCipher(ours, key_length, mode, block, nonce, tag_length)
    iv = params.native if params is not None else None
    block_size = 16 if block == "aes" else 8
    if not isinstance(iv, bytes) or len(iv) != block_size:
        raise ParseError(f"malformed {ours} parameters: a {block_size}-byte IV is needed")
    return ContentCipher(ours, key_length, mode, block, iv)


def _rc2(alg: algos.EncryptionAlgorithm) -> ContentCipher:
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import RC2  # noqa: F401
    except ImportError:
        raise UnsupportedError(
            f"unsupported content-encryption algorithm rc2-cbc ({RC2_OID}): "
            "this cryptography has no RC2"
        ) from None
    params = alg["parameters"]
    if not isinstance(params, algos.Rc2Params):
        raise ParseError("malformed rc2-cbc parameters: RC2CBCParameter expected")
    version = params["rc2_parameter_version"].native
    bits = 32 if version is None else _RC2_VERSIONS.get(version, version)
    if bits != 128:
        raise UnsupportedError(
            f"unsupported content-encryption algorithm rc2-cbc ({RC2_OID}) with "
            f"{bits}-bit effective keys: only RC2/128 can be decrypted"
        )
    iv = params["iv"].native
    if len(iv) != 8:
        raise ParseError("malformed rc2-cbc parameters: an 8-byte IV is needed")
    return ContentCipher("rc2-cbc", 16, "cbc", "rc2", iv)


def encrypt(
    name: str, content: memoryview
) -> tuple[bytes, algos.EncryptionAlgorithm, list[Chunk], bytes | None]:
    """(content key, AlgorithmIdentifier, ciphertext chunks, GCM tag or None)."""
    spec = CIPHERS[name]
    key = os.urandom(spec.key_size)
    if spec.mode == "gcm":
        nonce = os.urandom(GCM_NONCE_LENGTH)
        sealed = memoryview(AESGCM(key).encrypt(nonce, content, None))
        params = GcmParams({"aes_nonce": nonce, "aes_icvlen": GCM_TAG_LENGTH})
        alg = EncryptionAlgorithm({"algorithm": spec.asn1_name, "parameters": params})
        return key, alg, [sealed[:-GCM_TAG_LENGTH]], bytes(sealed[-GCM_TAG_LENGTH:])
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    whole = len(content) - len(content) % 16
    head = encryptor.update(content[:whole])
    pad = 16 - len(content) % 16
    tail = encryptor.update(bytes(content[whole:]) + bytes([pad]) * pad) + encryptor.finalize()
    alg = EncryptionAlgorithm({"algorithm": spec.asn1_name, "parameters": iv})
    return key, alg, [head, tail], None


def decrypt(
    cipher: ContentCipher, key: bytes, data: Chunk, tag: bytes | None, aad: bytes | None
) -> bytes | None:
    """The plaintext, or None on any failure (wrong key, bad tag, bad padding)."""
    if cipher.mode == "gcm":
        return _decrypt_gcm(cipher, key, data, tag, aad)
    return _decrypt_cbc(cipher, key, data)


def _decrypt_gcm(
    cipher: ContentCipher, key: bytes, data: Chunk, tag: bytes | None, aad: bytes | None
) -> bytes | None:
    if tag is None or len(tag) != cipher.tag_length:
        return None
    mode = modes.GCM(cipher.iv, tag, min_tag_length=cipher.tag_length)
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    if aad is not None:
        decryptor.authenticate_additional_data(aad)
    plain = decryptor.update(data)
    try:
        decryptor.finalize()
    except InvalidTag:
        return None
    return plain


def _decrypt_cbc(cipher: ContentCipher, key: bytes, data: Chunk) -> bytes | None:
    algorithm = cipher.algorithm(key)
    size = algorithm.block_size // 8
    if not data or len(data) % size:
        return None
    decryptor = Cipher(algorithm, modes.CBC(cipher.iv)).decryptor()
    head = decryptor.update(data[: len(data) - size])
    last = decryptor.update(data[len(data) - size :]) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithm.block_size).unpadder()
    try:
        rest = unpadder.update(last) + unpadder.finalize()
    except ValueError:
        return None
    return head + rest if rest else head
