"""Loading identities and certificates, and the test PKI itself."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID
from helpers import run

import smime
from smime.errors import LoadError, UsageError
from smime.keys import certificate_emails, to_asn1_certificate, to_certificate


def test_pkcs12_with_str_or_bytes_password(pki):
    alice = pki["alice"]
    for password in ("secret", b"secret"):
        identity = smime.load_identity(alice.p12_path, password=password)
        assert identity.certificate == alice.certificate
        assert identity.chain == (pki.intermediate.certificate, pki.root.certificate)
    legacy = smime.load_identity(alice.legacy_p12_path.read_bytes(), "secret")
    assert legacy.certificate == alice.certificate


@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", "erin", "frank", "grace"])
def test_pem_certificate_and_key_files(pki, name):
    user = pki[name]
    identity = smime.load_identity(cert=user.cert_path, key=user.key_path,
                                   chain=[pki.intermediate_path])
    assert identity.certificate == user.certificate
    assert identity.chain == (pki.intermediate.certificate,)
    assert identity.email_addresses == (user.email,)
    expected = {"rsa-2048": rsa.RSAPrivateKey, "rsa-3072": rsa.RSAPrivateKey,
                "ec-p256": ec.EllipticCurvePrivateKey, "ec-p384": ec.EllipticCurvePrivateKey,
                "ec-p521": ec.EllipticCurvePrivateKey, "ed25519": ed25519.Ed25519PrivateKey,
                "x25519": x25519.X25519PrivateKey}[user.key_type]
    assert isinstance(identity.key, expected)


def test_encrypted_pem_key_and_combined_pem(pki, tmp_path):
    alice = pki["alice"]
    encrypted = alice.identity.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    identity = smime.load_identity(cert=alice.cert_path.read_bytes(), key=encrypted, password="pw")
    assert identity.certificate == alice.certificate
    with pytest.raises(LoadError, match="password"):
        smime.load_identity(cert=alice.cert_path, key=encrypted)
    with pytest.raises(LoadError, match="wrong password"):
        smime.load_identity(cert=alice.cert_path, key=encrypted, password="nope")
    combined = tmp_path / "alice-all.pem"
    combined.write_bytes(encrypted + alice.cert_path.read_bytes()
                         + pki.intermediate_path.read_bytes())
    both = smime.load_identity(combined, password="pw")
    assert both.certificate == alice.certificate
    assert both.chain == (pki.intermediate.certificate,)


def test_loading_errors_are_load_errors(pki, tmp_path):
    alice, bob = pki["alice"], pki["bob"]
    with pytest.raises(LoadError, match="wrong password"):
        smime.load_identity(alice.p12_path, password="nope")
    with pytest.raises(LoadError, match="does not belong"):
        smime.load_identity(cert=alice.cert_path, key=bob.key_path)
    with pytest.raises(LoadError, match="cannot read"):
        smime.load_identity(tmp_path / "missing.p12", password="x")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 this is not a key store")
    with pytest.raises(LoadError):
        smime.load_identity(junk, password="x")
    with pytest.raises(LoadError):
        smime.load_certificates(junk)
    with pytest.raises(LoadError, match="no certificate"):
        smime.load_certificates(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")
    # how it was called, not what it was given: UsageError
    with pytest.raises(UsageError, match="not both"):
        smime.load_identity(alice.p12_path, cert=alice.cert_path, key=alice.key_path)
    with pytest.raises(UsageError, match="both cert= and key="):
        smime.load_identity(cert=alice.cert_path)


def test_load_certificates_formats(pki, tmp_path, openssl):
    chain_pem = (pki.folder / "chain.pem").read_bytes()
    assert smime.load_certificates(chain_pem) == [pki.intermediate.certificate,
                                                  pki.root.certificate]
    der = pki["bob"].certificate.public_bytes(serialization.Encoding.DER)
    assert smime.load_certificates(der) == [pki["bob"].certificate]
    assert smime.load_certificates(chain_pem.decode()) == smime.load_certificates(chain_pem)
    # a .p7b made by openssl (PKCS#7 certs-only, DER and PEM)
    p7b = tmp_path / "bundle.p7b"
    run(openssl, "crl2pkcs7", "-nocrl", "-certfile", pki.folder / "chain.pem",
        "-outform", "DER", "-out", p7b)
    assert set(c.serial_number for c in smime.load_certificates(p7b)) == {
        pki.intermediate.certificate.serial_number, pki.root.certificate.serial_number}
    pem = run(openssl, "crl2pkcs7", "-nocrl", "-certfile", pki.folder / "chain.pem").stdout
    assert len(smime.load_certificates(pem)) == 2
    assert smime.load_certificates([pki["alice"].certificate, der]) == [
        pki["alice"].certificate, pki["bob"].certificate]


def test_certificate_conversions(pki):
    cert = pki["carol"].certificate
    asn1 = to_asn1_certificate(cert)
    assert to_certificate(asn1) == cert
    assert to_certificate(cert.public_bytes(serialization.Encoding.PEM)) == cert
    assert certificate_emails(asn1) == ("carol@example.com",)


@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", "erin", "frank"])
def test_test_pki_users_are_smime_signers(pki, openssl, name):
    user = pki[name]
    cert = user.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [user.email]
    run(openssl, "verify", "-CAfile", pki.root_path, "-untrusted", pki.intermediate_path,
        "-purpose", "smimesign", user.cert_path)


@pytest.mark.corpus
def test_other_projects_key_stores(corpus):
    mimekit = corpus / "mimekit-smime"
    rsa_user = smime.load_identity(mimekit / "rsa" / "smime.pfx", password="no.secret")
    assert certificate_emails(rsa_user.certificate)
    for name in ("smrsa1.pem", "smec1.pem"):  # OpenSSL's test files: key and cert in one PEM
        identity = smime.load_identity(mimekit / name)
        assert identity.certificate is not None
    tb = smime.load_identity(corpus / "thunderbird-nss" / "mailnews" / "Alice.p12", "nss")
    assert certificate_emails(tb.certificate) == ("alice@example.com",)
