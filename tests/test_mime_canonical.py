"""RFC 8551 §3.1 canonical form: each rule with a real input and the exact bytes it gives."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from smime.errors import ParseError
from smime.mime import prepare_entity, to_message


def entity(raw: bytes | str | email.message.Message) -> bytes:
    return prepare_entity(raw).entity


def parts(data: bytes) -> list[EmailMessage]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return [p for p in msg.walk() if not p.is_multipart()]


def text(data: bytes, index: int = 0) -> str:
    """The decoded text of a leaf part, with LF line ends."""
    return str(parts(data)[index].get_content()).replace("\r\n", "\n")


# ---------------------------------------------------------------- one rule at a time


def test_line_ends_become_crlf() -> None:
    assert entity(b"Content-Type: text/plain\n\nhello\nworld\n") == (
        b"Content-Type: text/plain\r\n\r\nhello\r\nworld\r\n"
    )


def test_eight_bit_text_becomes_quoted_printable_with_a_charset() -> None:
    assert entity(b"Content-Type: text/plain\n\ncaf\xc3\xa9\n") == (
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
    )


def test_declared_charset_is_kept_and_the_transfer_encoding_replaced() -> None:
    raw = (
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n\ncaf\xe9\n"
    )
    assert entity(raw) == (
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n"
    )


def test_eight_bit_text_that_is_not_utf8_is_labelled_unknown_8bit() -> None:
    assert b'charset="unknown-8bit"' in entity(b"Content-Type: text/plain\n\ncaf\xe9\n")


def test_binary_attachment_becomes_base64_with_its_bytes_exact() -> None:
    raw = (
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
        b"\x00\x01\x02\xff\r\nA"
    )
    out = entity(raw)
    assert out == (
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAEC/w0KQQ==\r\n"
    )
    assert parts(out)[0].get_content() == b"\x00\x01\x02\xff\r\nA"


def test_eight_bit_non_text_becomes_base64_not_quoted_printable() -> None:
    raw = b"Content-Type: application/pdf\nContent-Transfer-Encoding: 8bit\n\n%PDF\xe2\xe3\n"
    assert entity(raw) == (
        b"Content-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERuLjCg==\r\n"
    )


def test_line_longer_than_998_octets_becomes_quoted_printable() -> None:
    out = entity(b"Content-Type: text/plain\n\n" + b"a" * 1000 + b"\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert head == b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable"
    lines = body.split(b"\r\n")
    assert lines[:13] == [b"a" * 75 + b"="] * 13
    assert lines[13:] == [b"a" * 25, b""]
    assert text(out) == "a" * 1000 + "\n"


def test_trailing_white_space_is_protected() -> None:
    out = entity(b"Content-Type: text/plain\n\nspace \ntab\t\nend\n")
    assert out.endswith(b"\r\n\r\nspace=20\r\ntab=09\r\nend\r\n")
    assert text(out) == "space \ntab\t\nend\n"


def test_line_starting_from_is_protected() -> None:
    out = entity(b"Content-Type: text/plain\n\nhello\nFrom the start\n")
    assert out == (
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"hello\r\n=46rom the start\r\n"
    )
    assert text(out) == "hello\nFrom the start\n"


def test_from_protection_keeps_quoted_printable_lines_short() -> None:
    line = "x" * 74 + " From " + "y" * 80  # soft breaks put "From " at the start of a line
    out = entity(("Content-Type: text/plain; charset=utf-8\n\né" + line + "\n").encode())
    body = out.split(b"\r\n\r\n", 1)[1]
    assert all(len(row) <= 76 for row in body.split(b"\r\n"))
    assert b"\r\nFrom " not in body
    assert text(out) == "é" + line + "\n"


def test_message_without_content_type_becomes_text_plain() -> None:
    assert (
        entity(b"Subject: x\n\nhi\n") == b"Content-Type: text/plain; charset=us-ascii\r\n\r\nhi\r\n"
    )
    assert entity(b"Subject: x\n\nh\xc3\xa9\n") == (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9\r\n"
    )


def test_8bit_label_on_7bit_text_is_corrected() -> None:
    raw = b"Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nplain\n"
    assert entity(raw) == (
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nplain\r\n"
    )


def test_sloppy_base64_is_rewritten_clean() -> None:
    raw = (
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        b"AAEC \n/w==\n"
    )
    assert entity(raw).endswith(b"base64\r\n\r\nAAEC/w==\r\n")


def test_quoted_printable_with_a_from_line_is_reencoded() -> None:
    raw = b"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nFrom x=3D\n"
    assert entity(raw).endswith(b"printable\r\n\r\n=46rom x=3D\r\n")


def test_non_ascii_header_is_rfc2047_encoded_and_folded() -> None:
    raw = (
        b"Content-Type: text/plain\nContent-Description: caf\xc3\xa9 " + b"word " * 20 + b"\n\nx\n"
    )
    out = entity(raw)
    head = out.split(b"\r\n\r\n")[0]
    assert head == (
        b"Content-Type: text/plain\r\n"
        b"Content-Description: =?utf-8?q?caf=C3=A9?= word word word word word word word\r\n"
        b" word word word word word word word word word word word word word"
    )
    assert str(parts(out)[0]["Content-Description"]) == "café " + "word " * 19 + "word"


def test_long_ascii_header_is_folded_at_white_space_only() -> None:
    raw = b"Content-Type:text/plain\nContent-Description: " + b"word " * 20 + b"end\n\nx\n"
    assert entity(raw).split(b"\r\n\r\n")[0] == (
        b"Content-Type: text/plain\r\n"
        b"Content-Description: word word word word word word word word word word word\r\n"
        b" word word word word word word word word word end"
    )


def test_a_token_too_long_to_fold_is_left_long_not_reencoded() -> None:
    name = "a" * 100 + ".pdf"
    raw = (
        f'Content-Type: application/pdf\nContent-Disposition: attachment; filename="{name}"\n\nx\n'
    )
    out = entity(raw.encode())
    assert f'Content-Disposition: attachment;\r\n filename="{name}"\r\n'.encode() in out


# ---------------------------------------------------------------- what must not change


CLEAN = b"""Content-Type: multipart/alternative;
\tboundary="alt-1"
Content-Language: en

This is a multi-part message in MIME format.
--alt-1
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hello Bob,
  indented line; = and ? are fine in 7bit.
--alt-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>Gr=C3=BC=C3=9Fe</p>
--alt-1
Content-Type: image/png; name="dot.png"
Content-Transfer-Encoding: base64
Content-Disposition: inline; filename="dot.png"

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA
WjR9awAAAABJRU5ErkJggg==

--alt-1--
"""


def test_seven_bit_clean_entity_is_unchanged_but_for_line_ends() -> None:
    assert entity(CLEAN) == CLEAN.replace(b"\n", b"\r\n")
    assert entity(CLEAN.replace(b"\n", b"\r\n")) == CLEAN.replace(b"\n", b"\r\n")


def test_only_the_part_that_needs_it_changes() -> None:
    raw = CLEAN.replace(b"<p>Gr=C3=BC=C3=9Fe</p>", b"<p>Gr\xc3\xbc\xc3\x9fe</p>").replace(
        b"Content-Transfer-Encoding: quoted-printable", b"Content-Transfer-Encoding: 8bit"
    )
    assert entity(raw) == CLEAN.replace(b"\n", b"\r\n")


def test_prepared_entity_is_a_fixed_point() -> None:
    for raw in (CLEAN, b"Subject: x\n\nh\xc3\xa9\nFrom me \n", b"Content-Type: text/plain\n\n"):
        once = entity(raw)
        assert entity(once) == once


def test_outer_headers_stay_outside_and_content_headers_inside() -> None:
    raw = (
        b"Received: by relay\nFrom: Alice <alice@example.com>\nTo: bob@example.com\n"
        b"Cc: carol@example.com\nBcc: dave@example.com\nSubject: =?utf-8?q?caf=C3=A9?=\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.com>\n"
        b"Reply-To: alice@example.com\nReferences: <0@example.com>\n\t<00@example.com>\n"
        b"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Length: 3\nX-Mailer: test\n"
        b"Content-Description: note\n\nhi\n"
    )
    prepared = prepare_entity(raw)
    assert prepared.entity == b"Content-Type: text/plain\r\nContent-Description: note\r\n\r\nhi\r\n"
    assert prepared.outer_headers == (
        ("Received", "by relay"),
        ("From", "Alice <alice@example.com>"),
        ("To", "bob@example.com"),
        ("Cc", "carol@example.com"),
        ("Bcc", "dave@example.com"),
        ("Subject", "=?utf-8?q?caf=C3=A9?="),
        ("Date", "Mon, 1 Jan 2024 10:00:00 +0000"),
        ("Message-ID", "<1@example.com>"),
        ("Reply-To", "alice@example.com"),
        ("References", "<0@example.com>\t<00@example.com>"),
        ("X-Mailer", "test"),
    )


def test_raw_eight_bit_outer_header_becomes_text() -> None:
    prepared = prepare_entity(b"Subject: caf\xc3\xa9\nX-Old: caf\xe9\n\nhi\n")
    assert prepared.outer_headers == (("Subject", "café"), ("X-Old", "café"))


# ---------------------------------------------------------------- multipart structure


def test_nested_parts_are_canonicalised_recursively() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
        b"Content-Type: multipart/alternative; boundary=inner\n\n--inner\n"
        b"Content-Type: text/plain\n\nFrom deep inside\n--inner--\n"
        b"--outer\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
        b"\xff\xfe\n--outer--\n"
    )
    assert entity(raw) == (
        b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"
        b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n"
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"=46rom deep inside\r\n--inner--\r\n"
        b"\r\n--outer\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n//4=\r\n"
        b"\r\n--outer--\r\n"
    )


def test_boundary_is_replaced_when_a_reencoded_line_would_look_like_it() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=XX\n\n--XX\n"
        b"Content-Type: text/plain; charset=utf-8\n\ncaf\xc3\xa9\n--XXnot-a-delimiter \n--XX--\n"
    )
    out = entity(raw)
    msg = email.message_from_bytes(out, policy=email.policy.default)
    boundary = msg.get_boundary()
    assert boundary is not None and boundary != "XX"
    assert f"boundary={boundary}".encode() in out or f'boundary="{boundary}"'.encode() in out
    assert len(parts(out)) == 1
    assert text(out) == "café\n--XXnot-a-delimiter "


def test_unsafe_preamble_is_dropped_and_safe_one_kept() -> None:
    safe = b"Content-Type: multipart/mixed; boundary=b\n\nplease use MIME\n--b\n\nx\n--b--\n"
    assert entity(safe) == safe.replace(b"\n", b"\r\n")
    unsafe = safe.replace(b"please use MIME", b"bitte \xfcbers\xe4tzen ")
    assert entity(unsafe) == (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"
    )


def test_attached_message_is_canonicalised_and_relabelled_7bit() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
        b"Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n"
        b"From: Ren\xc3\xa9 <r@example.com>\nSubject: hi\n\nbonjour \xc3\xa0 tous\n--b--\n"
    )
    out = entity(raw)
    assert out == (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        b"From: =?utf-8?q?Ren=C3=A9?= <r@example.com>\r\nSubject: hi\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nbonjour =C3=A0 tous"
        b"\r\n--b--\r\n"
    )


SIGNED_INSIDE = (
    b"Content-Type: multipart/mixed; boundary=mix\n\n--mix\n"
    b"Content-Type: text/plain\n\nsee the forwarded part\n--mix\n"
    b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;'
    b' boundary="sig"\n\n--sig\nContent-Type: text/plain\nX-Long: ' + b"y" * 90 + b"\n\n"
    b"signed with trailing space \nFrom a line\n\xc3\xa9\n--sig\n"
    b"Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n"
    b"MAA=\n--sig--\n--mix--\n"
)


def test_an_already_signed_part_is_never_altered() -> None:
    out = entity(SIGNED_INSIDE)
    first_part = (
        b"--sig\r\nContent-Type: text/plain\r\nX-Long: " + b"y" * 90 + b"\r\n\r\n"
        b"signed with trailing space \r\nFrom a line\r\n\xc3\xa9\r\n--sig\r\n"
    )
    assert first_part in out


def test_a_broken_multipart_inside_a_signed_part_is_kept_too() -> None:
    raw = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=S\n'
        b"\n--S\nContent-Type: multipart/mixed; boundary=Q\n\nno parts \n--S\n"
        b"Content-Type: application/pkcs7-signature\n\nMAA=\n--S--\n"
    )
    expected = b"Content-Type: multipart/mixed; boundary=Q\r\n\r\nno parts \r\n--S\r\n"
    assert expected in entity(raw)


def test_encrypting_a_signed_message_keeps_it_byte_for_byte() -> None:
    signed = SIGNED_INSIDE.split(b"--mix\n")[2].split(b"\n--mix--")[0]
    body = signed[signed.index(b"--sig\n") :]
    out = entity(signed)
    assert out.startswith(
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
        b' micalg=sha-256; boundary="sig"\r\n\r\n'
    )
    assert out.endswith(body.replace(b"\n", b"\r\n") + b"\r\n")


# ---------------------------------------------------------------- inputs and errors


def test_email_message_built_in_python() -> None:
    msg = EmailMessage()
    msg["From"] = "Ålice <alice@example.com>"
    msg["Subject"] = "Grüße"
    msg.set_content("Grüße\nFrom Alice\n")
    before = msg.as_bytes()
    prepared = prepare_entity(msg)
    assert msg.as_bytes() == before  # the caller's message is not touched
    assert prepared.outer_headers == (("From", "Ålice <alice@example.com>"), ("Subject", "Grüße"))
    assert prepared.entity == (
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=C3=BC=C3=9Fe\r\n=46rom Alice\r\n"
    )


def test_compat32_message_from_email_mime() -> None:
    msg = MIMEMultipart()
    msg["Subject"] = "report"
    msg.attach(MIMEText("hello\n"))
    msg.attach(MIMEApplication(b"\x00\x01", Name="a.bin"))
    out = entity(msg)
    assert [p.get_content_type() for p in parts(out)] == ["text/plain", "application/octet-stream"]
    assert parts(out)[1].get_content() == b"\x00\x01"
    assert out.isascii() and out.count(b"\n") == out.count(b"\r\n")


def test_payload_set_as_unicode_without_charset_is_utf8() -> None:
    msg = EmailMessage()
    msg["Content-Type"] = "text/plain"
    msg.set_payload("naïve")
    assert entity(msg).endswith(
        b'charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve'
    )


def test_unknown_transfer_encoding_with_8bit_data_is_refused() -> None:
    raw = b"Content-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\n\xff\n"
    with pytest.raises(ParseError, match="x-weird"):
        prepare_entity(raw)


def test_multipart_without_its_boundary_is_refused() -> None:
    with pytest.raises(ParseError, match="boundary"):
        prepare_entity(b"Content-Type: multipart/mixed; boundary=b\n\nno parts here\n")


def test_programmatic_nesting_too_deep_is_refused() -> None:
    msg = to_message(b"Content-Type: text/plain\n\nx\n")
    for _ in range(60):
        outer = EmailMessage()
        outer["Content-Type"] = "multipart/mixed"
        outer.set_payload([msg])
        msg = outer
    with pytest.raises(ParseError, match="nested deeper"):
        prepare_entity(msg)
