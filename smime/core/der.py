"""The one reader and writer of DER/BER framing (X.690 8.1.2-8.1.5): tags and lengths only.

Everything else is asn1crypto's job: its schema classes encode and parse every structure.
This module exists for three things asn1crypto does slowly or not at all:

- checking a hostile input's framing before asn1crypto's recursive parser sees it
  (:func:`check_der`: lengths within the buffer, nesting bounded, no trailing bytes);
- finding the one large OCTET STRING of an EnvelopedData without copying it
  (:func:`read`, :func:`children`, :func:`octets` over a memoryview);
- framing pieces asn1crypto encoded once, per message (:func:`encode`, :func:`wrap`).

Reading is iterative (no recursion on hostile depth), bounded by :data:`MAX_DEPTH` levels
of nesting and by the buffer, and every failure is a :class:`~smime.errors.ParseError`
with a sentence. BER is read as BER: indefinite lengths on constructed elements,
constructed strings and long-form lengths with leading zero octets are accepted, because
real mail uses them; what no encoding allows is refused.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from .._cache import LRUCache
from ..errors import ParseError

__all__ = [
    "CONTEXT",
    "END_OF_CONTENTS",
    "INTEGER",
    "MAX_DEPTH",
    "MAX_LENGTH_OCTETS",
    "OCTET_STRING",
    "SEQUENCE",
    "SET",
    "UNIVERSAL",
    "Chunk",
    "Head",
    "SizedChunks",
    "StreamReader",
    "Tlv",
    "check_der",
    "children",
    "collect",
    "encode",
    "header",
    "indefinite",
    "octets",
    "presized",
    "public_key_bits",
    "raw",
    "read",
    "wrap",
]

UNIVERSAL, CONTEXT = 0, 2
INTEGER, OCTET_STRING, SEQUENCE, SET = 2, 4, 16, 17

#: Deeper ASN.1 nesting than any real message has; bounds the work on hostile input.
MAX_DEPTH = 64

#: Length octets we read: eight give 2**64 - 1, beyond any buffer (X.690 allows 126).
MAX_LENGTH_OCTETS = 8

#: Tag numbers we read fit in four base-128 octets (2**28); CMS uses numbers below 31.
_MAX_TAG_OCTETS = 4

Chunk: TypeAlias = bytes | memoryview
Buffer: TypeAlias = bytes | bytearray | memoryview


class Tlv(NamedTuple):
    """Where one element sits in the buffer (a tuple: verifying reads a few dozen a
    message, and a tuple is made in a quarter of a frozen dataclass's time)."""

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


def _head(
    buf: Buffer, pos: int, limit: int, what: str, *, bounded: bool = True
) -> tuple[int, int, int, int | None]:
    """(first identifier octet, tag number, first contents octet, length or None for an
    indefinite length) of the element at ``pos``, which must end by ``limit`` (unless not
    ``bounded``: a stream's buffer holds only the start of the element)."""
    start = pos
    if pos + 2 > limit:
        raise _fail(what, f"truncated at byte {pos}")
    first = buf[pos]
    pos += 1
    tag = first & 0x1F
    if tag == 0x1F:  # high tag number form: base 128, high bit set on all but the last
        tag = 0
        for _ in range(_MAX_TAG_OCTETS):
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
    length_octet = buf[pos]
    pos += 1
    if length_octet == 0x80:
        if not first & 0x20:
            raise _fail(what, f"indefinite length on a primitive element at byte {start}")
        return first, tag, pos, None
    if length_octet & 0x80:
        count = length_octet & 0x7F
        if count > MAX_LENGTH_OCTETS:
            raise _fail(what, f"a length of {count} octets at byte {start} (at most "
                              f"{MAX_LENGTH_OCTETS})")
        if pos + count > limit:
            raise _fail(what, f"truncated length at byte {start}")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    else:
        length = length_octet
    if bounded and length > limit - pos:
        raise _fail(
            what, f"element at byte {start} claims {length} bytes, only {limit - pos} remain"
        )
    return first, tag, pos, length


def _at_end_of_contents(buf: Buffer, pos: int, limit: int) -> bool:
    return pos + 2 <= limit and buf[pos] == 0 and buf[pos + 1] == 0


def read(buf: Buffer, pos: int, limit: int, what: str) -> Tlv:
    """The element starting at ``pos``, which must end by ``limit``.

    A definite length is taken as it is; an indefinite one is followed, level by level,
    to its end-of-contents octets (at most :data:`MAX_DEPTH` levels open).
    """
    first, tag, body, length = _head(buf, pos, limit, what)
    if length is not None:
        end = body + length
        return Tlv(first >> 6, bool(first & 0x20), tag, pos, body, end, end)
    cursor, open_levels = body, 1
    while True:
        if cursor + 2 > limit:
            raise _fail(what, f"missing end-of-contents for the element at byte {pos}")
        if _at_end_of_contents(buf, cursor, limit):
            open_levels -= 1
            cursor += 2
            if not open_levels:
                return Tlv(first >> 6, True, tag, pos, body, cursor - 2, cursor)
            continue
        _first, _tag, inner, inner_length = _head(buf, cursor, limit, what)
        if inner_length is None:
            open_levels += 1
            if open_levels > MAX_DEPTH:
                raise _fail(what, f"nested deeper than {MAX_DEPTH} levels")
            cursor = inner
        else:
            cursor = inner + inner_length


def children(buf: Buffer, parent: Tlv, what: str) -> list[Tlv]:
    """The elements inside a constructed element."""
    if not parent.constructed:
        raise _fail(what, f"expected a constructed element at byte {parent.start}")
    found: list[Tlv] = []
    pos, end = parent.body, parent.end
    while pos < end:
        # The common case inline (low tag number, definite length of at most two octets,
        # within the parent), as check_der does; anything else, and every error, is read's.
        if pos + 2 <= end and buf[pos] & 0x1F != 0x1F:
            octet = buf[pos + 1]
            if octet < 0x80:
                body, length = pos + 2, octet
            elif octet == 0x81 and pos + 3 <= end:
                body, length = pos + 3, buf[pos + 2]
            elif octet == 0x82 and pos + 4 <= end:
                body, length = pos + 4, buf[pos + 2] << 8 | buf[pos + 3]
            else:
                body, length = end, 1  # not inline: left to read
            if body + length <= end:
                first, after = buf[pos], body + length
                found.append(Tlv(first >> 6, bool(first & 0x20), first & 0x1F, pos, body,
                                 after, after))
                pos = after
                continue
        child = read(buf, pos, end, what)
        found.append(child)
        pos = child.next
    return found


def octets(buf: memoryview, tlv: Tlv, what: str) -> Chunk:
    """An OCTET STRING's value: a view for DER, the joined segments for BER's constructed
    form (segments may be constructed in turn, to :data:`MAX_DEPTH` levels)."""
    if not tlv.constructed:
        return buf[tlv.body : tlv.end]
    parts: list[Chunk] = []
    pending = [(tlv, 0)]
    while pending:
        node, depth = pending.pop()
        if not node.constructed:
            parts.append(buf[node.body : node.end])
            continue
        if depth >= MAX_DEPTH:
            raise _fail(what, f"nested deeper than {MAX_DEPTH} levels")
        segments = children(buf, node, what)
        for segment in segments:
            if not segment.is_(UNIVERSAL, OCTET_STRING):
                raise _fail(what, f"a constructed OCTET STRING holds a non-string at "
                                  f"{segment.start}")
        pending.extend((segment, depth + 1) for segment in reversed(segments))
    return b"".join(parts)


def public_key_bits(spki: bytes) -> bytes:
    """The key octets of a SubjectPublicKeyInfo's BIT STRING, whatever its algorithm.

    asn1crypto's own schema looks the algorithm up in a table (and pyhanko-certvalidator,
    once imported, patches it to accept unknown ones): reading the DER here gives the same
    octets either way, before or after pyhanko loads.
    """
    what = "public key info"
    parts = children(spki, read(spki, 0, len(spki), what), what)
    if len(parts) != 2 or parts[1].constructed or not parts[1].is_(UNIVERSAL, 3):
        raise _fail(what, "expected an algorithm and a BIT STRING")
    return bytes(spki[parts[1].body + 1 : parts[1].end])


def raw(buf: Buffer, tlv: Tlv) -> bytes:
    """The element's encoding, for asn1crypto to parse."""
    return bytes(buf[tlv.start : tlv.next])


#: Constructed elements inside a structure that :func:`check_der` found whole, each with the
#: deepest level it was found at: the certificates of a signer recur in every message it
#: sends, and their many small elements are most of the walk. An element's framing depends
#: on its bytes alone, so one found whole at a level is whole at any level not deeper.
_CHECKED: LRUCache[int] = LRUCache("der.checked_elements", 1024)
#: The sizes of element kept there: certificates, and a signer's SMIMECapabilities and
#: signer identifier (dozens of small elements, the same in every message); smaller ones
#: are cheap to walk.
_CHECKED_SIZES = range(128, 16385)


def check_der(data: Buffer, what: str = "CMS structure") -> None:
    """Refuse ``data`` unless it is one element whose every constructed element splits
    into whole elements: lengths within their parents, end-of-contents where an indefinite
    length needs one, at most :data:`MAX_DEPTH` levels, no trailing bytes.

    Bytes after a top-level element of indefinite length are let be, as asn1crypto lets
    them be: BER files in the wild end in a newline (asn1crypto's own test fixture does),
    and we always have. Cheap (primitive contents are skipped, not read) and iterative,
    so that asn1crypto's recursive parser only ever sees framing that holds.
    """
    if not data:
        raise _fail(what, "empty input")
    size = len(data)
    open_: list[tuple[int, bool]] = []  # (where the children must end, indefinite length)
    pos = 0
    indefinite_top = False
    walked: list[tuple[bytes, int]] = []  # elements of _CHECKED_SIZES walked, and their level
    while True:
        if open_:
            bound, indefinite = open_[-1]
            if indefinite:
                if _at_end_of_contents(data, pos, bound):
                    open_.pop()
                    pos += 2
                    continue
                if pos + 2 > bound:
                    raise _fail(what, f"missing end-of-contents before byte {bound}")
            elif pos == bound:
                open_.pop()
                continue
        elif pos:
            break
        limit = open_[-1][0] if open_ else size
        # The common case inline (low tag number, definite length of at most two octets);
        # anything else, and every error, is _head's.
        length: int | None
        first = data[pos] if pos + 2 <= limit else 0x1F
        octet = data[pos + 1] if first & 0x1F != 0x1F else 0x80
        if octet < 0x80 and octet <= limit - pos - 2:
            body, length = pos + 2, octet
        elif octet == 0x81 and pos + 3 <= limit and data[pos + 2] <= limit - pos - 3:
            body, length = pos + 3, data[pos + 2]
        elif (octet == 0x82 and pos + 4 <= limit
              and (data[pos + 2] << 8 | data[pos + 3]) <= limit - pos - 4):
            body, length = pos + 4, data[pos + 2] << 8 | data[pos + 3]
        else:
            first, _tag, body, length = _head(data, pos, limit, what)
        if not open_:
            indefinite_top = length is None
        if not first & 0x20:
            pos = body + (length or 0)
            continue
        if len(open_) >= MAX_DEPTH:
            raise _fail(what, f"nested deeper than {MAX_DEPTH} levels")
        if open_ and length is not None and length in _CHECKED_SIZES:
            element = bytes(data[pos : body + length])
            seen = _CHECKED.get(element)
            if seen is not None and len(open_) <= seen:
                pos = body + length
                continue
            walked.append((element, len(open_)))
        open_.append((limit, True) if length is None else (body + length, False))
        pos = body
    if pos < size and not indefinite_top:
        raise _fail(what, f"{size - pos} bytes of trailing data")
    for element, level in walked:
        _CHECKED.update(element, _Deepest(level))


@dataclass(frozen=True)
class _Deepest:
    """The deeper of a level and the one already kept (for :meth:`LRUCache.update`)."""

    level: int

    def __call__(self, seen: int | None) -> int:
        return self.level if seen is None else max(seen, self.level)


# ---------------------------------------------------------------------------- writing


def header(tag_class: int, constructed: bool, tag: int, length: int) -> bytes:
    """Identifier and definite-length octets, in DER's minimal form."""
    identifier = (tag_class << 6) | (0x20 if constructed else 0)
    if tag < 0x1F:
        octets_ = bytes((identifier | tag,))
    else:
        digits = [tag & 0x7F]
        tag >>= 7
        while tag:
            digits.append(0x80 | (tag & 0x7F))
            tag >>= 7
        octets_ = bytes((identifier | 0x1F, *reversed(digits)))
    if length < 0x80:
        return octets_ + bytes((length,))
    size = (length.bit_length() + 7) // 8
    return octets_ + bytes((0x80 | size,)) + length.to_bytes(size, "big")


def encode(tag_class: int, tag: int, contents: bytes, *, constructed: bool = True) -> bytes:
    """One element: ``contents`` (encoded children, or a primitive's octets) framed."""
    return header(tag_class, constructed, tag, len(contents)) + contents


def wrap(
    tag_class: int, tag: int, parts: Sequence[Chunk], *, constructed: bool = True
) -> list[Chunk]:
    """``parts`` framed as one element, without joining them (the bulk is copied once, by
    whoever joins the final list)."""
    length = sum(len(p) for p in parts)
    return [header(tag_class, constructed, tag, length), *parts]


def indefinite(tag_class: int, tag: int) -> bytes:
    """Identifier and indefinite-length octets of a constructed element (BER, X.690
    8.1.3.6): what a writer uses when it does not know the size up front."""
    return header(tag_class, True, tag, 0)[:-1] + b"\x80"


#: What closes an element of indefinite length.
END_OF_CONTENTS = b"\x00\x00"


# ---------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class Head:
    """An element's identifier and length as read from a stream (``length`` None: BER's
    indefinite length); ``encoded`` holds those octets as they were."""

    tag_class: int
    constructed: bool
    tag: int
    length: int | None
    encoded: bytes

    def is_(self, tag_class: int, tag: int) -> bool:
        return self.tag_class == tag_class and self.tag == tag


class StreamReader:
    """BER framing read from a stream, element by element, holding one block at a time.

    For input too large to hold: the caller walks the structure with :meth:`head`,
    reads small elements whole with :meth:`element` (bounded by ``max_size``) and the
    one large value in blocks with :meth:`blocks`. Every failure is a ParseError; running
    out of input is one that says the input is truncated.
    """

    def __init__(self, read: Callable[[int], bytes], what: str, *, block: int = 1 << 20) -> None:
        self._read = read
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._block = block
        self.what = what
        self.offset = 0  # bytes consumed before the buffer's start

    def _fill(self, n: int) -> bool:
        """At least ``n`` bytes buffered, unless the input ends first."""
        if len(self._buf) - self._pos >= n:
            return True
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        self.offset += self._pos
        while have < n and not self._eof:
            data = self._read(max(self._block, n - have))
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._buf = b"".join(parts)
        self._pos = 0
        return have >= n

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise _fail(self.what, f"truncated at byte {self.offset + len(self._buf)}")
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def at_end(self) -> bool:
        """Whether the input is exhausted (white space after a top-level element aside)."""
        while True:
            if not self._fill(1):
                return True
            rest = self._buf[self._pos :].lstrip(b" \t\r\n")
            if rest:
                return False
            self._pos = len(self._buf)

    def at_end_of_contents(self) -> bool:
        """Whether the end-of-contents octets come next (consumed if so)."""
        if self._fill(2) and self._buf[self._pos : self._pos + 2] == END_OF_CONTENTS:
            self._pos += 2
            return True
        return False

    def end_of_contents(self) -> None:
        if not self.at_end_of_contents():
            raise _fail(self.what, f"missing end-of-contents at byte {self.offset + self._pos}")

    def head(self) -> Head:
        """The next element's identifier and length octets."""
        self._fill(2 + 1 + _MAX_TAG_OCTETS + MAX_LENGTH_OCTETS)
        limit = len(self._buf)
        first, tag, body, length = _head(self._buf, self._pos, limit, self.what, bounded=False)
        encoded = self._buf[self._pos : body]
        self._pos = body
        return Head(first >> 6, bool(first & 0x20), tag, length, encoded)

    def element(self, head: Head, max_size: int) -> bytes:
        """The whole encoding of the element whose ``head`` was just read; at most
        ``max_size`` bytes (a ParseError beyond), nesting at most :data:`MAX_DEPTH`."""
        out = [head.encoded]
        size = len(head.encoded)
        if head.length is not None:
            if head.length > max_size:
                raise _fail(self.what, f"an element of {head.length} bytes (at most {max_size})")
            out.append(self._take(head.length))
            return b"".join(out)
        open_levels = 1
        while open_levels:
            if self.at_end_of_contents():
                out.append(END_OF_CONTENTS)
                size += 2
                open_levels -= 1
                continue
            inner = self.head()
            out.append(inner.encoded)
            size += len(inner.encoded)
            if inner.length is None:
                open_levels += 1
                if open_levels > MAX_DEPTH:
                    raise _fail(self.what, f"nested deeper than {MAX_DEPTH} levels")
            else:
                size += inner.length
                if size > max_size:
                    raise _fail(self.what, f"an element larger than {max_size} bytes")
                out.append(self._take(inner.length))
        return b"".join(out)

    def blocks(self, length: int) -> Iterator[bytes]:
        """The next ``length`` bytes, in blocks as they arrive."""
        while length:
            if not self._fill(1):
                raise _fail(self.what, f"truncated at byte {self.offset + len(self._buf)}")
            n = min(length, len(self._buf) - self._pos)
            out = self._buf[self._pos : self._pos + n] if n < len(self._buf) else self._buf
            self._pos += n
            length -= n
            yield out

    def octet_blocks(self, head: Head) -> Iterator[bytes]:
        """An OCTET STRING's value in blocks: primitive, or BER's constructed form with
        segments (nested to :data:`MAX_DEPTH`) of definite or indefinite length."""
        if not head.constructed:
            if head.length is None:  # pragma: no cover - _head refuses it
                raise _fail(self.what, "indefinite length on a primitive element")
            yield from self.blocks(head.length)
            return
        ends: list[int | None] = []  # per open level: absolute end, or None (indefinite)
        ends.append(None if head.length is None else self._where() + head.length)
        while ends:
            end = ends[-1]
            if end is None:
                if self.at_end_of_contents():
                    ends.pop()
                    continue
            elif self._where() >= end:
                if self._where() > end:
                    raise _fail(self.what, "a string segment overruns its parent")
                ends.pop()
                continue
            segment = self.head()
            if not segment.is_(UNIVERSAL, OCTET_STRING):
                raise _fail(self.what, "a constructed OCTET STRING holds a non-string")
            if segment.constructed:
                if len(ends) >= MAX_DEPTH:
                    raise _fail(self.what, f"nested deeper than {MAX_DEPTH} levels")
                ends.append(None if segment.length is None else self._where() + segment.length)
                continue
            assert segment.length is not None
            if end is not None and self._where() + segment.length > end:
                raise _fail(self.what, "a string segment overruns its parent")
            yield from self.blocks(segment.length)

    def _where(self) -> int:
        return self.offset + self._pos

    # -- walking a structure field by field; ``what`` names it in errors ------------------

    def expect(self, tag_class: int, tag: int, field: str, what: str) -> Head:
        """The next element's head, which must have this tag (else a ParseError)."""
        head = self.head()
        if not head.is_(tag_class, tag):
            raise _fail(what, f"{field} expected")
        return head

    def end_of(self, head: Head) -> int | None:
        """Where the element ``head`` opened ends (None: at its end-of-contents)."""
        return None if head.length is None else self.position + head.length

    def more(self, end: int | None) -> bool:
        """Whether the constructed element being read (ending at ``end``) has another field."""
        if end is None:
            return self.peek(2) != END_OF_CONTENTS
        return self.position < end

    def close(self, head: Head, end: int | None, what: str) -> None:
        """The end of a constructed element read field by field."""
        if head.length is None:
            self.end_of_contents()
        elif end is not None and self.position != end:
            raise _fail(what, "a field overruns or falls short of its parent")

    @property
    def position(self) -> int:
        """Bytes consumed so far."""
        return self.offset + self._pos

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the input), not consumed."""
        self._fill(n)
        return self._buf[self._pos : self._pos + n]
class SizedChunks:
    """DER made lazily (ciphertext encrypted as it is read), its length known up front."""

    def __init__(self, size: int, chunks: Iterator[Chunk]) -> None:
        self.size = size
        self._chunks = chunks

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Chunk]:
        return self._chunks


def presized(size: int) -> io.BytesIO:
    """An empty ``io.BytesIO`` whose buffer already holds ``size`` bytes: writing that much
    never grows it, and ``getvalue()`` then hands the buffer over without a copy."""
    out = io.BytesIO()
    if size > 0:
        out.seek(size - 1)
        out.write(b"\0")
        out.seek(0)
    return out


def collect(chunks: Iterable[Chunk], size: int = 0) -> bytes:
    """``chunks`` joined into one ``bytes``, the only copy of them held at the end.

    ``b"".join`` holds every chunk until the joined copy is done (twice the size); an
    ``io.BytesIO`` hands over its buffer as the result, so with a lazy iterable (ciphertext
    made while it is collected) only the result and one chunk are alive at a time.
    ``size``, when known, sizes the buffer once.
    """
    out = presized(size)
    for chunk in chunks:
        out.write(chunk)
    out.truncate()
    return out.getvalue()
