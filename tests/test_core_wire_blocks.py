"""Block-wise base64 and the line-length scan give what the one-shot forms give."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smime.core import der, wire
from smime.errors import ParseError


@given(st.lists(st.binary(max_size=200), max_size=8))
def test_written_in_chunks_equals_encoded_whole(chunks: list[bytes]) -> None:
    out = der.presized(0)
    wire.b64_write(out, chunks)
    joined = b"".join(chunks)
    assert out.getvalue() == wire.b64_encode(joined)
    assert wire.b64_size(len(joined)) == len(out.getvalue())


@settings(max_examples=200)
@given(st.binary(max_size=400), st.integers(4, 40), st.booleans())
def test_decoded_in_blocks_equals_decoded_whole(data: bytes, block: int, lenient: bool) -> None:
    encoded = wire.b64_encode(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "_DECODE_BLOCK", block)
        assert wire.b64_decode(memoryview(encoded), lenient=lenient) == data


@pytest.mark.parametrize("text", [b"QUJD\r\n*RA==", b"QUJD\r\nRA==\r\nQQ==", b"QUJD\r\nR\r\n"])
def test_stray_bytes_in_a_later_block_are_still_refused(
    text: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "_DECODE_BLOCK", 5)
    with pytest.raises(ParseError, match="malformed base64"):
        wire.b64_decode(text)


def _reference(data: bytes, limit: int) -> bool:
    return any(len(line.rstrip(b"\r")) > limit for line in data.split(b"\n"))


@settings(max_examples=500)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b"\r"])),
             max_size=30),
    st.integers(0, 60),
    st.integers(0, 20),
)
def test_long_line_scan_matches_splitting(
    lines: list[tuple[int, bytes]], limit: int, repeat: int
) -> None:
    data = (b"y" * 20 + b"\r\n") * repeat + b"".join(b"x" * n + end for n, end in lines)
    assert wire.has_long_line(data, limit=limit) == _reference(data, limit)
    if len(data) > 3:
        assert wire.has_long_line(data, 2, len(data) - 1, limit=limit) == _reference(
            data[2:-1], limit
        )


def test_a_long_line_after_many_regular_ones_is_found() -> None:
    body = base64.encodebytes(bytes(57 * 2000)).replace(b"\n", b"\r\n")
    assert not wire.has_long_line(body)
    assert wire.has_long_line(body + b"A" * 999 + b"\r\n")
    assert not wire.has_long_line(body + b"A" * 998 + b"\r\r\r\n")


@settings(max_examples=500)
@given(
    st.binary(max_size=30),
    st.integers(0, 30),
    st.integers(0, 40),
    st.lists(st.tuples(st.integers(0, 2000), st.sampled_from([b"\r", b"\n", b"\r\n", b"x"])),
             max_size=3),
    st.binary(max_size=20),
)
def test_crlf_count_matches_the_two_byte_count(
    head: bytes, width: int, lines: int, edits: list[tuple[int, bytes]], tail: bytes
) -> None:
    data = head + b"\r\n\r\n" + (b"A" * width + b"\r\n") * lines + tail
    for at, byte in edits:
        at %= len(data) + 1
        data = data[:at] + byte + data[at:]
    expected = data.count(b"\r\n")
    assert wire.count_crlf(data, data.count(b"\r"), data.count(b"\n")) == expected
