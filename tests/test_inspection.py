"""smime.inspect: the tree of MIME parts and CMS layers, as text, HTML and JSON."""

from __future__ import annotations

import json

import pytest
from helpers import PLAIN

import smime


def test_detached_signature_tree(pki):
    tree = smime.inspect(smime.sign(PLAIN, pki["alice"].identity))
    assert tree.kind == "mime" and tree.title == "multipart/signed"
    assert tree.field("protocol") == "application/pkcs7-signature"
    assert tree.field("micalg") == "sha-256"
    assert tree.field("subject") == "Quarterly statement"
    (signed,) = tree.find("signed-data")
    assert "detached" in signed.title
    (signer,) = tree.find("signer")
    assert signer.title == "alice@example.com"
    assert signer.field("digest") == "sha256"
    assert signer.field("signature") == "rsa-pkcs1v15"
    assert signer.field("intact") == "yes" and signer.field("signature valid") == "yes"
    assert "aes-256-gcm" in (signer.field("capabilities") or "")
    assert "signing-time" in (signer.field("signed attributes") or "")
    certs = tree.find("certificate")
    assert {c.field("key") for c in certs} >= {"RSA 2048"}
    alice = next(c for c in certs if c.field("email") == "alice@example.com")
    assert "emailProtection" in (alice.field("extended key usage") or "")
    text = str(tree)
    assert "multipart/signed" in text and "alice@example.com" in text and "RSA 2048" in text


def test_opaque_signature_shows_the_content_inside(pki):
    tree = smime.inspect(smime.sign(PLAIN, pki["carol"].identity, detached=False))
    assert tree.title == "application/pkcs7-mime"
    (signed,) = tree.find("signed-data")
    assert "content inside" in signed.title
    assert any(node.title == "text/plain" for node in signed.walk())
    assert tree.find("signer")[0].field("signature") == "ecdsa"


def test_encrypted_without_and_with_identity(pki):
    sealed = smime.encrypt(PLAIN, [pki["bob"].certificate, pki["carol"].certificate],
                           cipher="aes-256-gcm")
    tree = smime.inspect(sealed)
    (layer,) = tree.find("authenticated-enveloped-data")
    assert layer.field("cipher") == "aes-256-gcm"
    recipients = tree.find("recipient")
    assert len(recipients) == 2
    assert {r.field("kind") for r in recipients} == {"key_transport", "key_agreement"}
    assert not tree.find("decrypted")
    opened = smime.inspect(sealed, identity=pki["bob"].identity)
    (decrypted,) = opened.find("decrypted")
    assert decrypted.field("authenticated") == "yes"
    assert any(n.title == "text/plain" for n in decrypted.walk())


def test_wrong_identity_says_so(pki):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate)
    tree = smime.inspect(sealed, identity=pki["alice"].identity)
    assert any("could not decrypt" in n.title for n in tree.find("error"))


def test_compressed_and_nested(pki):
    nested = smime.sign(smime.compress(PLAIN), pki["alice"].identity)
    tree = smime.inspect(nested)
    (compressed,) = tree.find("compressed-data")
    assert compressed.field("uncompressed size", ) is not None
    assert any(n.title == "text/plain" for n in compressed.walk())


def test_certs_only(pki):
    tree = smime.inspect(smime.export_certificates([pki["alice"].certificate]))
    (bundle,) = tree.find("certs-only")
    assert [c.field("email") for c in bundle.find("certificate")] == ["alice@example.com"]


def test_json_round_trip(pki):
    tree = smime.inspect(smime.encrypt(smime.sign(PLAIN, pki["alice"].identity),
                                       pki["bob"].certificate), identity=pki["bob"].identity)
    data = json.loads(json.dumps(tree.to_dict()))
    assert data["title"] == "application/pkcs7-mime"
    assert data == tree.to_dict()

    def kinds(node):
        yield node["kind"]
        for child in node["children"]:
            yield from kinds(child)

    assert {"enveloped-data", "decrypted", "signed-data", "signer"} <= set(kinds(data))


def test_html_escapes_hostile_headers_and_cuts_long_values(pki):
    hostile = PLAIN.replace(
        b"Subject: Quarterly statement",
        b"Subject: <script>alert(1)</script>" + b"x" * 5000,
    )
    html = smime.inspect(smime.sign(hostile, pki["alice"].identity))._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "bytes)" in html  # cut, with the size
    assert len(html) < 40000
    assert "<details" in html and "javascript" not in html.lower()


def _nested(depth: int) -> bytes:
    parts = [b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
             for i in range(depth)]
    tail = b"Content-Type: text/plain\r\n\r\n<b>hi</b>\r\n"
    return b"From: x@example.com\r\n" + b"".join(parts) + tail


def test_hostile_nesting_renders_safely_or_is_refused():
    tree = smime.inspect(_nested(20))
    assert len(tree.find("mime")) == 21
    with pytest.raises(smime.errors.ParseError, match="deep"):
        smime.inspect(_nested(300))


def test_result_views(pki, trust):
    result = smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=trust)
    html = result._repr_html_()
    assert "signature valid" in html and "alice@example.com" in html
    bad = smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=smime.TrustStore())
    assert "NOT valid" in bad._repr_html_()
    opened = smime.decrypt(smime.encrypt(PLAIN, pki["bob"].certificate), pki["bob"].identity)
    assert "NOT authenticated" in opened._repr_html_()


@pytest.mark.corpus
def test_corpus_messages_inspect(corpus):
    folder = corpus / "thunderbird-nss" / "mailnews"
    bob = smime.load_identity(folder / "Bob.p12", password="nss")
    tree = smime.inspect((folder / "alice.sig.SHA256.opaque.env.eml").read_bytes(), identity=bob)
    assert tree.find("enveloped-data") and tree.find("decrypted")
    assert tree.find("signer")[0].title == "alice@example.com"
    browser = corpus / "thunderbird-nss" / "browser"
    mixed = smime.inspect((browser / "alice.dsig.SHA256.multipart.in.mixed.eml").read_bytes())
    assert mixed.title == "multipart/mixed" and mixed.find("signer")
