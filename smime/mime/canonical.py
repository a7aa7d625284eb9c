"""The entity that gets signed or encrypted, in the canonical form of RFC 8551 §3.1.

A signature covers bytes, and mail relays rewrite bytes: they convert 8-bit bodies to
quoted-printable, strip white space at line ends, escape lines starting ``From `` and wrap
long lines. So before signing, every part is given a transfer encoding no relay needs to
touch, line ends become CRLF, and headers are folded so the ``email`` package writes them
back unchanged. What is already safe is left byte for byte as it was (apart from line
ends), and a part that is already signed is never altered.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any

from ..errors import ParseError
from ._encode import b64_decode_lenient, b64_encode, crlf, is_seven_bit_safe, qp_decode, qp_encode
from ._headers import fold_header, header_text, is_clean_source_header, render_header
from ._policy import MAX_DEPTH
from .message import message_bytes, reading, to_message

__all__ = ["PreparedEntity", "fresh_boundary", "prepare_entity"]

#: Headers that describe the envelope copy rather than the content; written by the wrapper.
_DROPPED = frozenset({"mime-version", "content-length"})
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})


@dataclass(frozen=True)
class PreparedEntity:
    """What to sign or encrypt, and the headers that stay on the outside of the layer."""

    entity: bytes
    outer_headers: tuple[tuple[str, str], ...]


@dataclass
class _Header:
    name: str
    value: Any
    fresh: bool = False  # written by us: always folded, never kept "as read"

    @property
    def lname(self) -> str:
        return self.name.lower()


def fresh_boundary(chunks: Sequence[bytes]) -> bytes:
    """A random boundary whose delimiter occurs nowhere in ``chunks``."""
    while True:
        boundary = b"=_smime_" + secrets.token_hex(16).encode("ascii")
        if not any(b"--" + boundary in chunk for chunk in chunks):
            return boundary


def _collides(chunks: Sequence[bytes], boundary: bytes) -> bool:
    """Whether a line in ``chunks`` starts with the delimiter (every chunk starts a line)."""
    delimiter = b"--" + boundary
    marker = b"\n" + delimiter
    return any(chunk.startswith(delimiter) or marker in chunk for chunk in chunks)


def _payload_bytes(payload: str) -> bytes:
    try:
        return payload.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ParseError(f"the message body cannot be encoded: {exc}") from exc


def _raw_payload(part: Message) -> object:
    """The payload as stored: ``get_payload()`` would decode 8-bit text with replacement."""
    return getattr(part, "_payload", None)


def _generated_body(part: Message) -> bytes:
    """The body the ``email`` generator writes for a part we do not take apart."""
    data = message_bytes(part)
    if data.startswith(b"\r\n"):
        return data[2:]
    end = data.find(b"\r\n\r\n")
    return b"" if end < 0 else data[end + 4 :]


def _charset_for(data: bytes) -> str:
    if data.isascii():
        return "us-ascii"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown-8bit"
    return "utf-8"


def _with_param(content_type: str, name: str, value: str) -> str:
    """``content_type`` with parameter ``name`` set, other parameters kept."""
    scratch = Message()
    scratch["Content-Type"] = content_type
    if name == "boundary":
        scratch.set_boundary(value)
    else:
        scratch.set_param(name, value)
    return header_text(scratch["Content-Type"])


def _set_header(headers: list[_Header], name: str, value: str, *, after: str = "") -> None:
    """Replace the first ``name`` header, or insert it (after header ``after`` if present)."""
    lname = name.lower()
    for header in headers:
        if header.lname == lname:
            header.value, header.fresh = value, True
            return
    position = next((i + 1 for i, h in enumerate(headers) if h.lname == after), len(headers))
    headers.insert(position, _Header(name, value, fresh=True))


def _set_param(headers: list[_Header], name: str, value: str) -> None:
    for header in headers:
        if header.lname == "content-type":
            header.value = _with_param(header_text(header.value), name, value)
            header.fresh = True
            return


def _render(headers: list[_Header], out: list[bytes], verbatim: bool) -> None:
    for header in headers:
        if header.fresh:
            out.append(fold_header(header.name, header.value).encode("ascii"))
        elif verbatim or header_text(header.value):
            out.append(render_header(header.name, header.value, verbatim=verbatim))
    out.append(b"\r\n")


def _cte(part: Message) -> str:
    value = part.get("content-transfer-encoding")
    return "" if value is None else header_text(value).lower()


def _leaf(part: Message, headers: list[_Header], top: bool) -> bytes:
    """The canonical body of a single part; edits ``headers`` to match it."""
    payload = _raw_payload(part)
    if isinstance(payload, list):
        raw = _generated_body(part)
    else:
        raw = _payload_bytes(payload) if isinstance(payload, str) else b""
    cte = _cte(part)
    maintype = part.get_content_maintype()
    text_like = maintype in ("text", "message")
    new_cte = None
    decoded_for_charset: bytes | None = None
    if cte == "base64":
        body = crlf(raw) if is_seven_bit_safe(raw) else b64_encode(b64_decode_lenient(raw))
    elif cte == "quoted-printable":
        if is_seven_bit_safe(raw):
            body = crlf(raw)
        elif text_like:
            body = qp_encode(qp_decode(raw))
        else:
            body, new_cte = b64_encode(qp_decode(raw)), "base64"
    elif cte in _IDENTITY:
        decoded_for_charset = raw
        if cte == "binary" and not text_like:
            body, new_cte = b64_encode(raw), "base64"
        elif is_seven_bit_safe(raw):
            body = crlf(raw)
            new_cte = "7bit" if cte in ("8bit", "binary") else None
        elif text_like or (raw.isascii() and b"\x00" not in raw):
            body, new_cte = qp_encode(raw), "quoted-printable"
        else:
            body, new_cte = b64_encode(raw), "base64"
    elif is_seven_bit_safe(raw):
        body = crlf(raw)
    else:
        raise ParseError(
            f"cannot make a part with Content-Transfer-Encoding {cte!r} safe for signing: "
            "it holds 8-bit data, long lines or trailing white space"
        )
    has_type = any(h.lname == "content-type" for h in headers)
    needs_charset = (
        maintype == "text"
        and decoded_for_charset is not None
        and not decoded_for_charset.isascii()
        and part.get_param("charset") is None
    )
    if not has_type and (top or needs_charset):
        if decoded_for_charset is None:
            decoded_for_charset = b64_decode_lenient(raw) if cte == "base64" else qp_decode(raw)
        charset = _charset_for(decoded_for_charset)
        content_type = _Header("Content-Type", f"text/plain; charset={charset}", fresh=True)
        headers.insert(0 if top else len(headers), content_type)
    elif needs_charset and decoded_for_charset is not None:
        _set_param(headers, "charset", _charset_for(decoded_for_charset))
    if new_cte is not None:
        _set_header(headers, "Content-Transfer-Encoding", new_cte, after="content-type")
    return body


def _extra_text(text: str | None, verbatim: bool) -> bytes | None:
    """A preamble or epilogue: kept when safe, dropped when not (clients never show it)."""
    if text is None:
        return None
    raw = _payload_bytes(text)
    if verbatim or is_seven_bit_safe(raw):
        return crlf(raw)
    return None


def _multipart(
    part: Message, headers: list[_Header], out: list[bytes], depth: int, verbatim: bool
) -> None:
    payload = _raw_payload(part)
    assert isinstance(payload, list)
    inner_verbatim = verbatim or part.get_content_type() == "multipart/signed"
    children: list[list[bytes]] = []
    for sub in payload:
        if not isinstance(sub, Message):
            raise ParseError("malformed multipart: a body part is not a message part")
        chunks: list[bytes] = []
        _part(sub, [_Header(n, v) for n, v in sub.raw_items()], chunks, depth + 1, inner_verbatim)
        children.append(chunks)
    preamble = _extra_text(part.preamble, inner_verbatim)
    epilogue = _extra_text(part.epilogue, inner_verbatim)
    every = [c for chunks in children for c in chunks]
    every += [x for x in (preamble, epilogue) if x]
    raw_boundary = part.get_boundary()
    boundary = raw_boundary.encode("utf-8", "surrogateescape") if raw_boundary else b""
    if not boundary or (_collides(every, boundary) and not inner_verbatim):
        boundary = fresh_boundary(every)
        _set_param(headers, "boundary", boundary.decode("ascii"))
    _render(headers, out, verbatim)
    if preamble is not None:
        out += [preamble, b"\r\n"]
    out.append(b"--" + boundary + b"\r\n")
    for i, chunks in enumerate(children):
        if i:
            out.append(b"\r\n--" + boundary + b"\r\n")
        out += chunks
    out.append(b"\r\n--" + boundary + b"--\r\n")
    if epilogue:
        out.append(epilogue)


def _is_encapsulated(part: Message, payload: object) -> bool:
    """message/rfc822 and kin: one whole message inside (delivery-status holds header blocks)."""
    return (
        isinstance(payload, list)
        and len(payload) == 1
        and isinstance(payload[0], Message)
        and part.get_content_maintype() == "message"
        and part.get_content_type() != "message/delivery-status"
    )


def _part(
    part: Message,
    headers: list[_Header],
    out: list[bytes],
    depth: int,
    verbatim: bool,
    top: bool = False,
) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(f"malformed message: MIME parts nested deeper than {MAX_DEPTH} levels")
    payload = _raw_payload(part)
    maintype = part.get_content_maintype()
    if isinstance(payload, list) and maintype == "multipart":
        _multipart(part, headers, out, depth, verbatim)
    elif maintype == "multipart" and not verbatim:
        raise ParseError(
            "malformed multipart: no boundary delimiter found, so its parts cannot be "
            "made safe for signing"
        )
    elif _is_encapsulated(part, payload):
        assert isinstance(payload, list)
        inner = payload[0]
        assert isinstance(inner, Message)
        if not verbatim and _cte(part) in ("8bit", "binary"):
            _set_header(headers, "Content-Transfer-Encoding", "7bit")
        _render(headers, out, verbatim)
        inner_headers = [_Header(n, v) for n, v in inner.raw_items()]
        _part(inner, inner_headers, out, depth + 1, verbatim)
    elif verbatim:
        _render(headers, out, verbatim)
        if isinstance(payload, list):
            out.append(_generated_body(part))
        elif isinstance(payload, str):
            body = crlf(_payload_bytes(payload))
            if maintype == "multipart" and body.endswith(b"\r\n"):
                body = body[:-2]  # a broken multipart: the parser kept the delimiter's CRLF
            out.append(body)
    else:
        body = _leaf(part, headers, top)
        _render(headers, out, verbatim)
        out.append(body)


_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_SIMPLE_CTE = frozenset({"", "7bit", "quoted-printable", "base64"})


def _source_fields(block: bytes) -> list[tuple[str, str]] | None:
    """(name, value as the email package's source parser keeps it), or None if unusual."""
    fields: list[tuple[str, str]] = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + "\r\n" + line.decode("ascii"))
            continue
        match = _FIELD.match(line)
        if match is None:
            return None
        fields.append(
            (match.group(1).decode("ascii"), line[match.end() :].decode("ascii").lstrip(" \t"))
        )
    return fields


def _prepare_simple(data: bytes) -> PreparedEntity | None:
    """The common case without the email parser: a single-part, 7-bit-clean message whose
    headers are already clean. Gives exactly what the general path gives, or None."""
    if not data.isascii() or data.startswith(b"From "):
        return None
    data = crlf(data)
    split = data.find(b"\r\n\r\n")
    if split <= 0:
        return None
    fields = _source_fields(data[:split])
    # Clean headers are 7-bit, short and without trailing white space, so checking the
    # whole message checks the body without copying it.
    if fields is None or not is_seven_bit_safe(data):
        return None
    content: list[bytes | memoryview] = []
    outer: list[tuple[str, str]] = []
    content_type = cte = None
    for name, value in fields:
        lname = name.lower()
        if not is_clean_source_header(name, value):
            return None
        if lname in _DROPPED:
            continue
        if lname.startswith("content-"):
            if lname == "content-type":
                content_type = header_text(value).lower()
            elif lname == "content-transfer-encoding":
                cte = header_text(value).lower()
            content.append(render_header(name, value))
        else:
            outer.append((name, header_text(value)))
    if (
        content_type is None
        or content_type.startswith(("multipart/", "message/"))
        or (cte or "") not in _SIMPLE_CTE
        or sum(1 for n, _ in fields if n.lower() == "content-type") != 1
        or sum(1 for n, _ in fields if n.lower() == "content-transfer-encoding") > 1
    ):
        return None
    content.append(b"\r\n")
    content.append(memoryview(data)[split + 4 :])
    return PreparedEntity(b"".join(content), tuple(outer))


def prepare_entity(msg: bytes | str | Message) -> PreparedEntity:
    """Split a message into the canonical entity to protect and the headers kept outside.

    The entity holds the ``Content-*`` headers and the body; every other header (From, To,
    Subject, Date, Message-ID, ...) goes to ``outer_headers`` as unfolded text, to be
    copied outside each layer. ``MIME-Version`` and ``Content-Length`` are dropped (the
    wrapper writes the first; the second would be wrong).
    """
    if isinstance(msg, (bytes, bytearray, memoryview)):
        fast = _prepare_simple(bytes(msg))
        if fast is not None:
            return fast
    message = msg if isinstance(msg, Message) else to_message(msg)
    content: list[_Header] = []
    outer: list[tuple[str, str]] = []
    out: list[bytes] = []
    with reading("message"):
        for name, value in message.raw_items():
            lname = name.lower()
            if lname in _DROPPED:
                continue
            if lname.startswith("content-"):
                content.append(_Header(name, value))
            else:
                outer.append((name, header_text(value)))
        _part(message, content, out, 0, verbatim=False, top=True)
    return PreparedEntity(b"".join(out), tuple(outer))
