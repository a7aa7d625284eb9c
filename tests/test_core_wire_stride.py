"""count_crlf and has_long_line on a block cut from the middle of a body (as smime.stream
reads it): exact, and settled by the strided check rather than a pass per line."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from smime.core import wire

BODY = base64.encodebytes(bytes(range(256)) * 2000).replace(b"\n", b"\r\n")


class Spy(bytes):
    """bytes that record the searches made on them."""

    calls: list[tuple[str, bytes, tuple[int, ...]]]

    def count(self, sub: bytes, *where: int) -> int:  # type: ignore[override]
        self.calls.append(("count", sub, where))
        return super().count(sub, *where)

    def rfind(self, sub: bytes, *where: int) -> int:  # type: ignore[override]
        self.calls.append(("rfind", sub, where))
        return super().rfind(sub, *where)


def spy(data: bytes) -> Spy:
    found = Spy(data)
    found.calls = []
    return found


@settings(max_examples=300)
@given(st.integers(1, 200), st.integers(0, 200), st.binary(max_size=3),
       st.integers(0, 1 << 16))
def test_mid_line_blocks_are_exact(cut: int, end_cut: int, edit: bytes, at: int) -> None:
    data = BODY[cut : len(BODY) - end_cut]
    at %= len(data)
    data = data[:at] + edit + data[at:]
    assert wire.count_crlf(data, data.count(b"\r"), data.count(b"\n")) == data.count(b"\r\n")
    reference = any(len(line.rstrip(b"\r")) > 998 for line in data.split(b"\n"))
    assert wire.has_long_line(data) == reference


def test_a_mid_line_block_takes_the_strided_path() -> None:
    data = spy(BODY[40 : 1 << 20])
    assert wire.count_crlf(data, data.count(b"\r"), data.count(b"\n")) == BODY[
        40 : 1 << 20].count(b"\r\n")
    assert ("count", b"\r\n", ()) not in data.calls  # no pass over the whole block
    data = spy(BODY[40 : 1 << 20])
    assert not wire.has_long_line(data)
    assert len([c for c in data.calls if c[0] == "rfind"]) < 5  # not one per 999 bytes
