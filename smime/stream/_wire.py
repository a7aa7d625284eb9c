"""The mail wire form in blocks: header blocks, CRLF line ends and base64, each through
the one rule of :mod:`smime.core.wire` applied to large blocks (never line by line)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..core.wire import b64_decode, b64_encode_blocks, b64_lines, to_crlf
from ..errors import ParseError

__all__ = [
    "MAX_HEAD",
    "Base64Writer",
    "b64_decoded",
    "crlf_blocks",
    "split_head",
]

#: A header block larger than this is not mail we stream (the caps of smime.Limits allow
#: 64 KiB a field; real messages have a few KiB of headers).
MAX_HEAD = 4 * 1024 * 1024
_WHITESPACE = b" \t\r\n\x0b\x0c"


def split_head(read: Callable[[int], bytes], first: bytes = b"") -> tuple[bytes, bytes]:
    """(the header block up to and including the empty line, what was read after it).

    An entity without headers (it starts with an empty line) has an empty-line block; a
    message that has no empty line within :data:`MAX_HEAD` is a ParseError.
    """
    data = first
    while True:
        if data.startswith(b"\r\n"):
            return data[:2], data[2:]
        if data.startswith(b"\n"):
            return data[:1], data[1:]
        crlf = data.find(b"\n\r\n")
        lf = data.find(b"\n\n")
        if lf >= 0 and (crlf < 0 or lf < crlf):
            return data[: lf + 2], data[lf + 2 :]
        if crlf >= 0:
            return data[: crlf + 3], data[crlf + 3 :]
        if len(data) > MAX_HEAD:
            raise ParseError(f"not an email message we can stream: no end of the header "
                             f"block within {MAX_HEAD} bytes")
        more = read(1 << 16)
        if not more:
            return data, b""  # headers only: the body is empty
        data += more


def crlf_blocks(blocks: Iterable[bytes], *, lone_cr: bool = True) -> Iterator[bytes]:
    """``blocks`` with every line end made CRLF (:func:`~smime.core.wire.to_crlf`); a CR
    at the end of a block waits for the next, in case an LF begins it."""
    carry = b""
    for block in blocks:
        if carry:
            block = carry + block
            carry = b""
        if block.endswith(b"\r"):
            block, carry = block[:-1], b"\r"
        if block:
            yield to_crlf(block, lone_cr=lone_cr)
    if carry:
        yield to_crlf(carry, lone_cr=lone_cr)


def b64_decoded(blocks: Iterable[bytes], what: str) -> Iterator[bytes]:
    """Strict base64 decoding of text arriving in blocks (line breaks anywhere)."""
    carry = b""
    for block in blocks:
        cleaned = carry + block.translate(None, _WHITESPACE)
        whole = len(cleaned) - len(cleaned) % 4
        if whole and cleaned.endswith(b"=", 0, whole) and whole < len(cleaned):
            raise ParseError(f"malformed base64 in the {what}: data after the padding")
        carry = cleaned[whole:]
        if whole:
            yield b64_decode(cleaned[:whole], what=what)
    if carry:
        yield b64_decode(carry, what=what)


class Base64Writer:
    """Bytes in, base64 in 76-column lines out (CRLF, or LF for PEM), each block encoded
    as it comes by one C call: a partial last line waits (under 57 bytes) to be completed
    by the next block, so no block is joined with others or copied."""

    def __init__(self, write: Callable[[bytes], object], *, crlf: bool = True) -> None:
        self._write = write
        self._crlf = crlf
        self._carry = b""

    def _encode(self, data: bytes | memoryview) -> None:
        if not self._crlf:
            self._write(b64_lines(data))
            return
        for block in b64_encode_blocks(data):
            self._write(block)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self._carry:
            take = 57 - len(self._carry)
            self._carry += view[:take].tobytes()
            view = view[take:]
            if len(self._carry) < 57:
                return
            self._encode(self._carry)
            self._carry = b""
        whole = len(view) - len(view) % 57
        if whole:
            self._encode(view[:whole])
        self._carry = view[whole:].tobytes()

    def close(self) -> None:
        if self._carry:
            self._encode(self._carry)
        self._carry = b""
