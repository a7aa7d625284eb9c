"""Finding the S/MIME part of a received message, with the exact bytes a signature covers.

The search reads the raw bytes (see :mod:`._raw`), never a re-serialised message: the
``email`` generator may change what it writes, and one changed byte breaks a signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from email.message import EmailMessage, Message
from email.utils import collapse_rfc2231_value
from functools import cached_property
from typing import Literal, TypeAlias

from ..core.cmsfile import cms_type, detect_raw_cms, read_raw_cms
from ..core.wire import b64_decode, is_base64_text, is_content_field, to_crlf
from ..errors import InvalidOptionError, ParseError
from ._encode import qp_decode
from ._headers import header_text
from ._policy import MAX_DEPTH
from ._raw import EntityHeaders, RawEntity, read_entity, split_multipart
from .message import MessageSource, check_is_message, input_bytes, reading, to_message

__all__ = ["PartKind", "SMIMEPart", "classify_part", "find_smime_part", "with_content"]

PartKind: TypeAlias = Literal["pkcs7-mime", "pkcs7-signature"]

_MIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})
_GENERIC_TYPES = frozenset({"application/octet-stream"})
_EXTENSION_TYPES = {".p7c": "certs-only", ".p7z": "compressed-data"}


@dataclass(frozen=True)
class SMIMEPart:
    """The S/MIME part of a message.

    ``kind`` is ``multipart/signed``, ``application/pkcs7-mime`` or (for a lone detached
    signature without its multipart/signed) ``application/pkcs7-signature``. ``der`` is the
    decoded CMS: the signature of a multipart/signed, else the whole pkcs7-mime body.
    ``signed_content`` is, for multipart/signed, the first part exactly as it travelled
    (LF line ends made CRLF). ``path`` says where the part sits: ``""`` for the whole
    message, ``"2"`` or ``"1.2"`` for a part nested in multiparts (1-based). ``raw`` is
    the part's bytes as found (headers included); ``part`` parses them on first use.
    ``other_parts`` are the paths of the parts around it that it does not hold (the
    siblings of it and of each multipart holding it): for a signature, what is unsigned.
    """

    kind: str
    smime_type: str | None
    der: bytes = field(repr=False)
    signed_content: bytes | None = field(repr=False)
    micalg: str | None
    protocol: str | None
    path: str
    outer_headers: tuple[tuple[str, str], ...] = field(repr=False)
    raw: bytes = field(repr=False, compare=False)
    other_parts: tuple[str, ...] = ()
    raw_cms: bool = False  # a raw CMS file (DER/PEM), not a MIME message

    @cached_property
    def part(self) -> EmailMessage:
        """The S/MIME part parsed (headers and body), for reading its headers."""
        return to_message(self.raw)


def _param(headers: Message | EntityHeaders, name: str, header: str = "content-type") -> str | None:
    value = headers.get_param(name, header=header)
    if value is None or isinstance(value, str):
        return value
    return str(collapse_rfc2231_value(value))


def _filename(headers: Message | EntityHeaders) -> str:
    name = _param(headers, "filename", "content-disposition") or _param(headers, "name")
    return (name or "").strip().lower()


def classify_part(headers: Message | EntityHeaders) -> PartKind | None:
    """Whether a MIME part with these headers is ``pkcs7-mime`` (a CMS layer), a detached
    ``pkcs7-signature``, or None (anything else): by content type, and for
    application/octet-stream by file extension (RFC 8551 section 3.2.1). The one rule for
    finding S/MIME parts; ``smime.inspect`` asks it too."""
    ctype = headers.get_content_type()
    if ctype in _MIME_TYPES:
        return "pkcs7-mime"
    if ctype in _SIGNATURE_TYPES:
        return "pkcs7-signature"
    if ctype in _GENERIC_TYPES:
        name = _filename(headers)
        if name.endswith((".p7m", ".p7c", ".p7z")):
            return "pkcs7-mime"
        if name.endswith(".p7s"):
            return "pkcs7-signature"
    return None


def _decode_base64(body: bytes | memoryview, where: str) -> bytes:
    decoded = b64_decode(body, what=where)
    if not decoded:
        raise ParseError(f"the {where} is empty")
    return decoded


def _der(entity: RawEntity, where: str) -> bytes:
    """The CMS bytes of a part, whatever transfer encoding carries them."""
    value = entity.headers.get("content-transfer-encoding")
    cte = "" if value is None else header_text(value).lower()
    if cte == "base64":  # decoded from a view: a large body is not copied first
        return _decode_base64(memoryview(entity.data)[entity.body : entity.end], where)
    body = entity.body_bytes
    if cte == "quoted-printable":
        return qp_decode(body)
    if cte in ("", "7bit", "8bit") and body[:1] != b"\x30" and is_base64_text(body):
        return _decode_base64(body, where)  # base64 without its header (old clients)
    if not body:
        raise ParseError(f"the {where} is empty")
    return body


def _outer_headers(entity: RawEntity) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, header_text(value))
        for name, value in entity.headers.raw_items()
        if not is_content_field(name)
    )


def _multipart_signed(
    entity: RawEntity, path: str, outer: tuple[tuple[str, str], ...]
) -> SMIMEPart:
    boundary = entity.boundary()
    if not boundary:
        raise ParseError("malformed multipart/signed: no boundary parameter")
    parts, _ = split_multipart(entity.data, entity.body, entity.end, boundary)
    if len(parts) != 2:
        raise ParseError(
            f"malformed multipart/signed: it must have exactly two parts, found {len(parts)}"
        )
    (content_start, content_end), (sig_start, sig_end) = parts
    signature = read_entity(entity.data, sig_start, sig_end)
    if classify_part(signature.headers) != "pkcs7-signature":
        raise ParseError(
            "malformed multipart/signed: the second part is "
            f"{signature.content_type}, not application/pkcs7-signature"
        )
    return SMIMEPart(
        kind="multipart/signed",
        smime_type=(_param(signature.headers, "smime-type") or "").lower() or None,
        der=_der(signature, "signature part"),
        signed_content=to_crlf(entity.data[content_start:content_end], lone_cr=False),
        micalg=_param(entity.headers, "micalg"),
        protocol=_param(entity.headers, "protocol"),
        path=path,
        outer_headers=outer,
        raw=entity.raw,
    )


def _is_smime_signed(entity: RawEntity) -> bool:
    protocol = (_param(entity.headers, "protocol") or "").strip().lower()
    if protocol:
        return protocol in _SIGNATURE_TYPES
    boundary = entity.boundary()
    if not boundary:
        return False
    parts, _ = split_multipart(entity.data, entity.body, entity.end, boundary)
    if len(parts) != 2:
        return False
    return classify_part(read_entity(entity.data, *parts[1]).headers) == "pkcs7-signature"


def _found(entity: RawEntity, path: str, outer: tuple[tuple[str, str], ...]) -> SMIMEPart | None:
    ctype = entity.content_type
    if ctype == "multipart/signed" and _is_smime_signed(entity):
        return _multipart_signed(entity, path, outer)
    kind = classify_part(entity.headers)
    if kind is None:
        return None
    smime_type = (_param(entity.headers, "smime-type") or "").strip().lower() or None
    if smime_type is None:
        smime_type = next(
            (t for ext, t in _EXTENSION_TYPES.items() if _filename(entity.headers).endswith(ext)),
            None,
        )
    where = "signature part" if kind == "pkcs7-signature" else "application/pkcs7-mime part"
    return SMIMEPart(
        kind=f"application/{kind}",
        smime_type=smime_type,
        der=_der(entity, where),
        signed_content=None,
        micalg=None,
        protocol=None,
        path=path,
        outer_headers=outer,
        raw=entity.raw,
    )


def find_smime_part(message: MessageSource) -> SMIMEPart | None:
    """The first S/MIME part, depth first from the whole message; None if there is none.

    The whole message is looked at first, then the parts of its multiparts (a signed part
    inside multipart/mixed, as mailing lists and forwards produce). Attached messages
    (message/rfc822) are not entered: their signatures belong to them, not to this
    message. An ``EmailMessage`` is flattened with :func:`message_bytes` first. A raw CMS
    file (DER or PEM ``.p7m``/``.p7s``, see :func:`smime.cms.detect_raw_cms`) is its own
    S/MIME part: ``application/pkcs7-mime`` with the whole file as ``der``.

    None for a well-formed message without S/MIME. ``ParseError`` for input that is not
    a message (see :func:`to_message`), for an S/MIME part that is broken (bad base64, a
    multipart/signed without exactly two parts or without a signature part) and for
    nesting deeper than :data:`MAX_DEPTH`. ``outer_headers`` are always those of the
    whole message (From, To, Subject, ...), wherever the part was found.
    """
    data = input_bytes(message)
    with reading("message"):
        return _search(data)


def _raw_cms_part(data: bytes) -> SMIMEPart:
    der = read_raw_cms(data)
    return SMIMEPart(
        kind="application/pkcs7-mime",
        smime_type=cms_type(der),
        der=der,
        signed_content=None,
        micalg=None,
        protocol=None,
        path="",
        outer_headers=(),
        raw=data,
        raw_cms=True,
    )


def with_content(part: SMIMEPart | None, content: bytes) -> SMIMEPart:
    """A detached signature (a raw ``.p7s``, or a message whose S/MIME part is a lone
    signature) joined with the ``content`` it signs, as the parts of a multipart/signed:
    the content exactly as given."""
    if part is None or part.der is None or part.kind == "multipart/signed":
        raise InvalidOptionError(
            "content= goes with a detached signature (a .p7s file or a lone "
            "application/pkcs7-signature part); this message carries its signed content"
        )
    if part.kind == "application/pkcs7-mime" and part.smime_type not in (None, "signed-data"):
        raise InvalidOptionError(f"content= needs a detached signature, not {part.smime_type}")
    return replace(part, kind="multipart/signed", signed_content=bytes(content))


def _search(data: bytes) -> SMIMEPart | None:
    if detect_raw_cms(data) is not None:
        return _raw_cms_part(data)
    check_is_message(data)
    start = 0
    if data.startswith(b"From "):
        eol = data.find(b"\n")
        start = len(data) if eol < 0 else eol + 1
    top = read_entity(data, start, len(data))
    outer = _outer_headers(top)
    stack: list[tuple[RawEntity, str, int]] = [(top, "", 0)]
    counts: dict[str, int] = {}  # path of each multipart opened -> its number of parts
    while stack:
        entity, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"malformed message: MIME parts nested deeper than {MAX_DEPTH} levels")
        found = _found(entity, path, outer)
        if found is not None:
            return replace(found, other_parts=_others(path, counts)) if path else found
        boundary = entity.boundary() if entity.content_type.startswith("multipart/") else None
        if not boundary:
            continue
        child_type = "message/rfc822" if entity.content_type == "multipart/digest" else "text/plain"
        parts, _ = split_multipart(data, entity.body, entity.end, boundary)
        counts[path] = len(parts)
        children = [
            (read_entity(data, s, e, child_type), f"{path}.{i}" if path else str(i), depth + 1)
            for i, (s, e) in enumerate(parts, 1)
        ]
        stack.extend(reversed(children))
    return None


def _others(path: str, counts: dict[str, int]) -> tuple[str, ...]:
    """Every part beside ``path`` or beside a multipart holding it, outermost first."""
    steps = path.split(".")
    others: list[str] = []
    for depth, step in enumerate(steps):
        parent = ".".join(steps[:depth])
        prefix = f"{parent}." if parent else ""
        others.extend(
            f"{prefix}{i}" for i in range(1, counts[parent] + 1) if str(i) != step
        )
    return tuple(others)
