"""DER framing around one large OCTET STRING, so that the ciphertext is copied once.

asn1crypto copies a value's contents at every nesting level when it parses or dumps: an
EnvelopedData of 100 MB costs five copies either way. Here asn1crypto still encodes and
parses every structure except the bulk octets; this module only reads and writes the
identifier and length octets (X.690 8.1.2-8.1.3) of the few elements that enclose them,
over a memoryview, with BER's indefinite lengths and constructed strings on the read side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import ParseError
from ._asn1 import MAX_DEPTH

__all__ = [
    "CONTEXT",
    "INTEGER",
    "OCTET_STRING",
    "SEQUENCE",
    "SET",
    "UNIVERSAL",
    "Chunk",
    "Tlv",
    "children",
    "header",
    "octets",
    "raw",
    "read",
    "wrap",
]

UNIVERSAL, CONTEXT = 0, 2
INTEGER, OCTET_STRING, OID, SEQUENCE, SET = 2, 4, 6, 16, 17

Chunk: TypeAlias = bytes | memoryview


@dataclass(frozen=True)
class Tlv:
    """Where one element sits in the buffer."""

    tag_class: int
    constructed: bool
    tag: int
    start: int  # first identifier octet
    body: int  # first contents octet
    end: int  # after the contents (before the end-of-contents octets of a BER element)
    next: int  # after the whole element

    def is_(self, tag_class: int, tag: int) -> bool:
        return self.tag_class == tag_class and self.tag == tag


def _fail(what: str, detail: str) -> ParseError:
    return ParseError(f"malformed {what}: {detail}")


def read(buf: memoryview, pos: int, limit: int, what: str, depth: int = 0) -> Tlv:
    """The element starting at ``pos``, which must end by ``limit``."""
    if depth > MAX_DEPTH:
        raise _fail(what, f"nested deeper than {MAX_DEPTH} levels")
    start = pos
    if pos + 2 > limit:
        raise _fail(what, f"truncated at byte {pos}")
    first = buf[pos]
    pos += 1
    tag = first & 0x1F
    if tag == 0x1F:
        tag = 0
        for _ in range(4):
            if pos >= limit:
                raise _fail(what, f"truncated tag at byte {start}")
            octet = buf[pos]
            pos += 1
            tag = (tag << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
        else:
            raise _fail(what, f"tag number too large at byte {start}")
    if pos >= limit:
        raise _fail(what, f"truncated at byte {start}")
    constructed = bool(first & 0x20)
    length_octet = buf[pos]
    pos += 1
    if length_octet == 0x80:
        if not constructed:
            raise _fail(what, f"indefinite length on a primitive element at byte {start}")
        body = pos
        while True:
            if pos + 2 > limit:
                raise _fail(what, f"missing end-of-contents for the element at byte {start}")
            if buf[pos] == 0 and buf[pos + 1] == 0:
                return Tlv(first >> 6, True, tag, start, body, pos, pos + 2)
            pos = read(buf, pos, limit, what, depth + 1).next
    if length_octet & 0x80:
        count = length_octet & 0x7F
        if count > 8 or pos + count > limit:
            raise _fail(what, f"bad length at byte {start}")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    else:
        length = length_octet
    if length > limit - pos:
        raise _fail(
            what, f"element at byte {start} claims {length} bytes, only {limit - pos} remain"
        )
    return Tlv(first >> 6, constructed, tag, start, pos, pos + length, pos + length)


def children(buf: memoryview, parent: Tlv, what: str) -> list[Tlv]:
    """The elements inside a constructed element."""
    if not parent.constructed:
        raise _fail(what, f"expected a constructed element at byte {parent.start}")
    found: list[Tlv] = []
    pos = parent.body
    while pos < parent.end:
        child = read(buf, pos, parent.end, what)
        found.append(child)
        pos = child.next
    return found


def octets(buf: memoryview, tlv: Tlv, what: str, depth: int = 0) -> Chunk:
    """An OCTET STRING's value: a view for DER, the joined segments for BER's constructed form."""
    if not tlv.constructed:
        return buf[tlv.body : tlv.end]
    if depth > MAX_DEPTH:
        raise _fail(what, f"nested deeper than {MAX_DEPTH} levels")
    parts = []
    for child in children(buf, tlv, what):
        if not child.is_(UNIVERSAL, OCTET_STRING):
            raise _fail(what, f"a constructed OCTET STRING holds a non-string at {child.start}")
        parts.append(octets(buf, child, what, depth + 1))
    return b"".join(parts)


def raw(buf: memoryview, tlv: Tlv) -> bytes:
    """The element's encoding, for asn1crypto to parse."""
    return bytes(buf[tlv.start : tlv.next])


def header(tag_class: int, constructed: bool, tag: int, length: int) -> bytes:
    """Identifier and definite-length octets (low tag numbers only: all CMS needs)."""
    if not 0 <= tag < 31:
        raise ValueError(f"tag {tag} needs the high-tag-number form")
    identifier = (tag_class << 6) | (0x20 if constructed else 0) | tag
    if length < 0x80:
        return bytes((identifier, length))
    size = (length.bit_length() + 7) // 8
    return bytes((identifier, 0x80 | size)) + length.to_bytes(size, "big")


def wrap(
    tag_class: int, tag: int, parts: Sequence[Chunk], *, constructed: bool = True
) -> list[Chunk]:
    """``parts`` (encoded children, or raw octets for a primitive) framed as one element."""
    length = sum(len(p) for p in parts)
    return [header(tag_class, constructed, tag, length), *parts]
