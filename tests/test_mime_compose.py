"""The S/MIME wrappers: exact wire bytes, the parameters clients look for, parse_inner."""

from __future__ import annotations

import base64
import email
import email.policy
import re

import pytest

from smime.errors import InvalidOptionError, ParseError
from smime.mime import (
    build_multipart_signed,
    build_pkcs7_mime,
    find_smime_part,
    message_bytes,
    parse_inner,
    prepare_entity,
    to_message,
)

ENTITY = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob.\r\n"
SIGNATURE = bytes(range(256)) * 3
OUTER = (
    ("From", "Alice <alice@example.com>"),
    ("To", "bob@example.com"),
    ("Subject", "Grüße aus Köln"),
    ("Message-ID", "<1@example.com>"),
)


def _boundary(wire: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', wire)
    assert found is not None
    return found.group(1)


def test_multipart_signed_wire_form() -> None:
    msg = build_multipart_signed(ENTITY, SIGNATURE, micalg="sha256", outer_headers=OUTER)
    wire = msg.as_bytes()
    boundary = _boundary(wire)
    sig_b64 = base64.encodebytes(SIGNATURE).replace(b"\n", b"\r\n")
    assert wire == (
        b"From: Alice <alice@example.com>\r\n"
        b"To: bob@example.com\r\n"
        b"Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
        b"Message-ID: <1@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
        b' micalg=sha-256; boundary="' + boundary + b'"\r\n'
        b"\r\n"
        b"This is an S/MIME signed message\r\n"
        b"--" + boundary + b"\r\n" + ENTITY + b"\r\n--" + boundary + b"\r\n"
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"Content-Description: S/MIME Cryptographic Signature\r\n"
        b"\r\n" + sig_b64 + b"\r\n--" + boundary + b"--\r\n"
    )
    assert all(len(line) <= 76 for line in sig_b64.split(b"\r\n"))
    assert b"--" + boundary not in ENTITY
    assert bytes(msg) == wire and message_bytes(msg) == wire
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_payload(1).get_content() == SIGNATURE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("micalg", "expected"),
    [("sha256", b"sha-256"), ("SHA-384", b"sha-384"), ("sha-512", b"sha-512")],
)
def test_micalg_is_written_in_rfc_8551_spelling(micalg: str, expected: bytes) -> None:
    wire = build_multipart_signed(ENTITY, SIGNATURE, micalg=micalg).as_bytes()
    assert b" micalg=" + expected + b";" in wire


def test_signers_with_different_digests_list_every_micalg() -> None:
    msg = build_multipart_signed(ENTITY, SIGNATURE, micalg="sha256,SHA-512,sha-256")
    assert msg.get_param("micalg") == "sha-256,sha-512"
    assert b' micalg="sha-256,sha-512"; boundary=' in msg.as_bytes()


def test_unknown_micalg_is_refused() -> None:
    for micalg in ("whirlpool", "sha256,", ""):
        with pytest.raises(InvalidOptionError, match="micalg"):
            build_multipart_signed(ENTITY, SIGNATURE, micalg=micalg)


def test_entity_must_be_canonical() -> None:
    with pytest.raises(ParseError, match="CRLF"):
        build_multipart_signed(ENTITY.replace(b"\r\n", b"\n"), SIGNATURE, micalg="sha256")
    with pytest.raises(ParseError, match="prepare_entity"):  # the generator would add a space
        build_multipart_signed(b"Content-Type:text/plain\r\n\r\nx", SIGNATURE, micalg="sha256")


def test_boundary_is_fresh_for_every_message() -> None:
    first = _boundary(build_multipart_signed(ENTITY, SIGNATURE, micalg="sha256").as_bytes())
    second = _boundary(build_multipart_signed(ENTITY, SIGNATURE, micalg="sha256").as_bytes())
    assert first != second


@pytest.mark.parametrize(
    ("smime_type", "written", "filename", "description"),
    [
        ("signed-data", "signed-data", "smime.p7m", "S/MIME Signed Message"),
        ("enveloped-data", "enveloped-data", "smime.p7m", "S/MIME Encrypted Message"),
        ("authenveloped-data", "authEnveloped-data", "smime.p7m", "S/MIME Encrypted Message"),
        ("compressed-data", "compressed-data", "smime.p7z", "S/MIME Compressed Message"),
        ("certs-only", "certs-only", "smime.p7c", "S/MIME Certificates"),
    ],
)
def test_pkcs7_mime_wire_form(
    smime_type: str, written: str, filename: str, description: str
) -> None:
    msg = build_pkcs7_mime(SIGNATURE, smime_type=smime_type, outer_headers=OUTER[:1])
    wire = msg.as_bytes()
    content_type = f'Content-Type: application/pkcs7-mime; smime-type={written}; name="{filename}"'
    if len(content_type) > 78:
        content_type = content_type.replace('; name="', ';\r\n name="')
    assert wire == (
        b"From: Alice <alice@example.com>\r\nMIME-Version: 1.0\r\n"
        + content_type.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode()
        + f"Content-Description: {description}\r\n\r\n".encode()
        + base64.encodebytes(SIGNATURE).replace(b"\n", b"\r\n")
    )
    assert msg.get_content() == SIGNATURE
    found = find_smime_part(msg)
    assert found is not None
    assert (found.kind, found.smime_type, found.der) == (
        "application/pkcs7-mime",
        written.lower(),
        SIGNATURE,
    )


def test_pkcs7_mime_filename_can_be_chosen_but_not_abused() -> None:
    wire = build_pkcs7_mime(b"\x30\x00", smime_type="signed-data", filename="x.p7m").as_bytes()
    assert b'filename="x.p7m"' in wire
    with pytest.raises(InvalidOptionError, match="filename"):
        build_pkcs7_mime(b"\x30\x00", smime_type="signed-data", filename='a"\r\nBcc: x')
    with pytest.raises(InvalidOptionError, match="authEnveloped-data"):
        build_pkcs7_mime(b"\x30\x00", smime_type="enveloped")


def test_outer_headers_are_folded_and_content_headers_left_out() -> None:
    outer = (
        ("Subject", "a " * 60),
        ("Content-Type", "text/html"),
        ("MIME-Version", "1.0"),
        ("X-Raw", "caf\udcc3\udca9"),  # raw 8-bit bytes as the parser keeps them
    )
    wire = build_pkcs7_mime(b"\x30\x00", smime_type="enveloped-data", outer_headers=outer)
    head = wire.as_bytes().split(b"\r\n\r\n")[0]
    assert head.count(b"Content-Type:") == 1 and head.count(b"MIME-Version:") == 1
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"X-Raw: =?utf-8?q?caf=C3=A9?=" in head
    with pytest.raises(InvalidOptionError, match="header field name"):
        build_pkcs7_mime(b"\x30\x00", smime_type="enveloped-data", outer_headers=[("A B", "x")])


def test_signed_message_survives_reparsing_with_every_policy() -> None:
    prepared = prepare_entity(
        "From: a@example.com\nSubject: Grüße " + "lang " * 30 + "\n\nZeile mit Leerzeichen \n"
        "From hier\nÄ\n"
    )
    wire = build_multipart_signed(
        prepared.entity, SIGNATURE, micalg="sha256", outer_headers=prepared.outer_headers
    ).as_bytes()
    for policy in (email.policy.default, email.policy.SMTP, email.policy.compat32):
        again = email.message_from_bytes(wire, policy=policy).as_bytes()
        found = find_smime_part(again)
        assert found is not None and found.signed_content == prepared.entity


# ---------------------------------------------------------------- parse_inner


def test_parse_inner_puts_outer_headers_in_front() -> None:
    inner = parse_inner(ENTITY, OUTER)
    assert inner.as_bytes() == (
        b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n"
        b"Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
        b"Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n" + ENTITY
    )
    assert str(inner["Subject"]) == "Grüße aus Köln"
    assert inner.get_content() == "Hello Bob.\r\n"


def test_parse_inner_keeps_headers_the_entity_has() -> None:
    entity = b"From: inner@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nx"
    inner = parse_inner(entity, OUTER)
    assert inner.get_all("From") == ["inner@example.com"]
    assert inner.get_all("MIME-Version") == ["1.0"]
    assert inner["To"] == "bob@example.com"


def test_parse_inner_without_outer_headers_is_the_entity() -> None:
    assert parse_inner(ENTITY, ()).as_bytes() == ENTITY
    assert parse_inner(ENTITY.replace(b"\r\n", b"\n")).as_bytes() == ENTITY


def test_parse_inner_turns_bare_content_into_a_body() -> None:
    inner = parse_inner(b"Hello: this is not a header line\x00\n", OUTER[:1])
    assert inner["From"] == "Alice <alice@example.com>"
    assert inner.get_content_type() == "text/plain"
    assert parse_inner(b"just text\n", ()).get_payload() == "just text\r\n"  # wire form: CRLF
    assert parse_inner(b"", OUTER[:1])["From"] == "Alice <alice@example.com>"
    empty = parse_inner(b"", ())
    assert len(empty) == 0 and empty.get_payload() == ""


def test_parse_inner_result_is_an_email_message_with_wire_policy() -> None:
    inner = parse_inner(ENTITY, OUTER)
    assert to_message(inner) is inner
    assert inner.policy.linesep == "\r\n"
