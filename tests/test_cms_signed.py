"""SignedData at the CMS level: round trips, structure, options, tampering, hostile input."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto.parser import emit, parse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smime.cms.signed import (
    SignedDataInfo,
    SignerCheck,
    SignerSpec,
    create_signed_data,
    verify_signed_data,
)
from smime.errors import CertificateError, InvalidOptionError, ParseError, UnsupportedError
from smime.keys import Identity
from smime.problems import ProblemCode

if TYPE_CHECKING:
    from smime.testing import TestPKI

CONTENT = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello from the CMS layer.\r\n"
WHEN = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.timezone.utc)
CAPABILITIES = ("aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc", "rsa-oaep",
                "ml-kem-1024", "ml-kem-768", "ml-dsa-87", "ml-dsa-65", "ml-dsa-44")
SCHEMES = {"alice": "rsa-pkcs1v15", "bob": "rsa-pkcs1v15", "carol": "ecdsa", "dave": "ecdsa",
           "frank": "ecdsa", "erin": "ed25519"}

ROUND_TRIPS = [
    (user, digest, pad)
    for user in ("alice", "bob", "carol", "dave", "frank", "erin")
    for digest in ("sha256", "sha384", "sha512")
    for pad in (("pkcs1v15", "pss") if user in ("alice", "bob") else ("pkcs1v15",))
    if not (user == "erin" and digest != "sha256")  # Ed25519 ignores the digest option
]


def only_signer(info: SignedDataInfo) -> SignerCheck:
    assert len(info.signers) == 1
    return info.signers[0]


def codes(signer: SignerCheck) -> set[ProblemCode]:
    return {p.code for p in signer.problems}


def signed_data(der: bytes) -> asn1_cms.SignedData:
    return asn1_cms.ContentInfo.load(der)["content"]


def _child_tags(der: bytes) -> list[tuple[int, int]]:
    """(class, tag) of each element inside the outer TLV of ``der``."""
    contents = parse(der)[4]
    tags = []
    while contents:
        class_, _method, tag, header, inner, trailer = parse(contents)
        tags.append((class_, tag))
        contents = contents[len(header) + len(inner) + len(trailer):]
    return tags


def rebuild(der: bytes, change: object) -> bytes:
    """Parse, let ``change`` edit the SignedData, and encode again."""
    info = asn1_cms.ContentInfo.load(der)
    change(info["content"])  # type: ignore[operator]
    return info.dump(force=True)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "encapsulated"])
@pytest.mark.parametrize(("user", "digest", "pad"), ROUND_TRIPS)
def test_round_trip(pki: TestPKI, user: str, digest: str, pad: str, detached: bool) -> None:
    identity = pki[user].identity
    der = create_signed_data(CONTENT, [SignerSpec(identity, digest=digest, padding=pad)],
                             detached=detached, signing_time=WHEN)
    info = verify_signed_data(der, CONTENT if detached else None)
    signer = only_signer(info)
    assert signer.problems == ()
    assert signer.intact and signer.signature_valid and signer.verified
    assert signer.certificate == identity.certificate
    expected_digest = "sha512" if user == "erin" else digest  # RFC 8419
    assert signer.digest_algorithm == expected_digest
    assert signer.signature_algorithm == ("rsassa-pss" if pad == "pss" else SCHEMES[user])
    assert signer.signing_time == WHEN
    assert signer.capabilities == CAPABILITIES
    assert set(signer.signed_attributes) == {
        "content-type", "message-digest", "signing-time", "smime-capabilities"
    }
    assert signer.encryption_key_preference is None
    assert info.detached is detached
    assert info.content == (None if detached else CONTENT)
    assert info.content_type == "data"
    assert set(info.certificates) == {identity.certificate, *identity.chain}
    # What we write is exactly what asn1crypto's own schema encodes (canonical DER).
    assert asn1_cms.ContentInfo.load(der).dump(force=True) == der


def test_detached_signature_fails_on_other_content(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)])
    signer = only_signer(verify_signed_data(der, CONTENT + b"!"))
    assert not signer.intact
    assert signer.signature_valid  # the signed attributes themselves are untouched
    assert codes(signer) == {ProblemCode.DIGEST_MISMATCH}
    assert "changed after it was signed" in str(signer.problems[0])


def test_structure_versions_and_algorithm_identifiers(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity, digest="sha384")])
    sd = signed_data(der)
    assert sd["version"].native == "v1"
    si = sd["signer_infos"][0]
    assert si["version"].native == "v1"
    assert si["sid"].name == "issuer_and_serial_number"
    assert si["signature_algorithm"]["algorithm"].native == "sha384_rsa"
    # RFC 5754: SHA-2 digest identifiers are written without parameters.
    assert isinstance(si["digest_algorithm"]["parameters"], asn1_core.Void)
    assert isinstance(sd["digest_algorithms"][0]["parameters"], asn1_core.Void)
    assert isinstance(sd["encap_content_info"]["content"], asn1_core.Void)  # detached

    ski = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity,
                                                  identify_by="subject_key_identifier")])
    sd = signed_data(ski)
    assert sd["version"].native == "v3"
    assert sd["signer_infos"][0]["version"].native == "v3"


def test_pss_parameters_are_explicit(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["bob"].identity, digest="sha512",
                                                  padding="pss")])
    algorithm = signed_data(der)["signer_infos"][0]["signature_algorithm"]
    assert algorithm["algorithm"].native == "rsassa_pss"
    params = algorithm["parameters"]
    # Hash, MGF and salt written out, none left to RFC 4055's SHA-1 defaults; the trailer
    # field is 1, its DEFAULT, which DER leaves out (X.690 11.5).
    assert _child_tags(params.dump()) == [(2, 0), (2, 1), (2, 2)]
    assert params["hash_algorithm"]["algorithm"].native == "sha512"
    assert params["mask_gen_algorithm"]["algorithm"].native == "mgf1"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha512"
    assert params["salt_length"].native == 64
    assert params["trailer_field"].native == "trailer_field_bc"


def test_ed25519_always_uses_sha512(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["erin"].identity, digest="sha256")])
    sd = signed_data(der)
    si = sd["signer_infos"][0]
    assert si["digest_algorithm"]["algorithm"].native == "sha512"
    assert isinstance(si["digest_algorithm"]["parameters"], asn1_core.Void)
    assert si["signature_algorithm"]["algorithm"].native == "ed25519"
    assert isinstance(si["signature_algorithm"]["parameters"], asn1_core.Void)
    digest = hashes.Hash(hashes.SHA512())
    digest.update(CONTENT)
    attrs = {a["type"].native: a["values"] for a in si["signed_attrs"]}
    assert attrs["message_digest"][0].native == digest.finalize()


def test_subject_key_identifier(pki: TestPKI) -> None:
    identity = pki["dave"].identity
    der = create_signed_data(CONTENT, [SignerSpec(identity, identify_by="subject_key_identifier")])
    signer = only_signer(verify_signed_data(der, CONTENT))
    ski = identity.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert signer.identifier == f"subject key identifier {ski.value.digest.hex()}"
    assert signer.certificate == identity.certificate
    assert signer.verified


def test_issuer_and_serial_identifier_is_readable(pki: TestPKI) -> None:
    identity = pki["alice"].identity
    der = create_signed_data(CONTENT, [SignerSpec(identity)])
    signer = only_signer(verify_signed_data(der, CONTENT))
    assert signer.identifier == (
        f"CN=smime Test Intermediate CA,O=smime Test PKI, "
        f"serial {identity.certificate.serial_number:#x}"
    )


@pytest.mark.parametrize("user", ["alice", "carol", "erin"])
@pytest.mark.parametrize("detached", [True, False])
def test_without_signed_attributes(pki: TestPKI, user: str, detached: bool) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki[user].identity, signed_attributes=False)],
                             detached=detached)
    assert isinstance(signed_data(der)["signer_infos"][0]["signed_attrs"], asn1_core.Void)
    signer = only_signer(verify_signed_data(der, CONTENT if detached else None))
    assert signer.signed_attributes == ()
    assert signer.signing_time is None and signer.capabilities == ()
    assert signer.intact and signer.signature_valid and signer.problems == ()
    tampered = only_signer(verify_signed_data(der, CONTENT[:-1] + b"?")) if detached else None
    if tampered is not None:
        assert not tampered.intact and not tampered.signature_valid
        assert codes(tampered) == {ProblemCode.BAD_SIGNATURE}


def test_two_signers_share_certificates(pki: TestPKI) -> None:
    alice, carol = pki["alice"].identity, pki["carol"].identity
    der = create_signed_data(CONTENT, [SignerSpec(alice), SignerSpec(carol, digest="sha384")],
                             detached=False, extra_certificates=[alice.certificate])
    sd = signed_data(der)
    assert len(sd["certificates"]) == 4  # alice, carol, intermediate, root: each once
    assert {a["algorithm"].native for a in sd["digest_algorithms"]} == {"sha256", "sha384"}
    info = verify_signed_data(der)
    assert len(info.signers) == 2
    assert {s.certificate for s in info.signers} == {alice.certificate, carol.certificate}
    assert all(s.verified and s.problems == () for s in info.signers)


def test_encryption_key_preference(pki: TestPKI) -> None:
    bob = pki["bob"].certificate
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity,
                                                  encryption_certificate=bob)])
    info = verify_signed_data(der, CONTENT)
    signer = only_signer(info)
    assert "encryption-key-preference" in signer.signed_attributes
    preference = signer.encryption_key_preference
    assert preference is not None
    assert preference.matches(bob) and not preference.matches(pki["alice"].certificate)
    assert preference.serial_number == bob.serial_number
    assert preference.issuer == "CN=smime Test Intermediate CA,O=smime Test PKI"
    assert bob in info.certificates  # the receiver needs the certificate it points to
    assert signer.verified


def test_extra_certificates_and_no_chain(pki: TestPKI) -> None:
    alice = pki["alice"].identity
    der = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)],
                             extra_certificates=[pki.root.certificate])
    info = verify_signed_data(der, CONTENT)
    assert set(info.certificates) == {alice.certificate, pki.root.certificate}


@pytest.fixture(scope="module")
def revocation(pki: TestPKI) -> tuple[bytes, bytes]:
    ca = pki.intermediate
    now = dt.datetime.now(dt.timezone.utc)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=7))
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    alice = pki["alice"].certificate
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(alice, ca.certificate, hashes.SHA256(), ocsp.OCSPCertStatus.GOOD, now,
                      now + dt.timedelta(days=1), None, None)
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.certificate)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return (crl.public_bytes(serialization.Encoding.DER),
            response.public_bytes(serialization.Encoding.DER))


def test_revocation_information_round_trip(pki: TestPKI, revocation: tuple[bytes, bytes]) -> None:
    crl, response = revocation
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)], crls=[crl],
                             ocsp_responses=[response])
    sd = signed_data(der)
    assert sd["version"].native == "v5"  # RFC 5652 5.1: an "other" revocation format
    other = next(c for c in sd["crls"] if c.name == "other").chosen
    assert other["other_rev_info_format"].dotted == "1.3.6.1.5.5.7.16.2"
    info = verify_signed_data(der, CONTENT)
    assert info.crls == (crl,)
    assert info.ocsp_responses == (response,)
    assert only_signer(info).verified
    crl_only = verify_signed_data(
        create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)], crls=[crl]), CONTENT)
    assert crl_only.crls == (crl,) and crl_only.ocsp_responses == ()


def test_malformed_revocation_input_is_refused(pki: TestPKI) -> None:
    with pytest.raises(ParseError, match="CRL"):
        create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)],
                           crls=[b"\x30\x03\x02\x01\x01"])


@pytest.mark.parametrize(("when", "kind"), [
    (dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc), "utc_time"),
    (dt.datetime(2050, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc), "generalized_time"),
])
def test_signing_time_encoding(pki: TestPKI, when: dt.datetime, kind: str) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)], signing_time=when)
    si = signed_data(der)["signer_infos"][0]
    attrs = {a["type"].native: a["values"] for a in si["signed_attrs"]}
    assert attrs["signing_time"][0].name == kind
    assert only_signer(verify_signed_data(der, CONTENT)).signing_time == when


def test_signing_time_defaults_to_now(pki: TestPKI) -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)])
    after = dt.datetime.now(dt.timezone.utc)
    when = only_signer(verify_signed_data(der, CONTENT)).signing_time
    assert when is not None and before <= when <= after


def test_signed_attributes_are_sorted_der_and_signed_as_embedded(pki: TestPKI) -> None:
    identity = pki["alice"].identity
    spec = SignerSpec(identity, encryption_certificate=identity.certificate)
    si = signed_data(create_signed_data(CONTENT, [spec]))["signer_infos"][0]
    embedded = si["signed_attrs"].dump()
    as_set = b"\x31" + embedded[1:]
    assert asn1_cms.CMSAttributes.load(as_set).dump(force=True) == as_set  # sorted DER SET OF
    key = identity.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(si["signature"].native, as_set, padding.PKCS1v15(), hashes.SHA256())


# ---------------------------------------------------------------------------- options


def test_option_errors_name_the_allowed_values(pki: TestPKI) -> None:
    alice, carol = pki["alice"].identity, pki["carol"].identity
    with pytest.raises(InvalidOptionError, match="sha256, sha384, sha512"):
        SignerSpec(alice, digest="sha1")
    with pytest.raises(InvalidOptionError, match="pkcs1v15, pss"):
        SignerSpec(alice, padding="oaep")
    with pytest.raises(InvalidOptionError, match="RSA key"):
        SignerSpec(carol, padding="pss")
    with pytest.raises(InvalidOptionError, match="issuer_and_serial, subject_key_identifier"):
        SignerSpec(alice, identify_by="email")
    with pytest.raises(InvalidOptionError, match="at least one"):
        create_signed_data(CONTENT, [])
    with pytest.raises(InvalidOptionError, match="bytes"):
        create_signed_data("text", [SignerSpec(alice)])  # type: ignore[arg-type]


def test_x25519_cannot_sign(pki: TestPKI) -> None:
    with pytest.raises(InvalidOptionError, match="cannot sign"):
        SignerSpec(pki["grace"].identity)


def test_subject_key_identifier_needs_the_extension() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "no ski")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    identity = Identity(cert, key)
    with pytest.raises(CertificateError, match="subjectKeyIdentifier"):
        SignerSpec(identity, identify_by="subject_key_identifier")
    der = create_signed_data(CONTENT, [SignerSpec(identity)])
    assert only_signer(verify_signed_data(der, CONTENT)).verified


# ---------------------------------------------------------------------------- tampering


def test_tampered_content_byte(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)], detached=False)
    index = der.index(CONTENT) + 10
    tampered = der[:index] + bytes([der[index] ^ 0x01]) + der[index + 1:]
    info = verify_signed_data(tampered)
    signer = only_signer(info)
    assert info.content != CONTENT
    assert not signer.intact and signer.signature_valid
    assert codes(signer) == {ProblemCode.DIGEST_MISMATCH}


def test_tampered_signed_attribute_byte(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)], signing_time=WHEN)
    stamp = b"260504030201Z"  # the UTCTime inside signingTime
    index = der.index(stamp)
    tampered = der[:index] + b"27" + der[index + 2:]  # a year later
    signer = only_signer(verify_signed_data(tampered, CONTENT))
    assert signer.intact  # the content digest still matches...
    assert not signer.signature_valid  # ...but the attributes are not what was signed
    assert codes(signer) == {ProblemCode.BAD_SIGNATURE}
    assert signer.signing_time == WHEN.replace(year=2027)


@pytest.mark.parametrize("user", ["alice", "carol", "erin"])
def test_tampered_signature_byte(pki: TestPKI, user: str) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki[user].identity)])

    def flip(sd: asn1_cms.SignedData) -> None:
        si = sd["signer_infos"][0]
        sig = bytearray(si["signature"].native)
        sig[len(sig) // 2] ^= 0x40
        si["signature"] = bytes(sig)

    signer = only_signer(verify_signed_data(rebuild(der, flip), CONTENT))
    assert signer.intact and not signer.signature_valid
    assert codes(signer) == {ProblemCode.BAD_SIGNATURE}


def _impostor(pki: TestPKI, victim: x509.Certificate) -> x509.Certificate:
    """Another key's certificate with the victim's issuer and serial number."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(victim.subject).issuer_name(victim.issuer)
        .public_key(key.public_key()).serial_number(victim.serial_number)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    )


def test_swapped_certificate(pki: TestPKI) -> None:
    carol = pki["carol"].identity
    impostor = _impostor(pki, carol.certificate)
    der = create_signed_data(CONTENT, [SignerSpec(carol, include_chain=False)])

    def swap(sd: asn1_cms.SignedData) -> None:
        sd["certificates"] = [asn1_cms.CertificateChoices.load(
            impostor.public_bytes(serialization.Encoding.DER))]

    signer = only_signer(verify_signed_data(rebuild(der, swap), CONTENT))
    assert signer.certificate == impostor
    assert signer.intact and not signer.signature_valid
    assert codes(signer) == {ProblemCode.BAD_SIGNATURE}


def test_key_type_that_cannot_have_signed(pki: TestPKI) -> None:
    alice = pki["alice"].identity
    impostor = _impostor(pki, alice.certificate)  # an EC key under alice's name
    der = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)])

    def swap(sd: asn1_cms.SignedData) -> None:
        sd["certificates"] = [asn1_cms.CertificateChoices.load(
            impostor.public_bytes(serialization.Encoding.DER))]

    signer = only_signer(verify_signed_data(rebuild(der, swap), CONTENT))
    assert not signer.signature_valid
    assert "does not fit the signer's EC key" in str(signer.problems[0])


def test_missing_certificate_and_extra_certificates(pki: TestPKI) -> None:
    alice = pki["alice"].identity
    der = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)])
    bare = rebuild(der, lambda sd: sd.__setitem__("certificates", None))
    signer = only_signer(verify_signed_data(bare, CONTENT))
    assert signer.certificate is None
    assert signer.intact and not signer.signature_valid
    assert codes(signer) == {ProblemCode.MISSING_CERTIFICATE}
    text = str(signer.problems[0])
    assert "neither in the message" in text and "was not checked" in text
    assert "certificates=" in text and "was checked" not in text  # the CLI says --certfile
    found = only_signer(verify_signed_data(bare, CONTENT, extra_certificates=[alice.certificate]))
    assert found.certificate == alice.certificate and found.verified
    assert verify_signed_data(bare, CONTENT).certificates == ()


def test_content_type_attribute_must_match(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)], detached=False)

    def retype(sd: asn1_cms.SignedData) -> None:
        sd["version"] = "v3"
        sd["encap_content_info"] = {"content_type": "1.2.840.113549.1.9.16.1.4",
                                    "content": CONTENT}

    info = verify_signed_data(rebuild(der, retype))
    signer = only_signer(info)
    assert info.content == CONTENT and info.content_type == "1.2.840.113549.1.9.16.1.4"
    assert signer.signature_valid
    assert codes(signer) == {ProblemCode.CONTENT_TYPE_MISMATCH}


def test_embedded_content_differing_from_detached_content(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)], detached=False)
    same = only_signer(verify_signed_data(der, CONTENT))
    assert same.verified and same.problems == ()
    signer = only_signer(verify_signed_data(der, b"a different body"))
    assert not signer.intact
    assert ProblemCode.MALFORMED in codes(signer)
    assert any("differs from the detached content" in str(p) for p in signer.problems)


def test_detached_without_content(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)])
    signer = only_signer(verify_signed_data(der))
    assert not signer.intact
    assert signer.signature_valid  # the signed attributes can still be checked
    assert codes(signer) == {ProblemCode.MALFORMED}
    assert "no content was given" in str(signer.problems[0])


def test_signature_is_checked_over_the_original_attribute_encoding(pki: TestPKI) -> None:
    """A signer that wrote its attributes unsorted signed those bytes: we must check them,
    not asn1crypto's sorted re-encoding."""
    alice = pki["alice"].identity
    der = create_signed_data(CONTENT, [SignerSpec(alice)])
    sd = asn1_cms.ContentInfo.load(der)["content"]
    si = sd["signer_infos"][0]
    attributes = sorted((a.dump() for a in si["signed_attrs"]), reverse=True)  # not DER order
    contents = b"".join(attributes)
    assert isinstance(alice.key, rsa.RSAPrivateKey)
    signature = alice.key.sign(emit(0, 1, 17, contents), padding.PKCS1v15(), hashes.SHA256())
    si["signed_attrs"] = asn1_cms.CMSAttributes(contents=contents, implicit=0)
    si["signature"] = signature
    info = asn1_cms.ContentInfo({"content_type": "signed_data", "content": sd})
    unsorted = info.dump()
    assert contents in unsorted
    signer = only_signer(verify_signed_data(unsorted, CONTENT))
    assert signer.verified, signer.problems


def test_unknown_attributes_with_context_tags_do_not_break_parsing(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)])

    def add(sd: asn1_cms.SignedData) -> None:
        odd = asn1_core.Any.load(bytes.fromhex("3005a003020101"))  # SEQUENCE { [0] 1 }
        sd["signer_infos"][0]["unsigned_attrs"] = [
            asn1_cms.CMSAttribute({"type": "1.2.3.4", "values": [odd]})
        ]

    signer = only_signer(verify_signed_data(rebuild(der, add), CONTENT))
    assert signer.unsigned_attributes == ("1.2.3.4",)
    assert signer.verified


def test_unsupported_algorithms_are_problems(pki: TestPKI) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["carol"].identity)])

    def sha3(sd: asn1_cms.SignedData) -> None:
        sd["signer_infos"][0]["digest_algorithm"] = {"algorithm": "sha3_256"}

    signer = only_signer(verify_signed_data(rebuild(der, sha3), CONTENT))
    assert not signer.intact and signer.digest_algorithm == "2.16.840.1.101.3.4.2.8"
    assert ProblemCode.UNSUPPORTED_ALGORITHM in codes(signer)

    def ed448(sd: asn1_cms.SignedData) -> None:
        sd["signer_infos"][0]["signature_algorithm"] = {"algorithm": "ed448"}

    signer = only_signer(verify_signed_data(rebuild(der, ed448), CONTENT))
    assert signer.intact and not signer.signature_valid
    assert signer.signature_algorithm == "ed448"  # named, though CMS Ed448 is unsupported
    assert codes(signer) == {ProblemCode.UNSUPPORTED_ALGORITHM}
    assert "Ed448" in str(signer.problems[0])


# ---------------------------------------------------------------------------- hostile input


def test_wrong_content_type_is_a_parse_error() -> None:
    data = asn1_cms.ContentInfo({"content_type": "data",
                                 "content": asn1_core.OctetString(b"x")}).dump()
    with pytest.raises(ParseError, match=r"signed-data.*holds data"):
        verify_signed_data(data)


@pytest.mark.parametrize("data", [
    b"",
    b"\x30",
    b"\x30\x84\xff\xff\xff\xff\x06\x09",  # a length far beyond the input
    b"\x30\x89" + b"\xff" * 9,  # a length of more than 8 octets
    b"\x30\x80" * 200 + b"\x00\x00" * 200,  # nested deeper than any message
    b"\x30" + b"\x82\x7f\xff" + b"\x00" * 40,
    b"not DER at all",
])
def test_malformed_der_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        verify_signed_data(data)


def test_deep_definite_nesting_is_a_parse_error() -> None:
    inner = b"\x05\x00"
    for _ in range(5000):
        inner = (b"\x30\x84" + len(inner).to_bytes(4, "big")) + inner
    with pytest.raises(ParseError, match="deeper"):
        verify_signed_data(inner)


@pytest.fixture(scope="module")
def fuzz_seed(pki: TestPKI) -> bytes:
    alice, carol = pki["alice"].identity, pki["carol"].identity
    return create_signed_data(b"fuzz me", [SignerSpec(alice, include_chain=False),
                                           SignerSpec(carol, include_chain=False,
                                                      identify_by="subject_key_identifier")],
                              detached=False)


_EDITS = st.lists(
    st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete"]),
              st.integers(min_value=0, max_value=10_000), st.integers(0, 255)),
    min_size=1, max_size=4,
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_EDITS)
def test_mutated_signed_data_never_escapes(fuzz_seed: bytes, edits: list[tuple[str, int, int]]
                                           ) -> None:
    data = bytearray(fuzz_seed)
    for kind, where, value in edits:
        index = where % max(len(data), 1)
        if kind == "flip" and data:
            data[index] ^= value or 1
        elif kind == "truncate":
            del data[index:]
        elif kind == "insert":
            data.insert(index, value)
        elif kind == "delete" and data:
            del data[index]
    try:
        info = verify_signed_data(bytes(data))
    except (ParseError, UnsupportedError):
        return
    for signer in info.signers:
        assert isinstance(signer.problems, tuple)
        if signer.verified:
            assert info.content == b"fuzz me"
