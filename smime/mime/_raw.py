"""MIME structure read straight from the bytes, without building a message tree.

A signature covers the exact bytes of a part as they travelled, so the parts of a
multipart are located by boundary search in the raw input (RFC 2046 §5.1.1: a delimiter
is a line ``--boundary`` and the line break before it belongs to it). Positions are
offsets into one buffer, so nothing large is copied; nesting is walked without
recursion and bounded.

Every header block is checked here, before any parser of the ``email`` package sees it:
against the header caps of :class:`~smime.limits.Limits`, and for comments nested deeper
than the package's recursive parsers can take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, unquote
from typing import Any

from ..core.wire import header_block, header_fields
from ..errors import ParseError
from ..limits import MAX_COMMENT_DEPTH, MAX_PARAMETERS, Limits, current_limits
from ._policy import MAX_DEPTH

__all__ = [
    "EntityHeaders",
    "RawEntity",
    "check_header_block",
    "check_raw_depth",
    "read_entity",
    "split_multipart",
]

_LF = 0x0A
_CR = 0x0D
_WSP = (0x20, 0x09)
#: Where a header field starts: after a line break not followed by white space (folding).
_FIELD_START = re.compile(rb"\n(?![ \t])")
#: What moves the comment depth: every "(", a ")" not escaped, and the start of a field.
_COMMENT_TOKEN = re.compile(rb"\(|(?<!\\)\)|\n(?![ \t])")


@dataclass(frozen=True)
class RawEntity:
    """One MIME entity inside ``data``: headers from ``start``, body from ``body`` to ``end``."""

    data: bytes
    start: int
    body: int
    end: int
    headers: EntityHeaders  # read as the compat32 parser reads them

    @property
    def raw(self) -> bytes:
        return self.data[self.start : self.end]

    def is_whole(self, entity: bytes) -> bool:
        """Whether this is ``entity`` read from its first byte to its last (a caller's
        already-read entity can stand in for reading it again)."""
        return self.data is entity and self.start == 0 and self.end == len(entity)

    @property
    def body_bytes(self) -> bytes:
        return self.data[self.body : self.end]

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def boundary(self) -> bytes | None:
        value = self.headers.get_boundary()
        return value.encode("utf-8", "surrogateescape") if value else None


def read_entity(data: bytes, start: int, end: int, default_type: str = "text/plain") -> RawEntity:
    """Split an entity into its header block and body (an empty line ends the headers)."""
    header_end, body = header_block(data, start, end)
    block = data[start:header_end]
    check_header_block(block)
    return RawEntity(data, start, body, end, EntityHeaders(block, default_type))


def _parse_block(block: bytes, default_type: str) -> Message:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(block)
    except Exception as exc:  # the parser is lenient; anything it raises is a defect
        raise ParseError(f"malformed MIME headers: {exc}") from exc
    headers.set_default_type(default_type)
    return headers


class EntityHeaders:
    """The header fields of one entity, answering as a compat32 ``Message`` would.

    A plain block (see :func:`~smime.core.wire.header_fields`) is read without the
    ``email`` package, and so are parameters without RFC 2231 (``*``) or backslashes,
    which that package reads by splitting at ``;`` and unquoting; anything else is handed
    to the package itself, so every answer is the one it gives.
    """

    __slots__ = ("_block", "_default", "_fields", "_index", "_message", "_params")

    def __init__(self, block: bytes, default_type: str = "text/plain") -> None:
        self._block = block
        self._default = default_type
        self._message: Message | None = None
        self._index: dict[str, Any] | None = None  # first value of each field, by lower name
        self._params: dict[str, dict[str, str] | None] = {}  # each field's parameters, read once
        self._fields = header_fields(block)
        if self._fields is None:
            self._message = _parse_block(block, default_type)

    def _parsed(self) -> Message:
        if self._message is None:
            self._message = _parse_block(self._block, self._default)
        return self._message

    def raw_items(self) -> list[tuple[str, Any]]:
        if self._fields is None:
            return list(self._parsed().raw_items())
        return list(self._fields)

    def __iter__(self) -> Any:
        return iter([name for name, _ in self.raw_items()])

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> Any:
        """The first field called ``name`` (any case), None if there is none."""
        if self._fields is None:
            return self._parsed().get(name)
        if self._index is None:
            index: dict[str, Any] = {}
            for key, value in self._fields:
                index.setdefault(key.lower(), value)
            self._index = index
        return self._index.get(name.lower())

    def get_content_type(self) -> str:
        value = self.get("content-type")
        if value is None:
            return self._default
        ctype = str(value).partition(";")[0].strip().lower()
        return ctype if ctype.count("/") == 1 else "text/plain"

    def get_param(self, param: str, header: str = "content-type") -> Any:
        """The value of parameter ``param`` of field ``header``, unquoted; None if absent."""
        key = header.lower()
        if key in self._params:
            params = self._params[key]
        else:
            params = self._params[key] = self._read_params(key)
        if params is None:
            value = self.get(header)
            return None if value is None else self._parsed().get_param(param, header=header)
        return params.get(param.lower())

    def _read_params(self, header: str) -> dict[str, str] | None:
        """Every parameter of field ``header`` (the first of each name wins), read once;
        None when the ``email`` package must read them (RFC 2231, backslashes, absent)."""
        value = self.get(header)
        if value is None or not isinstance(value, str) or "*" in value or "\\" in value:
            return None
        params: dict[str, str] = {}
        for segment in _segments(value):
            name, sep, found = segment.partition("=")
            params.setdefault(name.strip().lower(), unquote(found.strip()) if sep else "")
        return params

    def get_boundary(self) -> str | None:
        value = self.get_param("boundary")
        return None if value is None else collapse_rfc2231_value(value).rstrip()


def _segments(value: str) -> list[str]:
    """``value`` split at each ``;`` outside double quotes, as ``email.message`` splits it."""
    rest = ";" + value
    out = []
    while rest[:1] == ";":
        rest = rest[1:]
        end = rest.find(";")
        while end > 0 and (rest.count('"', 0, end) - rest.count('\\"', 0, end)) % 2:
            end = rest.find(";", end + 1)
        if end < 0:
            end = len(rest)
        out.append(rest[:end].strip())
        rest = rest[end:]
    return out


def check_header_block(block: bytes, limits: Limits | None = None) -> None:
    """Refuse a header block beyond the header caps, or with comments nested too deep.

    Linear, and nearly free for ordinary headers: the exact scans run only when a cheap
    count says a cap might be crossed.
    """
    caps = limits or current_limits()
    if len(block) > caps.max_header_size or block.count(b"\n") >= caps.max_headers:
        spans = _field_spans(block)
        caps.check("max_headers", len(spans), "header fields in one MIME entity")
        longest = max(end - start for start, end in spans)
        caps.check("max_header_size", longest, "bytes in one header field")
    if block.count(b"(") > MAX_COMMENT_DEPTH:
        _check_comment_depth(block)
    if block.count(b";") > MAX_PARAMETERS:
        _check_parameters(block)


def _field_spans(block: bytes) -> list[tuple[int, int]]:
    """Where each header field of a block starts and ends (continuation lines included)."""
    starts = [0, *(m.end() for m in _FIELD_START.finditer(block) if m.end() < len(block))]
    return list(zip(starts, [*starts[1:], len(block)], strict=True))


def _check_parameters(block: bytes) -> None:
    """Refuse a header field with more than MAX_PARAMETERS ``;`` separators."""
    for start, end in _field_spans(block):
        if block.count(b";", start, end) > MAX_PARAMETERS:
            raise ParseError(
                f"malformed MIME headers: a header field has more than {MAX_PARAMETERS} "
                "parameters"
            )


def _check_comment_depth(block: bytes) -> None:
    """Refuse comments nested deeper than MAX_COMMENT_DEPTH in any header field.

    Counted so as never to see less nesting than a parser does: every "(" opens, even
    quoted or escaped; only a ")" without a backslash before it closes.
    """
    depth = 0
    for match in _COMMENT_TOKEN.finditer(block):
        token = match.group()
        if token == b"(":
            depth += 1
            if depth > MAX_COMMENT_DEPTH:
                raise ParseError(
                    "malformed MIME headers: a header field nests comments deeper than "
                    f"{MAX_COMMENT_DEPTH} levels"
                )
        elif token == b")":
            depth = max(depth - 1, 0)
        else:
            depth = 0


def _delimiter_at(data: bytes, i: int, end: int, length: int) -> tuple[bool, int] | None:
    """If a boundary delimiter line starts at ``i``: (is close delimiter, end of its line)."""
    j = i + length
    close = data.startswith(b"--", j, end)
    k = j + 2 if close else j
    while k < end and data[k] in _WSP:
        k += 1
    if k == end:
        return close, end
    if data[k] == _LF:
        return close, k + 1
    if data[k] == _CR:
        return close, k + 2 if k + 1 < end and data[k + 1] == _LF else k + 1
    return None


def split_multipart(
    data: bytes, start: int, end: int, boundary: bytes
) -> tuple[list[tuple[int, int]], bool]:
    """The (start, end) of each body part, and whether the close delimiter was seen.

    More parts than ``max_parts`` raise LimitExceededError as soon as the next is found.
    """
    caps = current_limits()
    delimiter = b"--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        i = data.find(delimiter, pos, end)
        if i < 0:
            break
        pos = i + 1
        if i != start and data[i - 1] != _LF:
            continue
        found = _delimiter_at(data, i, end, len(delimiter))
        if found is None:
            continue
        close, line_end = found
        if part_start is not None:
            part_end = i
            if part_end > part_start and data[part_end - 1] == _LF:
                part_end -= 1
                if part_end > part_start and data[part_end - 1] == _CR:
                    part_end -= 1
            parts.append((part_start, part_end))
            if len(parts) > caps.max_parts:
                raise caps.exceeded("max_parts", "a multipart has too many parts")
        if close:
            return parts, True
        part_start = pos = line_end
    if part_start is not None:
        parts.append((part_start, end))
    return parts, False


def check_raw_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse input the recursive ``email`` parser should not see: nested deeper than
    ``limit``, with more MIME entities than ``max_parts``, or headers beyond their caps."""
    caps = current_limits()
    entities = 0
    start = 0
    if data.startswith(b"From "):
        eol = data.find(b"\n")
        start = len(data) if eol < 0 else eol + 1
    stack: list[tuple[int, int, int, str]] = [(start, len(data), 0, "text/plain")]
    while stack:
        s, e, depth, default = stack.pop()
        if depth > limit:
            raise ParseError(f"malformed message: MIME parts nested deeper than {limit} levels")
        entities += 1
        if entities > caps.max_parts:
            raise caps.exceeded("max_parts", "the message has too many MIME parts")
        entity = read_entity(data, s, e, default)
        ctype = entity.content_type
        if ctype.startswith("multipart/"):
            boundary = entity.boundary()
            if boundary:
                child_type = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                parts, _ = split_multipart(data, entity.body, e, boundary)
                stack.extend((ps, pe, depth + 1, child_type) for ps, pe in parts)
        elif ctype.startswith("message/") and ctype != "message/delivery-status":
            stack.append((entity.body, e, depth + 1, "text/plain"))
