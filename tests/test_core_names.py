"""The one name formatter: RFC 4514 text as cryptography writes it, safe on hostile names."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import PLAIN
from hypothesis import given, settings
from hypothesis import strategies as st

import smime
from smime.core.names import (
    UNREADABLE,
    certificate_label,
    issuer_text,
    name_text,
    subject_text,
)
from smime.testing import TestPKI as PKI

_KEY = ec.generate_private_key(ec.SECP256R1())
_NOW = dt.datetime.now(dt.timezone.utc)


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _certificate(subject: x509.Name, serial: int = 0x1F) -> x509.Certificate:
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(_name(
            (NameOID.COMMON_NAME, "Issuing CA"), (NameOID.ORGANIZATION_NAME, "Example"),
        ))
        .public_key(_KEY.public_key()).serial_number(serial)
        .not_valid_before(_NOW).not_valid_after(_NOW + dt.timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )


def _unparsable_subject() -> x509.Certificate:
    """A certificate whose subject CN is not UTF-8: cryptography refuses to read it."""
    cert = _certificate(_name((NameOID.COMMON_NAME, "ZZZZ"),
                              (NameOID.EMAIL_ADDRESS, "alice@example.com")))
    der = cert.public_bytes(serialization.Encoding.DER).replace(b"ZZZZ", b"\xff\xfe\x00\x01")
    broken = x509.load_der_x509_certificate(der)
    with pytest.raises(ValueError, match="ParseError"):
        broken.subject  # noqa: B018 - the premise: cryptography leaks its debug text
    return broken


ALICE = _name((NameOID.COMMON_NAME, "Alice"), (NameOID.ORGANIZATION_NAME, "Example"),
              (NameOID.EMAIL_ADDRESS, "alice@example.com"), (NameOID.SERIAL_NUMBER, "42"))


def test_rfc4514_text_most_specific_first() -> None:
    assert name_text(ALICE) == (
        "2.5.4.5=42,1.2.840.113549.1.9.1=alice@example.com,O=Example,CN=Alice"
    )
    assert name_text(ALICE, readable=True) == (
        "serialNumber=42,emailAddress=alice@example.com,O=Example,CN=Alice"
    )


def test_every_spelling_of_a_name_gives_the_same_text() -> None:
    der = ALICE.public_bytes()
    assert name_text(der) == name_text(asn1_x509.Name.load(der)) == name_text(ALICE)
    assert name_text(memoryview(der)) == name_text(ALICE)


_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                max_size=20)
_ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20)
_UTF8_OIDS = st.sampled_from([NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME,
                              NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.LOCALITY_NAME,
                              NameOID.STREET_ADDRESS, NameOID.USER_ID, NameOID.TITLE,
                              NameOID.GIVEN_NAME])
_IA5_OIDS = st.sampled_from([NameOID.EMAIL_ADDRESS, NameOID.DOMAIN_COMPONENT])
_ATTRIBUTES = st.one_of(st.tuples(_UTF8_OIDS, _TEXT), st.tuples(_IA5_OIDS, _ASCII))


@given(st.lists(_ATTRIBUTES, min_size=1, max_size=5))
@settings(max_examples=300, deadline=None)
def test_matches_cryptography_on_printable_names(
    attributes: list[tuple[x509.ObjectIdentifier, str]],
) -> None:
    if any(value.strip(" ") == "" for _, value in attributes):
        return  # cryptography escapes an all-space value twice ("\\\\ "); RFC 4514 once
    name = _name(*attributes)
    assert name_text(name) == name.rfc4514_string()


@pytest.mark.parametrize(("value", "text"), [
    ("a,b+c", "a\\,b\\+c"),
    ('"<x>";\\', '\\"\\<x\\>\\"\\;\\\\'),
    ("#1", "\\#1"),
    (" lead", "\\ lead"),
    ("trail ", "trail\\ "),
    (" ", "\\ "),
    ("  ", "\\ \\ "),
    ("back\\ ", "back\\\\\\ "),  # an escaped backslash, then the escaped space
    ("a=b", "a=b"),
    ("\x1b[2J\x1b[31mEvil", "\\1B[2J\\1B[31mEvil"),  # terminal escapes: shown, not sent
    ("line\nbreak\r", "line\\0Abreak\\0D"),
    ("nul\x00", "nul\\00"),
    ("c1\x85\x9b", "c1\\C2\\85\\C2\\9B"),
    ("del\x7f", "del\\7F"),
    ("lines\u2028\u2029", "lines\\E2\\80\\A8\\E2\\80\\A9"),
    ("bidi\u202e", "bidi\u202e"),  # not a line break: the CLI escapes it for the terminal
    ("Ünïcødé ✓", "Ünïcødé ✓"),
])
def test_values_are_escaped(value: str, text: str) -> None:
    assert name_text(_name((NameOID.COMMON_NAME, value))) == f"CN={text}"


def test_a_value_without_a_string_form_is_hex() -> None:
    atv = asn1_x509.NameTypeAndValue({"type": "1.2.3.4", "value": core.Integer(5)})
    name = asn1_x509.Name.load(asn1_x509.Name(
        name="", value=asn1_x509.RDNSequence([asn1_x509.RelativeDistinguishedName([atv])]),
    ).dump())
    assert name_text(name) == "1.2.3.4=#020105"


def test_a_certificate_cryptography_cannot_read_the_subject_of() -> None:
    cert = _unparsable_subject()
    assert subject_text(cert) == "1.2.840.113549.1.9.1=alice@example.com,CN=#0c04fffe0001"
    assert subject_text(cert, readable=True).startswith("emailAddress=alice@example.com,")
    assert issuer_text(cert) == "O=Example,CN=Issuing CA"
    assert certificate_label(cert) == (
        "'1.2.840.113549.1.9.1=alice@example.com,CN=#0c04fffe0001' (serial 0x1f)"
    )
    assert certificate_label(cert, short=True) == (
        "'1.2.840.113549.1.9.1=alice@example.com,CN=#0c04fffe0001'"
    )


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x31\x01\x30", b"\x04\x00"])
def test_an_unreadable_name_is_said_so(data: bytes) -> None:
    text = name_text(data)
    assert text == UNREADABLE or text == ""  # an empty SEQUENCE is the empty name
    assert "ParseError" not in text


def test_the_empty_name() -> None:
    assert name_text(x509.Name([])) == ""


def test_certificate_labels() -> None:
    cert = _certificate(ALICE, serial=0xABC)
    assert certificate_label(cert) == (
        "'2.5.4.5=42,1.2.840.113549.1.9.1=alice@example.com,O=Example,CN=Alice' (serial 0xabc)"
    )
    assert certificate_label(cert, short=True) == "'Alice'"
    nameless = _certificate(_name((NameOID.ORGANIZATION_NAME, "Example")))
    assert certificate_label(nameless, short=True) == "'O=Example'"
    hostile = _certificate(_name((NameOID.COMMON_NAME, "Mallory\x1b[0m")))
    assert certificate_label(hostile, short=True) == "'Mallory\\x1b[0m'"
    assert certificate_label(hostile) == "'CN=Mallory\\\\1B[0m' (serial 0x1f)"


def test_inspection_names_a_signer_cryptography_cannot_read(pki: PKI) -> None:
    """The signer's subject has a CN that is not UTF-8: inspect shows the name, with the
    value RFC 4514's hex form, and no debug text from a dependency."""
    alice = pki["alice"]
    good = alice.certificate.public_bytes(serialization.Encoding.DER)
    subject = asn1_x509.Certificate.load(good)["tbs_certificate"]["subject"].dump()
    start = subject.index(b"Alice")
    bad = good.replace(subject, subject[:start] + b"\xff" * 5 + subject[start + 5:])
    message = smime.sign(PLAIN, alice.identity).as_bytes()
    body = re.search(rb"\r\n\r\n(MII[A-Za-z0-9+/=\r\n]+)", message)
    assert body is not None
    signature = base64.b64decode(body.group(1))
    forged = base64.encodebytes(signature.replace(good, bad)).replace(b"\n", b"\r\n")
    text = str(smime.inspect(message.replace(body.group(1), forged)))
    assert "ParseError" not in text
    assert "subject: 1.2.840.113549.1.9.1=alice@example.com,CN=#0c" in text
