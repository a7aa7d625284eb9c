"""Revocation data edges: every signature algorithm a CA may use, and OCSP responses that
must not count (wrong issuer, unknown status, stale, from the future, not delegated).

Checked through :func:`smime.validation.check_revocation`, which decides the status of
each certificate of a chain from the CRLs and OCSP responses the caller holds.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import smime
from smime import testing
from smime.cms.signed import SignerSpec, create_signed_data
from smime.keys import Identity
from smime.validation import RevocationStatus, TrustStore, check_revocation

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SHA256 = hashes.SHA256()


# ----------------------------------------------------------------------------- a small PKI


@dataclass(frozen=True)
class Algorithm:
    """How a CA of one key type signs: a key maker and the keywords for ``sign``."""

    name: str
    key: Callable[[], object]
    hash: hashes.HashAlgorithm | None = None
    rsa_padding: padding.PSS | None = None

    def sign_kwargs(self) -> dict[str, object]:
        return {} if self.rsa_padding is None else {"rsa_padding": self.rsa_padding}


ALGORITHMS = [
    Algorithm("ed25519", ed25519.Ed25519PrivateKey.generate),
    Algorithm("ed448", ed448.Ed448PrivateKey.generate),
    Algorithm("dsa", lambda: dsa.generate_private_key(1024), hashes.SHA256()),
    Algorithm("ecdsa-sha384", lambda: ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()),
    Algorithm("rsa-pkcs1v15-sha512", lambda: rsa.generate_private_key(65537, 1024),
              hashes.SHA512()),
    Algorithm("rsa-pss-sha256", lambda: rsa.generate_private_key(65537, 1024), hashes.SHA256(),
              padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)),
    Algorithm("rsa-pss-sha512", lambda: rsa.generate_private_key(65537, 1024), hashes.SHA512(),
              padding.PSS(padding.MGF1(hashes.SHA512()), 20)),
]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: object, issuer: Identity | None, algorithm: Algorithm, *,
    ca: bool = False, eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    public_key = key.public_key()  # type: ignore[attr-defined]
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject))
        .issuer_name(issuer.certificate.subject if issuer else _name(subject))
        .public_key(public_key).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 30 * DAY).not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        ), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    signer_key = issuer.key if issuer else key
    return builder.sign(signer_key, algorithm.hash, **algorithm.sign_kwargs())  # type: ignore[arg-type]


def make_ca(common_name: str, algorithm: Algorithm) -> Identity:
    key = algorithm.key()
    return Identity(_certificate(common_name, key, None, algorithm, ca=True), key)  # type: ignore[arg-type]


def issue(issuer: Identity, common_name: str, algorithm: Algorithm, *,
          eku: list[x509.ObjectIdentifier] | None = None) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    return Identity(_certificate(common_name, key, issuer, algorithm, eku=eku), key, ())


def make_crl(issuer: Identity, revoked: x509.Certificate, algorithm: Algorithm, *,
             key: object = None) -> bytes:
    """A CRL revoking ``revoked``, signed by the issuer's key (or by ``key``, a forgery)."""
    entry = (
        x509.RevokedCertificateBuilder().serial_number(revoked.serial_number)
        .revocation_date(NOW - 2 * HOUR)
        .add_extension(x509.CRLReason(x509.ReasonFlags.superseded), critical=False).build()
    )
    crl = (
        x509.CertificateRevocationListBuilder().issuer_name(issuer.certificate.subject)
        .last_update(NOW - HOUR).next_update(NOW + DAY).add_revoked_certificate(entry)
        .sign(key or issuer.key, algorithm.hash, **algorithm.sign_kwargs())  # type: ignore[arg-type]
    )
    return crl.public_bytes(serialization.Encoding.DER)


def make_ocsp(
    cert: x509.Certificate,
    issuer: Identity,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    *,
    signer: Identity | None = None,
    hash_for_signing: hashes.HashAlgorithm | None = SHA256,
    this_update: dt.datetime = NOW - HOUR,
    next_update: dt.datetime | None = NOW + DAY,
    revoked_at: dt.datetime | None = None,
    reason: x509.ReasonFlags | None = None,
    by_name: bool = False,
) -> bytes:
    signer = signer or issuer
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer.certificate, algorithm=hashes.SHA1(), cert_status=status,
        this_update=this_update, next_update=next_update, revocation_time=revoked_at,
        revocation_reason=reason,
    ).responder_id(
        ocsp.OCSPResponderEncoding.NAME if by_name else ocsp.OCSPResponderEncoding.HASH,
        signer.certificate,
    )
    if signer is not issuer:
        builder = builder.certificates([signer.certificate])
    response = builder.sign(signer.key, hash_for_signing)  # type: ignore[arg-type]
    return response.public_bytes(serialization.Encoding.DER)


BY_NAME = {a.name: a for a in ALGORITHMS}
ECDSA = BY_NAME["ecdsa-sha384"]


@pytest.fixture(scope="module")
def ca() -> Identity:
    return make_ca("Edge OCSP CA", ECDSA)


@pytest.fixture(scope="module")
def user(ca: Identity) -> Identity:
    return issue(ca, "user@example.com", ECDSA)


def status_of(user: Identity, ca: Identity, **kwargs: object) -> RevocationStatus:
    statuses = check_revocation([user.certificate, ca.certificate], **kwargs)  # type: ignore[arg-type]
    assert len(statuses) == 1  # the anchor gets none
    return statuses[0]


# ----------------------------------------------------------------------------- algorithms


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_crl_signed_with_each_algorithm_counts_and_a_forgery_does_not(
    algorithm: Algorithm,
) -> None:
    ca = make_ca(f"{algorithm.name} CA", algorithm)
    user = issue(ca, "user@example.com", algorithm)
    revoked = status_of(user, ca, crls=[make_crl(ca, user.certificate, algorithm)])
    assert (revoked.status, revoked.source, revoked.reason) == ("revoked", "crl", "superseded")
    assert revoked.revoked_at == NOW - 2 * HOUR
    # the same CRL signed by another key of the same type, under the CA's name
    forged_crl = make_crl(ca, user.certificate, algorithm, key=algorithm.key())
    forged = status_of(user, ca, crls=[forged_crl])
    assert forged.status == "unknown"
    assert "no valid signature by its CA" in forged.detail


@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS if not a.rsa_padding],
                         ids=lambda a: a.name)
def test_ocsp_response_signed_with_each_algorithm_counts(algorithm: Algorithm) -> None:
    ca = make_ca(f"{algorithm.name} OCSP CA", algorithm)
    user = issue(ca, "user@example.com", algorithm)
    response = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED,
                         hash_for_signing=algorithm.hash, revoked_at=NOW - 2 * HOUR,
                         reason=x509.ReasonFlags.key_compromise)
    status = status_of(user, ca, ocsp_responses=[response])
    assert (status.status, status.source, status.reason) == ("revoked", "ocsp", "key compromise")


def test_delegated_responder_certified_with_rsa_pss() -> None:
    pss = BY_NAME["rsa-pss-sha256"]
    ca = make_ca("PSS CA", pss)
    user = issue(ca, "user@example.com", pss)
    responder = issue(ca, "OCSP responder", pss, eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    response = make_ocsp(user.certificate, ca, signer=responder)
    assert status_of(user, ca, ocsp_responses=[response]) == RevocationStatus("good", "ocsp")


def test_signature_with_a_hash_nobody_supports_is_not_believed() -> None:
    """The response's signatureAlgorithm rewritten to md2WithRSAEncryption."""
    rsa_algorithm = BY_NAME["rsa-pkcs1v15-sha512"]
    rsa_ca = make_ca("RSA CA", rsa_algorithm)
    rsa_user = issue(rsa_ca, "user@example.com", rsa_algorithm)
    response = make_ocsp(rsa_user.certificate, rsa_ca, hash_for_signing=SHA256)
    assert status_of(rsa_user, rsa_ca, ocsp_responses=[response]).status == "good"  # control
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    assert response.count(sha256_rsa) == 1
    md2_rsa = response.replace(sha256_rsa, bytes.fromhex("06092a864886f70d010102"))
    status = status_of(rsa_user, rsa_ca, ocsp_responses=[md2_rsa])
    assert status.status == "unknown"
    assert "not signed by its CA or a delegate" in status.detail


def test_crl_whose_algorithm_names_another_key_type_is_not_believed() -> None:
    """A DSA CA's CRL relabelled sha256WithRSAEncryption (OIDs of the same length)."""
    dsa_algorithm = BY_NAME["dsa"]
    dsa_ca = make_ca("DSA CRL CA", dsa_algorithm)
    dsa_user = issue(dsa_ca, "user@example.com", dsa_algorithm)
    crl = make_crl(dsa_ca, dsa_user.certificate, dsa_algorithm)
    assert status_of(dsa_user, dsa_ca, crls=[crl]).status == "revoked"  # control
    dsa_sha256 = bytes.fromhex("0609608648016503040302")
    assert crl.count(dsa_sha256) == 2
    relabelled = crl.replace(dsa_sha256, bytes.fromhex("06092a864886f70d01010b"))
    status = status_of(dsa_user, dsa_ca, crls=[relabelled])
    assert status.status == "unknown"
    assert "no valid signature by its CA" in status.detail


ODD_KEY = (bytes.fromhex("06072a8648ce3d0201"), bytes.fromhex("06072a8648ce3d0209"))


def _with_unknown_key_algorithm(cert: x509.Certificate) -> x509.Certificate:
    """The certificate with its id-ecPublicKey OID changed to one no library knows."""
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(ODD_KEY[0]) == 1
    odd = x509.load_der_x509_certificate(der.replace(*ODD_KEY))
    with pytest.raises(UnsupportedAlgorithm):
        odd.public_key()
    return odd


def test_delegate_of_a_ca_whose_key_cannot_be_loaded_is_not_believed(
    user: Identity, ca: Identity
) -> None:
    responder = issue(ca, "OCSP responder", ECDSA, eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    response = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED, signer=responder,
                         revoked_at=NOW - HOUR)
    assert status_of(user, ca, ocsp_responses=[response]).status == "revoked"  # control
    odd = _with_unknown_key_algorithm(ca.certificate)
    statuses = check_revocation([user.certificate, odd], ocsp_responses=[response])
    assert statuses[0].status == "unknown"
    assert "not signed by its CA or a delegate" in statuses[0].detail


def test_ocsp_from_a_ca_whose_key_cannot_be_loaded_is_ignored(
    user: Identity, ca: Identity
) -> None:
    response = make_ocsp(user.certificate, ca)
    odd = _with_unknown_key_algorithm(ca.certificate)
    statuses = check_revocation([user.certificate, odd], ocsp_responses=[response])
    assert statuses[0].status == "unknown"


# ----------------------------------------------------------------------------- OCSP rules


def test_responder_named_by_its_subject(user: Identity, ca: Identity) -> None:
    response = make_ocsp(user.certificate, ca, by_name=True)
    assert status_of(user, ca, ocsp_responses=[response]) == RevocationStatus("good", "ocsp")


def test_responder_without_extended_key_usage_is_no_delegate(
    user: Identity, ca: Identity
) -> None:
    responder = issue(ca, "Plain responder", ECDSA)  # no EKU extension at all
    response = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED, signer=responder,
                         revoked_at=NOW - HOUR)
    status = status_of(user, ca, ocsp_responses=[response])
    assert status.status == "unknown"
    assert "not signed by its CA or a delegate" in status.detail


def test_responder_certified_by_another_ca_is_no_delegate(user: Identity, ca: Identity) -> None:
    other = make_ca("Other CA", ECDSA)
    responder = issue(other, "Foreign responder", ECDSA, eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    response = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED, signer=responder,
                         revoked_at=NOW - HOUR)
    status = status_of(user, ca, ocsp_responses=[response])
    assert status.status == "unknown"
    assert "not signed by its CA or a delegate" in status.detail


def test_response_about_the_same_serial_from_another_issuer_is_ignored(
    user: Identity, ca: Identity
) -> None:
    other = make_ca("Other CA", ECDSA)
    response = make_ocsp(user.certificate, other, ocsp.OCSPCertStatus.REVOKED,
                         revoked_at=NOW - HOUR)
    status = status_of(user, ca, ocsp_responses=[response])
    assert status.status == "unknown"
    assert "no OCSP response covers it" in status.detail


@pytest.mark.parametrize(("kwargs", "note"), [
    ({"status": ocsp.OCSPCertStatus.UNKNOWN}, "the OCSP responder does not know the certificate"),
    ({"this_update": NOW + DAY, "next_update": NOW + 2 * DAY},
     "an OCSP response claims to be issued in the future"),
    ({"this_update": NOW - 3 * DAY, "next_update": NOW - 2 * DAY},
     "the OCSP response expired"),
    # without nextUpdate a response counts for 30 minutes after its thisUpdate
    ({"this_update": NOW - 2 * HOUR, "next_update": None}, "the OCSP response expired"),
], ids=["unknown", "future", "expired", "no-next-update-stale"])
def test_responses_that_do_not_count(
    user: Identity, ca: Identity, kwargs: dict[str, object], note: str
) -> None:
    response = make_ocsp(user.certificate, ca, **kwargs)  # type: ignore[arg-type]
    status = status_of(user, ca, ocsp_responses=[response])
    assert status.status == "unknown" and note in status.detail


def test_fresh_response_without_next_update_counts(user: Identity, ca: Identity) -> None:
    """Ten minutes old at the validation time (the clock now, not NOW: a slow run is
    longer than the 30 minutes such a response counts for)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    response = make_ocsp(user.certificate, ca, this_update=now - dt.timedelta(minutes=10),
                         next_update=None)
    assert status_of(user, ca, ocsp_responses=[response]).status == "good"
    later = now + dt.timedelta(minutes=25)  # 35 minutes old by then
    assert status_of(user, ca, ocsp_responses=[response], at=later).status == "unknown"


def test_revocation_after_the_validation_time_counts_only_for_compromise(
    user: Identity, ca: Identity
) -> None:
    at = (NOW - 3 * HOUR).replace(tzinfo=None)  # naive: taken as UTC
    later = NOW - HOUR
    superseded = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED, revoked_at=later,
                           reason=x509.ReasonFlags.superseded)
    assert status_of(user, ca, ocsp_responses=[superseded], at=at).status == "good"
    compromised = make_ocsp(user.certificate, ca, ocsp.OCSPCertStatus.REVOKED, revoked_at=later,
                            reason=x509.ReasonFlags.key_compromise)
    status = status_of(user, ca, ocsp_responses=[compromised], at=at)
    assert (status.status, status.revoked_at, status.reason) == (
        "revoked", later, "key compromise"
    )


def test_unusable_responses_are_notes_not_errors(user: Identity, ca: Identity) -> None:
    try_later = ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.TRY_LATER
    ).public_bytes(serialization.Encoding.DER)
    status = status_of(user, ca, ocsp_responses=[try_later, b"\x30\x03\x02\x01\x00"])
    assert status.status == "unknown"
    assert "an OCSP response says try_later" in status.detail
    assert "an OCSP response is malformed" in status.detail


# ----------------------------------------------------------------------------- known bugs

SHA1_OID = bytes.fromhex("06052b0e03021a")


@pytest.fixture(scope="module")
def mail_ca() -> Identity:
    return testing.make_ca("QQQQ", key_type="ec-p256")


@pytest.fixture(scope="module")
def mail_user(mail_ca: Identity) -> Identity:
    return testing.issue_certificate(mail_ca, "user@example.com", key_type="ec-p256")


def _unknown_cert_id_hash(response: bytes) -> bytes:
    """The CertID's hashAlgorithm (SHA-1) replaced by an OID that names no hash."""
    assert response.count(SHA1_OID) == 1
    return response.replace(SHA1_OID, bytes.fromhex("06052b0e03021d"))


def _unreadable_responder_name(response: bytes) -> bytes:
    """The responder's CN (a UTF8String "QQQQ") replaced by bytes that are not UTF-8."""
    assert response.count(b"\x0c\x04QQQQ") == 1
    return response.replace(b"\x0c\x04QQQQ", b"\x0c\x04\xff\xfe\xff\xfe")


def _signed_carrying(signer: Identity, response: bytes, *, replaced: bytes = b"") -> bytes:
    """An opaque signed message whose SignedData carries ``response`` (not signed data:
    anyone relaying the message can add or replace it), swapped for ``replaced`` if given."""
    entity = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    der = create_signed_data(entity, [SignerSpec(signer)], detached=False,
                             ocsp_responses=[response])
    if replaced:
        assert der.count(response) == 1 and len(replaced) == len(response)
        der = der.replace(response, replaced)
    return (b"From: user@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; "
            b"smime-type=signed-data; name=smime.p7m\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der))


def test_control_a_message_carrying_a_good_response_verifies(
    mail_user: Identity, mail_ca: Identity
) -> None:
    """The control for the planted-response tests below: a good response verifies."""
    good = make_ocsp(mail_user.certificate, mail_ca, by_name=True)
    result = smime.verify(_signed_carrying(mail_user, good),
                          trust=TrustStore([mail_ca.certificate]), revocation="hard-fail")
    assert result.valid, result.summary()


def test_ocsp_cert_id_with_unknown_hash_is_ignored(user: Identity, ca: Identity) -> None:
    response = _unknown_cert_id_hash(make_ocsp(user.certificate, ca))
    status = status_of(user, ca, ocsp_responses=[response])
    assert status.status == "unknown"


def test_verify_survives_a_planted_ocsp_response_with_unknown_hash(
    mail_user: Identity, mail_ca: Identity
) -> None:
    planted = _unknown_cert_id_hash(make_ocsp(mail_user.certificate, mail_ca))
    result = smime.verify(_signed_carrying(mail_user, planted),
                          trust=TrustStore([mail_ca.certificate]))
    assert result.valid, result.summary()


def test_ocsp_response_with_unreadable_responder_name_is_ignored(
    mail_user: Identity, mail_ca: Identity
) -> None:
    broken = _unreadable_responder_name(make_ocsp(mail_user.certificate, mail_ca, by_name=True))
    assert status_of(mail_user, mail_ca, ocsp_responses=[broken]).status == "unknown"


def test_verify_survives_a_planted_ocsp_response_with_unreadable_responder_name(
    mail_user: Identity, mail_ca: Identity
) -> None:
    good = make_ocsp(mail_user.certificate, mail_ca, by_name=True)
    message = _signed_carrying(mail_user, good, replaced=_unreadable_responder_name(good))
    result = smime.verify(message, trust=TrustStore([mail_ca.certificate]))
    assert result.valid, result.summary()
