"""CertificateStore: harvesting, finding the encryption certificate, concurrency, crashes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from smime.errors import CertificateError
from smime.keys import load_certificates
from smime.testing import TestPKI as PKI
from smime.testing import generate_key, issue_certificate
from smime.validation import CertificateStore, HarvestReason, TrustStore, ValidationContext
from smime.validation.store import MAX_PREFERENCE_CANDIDATES

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Preference:
    issuer: x509.Name | None = None
    serial_number: int | None = None
    subject_key_identifier: bytes | None = None


@dataclass(frozen=True)
class Signer:
    certificate: x509.Certificate
    email_addresses: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    encryption_key_preference: Preference | None = None
    signing_time: dt.datetime | None = None


@dataclass(frozen=True)
class Result:
    """Shaped like smime's verification result, which this layer must not import."""

    signers: tuple[Signer, ...]
    certificates: tuple[x509.Certificate, ...] = ()
    valid: bool = True
    problems: tuple[Any, ...] = field(default=())
    verified_with: ValidationContext | None = None


def trusting(root: x509.Certificate) -> ValidationContext:
    return ValidationContext(TrustStore([root]))


def signed_by(pki: PKI, cert: x509.Certificate, **kwargs: Any) -> Result:
    """A valid result verified with the test root, carrying the intermediate, as mail does."""
    emails = tuple(kwargs.pop("emails", ()))
    carried = (*kwargs.pop("certificates", ()), pki.intermediate.certificate)
    return Result((Signer(cert, emails, **kwargs),), carried,
                  verified_with=trusting(pki.root.certificate))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[CertificateStore]:
    with CertificateStore(tmp_path / "certs.sqlite") as s:
        yield s


# ----------------------------------------------------------------------------- basics


def test_harvest_then_find_capabilities_and_export(store: CertificateStore, pki: PKI) -> None:
    alice = pki["alice"].certificate
    caps = ("aes-256-gcm", "aes-256-cbc", "aes-128-cbc")
    assert store.harvest(signed_by(pki, alice, capabilities=caps)) == 1
    assert store.find("alice@example.com") == alice
    assert store.find("ALICE@example.COM") == alice
    assert store.capabilities("alice@example.com") == caps
    assert store.certificates("alice@example.com") == (alice,)
    assert store.emails() == ("alice@example.com",)
    assert load_certificates(store.export_pem()) == [alice]
    assert load_certificates(store.export_pem("alice@example.com")) == [alice]
    assert store.find("nobody@example.com") is None
    assert store.capabilities("nobody@example.com") == ()


def test_invalid_result_stores_nothing(store: CertificateStore, pki: PKI) -> None:
    forged = Result((Signer(pki["bob"].certificate),), valid=False)
    assert store.harvest(forged) == 0
    assert store.emails() == ()


def test_harvest_is_idempotent_and_keeps_first_seen(store: CertificateStore, pki: PKI) -> None:
    store.harvest(signed_by(pki, pki["bob"].certificate))
    store.harvest(signed_by(pki, pki["bob"].certificate))
    assert store.certificates("bob@example.com") == (pki["bob"].certificate,)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM certificates").fetchone() == (1,)
        first, last = db.execute("SELECT first_seen, last_seen FROM addresses").fetchone()
    assert first <= last


def test_newer_capabilities_win_older_do_not(store: CertificateStore, pki: PKI) -> None:
    bob = pki["bob"].certificate
    store.harvest(signed_by(pki, bob, capabilities=("aes-256-gcm",), signing_time=NOW - DAY))
    store.harvest(signed_by(pki, bob, capabilities=("aes-128-cbc",), signing_time=NOW - 3 * DAY))
    assert store.capabilities("bob@example.com") == ("aes-256-gcm",)
    store.harvest(signed_by(pki, bob, capabilities=("aes-128-gcm", "aes-256-cbc"),
                            signing_time=NOW))
    assert store.capabilities("bob@example.com") == ("aes-128-gcm", "aes-256-cbc")


# ----------------------------------------------------------------------------- find


def test_encryption_key_preference_is_honoured(store: CertificateStore, pki: PKI) -> None:
    """Carol signs with her EC certificate but wants mail encrypted to her RSA one."""
    carol_sign = pki["carol"].certificate
    carol_rsa = issue_certificate(pki.intermediate, "carol@example.com",
                                  key=pki["alice"].identity.key,
                                  not_before=NOW - 10 * DAY).certificate
    newer = issue_certificate(pki.intermediate, "carol@example.com", key_type="ec-p256",
                              not_before=NOW).certificate
    by_serial = Preference(issuer=carol_rsa.issuer, serial_number=carol_rsa.serial_number)
    store.harvest(signed_by(pki, carol_sign, encryption_key_preference=by_serial,
                            certificates=(carol_rsa,)))
    store.add(newer)
    assert set(store.certificates("carol@example.com")) == {carol_sign, carol_rsa, newer}
    assert store.find("carol@example.com") == carol_rsa  # not the newest: the preferred
    # a later message without preference: the newest usable certificate
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    store.harvest(signed_by(pki, carol_sign, signing_time=later))
    assert store.find("carol@example.com") == newer


def test_preference_by_subject_key_identifier(store: CertificateStore, pki: PKI) -> None:
    dave = pki["dave"].certificate
    enc = issue_certificate(pki.intermediate, "dave@example.com", key=pki["alice"].identity.key,
                            not_before=NOW - 5 * DAY).certificate
    ski = enc.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    by_ski = Preference(subject_key_identifier=ski)
    store.harvest(signed_by(pki, dave, encryption_key_preference=by_ski, certificates=(enc,)))
    assert store.find("dave@example.com") == enc


@dataclass(frozen=True)
class MatchingPreference:
    """Like the CMS layer's EncryptionKeyPreference, which knows how to match itself."""

    wanted: x509.Certificate

    def matches(self, certificate: x509.Certificate) -> bool:
        return certificate == self.wanted


@dataclass(frozen=True)
class DerPreference:
    issuer_der: bytes
    serial_number: int


def test_preference_objects_that_match_themselves_or_carry_der(
    store: CertificateStore, pki: PKI
) -> None:
    enc = issue_certificate(pki.intermediate, "frank@example.com", key=pki["alice"].identity.key,
                            not_before=NOW - 5 * DAY).certificate
    frank = pki["frank"].certificate
    store.harvest(signed_by(pki, frank, encryption_key_preference=MatchingPreference(enc),
                            certificates=(enc,)))
    assert store.find("frank@example.com") == enc
    store.remove("frank@example.com")
    der = DerPreference(enc.issuer.public_bytes(), enc.serial_number)
    store.harvest(signed_by(pki, frank, encryption_key_preference=der, certificates=(enc,)))
    assert store.find("frank@example.com") == enc
    # a preference naming a certificate the message did not carry changes nothing
    store.remove("frank@example.com")
    absent = DerPreference(enc.issuer.public_bytes(), enc.serial_number + 1)
    store.harvest(signed_by(pki, frank, encryption_key_preference=absent, certificates=(enc,)))
    assert store.certificates("frank@example.com") == (frank,)


def _look_alike(real: x509.Certificate, *, ski: bool = True) -> x509.Certificate:
    """``real``'s names, serial, dates and extensions (its key identifier too, if ``ski``)
    on an attacker's key, signed by that key: what anyone relaying mail can add."""
    key = generate_key("rsa-2048")
    builder = (
        x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer)
        .public_key(key.public_key()).serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc).not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        if ski or not isinstance(ext.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


def test_look_alike_by_subject_key_identifier_is_refused(
    store: CertificateStore, pki: PKI
) -> None:
    dave = pki["dave"].certificate
    enc = issue_certificate(pki.intermediate, "dave@example.com", key_type="rsa-2048",
                            key_usage=["key_encipherment"]).certificate
    fake = _look_alike(enc)
    ski = enc.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    harvested = store.harvest(signed_by(pki, dave, certificates=(fake, enc),
                                        encryption_key_preference=Preference(
                                            subject_key_identifier=ski)))
    assert store.find("dave@example.com") == enc
    assert fake not in store.certificates("dave@example.com")
    assert [(r.certificate, r.reason) for r in harvested.rejected] == [
        (fake, HarvestReason.UNTRUSTED)]
    assert harvested == 2  # dave's signing certificate and the genuine encryption one


def test_many_look_alikes_cost_a_bounded_amount_of_work(
    store: CertificateStore, pki: PKI
) -> None:
    """Only so many candidates are validated; the genuine one behind them is then not
    reached, and the preference falls back to the signer's own certificate."""
    frank = pki["frank"].certificate
    enc = issue_certificate(pki.intermediate, "frank@example.com",
                            key_usage=["key_encipherment"]).certificate
    fakes = tuple(_look_alike(enc) for _ in range(MAX_PREFERENCE_CANDIDATES + 2))
    der = DerPreference(enc.issuer.public_bytes(), enc.serial_number)
    harvested = store.harvest(signed_by(pki, frank, certificates=(*fakes, enc),
                                        encryption_key_preference=der))
    assert len(harvested.rejected) == MAX_PREFERENCE_CANDIDATES
    assert store.certificates("frank@example.com") == (frank,)
    assert store.find("frank@example.com") == frank


def _duplicate_extension(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with its first extension twice (and so a broken signature)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    extensions = list(tbs["extensions"])
    tbs["extensions"] = asn1_x509.Extensions([*extensions, extensions[0]])
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def test_unreadable_candidate_is_refused_not_raised(store: CertificateStore, pki: PKI) -> None:
    carol = pki["carol"].certificate
    enc = issue_certificate(pki.intermediate, "carol@example.com",
                            key_usage=["key_encipherment"]).certificate
    broken = _duplicate_extension(enc)
    der = DerPreference(enc.issuer.public_bytes(), enc.serial_number)
    harvested = store.harvest(signed_by(pki, carol, certificates=(broken, enc),
                                        encryption_key_preference=der))
    assert [r.reason for r in harvested.rejected] == [HarvestReason.MALFORMED]
    assert store.find("carol@example.com") == enc


def test_signer_certificate_must_name_the_address(store: CertificateStore, pki: PKI) -> None:
    """A result claiming addresses the certificate does not name stores nothing there."""
    harvested = store.harvest(signed_by(pki, pki["bob"].certificate,
                                        emails=("ceo@example.com",)))
    assert [r.reason for r in harvested.rejected] == [HarvestReason.ADDRESS_MISMATCH]
    assert store.emails() == ()


def test_expired_certificate_is_not_returned(store: CertificateStore, pki: PKI) -> None:
    old = issue_certificate(pki.intermediate, "old@example.com", key_type="ec-p256",
                            not_before=NOW - 30 * DAY, not_after=NOW - DAY).certificate
    store.add(old, preferred=True)
    assert store.certificates("old@example.com") == (old,)
    assert store.find("old@example.com") is None
    assert store.find("old@example.com", at=NOW - 10 * DAY) == old


def test_only_certificates_that_can_receive(store: CertificateStore, pki: PKI) -> None:
    store.harvest(signed_by(pki, pki["erin"].certificate))  # Ed25519 signs, cannot receive
    assert store.certificates("erin@example.com") and store.find("erin@example.com") is None
    store.add(pki["grace"].certificate)  # X25519: key agreement only, fine
    assert store.find("grace@example.com") == pki["grace"].certificate
    signing_only = issue_certificate(pki.intermediate, "so@example.com",
                                     key=pki["alice"].identity.key,
                                     key_usage=["digital_signature"]).certificate
    store.add(signing_only)
    assert store.find("so@example.com") is None


def test_add_needs_an_address_and_remove_forgets(store: CertificateStore, pki: PKI) -> None:
    nameless = issue_certificate(pki.intermediate, None, key_type="ec-p256").certificate
    with pytest.raises(CertificateError):
        store.add(nameless)
    assert store.add(nameless, emails=["Ops@Example.com"]) == 1
    assert store.find("ops@example.com") == nameless
    store.add(pki["frank"].certificate, capabilities=("aes-256-cbc",))
    assert store.remove("OPS@example.com") == 1
    assert store.emails() == ("frank@example.com",)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM certificates").fetchone() == (1,)


def test_closed_store_raises(tmp_path: Path, pki: PKI) -> None:
    s = CertificateStore(tmp_path / "x.sqlite")
    s.close()
    with pytest.raises(CertificateError, match="closed"):
        s.add(pki["alice"].certificate)
    s.close()  # twice is fine


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(CertificateError, match="not a database"):
        CertificateStore(junk)


def test_wal_mode(store: CertificateStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


# ----------------------------------------------------------------------------- processes


def _harvest_worker(
    path: str, ders: list[bytes], shared: bytes, cas: tuple[bytes, bytes], queue: Any
) -> None:
    try:
        root, intermediate = (x509.load_der_x509_certificate(d) for d in cas)

        def signed(cert: x509.Certificate, caps: tuple[str, ...]) -> Result:
            return Result((Signer(cert, capabilities=caps),), (intermediate,),
                          verified_with=trusting(root))

        with CertificateStore(path, timeout=60) as s:
            shared_cert = x509.load_der_x509_certificate(shared)
            for i, der in enumerate(ders):
                cert = x509.load_der_x509_certificate(der)
                assert s.harvest(signed(cert, (f"cap-{i}",))) == 1
                assert s.harvest(signed(shared_cert, (f"cap-{os.getpid()}-{i}",))) == 1
        queue.put(("ok", len(ders)))
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def test_concurrent_writers_in_several_processes(tmp_path: Path, pki: PKI) -> None:
    key = generate_key("ec-p256")
    per_process, processes = 15, 4
    batches = [
        [issue_certificate(pki.intermediate, f"user{p}-{i}@example.com", key=key)
         .certificate.public_bytes(serialization.Encoding.DER) for i in range(per_process)]
        for p in range(processes)
    ]
    path = str(tmp_path / "shared.sqlite")
    shared_cert = issue_certificate(pki.intermediate, "shared@example.com", key=key).certificate
    shared = shared_cert.public_bytes(serialization.Encoding.DER)
    cas = tuple(c.public_bytes(serialization.Encoding.DER)
                for c in (pki.root.certificate, pki.intermediate.certificate))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_harvest_worker, args=(path, b, shared, cas, queue))
               for b in batches]
    for w in workers:
        w.start()
    outcomes = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert outcomes == [("ok", per_process)] * processes, outcomes
    with CertificateStore(path) as s:
        emails = s.emails()
        assert len(emails) == processes * per_process + 1
        for p in range(processes):
            for i in range(per_process):
                assert s.find(f"user{p}-{i}@example.com") is not None
                assert s.capabilities(f"user{p}-{i}@example.com") == (f"cap-{i}",)
        assert s.certificates("shared@example.com") == (shared_cert,)
        assert s.capabilities("shared@example.com")[0].startswith("cap-")


def _crashing_writer(path: str, ders: list[bytes], ready: Any) -> None:
    with CertificateStore(path) as s:
        for der in ders[:-1]:
            s.add(x509.load_der_x509_certificate(der))
        with s._transaction() as conn:  # the last one never commits
            s._put_certificate(conn, x509.load_der_x509_certificate(ders[-1]),
                               ["uncommitted@example.com"], "2030-01-01T00:00:00Z")
            ready.set()
            signal.pause()


def test_killed_writer_loses_nothing_committed(tmp_path: Path, pki: PKI) -> None:
    key = generate_key("ec-p256")
    ders = [issue_certificate(pki.intermediate, f"crash{i}@example.com", key=key)
            .certificate.public_bytes(serialization.Encoding.DER) for i in range(6)]
    path = str(tmp_path / "crash.sqlite")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    writer = ctx.Process(target=_crashing_writer, args=(path, ders, ready))
    writer.start()
    assert ready.wait(timeout=60)
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL
    with CertificateStore(path) as s:
        assert s.emails() == tuple(sorted(f"crash{i}@example.com" for i in range(5)))
        assert s.find("uncommitted@example.com") is None
        s.add(x509.load_der_x509_certificate(ders[-1]))  # and it is writable again
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
