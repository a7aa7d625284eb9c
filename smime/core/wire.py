"""Mail text as bytes: line endings, header field names and base64, with no cryptography.

The MIME layer and the transports both read and write the same wire form; each rule lives
here once so that what one layer writes the other reads the same way. Everything works on
whole buffers with C-backed calls (``bytes`` methods, ``re``, ``binascii``/``pybase64``).

Base64 goes through ``pybase64`` (C, SIMD) when it is installed and through ``binascii``
otherwise; both give the same bytes (tests run both).
"""

from __future__ import annotations

import binascii
import importlib
import re
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Protocol

from ..errors import ParseError
from .der import presized

__all__ = [
    "B64_BACKEND",
    "FIELD_NAME",
    "b64_decode",
    "b64_encode",
    "b64_encode_blocks",
    "b64_lines",
    "b64_size",
    "b64_write",
    "count_crlf",
    "has_long_line",
    "header_block",
    "header_fields",
    "is_base64_text",
    "is_field_name",
    "to_crlf",
    "to_wire",
]

#: A header field name (RFC 5322 §2.2: printable ASCII but the colon), as a pattern text so
#: that larger patterns can embed it.
FIELD_NAME = r"[\x21-\x39\x3b-\x7e]+"
_FIELD_NAME = re.compile(FIELD_NAME)
_EOL = re.compile(rb"\r\n|\r|\n")


def is_field_name(name: str) -> bool:
    """Whether ``name`` can stand before the colon of a header field."""
    return _FIELD_NAME.fullmatch(name) is not None


def is_content_field(name: str) -> bool:
    """Whether the field describes the entity (Content-*, MIME-Version) rather than the
    message: such fields stay with their part; the others go outside a layer."""
    lname = name.lower()
    return lname.startswith("content-") or lname == "mime-version"


def header_block(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """Where the header block of the entity at ``data[start:end]`` ends (after its last
    line break) and where its body starts: after the first empty line, CRLF or LF, or at
    ``end`` when there is none (headers only)."""
    end = len(data) if end is None else end
    if data.startswith(b"\r\n", start, end):
        return start, start + 2
    if data.startswith(b"\n", start, end):
        return start, start + 1
    crlf_end = data.find(b"\n\r\n", start, end)
    lf_end = data.find(b"\n\n", start, end if crlf_end < 0 else crlf_end + 2)
    if lf_end >= 0 and (crlf_end < 0 or lf_end < crlf_end):
        return lf_end + 1, lf_end + 2
    if crlf_end >= 0:
        return crlf_end + 1, crlf_end + 3
    return end, end


#: One header field of a plain block: a name, its colon, the rest of the line and the
#: continuation lines (white space first), each line ending in CRLF or LF (the last may not);
#: printable ASCII and tab only (the parser also breaks lines at other controls).
_PLAIN_FIELD = re.compile(
    rb"(" + FIELD_NAME.encode("ascii") + rb"):[ \t]*"
    rb"([\t\x20-\x7e]*(?:\r?\n[ \t][\t\x20-\x7e]*)*)(?:\r?\n|\Z)"
)


def header_fields(block: bytes) -> list[tuple[str, str]] | None:
    """The ``(name, value)`` fields of a plain header block, exactly as the ``email``
    package's compat32 parser gives them (value: white space after the colon dropped,
    folding kept, line end dropped); None when the block is not plain (8-bit bytes, a lone
    CR, a line that is neither a field nor a continuation), for that parser to read.

    A header block is read for a few fields on every verify; this keeps the package's
    feed parser off that path without reading any field differently.
    """
    if not block.isascii():
        return None
    fields = []
    pos, size = 0, len(block)
    match = _PLAIN_FIELD.match
    while pos < size:
        found = match(block, pos)
        if found is None:
            return None
        fields.append((found[1].decode("ascii"), found[2].decode("ascii")))
        pos = found.end()
    return fields


#: The longest line SMTP carries, line end not counted (RFC 5321 section 4.5.3.1.6).
MAX_LINE = 998
#: The shortest line a strided slice is taken for: it copies one byte in this many.
_MIN_STRIDE = 16


def count_crlf(data: bytes, cr: int, lf: int) -> int:
    """``data.count(b"\\r\\n")``, given ``cr`` and ``lf``, the counts of CR and of LF.

    Mail is a header block and then, often, a body of equal lines (base64): their line
    ends are checked by strided slices (every step-th byte), and the single-byte counts
    prove there are no others, so the slower two-byte search runs over the rest only.
    """
    if not cr or not lf:
        return 0
    size = len(data)
    head = data.find(b"\r\n\r\n", 0, 1 << 16)
    # without a header block (a block from the middle of a body), the first line may be
    # the end of a longer one: the regular lines start after it
    start = head + 4 if head >= 0 else data.find(b"\n", 0, MAX_LINE + 2) + 1
    first = data.find(b"\n", start, start + MAX_LINE + 2)
    step = first - start + 1
    if step < _MIN_STRIDE or data[first - 1] != 0x0D:
        return data.count(b"\r\n")
    lfs = data[first:size:step]
    crs = data[first - 1 : size : step]
    lines = min(len(lfs) - len(lfs.lstrip(b"\n")), len(crs) - len(crs.lstrip(b"\r")))
    end = first + (lines - 1) * step + 1  # after the last regular line
    outside_cr = data.count(b"\r", 0, start) + data.count(b"\r", end)
    outside_lf = data.count(b"\n", 0, start) + data.count(b"\n", end)
    if cr - outside_cr != lines or lf - outside_lf != lines:
        return data.count(b"\r\n")  # line ends inside the lines too: count them all
    return lines + data.count(b"\r\n", 0, start) + data.count(b"\r\n", end)


def to_crlf(data: bytes, *, lone_cr: bool = True) -> bytes:
    """Every line end as CRLF, in one pass when any needs changing.

    ``lone_cr=True`` reads a lone CR as a line end too, as the ``email`` package does;
    ``False`` keeps it as a byte of the text (signed content whose signer hashed it so).
    """
    lf = data.count(b"\n")
    cr = data.count(b"\r")
    crlf = count_crlf(data, cr, lf)
    if lf == crlf and (not lone_cr or cr == crlf):
        return data
    if lone_cr:
        return _EOL.sub(b"\r\n", data)
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_wire(data: bytes) -> bytes:
    """The bytes an SMTP or HTTP transport sends: CRLF line ends only, ending in CRLF."""
    data = to_crlf(data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def has_long_line(data: bytes, start: int = 0, end: int | None = None, *,
                  limit: int = MAX_LINE) -> bool:
    """Whether a line of ``data[start:end]`` is longer than ``limit`` octets.

    Lines end in LF; CRs before it are not counted. Lines of one length (base64) are
    settled by one strided slice: every second-line-length-th byte an LF. Otherwise each
    step looks ``limit + 1`` bytes ahead for the last LF there (``rfind``, in C), a few
    thousand steps per 10 MB; a long candidate is measured exactly, once.
    """
    stop = len(data) if end is None else end
    pos = start
    if stop - pos > limit:
        # the first line is short (else no LF within reach); the lines after it are
        # measured by the second one's length, as a block cut mid-line starts mid-line
        first = data.find(b"\n", pos, pos + limit + 1)
        second = data.find(b"\n", first + 1, first + limit + 2) if first >= 0 else -1
        step = second - first
        if second >= 0 and step >= _MIN_STRIDE:
            marks = data[second:stop:step]
            regular = len(marks) - len(marks.lstrip(b"\n"))
            pos = second + (regular - 1) * step + 1
    while stop - pos > limit:
        eol = data.rfind(b"\n", pos, pos + limit + 1)
        if eol >= 0:
            pos = eol + 1
            continue
        eol = data.find(b"\n", pos, stop)
        line_end = stop if eol < 0 else eol
        if len(data[pos:line_end].rstrip(b"\r")) > limit:
            return True
        pos = line_end + 1
    return False


def _load_pybase64() -> ModuleType | None:
    try:
        return importlib.import_module("pybase64")
    except ImportError:  # the stdlib does the same work, 2-4x slower
        return None


_pybase64 = _load_pybase64()

#: Which implementation encodes and decodes base64 in this process.
B64_BACKEND = "binascii" if _pybase64 is None else "pybase64"

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_ALPHABET = bytes(sorted(set(range(256)) - set(_ALPHABET)))
_WHITESPACE = b" \t\r\n\x0b\x0c"
#: Raw bytes per encoded block: 57-byte lines, so every block but the last ends a line;
#: small enough to stay in the CPU's cache between the encoding and the CRLF pass (a
#: block of 57 * 16384 bytes ran 3x slower).
_BLOCK = 57 * 4096


def _encode_lines(data: bytes | memoryview) -> bytes:
    """76-column base64 lines, each ended by LF."""
    if _pybase64 is not None:
        encoded: bytes = _pybase64.encodebytes(data)
        return encoded
    return _stdlib_lines(data)


def b64_lines(data: bytes | memoryview) -> bytes:
    """Base64 in 76-column lines, each ended by LF (PEM, RFC 7468)."""
    return _encode_lines(data)


def _stdlib_lines(data: bytes | memoryview) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    lines.append(b"")
    return b"\n".join(lines)


def b64_encode_blocks(data: bytes | memoryview) -> list[bytes]:
    """Base64 in 76-column CRLF lines, as a few large blocks to join once with the rest of a
    message (no second copy of a large body)."""
    view = memoryview(data)
    return [
        _encode_lines(view[start : start + _BLOCK]).replace(b"\n", b"\r\n")
        for start in range(0, len(view), _BLOCK)
    ]


def b64_encode(data: bytes | memoryview) -> bytes:
    """Base64 in 76-column lines, each ended by CRLF (empty input: empty output)."""
    blocks = b64_encode_blocks(data)
    return blocks[0] if len(blocks) == 1 else b"".join(blocks)


def b64_size(size: int) -> int:
    """How many bytes :func:`b64_encode` writes for ``size`` bytes (76-column CRLF lines)."""
    lines, rest = divmod(size, 57)
    return lines * 78 + ((rest + 2) // 3 * 4 + 2 if rest else 0)


class Writable(Protocol):
    """Where encoded bytes go: a binary file, ``io.BytesIO``..."""

    def write(self, data: bytes, /) -> int: ...


def b64_write(out: Writable, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
    """Write the base64 of ``chunks`` joined, as :func:`b64_encode` would, to ``out``.

    The chunks are encoded as they come, in blocks of whole lines, so nothing joins them:
    with a lazy iterable (ciphertext made while it is written) or ``io.BytesIO`` as
    ``out``, the encoded text is the only copy of the data held at the end.
    """
    carry = b""
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        if carry:
            take = 57 - len(carry)
            carry += view[:take].tobytes()
            view = view[take:]
            if len(carry) < 57:
                continue
            out.write(_encode_lines(carry).replace(b"\n", b"\r\n"))
            carry = b""
        whole = len(view) - len(view) % 57
        for begin in range(0, whole, _BLOCK):
            block = view[begin : min(begin + _BLOCK, whole)]
            out.write(_encode_lines(block).replace(b"\n", b"\r\n"))
        carry = view[whole:].tobytes()
    if carry:
        out.write(_encode_lines(carry).replace(b"\n", b"\r\n"))


def _strict_decoder() -> tuple[Callable[[bytes | memoryview], bytes], bool]:
    """The decoder of whole 4-character groups, and whether it refuses stray characters
    itself (else :func:`b64_decode` checks them first)."""
    if _pybase64 is not None:
        fast = _pybase64
        return (lambda data: fast.b64decode(data, validate=True)), True
    if sys.version_info >= (3, 11):
        return (lambda data: binascii.a2b_base64(data, strict_mode=True)), True
    return binascii.a2b_base64, False


_decode_clean, _VALIDATES = _strict_decoder()


def is_base64_text(data: bytes) -> bool:
    """Whether ``data`` is nothing but base64 and white space (a body sent without its
    Content-Transfer-Encoding header, as old clients did)."""
    return bool(data.strip()) and not data.translate(None, _ALPHABET + _WHITESPACE + b"=")


#: Base64 text decoded per step: bounds the temporaries of a large body.
_DECODE_BLOCK = 1 << 16


def b64_decode(data: bytes | bytearray | memoryview, *, lenient: bool = False,
               what: str = "base64 text") -> bytes:
    """Decode base64 from mail.

    Line breaks and blanks are skipped and missing padding is tolerated. Any other stray
    byte is a :class:`ParseError` naming ``what``, unless ``lenient`` (as mail clients
    read a body: stray bytes skipped, a dangling last character dropped).

    A large text (a view into a message is fine) is cleaned and decoded a block at a time
    into one output buffer, so the decoded bytes are the only large allocation.
    """
    view = memoryview(data).cast("B")
    # Sized once for the most it can hold (line ends make it smaller): a buffer grown by
    # many writes leaves the C heap holding its earlier copies.
    out = presized(len(view) * 3 // 4)
    carry = b""
    padded = False  # strict: a "=" was seen, so only "=" may follow
    for begin in range(0, len(view), _DECODE_BLOCK):
        text = view[begin : begin + _DECODE_BLOCK].tobytes()
        if lenient:
            text = text.translate(None, _NOT_ALPHABET)
        else:
            text = text.translate(None, _WHITESPACE)
            pad = 0 if padded else text.find(b"=")
            if pad >= 0:
                padded = True
                if text[pad:].strip(b"="):
                    raise ParseError(f"malformed base64 in the {what}")
                text = text[:pad]
            if not _VALIDATES and text.translate(None, _ALPHABET):
                raise ParseError(f"malformed base64 in the {what}")
        text = carry + text
        whole = len(text) - len(text) % 4
        if whole:
            out.write(_decode(memoryview(text)[:whole], what))
        carry = text[whole:]
    if len(carry) == 1:
        if not lenient:
            raise ParseError(f"malformed base64 in the {what}")
        carry = b""
    if carry:
        out.write(_decode(carry + b"=" * (-len(carry) % 4), what))
    out.truncate()
    return out.getvalue()


def _decode(text: bytes | memoryview, what: str) -> bytes:
    try:
        return _decode_clean(text)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(f"malformed base64 in the {what}") from exc
