"""The one DER/BER framing reader and writer: every malformed-input branch, and agreement
with asn1crypto on everything well formed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from asn1crypto import cms, core, parser
from hypothesis import given, settings
from hypothesis import strategies as st

from smime.core import der
from smime.core.der import (
    CONTEXT,
    MAX_DEPTH,
    OCTET_STRING,
    SEQUENCE,
    UNIVERSAL,
    check_der,
    children,
    encode,
    header,
    octets,
    raw,
    read,
    wrap,
)
from smime.errors import ParseError

WHAT = "test structure"


def _read(data: bytes) -> der.Tlv:
    return read(memoryview(data), 0, len(data), WHAT)


def _nested_definite(levels: int) -> bytes:
    data = b"\x05\x00"
    for _ in range(levels):
        data = encode(UNIVERSAL, SEQUENCE, data)
    return data


def _nested_indefinite(levels: int) -> bytes:
    return b"\x30\x80" * levels + b"\x05\x00" + b"\x00\x00" * levels


# ---------------------------------------------------------------------------- reading


def test_read_definite_element() -> None:
    data = core.OctetString(b"hello").dump() + b"rest"
    tlv = read(memoryview(data), 0, len(data), WHAT)
    assert (tlv.tag_class, tlv.constructed, tlv.tag) == (UNIVERSAL, False, OCTET_STRING)
    assert (tlv.start, tlv.body, tlv.end, tlv.next) == (0, 2, 7, 7)
    assert raw(data, tlv) == core.OctetString(b"hello").dump()


def test_read_follows_nested_indefinite_lengths() -> None:
    data = b"\x30\x80" + b"\x31\x80\x02\x01\x05\x00\x00" + b"\x04\x01x" + b"\x00\x00" + b"tail"
    tlv = read(memoryview(data), 0, len(data), WHAT)
    assert tlv.constructed and (tlv.body, tlv.end, tlv.next) == (2, 12, 14)
    kids = children(memoryview(data), tlv, WHAT)
    assert [(k.tag, k.start, k.next) for k in kids] == [(17, 2, 9), (4, 9, 12)]


def test_read_high_tag_number() -> None:
    data = header(CONTEXT, False, 300, 1) + b"x"
    tlv = _read(data)
    assert (tlv.tag_class, tlv.tag, tlv.end) == (CONTEXT, 300, len(data))


def test_read_accepts_ber_length_with_leading_zeros() -> None:
    """BER lets a long-form length carry leading zero octets; real mail does it."""
    data = b"\x04\x84\x00\x00\x00\x03abc"
    tlv = _read(data)
    assert bytes(octets(memoryview(data), tlv, WHAT)) == b"abc"
    check_der(data)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x04", r"truncated at byte 0"),  # no length octet at all
    (b"\x1f\x81", r"truncated tag at byte 0"),  # high tag number form cut short
    (b"\x1f\x81\x81\x81\x81\x01\x00", r"tag number too large"),
    (b"\x1f\x01", r"truncated at byte 0"),  # tag complete, length octet missing
    (b"\x04\x80\x00\x00", r"indefinite length on a primitive element at byte 0"),
    (b"\x04\x89" + b"\x00" * 8 + b"\x01x", r"a length of 9 octets"),  # leading zeros, 9 octets
    (b"\x04\xff" + b"\x00" * 127, r"a length of 127 octets"),
    (b"\x04\x84\x00\x00", r"truncated length at byte 0"),
    (b"\x04\x05abc", r"claims 5 bytes, only 3 remain"),
    (b"\x04\x88" + b"\xff" * 8, r"claims 18446744073709551615 bytes"),  # huge declared length
    (b"\x30\x80\x04\x01x", r"missing end-of-contents for the element at byte 0"),
    (b"\x30\x80\x04\x05x\x00\x00", r"claims 5 bytes"),  # a child beyond the buffer
])
def test_read_refuses_malformed_framing(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        _read(data)
    assert str(info.value).startswith(f"malformed {WHAT}: ")


def test_read_refuses_indefinite_nesting_beyond_the_limit() -> None:
    _read(_nested_indefinite(MAX_DEPTH))
    with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
        _read(_nested_indefinite(MAX_DEPTH + 1))


def test_read_is_iterative_on_hostile_depth() -> None:
    """No recursion: a million open levels is a ParseError, not a RecursionError."""
    with pytest.raises(ParseError, match="nested deeper"):
        _read(b"\x30\x80" * 1_000_000)


def test_read_respects_the_limit_given() -> None:
    data = b"\x30\x03\x04\x02ab"
    assert read(memoryview(data), 2, 6, WHAT).next == 6
    with pytest.raises(ParseError, match="claims 2 bytes, only 1 remain"):
        read(memoryview(data), 2, 5, WHAT)


def test_children_of_a_primitive_is_an_error() -> None:
    with pytest.raises(ParseError, match="expected a constructed element at byte 0"):
        children(memoryview(b"\x04\x01x"), _read(b"\x04\x01x"), WHAT)


def test_children_must_fill_their_parent() -> None:
    data = b"\x30\x04\x04\x01x\x04"  # the second child is cut by the parent's length
    with pytest.raises(ParseError, match="truncated at byte 5"):
        children(memoryview(data), _read(data), WHAT)


# ---------------------------------------------------------------------------- octets


def test_octets_of_der_is_a_view_without_copy() -> None:
    data = core.OctetString(b"x" * 300).dump()
    value = octets(memoryview(data), _read(data), WHAT)
    assert isinstance(value, memoryview) and bytes(value) == b"x" * 300


def test_octets_joins_ber_segments_in_order() -> None:
    inner = b"\x24\x06\x04\x01b\x04\x01c"  # constructed, definite
    data = b"\x24\x80\x04\x01a" + inner + b"\x04\x01d\x00\x00"
    assert octets(memoryview(data), _read(data), WHAT) == b"abcd"
    flat = b"\x24\x80\x04\x01a\x04\x02bc\x00\x00"
    assert octets(memoryview(flat), _read(flat), WHAT) == core.OctetString.load(flat).native


def test_octets_refuses_a_non_string_segment() -> None:
    data = b"\x24\x03\x02\x01\x05"
    with pytest.raises(ParseError, match="holds a non-string at 2"):
        octets(memoryview(data), _read(data), WHAT)


def test_octets_refuses_segments_nested_too_deep() -> None:
    def nested(levels: int) -> bytes:
        data = b"\x04\x01x"
        for _ in range(levels):
            data = encode(UNIVERSAL, OCTET_STRING, data)
        return data

    ok = nested(MAX_DEPTH)
    assert octets(memoryview(ok), _read(ok), WHAT) == b"x"
    deep = nested(MAX_DEPTH + 1)
    with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
        octets(memoryview(deep), _read(deep), WHAT)


# ---------------------------------------------------------------------------- check_der


def test_check_der_accepts_real_structures() -> None:
    signed = cms.ContentInfo({
        "content_type": "data", "content": core.OctetString(b"x" * 1000),
    }).dump()
    check_der(signed)
    check_der(_nested_definite(MAX_DEPTH))
    check_der(_nested_indefinite(MAX_DEPTH))


def test_check_der_lets_be_what_follows_a_ber_message() -> None:
    """As asn1crypto does: its own BER fixture ends in a newline."""
    data = b"\x30\x80\x04\x01x\x00\x00\n"
    check_der(data)
    assert core.Sequence.load(data, strict=False).contents == b"\x04\x01x"


@pytest.mark.parametrize(("data", "message"), [
    (b"", r"empty input"),
    (b"\x04\x01xy", r"1 bytes of trailing data"),
    (b"\x30\x03\x04\x01x\n", r"1 bytes of trailing data"),
    (b"\x30\x05\x04\x01x\x04\x05abc", r"claims 5 bytes, only 0 remain"),  # child beyond parent
    (b"\x30\x03\x04\x05x", r"claims 5 bytes, only 1 remain"),
    (b"\x30\x80\x04\x01x", r"missing end-of-contents before byte 5"),
    (b"\x30\x06\x30\x80\x04\x01x\x00", r"missing end-of-contents before byte 8"),
    (b"\x30\x02\x04\x80", r"indefinite length on a primitive element at byte 2"),
    (b"\x30\x0b\x04\x89" + b"\x00" * 8 + b"\x00", r"a length of 9 octets"),
    (b"\x30\x8a" + b"\xff" * 10, r"a length of 10 octets"),
    (b"\x30\x88" + b"\x7f" * 8, r"claims 9187201950435737471 bytes"),
    (b"\x1f", r"truncated at byte 0"),
])
def test_check_der_refuses_malformed_framing(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        check_der(data, WHAT)


@pytest.mark.parametrize("nested", [_nested_definite, _nested_indefinite])
def test_check_der_bounds_depth(nested: object) -> None:
    assert callable(nested)
    with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
        check_der(nested(MAX_DEPTH + 1))
    with pytest.raises(ParseError, match="nested deeper"):
        check_der(b"\x30\x80" * 1_000_000 + b"\x00\x00" * 1_000_000)


@given(st.binary(max_size=64))
@settings(max_examples=500, deadline=None)
def test_check_der_and_read_raise_only_parse_errors(data: bytes) -> None:
    """Any input: accepted, or refused with a ParseError; never another exception."""
    for attempt in (lambda: check_der(data), lambda: _read(data)):
        with contextlib.suppress(ParseError):
            attempt()


_SCALARS = st.one_of(
    st.binary(max_size=300).map(core.OctetString),
    st.integers().map(core.Integer),
    st.text(max_size=40).map(core.UTF8String),
    st.just(core.Null()),
)


def _sequence_of(values: list[core.Asn1Value]) -> core.Asn1Value:
    class _Any(core.SequenceOf):  # an untyped SEQUENCE OF, to nest arbitrary values
        _child_spec = core.Any

    return _Any([core.Any.load(v.dump()) for v in values])


_TREES = st.recursive(_SCALARS, lambda kids: st.lists(kids, max_size=4).map(_sequence_of),
                      max_leaves=30)


@given(_TREES)
@settings(max_examples=200, deadline=None)
def test_check_der_accepts_what_asn1crypto_writes_and_refuses_every_prefix(
    value: core.Asn1Value,
) -> None:
    data = value.dump()
    check_der(data)
    assert _read(data).next == len(data)
    for cut in {1, len(data) // 2, len(data) - 1} - {0, len(data)}:
        with pytest.raises(ParseError):
            check_der(data[:cut])


# ---------------------------------------------------------------------------- writing


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 65535, 65536, 2**24])
@pytest.mark.parametrize(("tag_class", "constructed", "tag"), [
    (UNIVERSAL, False, OCTET_STRING), (UNIVERSAL, True, SEQUENCE), (CONTEXT, True, 0),
    (CONTEXT, False, 30), (CONTEXT, False, 31), (CONTEXT, True, 127), (CONTEXT, True, 128),
    (CONTEXT, False, 16384),
])
def test_header_matches_asn1crypto(
    tag_class: int, constructed: bool, tag: int, length: int
) -> None:
    contents = bytes(length)
    expected = parser.emit(tag_class, int(constructed), tag, contents)
    assert header(tag_class, constructed, tag, length) + contents == expected
    assert encode(tag_class, tag, contents, constructed=constructed) == expected


def test_wrap_frames_parts_without_joining_them() -> None:
    big = memoryview(b"x" * 1000)
    framed = wrap(UNIVERSAL, SEQUENCE, [b"\x05\x00", *wrap(CONTEXT, 0, [big], constructed=False)])
    assert framed[-1] is big
    data = b"".join(framed)
    tlv = _read(data)
    assert tlv.next == len(data)
    null, tagged = children(memoryview(data), tlv, WHAT)
    assert raw(data, null) == b"\x05\x00"
    assert bytes(octets(memoryview(data), tagged, WHAT)) == bytes(big)


def _check_der_reference(data: bytes, what: str = "CMS structure") -> None:
    """check_der as it was before its common case went inline: every element via _head."""
    if not data:
        raise der._fail(what, "empty input")
    size = len(data)
    open_: list[tuple[int, bool]] = []
    pos = 0
    indefinite_top = False
    while True:
        if open_:
            bound, indefinite = open_[-1]
            if indefinite:
                if der._at_end_of_contents(data, pos, bound):
                    open_.pop()
                    pos += 2
                    continue
                if pos + 2 > bound:
                    raise der._fail(what, f"missing end-of-contents before byte {bound}")
            elif pos == bound:
                open_.pop()
                continue
        elif pos:
            break
        limit = open_[-1][0] if open_ else size
        first, _tag, body, length = der._head(data, pos, limit, what)
        if not open_:
            indefinite_top = length is None
        if not first & 0x20:
            pos = body + (length or 0)
            continue
        if len(open_) >= MAX_DEPTH:
            raise der._fail(what, f"nested deeper than {MAX_DEPTH} levels")
        open_.append((limit, True) if length is None else (body + length, False))
        pos = body
    if pos < size and not indefinite_top:
        raise der._fail(what, f"{size - pos} bytes of trailing data")


def _outcome(check: Callable[[bytes], None], data: bytes) -> str | None:
    try:
        check(data)
    except ParseError as exc:
        return str(exc)
    return None


_SIGNED = cms.ContentInfo({"content_type": "data", "content": core.OctetString(
    cms.ContentInfo({"content_type": "data", "content": core.OctetString(b"y" * 300)}).dump()
    + b"z" * 200)}).dump()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)),  # the headers sit first
                min_size=1, max_size=4), st.integers(1, len(_SIGNED)))
def test_check_der_inline_case_answers_as_head_does(
    changes: list[tuple[int, int]], keep: int
) -> None:
    """The inline common case gives the same verdict and message as _head on every input."""
    data = bytearray(_SIGNED)
    for where, value in changes:
        data[where] = value
    mutated = bytes(data[:keep])
    assert _outcome(check_der, mutated) == _outcome(_check_der_reference, mutated)


def _seq(*parts: bytes) -> bytes:
    return der.encode(der.UNIVERSAL, der.SEQUENCE, b"".join(parts))


def test_check_der_remembers_whole_elements_only_for_levels_not_deeper() -> None:
    """An element found whole is skipped when it recurs at a level no deeper, but is walked
    again deeper: nesting beyond MAX_DEPTH is refused whatever was checked before."""
    leaf = der.encode(der.UNIVERSAL, 4, b"x" * 600, constructed=False)
    inner = _seq(_seq(_seq(leaf)))  # 3 levels of its own, over 512 bytes
    der.check_der(_seq(inner))  # remembered at level 1
    der.check_der(_seq(inner))  # found again at level 1: skipped, same verdict
    too_deep = inner
    for _ in range(der.MAX_DEPTH - 2):
        too_deep = _seq(too_deep)
    with pytest.raises(ParseError, match="nested deeper"):
        der.check_der(too_deep)


def test_check_der_remembers_nothing_from_a_refused_structure() -> None:
    broken = bytearray(_seq(_seq(der.encode(der.UNIVERSAL, 4, b"y" * 600, constructed=False))))
    broken[-601] += 1  # the OCTET STRING's length now runs past its parent
    for _ in range(2):
        with pytest.raises(ParseError):
            der.check_der(bytes(broken))
