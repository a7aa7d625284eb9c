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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property
from typing import Any

from ..core.wire import (
    FIELD_NAME,
    b64_decode,
    b64_encode,
    count_crlf,
    has_long_line,
    header_block,
    to_crlf,
)
from ..errors import ParseError
from ..limits import current_limits
from ._encode import is_seven_bit_safe, qp_decode, qp_encode
from ._headers import HEADER_WIDTH, fold_header, header_text, render_header
from ._policy import MAX_DEPTH
from ._raw import check_header_block
from .message import message_bytes, reading, to_message

__all__ = ["PreparedEntity", "fresh_boundary", "plain_header_text", "prepare_entity"]

#: Headers that describe the envelope copy rather than the content; written by the wrapper.
_DROPPED = frozenset({"mime-version", "content-length"})
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})


@dataclass(frozen=True)
class PreparedEntity:
    """What to sign or encrypt, and the headers that stay on the outside of the layer.

    ``chunks`` joined are the entity: a large body that was already canonical stays a
    view of the input, so encrypting it never copies it (``entity`` joins on first use).
    """

    chunks: tuple[bytes | memoryview, ...]
    outer_headers: tuple[tuple[str, str], ...]

    @cached_property
    def entity(self) -> bytes:
        """The entity as one ``bytes``."""
        first = self.chunks[0]
        if len(self.chunks) == 1 and isinstance(first, bytes):
            return first
        return b"".join(self.chunks)


@dataclass
class _Header:
    name: str
    value: Any
    fresh: bool = False  # written by us: always folded, never kept "as read"
    lname: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lname = self.name.lower()


#: A header value that ``header_text`` gives back unchanged: printable ASCII on one line,
#: no white space at either end.
_PLAIN_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def plain_header_text(value: Any) -> str:
    """``header_text(value)``, without its work when there is none to do."""
    if isinstance(value, str) and _PLAIN_VALUE.fullmatch(value):
        return str(value)
    return header_text(value)


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
        value = header.value
        if header.fresh:
            out.append(fold_header(header.name, value).encode("ascii"))
        elif (
            type(value) is str
            and len(header.name) + 2 + len(value) <= HEADER_WIDTH
            and _PLAIN_VALUE.fullmatch(value)
        ):
            out.append(f"{header.name}: {value}\r\n".encode("ascii"))  # as render_header would
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
    return _leaf_body(
        raw,
        _cte(part),
        part.get_content_maintype(),
        lambda: part.get_param("charset") is not None,
        headers,
        top,
    )


def _leaf_body(
    raw: bytes,
    cte: str,
    maintype: str,
    has_charset: Callable[[], bool],
    headers: list[_Header],
    top: bool,
) -> bytes:
    """:func:`_leaf` once the part is read: shared by the general and the fast path, so
    both give the same bytes. ``has_charset`` is asked only when the answer matters."""
    text_like = maintype in ("text", "message")
    new_cte = None
    decoded_for_charset: bytes | None = None
    if cte == "base64":
        if is_seven_bit_safe(raw):
            body = to_crlf(raw)
        else:
            body = b64_encode(b64_decode(raw, lenient=True, what="body"))
    elif cte == "quoted-printable":
        if is_seven_bit_safe(raw):
            body = to_crlf(raw)
        elif text_like:
            body = qp_encode(qp_decode(raw))
        else:
            body, new_cte = b64_encode(qp_decode(raw)), "base64"
    elif cte in _IDENTITY:
        decoded_for_charset = raw
        if cte == "binary" and not text_like:
            body, new_cte = b64_encode(raw), "base64"
        elif is_seven_bit_safe(raw):
            body = to_crlf(raw)
            new_cte = "7bit" if cte in ("8bit", "binary") else None
        elif text_like or (raw.isascii() and b"\x00" not in raw):
            body, new_cte = qp_encode(raw), "quoted-printable"
        else:
            body, new_cte = b64_encode(raw), "base64"
    elif is_seven_bit_safe(raw):
        body = to_crlf(raw)
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
        and not has_charset()
    )
    if not has_type and (top or needs_charset):
        if decoded_for_charset is None:
            decoded_for_charset = (
                b64_decode(raw, lenient=True, what="body") if cte == "base64" else qp_decode(raw)
            )
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
    return None if text is None else _extra_bytes(_payload_bytes(text), verbatim)


def _extra_bytes(raw: bytes | None, verbatim: bool) -> bytes | None:
    if raw is None:
        return None
    if verbatim or is_seven_bit_safe(raw):
        return to_crlf(raw)
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
    raw_boundary = part.get_boundary()
    boundary = raw_boundary.encode("utf-8", "surrogateescape") if raw_boundary else b""
    _write_multipart(
        headers,
        out,
        children,
        (preamble, epilogue),
        boundary,
        verbatim=verbatim,
        keep_boundary=inner_verbatim,
        new_boundary=fresh_boundary,
    )


def _write_multipart(
    headers: list[_Header],
    out: list[bytes],
    children: list[list[bytes]],
    extra: tuple[bytes | None, bytes | None],
    boundary: bytes,
    *,
    verbatim: bool,
    keep_boundary: bool,
    new_boundary: Callable[[Sequence[bytes]], bytes],
) -> None:
    """Write a multipart from its canonical children, preamble and epilogue (``extra``);
    a boundary that now occurs inside is replaced by ``new_boundary``."""
    preamble, epilogue = extra
    every = [c for chunks in children for c in chunks]
    every += [x for x in (preamble, epilogue) if x]
    if not boundary or (_collides(every, boundary) and not keep_boundary):
        boundary = new_boundary(every)
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
            body = to_crlf(_payload_bytes(payload))
            if maintype == "multipart" and body.endswith(b"\r\n"):
                body = body[:-2]  # a broken multipart: the parser kept the delimiter's CRLF
            out.append(body)
    else:
        body = _leaf(part, headers, top)
        _render(headers, out, verbatim)
        out.append(body)


# The fast path: the same canonical form without the ``email`` parser, for ordinary mail.
# It reads the structure the way the parser does (its feedparser, for input it reads without
# noting a defect) and hands each part to the same functions as the general path; anything
# it cannot read exactly as the parser would raises _Decline, and the general path runs.


class _Decline(Exception):
    """Only the general path can give the right bytes for this input."""


#: A header field as the parser reads it: name, colon, value (leading blanks dropped) with
#: its continuation lines; the value keeps its inner line breaks (as the parser's does).
#: Every step has one way to match (there are no lone CRs), so a failing match takes
#: linear time.
_FIELD_PATTERN = (
    rf"({FIELD_NAME}):[ \t]*((?:[^ \t\r\n][^\r\n]*)?(?:\r?\n[ \t][^\r\n]*)*)\r?\n"
)
_FIELD = re.compile(_FIELD_PATTERN)
_FIELD_BLOCK = re.compile(f"(?:{_FIELD_PATTERN})*")
#: Beyond these (ordinary mail: nesting 3, a dozen parts, 40 header lines) the general path
#: runs, with whatever limits it applies to unusual input.
_FAST_DEPTH = 8
_FAST_PARTS = 200
_FAST_LINES = 500
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+"
#: A Content-Type the header registry gives back unchanged as text, so the parser's
#: get_content_type/get_param see exactly what this module sees.
_CONTENT_TYPE = re.compile(
    rf"({_TOKEN})/({_TOKEN})[ \t]*((?:;[ \t]*[A-Za-z0-9_.-]+=(?:{_TOKEN}|\"[^\"\\]*\")[ \t]*)*)"
    r"(?:;[ \t]*)?"
)
_PARAM = re.compile(rf";[ \t]*([A-Za-z0-9_.-]+)=(?:({_TOKEN})|\"([^\"\\]*)\")")
_TRANSFER_ENCODING = re.compile(r"7bit|8bit|binary|quoted-printable|base64")
#: RFC 2046 boundary characters, without space (the parser strips a trailing one).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,200}")
_DELIMITER_END = re.compile(rb"(--)?[ \t]*(?:\r?\n|\Z)")


def _fast_fields(data: bytes, start: int, end: int) -> tuple[list[tuple[str, str]], int]:
    """The header fields of the entity at ``start`` as the parser stores them (name, value
    with its folding), and where its body starts."""
    block_end, body = header_block(data, start, end)
    if block_end == start:
        return [], body
    block = data[start:block_end]
    if not block.isascii() or b"\x00" in block or block.count(b"\n") > _FAST_LINES:
        raise _Decline
    try:
        check_header_block(block)  # the caps the general path applies to every header block
    except ParseError:
        raise _Decline from None
    text = block.decode("ascii")
    if not text.endswith("\n"):
        text += "\n"
    if not _FIELD_BLOCK.fullmatch(text):
        raise _Decline  # a body line, a From_ line or a stray continuation among the fields
    return _FIELD.findall(text), body


def _only(headers: list[_Header], lname: str) -> str | None:
    """The value of header ``lname``; two of them are the parser's call, so decline."""
    values = [h.value for h in headers if h.lname == lname]
    if len(values) > 1:
        raise _Decline
    return values[0] if values else None


def _fast_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """(type/subtype in lower case, parameters by lower-case name) of a plain Content-Type."""
    if value is None:
        return "text/plain", {}
    text = value.replace("\r", "").replace("\n", "")
    match = _CONTENT_TYPE.fullmatch(text)
    if match is None or "=?" in text:
        raise _Decline  # comments, RFC 2231, encoded words, stray text: the parser's call
    params: dict[str, str] = {}
    for param in _PARAM.finditer(match.group(3)):
        name = param.group(1).lower()
        if name in params:
            raise _Decline
        params[name] = param.group(2) if param.group(2) is not None else param.group(3)
    return f"{match.group(1)}/{match.group(2)}".lower(), params


def _before_eol(data: bytes, start: int, i: int) -> int:
    """Where the line ending before position ``i`` (a line start after ``start``) begins."""
    return i - 2 if i - 2 >= start and data[i - 2] == 0x0D else i - 1


def _fast_split(
    data: bytes, start: int, end: int, boundary: bytes
) -> tuple[bytes | None, list[tuple[int, int]], bytes]:
    """Preamble, part spans and epilogue of a multipart body, split as the parser splits it.

    The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1). A body
    the parser reads with a defect (no delimiter, no close delimiter, two in a row, the
    close one first) is declined.
    """
    delimiter = b"--" + boundary
    preamble: bytes | None = None
    parts: list[tuple[int, int]] = []
    part_start = -1
    pos = start
    while True:
        i = data.find(delimiter, pos, end)
        if i < 0:
            raise _Decline
        pos = i + 1
        if i != start and data[i - 1] != 0x0A:
            continue
        match = _DELIMITER_END.match(data, i + len(delimiter), end)
        if match is None:
            continue
        close = match.group(1) is not None
        if part_start < 0:
            if close:
                raise _Decline
            if i > start:
                preamble = data[start : _before_eol(data, start, i)]
        elif i == part_start:
            raise _Decline
        else:
            parts.append((part_start, _before_eol(data, part_start, i)))
        if close:
            return preamble, parts, data[match.end() : end]
        part_start = pos = match.end()


def _no_new_boundary(chunks: Sequence[bytes]) -> bytes:
    """The general path would pick a random boundary here: not the fast path's to copy."""
    raise _Decline


def _fast_part(
    data: bytes,
    span: tuple[int, int],
    headers: list[_Header],
    out: list[bytes],
    depth: int,
    top: bool = False,
    crlf_only: bool = False,
) -> memoryview | None:
    """:func:`_part` for the entity whose body is ``data[span[0]:span[1]]``.

    Returns the body instead of writing it when it is the input's bytes unchanged, so a
    large message is not copied (at the top, when ``crlf_only``: every line ends in CRLF).
    """
    body, end = span
    type_value = _only(headers, "content-type")
    content_type, params = _fast_content_type(type_value)
    maintype = content_type.partition("/")[0]
    if maintype == "message" or content_type in ("multipart/signed", "multipart/digest"):
        raise _Decline  # encapsulated, kept verbatim, or parts of another default type
    if maintype == "multipart":
        boundary = params.get("boundary", "")
        if depth >= _FAST_DEPTH or not _BOUNDARY.fullmatch(boundary):
            raise _Decline
        delimiter = boundary.encode("ascii")
        preamble, spans, epilogue = _fast_split(data, body, end, delimiter)
        children: list[list[bytes]] = []
        for start, stop in spans:
            fields, child_body = _fast_fields(data, start, stop)
            chunks: list[bytes] = []
            child_headers = [_Header(name, value) for name, value in fields]
            _fast_part(data, (child_body, stop), child_headers, chunks, depth + 1)
            children.append(chunks)
        extra = (_extra_bytes(preamble, False), _extra_bytes(epilogue, False))
        _write_multipart(
            headers,
            out,
            children,
            extra,
            delimiter,
            verbatim=False,
            keep_boundary=False,
            new_boundary=_no_new_boundary,
        )
        return None
    cte_value = _only(headers, "content-transfer-encoding")
    cte = "" if cte_value is None else plain_header_text(cte_value).lower()
    if cte_value is not None and not _TRANSFER_ENCODING.fullmatch(cte):
        raise _Decline
    if (
        crlf_only
        and cte in ("", "7bit", "quoted-printable", "base64")
        and type_value is not None
        and _crlf_seven_bit_safe(data, body, end)
    ):
        # Already canonical, so _leaf_body would give the body back as it is.
        _render(headers, out, False)
        return memoryview(data)[body:end]
    canonical = _leaf_body(data[body:end], cte, maintype, lambda: "charset" in params, headers, top)
    _render(headers, out, False)
    out.append(canonical)
    return None


def _crlf_seven_bit_safe(data: bytes, start: int, end: int) -> bool:
    """:func:`is_seven_bit_safe` of the body ``data[start:end]`` when every line of
    ``data`` ends in CRLF (none in CR or LF alone), where fewer scans tell the same; a body
    without blanks (base64) needs no scan for white space or ``From``. The header block
    before ``start`` is ASCII by then, so asking the whole of ``data`` is the same."""
    if not data.isascii() or data.find(b"\x00", start, end) >= 0:
        return False
    if data.find(b" ", start, end) >= 0 or data.find(b"\t", start, end) >= 0:
        if data.startswith(b"From ", start) or data.find(b"\nFrom ", start, end) >= 0:
            return False
        if data.endswith((b" ", b"\t"), start, end) or any(
            data.find(seq, start, end) >= 0 for seq in (b" \r", b"\t\r")
        ):
            return False
    return not has_long_line(data, start, end)


def _prepare_fast(data: bytes) -> PreparedEntity | None:
    """:func:`prepare_entity` for ordinary mail without the ``email`` parser: single-part
    with any transfer encoding, 8-bit text, multipart with attachments. Gives exactly
    what the general path gives, or None when it cannot."""
    cr, lf = data.count(b"\r"), data.count(b"\n")
    pairs = count_crlf(data, cr, lf)
    if data.startswith(b"From ") or cr != pairs:
        return None  # an mbox line, or lone CRs (line ends the parser reads its own way)
    try:
        fields, body = _fast_fields(data, 0, len(data))
        if not fields:
            return None
        content, outer = _split_fields(fields, plain_header_text)
        multipart = _fast_content_type(_only(content, "content-type"))[0].startswith("multipart/")
        if multipart and data.count(b"\n--") > min(_FAST_PARTS, current_limits().max_parts - 1):
            return None  # more parts (at most) than ordinary mail has, or than the cap allows
        out: list[bytes] = []
        crlf_only = lf == pairs
        body_view = _fast_part(data, (body, len(data)), content, out, 0, True, crlf_only)
    except _Decline:
        return None
    head = b"".join(out)
    return PreparedEntity((head, body_view) if body_view else (head,), tuple(outer))


def _split_fields(
    fields: Iterable[tuple[str, Any]], text: Callable[[Any], str]
) -> tuple[list[_Header], list[tuple[str, str]]]:
    """The ``Content-*`` fields to protect, and the others as text to copy outside."""
    content: list[_Header] = []
    outer: list[tuple[str, str]] = []
    for name, value in fields:
        lname = name.lower()
        if lname in _DROPPED:
            continue
        if lname.startswith("content-"):
            content.append(_Header(name, value))
        else:
            outer.append((name, text(value)))
    return content, outer


def prepare_entity(msg: bytes | str | Message) -> PreparedEntity:
    """Split a message into the canonical entity to protect and the headers kept outside.

    The entity holds the ``Content-*`` headers and the body; every other header (From, To,
    Subject, Date, Message-ID, ...) goes to ``outer_headers`` as unfolded text, to be
    copied outside each layer. ``MIME-Version`` and ``Content-Length`` are dropped (the
    wrapper writes the first; the second would be wrong).
    """
    if isinstance(msg, (bytes, bytearray, memoryview, str)):
        try:
            data = msg.encode("utf-8", "surrogateescape") if isinstance(msg, str) else bytes(msg)
        except UnicodeEncodeError:
            data = b""  # to_message says what is wrong with it
        fast = _prepare_fast(data)
        if fast is not None:
            return fast
    message = msg if isinstance(msg, Message) else to_message(msg)
    out: list[bytes] = []
    with reading("message"):
        content, outer = _split_fields(message.raw_items(), header_text)
        _part(message, content, out, 0, verbatim=False, top=True)
    return PreparedEntity((b"".join(out),), tuple(outer))
