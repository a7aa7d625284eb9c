"""The receiving side feeds the sending side: harvest a correspondent's certificate and
capabilities from their signed mail, then encrypt to their address (RFC 8551 §2.7.1)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from helpers import PLAIN, body_text, plain_message, run

import smime
from smime.errors import CertificateError
from smime.problems import ProblemCode


def test_harvest_then_encrypt_to_an_address(pki, trust, tmp_path, openssl):
    alice, bob = pki["alice"], pki["bob"]
    signed = smime.sign(PLAIN, alice.identity, encryption_certificate=alice.certificate)
    result = smime.verify(signed, trust=trust)
    assert result.valid
    with smime.CertificateStore(tmp_path / "store.db") as store:
        assert store.harvest(result) >= 1
        assert store.find("alice@example.com") == alice.certificate
        assert store.capabilities("alice@example.com")[0] == "aes-256-gcm"
        sealed = smime.encrypt(plain_message("bob@example.com"), ["alice@example.com"],
                               store=store)
    # alice advertised AES-256-GCM and RSA-OAEP in her signed mail: cipher="auto" uses them
    assert sealed.get_param("smime-type") == "authEnveloped-data"
    opened = smime.decrypt(sealed, alice.identity)
    assert opened.decryption.cipher == "aes-256-gcm"
    assert opened.decryption.key_management == "rsa-oaep"
    path = tmp_path / "sealed.eml"
    path.write_bytes(sealed.as_bytes())
    out = run(openssl, "cms", "-decrypt", "-in", path, "-recip", alice.cert_path,
              "-inkey", alice.key_path).stdout
    assert b"see you." in out
    assert bob.email not in store_emails(tmp_path / "store.db")


def store_emails(path):
    with smime.CertificateStore(path) as store:
        return store.emails()


def test_unknown_address_and_invalid_results_are_refused(pki, tmp_path):
    with smime.CertificateStore(tmp_path / "store.db") as store:
        untrusted = smime.verify(smime.sign(PLAIN, pki["alice"].identity),
                                 trust=smime.TrustStore())
        assert store.harvest(untrusted) == 0
        with pytest.raises(CertificateError, match=r"alice@example\.com"):
            smime.encrypt(PLAIN, ["alice@example.com"], store=store)
    with pytest.raises(CertificateError, match="store"):
        smime.encrypt(PLAIN, ["alice@example.com"])


def test_revoked_by_a_given_crl(pki, trust):
    """A CRL handed to verify revokes, even for a certificate naming no distribution point."""
    alice = pki["alice"]
    now = dt.datetime.now(dt.timezone.utc)
    revoked = (
        x509.RevokedCertificateBuilder().serial_number(alice.certificate.serial_number)
        .revocation_date(now - dt.timedelta(hours=1)).build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.intermediate.certificate.subject)
        .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .sign(pki.intermediate.key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    signed = smime.sign(PLAIN, alice.identity,
                        signing_time=now - dt.timedelta(minutes=1))
    result = smime.verify(signed, trust=trust, crls=[crl.public_bytes(Encoding.DER)])
    assert not result.valid
    assert ProblemCode.REVOKED in result.codes
    assert smime.verify(signed, trust=trust, crls=[crl.public_bytes(Encoding.PEM)],
                        revocation="off").valid
    with pytest.raises(smime.errors.InvalidOptionError):
        smime.verify(signed, trust=trust, revocation="maybe")


def test_hard_fail_without_revocation_information(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    assert smime.verify(signed, trust=trust, revocation="soft-fail").valid
    result = smime.verify(signed, trust=trust, revocation="hard-fail")
    assert not result.valid and ProblemCode.REVOCATION_UNKNOWN in result.codes


def test_valid_at_signing_time_after_expiry(pki, trust):
    now = dt.datetime.now(dt.timezone.utc)
    from smime.testing import issue_certificate

    # the test CAs became valid a day ago: the whole life of this certificate lies after that
    short = issue_certificate(pki.intermediate, "alice@example.com",
                              not_before=now - dt.timedelta(hours=20),
                              not_after=now - dt.timedelta(hours=2))
    signed = smime.sign(PLAIN, short, signing_time=now - dt.timedelta(hours=10))
    assert smime.verify(signed, trust=trust).valid, "valid when it was signed"
    strict = smime.VerificationPolicy(validate_at="now")
    result = smime.verify(signed, trust=trust, policy=strict)
    assert not result.valid and ProblemCode.EXPIRED in result.codes
    assert body_text(result.content)
