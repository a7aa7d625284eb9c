"""Content encryption: AES-CBC and AES-GCM both ways; 3DES and RC2 read for old mail.

Written for large messages: the plaintext is encrypted in one call, padding touches only
the last block, and nothing concatenates the ciphertext before the final DER is joined.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from asn1crypto import algos
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from ..algorithms import CIPHERS, RC2_OID, oid_name
from ..core.der import Chunk, presized
from ..errors import ParseError, UnsupportedError
from ._schema import EncryptionAlgorithm, GcmParams

__all__ = ["ContentCipher", "Sealing", "algorithm_name", "decrypt", "encrypt", "resolve", "seal"]

GCM_NONCE_LENGTH = 12
GCM_TAG_LENGTH = 16
#: Plaintext encrypted per step when sealing: the ciphertext of one step is the only
#: temporary, so a pipeline (encrypt, then base64) holds a block, not the message.
SEAL_BLOCK = 1 << 20
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


@dataclass
class Sealing:
    """Content encryption set up, its ciphertext made block by block as it is read.

    ``size`` is the ciphertext's length, known before any block is made (CBC pads to the
    next whole block), so the DER around it can be framed first; ``tag`` is the GCM tag,
    set once :meth:`chunks` has been read to the end.
    """

    key: bytes
    algorithm: algos.EncryptionAlgorithm
    size: int
    pieces: Sequence[Chunk] = field(repr=False)
    gcm: bool
    iv: bytes = field(repr=False)
    tag: bytes | None = None

    def chunks(self) -> Iterator[bytes]:
        """The ciphertext, a block at a time (once)."""
        if self.gcm:
            aead = Cipher(algorithms.AES(self.key), modes.GCM(self.iv)).encryptor()
            encryptor: CipherContext = aead
        else:
            aead = None  # CBC: no tag
            encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        size = 0
        for piece in self.pieces:
            view = memoryview(piece).cast("B")
            size += len(view)
            for start in range(0, len(view), SEAL_BLOCK):
                out = encryptor.update(view[start : start + SEAL_BLOCK])
                if out:
                    yield out
        if aead is None:
            pad = 16 - size % 16
            yield encryptor.update(bytes([pad]) * pad) + encryptor.finalize()
            return
        last = encryptor.finalize()
        if last:
            yield last
        self.tag = aead.tag


def seal(name: str, pieces: Sequence[Chunk]) -> Sealing:
    """A fresh key and IV/nonce for cipher ``name`` over the content ``pieces`` (joined)."""
    spec = CIPHERS[name]
    key = os.urandom(spec.key_size)
    size = sum(len(p) for p in pieces)
    if spec.mode == "gcm":
        nonce = os.urandom(GCM_NONCE_LENGTH)
        params = GcmParams({"aes_nonce": nonce, "aes_icvlen": GCM_TAG_LENGTH})
        alg = EncryptionAlgorithm({"algorithm": spec.asn1_name, "parameters": params})
        return Sealing(key, alg, size, pieces, True, nonce)
    iv = os.urandom(16)
    alg = EncryptionAlgorithm({"algorithm": spec.asn1_name, "parameters": iv})
    return Sealing(key, alg, size + 16 - size % 16, pieces, False, iv)


def encrypt(
    name: str, content: memoryview
) -> tuple[bytes, algos.EncryptionAlgorithm, list[Chunk], bytes | None]:
    """(content key, AlgorithmIdentifier, ciphertext chunks, GCM tag or None)."""
    sealing = seal(name, [content])
    chunks: list[Chunk] = list(sealing.chunks())
    return sealing.key, sealing.algorithm, chunks, sealing.tag


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
    out = presized(len(data))  # its buffer becomes the result: no second copy
    body = len(data) - size
    with out.getbuffer() as target:  # decrypted straight into it, block by block
        for start in range(0, body, SEAL_BLOCK):
            stop = min(start + SEAL_BLOCK, body)
            decryptor.update_into(data[start:stop], target[start : stop + size - 1])
    out.seek(body)
    last = decryptor.update(data[body:]) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithm.block_size).unpadder()
    try:
        out.write(unpadder.update(last) + unpadder.finalize())
    except ValueError:
        return None
    out.truncate()
    return out.getvalue()
