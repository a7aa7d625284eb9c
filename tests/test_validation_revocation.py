"""Revocation: CRLs and OCSP responses given by the caller, fetched over HTTP, or missing."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

import smime
from smime.errors import ParseError
from smime.keys import Identity
from smime.problems import ProblemCode
from smime.testing import issue_certificate, make_ca
from smime.validation import (
    ChainResult,
    TrustStore,
    check_revocation,
    clear_validation_cache,
    validate_certificate,
)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def codes(result: ChainResult) -> set[ProblemCode]:
    return {p.code for p in result.problems}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_validation_cache()
    yield


@dataclass
class CA:
    root: Identity
    inter: Identity
    trust: TrustStore = field(init=False)

    def __post_init__(self) -> None:
        self.trust = TrustStore([self.root.certificate])

    def user(self, email: str, **kwargs: object) -> Identity:
        return issue_certificate(self.inter, email, key_type="ec-p256", **kwargs)  # type: ignore[arg-type]

    def validate(self, cert: x509.Certificate, **kwargs: object) -> ChainResult:
        return validate_certificate(cert, trust=self.trust, intermediates=[self.inter.certificate],
                                    **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca() -> CA:
    root = make_ca("Revocation Root", key_type="ec-p256", not_before=NOW - 400 * DAY)
    inter = make_ca("Revocation Intermediate", issuer=root, key_type="ec-p256",
                    not_before=NOW - 400 * DAY, path_length=0)
    return CA(root, inter)


def make_crl(
    issuer: Identity,
    revoked: Sequence[tuple[x509.Certificate, dt.datetime, x509.ReasonFlags | None]] = (),
    *,
    this_update: dt.datetime = NOW - HOUR,
    next_update: dt.datetime = NOW + 7 * DAY,
    signer: Identity | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder().issuer_name(issuer.certificate.subject)
        .last_update(this_update).next_update(next_update)
    )
    for cert, when, reason in revoked:
        entry = (x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                 .revocation_date(when))
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign((signer or issuer).key, hashes.SHA256())  # type: ignore[arg-type]


def make_ocsp(
    cert: x509.Certificate,
    issuer: Identity,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    *,
    revoked_at: dt.datetime | None = None,
    reason: x509.ReasonFlags | None = None,
    responder: Identity | None = None,
    next_update: dt.datetime = NOW + DAY,
) -> bytes:
    signer = responder or issuer
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer.certificate, algorithm=hashes.SHA1(), cert_status=status,
        this_update=NOW - HOUR, next_update=next_update, revocation_time=revoked_at,
        revocation_reason=reason,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
    if responder is not None:
        builder = builder.certificates([responder.certificate])
    response = builder.sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]
    return response.public_bytes(serialization.Encoding.DER)


# ----------------------------------------------------------------------------- given CRLs


def test_given_crl_revokes_a_certificate_without_distribution_point(ca: CA) -> None:
    """pyhanko alone ignores this CRL (no CRL DP in the certificate): we must not."""
    user = ca.user("revoked@example.com").certificate
    crl = make_crl(ca.inter, [(user, NOW - 2 * HOUR, x509.ReasonFlags.key_compromise)])
    for mode in ("soft-fail", "hard-fail"):
        result = ca.validate(user, crls=[crl], revocation=mode)
        assert codes(result) == {ProblemCode.REVOKED} and not result.trusted
        assert result.revocation_checked
        text = str(result.problems[0])
        assert "revoked on" in text and "key compromise" in text and "CRL" in text
    # the same CRL as DER and as PEM
    der = crl.public_bytes(serialization.Encoding.DER)
    pem = crl.public_bytes(serialization.Encoding.PEM)
    assert codes(ca.validate(user, crls=[der])) == {ProblemCode.REVOKED}
    assert codes(ca.validate(user, crls=[pem])) == {ProblemCode.REVOKED}
    # revocation "off" does not look
    assert ca.validate(user, crls=[crl], revocation="off").valid


def test_crl_that_does_not_list_the_certificate(ca: CA) -> None:
    user = ca.user("fine@example.com").certificate
    other = ca.user("other@example.com").certificate
    crl = make_crl(ca.inter, [(other, NOW - 2 * HOUR, None)])
    result = ca.validate(user, crls=[crl], revocation="hard-fail")
    assert result.valid and result.revocation_checked


def test_revoked_intermediate(ca: CA) -> None:
    user = ca.user("underling@example.com").certificate
    root_crl = make_crl(ca.root, [(ca.inter.certificate, NOW - DAY,
                                   x509.ReasonFlags.ca_compromise)])
    result = ca.validate(user, crls=[root_crl])
    assert codes(result) == {ProblemCode.REVOKED}
    assert "CA certificate 'Revocation Intermediate'" in str(result.problems[0])


def test_crl_signed_by_someone_else_is_ignored(ca: CA) -> None:
    user = ca.user("forged@example.com").certificate
    impostor = make_ca("Revocation Intermediate", key_type="ec-p256")  # same name, other key
    forged = make_crl(ca.inter, [(user, NOW - HOUR, None)], signer=impostor)
    assert ca.validate(user, crls=[forged]).valid  # soft-fail: unusable data is no verdict
    hard = ca.validate(user, crls=[forged], revocation="hard-fail")
    assert codes(hard) == {ProblemCode.REVOCATION_UNKNOWN}
    assert "no valid signature" in str(hard.problems[0])


def test_expired_crl_is_not_usable_in_hard_fail(ca: CA) -> None:
    user = ca.user("stale@example.com").certificate
    stale = make_crl(ca.inter, this_update=NOW - 10 * DAY, next_update=NOW - 3 * DAY)
    assert ca.validate(user, crls=[stale]).valid
    result = ca.validate(user, crls=[stale], revocation="hard-fail")
    assert codes(result) == {ProblemCode.REVOCATION_UNKNOWN} and not result.revocation_checked
    assert "nextUpdate" in str(result.problems[0])


def test_given_crl_for_a_certificate_with_a_distribution_point(ca: CA) -> None:
    """Here pyhanko looks at the CRL too; a forged one must not abort the other checks."""
    url = f"http://127.0.0.1:{_closed_port()}/never-fetched.crl"
    user = ca.user("with-dp@example.com", crl_url=url).certificate
    revoking = make_crl(ca.inter, [(user, NOW - HOUR, x509.ReasonFlags.superseded)])
    result = ca.validate(user, crls=[revoking])
    assert codes(result) == {ProblemCode.REVOKED} and "superseded" in str(result.problems[0])
    assert ca.validate(user, crls=[make_crl(ca.inter)], revocation="hard-fail").valid
    impostor = make_ca("Revocation Intermediate", key_type="ec-p256")
    forged = make_crl(ca.inter, signer=impostor)
    assert ca.validate(user, crls=[forged]).valid
    assert codes(ca.validate(user, crls=[forged], revocation="hard-fail")) == {
        ProblemCode.REVOCATION_UNKNOWN}
    expired = issue_certificate(ca.inter, "dp-expired@example.com", key_type="ec-p256",
                                crl_url=url, not_before=NOW - 9 * DAY, not_after=NOW - DAY)
    both = ca.validate(expired.certificate, crls=[forged])
    assert codes(both) == {ProblemCode.EXPIRED}


def test_hard_fail_without_any_data(ca: CA) -> None:
    user = ca.user("nodata@example.com").certificate
    result = ca.validate(user, revocation="hard-fail")
    assert codes(result) == {ProblemCode.REVOCATION_UNKNOWN} and not result.trusted
    assert ca.validate(user).valid  # soft-fail


def test_revocation_after_the_signing_time(ca: CA) -> None:
    """A signature made before an ordinary revocation stays valid; a key compromise does not."""
    user = ca.user("later@example.com", not_before=NOW - 10 * DAY).certificate
    signed_at = NOW - 3 * DAY
    superseded = make_crl(ca.inter, [(user, NOW - DAY, x509.ReasonFlags.superseded)])
    assert ca.validate(user, crls=[superseded], at=signed_at).valid
    assert codes(ca.validate(user, crls=[superseded])) == {ProblemCode.REVOKED}
    compromised = make_crl(ca.inter, [(user, NOW - DAY, x509.ReasonFlags.key_compromise)])
    assert codes(ca.validate(user, crls=[compromised], at=signed_at)) == {ProblemCode.REVOKED}


def test_malformed_crl_input(ca: CA) -> None:
    user = ca.user("junk@example.com").certificate
    with pytest.raises(ParseError):
        ca.validate(user, crls=[b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
    with pytest.raises(ParseError):
        ca.validate(user, crls=[12345])
    # bytes that are not a CRL are unusable data, not a crash
    result = ca.validate(user, crls=[b"\x30\x03\x02\x01\x00"], revocation="hard-fail")
    assert codes(result) == {ProblemCode.REVOCATION_UNKNOWN}
    assert "malformed" in str(result.problems[0])


# ----------------------------------------------------------------------------- given OCSP


def test_given_ocsp_response_revokes(ca: CA) -> None:
    user = ca.user("ocsp-revoked@example.com").certificate
    response = make_ocsp(user, ca.inter, ocsp.OCSPCertStatus.REVOKED,
                         revoked_at=NOW - 2 * HOUR, reason=x509.ReasonFlags.cessation_of_operation)
    result = ca.validate(user, ocsp_responses=[response])
    assert codes(result) == {ProblemCode.REVOKED}
    assert "OCSP" in str(result.problems[0]) and "cessation of operation" in str(result.problems[0])
    loaded = ocsp.load_der_ocsp_response(response)
    assert codes(ca.validate(user, ocsp_responses=[loaded])) == {ProblemCode.REVOKED}


def test_good_ocsp_response_satisfies_hard_fail(ca: CA) -> None:
    user = ca.user("ocsp-good@example.com").certificate
    result = ca.validate(user, ocsp_responses=[make_ocsp(user, ca.inter)], revocation="hard-fail")
    assert result.valid and result.revocation_checked


def test_delegated_ocsp_responder(ca: CA) -> None:
    user = ca.user("delegated@example.com").certificate
    responder = issue_certificate(ca.inter, None, key_type="ec-p256", common_name="OCSP",
                                  extended_key_usage=[ExtendedKeyUsageOID.OCSP_SIGNING])
    response = make_ocsp(user, ca.inter, ocsp.OCSPCertStatus.REVOKED, revoked_at=NOW - HOUR,
                         responder=responder)
    assert codes(ca.validate(user, ocsp_responses=[response])) == {ProblemCode.REVOKED}
    # a responder without id-kp-OCSPSigning is no delegate
    rogue = issue_certificate(ca.inter, None, key_type="ec-p256", common_name="Not OCSP")
    bad = make_ocsp(user, ca.inter, ocsp.OCSPCertStatus.REVOKED, revoked_at=NOW - HOUR,
                    responder=rogue)
    assert ca.validate(user, ocsp_responses=[bad]).valid
    assert codes(ca.validate(user, ocsp_responses=[bad], revocation="hard-fail")) == {
        ProblemCode.REVOCATION_UNKNOWN}


def test_ocsp_response_for_another_certificate_does_not_count(ca: CA) -> None:
    user = ca.user("mine@example.com").certificate
    other = ca.user("theirs@example.com").certificate
    response = make_ocsp(other, ca.inter, ocsp.OCSPCertStatus.REVOKED, revoked_at=NOW - HOUR)
    assert ca.validate(user, ocsp_responses=[response]).valid
    assert not ca.validate(user, ocsp_responses=[response], revocation="hard-fail").valid


def test_check_revocation_directly(ca: CA) -> None:
    user = ca.user("direct@example.com").certificate
    crl = make_crl(ca.inter, [(user, NOW - HOUR, None)])
    chain = [user, ca.inter.certificate, ca.root.certificate]
    statuses = check_revocation(chain, crls=[crl])
    assert [s.status for s in statuses] == ["revoked", "unknown"]
    assert statuses[0].source == "crl" and statuses[0].revoked_at == NOW - HOUR


# ----------------------------------------------------------------------------- fetching


class _Handler(http.server.BaseHTTPRequestHandler):
    crl: bytes = b""
    ocsp_answer: bytes = b""
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self._send(self.crl, "application/pkix-crl")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.hits.append(self.path)
        self._send(self.ocsp_answer, "application/ocsp-response")

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetched_crl_revokes(ca: CA, server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    user = ca.user("fetched-crl@example.com", crl_url=f"{base}/inter.crl").certificate
    handler.crl = make_crl(ca.inter, [(user, NOW - HOUR, None)]).public_bytes(
        serialization.Encoding.DER)
    assert ca.validate(user).valid  # fetching is opt-in
    assert handler.hits == []
    result = ca.validate(user, fetch=True, timeout=5)
    assert codes(result) == {ProblemCode.REVOKED}
    assert "/inter.crl" in handler.hits


def test_fetched_crl_good_satisfies_hard_fail(ca: CA, server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    user = ca.user("fetched-ok@example.com", crl_url=f"{base}/inter.crl").certificate
    handler.crl = make_crl(ca.inter).public_bytes(serialization.Encoding.DER)
    result = ca.validate(user, fetch=True, revocation="hard-fail", timeout=5)
    assert result.valid and result.revocation_checked
    # without fetching, the declared CRL is missing: hard-fail cannot pass
    assert codes(ca.validate(user, revocation="hard-fail")) == {ProblemCode.REVOCATION_UNKNOWN}


def test_fetched_ocsp(ca: CA, server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    user = ca.user("fetched-ocsp@example.com", ocsp_url=f"{base}/ocsp").certificate
    handler.ocsp_answer = make_ocsp(user, ca.inter, ocsp.OCSPCertStatus.REVOKED,
                                    revoked_at=NOW - HOUR, reason=x509.ReasonFlags.key_compromise)
    result = ca.validate(user, fetch=True, revocation="hard-fail", timeout=5)
    assert codes(result) == {ProblemCode.REVOKED} and "/ocsp" in handler.hits
    clear_validation_cache()
    handler.ocsp_answer = make_ocsp(user, ca.inter)
    good = ca.validate(user, fetch=True, revocation="hard-fail", timeout=5)
    assert good.valid and good.revocation_checked


def test_server_down_soft_and_hard_fail(ca: CA) -> None:
    port = _closed_port()
    user = ca.user("down@example.com", crl_url=f"http://127.0.0.1:{port}/x.crl",
                   ocsp_url=f"http://127.0.0.1:{port}/ocsp").certificate
    soft = ca.validate(user, fetch=True, timeout=2)
    assert soft.valid and not soft.revocation_checked
    hard = ca.validate(user, fetch=True, revocation="hard-fail", timeout=2)
    assert codes(hard) == {ProblemCode.REVOCATION_UNKNOWN} and not hard.trusted


# ----------------------------------------------------------------------------- given to verify


def _signed(ca: CA, email: str) -> tuple[bytes, x509.Certificate]:
    """A message signed by a new user of ``ca`` (the signature carries the intermediate)."""
    user = ca.user(email)
    letter = (f"From: {email}\r\nTo: bob@example.com\r\nSubject: revocation\r\n\r\n"
              "hello\r\n").encode()
    return smime.sign(letter, user).as_bytes(), user.certificate


def _signer_codes(result: smime.VerificationResult) -> list[ProblemCode]:
    return [p.code for p in result.signers[0].problems]


def test_verify_refuses_given_data_it_cannot_read(ca: CA) -> None:
    """Garbage handed to verify() is the caller's mistake, named; it used to be skipped."""
    signed, _user = _signed(ca, "garbage@example.com")
    good = make_crl(ca.inter)
    with pytest.raises(ParseError, match=r"crls\[1\] cannot be used: a CRL is malformed"):
        smime.verify(signed, ca.trust, crls=[good, b"\x30\x03\x02\x01\x00"])
    with pytest.raises(ParseError, match=r"crls\[0\]: expected a PEM 'X509 CRL'"):
        smime.verify(signed, ca.trust, crls=[ca.inter.certificate.public_bytes(
            serialization.Encoding.PEM)])
    with pytest.raises(ParseError, match=r"crls\[0\]: a CRL must be bytes"):
        smime.verify(signed, ca.trust, crls=[12345])  # type: ignore[list-item]
    with pytest.raises(ParseError, match=r"ocsp_responses\[0\] cannot be used: .*malformed"):
        smime.verify(signed, ca.trust, ocsp_responses=[b"not an OCSP response"])
    refusal = ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ParseError, match=r"ocsp_responses\[0\] cannot be used: .*unauthorized"):
        smime.verify(signed, ca.trust, ocsp_responses=[refusal])
    with pytest.raises(ParseError, match=r"crls\[0\]"):
        smime.unwrap(signed, trust=ca.trust, crls=[b"junk"])
    assert smime.verify(signed, ca.trust, crls=[good, good.public_bytes(
        serialization.Encoding.PEM).decode()]).valid


def test_verify_expired_given_crl_is_unknown_even_in_soft_fail(ca: CA) -> None:
    signed, _user = _signed(ca, "stale-given@example.com")
    stale = make_crl(ca.inter, this_update=NOW - 10 * DAY, next_update=NOW - 3 * DAY)
    result = smime.verify(signed, ca.trust, crls=[stale])
    assert not result.valid and not result.signers[0].trusted
    assert _signer_codes(result) == [ProblemCode.REVOCATION_UNKNOWN]
    text = str(result.signers[0].problems[0])
    assert "signer's certificate" in text and "nextUpdate" in text
    # hard-fail said so before: still one problem, not two
    hard = smime.verify(signed, ca.trust, crls=[stale], revocation="hard-fail")
    assert _signer_codes(hard) == [ProblemCode.REVOCATION_UNKNOWN]
    # with a current CRL of the same CA beside it, the status is settled
    assert smime.verify(signed, ca.trust, crls=[stale, make_crl(ca.inter)]).valid
    # "off" looks at nothing
    assert smime.verify(signed, ca.trust, crls=[stale], revocation="off").valid
    # unwrap judges the same way
    assert not smime.unwrap(signed, trust=ca.trust, crls=[stale]).verifications[0].valid


def test_verify_forged_given_crl_is_unknown_even_in_soft_fail(ca: CA) -> None:
    signed, _user = _signed(ca, "forged-given@example.com")
    impostor = make_ca("Revocation Intermediate", key_type="ec-p256")  # same name, other key
    forged = make_crl(ca.inter, signer=impostor)
    result = smime.verify(signed, ca.trust, crls=[forged])
    assert _signer_codes(result) == [ProblemCode.REVOCATION_UNKNOWN] and not result.valid
    assert "no valid signature" in str(result.signers[0].problems[0])


def test_verify_given_crl_of_another_ca_is_ignored(ca: CA) -> None:
    """A bundle of CRLs for many CAs is normal: one that concerns no certificate is fine."""
    signed, _user = _signed(ca, "bundle@example.com")
    elsewhere = make_ca("Some Other CA", key_type="ec-p256")
    stale_elsewhere = make_crl(elsewhere, this_update=NOW - 10 * DAY, next_update=NOW - DAY)
    result = smime.verify(signed, ca.trust, crls=[stale_elsewhere, make_crl(elsewhere)])
    assert result.valid, result.problems


def test_verify_unusable_crl_for_the_intermediate(ca: CA) -> None:
    signed, _user = _signed(ca, "inter-stale@example.com")
    stale_root_crl = make_crl(ca.root, this_update=NOW - 10 * DAY, next_update=NOW - DAY)
    result = smime.verify(signed, ca.trust, crls=[make_crl(ca.inter), stale_root_crl])
    assert _signer_codes(result) == [ProblemCode.REVOCATION_UNKNOWN]
    assert "CA certificate 'Revocation Intermediate'" in str(result.signers[0].problems[0])


def test_verify_unusable_given_ocsp_response(ca: CA) -> None:
    signed, user = _signed(ca, "ocsp-given@example.com")
    expired = make_ocsp(user, ca.inter, next_update=NOW - 30 * dt.timedelta(minutes=1))
    result = smime.verify(signed, ca.trust, ocsp_responses=[expired])
    assert _signer_codes(result) == [ProblemCode.REVOCATION_UNKNOWN]
    assert "expired" in str(result.signers[0].problems[0])
    rogue = issue_certificate(ca.inter, None, key_type="ec-p256", common_name="Not OCSP")
    unauthorised = make_ocsp(user, ca.inter, responder=rogue)
    result = smime.verify(signed, ca.trust, ocsp_responses=[unauthorised])
    assert _signer_codes(result) == [ProblemCode.REVOCATION_UNKNOWN]
    assert "not signed by its CA" in str(result.signers[0].problems[0])
    # an answer about another certificate concerns nothing; a good one settles it
    other = ca.user("someone-else@example.com").certificate
    assert smime.verify(signed, ca.trust, ocsp_responses=[make_ocsp(other, ca.inter)]).valid
    assert smime.verify(signed, ca.trust, ocsp_responses=[make_ocsp(user, ca.inter)]).valid
