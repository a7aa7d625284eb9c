"""EnvelopedData (RFC 5652 6) and AuthEnvelopedData (RFC 5083): encrypt, decrypt, describe.

AES-CBC is written as EnvelopedData, AES-GCM as AuthEnvelopedData (RFC 5084: 12-byte nonce,
16-byte tag in ``mac``). Every key-dependent failure raises the same ``DecryptionError``
after the same work, so that a message cannot be used to probe a key. The ciphertext is
never parsed by asn1crypto (see ``core.der``): a 100 MB message is copied once, not five times.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from asn1crypto import algos, cms, core
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa, x25519

from .._log import Lazy
from .._log import cms as _LOG
from ..algorithms import ID_ORI_KEM_OID, WRITABLE_CIPHERS
from ..core.der import (
    CONTEXT,
    INTEGER,
    OCTET_STRING,
    SEQUENCE,
    SET,
    UNIVERSAL,
    Chunk,
    SizedChunks,
    Tlv,
    children,
    collect,
    header,
    octets,
    raw,
    read,
)
from ..core.keywords import settled, spelled_out
from ..core.names import certificate_label
from ..errors import DecryptionError, InvalidOptionError, ParseError, UnsupportedError
from ..keys import Identity
from ..limits import current_limits
from ..options import CipherName, check_items, check_option
from . import _content, _kari, _kem, _schema
from ._asn1 import parsed
from .recipients import (
    Matcher,
    RecipientSpec,
    RecipientSummary,
    build_ktri,
    check_recipient_certificate,
    ktri_padding,
    open_ktri,
    summarize,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DecryptedData",
    "EnvelopeOptions",
    "EnvelopedSummary",
    "RecipientSpec",
    "RecipientSummary",
    "create_enveloped_data",
    "decrypt_enveloped_data",
    "describe_enveloped_data",
    "describe_recipients",
    "enveloped_data_chunks",
]

_WHAT = "CMS enveloped data"


@dataclass(frozen=True)
class DecryptedData:
    """What decryption recovered, and how it was protected."""

    content: bytes
    content_type: str  # the inner eContentType: "data", "signed_data"...
    cipher: str  # "aes-256-gcm", "aes-128-cbc", "des-ede3-cbc", "rc2-cbc"...
    authenticated: bool  # True only for AuthEnvelopedData (AES-GCM)
    key_management: str  # "rsa-oaep" | "rsa-pkcs1v15" | "ecdh" | "x25519" | "ml-kem-768"...


@dataclass(frozen=True)
class EnvelopedSummary:
    """An encrypted layer as seen without a key: for inspection."""

    content_type: str  # "enveloped_data" | "authenticated_enveloped_data"
    cipher: str  # our name, or the dotted OID of an algorithm we do not know
    authenticated: bool
    inner_content_type: str
    encrypted_size: int | None  # bytes of ciphertext; None when detached
    recipients: tuple[RecipientSummary, ...]


# ---------------------------------------------------------------------------- writing


class EnvelopeOptions(TypedDict, total=False):
    """The keywords of :func:`create_enveloped_data` and :func:`enveloped_data_chunks`."""

    cipher: CipherName  # AES-GCM makes AuthEnvelopedData
    content_type: str  # the inner eContentType


ENVELOPE_DEFAULTS: EnvelopeOptions = {"cipher": "aes-256-cbc", "content_type": "data"}


@spelled_out(EnvelopeOptions, ENVELOPE_DEFAULTS)
def create_enveloped_data(
    content: Chunk | Sequence[Chunk], recipients: Sequence[RecipientSpec],
    **options: Unpack[EnvelopeOptions],
) -> bytes:
    """Encrypt ``content`` for ``recipients``; DER ContentInfo (AuthEnvelopedData for GCM)."""
    o = settled("create_enveloped_data", options, ENVELOPE_DEFAULTS)
    der = enveloped_data_chunks(content, recipients, **o)
    return collect(der, len(der))


@spelled_out(EnvelopeOptions, ENVELOPE_DEFAULTS)
def enveloped_data_chunks(
    content: Chunk | Sequence[Chunk], recipients: Sequence[RecipientSpec],
    **options: Unpack[EnvelopeOptions],
) -> SizedChunks:
    """:func:`create_enveloped_data` as DER chunks, the ciphertext made as they are read.

    ``content`` is bytes or a sequence of pieces to encrypt as one (a header block and a
    view of a large body: nothing joins them). Everything that can fail is checked before
    this returns; the lengths are known up front, so the framing is written first and the
    bulk is never held twice (with :func:`~smime.core.der.collect` or a base64 writer
    reading the chunks, at most one block of ciphertext is alive).
    """
    o = settled("enveloped_data_chunks", options, ENVELOPE_DEFAULTS)
    cipher, content_type = check_option("cipher", o["cipher"], WRITABLE_CIPHERS), o["content_type"]
    specs = check_items("recipients", recipients, RecipientSpec)
    kinds = [check_recipient_certificate(s.certificate, s.check_usage) for s in specs]
    pieces = _pieces(content)
    _LOG.debug("enveloping: cipher %s, %d recipient(s)", cipher, len(specs))
    if _LOG.isEnabledFor(logging.DEBUG):
        for spec, kind in zip(specs, kinds, strict=True):
            how = spec.key_transport if kind == "rsa" else _HOW.get(kind, f"{kind} key agreement")
            _LOG.debug("enveloping: recipient %s gets the content key by %s, identified by %s",
                       Lazy(certificate_label, spec.certificate), how, spec.identify_by)
    sealing = _content.seal(cipher, pieces)
    infos = recipient_infos(specs, kinds, sealing.key)
    eci_head = cms.ContentType(content_type).dump() + sealing.algorithm.dump()
    eci_head += header(CONTEXT, False, 0, sealing.size)
    eci_head = header(UNIVERSAL, True, SEQUENCE, len(eci_head) + sealing.size) + eci_head
    authenticated = sealing.gcm
    if authenticated:
        outer = "authenticated_enveloped_data"
        lead = cms.CMSVersion("v0").dump() + infos.dump()
        trailer = header(UNIVERSAL, False, OCTET_STRING, _content.GCM_TAG_LENGTH)
        tail_size = len(trailer) + _content.GCM_TAG_LENGTH
    else:
        outer = "enveloped_data"
        lead = _version(infos).dump() + infos.dump()
        trailer, tail_size = b"", 0
    body_size = len(lead) + len(eci_head) + sealing.size + tail_size
    body_head = header(UNIVERSAL, True, SEQUENCE, body_size)
    explicit = header(CONTEXT, True, 0, len(body_head) + body_size)
    info_head = cms.ContentType(outer).dump() + explicit + body_head
    top = header(UNIVERSAL, True, SEQUENCE, len(info_head) + body_size)
    size = len(top) + len(info_head) + body_size

    def chunks() -> Iterator[Chunk]:
        yield top + info_head + lead + eci_head
        yield from sealing.chunks()
        if authenticated:
            assert sealing.tag is not None and len(sealing.tag) == _content.GCM_TAG_LENGTH
            yield trailer + sealing.tag

    return SizedChunks(size, chunks())


def _pieces(content: Chunk | Sequence[Chunk]) -> list[memoryview]:
    """The content as flat byte views, whether given whole or in pieces."""
    given: Sequence[object] = (
        [content] if isinstance(content, (bytes, bytearray, memoryview)) else content
    )
    if not isinstance(given, Sequence):
        given = [given]
    views = []
    for piece in given:
        if not isinstance(piece, (bytes, bytearray, memoryview)):
            raise InvalidOptionError(f"content must be bytes, not {type(piece).__name__}")
        views.append(_bytes_view(piece))
    return views


#: RecipientInfo builders by the recipient certificate's kind (else key agreement).
_BUILDERS = {"rsa": build_ktri, "mlkem": _kem.build_kemri}
_HOW = {"mlkem": "ML-KEM encapsulation (KEMRecipientInfo)"}


def recipient_infos(
    specs: Sequence[RecipientSpec], kinds: Sequence[str], key: bytes
) -> _schema.RecipientInfos:
    """One RecipientInfo per recipient, each giving ``key`` to its certificate's key by
    the kind ``check_recipient_certificate`` found: key transport (RSA), KEM (ML-KEM) or
    key agreement (EC, X25519). In-memory and streamed encryption both call this."""
    return _schema.RecipientInfos(
        [_BUILDERS.get(k, _kari.build_kari)(s, key) for s, k in zip(specs, kinds, strict=True)]
    )


def _bytes_view(data: bytes | bytearray | memoryview) -> memoryview:
    """A flat byte view of ``data`` without copying it when it is already contiguous."""
    view = memoryview(data)
    return view.cast("B") if view.c_contiguous else memoryview(view.tobytes())


def _version(infos: cms.RecipientInfos) -> cms.CMSVersion:
    """RFC 5652 6.1: v3 with an OtherRecipientInfo (a KEM recipient), v0 when every recipient
    is a v0 KTRI, else v2 (no originatorInfo here)."""
    if any(ri.name == "ori" for ri in infos):
        return cms.CMSVersion("v3")
    simple = all(ri.name == "ktri" and ri.chosen["version"].native == "v0" for ri in infos)
    return cms.CMSVersion("v0" if simple else "v2")


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Envelope:
    authenticated: bool
    recipient_infos: cms.RecipientInfos
    content_type: str
    algorithm: algos.EncryptionAlgorithm
    encrypted: Chunk | None
    aad: bytes | None
    mac: bytes | None


def _load(spec: Any, buf: memoryview, tlv: Tlv, what: str, **params: Any) -> Any:
    try:
        value = spec.load(raw(buf, tlv), strict=True, **params)
    except Exception as exc:  # asn1crypto raises ValueError, TypeError...
        raise ParseError(f"malformed {what}: {exc}") from None
    return parsed(value, what)


def _parse(der: bytes) -> _Envelope:
    """The structure around the ciphertext, parsed by asn1crypto piece by piece."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(der).__name__}")
    buf = _bytes_view(der)
    if not buf:
        raise ParseError(f"malformed {_WHAT}: empty input")
    top = read(buf, 0, len(buf), _WHAT)
    if top.next != len(buf):
        raise ParseError(f"malformed {_WHAT}: {len(buf) - top.next} bytes of trailing data")
    if not top.is_(UNIVERSAL, SEQUENCE):
        raise ParseError(f"malformed {_WHAT}: a ContentInfo SEQUENCE expected")
    info = children(buf, top, _WHAT)
    if not info:
        raise ParseError(f"malformed {_WHAT}: empty ContentInfo")
    outer = _load(cms.ContentType, buf, info[0], "ContentInfo content type").native
    if outer not in ("enveloped_data", "authenticated_enveloped_data"):
        raise ParseError(f"expected enveloped-data or authEnveloped-data, got {outer}")
    if len(info) != 2 or not info[1].is_(CONTEXT, 0):
        raise ParseError(f"malformed {_WHAT}: the ContentInfo has no content")
    inner = children(buf, info[1], _WHAT)
    if len(inner) != 1 or not inner[0].is_(UNIVERSAL, SEQUENCE):
        raise ParseError(f"malformed {_WHAT}: an {outer} SEQUENCE expected")
    fields = children(buf, inner[0], _WHAT)
    authenticated = outer == "authenticated_enveloped_data"
    return _fields(buf, fields, authenticated)


class _Cursor:
    """A SEQUENCE's fields taken in order, for a schema with optional members."""

    def __init__(self, fields: list[Tlv]) -> None:
        self._fields = list(fields)

    def optional(self, tag_class: int, tag: int) -> Tlv | None:
        if self._fields and self._fields[0].is_(tag_class, tag):
            return self._fields.pop(0)
        return None

    def required(self, tag_class: int, tag: int, what: str) -> Tlv:
        found = self.optional(tag_class, tag)
        if found is None:
            raise ParseError(f"malformed {_WHAT}: {what} missing or out of place")
        return found

    def done(self) -> None:
        if self._fields:
            where = self._fields[0].start
            raise ParseError(f"malformed {_WHAT}: unexpected element at byte {where}")


def _fields(buf: memoryview, fields: list[Tlv], authenticated: bool) -> _Envelope:
    cursor = _Cursor(fields)
    _load(core.Integer, buf, cursor.required(UNIVERSAL, INTEGER, "version"), "version")
    originator = cursor.optional(CONTEXT, 0)
    if originator is not None:
        _load(cms.OriginatorInfo, buf, originator, "originatorInfo", implicit=0)
    ri_tlv = cursor.required(UNIVERSAL, SET, "recipientInfos")
    _check_recipient_count(buf, ri_tlv)
    infos = _load(_schema.RecipientInfos, buf, ri_tlv, "recipientInfos")
    eci = children(buf, cursor.required(UNIVERSAL, SEQUENCE, "encryptedContentInfo"), _WHAT)
    if len(eci) not in (2, 3) or (len(eci) == 3 and not eci[2].is_(CONTEXT, 0)):
        raise ParseError(f"malformed {_WHAT}: bad encryptedContentInfo")
    content_type = _load(cms.ContentType, buf, eci[0], "encrypted content type").native
    algorithm = _load(_schema.EncryptionAlgorithm, buf, eci[1], "content-encryption algorithm")
    encrypted = octets(buf, eci[2], "encryptedContent") if len(eci) == 3 else None
    aad = mac = None
    if authenticated:
        attrs = cursor.optional(CONTEXT, 1)
        if attrs is not None:
            loaded = _load(_schema.CMSAttributes, buf, attrs, "authAttrs", implicit=1)
            aad = loaded.untag().dump(force=True)  # RFC 5083 2.2: MACed with the SET OF tag
        mac = bytes(octets(buf, cursor.required(UNIVERSAL, OCTET_STRING, "mac"), _WHAT))
        unauthenticated = cursor.optional(CONTEXT, 2)
        if unauthenticated is not None:
            _load(_schema.CMSAttributes, buf, unauthenticated, "unauthAttrs", implicit=2)
    else:
        unprotected = cursor.optional(CONTEXT, 1)
        if unprotected is not None:
            _load(_schema.CMSAttributes, buf, unprotected, "unprotectedAttrs", implicit=1)
    cursor.done()
    return _Envelope(authenticated, infos, str(content_type), algorithm, encrypted, aad, mac)


def _check_recipient_count(buf: memoryview, infos: Tlv) -> None:
    """Refuse more recipient keys than ``max_recipients``, counted from the framing alone
    (before asn1crypto parses them): each RecipientInfo is one key, a key agreement
    RecipientInfo ([1]) as many as its last field lists."""
    caps = current_limits()
    count = 0
    for info in children(buf, infos, _WHAT):
        keys = 1
        if info.is_(CONTEXT, 1) and info.constructed:
            fields = children(buf, info, _WHAT)
            if fields and fields[-1].constructed:
                keys = len(children(buf, fields[-1], _WHAT))
        count += keys
        caps.check("max_recipients", count, "recipient keys in the enveloped data")


def describe_enveloped_data(der: bytes) -> EnvelopedSummary:
    """Cipher and recipients of an enveloped or auth-enveloped message, without a key."""
    env = _parse(der)
    recipients = tuple(s for ri in env.recipient_infos for s in summarize(ri))
    return EnvelopedSummary(
        "authenticated_enveloped_data" if env.authenticated else "enveloped_data",
        _content.algorithm_name(env.algorithm),
        env.authenticated,
        env.content_type,
        None if env.encrypted is None else len(env.encrypted),
        recipients,
    )


def describe_recipients(der: bytes) -> tuple[RecipientSummary, ...]:
    """Who can open the message: one summary per recipient key."""
    return describe_enveloped_data(der).recipients


# ---------------------------------------------------------------------------- decryption

_Opener = Callable[[int], tuple[bytes, bool]]


def decrypt_enveloped_data(der: bytes, identity: Identity) -> DecryptedData:
    """Decrypt with ``identity``; DecryptionError (one message) for every key failure."""
    env = _parse(der)
    cipher = _content.resolve(env.algorithm)
    if cipher.authenticated != env.authenticated:
        kind = "authEnveloped-data" if env.authenticated else "enveloped-data"
        raise UnsupportedError(f"unsupported: {cipher.name} content in {kind}")
    if env.encrypted is None:
        raise ParseError(
            f"malformed {_WHAT}: no encryptedContent (detached encrypted content is not supported)"
        )
    for opener, management in _candidates(env.recipient_infos, identity):
        key, genuine = opener(cipher.key_length)
        if not _may_open(cipher, key, env.encrypted):
            continue
        content = _content.decrypt(cipher, key, env.encrypted, env.mac, env.aad)
        if content is not None and genuine:
            _LOG.debug("decrypted: a recipient info naming this key matched (%s), cipher %s, "
                       "authenticated %s", management, cipher.name, cipher.authenticated)
            return DecryptedData(
                content, env.content_type, cipher.name, cipher.authenticated, management
            )
    # One record for every cause (wrong key, bad padding, failed tag): no padding oracle.
    _LOG.info("decryption failed: no recipient info opened the content with this key")
    raise DecryptionError()


def _may_open(cipher: _content.ContentCipher, key: bytes, encrypted: Chunk) -> bool:
    """Whether decrypting all the content with ``key`` can succeed, for one block of CBC.

    A CBC decryption fails only on its padding, which the last two blocks decide: trying
    each candidate key there keeps decryption linear in the number of recipients, with
    the same outcome (and the same work whether a key is genuine or not). GCM's tag
    covers everything, so every GCM candidate gets the full attempt.
    """
    if cipher.mode != "cbc":
        return True
    size = cipher.algorithm(key).block_size // 8
    if len(encrypted) < size or len(encrypted) % size:
        return True
    before = bytes(encrypted[-2 * size : -size]) if len(encrypted) > size else cipher.iv
    last = dataclasses.replace(cipher, iv=before)
    return _content.decrypt(last, key, encrypted[-size:], None, None) is not None


def _candidates(infos: cms.RecipientInfos, identity: Identity) -> list[tuple[_Opener, str]]:
    """Ways to get the content key: recipients naming us, else every RSA key transport.

    What is unsupported is decided from the structure alone, before any key is used.
    """
    key = identity.key
    me = Matcher.of(identity.certificate)
    matched: list[tuple[_Opener, str]] = []
    unsupported: list[UnsupportedError] = []
    rsa_any: list[tuple[_Opener, str]] = []
    for ri in infos:
        info = ri.chosen
        if ri.name == "ktri" and isinstance(key, rsa.RSAPrivateKey):
            named = me.named_by(info["rid"])
            try:
                management, _pad = ktri_padding(info)
            except UnsupportedError as exc:
                if named:
                    unsupported.append(exc)
                continue
            opener = _ktri_opener(info, key)
            rsa_any.append((opener, management))
            if named:
                matched.append((opener, management))
        elif ri.name == "kari" and isinstance(
            key, (ec.EllipticCurvePrivateKey, x25519.X25519PrivateKey)
        ):
            for rek in info["recipient_encrypted_keys"]:
                if not me.named_by(rek["rid"]):
                    continue
                try:
                    management = _kari.check_kari(info)
                except UnsupportedError as exc:
                    unsupported.append(exc)
                    continue
                matched.append((_kari_opener(info, rek, key), management))
        elif ri.name == "ori" and info["ori_type"].dotted == ID_ORI_KEM_OID:
            _kem_candidate(info["ori_value"], key, me, matched, unsupported)
        elif ri.name in ("ktri", "kari") and isinstance(key, _KEM_KEYS) and _names(ri, me):
            unsupported.append(UnsupportedError(
                f"a {_KINDS[ri.name]} recipient names this ML-KEM key: an ML-KEM key is "
                "reached only through a KEMRecipientInfo (RFC 9629)"
            ))
    if matched:
        return matched
    if unsupported:
        raise unsupported[0]
    return rsa_any


_KEM_KEYS = (mlkem.MLKEM768PrivateKey, mlkem.MLKEM1024PrivateKey)
_KINDS = {"ktri": "key transport", "kari": "key agreement"}


def _names(ri: cms.RecipientInfo, me: Matcher) -> bool:
    """Whether a KTRI or KARI names the identity's certificate."""
    info = ri.chosen
    if ri.name == "ktri":
        return me.named_by(info["rid"])
    return any(me.named_by(rek["rid"]) for rek in info["recipient_encrypted_keys"])


def _kem_candidate(
    kemri: _schema.KEMRecipientInfo,
    key: object,
    me: Matcher,
    matched: list[tuple[_Opener, str]],
    unsupported: list[UnsupportedError],
) -> None:
    """Add the opener of a KEMRecipientInfo naming us; one for another parameter set than
    our key's cannot be ours (its ciphertext would not even have the right length)."""
    if not me.named_by(kemri["rid"]):
        return
    if not isinstance(key, _KEM_KEYS):
        unsupported.append(UnsupportedError(
            "a KEM recipient names this certificate, but its private key is not an ML-KEM key"
        ))
        return
    try:
        management = _kem.check_kemri(kemri)
    except UnsupportedError as exc:
        unsupported.append(exc)
        return
    if management != _kem.kem_name(key):
        return
    matched.append((lambda length: _kem.open_kemri(kemri, key, length), management))


def _ktri_opener(info: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey) -> _Opener:
    return lambda length: open_ktri(info, key, length)


def _kari_opener(
    info: cms.KeyAgreeRecipientInfo, rek: cms.RecipientEncryptedKey, key: _kari.AgreementKey
) -> _Opener:
    encrypted_key = rek["encrypted_key"].native
    return lambda length: _kari.open_kari(info, encrypted_key, key, length)
