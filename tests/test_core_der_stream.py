"""core.der.StreamReader: BER framing from a stream, bounded, every failure a ParseError."""

from __future__ import annotations

import io

import pytest

from smime.core.der import (
    MAX_DEPTH,
    OCTET_STRING,
    SEQUENCE,
    UNIVERSAL,
    StreamReader,
    header,
    indefinite,
)
from smime.errors import ParseError


def _reader(data: bytes, block: int = 3) -> StreamReader:
    return StreamReader(io.BytesIO(data).read, "test data", block=block)


def _segments(*parts: bytes) -> bytes:
    return b"".join(header(UNIVERSAL, False, OCTET_STRING, len(p)) + p for p in parts)


@pytest.mark.parametrize("block", [1, 2, 7, 1 << 20])
def test_octet_blocks_in_every_form(block: int) -> None:
    primitive = header(UNIVERSAL, False, OCTET_STRING, 5) + b"hello"
    segmented = indefinite(UNIVERSAL, OCTET_STRING) + _segments(b"he", b"ll", b"o") + b"\0\0"
    contents = (_segments(b"he") + indefinite(UNIVERSAL, OCTET_STRING) + _segments(b"ll")
                + b"\0\0" + _segments(b"o"))
    nested = header(UNIVERSAL, True, OCTET_STRING, len(contents)) + contents
    for data in (primitive, segmented, nested):
        reader = _reader(data + b"\n", block)
        head = reader.head()
        assert b"".join(reader.octet_blocks(head)) == b"hello"
        assert reader.at_end()


def test_element_reads_indefinite_lengths_whole() -> None:
    data = indefinite(UNIVERSAL, SEQUENCE) + _segments(b"a") + indefinite(UNIVERSAL, SEQUENCE) \
        + b"\0\0\0\0"
    reader = _reader(data + b"rest")
    assert reader.element(reader.head(), 100) == data
    assert reader.peek(4) == b"rest"


@pytest.mark.parametrize("data", [
    b"\x30\x85\x01\x00\x00\x00\x00",  # claims 4 GB
    indefinite(UNIVERSAL, SEQUENCE) + _segments(b"x" * 50) + b"\0\0",  # beyond max_size
])
def test_element_is_bounded(data: bytes) -> None:
    reader = _reader(data)
    with pytest.raises(ParseError):
        reader.element(reader.head(), 40)


def test_nesting_is_bounded() -> None:
    deep = indefinite(UNIVERSAL, OCTET_STRING) * (MAX_DEPTH + 2)
    reader = _reader(deep)
    with pytest.raises(ParseError, match="deeper"):
        b"".join(reader.octet_blocks(reader.head()))
    reader = _reader(indefinite(UNIVERSAL, SEQUENCE) * (MAX_DEPTH + 2))
    with pytest.raises(ParseError, match="deeper"):
        reader.element(reader.head(), 1 << 20)


@pytest.mark.parametrize("data", [
    indefinite(UNIVERSAL, OCTET_STRING) + _segments(b"abc")[:-1],  # truncated
    indefinite(UNIVERSAL, OCTET_STRING) + _segments(b"abc"),  # no end-of-contents
    indefinite(UNIVERSAL, OCTET_STRING) + b"\x02\x01\x00\0\0",  # an INTEGER segment
    header(UNIVERSAL, True, OCTET_STRING, 3) + _segments(b"abcd"),  # overruns its parent
    b"\x04\x80",  # indefinite length on a primitive
])
def test_malformed_strings_are_parse_errors(data: bytes) -> None:
    reader = _reader(data)
    with pytest.raises(ParseError):
        b"".join(reader.octet_blocks(reader.head()))
