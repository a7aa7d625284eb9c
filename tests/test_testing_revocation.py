"""smime.testing issues CRLs and OCSP responses that smime.verify reads as a CA's own."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

import smime
from smime.errors import InvalidOptionError
from smime.problems import ProblemCode
from smime.testing import TestPKI, TestUser, issue_crl, issue_ocsp_response, make_ca

MESSAGE = "From: alice@example.com\nTo: bob@example.com\nSubject: CRL\n\nhello\n"


@pytest.fixture(scope="module")
def signed(pki: TestPKI) -> bytes:
    return smime.sign(MESSAGE, pki["alice"].identity).as_bytes()


def _codes(pki: TestPKI, signed: bytes, **kwargs: object) -> set[ProblemCode]:
    trust = smime.TrustStore.from_pem(pki.root_path)
    result = smime.verify(signed, trust=trust, **kwargs)  # type: ignore[arg-type]
    assert result.valid == (not result.problems)
    return set(result.codes)


def test_an_empty_crl_settles_hard_fail(pki: TestPKI, signed: bytes) -> None:
    assert _codes(pki, signed, revocation="hard-fail") == {ProblemCode.REVOCATION_UNKNOWN}
    assert _codes(pki, signed, crls=[pki.issue_crl()], revocation="hard-fail") == set()


def test_a_crl_revokes_a_user_certificate_or_identity(pki: TestPKI, signed: bytes) -> None:
    for item in (pki["alice"], pki["alice"].identity, pki["alice"].certificate):
        crl = pki.issue_crl(revoked=[item], reason="key_compromise")
        assert _codes(pki, signed, crls=[crl]) == {ProblemCode.REVOKED}
    loaded = x509.load_der_x509_crl(crl)
    entry = loaded.get_revoked_certificate_by_serial_number(pki["alice"].certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise)
    assert loaded.issuer == pki.intermediate.certificate.subject
    # a CRL revoking someone else leaves Alice valid
    other = pki.issue_crl(revoked=[pki["bob"]])
    assert _codes(pki, signed, crls=[other], revocation="hard-fail") == set()


def test_ocsp_responses_say_good_revoked_or_unknown(pki: TestPKI, signed: bytes) -> None:
    alice = pki["alice"]
    good = pki.issue_ocsp_response(alice)
    assert _codes(pki, signed, ocsp_responses=[good], revocation="hard-fail") == set()
    revoked = pki.issue_ocsp_response(alice, status="revoked", reason="superseded")
    assert _codes(pki, signed, ocsp_responses=[revoked]) == {ProblemCode.REVOKED}
    unknown = pki.issue_ocsp_response(alice, status="unknown")
    assert _codes(pki, signed, ocsp_responses=[unknown]) == {ProblemCode.REVOCATION_UNKNOWN}
    assert ocsp.load_der_ocsp_response(revoked).revocation_reason is x509.ReasonFlags.superseded


def test_module_functions_take_any_issuer() -> None:
    root = make_ca("Ed25519 Root", key_type="ed25519")
    crl = x509.load_der_x509_crl(issue_crl(root, [root.certificate]))
    assert crl.is_signature_valid(root.certificate.public_key())  # type: ignore[arg-type]
    response = ocsp.load_der_ocsp_response(issue_ocsp_response(root, root.certificate))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_bad_reason_or_status_is_an_option_error(pki: TestPKI) -> None:
    with pytest.raises(InvalidOptionError, match="key_compromise"):
        pki.issue_crl(revoked=[pki["alice"]], reason="lost")
    with pytest.raises(InvalidOptionError, match="good, revoked or unknown"):
        pki.issue_ocsp_response(pki["alice"], status="fine")  # type: ignore[arg-type]


def test_pytest_does_not_collect_the_test_pki_classes() -> None:
    assert TestPKI.__test__ is False and TestUser.__test__ is False
