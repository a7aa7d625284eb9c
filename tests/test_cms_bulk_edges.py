"""The framing around an encrypted message's ciphertext, read by hand: malformed DER and BER.

The ciphertext of an EnvelopedData is never handed to asn1crypto (it would be copied at each
nesting level); the identifier and length octets around it are read by the CMS layer
itself. Each broken encoding here must give ``ParseError`` naming the defect, through the
public :func:`describe_enveloped_data` and :func:`decrypt_enveloped_data`, never an
``IndexError`` or a hang; valid BER (indefinite lengths, constructed strings) must decrypt.
"""

from __future__ import annotations

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from helpers import tlv

from smime.cms.enveloped import (
    RecipientSpec,
    create_enveloped_data,
    decrypt_enveloped_data,
    describe_enveloped_data,
)
from smime.errors import ParseError
from smime.keys import Identity
from smime.testing import issue_certificate, make_ca

SECRET = b"Content-Type: text/plain\r\n\r\nThe vault code is 0451.\r\n"
ENVELOPED_DATA = asn1_core.ObjectIdentifier("1.2.840.113549.1.7.3").dump()


class Envelope:
    """A real EnvelopedData taken apart, to be put together again around other content."""

    def __init__(self, der: bytes) -> None:
        enveloped = asn1_cms.ContentInfo.load(der)["content"]
        eci = enveloped["encrypted_content_info"]
        self.head = enveloped["version"].dump() + enveloped["recipient_infos"].dump()
        self.algorithm = eci["content_type"].dump() + eci["content_encryption_algorithm"].dump()
        self.ciphertext: bytes = eci["encrypted_content"].native

    def around(self, encrypted_content: bytes) -> bytes:
        """The ContentInfo with ``encrypted_content`` as the encryptedContent element."""
        eci = tlv(0x30, self.algorithm, encrypted_content)
        return tlv(0x30, ENVELOPED_DATA, tlv(0xA0, tlv(0x30, self.head, eci)))


@pytest.fixture(scope="module")
def recipient() -> Identity:
    ca = make_ca("Framing CA", key_type="ec-p256")
    return issue_certificate(ca, "vault@example.com", key_type="ec-p256")


@pytest.fixture(scope="module")
def envelope(recipient: Identity) -> Envelope:
    der = create_enveloped_data(SECRET, [RecipientSpec(recipient.certificate)],
                                cipher="aes-128-cbc")
    return Envelope(der)


def test_control_rebuilt_envelope_decrypts(envelope: Envelope, recipient: Identity) -> None:
    der = envelope.around(tlv(0x80, envelope.ciphertext))  # [0] IMPLICIT OCTET STRING
    assert decrypt_enveloped_data(der, recipient).content == SECRET
    assert describe_enveloped_data(der).encrypted_size == len(envelope.ciphertext)


def test_ber_constructed_indefinite_ciphertext_decrypts(
    envelope: Envelope, recipient: Identity
) -> None:
    """Segments of every size, one inside a nested constructed string, as BER allows."""
    c = envelope.ciphertext
    segments = (
        tlv(0x04, c[:5])
        + tlv(0x24, tlv(0x04, c[5:16]), tlv(0x04, b""), tlv(0x04, c[16:40]))
        + b"\x24\x80" + tlv(0x04, c[40:41]) + b"\x00\x00"
        + tlv(0x04, c[41:])
    )
    der = envelope.around(b"\xa0\x80" + segments + b"\x00\x00")
    assert decrypt_enveloped_data(der, recipient).content == SECRET
    assert describe_enveloped_data(der).encrypted_size == len(c)


def _deep_octets(levels: int) -> bytes:
    inner = tlv(0x04, b"x")
    for _ in range(levels):
        inner = tlv(0x24, inner)
    return tlv(0xA0, inner)


WHOLE_INPUT = {
    "indefinite-nesting-too-deep": (b"\x30\x80" * 70 + b"\x00\x00" * 70, "nested deeper than"),
    "truncated-high-tag": (b"\x9f\x81", "truncated tag at byte 0"),
    "tag-number-too-large": (b"\x9f\x81\x81\x81\x81\x01\x00", "tag number too large"),
    "no-length-after-high-tag": (b"\x9f\x01", "truncated at byte 0"),
    "one-byte": (b"\x30", "truncated at byte 0"),
    "indefinite-primitive": (b"\x04\x80\x00\x00", "indefinite length on a primitive"),
    "missing-end-of-contents": (b"\x30\x80\x04\x01\x41", "missing end-of-contents"),
    "nine-length-octets": (b"\x30\x89" + b"\x00" * 9, "a length of 9 octets"),
    "length-octets-cut": (b"\x30\x84\x00\x00", "truncated length"),
    "length-past-the-end": (b"\x30\x05\x02\x01\x00", "claims 5 bytes, only 3 remain"),
    "primitive-sequence": (b"\x10\x00", "expected a constructed element"),
}


@pytest.mark.parametrize(("der", "defect"), WHOLE_INPUT.values(), ids=WHOLE_INPUT.keys())
def test_malformed_framing_is_a_parse_error(der: bytes, defect: str) -> None:
    with pytest.raises(ParseError, match=defect):
        describe_enveloped_data(der)


INSIDE = {
    "string-holding-an-integer": (tlv(0xA0, tlv(0x02, b"\x00")), "holds a non-string"),
    "strings-nested-too-deep": (_deep_octets(70), "nested deeper than"),
    "high-tag-number-element": (b"\x9f\x81\x01\x01\x00", "bad encryptedContentInfo"),
    "segment-past-its-string": (b"\xa0\x03\x04\x05\x00", "claims 5 bytes, only 1 remain"),
}


@pytest.mark.parametrize(("content", "defect"), INSIDE.values(), ids=INSIDE.keys())
def test_malformed_encrypted_content_is_a_parse_error(
    envelope: Envelope, recipient: Identity, content: bytes, defect: str
) -> None:
    der = envelope.around(content)
    with pytest.raises(ParseError, match=defect):
        describe_enveloped_data(der)
    with pytest.raises(ParseError, match=defect):
        decrypt_enveloped_data(der, recipient)


def test_sane_nesting_depth_is_accepted(envelope: Envelope, recipient: Identity) -> None:
    """Sixty levels of constructed strings are odd but legal: only the limit is refused."""
    c = envelope.ciphertext
    inner = tlv(0x04, c)
    for _ in range(60):
        inner = tlv(0x24, inner)
    assert decrypt_enveloped_data(envelope.around(tlv(0xA0, inner)), recipient).content == SECRET
