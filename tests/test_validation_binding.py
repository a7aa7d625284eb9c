"""check_sender and check_key_usage: the certificate belongs to the sender and may sign."""

from __future__ import annotations

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from smime.problems import ProblemCode
from smime.testing import TestPKI as PKI
from smime.testing import issue_certificate
from smime.validation import (
    VerificationPolicy,
    check_key_usage,
    check_sender,
    normalize_address,
    signer_addresses,
)


def test_sender_matches_rfc822_name(pki: PKI) -> None:
    assert check_sender(pki["alice"].certificate, ["alice@example.com"]) is None


def test_match_ignores_case_and_display_names(pki: PKI) -> None:
    cert = pki["alice"].certificate
    assert check_sender(cert, ["ALICE@Example.COM"]) is None
    assert check_sender(cert, ["Alice Liddell <Alice@EXAMPLE.com>"]) is None


def test_mismatch_names_both_addresses(pki: PKI) -> None:
    problem = check_sender(pki["carol"].certificate, ["alice@example.com"])
    assert problem is not None and problem.code == ProblemCode.SENDER_MISMATCH
    assert str(problem) == "signed by carol@example.com but the message is From alice@example.com"


def test_sender_header_binds_only_when_the_policy_allows(pki: PKI) -> None:
    # From: the boss; Sender: the assistant who signed. Readers see "From: boss", so by
    # default the assistant's certificate does not vouch for it.
    bob = pki["bob"].certificate
    problem = check_sender(bob, ["boss@example.com"], sender=["bob@example.com"])
    assert problem is not None and problem.code == ProblemCode.SENDER_MISMATCH
    on_behalf = VerificationPolicy(allow_sender_header=True)
    assert check_sender(bob, ["boss@example.com"], sender=["bob@example.com"],
                        policy=on_behalf) is None
    assert check_sender(bob, ["boss@example.com"], sender=["eve@example.com"],
                        policy=on_behalf) is not None


def test_every_from_address_must_be_the_signers(pki: PKI) -> None:
    """RFC 5322 allows several From authors; a signature vouches for all it shows."""
    alice = pki["alice"].certificate
    problem = check_sender(alice, ["alice@example.com", "mallory@example.com"])
    assert problem is not None and problem.code == ProblemCode.SENDER_MISMATCH
    assert "mallory@example.com is not" in str(problem)
    assert check_sender(alice, ["alice@example.com", "Alice <ALICE@example.com>"]) is None


def test_no_sender_at_all(pki: PKI) -> None:
    problem = check_sender(pki["bob"].certificate, [])
    assert problem is not None and problem.code == ProblemCode.NO_SENDER
    assert check_sender(pki["bob"].certificate, ["  "]) is not None
    relaxed = VerificationPolicy(require_sender_match=False)
    assert check_sender(pki["bob"].certificate, [], policy=relaxed) is None
    assert check_sender(pki["bob"].certificate, ["eve@example.com"], policy=relaxed) is None


def test_subject_email_only_certificate(pki: PKI) -> None:
    """Old certificates carry the address only in the subject's emailAddress attribute."""
    identity = issue_certificate(pki.intermediate, [], key_type="ec-p256")
    subject_only = identity.certificate
    assert signer_addresses(subject_only) == ()
    problem = check_sender(subject_only, ["x@example.com"])
    assert problem is not None and "names no email address" in str(problem)
    legacy = _with_subject_email_only(pki, "legacy@example.com")
    assert check_sender(legacy, ["Legacy@Example.com"]) is None


def _with_subject_email_only(pki: PKI, email: str) -> x509.Certificate:
    template = issue_certificate(pki.intermediate, email, key_type="ec-p256").certificate
    builder = (
        x509.CertificateBuilder().subject_name(template.subject).issuer_name(template.issuer)
        .public_key(template.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
    )
    return builder.sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]


def test_smtp_utf8_mailbox_other_name(pki: PKI) -> None:
    """RFC 8398: internationalized local parts live in an otherName SAN."""
    template = issue_certificate(pki.intermediate, "ascii@example.com",
                                 key_type="ec-p256").certificate
    other = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9"),
                           asn1_core.UTF8String("jörg@example.com").dump())
    builder = (
        x509.CertificateBuilder().subject_name(template.subject).issuer_name(template.issuer)
        .public_key(template.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([other]), critical=False)
    )
    cert = builder.sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    assert "jörg@example.com" in signer_addresses(cert)
    assert check_sender(cert, ["Jörg <JÖRG@example.com>"]) is None


def test_normalize_address_idna() -> None:
    assert normalize_address("Bob <bob@Bücher.example>") == "bob@xn--bcher-kva.example"
    assert normalize_address("no-at-sign") == "no-at-sign"


def test_key_usage_problems(pki: PKI) -> None:
    assert check_key_usage(pki["alice"].certificate) == ()
    enc_only = issue_certificate(pki.intermediate, "e@example.com", key=pki["alice"].identity.key,
                                 key_usage=["key_encipherment"]).certificate
    problems = check_key_usage(enc_only)
    assert [p.code for p in problems] == [ProblemCode.KEY_USAGE]
    server = issue_certificate(pki.intermediate, "s@example.com", key_type="ec-p256",
                               extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH]).certificate
    assert [p.code for p in check_key_usage(server)] == [ProblemCode.EXTENDED_KEY_USAGE]
    any_eku = issue_certificate(pki.intermediate, "a@example.com", key_type="ec-p256",
                                extended_key_usage=[x509.ObjectIdentifier("2.5.29.37.0")])
    assert check_key_usage(any_eku.certificate) == ()
    both = issue_certificate(pki.intermediate, "b@example.com", key=pki["alice"].identity.key,
                             key_usage=["key_encipherment"],
                             extended_key_usage=[ExtendedKeyUsageOID.CODE_SIGNING]).certificate
    assert {p.code for p in check_key_usage(both)} == {
        ProblemCode.KEY_USAGE, ProblemCode.EXTENDED_KEY_USAGE}
    off = VerificationPolicy(check_key_usage=False, require_email_protection_eku=False)
    assert check_key_usage(both, off) == ()


def test_x25519_certificate_cannot_sign(pki: PKI) -> None:
    problems = check_key_usage(pki["grace"].certificate)
    assert [p.code for p in problems] == [ProblemCode.KEY_USAGE]
    assert "keyAgreement" in str(problems[0])
