"""Property tests: whatever the message, the canonical entity is 7-bit safe, says the same
thing, and survives being parsed and written again by the ``email`` package inside a
multipart/signed, byte for byte."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import quopri
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.policy import Policy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smime.mime import (
    build_multipart_signed,
    find_smime_part,
    message_bytes,
    prepare_entity,
    to_message,
)

POLICIES: tuple[Policy, ...] = (email.policy.default, email.policy.SMTP, email.policy.compat32)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FRAGMENTS = [
    b"hello",
    b"world",
    b" ",
    b"  ",
    b"\t",
    b"From ",
    b"From",
    b">From ",
    b"=",
    b"=3D",
    b"--",
    b".",
    b"caf\xc3\xa9",
    b"\xe9",
    b"\xff\xfe",
    b"\x00",
    b"x" * 70,
    b"y" * 1000,
    b"?=",
    b"=?",
]
_WORDS = [
    "word",
    "café",
    "Grüße",
    "中文",
    "=?utf-8?q?x?=",
    "a,b",
    '"quoted"',
    "(note)",
    "x" * 20,
    "Ünïcödé",
    "tab\there",
    "<id@example.com>",
]


_NASTY_FRAGMENTS = [b"\r", b"\x0c", b"\x0b", b"\x1c", b"From:", b"--b", b"\xc2\x85"]
_NASTY_HEADER_TAILS = [
    b"",
    b" ",
    b"  \t",
    b" caf\xe9",
    b" \xc3\xa9t\xc3\xa9",
    b" " + b"y" * 120,
    b"\n more",
    b"\n\tmore ",
    b"\x0c",
    b";",
    b"\n  \n more",
]


@dataclass(frozen=True)
class Leaf:
    """What a leaf says, to compare before and after canonicalisation."""

    text: bool
    data: bytes


def _line_ends(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from([b"\n", b"\r\n"]))


@st.composite
def text_body(draw: st.DrawFn, nasty: bool = False) -> bytes:
    fragments = _FRAGMENTS + (_NASTY_FRAGMENTS if nasty else [])
    lines = draw(
        st.lists(st.lists(st.sampled_from(fragments), max_size=6).map(b"".join), max_size=6)
    )
    eol = _line_ends(draw)
    return eol.join(lines) + (eol if draw(st.booleans()) else b"")


@st.composite
def header_value(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14)))


def _header(name: str, value: str) -> bytes:
    return f"{name}: {value}\n".encode()


@st.composite
def any_header(draw: st.DrawFn, name: str, value: str, nasty: bool) -> bytes:
    """A header as a careless mailer may write it (when ``nasty``)."""
    if not nasty:
        return _header(name, value)
    name = draw(st.sampled_from([name, name.upper(), name.lower()]))
    separator = draw(st.sampled_from([b": ", b":", b":  ", b":\t"]))
    structural = name.lower() in ("content-type", "content-transfer-encoding")
    extra = b"" if structural else draw(st.sampled_from(_NASTY_HEADER_TAILS))
    return name.encode() + separator + value.encode() + extra + b"\n"


@st.composite
def leaf(draw: st.DrawFn, nasty: bool = False) -> bytes:
    if draw(st.booleans()):
        subtype = draw(st.sampled_from(["plain", "html"]))
        charset = draw(st.sampled_from([None, "utf-8", "iso-8859-1"]))
        cte = draw(st.sampled_from([None, "7bit", "8bit", "binary", "quoted-printable", "base64"]))
        body = draw(text_body(nasty))
        content_type = f"text/{subtype}" + (f"; charset={charset}" if charset else "")
    else:
        content_type = "application/octet-stream"
        cte = draw(st.sampled_from(["binary", "base64"]))
        body = draw(st.binary(max_size=300))
    if cte == "quoted-printable":
        body = quopri.encodestring(body)
    elif cte == "base64":
        body = base64.encodebytes(body)
        if nasty:
            body = body.replace(b"\n", draw(st.sampled_from([b"\n", b" \n", b"\r\n"])))
    headers = b""
    if content_type != "text/plain" or draw(st.booleans()):
        headers += draw(any_header("Content-Type", content_type, nasty))
    if cte:
        cte = draw(st.sampled_from([cte, cte.upper()])) if nasty else cte
        headers += draw(any_header("Content-Transfer-Encoding", cte, nasty))
    if draw(st.booleans()):
        headers += draw(any_header("Content-Description", draw(header_value()), nasty))
    return headers + b"\n" + body


def _boundary(children: list[bytes]) -> bytes:
    """Unique per content, so a nested multipart never reuses its parent's boundary."""
    return b"b" + hashlib.sha256(b"|".join(children)).hexdigest()[:20].encode()


@st.composite
def entity_tree(draw: st.DrawFn, depth: int = 2, nasty: bool = False) -> bytes:
    choice = draw(st.sampled_from(["leaf", "multipart", "message"] if depth else ["leaf"]))
    if choice == "leaf":
        return draw(leaf(nasty))
    if choice == "message":
        inner = draw(any_header("Subject", draw(header_value()), nasty))
        return b"Content-Type: message/rfc822\n\n" + inner + draw(entity_tree(depth - 1, nasty))
    children = draw(st.lists(entity_tree(depth - 1, nasty), min_size=1, max_size=3))
    boundary = _boundary(children)
    subtype = draw(st.sampled_from(["mixed", "alternative", "related"]))
    out = f"Content-Type: multipart/{subtype}; boundary={boundary.decode()}\n\n".encode()
    if draw(st.booleans()):
        out += draw(text_body(nasty)) + b"\n"
    for child in children:
        out += b"--" + boundary + b"\n" + child + b"\n"
    out += b"--" + boundary + b"--"
    return out + draw(
        st.sampled_from([b"\n", b"", b"\nepilogue\n", b"\n\nepi \xe9"] if nasty else [b"\n"])
    )


@st.composite
def raw_message(draw: st.DrawFn, nasty: bool = False) -> bytes:
    outer = _header("From", "Alice <alice@example.com>") + _header("Subject", draw(header_value()))
    return outer + b"MIME-Version: 1.0\n" + draw(entity_tree(2, nasty))


def leaves(msg: Message, *, original: bool = False) -> list[Leaf]:
    """Decoded leaves; text with LF line ends.

    In an ``original`` quoted-printable part, white space at line ends is transport padding
    (RFC 2045 §6.7 rule 3), which the ``email`` package keeps but decoders must drop.
    """
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        qp = str(part.get("content-transfer-encoding", "")).lower() == "quoted-printable"
        if original and qp:
            raw = part._payload  # type: ignore[attr-defined]  # the body as it came
            encoded = raw.encode("ascii", "surrogateescape")
            data = quopri.decodestring(re.sub(rb"[ \t]+(?=\r?\n|\r|$)", b"", encoded))
        is_text = part.get_content_maintype() == "text"
        if is_text:
            data = re.sub(rb"\r\n|\r", b"\n", data)
        out.append(Leaf(is_text, data))
    return out


def check_seven_bit_safe(entity: bytes) -> None:
    assert entity.isascii()
    assert b"\x00" not in entity
    assert entity.count(b"\n") == entity.count(b"\r\n") == entity.count(b"\r")
    for line in entity.split(b"\r\n"):
        assert len(line) <= 998
        assert not line.startswith(b"From ")
        assert line == line.rstrip(b" \t")


def check_headers_fit(entity: bytes) -> None:
    """Header lines are at most 78 columns (no generated token is long enough to prevent it)."""
    msg = email.message_from_bytes(entity, policy=email.policy.compat32)
    for part in msg.walk():
        for name, value in part.raw_items():
            for line in re.split(r"\r\n|\n", f"{name}: {value}"):
                assert len(line) <= 78, line


def check_standalone_round_trip(entity: bytes) -> None:
    """With short words, even the entity on its own is written back unchanged."""
    for policy in POLICIES:
        again = email.message_from_bytes(entity, policy=policy).as_bytes()
        assert re.sub(rb"\r?\n", b"\r\n", again) == entity, policy


def check_signed_part_survives_wrapping(wire: bytes, entity: bytes) -> None:
    """Encrypting a signed message, or signing one that carries it, keeps its bytes."""
    again = find_smime_part(prepare_entity(wire).entity)
    assert again is not None and again.path == "" and again.signed_content == entity
    mixed = (
        b"Content-Type: multipart/mixed; boundary=mix\r\n\r\n--mix\r\n\r\nforwarded:\r\n"
        b"--mix\r\n" + wire + b"\r\n--mix--\r\n"
    )
    nested = find_smime_part(prepare_entity(mixed).entity)
    assert nested is not None and nested.path == "2" and nested.signed_content == entity


def check_signed_round_trip(entity: bytes, outer: tuple[tuple[str, str], ...]) -> None:
    signed = build_multipart_signed(
        entity, b"\x30\x03\x02\x01\x01", micalg="sha-256", outer_headers=outer
    )
    wire = signed.as_bytes()
    assert message_bytes(signed) == wire
    assert message_bytes(to_message(wire)) == wire
    for policy in POLICIES:
        again = email.message_from_bytes(wire, policy=policy).as_bytes()
        found = find_smime_part(again)
        assert found is not None and found.signed_content == entity, policy
    check_signed_part_survives_wrapping(wire, entity)


def check_entity(raw: bytes, fit: bool) -> None:
    prepared = prepare_entity(raw)
    entity = prepared.entity
    check_seven_bit_safe(entity)
    if fit:
        check_headers_fit(entity)
        check_standalone_round_trip(entity)
    assert prepare_entity(entity).entity == entity  # idempotent
    original = email.message_from_bytes(raw, policy=email.policy.default)
    result = email.message_from_bytes(entity, policy=email.policy.default)
    assert leaves(result) == leaves(original, original=True)
    check_signed_round_trip(entity, prepared.outer_headers)


@SETTINGS
@given(raw=raw_message())
def test_raw_messages(raw: bytes) -> None:
    check_entity(raw, fit=True)


@SETTINGS
@given(raw=raw_message(nasty=True))
def test_carelessly_written_messages(raw: bytes) -> None:
    check_entity(raw, fit=False)


@st.composite
def built_message(draw: st.DrawFn) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ålice Ünïcödé <alice@example.com>"
    msg["To"] = "bob@example.com"
    msg["Subject"] = draw(header_value())
    text = draw(st.text(st.characters(blacklist_categories=["Cs"]), max_size=300))
    msg.set_content(text)
    if draw(st.booleans()):
        msg.add_alternative(f"<p>{text}</p>", subtype="html")
    for _ in range(draw(st.integers(0, 2))):
        msg.add_attachment(
            draw(st.binary(max_size=200)),
            maintype="application",
            subtype="octet-stream",
            filename=draw(st.sampled_from(["a.bin", "ü.bin", "x" * 90 + ".bin"])),
        )
    return msg


@SETTINGS
@given(msg=built_message())
def test_messages_built_with_the_email_package(msg: EmailMessage) -> None:
    prepared = prepare_entity(msg)
    entity = prepared.entity
    check_seven_bit_safe(entity)
    assert prepare_entity(entity).entity == entity
    result = email.message_from_bytes(entity, policy=email.policy.default)
    assert leaves(result) == leaves(msg)
    check_signed_round_trip(entity, prepared.outer_headers)
