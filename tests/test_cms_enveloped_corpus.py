"""Enveloped data made by other projects (../shared/corpus, read in place)."""

from __future__ import annotations

import email
import email.policy
import warnings
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from asn1crypto import cms, pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from smime.cms.enveloped import decrypt_enveloped_data, describe_enveloped_data
from smime.errors import DecryptionError, ParseError, UnsupportedError
from smime.keys import Identity, load_identity

pytestmark = pytest.mark.corpus

EX_CONTENT = b"This is some sample content."


def _rfc4134_identity(corpus: Path, key: str, cert: str) -> Identity:
    folder = corpus / "rfc4134"
    private = serialization.load_der_private_key((folder / key).read_bytes(), None)
    return Identity(x509.load_der_x509_certificate((folder / cert).read_bytes()), private)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rfc_bob(corpus: Path) -> Identity:
    return _rfc4134_identity(corpus, "BobPrivRSAEncrypt.pri", "BobRSASignByCarl.cer")


def test_rfc4134_5_1_triple_des(corpus: Path, rfc_bob: Identity) -> None:
    der = (corpus / "rfc4134" / "5.1.bin").read_bytes()
    result = decrypt_enveloped_data(der, rfc_bob)
    assert result.content == EX_CONTENT == (corpus / "rfc4134" / "ExContent.bin").read_bytes()
    assert (result.cipher, result.key_management, result.authenticated) == (
        "des-ede3-cbc",
        "rsa-pkcs1v15",
        False,
    )
    (recipient,) = describe_enveloped_data(der).recipients
    assert recipient.issuer == "CN=CarlRSA" and recipient.kind == "key_transport"


def test_rfc4134_5_2_rc2_40(corpus: Path, rfc_bob: Identity) -> None:
    """RC2 with 40-bit effective keys: cryptography's RC2 has 128-bit effective keys only."""
    der = (corpus / "rfc4134" / "5.2.bin").read_bytes()
    summary = describe_enveloped_data(der)
    assert summary.cipher == "rc2-cbc"
    assert [r.kind for r in summary.recipients] == ["key_transport", "kek"]
    with pytest.raises(UnsupportedError, match=r"rc2-cbc \(1\.2\.840\.113549\.3\.2\).*40-bit"):
        decrypt_enveloped_data(der, rfc_bob)


def test_rfc4134_other_key_fails(corpus: Path) -> None:
    diane = _rfc4134_identity(corpus, "DianePrivRSASignEncrypt.pri", "DianeRSASignByCarl.cer")
    with pytest.raises(DecryptionError) as err:
        decrypt_enveloped_data((corpus / "rfc4134" / "5.1.bin").read_bytes(), diane)
    assert str(err.value) == DecryptionError.MESSAGE


@pytest.fixture(scope="module")
def pyca_identity(corpus: Path) -> Identity:
    folder = corpus / "pyca-cryptography" / "x509-custom-ca"
    return load_identity(cert=folder / "rsa_ca.pem", key=folder / "rsa_key.pem")


@pytest.mark.parametrize(
    ("name", "expected", "cipher", "management"),
    [
        ("enveloped-rsa-oaep.pem", b"Hello, world!", "aes-128-cbc", "rsa-oaep"),
        ("enveloped-triple-des.pem", b"Hello, World!\r\n", "des-ede3-cbc", "rsa-pkcs1v15"),
    ],
)
def test_pyca(
    corpus: Path, pyca_identity: Identity, name: str, expected: bytes, cipher: str, management: str
) -> None:
    _kind, _headers, der = pem.unarmor((corpus / "pyca-cryptography" / name).read_bytes())
    result = decrypt_enveloped_data(der, pyca_identity)
    assert (result.content, result.cipher, result.key_management) == (expected, cipher, management)


def test_pyca_for_other_recipients(corpus: Path, pyca_identity: Identity) -> None:
    _kind, _headers, der = pem.unarmor(
        (corpus / "pyca-cryptography" / "enveloped.pem").read_bytes()
    )
    assert len(describe_enveloped_data(der).recipients) == 2
    with pytest.raises(DecryptionError):
        decrypt_enveloped_data(der, pyca_identity)


def test_pyca_no_content(corpus: Path, pyca_identity: Identity) -> None:
    der = (corpus / "pyca-cryptography" / "enveloped-no-content.der").read_bytes()
    assert describe_enveloped_data(der).encrypted_size is None
    with pytest.raises(ParseError, match="no encryptedContent"):
        decrypt_enveloped_data(der, pyca_identity)


def test_asn1crypto_sample_describes(corpus: Path) -> None:
    summary = describe_enveloped_data((corpus / "asn1crypto" / "cms-enveloped.der").read_bytes())
    assert summary.content_type == "enveloped_data" and summary.recipients


# ---------------------------------------------------------------------------- Thunderbird/NSS


@pytest.fixture(scope="module")
def nss_bob(corpus: Path) -> Identity:
    with warnings.catch_warnings():  # NSS wrote BER; cryptography says so and reads it
        warnings.simplefilter("ignore", UserWarning)
        return load_identity(corpus / "thunderbird-nss" / "mailnews" / "Bob.p12", password="nss")


def _enveloped_parts(msg: Message) -> Iterator[bytes]:
    """DER of every enveloped-data part, looking inside opaque signed layers (test-only MIME)."""
    for part in msg.walk():
        if part.get_content_type() not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            continue
        der = part.get_payload(decode=True)
        assert isinstance(der, bytes)
        info = cms.ContentInfo.load(der)
        if info["content_type"].native == "enveloped_data":
            yield der
        elif info["content_type"].native == "signed_data":
            inner = info["content"]["encap_content_info"]["content"].native
            yield from _enveloped_parts(
                email.message_from_bytes(inner, policy=email.policy.default)
            )


def _env_emails(corpus: Path) -> list[Path]:
    return sorted((corpus / "thunderbird-nss").glob("*/*.env*.eml"))


def test_thunderbird_enveloped_messages(corpus: Path, nss_bob: Identity) -> None:
    files = _env_emails(corpus)
    assert len(files) >= 30
    opened = 0
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parts = list(_enveloped_parts(msg))
        assert parts, f"no enveloped part found in {path.name}"
        for der in parts:
            result = decrypt_enveloped_data(der, nss_bob)
            inner = email.message_from_bytes(result.content, policy=email.policy.default)
            assert inner["Content-Type"], f"{path.name}: the plaintext is not a MIME entity"
            assert result.key_management == "rsa-pkcs1v15"
            opened += 1
    assert opened >= len(files)


def test_thunderbird_raw_blobs_are_for_an_older_bob(corpus: Path, nss_bob: Identity) -> None:
    """The raw ``alice.*.env`` DER files name an older CA ("NSS Test CA") than Bob.p12's
    ("NSS Test CA (RSA)"): OpenSSL cannot decrypt them with Bob.p12 either."""
    blobs = sorted((corpus / "thunderbird-nss" / "mailnews").glob("alice.*.env"))
    assert blobs
    for path in blobs:
        der = path.read_bytes()
        (recipient,) = describe_enveloped_data(der).recipients
        assert recipient.issuer is not None and recipient.issuer.startswith("CN=NSS Test CA,")
        with pytest.raises(DecryptionError):
            decrypt_enveloped_data(der, nss_bob)
