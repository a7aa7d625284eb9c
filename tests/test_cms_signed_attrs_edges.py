"""SMIMEEncryptionKeyPreference in all its forms, and signingTime from a naive datetime.

We write the issuerAndSerialNumber form; other agents write the recipientKeyId form
(RFC 8551 section 2.5.3) or only Microsoft's twin attribute (Outlook). Those messages are
built here by hand, DER element by DER element, and signed for real, so the reader is
tested on exactly the bytes another client would send.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import tlv

from smime.cms.signed import (
    EncryptionKeyPreference,
    SignerCheck,
    SignerSpec,
    create_signed_data,
    verify_signed_data,
)
from smime.keys import Identity
from smime.testing import issue_certificate, make_ca

CONTENT = b"Content-Type: text/plain\r\n\r\nEncrypt to my other certificate, please.\r\n"
KEY_PREFERENCE = "1.2.840.113549.1.9.16.2.11"
MS_KEY_PREFERENCE = "1.3.6.1.4.1.311.16.4"


def oid(dotted: str) -> bytes:
    return asn1_core.ObjectIdentifier(dotted).dump()  # type: ignore[no-any-return]


def attribute(kind: str, *values: bytes) -> bytes:
    return tlv(0x30, oid(kind), tlv(0x31, *values))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def issuer_and_serial(cert: x509.Certificate) -> bytes:
    return asn1_cms.IssuerAndSerialNumber({  # type: ignore[no-any-return]
        "issuer": asn1_cms.Name.load(cert.issuer.public_bytes()),
        "serial_number": cert.serial_number,
    }).dump()


def ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def signed_data(signer: Identity, extra_attributes: list[bytes], *certs: x509.Certificate) -> bytes:
    """A SignedData over CONTENT whose signed attributes hold ``extra_attributes``."""
    attributes = [
        attribute("1.2.840.113549.1.9.3", oid("1.2.840.113549.1.7.1")),
        attribute("1.2.840.113549.1.9.4", tlv(0x04, hashlib.sha256(CONTENT).digest())),
        *extra_attributes,
    ]
    signed_set = tlv(0x31, *sorted(attributes))  # DER: a SET OF in sorted order
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    signature = signer.key.sign(signed_set, ec.ECDSA(hashes.SHA256()))
    sha256 = tlv(0x30, oid("2.16.840.1.101.3.4.2.1"))
    signer_info = tlv(
        0x30, b"\x02\x01\x01", issuer_and_serial(signer.certificate), sha256,
        b"\xa0" + signed_set[1:],  # the same SET OF, tagged [0] IMPLICIT
        tlv(0x30, oid("1.2.840.10045.4.3.2")), tlv(0x04, signature),
    )
    body = tlv(
        0x30, b"\x02\x01\x01", tlv(0x31, sha256),
        tlv(0x30, oid("1.2.840.113549.1.7.1"), tlv(0xA0, tlv(0x04, CONTENT))),
        tlv(0xA0, der(signer.certificate), *(der(c) for c in certs)),
        tlv(0x31, signer_info),
    )
    return tlv(0x30, oid("1.2.840.113549.1.7.2"), tlv(0xA0, body))


@pytest.fixture(scope="module")
def ca() -> Identity:
    return make_ca("Key Preference CA", key_type="ec-p256")


@pytest.fixture(scope="module")
def signer(ca: Identity) -> Identity:
    return issue_certificate(ca, "sig@example.com", key_type="ec-p256")


@pytest.fixture(scope="module")
def encryption(ca: Identity) -> Identity:
    return issue_certificate(ca, "sig@example.com", key_type="ec-p256",
                             key_usage=["key_agreement"])


@pytest.fixture(scope="module")
def without_ski(ca: Identity) -> x509.Certificate:
    """A certificate with no subjectKeyIdentifier extension at all."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=No SKI"))
        .issuer_name(ca.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )


def _only_signer(data: bytes) -> SignerCheck:
    info = verify_signed_data(data)
    assert len(info.signers) == 1
    check = info.signers[0]
    assert check.verified, check.problems
    return check


def test_issuer_and_serial_preference_names_exactly_one_certificate(
    signer: Identity, encryption: Identity, ca: Identity
) -> None:
    spec = SignerSpec(signer, encryption_certificate=encryption.certificate)
    naive = dt.datetime(2031, 5, 6, 7, 8, 9)  # taken as UTC
    info = verify_signed_data(create_signed_data(CONTENT, [spec], detached=False,
                                                 signing_time=naive))
    check = info.signers[0]
    assert check.verified
    assert check.signing_time == naive.replace(tzinfo=dt.timezone.utc)
    assert "encryption-key-preference" in check.signed_attributes
    preference = check.encryption_key_preference
    assert preference is not None
    assert preference.serial_number == encryption.certificate.serial_number
    assert preference.subject_key_identifier is None
    assert preference.matches(encryption.certificate)
    assert not preference.matches(signer.certificate)  # same issuer, another serial
    assert not preference.matches(ca.certificate)  # another issuer
    assert str(preference) == (  # RFC 4514 order: most specific first
        f"CN=Key Preference CA,O=smime Test PKI, serial {encryption.certificate.serial_number:#x}"
    )


def test_recipient_key_id_preference_matches_by_subject_key_identifier(
    signer: Identity, encryption: Identity, without_ski: x509.Certificate
) -> None:
    key_id = ski(encryption.certificate)
    choice = tlv(0xA1, tlv(0x04, key_id))  # recipientKeyId [1] IMPLICIT RecipientKeyIdentifier
    check = _only_signer(signed_data(signer, [attribute(KEY_PREFERENCE, choice)],
                                     encryption.certificate))
    preference = check.encryption_key_preference
    assert preference == EncryptionKeyPreference(subject_key_identifier=key_id)
    assert preference is not None and preference.matches(encryption.certificate)
    assert not preference.matches(signer.certificate)
    assert not preference.matches(without_ski)
    assert str(preference) == f"subject key identifier {key_id.hex()}"


def test_microsoft_twin_alone_is_read(signer: Identity, encryption: Identity) -> None:
    check = _only_signer(signed_data(
        signer, [attribute(MS_KEY_PREFERENCE, issuer_and_serial(encryption.certificate))],
        encryption.certificate,
    ))
    assert "ms-encryption-key-preference" in check.signed_attributes
    preference = check.encryption_key_preference
    assert preference is not None
    assert preference.matches(encryption.certificate)
    assert preference.issuer_der == encryption.certificate.issuer.public_bytes()


def test_s_mime_preference_wins_over_the_microsoft_twin(
    signer: Identity, encryption: Identity
) -> None:
    """Outlook writes both; when they disagree the standard attribute is the one read."""
    standard = b"\xa0" + issuer_and_serial(encryption.certificate)[1:]  # [0] IMPLICIT
    check = _only_signer(signed_data(signer, [
        attribute(KEY_PREFERENCE, standard),
        attribute(MS_KEY_PREFERENCE, issuer_and_serial(signer.certificate)),
    ]))
    preference = check.encryption_key_preference
    assert preference is not None and preference.matches(encryption.certificate)
    assert not preference.matches(signer.certificate)


def test_malformed_or_empty_preferences_are_ignored(signer: Identity) -> None:
    for attributes in (
        [attribute(MS_KEY_PREFERENCE, b"\x02\x01\x05")],  # an INTEGER, not IssuerAndSerial
        [attribute(MS_KEY_PREFERENCE)],  # no value at all
        [attribute(KEY_PREFERENCE), attribute(MS_KEY_PREFERENCE)],
    ):
        check = _only_signer(signed_data(signer, attributes))
        assert check.encryption_key_preference is None


def test_a_preference_naming_nothing_matches_nothing(encryption: Identity) -> None:
    assert not EncryptionKeyPreference().matches(encryption.certificate)
    assert str(EncryptionKeyPreference()) == "subject key identifier "
