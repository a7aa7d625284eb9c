"""What we write, OpenSSL reads as S/MIME; what OpenSSL writes, we read (MIME level)."""

from __future__ import annotations

import pytest
from helpers import PLAIN, body_text, run

import smime

pytestmark = pytest.mark.interop

CONTENT = (
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    b"Hello from openssl cms.\r\nSecond line.\r\n"
)



SIGNER_PADDINGS = [("alice", "pkcs1v15"), ("alice", "pss"), ("bob", "pkcs1v15"), ("bob", "pss"),
                   ("carol", "pkcs1v15"), ("dave", "pkcs1v15"), ("frank", "pkcs1v15")]


@pytest.mark.parametrize(("name", "padding"), SIGNER_PADDINGS)
@pytest.mark.parametrize("detached", [True, False])
def test_openssl_verifies_what_we_sign(pki, openssl, tmp_path, name, detached, padding):
    user = pki[name]
    signed = smime.sign(PLAIN, user.identity, detached=detached, signature_padding=padding)
    path = tmp_path / "signed.eml"
    path.write_bytes(signed.as_bytes())
    out = tmp_path / "out"
    run(
        openssl,
        "cms",
        "-verify",
        "-in",
        path,
        "-CAfile",
        pki.root_path,
        "-purpose",
        "smimesign",
        "-out",
        out,
    )
    content = out.read_bytes()
    assert b"Balance: 1,234.56 EUR" in content
    assert b"Content-Type: text/plain" in content


OPENSSL_SIGNING = [
    (name, options)
    for name in ("alice", "carol", "dave")
    for options in (["-md", "sha256"], ["-md", "sha384"], ["-md", "sha512"], ["-nodetach"])
] + [("alice", ["-keyopt", "rsa_padding_mode:pss"]), ("bob", ["-keyopt", "rsa_padding_mode:pss"])]


@pytest.mark.parametrize(("name", "options"), OPENSSL_SIGNING)
def test_we_verify_what_openssl_signs(pki, openssl, trust, tmp_path, name, options):
    user = pki[name]
    (tmp_path / "content").write_bytes(CONTENT)
    signed = run(
        openssl,
        "cms",
        "-sign",
        "-in",
        tmp_path / "content",
        "-binary",
        "-signer",
        user.cert_path,
        "-inkey",
        user.key_path,
        "-certfile",
        pki.intermediate_path,
        "-from",
        user.email,
        "-to",
        "bob@example.com",
        "-subject",
        "openssl",
        *options,
    ).stdout
    result = smime.verify(signed, trust=trust)
    assert result.valid, result.summary()
    assert "Hello from openssl cms." in body_text(result.content)
    assert result.signers[0].certificate == user.certificate


def test_openssl_tampered_message_fails_with_us(pki, openssl, trust, tmp_path):
    (tmp_path / "content").write_bytes(CONTENT)
    signed = run(
        openssl,
        "cms",
        "-sign",
        "-in",
        tmp_path / "content",
        "-binary",
        "-signer",
        pki["alice"].cert_path,
        "-inkey",
        pki["alice"].key_path,
        "-certfile",
        pki.intermediate_path,
        "-from",
        "alice@example.com",
    ).stdout
    tampered = signed.replace(b"Hello from openssl", b"Hello from mallory")
    assert tampered != signed
    assert not smime.verify(tampered, trust=trust).valid


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-128-cbc", "aes-256-gcm", "aes-128-gcm"])
@pytest.mark.parametrize("key_transport", ["rsa-oaep", "rsa-pkcs1v15"])
def test_openssl_decrypts_what_we_encrypt(pki, openssl, tmp_path, cipher, key_transport):
    sealed = smime.encrypt(
        PLAIN, pki["bob"].certificate, cipher=cipher, key_transport=key_transport
    )
    path = tmp_path / "sealed.eml"
    path.write_bytes(sealed.as_bytes())
    out = run(
        openssl,
        "cms",
        "-decrypt",
        "-in",
        path,
        "-recip",
        pki["bob"].cert_path,
        "-inkey",
        pki["bob"].key_path,
    ).stdout
    assert b"Balance: 1,234.56 EUR" in out


@pytest.mark.parametrize("name", ["carol", "dave", "frank"])
def test_openssl_decrypts_our_ecdh(pki, openssl, tmp_path, name):
    sealed = smime.encrypt(PLAIN, pki[name].certificate, cipher="aes-128-cbc")
    path = tmp_path / "sealed.eml"
    path.write_bytes(sealed.as_bytes())
    out = run(
        openssl,
        "cms",
        "-decrypt",
        "-in",
        path,
        "-recip",
        pki[name].cert_path,
        "-inkey",
        pki[name].key_path,
    ).stdout
    assert b"Balance: 1,234.56 EUR" in out


@pytest.mark.parametrize(
    "options",
    [
        ["-aes256"],
        ["-aes-256-gcm"],
        ["-aes128"],
        ["-des3"],
        ["-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
    ],
)
def test_we_decrypt_what_openssl_encrypts(pki, openssl, tmp_path, options):
    (tmp_path / "content").write_bytes(CONTENT)
    recipient = ["-recip", str(pki["alice"].cert_path)]
    args = (
        [*options[:1], *recipient, *options[1:]] if "-keyopt" in options else [*options, *recipient]
    )
    sealed = run(
        openssl,
        "cms",
        "-encrypt",
        "-in",
        tmp_path / "content",
        "-binary",
        "-from",
        "bob@example.com",
        "-to",
        "alice@example.com",
        "-subject",
        "sealed",
        *args,
    ).stdout
    opened = smime.decrypt(sealed, pki["alice"].identity)
    assert "Hello from openssl cms." in body_text(opened)
    assert opened["Subject"] == "sealed"
    assert opened.decryption.authenticated == ("-aes-256-gcm" in options)


def test_openssl_decrypts_and_verifies_our_signed_then_encrypted(pki, openssl, tmp_path):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    sealed = smime.encrypt(signed, [pki["bob"].certificate, pki["alice"].certificate])
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    inner = run(
        openssl,
        "cms",
        "-decrypt",
        "-in",
        tmp_path / "sealed.eml",
        "-recip",
        pki["bob"].cert_path,
        "-inkey",
        pki["bob"].key_path,
    ).stdout
    (tmp_path / "inner.eml").write_bytes(inner)
    out = run(
        openssl,
        "cms",
        "-verify",
        "-in",
        tmp_path / "inner.eml",
        "-CAfile",
        pki.root_path,
        "-purpose",
        "smimesign",
    ).stdout
    assert b"Balance: 1,234.56 EUR" in out


def test_openssl_verifies_a_signed_message_with_attachments(pki, openssl, trust, tmp_path):
    """A typical application mail: text, HTML alternative and a binary PDF-like attachment,
    built with the email package, 8-bit text included."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "alice@example.com"
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Kontoauszug für November"
    msg.set_content("Grüße,\nanbei der Auszug.\nFrom the bank\n")
    msg.add_alternative("<p>Grüße, anbei der <b>Auszug</b>.</p>", subtype="html")
    msg.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="pdf",
                       filename="auszug.pdf")
    signed = smime.sign(msg, pki["alice"].identity)
    wire = signed.as_bytes()
    assert wire.isascii()
    path = tmp_path / "signed.eml"
    path.write_bytes(wire)
    out = run(openssl, "cms", "-verify", "-in", path, "-CAfile", pki.root_path,
              "-purpose", "smimesign").stdout
    assert b"auszug.pdf" in out
    result = smime.verify(wire, trust=trust)
    assert result.valid, result.summary()
    attachment = next(result.content.iter_attachments())
    assert attachment.get_content() == bytes(range(256)) * 40
    assert "Grüße" in result.content.get_body(("plain",)).get_content()
