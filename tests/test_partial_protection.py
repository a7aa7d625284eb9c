"""Messages of which only a part is protected: unwrap tells the truth about each part.

A KMail-style mail with plain text, ``readme.txt`` and an encrypted ``readme.txt.p7m``
(no such mail is in ../shared/corpus, so it is built here with the same structure), and a
signed part inside an unsigned multipart/mixed.
"""

from __future__ import annotations

import base64

import smime
from smime.problems import ProblemCode

TEXT = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHi Bob, the readme is attached.\r\n"
README = (
    b'Content-Type: text/plain; charset=us-ascii; name="readme.txt"\r\n'
    b'Content-Disposition: attachment; filename="readme.txt"\r\n\r\n'
    b"Nothing secret here.\r\n"
)
SECRET = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nThe secret readme.\r\n"



def _mixed(*parts: bytes) -> bytes:
    head = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: readme\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=MIX\r\n\r\n")
    return head + b"".join(b"--MIX\r\n" + p + b"\r\n" for p in parts) + b"--MIX--\r\n"


def _encrypted_attachment(pki, cipher: str = "aes-256-cbc") -> bytes:
    der = smime.encrypt(SECRET, pki["bob"].certificate, format="der", cipher=cipher)
    return (
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; '
        b'name="readme.txt.p7m"\r\n'
        b'Content-Disposition: attachment; filename="readme.txt.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(der).replace(b"\n", b"\r\n")
    )


def test_an_encrypted_attachment_is_its_own_part_and_the_rest_is_kept(pki):
    raw = _mixed(TEXT, README, _encrypted_attachment(pki))
    opened = smime.unwrap(raw, pki["bob"].identity)
    # the message is not called encrypted: only its attachment was
    assert not opened.encrypted and not opened.signed
    assert [(p.path, p.filename, p.encrypted, p.authenticated) for p in opened.parts] == [
        ("1", "", False, False), ("2", "readme.txt", False, False),
        ("3", "readme.txt.p7m", True, False),
    ]
    # content keeps every part as received: the text and readme.txt are not dropped, and
    # the plaintext is not spliced into the unprotected message (EFAIL)
    body = opened.content.as_bytes()
    assert b"Hi Bob" in body and b"Nothing secret here." in body
    assert b"The secret readme." not in body
    secret = opened.parts[2].content
    assert secret is not None and "The secret readme." in secret.get_payload()
    assert all(p.content is None for p in opened.parts[:2])
    summary = opened.summary()
    assert "attachment readme.txt.p7m (part 3) was encrypted" in summary
    assert "the rest was not" in summary
    assert ProblemCode.UNAUTHENTICATED_CONTENT in {w.code for w in opened.warnings}


def test_an_authenticated_encrypted_attachment(pki):
    raw = _mixed(TEXT, _encrypted_attachment(pki, "aes-256-gcm"))
    opened = smime.unwrap(raw, pki["bob"].identity)
    part = opened.parts[1]
    assert part.encrypted and part.authenticated and part.signature_valid is None
    assert "not authenticated" not in part.describe()


def test_a_signed_part_inside_an_unsigned_mixed(pki, trust):
    signed = smime.sign(SECRET, pki["alice"].identity).as_bytes()
    head, _, body = signed.partition(b"\r\n\r\n")
    entity = b"\r\n".join(
        line for line in head.split(b"\r\n") if line.lower().startswith((b"content-", b" "))
    ) + b"\r\n\r\n" + body
    raw = _mixed(TEXT, entity)
    opened = smime.unwrap(raw, trust=trust)
    assert not opened.signed and not opened.valid
    first, second = opened.parts
    assert first.signature_valid is None and not first.protected
    assert second.signature_valid is True and second.signed_by == ("alice@example.com",)
    assert second.authenticated and not second.encrypted
    assert b"Hi Bob" in opened.content.as_bytes()
    assert second.content is not None and "The secret readme." in second.content.get_payload()
    assert "signed by alice@example.com (VALID)" in opened.summary()
    assert "the rest was not" in opened.summary()
    # the caller who names the signed part gets it alone, as before
    alone = smime.unwrap(raw, trust=trust, part="2")
    assert alone.valid and alone.parts == ()


def test_whole_message_protection_lists_no_parts(pki):
    sealed = smime.encrypt(_mixed(TEXT, README), pki["bob"].certificate)
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.encrypted and opened.parts == ()
    assert "the rest was not" not in opened.summary()


def _signed_entity(pki) -> bytes:
    signed = smime.sign(SECRET, pki["alice"].identity).as_bytes()
    head, _, body = signed.partition(b"\r\n\r\n")
    return b"\r\n".join(
        line for line in head.split(b"\r\n") if line.lower().startswith((b"content-", b" "))
    ) + b"\r\n\r\n" + body


def test_every_protected_part_is_opened_on_its_own(pki, trust):
    raw = _mixed(TEXT, _signed_entity(pki), README, _encrypted_attachment(pki, "aes-256-gcm"))
    opened = smime.unwrap(raw, pki["bob"].identity, trust)
    assert [(p.path, p.encrypted, p.signature_valid, p.authenticated) for p in opened.parts] == [
        ("1", False, None, False), ("2", False, True, True), ("3", False, None, False),
        ("4", True, None, True),
    ]
    assert "The secret readme." in opened.parts[3].content.get_payload()
    assert b"The secret readme." not in opened.content.as_bytes().split(b"--MIX")[4]
    summary = opened.summary()
    assert "signed by alice@example.com (VALID)" in summary
    assert "attachment readme.txt.p7m (part 4) was encrypted" in summary
    assert summary.count("the rest was not") == 1


def test_a_part_without_its_key_is_reported_not_opened(pki, trust):
    raw = _mixed(TEXT, _signed_entity(pki), _encrypted_attachment(pki))
    opened = smime.unwrap(raw, trust=trust)  # no identity: the signature is still checked
    assert opened.parts[1].signature_valid is True
    third = opened.parts[2]
    assert third.not_opened and "identity" in third.not_opened
    assert "is S/MIME but was not opened" in opened.summary()


def test_a_signed_part_is_bound_to_the_message_from(pki, trust):
    raw = _mixed(TEXT, README, _signed_entity(pki)).replace(
        b"From: alice@example.com", b"From: mallory@example.com", 1)
    # the first S/MIME part is the signed one here: the main loop judges it
    opened = smime.unwrap(raw, trust=trust)
    assert opened.parts[2].signature_valid is False
    raw = _mixed(TEXT, _encrypted_attachment(pki), _signed_entity(pki)).replace(
        b"From: alice@example.com", b"From: mallory@example.com", 1)
    # here it is opened beside the first: bound to the same From
    opened = smime.unwrap(raw, pki["bob"].identity, trust)
    assert opened.parts[2].signature_valid is False
    assert opened.parts[2].signed_by == ("alice@example.com",)
