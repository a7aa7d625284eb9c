"""TrustStore: every way of loading anchors, immutability, identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from smime.errors import LoadError
from smime.testing import TestPKI as PKI
from smime.validation import TrustStore


def _der(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined, no-any-return]


def test_pem_bundle_file_and_bytes(pki: PKI) -> None:
    bundle = pki.folder / "chain.pem"  # intermediate + root
    store = TrustStore.from_pem(bundle)
    assert len(store) == 2
    assert pki.root.certificate in store and pki.intermediate.certificate in store
    assert TrustStore.from_pem(bundle.read_bytes()) == store
    assert TrustStore.from_pem(str(bundle)) == store
    assert TrustStore.from_pem(bundle.read_text()) == store  # PEM text, not a path


def test_single_der_file(pki: PKI, tmp_path: Path) -> None:
    der = tmp_path / "root.cer"
    der.write_bytes(_der(pki.root.certificate))
    store = TrustStore.from_pem(der)
    assert store.certificates == (pki.root.certificate,)


def test_folder_reads_pem_crt_cer_and_ignores_other_files(pki: PKI, tmp_path: Path) -> None:
    (tmp_path / "root.crt").write_bytes(pki.root_path.read_bytes())
    (tmp_path / "inter.cer").write_bytes(_der(pki.intermediate.certificate))
    (tmp_path / "alice.pem").write_bytes(pki["alice"].cert_path.read_bytes())
    (tmp_path / "notes.txt").write_text("not a certificate")
    store = TrustStore.from_pem(tmp_path)
    assert len(store) == 3
    assert pki["alice"].certificate in store


def test_folder_with_a_broken_certificate_names_the_file(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    (tmp_path / "broken.pem").write_text(pem)
    with pytest.raises(LoadError, match=r"broken\.pem"):
        TrustStore.from_pem(tmp_path)


def test_list_of_sources_and_duplicates_collapse(pki: PKI) -> None:
    store = TrustStore.from_pem([pki.root_path, pki.root_path.read_bytes(), pki.intermediate_path])
    assert len(store) == 2


def test_from_certificates_accepts_objects_asn1crypto_and_bytes(pki: PKI) -> None:
    root, inter = pki.root.certificate, pki.intermediate.certificate
    store = TrustStore.from_certificates([
        root, asn1_x509.Certificate.load(_der(inter)), pki["bob"].cert_path.read_bytes(),
    ])
    assert len(store) == 3
    assert next(iter(store)) == root


def test_empty_store_is_allowed_and_trusts_nothing(pki: PKI) -> None:
    store = TrustStore()
    assert len(store) == 0 and pki.root.certificate not in store
    assert store.certificates == ()


def test_garbage_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError):
        TrustStore.from_pem(b"\x30\x03\x02\x01")
    with pytest.raises(LoadError):
        TrustStore.from_pem(tmp_path / "missing.pem")


def test_merged_identity_and_contains(pki: PKI) -> None:
    a = TrustStore.from_certificates([pki.root.certificate])
    b = TrustStore.from_certificates([pki.intermediate.certificate])
    both = a.merged(b)
    assert len(both) == 2 and len(a) == 1  # a is unchanged
    assert both == b.merged(a) and hash(both) == hash(b.merged(a))
    assert both.identity != a.identity
    assert a.merged([pki.intermediate.certificate]) == both
    assert _der(pki.root.certificate) in both  # bytes work with `in`
    assert "not a cert" not in both


def test_store_is_immutable(pki: PKI) -> None:
    store = TrustStore.from_certificates([pki.root.certificate])
    with pytest.raises(AttributeError):
        store.extra = 1  # type: ignore[attr-defined]
    assert isinstance(store.certificates, tuple)


def test_system_store_on_this_machine() -> None:
    try:
        store = TrustStore.from_system()
    except LoadError:
        pytest.skip("this machine has no system CA bundle")
    assert len(store) > 10
    assert all(c.subject for c in store)


def test_system_store_honours_ssl_cert_file(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_path))
    store = TrustStore.from_system()
    assert store.certificates == (pki.root.certificate,)
