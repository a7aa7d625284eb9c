"""Encryption-key substitution through harvesting (issue 9, High).

The certificate set of a SignedData is not covered by the signature. Whoever relays one
signed message from Alice can add a certificate copying the issuer and serial of the one
her SMIMEEncryptionKeyPreference names, with their own key: the signature still verifies.
The store must not keep it, so encrypting to "alice@example.com" never reaches that key.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import PLAIN
from test_cli import LETTER, expect_error, run

import smime
from smime.errors import CertificateError, DecryptionError
from smime.keys import Identity
from smime.store import HarvestReason, HarvestResult
from smime.testing import issue_certificate
from smime.validation import ValidationContext

if TYPE_CHECKING:
    from smime.testing import TestPKI

NOW = dt.datetime.now(dt.timezone.utc)
HOUR = dt.timedelta(hours=1)



@pytest.fixture(scope="module")
def alice_enc(pki: TestPKI) -> Identity:
    """Alice's separate encryption certificate (key encipherment only), from her CA."""
    return issue_certificate(pki.intermediate, "alice@example.com",
                             key_usage=["key_encipherment"])


@pytest.fixture(scope="module")
def mallory(alice_enc: Identity) -> Identity:
    """The attacker's look-alike: Alice's issuer name, serial, subject and extensions,
    the attacker's key, signed by that key (no CA ever saw it)."""
    real = alice_enc.certificate
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        if not isinstance(ext.value, (x509.SubjectKeyIdentifier,
                                      x509.AuthorityKeyIdentifier)):
            builder = builder.add_extension(ext.value, ext.critical)
    return Identity(builder.sign(key, hashes.SHA256()), key, ())


def _signature_block(wire: bytes) -> tuple[bytes, bytes, bytes]:
    """(before, der, after) around the base64 signature of a multipart/signed message."""
    match = re.search(rb"\r\n\r\n((?:[A-Za-z0-9+/=]+\r\n)+)(?:\r\n)?(--[^\r\n]*--\r\n)?$", wire)
    assert match, "no base64 block found"
    return wire[: match.start(1)], base64.b64decode(match.group(1)), wire[match.end(1):]


def tamper(signed: bytes, add: x509.Certificate, *, drop: x509.Certificate | None = None) -> bytes:
    """Put ``add`` first in the SignedData certificate set (dropping ``drop``), as anyone
    relaying the message can: the set is not signed."""
    before, der, after = _signature_block(signed)
    info = cms.ContentInfo.load(der)
    dropped = drop.public_bytes(Encoding.DER) if drop is not None else None
    certs = [c.dump() for c in info["content"]["certificates"] if c.dump() != dropped]
    info["content"]["certificates"] = [
        cms.CertificateChoices.load(c) for c in [add.public_bytes(Encoding.DER), *certs]
    ]
    b64 = base64.encodebytes(info.dump(force=True)).replace(b"\n", b"\r\n")
    return before + b64 + after


@pytest.fixture(scope="module")
def signed(pki: TestPKI, alice_enc: Identity) -> bytes:
    return smime.sign(PLAIN, pki["alice"].identity,
                      encryption_certificate=alice_enc.certificate).as_bytes()


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[smime.CertificateStore]:
    with smime.CertificateStore(tmp_path / "contacts.db") as s:
        yield s


def _attack_verifies(message: bytes, trust: smime.TrustStore, mallory: Identity,
                     ) -> smime.VerificationResult:
    result = smime.verify(message, trust=trust)
    assert result.valid, result.summary()  # the signature does not cover the certificates
    assert mallory.certificate in result.certificates
    assert result.signers[0].encryption_key_preference.matches(mallory.certificate)
    return result


def _sealed_for(store: smime.CertificateStore) -> bytes:
    return smime.encrypt(PLAIN, ["alice@example.com"], store=store).as_bytes()


# ---------------------------------------------------------------------------- the attack


def test_added_look_alike_is_not_harvested_and_encrypt_reaches_alice(
    signed: bytes, trust: smime.TrustStore, alice_enc: Identity, mallory: Identity,
    store: smime.CertificateStore,
) -> None:
    result = _attack_verifies(tamper(signed, mallory.certificate), trust, mallory)
    harvested = store.harvest(result)
    assert mallory.certificate not in store.certificates("alice@example.com")
    assert store.find("alice@example.com") == alice_enc.certificate
    sealed = _sealed_for(store)
    assert b"Balance" in smime.decrypt(sealed, alice_enc).as_bytes()
    with pytest.raises(DecryptionError):
        smime.decrypt(sealed, mallory)
    refused = [r for r in harvested.rejected if r.certificate == mallory.certificate]
    assert [(r.role, r.reason) for r in refused] == [("encryption", HarvestReason.UNTRUSTED)]
    assert "trust" in refused[0].message
    kept = {(k.role, k.certificate) for k in harvested.stored}
    assert kept == {("signer", result.signers[0].certificate),
                    ("encryption", alice_enc.certificate)}


def test_replaced_preferred_certificate_falls_back_to_alices_own(
    pki: TestPKI, signed: bytes, trust: smime.TrustStore, alice_enc: Identity,
    mallory: Identity, store: smime.CertificateStore,
) -> None:
    """The genuine encryption certificate removed: only the look-alike matches."""
    tampered = tamper(signed, mallory.certificate, drop=alice_enc.certificate)
    result = _attack_verifies(tampered, trust, mallory)
    harvested = store.harvest(result)
    assert store.certificates("alice@example.com") == (pki["alice"].certificate,)
    assert store.find("alice@example.com") == pki["alice"].certificate
    sealed = _sealed_for(store)
    assert b"Balance" in smime.decrypt(sealed, pki["alice"].identity).as_bytes()
    with pytest.raises(DecryptionError):
        smime.decrypt(sealed, mallory)
    assert [r.reason for r in harvested.rejected] == [HarvestReason.UNTRUSTED]


def test_cli_import_then_encrypt_reaches_alice(
    pki: TestPKI, alice_enc: Identity, mallory: Identity, tmp_path: Path,
) -> None:
    db = tmp_path / "contacts"
    signed = smime.sign(LETTER, pki["alice"].identity,
                        encryption_certificate=alice_enc.certificate).as_bytes()
    tampered = tamper(signed, mallory.certificate)
    proc = run("certs", "--store", db, "import", "--trust", pki.root_path,
               stdin=tampered, status=1)
    out = proc.stdout.decode()
    refused = [line for line in out.splitlines() if line.startswith("not imported")]
    assert len(refused) == 1 and "[untrusted]" in refused[0], out
    assert f"serial {mallory.certificate.serial_number:#x}" in refused[0]
    assert "imported alice@example.com" in out
    sealed = run("encrypt", "--store", db, "--recipient", "alice@example.com",
                 stdin=LETTER).stdout
    assert b"the meeting" in smime.decrypt(sealed, alice_enc).as_bytes()
    with pytest.raises(DecryptionError):
        smime.decrypt(sealed, mallory)
    exported = smime.load_certificates(
        run("certs", "--store", db, "export", "alice@example.com").stdout)
    assert mallory.certificate not in exported


def test_cli_import_of_signed_mail_needs_trust(pki: TestPKI, tmp_path: Path) -> None:
    db = tmp_path / "contacts"
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    expect_error(run("certs", "--store", db, "import", stdin=signed, status=2),
                 "--trust", "nothing was imported")
    with smime.CertificateStore(db) as s:
        assert s.emails() == ()


# ---------------------------------------------------------------------------- each rule


def test_given_trust_overrides_the_one_verified_with(
    pki: TestPKI, trust: smime.TrustStore, store: smime.CertificateStore,
) -> None:
    """A signer that verified under one set of roots is not kept under another."""
    result = smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=trust)
    assert result.verified_with is not None and result.verified_with.trust == trust
    other_root = smime.TrustStore([pki["bob"].certificate])
    harvested = store.harvest(result, trust=other_root)
    assert harvested == 0 and not harvested
    assert [(r.role, r.reason) for r in harvested.rejected] == [
        ("signer", HarvestReason.UNTRUSTED)]
    assert store.emails() == ()
    with pytest.raises(CertificateError, match=r"alice@example\.com"):
        _sealed_for(store)
    assert store.harvest(result, trust=trust) == 1


def test_signer_must_be_valid_now(pki: TestPKI, trust: smime.TrustStore,
                                  store: smime.CertificateStore) -> None:
    """Valid when it signed (the default policy judges at the signing time), expired now."""
    short = issue_certificate(pki.intermediate, "alice@example.com",
                              not_before=NOW - 20 * HOUR, not_after=NOW - 2 * HOUR)
    result = smime.verify(smime.sign(PLAIN, short, signing_time=NOW - 10 * HOUR), trust=trust)
    assert result.valid
    harvested = store.harvest(result)
    assert [r.reason for r in harvested.rejected] == [HarvestReason.NOT_VALID_NOW]
    assert store.emails() == ()
    assert store.harvest(result, at=NOW - 10 * HOUR) == 1  # at= judges another moment


def test_revoked_encryption_certificate_under_the_verification_crls(
    pki: TestPKI, trust: smime.TrustStore, store: smime.CertificateStore,
) -> None:
    """The CRLs given to verify count for harvest too."""
    enc = issue_certificate(pki.intermediate, "alice@example.com",
                            key_usage=["key_encipherment"])
    crl = _revoking_crl(pki, enc.certificate.serial_number)
    message = smime.sign(PLAIN, pki["alice"].identity, encryption_certificate=enc.certificate)
    result = smime.verify(message, trust=trust, crls=[crl])
    assert result.valid
    harvested = store.harvest(result)
    assert [(r.role, r.reason) for r in harvested.rejected] == [
        ("encryption", HarvestReason.REVOKED)]
    assert store.find("alice@example.com") == pki["alice"].certificate
    assert store.harvest(smime.verify(message, trust=trust)) == 2  # without the CRL


def test_encryption_certificate_must_allow_encryption(
    pki: TestPKI, trust: smime.TrustStore, store: smime.CertificateStore,
) -> None:
    sign_only = issue_certificate(pki.intermediate, "alice@example.com",
                                  key_usage=["digital_signature"])
    message = smime.sign(PLAIN, pki["alice"].identity,
                         encryption_certificate=sign_only.certificate)
    harvested = store.harvest(smime.verify(message, trust=trust))
    assert [(r.role, r.reason) for r in harvested.rejected] == [
        ("encryption", HarvestReason.CANNOT_ENCRYPT)]
    assert sign_only.certificate not in store.certificates("alice@example.com")


def test_encryption_certificate_must_name_the_signers_address(
    pki: TestPKI, trust: smime.TrustStore, store: smime.CertificateStore,
) -> None:
    """Even from Alice's own CA, a certificate for another address is not Alice's."""
    other = issue_certificate(pki.intermediate, "mallory@example.com",
                              key_usage=["key_encipherment"])
    message = smime.sign(PLAIN, pki["alice"].identity, encryption_certificate=other.certificate)
    harvested = store.harvest(smime.verify(message, trust=trust))
    assert [(r.role, r.reason) for r in harvested.rejected] == [
        ("encryption", HarvestReason.ADDRESS_MISMATCH)]
    assert store.emails() == ("alice@example.com",)
    assert store.find("alice@example.com") == pki["alice"].certificate


def test_sign_only_signer_is_a_record_never_a_recipient(
    pki: TestPKI, trust: smime.TrustStore, store: smime.CertificateStore,
) -> None:
    signer = issue_certificate(pki.intermediate, "alice@example.com",
                               key_usage=["digital_signature"])
    harvested = store.harvest(smime.verify(smime.sign(PLAIN, signer), trust=trust))
    assert harvested == 1 and not harvested.rejected
    (kept,) = harvested.stored
    assert (kept.role, kept.can_encrypt, kept.addresses) == ("signer", False,
                                                            ("alice@example.com",))
    assert store.certificates("alice@example.com") == (signer.certificate,)
    assert store.find("alice@example.com") is None
    with pytest.raises(CertificateError, match=r"alice@example\.com"):
        _sealed_for(store)


def test_no_trust_no_harvest(pki: TestPKI, trust: smime.TrustStore,
                             store: smime.CertificateStore) -> None:
    """A result that does not say what it was verified with, and no trust= given."""
    from dataclasses import replace

    result = replace(smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=trust),
                     verified_with=None)
    harvested = store.harvest(result)
    assert [r.reason for r in harvested.rejected] == [HarvestReason.NO_TRUST]
    assert store.emails() == ()


# ---------------------------------------------------------------------------- the result


def test_harvest_result_still_counts_as_the_rows_written(
    pki: TestPKI, trust: smime.TrustStore, alice_enc: Identity, signed: bytes,
    store: smime.CertificateStore,
) -> None:
    harvested = store.harvest(smime.verify(signed, trust=trust))
    assert isinstance(harvested, smime.HarvestResult)
    assert harvested == 2 and harvested != 1 and 1 < harvested <= 2 and harvested >= 2
    assert int(harvested) == 2 and [0, 1, 2][harvested] == 2 and bool(harvested)
    assert sum([harvested, harvested]) == 4 and harvested + 1 == 3
    assert hash(harvested) == hash(2)
    assert HarvestResult() == 0 and not HarvestResult()
    assert harvested != "2"


def test_verified_with_records_the_verification_settings(
    pki: TestPKI, trust: smime.TrustStore,
) -> None:
    crl = _revoking_crl(pki, 12345)
    result = smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=trust,
                          crls=[crl], revocation="hard-fail")
    context = result.verified_with
    assert isinstance(context, ValidationContext)
    assert context.trust == trust and context.revocation == "hard-fail"
    assert crl in context.crls
    assert "verified_with" not in repr(result)
    unwrapped = smime.unwrap(smime.sign(PLAIN, pki["alice"].identity), trust=trust)
    assert unwrapped.verifications[0].verified_with is not None


def _revoking_crl(pki: TestPKI, serial: int) -> bytes:
    revoked = (x509.RevokedCertificateBuilder().serial_number(serial)
               .revocation_date(NOW - HOUR).build())
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.intermediate.certificate.subject)
        .last_update(NOW - HOUR).next_update(NOW + 24 * HOUR)
        .add_revoked_certificate(revoked)
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return crl.public_bytes(Encoding.DER)
