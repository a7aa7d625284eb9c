"""Notebook and REPL views: every value shows what it is, with certificate details, and
escapes what came from outside."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from helpers import PLAIN

import smime
from smime.core.views import card_html, certificate_facts
from smime.testing import TestPKI, issue_certificate


def _facts_shown(html: str, cert: object) -> None:
    assert isinstance(html, str)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":")  # type: ignore[attr-defined]
    assert fingerprint in html
    assert "<th style=\"text-align:left\">key usage</th>" in html


def test_certificate_facts(pki: TestPKI) -> None:
    cert = pki["alice"].certificate
    facts = dict(certificate_facts(cert))
    assert facts["email"] == "alice@example.com"
    assert facts["key"] == "RSA 2048"
    assert "emailProtection" in facts["extended key usage"]
    assert facts["SHA-256 fingerprint"] == cert.fingerprint(hashes.SHA256()).hex(":")
    assert facts["valid"].endswith("UTC") and " .. " in facts["valid"]


def test_hostile_text_is_escaped(pki: TestPKI) -> None:
    evil = issue_certificate(pki.intermediate, "x@example.com",
                             common_name="<script>alert(1)</script>").certificate
    html = card_html("certificate", "<b>t</b>", certificate_facts(evil))
    assert "<script>" not in html and "&lt;script" in html
    assert "<b>t</b>" not in html


def test_identity(pki: TestPKI) -> None:
    alice = pki["alice"].identity
    assert repr(alice) == "Identity('Alice (rsa-2048)', RSA 2048, chain of 2)"
    html = alice._repr_html_()
    _facts_shown(html, alice.certificate)
    assert "smime Test Intermediate CA" in html  # the chain


def test_trust_store(pki: TestPKI) -> None:
    trust = smime.TrustStore.from_pem(pki.root_path)
    html = trust._repr_html_()
    assert "1 certificate" in html and "smime Test Root CA" in html
    _facts_shown(html, pki.root.certificate)


def test_test_pki(pki: TestPKI) -> None:
    assert "alice" in repr(pki) and str(pki.folder) in repr(pki)
    html = pki._repr_html_()
    assert "alice@example.com" in html and "alice.p12" in html


def test_certificate_store(pki: TestPKI, tmp_path: Path) -> None:
    with smime.CertificateStore(tmp_path / "store.db") as store:
        store.add(pki["bob"].certificate)
        html = store._repr_html_()
    assert "bob@example.com" in html and "Bob" in html


def test_results(pki: TestPKI) -> None:
    trust = smime.TrustStore.from_pem(pki.root_path)
    signed = smime.sign(PLAIN, pki["alice"].identity)
    sealed = smime.encrypt(signed, pki["bob"].certificate)
    opened = smime.unwrap(sealed.as_bytes(), identity=pki["bob"].identity, trust=trust)
    assert opened.valid
    text = repr(opened)
    assert "_lazy" not in text and "WireMessage" not in text
    assert text == "UnwrapResult(encrypted+signed, valid, content=text/plain)"
    html = opened._repr_html_()
    assert "aes-256-cbc, NOT authenticated" in html and "signature valid" in html
    assert "Quarterly statement" in html  # the content preview
    signer = opened.verifications[0].signers[0]
    _facts_shown(signer._repr_html_(), signer.certificate)
    assert "bytes>" in repr(opened.content) and "_lazy" not in repr(opened.content)


@pytest.mark.parametrize("key_type", ["ec-p256", "ed25519", "x25519"])
def test_key_descriptions(pki: TestPKI, key_type: str) -> None:
    cert = issue_certificate(pki.intermediate, "k@example.com", key_type=key_type,
                             key_usage=["key_agreement"] if key_type == "x25519" else None
                             ).certificate
    key = dict(certificate_facts(cert))["key"]
    assert key == {"ec-p256": "EC secp256r1", "ed25519": "Ed25519", "x25519": "X25519"}[key_type]
