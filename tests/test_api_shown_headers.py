"""What is shown is what was checked: signed headers, the From binding, partial signatures.

Regression tests for issue 9 ("What is displayed is not what was checked"; "a signed part
inside an unsigned multipart/mixed is reported valid=True").
"""

from __future__ import annotations

import pytest
from helpers import PLAIN

import smime
from smime import mime
from smime.cms.signed import SignerSpec, create_signed_data
from smime.errors import InvalidOptionError
from smime.keys import Identity
from smime.problems import ProblemCode

BODY = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nPay 100 EUR to account 1234.\r\n"



def _outer(sender: str, subject: str = "Invoice") -> list[tuple[str, str]]:
    return [("From", sender), ("To", "bob@example.com"), ("Subject", subject)]


def _signed_entity(
    identity: Identity, entity: bytes, outer: list[tuple[str, str]], *, detached: bool = True
) -> bytes:
    """A signature over ``entity`` exactly as given (it may carry From, To, Subject...)."""
    der = create_signed_data(entity, [SignerSpec(identity)], detached=detached)
    if detached:
        built = mime.build_multipart_signed(entity, der, micalg="sha256", outer_headers=outer)
    else:
        built = mime.build_pkcs7_mime(der, smime_type="signed-data", outer_headers=outer)
    return built.as_bytes()


def _wrapped(outer_from: str, inner_from: str, *, param: str = "") -> bytes:
    """A message whose whole content is a message/rfc822 (RFC 8551 §3.1 header protection)."""
    inner = (
        f"From: {inner_from}\r\nTo: bob@example.com\r\nSubject: Invoice\r\n".encode()
        + BODY
    )
    return (
        f"From: {outer_from}\r\nTo: bob@example.com\r\nSubject: Invoice\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: message/rfc822{param}\r\n\r\n".encode()
        + inner
    )


# ------------------------------------------------------------ the From that is shown


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
def test_protected_from_is_the_one_checked(pki, trust, detached):
    """Alice signs content whose own From says mallory; the outer From says alice. A
    reader of ``content`` sees mallory, so mallory is what must be bound (and is not)."""
    entity = b"From: mallory@example.com\r\n" + BODY
    raw = _signed_entity(pki["alice"].identity, entity, _outer("alice@example.com"),
                         detached=detached)
    result = smime.verify(raw, trust=trust)
    assert result.content["From"] == "mallory@example.com"
    assert not result.valid
    assert ProblemCode.SENDER_MISMATCH in result.codes
    assert ProblemCode.HEADER_MISMATCH in result.codes
    assert ("From", "mallory@example.com") in result.signed_headers


def test_outer_from_cannot_vouch_for_a_signed_from(pki, trust):
    """Carol signs content claiming From: alice and puts her own address outside, so the
    outer binding holds while the reader is shown alice."""
    entity = b"From: Alice <alice@example.com>\r\n" + BODY
    raw = _signed_entity(pki["carol"].identity, entity, _outer("carol@example.com"))
    result = smime.verify(raw, trust=trust)
    assert "alice@example.com" in result.content["From"]
    assert not result.valid
    assert ProblemCode.SENDER_MISMATCH in result.codes
    mismatch = [p for p in result.problems if p.code == ProblemCode.HEADER_MISMATCH]
    assert mismatch and "carol@example.com" in str(mismatch[0])


def test_wrapped_message_is_shown_and_checked(pki, trust):
    """A message/rfc822 signed whole is presented as the message (RFC 8551 §3.1): its From
    is what the reader sees and what the signer is bound to."""
    raw = smime.sign(_wrapped("alice@example.com", "mallory@example.com"),
                     pki["alice"].identity).as_bytes()
    result = smime.verify(raw, trust=trust)
    assert result.content["From"] == "mallory@example.com"
    assert result.content.get_content_type() == "text/plain"
    assert not result.valid
    assert {ProblemCode.SENDER_MISMATCH, ProblemCode.HEADER_MISMATCH} <= result.codes
    opened = smime.unwrap(raw, trust=trust)
    assert opened.content["From"] == "mallory@example.com" and not opened.valid


def test_wrapped_message_from_the_signer_is_valid(pki, trust):
    raw = smime.sign(_wrapped("alice@example.com", "Alice <alice@example.com>"),
                     pki["alice"].identity).as_bytes()
    result = smime.verify(raw, trust=trust)
    assert result.valid, result.summary()
    assert result.content["From"] == "Alice <alice@example.com>"
    assert "Pay 100 EUR" in result.content.get_content()
    assert [name for name, _ in result.signed_headers] == ["From", "To", "Subject"]
    assert "signed headers: From, To, Subject" in result.summary()


def test_forwarded_message_is_an_attachment_not_a_wrapper(pki, trust):
    """RFC 9788 ``forwarded=yes``: an attached message, whose From is someone else's."""
    raw = smime.sign(_wrapped("alice@example.com", "mallory@example.com", param="; forwarded=yes"),
                     pki["alice"].identity).as_bytes()
    result = smime.verify(raw, trust=trust)
    assert result.valid, result.summary()
    assert result.content["From"] == "alice@example.com"
    assert result.content.get_content_type() == "message/rfc822"
    assert result.signed_headers == ()


def test_signed_headers_agreeing_with_the_outside_are_valid(pki, trust):
    entity = b"From: alice@example.com\r\nSubject: Invoice\r\n" + BODY
    raw = _signed_entity(pki["alice"].identity, entity, _outer("Alice <ALICE@example.com>"))
    result = smime.verify(raw, trust=trust)
    assert result.valid, result.summary()
    assert not result.warnings


def test_other_differing_headers_are_warnings(pki, trust):
    """A list's Subject tag changes an unsigned copy; the signed Subject is shown."""
    entity = b"From: alice@example.com\r\nSubject: Invoice\r\n" + BODY
    raw = _signed_entity(pki["alice"].identity, entity,
                         _outer("alice@example.com", "[list] Invoice"))
    result = smime.verify(raw, trust=trust)
    assert result.valid, result.summary()
    assert result.content["Subject"] == "Invoice"
    (warning,) = result.warnings
    assert warning.code == ProblemCode.HEADER_MISMATCH and "[list] Invoice" in str(warning)


def test_signed_from_binds_when_the_outside_has_none(pki, trust):
    entity = b"From: alice@example.com\r\n" + BODY
    raw = _signed_entity(pki["alice"].identity, entity, [("To", "bob@example.com")])
    assert smime.verify(raw, trust=trust).valid


def test_signed_headers_without_from_bind_the_outer_from(pki, trust):
    entity = b"Subject: Invoice\r\n" + BODY
    raw = _signed_entity(pki["alice"].identity, entity, _outer("alice@example.com"))
    result = smime.verify(raw, trust=trust)
    assert result.valid, result.summary()
    assert result.signed_headers == (("Subject", "Invoice"),)
    assert "signed headers: Subject (From is not signed)" in result.summary()
    forged = _signed_entity(pki["alice"].identity, entity, _outer("mallory@example.com"))
    assert ProblemCode.SENDER_MISMATCH in smime.verify(forged, trust=trust).codes


def test_unsigned_headers_are_said_to_be_unsigned(pki, trust):
    """Ordinary S/MIME: nothing but Content-* is signed; the outer From is bound."""
    result = smime.verify(smime.sign(PLAIN, pki["alice"].identity), trust=trust)
    assert result.valid
    assert result.signed_headers == ()
    assert "headers: unsigned" in result.summary()


# ------------------------------------------------------------ From, not Sender


def test_sender_header_does_not_bind_by_default(pki, trust):
    """From: the boss, Sender: bob who signed. Readers see the boss."""
    msg = PLAIN.replace(b"From: Alice <alice@example.com>\r\n",
                        b"From: boss@example.com\r\nSender: bob@example.com\r\n")
    raw = smime.sign(msg, pki["bob"].identity).as_bytes()
    result = smime.verify(raw, trust=trust)
    assert not result.valid
    assert ProblemCode.SENDER_MISMATCH in result.codes
    on_behalf = smime.VerificationPolicy(allow_sender_header=True)
    assert smime.verify(raw, trust=trust, policy=on_behalf).valid


def test_every_from_address_must_be_bound(pki, trust):
    msg = PLAIN.replace(b"From: Alice <alice@example.com>\r\n",
                        b"From: alice@example.com, ceo@example.com\r\n")
    result = smime.verify(smime.sign(msg, pki["alice"].identity), trust=trust)
    assert not result.valid
    assert ProblemCode.SENDER_MISMATCH in result.codes
    assert "ceo@example.com" in str(result.problems[0])


# ------------------------------------------------------------ partial signatures


def _mixed(*parts: bytes, sender: bytes = b"alice@example.com") -> bytes:
    head = (b"From: " + sender + b"\r\nTo: bob@example.com\r\nSubject: Invoice\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=MIX\r\n\r\n")
    return head + b"".join(b"--MIX\r\n" + p + b"\r\n" for p in parts) + b"--MIX--\r\n"


def _without_headers(message: bytes) -> bytes:
    """An entity for a multipart: the message's Content-* headers and body."""
    head, _, body = message.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    keep = False
    for line in head.split(b"\r\n"):
        if not line[:1].isspace():  # a new field, not a folded continuation
            keep = line.lower().startswith(b"content-")
        if keep:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


UNSIGNED = b"Content-Type: text/plain\r\n\r\nPay 9,999 EUR to account 6666 instead.\r\n"


@pytest.fixture(scope="module")
def signed_part(pki) -> bytes:
    return _without_headers(smime.sign(BODY, pki["alice"].identity).as_bytes())


def test_signed_part_in_unsigned_mixed_is_not_valid(signed_part, trust):
    raw = _mixed(UNSIGNED, signed_part)
    result = smime.verify(raw, trust=trust)
    assert (result.covers, result.unsigned_parts) == ("2", ("1",))
    assert not result.valid
    assert result.codes == {ProblemCode.PARTIAL_SIGNATURE}
    assert result.signers[0].valid
    (problem,) = result.problems
    assert "part 2" in str(problem) and "part 1 of it is not signed" in str(problem)
    assert "unsigned parts: 1" in result.summary()


def test_asking_for_the_signed_part_accepts_it(signed_part, trust):
    raw = _mixed(UNSIGNED, signed_part)
    assert smime.verify(raw, trust=trust, part="2").valid
    wrong = smime.verify(raw, trust=trust, part="1")
    assert not wrong.valid and "not part 1" in str(wrong.problems[0])
    with pytest.raises(InvalidOptionError, match="part path"):
        smime.verify(raw, trust=trust, part="two")


def test_partial_signature_through_unwrap(pki, signed_part, trust):
    """The same rule when the mixed message is encrypted, or holds the encrypted part."""
    bob = pki["bob"].identity
    sealed = smime.encrypt(_mixed(UNSIGNED, signed_part), bob.certificate).as_bytes()
    opened = smime.unwrap(sealed, identity=bob, trust=trust)
    (check,) = opened.verifications
    assert (check.covers, check.unsigned_parts) == ("2", ("1",))
    assert not opened.valid and ProblemCode.PARTIAL_SIGNATURE in check.codes
    assert smime.unwrap(sealed, identity=bob, trust=trust, part="2").valid

    whole = smime.sign(PLAIN, pki["alice"].identity)
    inner = _without_headers(smime.encrypt(whole, bob.certificate).as_bytes())
    opened = smime.unwrap(_mixed(UNSIGNED, inner), identity=bob, trust=trust)
    (check,) = opened.verifications
    assert (check.covers, check.unsigned_parts) == ("2", ("1",))
    assert not opened.valid
    assert smime.unwrap(_mixed(UNSIGNED, inner), identity=bob, trust=trust, part="2").valid


def test_whole_message_signature_is_unaffected(pki, trust):
    raw = smime.sign(_mixed(UNSIGNED, BODY), pki["alice"].identity).as_bytes()
    result = smime.verify(raw, trust=trust)
    assert result.valid and result.covers == "" and result.unsigned_parts == ()
    assert smime.verify(raw, trust=trust, part="1").valid  # part 1 lies inside the signature
