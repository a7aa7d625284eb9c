"""``load_identity`` takes the key forms other tools write and cryptography's own objects,
and every refusal says its real cause."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.serialization import pkcs12

import smime
from smime.errors import LoadError, PasswordError, UsageError
from smime.testing import TestPKI

LETTER = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: k\r\n\r\nhello\r\n"


def _works(identity: smime.Identity, pki: TestPKI) -> None:
    """The loaded identity signs and decrypts: its key really is the certificate's."""
    signed = smime.sign(LETTER, identity)
    [signer] = smime.verify(signed, trust=pki.root_path, certificates=pki.intermediate_path).signers
    assert signer.signature_valid and signer.trusted
    sealed = smime.encrypt(LETTER, identity.certificate)
    assert smime.decrypt(sealed, identity).get_payload().strip() == "hello"


@pytest.mark.parametrize("name", ["alice", "carol", "erin"])
def test_certificate_and_key_objects_make_an_identity(pki: TestPKI, name: str) -> None:
    user = pki[name]
    key = serialization.load_pem_private_key(user.key_path.read_bytes(), None)
    identity = smime.load_identity(cert=user.certificate, key=key)  # type: ignore[arg-type]
    assert identity.certificate == user.certificate
    if name != "erin":
        _works(identity, pki)
    asn1 = asn1_x509.Certificate.load(
        user.certificate.public_bytes(serialization.Encoding.DER)
    )
    assert smime.load_identity(cert=asn1, key=key).certificate == user.certificate  # type: ignore[arg-type]


def test_cryptographys_pkcs12_object_is_an_identity(pki: TestPKI) -> None:
    user = pki["alice"]
    assert user.p12_path is not None
    loaded = pkcs12.load_pkcs12(user.p12_path.read_bytes(), pki.password.encode())
    identity = smime.load_identity(loaded)
    assert identity.certificate == user.certificate
    assert set(identity.chain) == {pki.intermediate.certificate, pki.root.certificate}
    _works(identity, pki)


def test_a_pkcs12_object_without_a_key_says_so(pki: TestPKI) -> None:
    empty = pkcs12.PKCS12KeyAndCertificates(None, None, [])
    with pytest.raises(LoadError, match="holds no private key"):
        smime.load_identity(empty)


def test_a_key_object_of_an_unused_type_names_it(pki: TestPKI) -> None:
    with pytest.raises(LoadError, match="unsupported private key type DSAPrivateKey"):
        smime.load_identity(cert=pki["alice"].certificate, key=dsa.generate_private_key(2048))  # type: ignore[arg-type]


def test_a_key_object_of_another_certificate_is_refused(pki: TestPKI) -> None:
    key = serialization.load_pem_private_key(pki["bob"].key_path.read_bytes(), None)
    with pytest.raises(LoadError, match="does not belong to the certificate"):
        smime.load_identity(cert=pki["alice"].certificate, key=key)  # type: ignore[arg-type]


def test_a_wrong_key_argument_is_a_usage_error(pki: TestPKI) -> None:
    with pytest.raises(UsageError, match="a cryptography private key, PEM/DER bytes"):
        smime.load_identity(cert=pki["alice"].certificate, key=123)  # type: ignore[arg-type]


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines,
                       f"-----END {label}-----".encode(), b""])


def test_a_pkcs1_rsa_key_under_a_pkcs8_label_loads(pki: TestPKI, tmp_path: Path) -> None:
    """Go and OpenSSL read this mislabelled form; cryptography's PEM loader refuses it."""
    user = pki["alice"]
    key = serialization.load_pem_private_key(user.key_path.read_bytes(), None)
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    mislabelled = tmp_path / "alice-pkcs1.key"
    mislabelled.write_bytes(_pem("PRIVATE KEY", pkcs1))
    with pytest.raises(ValueError):  # the case: cryptography alone cannot read the file
        serialization.load_pem_private_key(mislabelled.read_bytes(), None)
    identity = smime.load_identity(cert=user.cert_path, key=mislabelled)
    _works(identity, pki)
    # the same file with the certificate in it, as one source
    both = tmp_path / "alice-both.pem"
    both.write_bytes(mislabelled.read_bytes() + user.cert_path.read_bytes())
    assert smime.load_identity(both).certificate == user.certificate


OPENSSL_FORMS = {
    "pkey (PKCS#8)": ["pkey"],
    "pkey -traditional (PKCS#1)": ["pkey", "-traditional"],
    "rsa -traditional (PKCS#1)": ["rsa", "-traditional"],
    "pkey DER": ["pkey", "-outform", "DER"],
    "rsa -traditional DER": ["rsa", "-traditional", "-outform", "DER"],
    "pkey -aes256 (encrypted PKCS#8)": ["pkey", "-aes256", "-passout", "pass:secret"],
    "rsa -traditional -aes256 (encrypted PKCS#1)": [
        "rsa", "-traditional", "-aes256", "-passout", "pass:secret",
    ],
}


@pytest.mark.parametrize("form", OPENSSL_FORMS)
def test_key_files_openssl_writes_load(
    pki: TestPKI, tmp_path: Path, openssl: str, form: str
) -> None:
    user = pki["bob"]
    out = tmp_path / "bob-openssl.key"
    subprocess.run(
        [openssl, *OPENSSL_FORMS[form], "-in", str(user.key_path), "-out", str(out)],
        check=True, capture_output=True, timeout=60,
    )
    password = "secret" if "aes256" in form else None
    identity = smime.load_identity(cert=user.cert_path, key=out, password=password)
    assert identity.certificate == user.certificate
    _works(identity, pki)


NOT_A_KEY = r"not a private key in PKCS#8, PKCS#1 \(RSA\) or SEC1 \(EC\)"
GARBAGE_PEM = b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("key", "words"),
    [
        pytest.param(lambda pki: pki["alice"].cert_path,
                     r"holds no private key \(it holds CERTIFICATE\)", id="certificate as key"),
        pytest.param(lambda pki: GARBAGE_PEM, NOT_A_KEY, id="garbage PEM"),
        pytest.param(lambda pki: b"\x30\x03\x02\x01\x00", NOT_A_KEY, id="garbage DER"),
    ],
)
def test_a_key_that_cannot_be_read_says_what_it_is_not(pki: TestPKI, key, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LoadError, match=words) as caught:
        smime.load_identity(cert=pki["alice"].cert_path, key=key(pki))
    assert "Could not deserialize" not in str(caught.value)
    assert not isinstance(caught.value, PasswordError)


def test_pkcs12_refusals_name_their_cause(pki: TestPKI) -> None:
    p12 = pki["alice"].p12_path
    assert p12 is not None
    with pytest.raises(PasswordError, match=r"wrong password$") as wrong:
        smime.load_identity(p12, password="not the password")
    assert wrong.value.reason == "wrong"
    with pytest.raises(PasswordError, match=r"it needs a password$") as missing:
        smime.load_identity(p12)
    assert missing.value.reason == "missing"
    with pytest.raises(LoadError, match="not a PKCS#12 file, nor PEM") as neither:
        smime.load_identity(b"hello, I am no key file", password="secret")
    assert not isinstance(neither.value, PasswordError)
