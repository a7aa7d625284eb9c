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
from collections.abc import Callable
from types import ModuleType

from ..errors import ParseError

__all__ = [
    "B64_BACKEND",
    "FIELD_NAME",
    "b64_decode",
    "b64_encode",
    "b64_encode_blocks",
    "header_block",
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


def to_crlf(data: bytes, *, lone_cr: bool = True) -> bytes:
    """Every line end as CRLF, in one pass when any needs changing.

    ``lone_cr=True`` reads a lone CR as a line end too, as the ``email`` package does;
    ``False`` keeps it as a byte of the text (signed content whose signer hashed it so).
    """
    lf = data.count(b"\n")
    crlf = data.count(b"\r\n")
    if lf == crlf and (not lone_cr or data.count(b"\r") == crlf):
        return data
    if lone_cr:
        return _EOL.sub(b"\r\n", data)
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_wire(data: bytes) -> bytes:
    """The bytes an SMTP or HTTP transport sends: CRLF line ends only, ending in CRLF."""
    data = to_crlf(data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"



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
#: Raw bytes per encoded block: 57-byte lines, so every block but the last ends a line.
_BLOCK = 57 * 16384


def _encode_lines(data: bytes | memoryview) -> bytes:
    """76-column base64 lines, each ended by LF."""
    if _pybase64 is not None:
        encoded: bytes = _pybase64.encodebytes(data)
        return encoded
    return _stdlib_lines(data)


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


def _strict_decoder() -> Callable[[bytes], bytes]:
    if _pybase64 is not None:
        fast = _pybase64
        return lambda data: fast.b64decode(data, validate=True)
    return binascii.a2b_base64  # its input is checked clean by then


_decode_clean = _strict_decoder()


def is_base64_text(data: bytes) -> bool:
    """Whether ``data`` is nothing but base64 and white space (a body sent without its
    Content-Transfer-Encoding header, as old clients did)."""
    return bool(data.strip()) and not data.translate(None, _ALPHABET + _WHITESPACE + b"=")


def b64_decode(data: bytes, *, lenient: bool = False, what: str = "base64 text") -> bytes:
    """Decode base64 from mail.

    Line breaks and blanks are skipped and missing padding is tolerated. Any other stray
    byte is a :class:`ParseError` naming ``what``, unless ``lenient`` (as mail clients
    read a body: stray bytes skipped, a dangling last character dropped).
    """
    if lenient:
        cleaned = data.translate(None, _NOT_ALPHABET)
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
    else:
        cleaned = data.translate(None, _WHITESPACE).rstrip(b"=")
        if len(cleaned) % 4 == 1 or cleaned.translate(None, _ALPHABET):
            raise ParseError(f"malformed base64 in the {what}")
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return _decode_clean(cleaned)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(f"malformed base64 in the {what}") from exc
