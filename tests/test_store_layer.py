"""The certificate store as its own layer: its errors are StoreError, its input is typed.

SQLite failures used to surface as ``CertificateError`` (blaming a certificate for a locked
or damaged file) or, for a damaged row, as a raw ``ValueError``; a harvest of anything
that was not a verification result silently stored nothing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from helpers import PLAIN

import smime
from smime.errors import CertificateError, SMIMEError, StoreError
from smime.testing import TestPKI as PKI


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[smime.CertificateStore]:
    with smime.CertificateStore(tmp_path / "contacts.sqlite") as s:
        yield s



def _is_store_error(exc: BaseException) -> None:
    assert isinstance(exc, StoreError) and isinstance(exc, SMIMEError)
    assert not isinstance(exc, CertificateError)


# ----------------------------------------------------------------------------- StoreError


def test_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the certificate store") as raised:
        smime.CertificateStore(tmp_path / "no such folder" / "contacts.sqlite")
    _is_store_error(raised.value)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="not a database") as raised:
        smime.CertificateStore(junk)
    _is_store_error(raised.value)


def test_a_closed_store(tmp_path: Path, pki: PKI) -> None:
    store = smime.CertificateStore(tmp_path / "contacts.sqlite")
    store.add(pki["alice"].certificate)
    store.close()
    for use in (lambda: store.find("alice@example.com"),
                lambda: store.capabilities("alice@example.com"),
                lambda: store.add(pki["bob"].certificate),
                lambda: store.remove("alice@example.com"),
                lambda: smime.encrypt(PLAIN, "alice@example.com", store=store)):
        with pytest.raises(StoreError, match="closed") as raised:
            use()
        _is_store_error(raised.value)


def test_a_locked_store_past_its_timeout(tmp_path: Path, pki: PKI) -> None:
    with smime.CertificateStore(tmp_path / "contacts.sqlite", timeout=0.2) as store:
        other = sqlite3.connect(str(store.path), isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")  # another process is writing, and stays
            with pytest.raises(StoreError, match="locked") as raised:
                store.add(pki["alice"].certificate)
            _is_store_error(raised.value)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.add(pki["alice"].certificate) == 1  # the store works again


def test_a_damaged_row(store: smime.CertificateStore, pki: PKI) -> None:
    """Rows another program damaged: a StoreError, not cryptography's or json's error."""
    store.add(pki["alice"].certificate, capabilities=("aes-256-gcm",))
    with sqlite3.connect(str(store.path)) as db:
        db.execute("UPDATE certificates SET der = ?", (b"\x30\x03\x02\x01\x01",))
        db.execute("UPDATE senders SET capabilities = 'not json'")
    for use in (lambda: store.find("alice@example.com"),
                lambda: store.certificates("alice@example.com"),
                lambda: store.export_pem(),
                lambda: store.capabilities("alice@example.com")):
        with pytest.raises(StoreError, match="damaged") as raised:
            use()
        _is_store_error(raised.value)


def test_a_certificate_without_an_address_is_still_a_certificate_error(
    store: smime.CertificateStore, pki: PKI
) -> None:
    from smime.testing import issue_certificate

    nameless = issue_certificate(pki.intermediate, None).certificate
    with pytest.raises(CertificateError, match="names no email address"):
        store.add(nameless)


# ----------------------------------------------------------------------------- typed input


def test_harvest_takes_a_verification_result(
    store: smime.CertificateStore, pki: PKI, trust: smime.TrustStore
) -> None:
    signed = smime.sign(PLAIN, pki["alice"].identity)
    with pytest.raises(TypeError, match="not bytes"):
        store.harvest(signed.as_bytes())  # type: ignore[arg-type]
    unwrapped = smime.unwrap(signed, trust=trust)
    with pytest.raises(TypeError, match=r"UnwrapResult\.verifications"):
        store.harvest(unwrapped)  # type: ignore[arg-type]
    assert store.harvest(unwrapped.verifications[0]) == 1
    assert store.find("alice@example.com") == pki["alice"].certificate


def test_the_store_is_its_own_layer(pki: PKI) -> None:
    import smime.store
    import smime.validation

    assert smime.CertificateStore is smime.store.CertificateStore
    assert smime.HarvestResult is smime.store.HarvestResult
    assert not hasattr(smime.validation, "CertificateStore")
    result = smime.verify(smime.sign(PLAIN, pki["bob"].identity), trust=smime.TrustStore())
    assert isinstance(result, smime.store.SignedResult)


@pytest.mark.slow
def test_mypy_checks_what_the_store_is_given() -> None:
    sample = Path("tests/typing/store_input.py")
    wrong = {
        n for n, line in enumerate((REPO / sample).read_text().splitlines(), 1)
        if line.endswith("# wrong")
    }
    assert wrong
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(sample)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    flagged = {
        int(line.split(":")[1]) for line in done.stdout.splitlines()
        if line.startswith(str(sample)) and ": error:" in line
    }
    assert flagged == wrong, done.stdout
