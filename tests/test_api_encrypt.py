"""encrypt(), decrypt(), unwrap(), compress() and certs-only through the public API."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import PLAIN, body_text

import smime
from smime.errors import CertificateError, DecryptionError, InvalidOptionError, ParseError
from smime.testing import issue_certificate

RECIPIENTS = ["alice", "bob", "carol", "dave", "frank", "grace"]



@pytest.mark.parametrize("name", RECIPIENTS)
@pytest.mark.parametrize(
    "cipher", ["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm"]
)
def test_every_recipient_kind_and_cipher(pki, name, cipher):
    user = pki[name]
    sealed = smime.encrypt(PLAIN, user.certificate, cipher=cipher)
    expected_type = "authEnveloped-data" if cipher.endswith("gcm") else "enveloped-data"
    assert sealed.get_content_type() == "application/pkcs7-mime"
    assert sealed.get_param("smime-type") == expected_type
    assert sealed.get_filename() == "smime.p7m"
    assert sealed["Subject"] == "Quarterly statement"
    opened = smime.decrypt(sealed.as_bytes(), user.identity)
    assert "Balance: 1,234.56 EUR" in body_text(opened)
    assert opened["From"] == "Alice <alice@example.com>"
    assert opened.decryption.cipher == cipher
    assert opened.authenticated is cipher.endswith("gcm")


def test_mixed_recipients_each_decrypt(pki):
    names = ["alice", "carol", "grace", "bob"]
    sealed = smime.encrypt(PLAIN, [pki[n].certificate for n in names], cipher="aes-256-gcm")
    for name in names:
        assert "Balance" in body_text(smime.decrypt(sealed, pki[name].identity))
    with pytest.raises(DecryptionError) as err:
        smime.decrypt(sealed, pki["dave"].identity)
    assert str(err.value) == DecryptionError.MESSAGE


def test_recipients_as_pem_bytes_paths_and_old_call_style(pki):
    pem = pki["bob"].certificate.public_bytes(Encoding.PEM)
    for recipient in (pem, pem.decode(), pki["bob"].cert_path, str(pki["bob"].cert_path)):
        sealed = smime.encrypt(PLAIN.decode(), recipient)
        assert "Balance" in body_text(smime.decrypt(sealed, pki["bob"].identity))


def test_auto_cipher_follows_capabilities(pki):
    bob = pki["bob"].certificate
    assert smime.encrypt(PLAIN, bob).get_param("smime-type") == "enveloped-data"
    gcm = smime.encrypt(PLAIN, bob, capabilities=["aes-256-gcm", "aes-256-cbc", "rsa-oaep"])
    assert gcm.get_param("smime-type") == "authEnveloped-data"
    opened = smime.decrypt(gcm, pki["bob"].identity)
    assert opened.decryption.key_management == "rsa-oaep"
    mixed = smime.encrypt(
        PLAIN,
        [bob, pki["alice"].certificate],
        capabilities={"bob@example.com": ["aes-256-gcm"], "alice@example.com": ["aes-256-cbc"]},
    )
    assert mixed.get_param("smime-type") == "enveloped-data"


def test_unusable_certificates_are_refused(pki):
    with pytest.raises(CertificateError, match="erin"):
        smime.encrypt(PLAIN, pki["erin"].certificate)  # Ed25519 cannot encrypt
    signing_only = issue_certificate(
        pki.intermediate, "sig@example.com", key_usage=["digital_signature"]
    )
    with pytest.raises(CertificateError):
        smime.encrypt(PLAIN, signing_only.certificate)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    expired = issue_certificate(
        pki.intermediate, "old@example.com", not_before=past, not_after=past + dt.timedelta(days=30)
    )
    with pytest.raises(CertificateError):
        smime.encrypt(PLAIN, expired.certificate)
    sealed = smime.encrypt(PLAIN, expired.certificate, check_usage=False)
    assert "Balance" in body_text(smime.decrypt(sealed, expired))


def test_option_values_are_checked(pki):
    with pytest.raises(InvalidOptionError, match="aes-256-gcm"):
        smime.encrypt(PLAIN, pki["bob"].certificate, cipher="des")
    with pytest.raises(InvalidOptionError, match="rsa-oaep"):
        smime.encrypt(PLAIN, pki["bob"].certificate, key_transport="rsa")


def test_decrypt_refuses_what_is_not_encrypted(pki):
    with pytest.raises(ParseError):
        smime.decrypt(PLAIN, pki["bob"].identity)
    signed = smime.sign(PLAIN, pki["alice"].identity, detached=False)
    with pytest.raises(ParseError, match="signed"):
        smime.decrypt(signed, pki["alice"].identity)


def test_sign_then_encrypt_then_sign_unwraps(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    sealed = smime.encrypt(signed, [pki["bob"].certificate, pki["alice"].certificate])
    triple = smime.sign(sealed, pki["alice"].identity)
    opened = smime.unwrap(triple, identity=pki["bob"].identity, trust=trust)
    assert [layer.kind for layer in opened.layers] == ["signed", "encrypted", "signed"]
    assert opened.valid and opened.signed and opened.encrypted
    assert "Balance: 1,234.56 EUR" in body_text(opened.content)


def test_encrypt_then_sign_unwraps(pki, trust):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, cipher="aes-256-gcm")
    signed = smime.sign(sealed, pki["alice"].identity, detached=False)
    opened = smime.unwrap(signed, identity=pki["bob"].identity, trust=trust)
    assert [layer.kind for layer in opened.layers] == ["signed", "encrypted"]
    assert opened.layers[1].result.authenticated
    assert "Balance" in body_text(opened.content)


def test_unwrap_needs_identity_for_encrypted(pki, trust):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate)
    with pytest.raises(DecryptionError):
        smime.unwrap(sealed, trust=trust)


def test_compressed_round_trip_and_unwrap(pki, trust):
    big = PLAIN + b"All work and no play makes Jack a dull boy.\r\n" * 500
    compressed = smime.compress(big)
    assert compressed.get_param("smime-type") == "compressed-data"
    assert len(compressed.as_bytes()) < len(big) // 4
    signed = smime.sign(compressed, pki["alice"].identity)
    opened = smime.unwrap(signed, trust=trust)
    assert [layer.kind for layer in opened.layers] == ["signed", "compressed"]
    assert body_text(opened.content).count("dull boy") == 500


def test_certs_only_round_trip(pki):
    certs = [pki["alice"].certificate, pki.intermediate.certificate]
    message = smime.export_certificates(certs)
    assert message.get_param("smime-type") == "certs-only"
    assert message.get_filename() == "smime.p7c"
    key = lambda c: c.serial_number  # noqa: E731 - DER orders a SET OF by encoding
    assert sorted(smime.load_certificates(message.as_bytes()), key=key) == sorted(certs, key=key)
    opened = smime.unwrap(message)
    assert [layer.kind for layer in opened.layers] == ["certs-only"]
    assert sorted(opened.layers[0].result, key=key) == sorted(certs, key=key)


@pytest.mark.interop
def test_openssl_parses_our_compressed_and_certs_only(pki, openssl, tmp_path):
    """This openssl has no zlib (cms -uncompress: "unsupported compression algorithm"), so it
    checks the structure; the corpus tests check we read compressed data others wrote."""
    from helpers import run

    (tmp_path / "c.eml").write_bytes(smime.compress(PLAIN).as_bytes())
    printed = run(openssl, "cms", "-cmsout", "-print", "-in", tmp_path / "c.eml").stdout
    assert b"id-smime-ct-compressedData" in printed
    assert b"zlib" in printed.lower()
    (tmp_path / "certs.p7c").write_bytes(
        smime.export_certificates([pki["alice"].certificate]).as_bytes()
    )
    certs = run(openssl, "pkcs7", "-print_certs", "-in", tmp_path / "certs.p7c", check=False)
    if certs.returncode != 0:  # openssl pkcs7 wants bare PEM/DER: give it the DER
        der = smime.export_certificates([pki["alice"].certificate]).get_payload(decode=True)
        (tmp_path / "certs.der").write_bytes(der)
        certs = run(
            openssl, "pkcs7", "-print_certs", "-inform", "DER", "-in", tmp_path / "certs.der"
        )
    assert b"Alice" in certs.stdout
