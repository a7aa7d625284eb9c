"""EnvelopedData and AuthEnvelopedData for content too large to hold: written and read in
blocks, in BER's indefinite-length form where the size is not known up front.

The writer frames its output as ``openssl cms -stream`` does: every constructed element of
indefinite length, the ciphertext as a constructed OCTET STRING of segments, one per
block. The reader takes what OpenSSL, Outlook, Java and we write — definite or
indefinite, primitive or segmented — holding one block at a time.

A reader hands plaintext to its sink as it decrypts it; it returns normally only once the
GCM tag has verified or the CBC padding has been removed from the whole input. Whoever
gives the sink (the streaming API) must not release what it received before then.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from asn1crypto import cms, core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)

from .._log import cms as _LOG
from ..algorithms import CIPHERS, WRITABLE_CIPHERS
from ..core.der import (
    CONTEXT,
    END_OF_CONTENTS,
    INTEGER,
    OCTET_STRING,
    SEQUENCE,
    SET,
    UNIVERSAL,
    StreamReader,
    header,
    indefinite,
)
from ..errors import DecryptionError, InvalidOptionError, ParseError, UnsupportedError
from ..keys import Identity
from ..limits import current_limits
from ..options import CipherName, check_option
from . import _content, _schema
from ._asn1 import parsed
from .enveloped import _candidates, _version, recipient_infos
from .recipients import RecipientSpec, check_recipient_certificate

__all__ = ["EnvelopedStreamInfo", "decrypt_enveloped_stream", "encrypt_enveloped_stream"]

_WHAT = "CMS enveloped data"
#: Small elements (recipient infos, algorithm identifiers, attributes) are read whole up
#: to this size; only the ciphertext is streamed.
MAX_ELEMENT = 16 * 1024 * 1024
#: Ciphertext gathered before one call into the cipher (segments may be tiny: 1 KiB).
_BATCH = 1 << 20

Sink = Callable[[bytes], object]


@dataclass(frozen=True)
class EnvelopedStreamInfo:
    """How streamed content was protected (the content went to the sink)."""

    content_type: str
    cipher: str
    authenticated: bool
    key_management: str


# ---------------------------------------------------------------------------- writing


def encrypt_enveloped_stream(
    blocks: Iterable[bytes],
    write: Sink,
    recipients: Sequence[RecipientSpec],
    *,
    cipher: CipherName = "aes-256-cbc",
) -> None:
    """Encrypt the content read from ``blocks`` for ``recipients``, writing BER ContentInfo
    (AuthEnvelopedData for GCM) to ``write`` as it goes: one OCTET STRING segment a block."""
    check_option("cipher", cipher, WRITABLE_CIPHERS)
    specs = list(recipients)
    if not specs:
        raise InvalidOptionError("recipients: at least one recipient is needed")
    kinds = [check_recipient_certificate(s.certificate, s.check_usage) for s in specs]
    spec = CIPHERS[cipher]
    _LOG.debug("enveloping a stream: cipher %s, %d recipient(s) (%s)", cipher, len(specs),
               ", ".join(kinds))
    key = os.urandom(spec.key_size)
    gcm = spec.mode == "gcm"
    if gcm:
        nonce = os.urandom(_content.GCM_NONCE_LENGTH)
        params = _schema.GcmParams(
            {"aes_nonce": nonce, "aes_icvlen": _content.GCM_TAG_LENGTH}
        )
        aead = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        encryptor: CipherContext = aead
    else:
        aead = None
        nonce = os.urandom(16)
        params = core.OctetString(nonce)
        encryptor = Cipher(algorithms.AES(key), modes.CBC(nonce)).encryptor()
    algorithm = _schema.EncryptionAlgorithm({"algorithm": spec.asn1_name, "parameters": params})
    infos = recipient_infos(specs, kinds, key)
    version = cms.CMSVersion("v0") if gcm else _version(infos)
    outer = "authenticated_enveloped_data" if gcm else "enveloped_data"
    write(
        b"".join((
            indefinite(UNIVERSAL, SEQUENCE),
            cms.ContentType(outer).dump(),
            indefinite(CONTEXT, 0),
            indefinite(UNIVERSAL, SEQUENCE),
            version.dump(),
            infos.dump(),
            indefinite(UNIVERSAL, SEQUENCE),
            cms.ContentType("data").dump(),
            algorithm.dump(),
            indefinite(CONTEXT, 0),
        ))
    )
    size = 0  # CBC pads the content to a whole block; the context keeps a partial one
    for block in blocks:
        size += len(block)
        _segment(write, encryptor.update(block))
    last = b""
    if not gcm:
        pad = 16 - size % 16
        last = encryptor.update(bytes((pad,)) * pad)
    _segment(write, last + encryptor.finalize())
    tail = [END_OF_CONTENTS * 2]  # the [0] segments, the EncryptedContentInfo
    if aead is not None:  # GCM: the tag is known once the context is finalized
        tail.append(core.OctetString(aead.tag).dump())
    tail.append(END_OF_CONTENTS * 3)  # the (Auth)EnvelopedData, the [0], the ContentInfo
    write(b"".join(tail))


def _segment(write: Sink, data: bytes) -> None:
    if data:
        write(header(UNIVERSAL, False, OCTET_STRING, len(data)))
        write(data)


# ---------------------------------------------------------------------------- reading


_Value = TypeVar("_Value", bound=core.Asn1Value)


def _load(spec: type[_Value], data: bytes, what: str, **params: object) -> _Value:
    try:
        value: _Value = spec.load(data, strict=True, **params)  # an instance of spec
    except Exception as exc:  # asn1crypto raises ValueError, TypeError...
        raise ParseError(f"malformed {what}: {exc}") from None
    parsed(value, what)
    return value








def _count_recipients(infos: _schema.RecipientInfos) -> None:
    caps = current_limits()
    count = 0
    for ri in infos:
        if ri.name == "kari":
            count += len(ri.chosen["recipient_encrypted_keys"])
        else:
            count += 1
        caps.check("max_recipients", count, "recipient keys in the enveloped data")


def decrypt_enveloped_stream(
    reader: StreamReader,
    identity: Identity,
    write: Sink,
    *,
    announce: Callable[[bool], object] | None = None,
) -> EnvelopedStreamInfo:
    """Decrypt the ContentInfo ``reader`` is at, plaintext to ``write`` in blocks.

    Returns once the whole structure was read and the content authenticated (GCM tag) or
    unpadded (CBC); until then what ``write`` received must not be trusted. Every key or
    integrity failure, and ciphertext cut short, raises the same DecryptionError.
    ``announce(authenticated)`` hears, before any key is used, whether the content has
    integrity of its own (authEnveloped-data).
    """
    top = reader.expect(UNIVERSAL, SEQUENCE, "a ContentInfo SEQUENCE", _WHAT)
    top_end = reader.end_of(top)
    oid = reader.expect(UNIVERSAL, 6, "a content type", _WHAT)
    kind = _load(cms.ContentType, reader.element(oid, 256), "content type")
    outer = kind.native
    if outer not in ("enveloped_data", "authenticated_enveloped_data"):
        raise ParseError(f"expected enveloped-data or authEnveloped-data, got {outer}")
    authenticated = outer == "authenticated_enveloped_data"
    if announce is not None:
        announce(authenticated)
    explicit = reader.expect(CONTEXT, 0, "the ContentInfo's content", _WHAT)
    explicit_end = reader.end_of(explicit)
    body = reader.expect(UNIVERSAL, SEQUENCE, f"an {outer} SEQUENCE", _WHAT)
    body_end = reader.end_of(body)
    version = reader.expect(UNIVERSAL, INTEGER, "version", _WHAT)
    _load(core.Integer, reader.element(version, 64), "version")
    head = reader.head()
    if head.is_(CONTEXT, 0):
        _load(cms.OriginatorInfo, reader.element(head, MAX_ELEMENT), "originatorInfo",
              implicit=0)
        head = reader.head()
    if not head.is_(UNIVERSAL, SET):
        raise ParseError(f"malformed {_WHAT}: recipientInfos missing or out of place")
    infos = _load(_schema.RecipientInfos, reader.element(head, MAX_ELEMENT), "recipientInfos")
    assert isinstance(infos, _schema.RecipientInfos)
    _count_recipients(infos)
    eci = reader.expect(UNIVERSAL, SEQUENCE, "encryptedContentInfo", _WHAT)
    eci_end = reader.end_of(eci)
    type_head = reader.expect(UNIVERSAL, 6, "the encrypted content type", _WHAT)
    content_type = str(_load(cms.ContentType, reader.element(type_head, 256),
                             "encrypted content type").native)
    alg_head = reader.expect(UNIVERSAL, SEQUENCE, "the content-encryption algorithm", _WHAT)
    algorithm = _load(_schema.EncryptionAlgorithm, reader.element(alg_head, 4096),
                      "content-encryption algorithm")
    cipher = _content.resolve(algorithm)
    if cipher.authenticated != authenticated:
        label = "authEnveloped-data" if authenticated else "enveloped-data"
        raise UnsupportedError(f"unsupported: {cipher.name} content in {label}")
    if eci_end is not None and reader.position == eci_end:
        raise ParseError(
            f"malformed {_WHAT}: no encryptedContent (detached encrypted content is not supported)"
        )
    if eci_end is None and reader.at_end_of_contents():
        raise ParseError(
            f"malformed {_WHAT}: no encryptedContent (detached encrypted content is not supported)"
        )
    content_head = reader.expect(CONTEXT, 0, "encryptedContent", _WHAT)
    key, management = _content_key(infos, identity, cipher)
    decryptor = _Decryptor(cipher, key, write)
    try:
        decryptor.feed(reader.octet_blocks(content_head))
        reader.close(eci, eci_end, _WHAT)
        tag = None
        if authenticated:
            head = reader.head()
            if head.is_(CONTEXT, 1):
                raise UnsupportedError(
                    "unsupported: authEnveloped-data with authenticated attributes cannot be "
                    "streamed (they follow the content but must be authenticated first)"
                )
            if not head.is_(UNIVERSAL, OCTET_STRING) or head.constructed:
                raise ParseError(f"malformed {_WHAT}: mac missing or out of place")
            tag = reader.element(head, 64)[len(head.encoded):]
        if (body_end is not None and reader.position < body_end) or (
            body_end is None and not _peek_eoc(reader)
        ):
            attrs = reader.head()
            if not attrs.is_(CONTEXT, 2 if authenticated else 1):
                raise ParseError(f"malformed {_WHAT}: unexpected element after the content")
            _load(_schema.CMSAttributes, reader.element(attrs, MAX_ELEMENT), "attributes",
                  implicit=2 if authenticated else 1)
        reader.close(body, body_end, _WHAT)
        reader.close(explicit, explicit_end, _WHAT)
        reader.close(top, top_end, _WHAT)
    except ParseError as exc:
        if "truncated" in str(exc) or "missing end-of-contents" in str(exc):
            raise DecryptionError(
                "the encrypted content is cut short (the input is truncated)"
            ) from None
        raise
    decryptor.finish(tag)
    if not reader.at_end():
        raise ParseError(f"malformed {_WHAT}: trailing data after the ContentInfo")
    _LOG.debug("decrypted a stream: a recipient info matched (%s), cipher %s, authenticated %s",
               management, cipher.name, cipher.authenticated)
    return EnvelopedStreamInfo(content_type, cipher.name, cipher.authenticated, management)


def _peek_eoc(reader: StreamReader) -> bool:
    """Whether end-of-contents comes next, without consuming it."""
    return reader.peek(2) == END_OF_CONTENTS


def _content_key(
    infos: _schema.RecipientInfos, identity: Identity, cipher: _content.ContentCipher
) -> tuple[bytes, str]:
    """The content key: from the first recipient info that opens with our key.

    Every candidate is opened (the same work whatever the outcome); one whose key
    transport failed yields a random key, so the failure shows only as the same
    DecryptionError at the end of the content.
    """
    opened = [(opener(cipher.key_length), management)
              for opener, management in _candidates(infos, identity)]
    if not opened:
        raise DecryptionError()
    for (key, genuine), management in opened:
        if genuine:
            return key, management
    (key, _genuine), management = opened[0]
    return key, management


class _Decryptor:
    """CBC or GCM over the ciphertext in blocks; CBC's last block held back for unpadding."""

    def __init__(self, cipher: _content.ContentCipher, key: bytes, write: Sink) -> None:
        self.cipher = cipher
        self.write = write
        algorithm = cipher.algorithm(key)
        self.block = algorithm.block_size // 8
        self.aead: AEADDecryptionContext | None = None  # GCM's: it takes the tag at the end
        if cipher.authenticated:
            self.aead = Cipher(
                algorithm, modes.GCM(cipher.iv, min_tag_length=cipher.tag_length)
            ).decryptor()
            self.context: CipherContext = self.aead
        else:
            self.context = Cipher(algorithm, modes.CBC(cipher.iv)).decryptor()
        self.held = b""  # CBC: the last plaintext block, until we know it is the last
        self.size = 0

    def feed(self, blocks: Iterable[bytes]) -> None:
        batch: list[bytes] = []
        pending = 0
        for data in blocks:
            batch.append(data)
            pending += len(data)
            if pending >= _BATCH:
                self._update(b"".join(batch))
                batch, pending = [], 0
        if batch:
            self._update(b"".join(batch))

    def _update(self, data: bytes) -> None:
        self.size += len(data)
        plain = self.context.update(data)
        if self.cipher.authenticated:
            if plain:
                self.write(plain)
            return
        plain = self.held + plain
        if len(plain) > self.block:
            self.write(plain[: -self.block])
            plain = plain[-self.block :]
        self.held = plain

    def finish(self, tag: bytes | None) -> None:
        if self.aead is not None:
            if tag is None or len(tag) != self.cipher.tag_length:
                raise DecryptionError()
            try:
                rest = self.aead.finalize_with_tag(tag)
            except InvalidTag:
                raise DecryptionError() from None
            if rest:
                self.write(rest)
            return
        if not self.size or self.size % self.block:
            raise DecryptionError()
        last = self.held + self.context.finalize()
        unpadder = padding.PKCS7(self.block * 8).unpadder()
        try:
            rest = unpadder.update(last) + unpadder.finalize()
        except ValueError:
            raise DecryptionError() from None
        if rest:
            self.write(rest)

