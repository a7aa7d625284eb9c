"""``children`` reads the common elements inline: the same elements, and the same errors,
as reading each one with ``read``."""

from __future__ import annotations

import random

from smime.core.der import Tlv, children, read
from smime.errors import ParseError


def _one_by_one(buf: bytes, parent: Tlv) -> list[Tlv] | str:
    found, pos = [], parent.body
    try:
        while pos < parent.end:
            child = read(buf, pos, parent.end, "x")
            found.append(child)
            pos = child.next
    except ParseError as exc:
        return str(exc)
    return found


def _inline(buf: bytes, parent: Tlv) -> list[Tlv] | str:
    try:
        return children(buf, parent, "x")
    except ParseError as exc:
        return str(exc)


def _element(rng: random.Random, depth: int = 0) -> bytes:
    tag = rng.choice([0x02, 0x04, 0x06, 0x30, 0x31, 0xA0, 0x81, 0x1F, 0x3F])
    if tag & 0x20 and depth < 3:
        body = b"".join(_element(rng, depth + 1) for _ in range(rng.randrange(4)))
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 5, 130, 300])))
    high = bytes([0x81, 0x05]) if tag & 0x1F == 0x1F else b""
    size = len(body)
    form = rng.randrange(4)
    if form == 0 and size < 0x80:
        length = bytes([size])
    elif form == 1 and size < 0x100:
        length = bytes([0x81, size])
    elif form == 2:
        length = bytes([0x82]) + size.to_bytes(2, "big")
    elif tag & 0x20:
        return bytes([tag]) + high + b"\x80" + body + b"\x00\x00"
    else:
        length = bytes([0x83]) + size.to_bytes(3, "big")
    return bytes([tag]) + high + length + body


def test_children_agrees_with_read_on_good_and_broken_framing() -> None:
    rng = random.Random(690)
    compared = broken = 0
    for _ in range(3000):
        inner = b"".join(_element(rng) for _ in range(rng.randrange(1, 5)))
        if rng.random() < 0.5 and inner:  # break something: a byte changed or dropped
            at = rng.randrange(len(inner))
            inner = inner[:at] + (bytes([rng.randrange(256)]) if rng.random() < 0.5 else b"") \
                + inner[at + 1 :]
        buf = b"\x30\x84" + len(inner).to_bytes(4, "big") + inner
        parent = read(buf, 0, len(buf), "x")
        expected = _one_by_one(buf, parent)
        assert _inline(buf, parent) == expected, buf.hex()
        compared += 1
        broken += isinstance(expected, str)
    assert compared == 3000 and 300 < broken < 2700
