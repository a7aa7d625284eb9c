"""sign() and verify() through the public API: every algorithm and option, round trips."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from helpers import PLAIN, body_text, plain_message

import smime
from smime.errors import InvalidOptionError, ParseError, VerificationError
from smime.problems import ProblemCode

SIGNERS = ["alice", "bob", "carol", "dave", "erin", "frank"]



@pytest.mark.parametrize("name", SIGNERS)
@pytest.mark.parametrize("detached", [True, False])
def test_every_key_type_signs_and_verifies(pki, trust, name, detached):
    user = pki[name]
    signed = smime.sign(plain_message(user.email), user.identity, detached=detached)
    if detached:
        assert signed.get_content_type() == "multipart/signed"
        assert signed.get_param("protocol") == "application/pkcs7-signature"
    else:
        assert signed.get_content_type() == "application/pkcs7-mime"
        assert signed.get_param("smime-type") == "signed-data"
    result = smime.verify(signed, trust=trust)
    assert result.valid, result.summary()
    assert bool(result)
    (signer,) = result.signers
    assert signer.email_addresses == (user.email,)
    assert signer.intact and signer.signature_valid and signer.trusted
    assert signer.certificate == user.certificate
    assert len(signer.chain) == 3  # user, intermediate, root
    assert "see you." in body_text(result.content)
    assert result.raise_for_status() is result


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("padding", ["pkcs1v15", "pss"])
def test_rsa_digests_and_paddings(pki, trust, digest, padding):
    signed = smime.sign(PLAIN, pki["alice"].identity, digest=digest, signature_padding=padding)
    assert signed.get_param("micalg") == f"sha-{digest[3:]}"
    result = smime.verify(signed.as_bytes(), trust=trust)
    assert result.valid, result.summary()
    assert result.signers[0].digest_algorithm == digest
    expected = "rsassa-pss" if padding == "pss" else "rsa-pkcs1v15"
    assert result.signers[0].signature_algorithm == expected


def test_ed25519_uses_sha512_micalg(pki, trust):
    signed = smime.sign(plain_message("erin@example.com"), pki["erin"].identity)
    assert signed.get_param("micalg") == "sha-512"
    result = smime.verify(signed, trust=trust)
    assert result.valid and result.signers[0].signature_algorithm == "ed25519"


def test_signed_attributes_carry_time_and_capabilities(pki, trust):
    when = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    signed = smime.sign(PLAIN, pki["alice"].identity, signing_time=when)
    (signer,) = smime.verify(signed, trust=trust, at=dt.datetime.now(dt.timezone.utc)).signers
    assert signer.signing_time == when
    assert signer.capabilities[:4] == ("aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc")
    assert "rsa-oaep" in signer.capabilities
    for name in ("content-type", "message-digest", "signing-time", "smime-capabilities"):
        assert name in signer.signed_attributes


def test_signing_time_in_the_future_is_a_problem(pki, trust):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    signed = smime.sign(PLAIN, pki["alice"].identity, signing_time=later)
    result = smime.verify(signed, trust=trust)
    assert not result.valid
    assert ProblemCode.SIGNING_TIME_INVALID in result.codes


def test_without_signed_attributes_and_by_key_identifier(pki, trust):
    signed = smime.sign(
        plain_message("carol@example.com"),
        pki["carol"].identity,
        signed_attributes=False,
        identify_by="subject_key_identifier",
    )
    result = smime.verify(signed, trust=trust)
    assert result.valid, result.summary()
    assert result.signers[0].signed_attributes == ()
    assert result.signers[0].signing_time is None


def test_several_signers_in_one_signature(pki, trust):
    signed = smime.sign(PLAIN, [pki["alice"].identity, pki["carol"].identity, pki["erin"].identity])
    assert signed.get_param("micalg") == "sha-256,sha-512"
    result = smime.verify(
        signed, trust=trust, policy=smime.VerificationPolicy(require_sender_match=False)
    )
    assert result.valid, result.summary()
    # DER sorts the SET OF SignerInfo, so the order on the wire is not the order given
    assert sorted(s.email_addresses[0] for s in result.signers) == [
        "alice@example.com",
        "carol@example.com",
        "erin@example.com",
    ]


def test_encryption_key_preference_is_signed(pki, trust):
    signed = smime.sign(
        PLAIN, pki["alice"].identity, encryption_certificate=pki["alice"].certificate
    )
    (signer,) = smime.verify(signed, trust=trust).signers
    assert signer.encryption_key_preference is not None
    assert "encryption-key-preference" in signer.signed_attributes


@pytest.mark.parametrize("policy", [email.policy.default, email.policy.SMTP, email.policy.compat32])
@pytest.mark.parametrize("detached", [True, False])
def test_signature_survives_email_round_trip(pki, trust, policy, detached):
    signed = smime.sign(PLAIN, pki["alice"].identity, detached=detached)
    wire = signed.as_bytes()
    assert b"\r\n" in wire and b"\n" not in wire.replace(b"\r\n", b"")
    reparsed = email.message_from_bytes(wire, policy=policy)
    assert smime.verify(reparsed, trust=trust).valid
    assert smime.verify(reparsed.as_bytes(), trust=trust).valid
    # LF-only transport (a Unix mailbox) must not matter either
    assert smime.verify(wire.replace(b"\r\n", b"\n"), trust=trust).valid


def test_outer_headers_stay_outside(pki):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    assert signed["From"] == "Alice <alice@example.com>"
    assert signed["Subject"] == "Quarterly statement"
    assert signed["Message-ID"] == "<statement-1@example.com>"
    inner = signed.get_payload(0)
    assert inner["Subject"] is None and inner["From"] is None
    assert inner.get_content_type() == "text/plain"
    sig = signed.get_payload(1)
    assert sig.get_content_type() == "application/pkcs7-signature"
    assert sig.get_filename() == "smime.p7s"


def test_eight_bit_body_is_made_seven_bit_before_signing(pki, trust):
    msg = plain_message(body="Grüße aus Köln\nFrom here on\ntrailing space \n")
    signed = smime.sign(msg, pki["alice"].identity)
    inner = signed.get_payload(0)
    assert inner["Content-Transfer-Encoding"].lower() in ("quoted-printable", "base64")
    assert all(b < 0x80 for b in signed.as_bytes())
    result = smime.verify(signed, trust=trust)
    assert result.valid
    assert "Grüße aus Köln" in body_text(result.content)


def test_untrusted_root_is_a_result_not_an_exception(pki):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    result = smime.verify(signed, trust=smime.TrustStore.from_certificates([]))
    assert not result.valid
    assert ProblemCode.UNTRUSTED in result.codes
    assert result.signers[0].intact and result.signers[0].signature_valid
    with pytest.raises(VerificationError):
        result.raise_for_status()


def test_sender_mismatch_is_reported(pki, trust):
    signed = smime.sign(plain_message("mallory@example.com"), pki["carol"].identity)
    result = smime.verify(signed, trust=trust)
    assert not result.valid
    assert ProblemCode.SENDER_MISMATCH in result.codes
    assert any(
        "carol@example.com" in str(p) and "mallory@example.com" in str(p) for p in result.problems
    )


def test_option_values_are_checked(pki):
    with pytest.raises(InvalidOptionError, match="sha256"):
        smime.sign(PLAIN, pki["alice"].identity, digest="md5")
    with pytest.raises(InvalidOptionError, match="pss"):
        smime.sign(PLAIN, pki["alice"].identity, signature_padding="oaep")
    with pytest.raises(InvalidOptionError):
        smime.sign(PLAIN, pki["carol"].identity, signature_padding="pss")


def test_unsigned_and_junk_input_raise_parse_error(pki, trust):
    with pytest.raises(ParseError):
        smime.verify(PLAIN, trust=trust)
    with pytest.raises(ParseError):
        smime.verify(b"\x00\x01garbage" * 10, trust=trust)
    with pytest.raises(ParseError):
        smime.verify(b"", trust=trust)
