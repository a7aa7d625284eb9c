"""RFC 9788 header protection: what we send, field by field, and what we read back.

RFC 9788's appendix messages (built on RFC 9216's keys) were not retrievable here, so the
structure is checked against the RFC's text: the ``hp`` parameter on the cryptographic
payload's root, every non-structural header field copied inside it, ``HP-Outer`` fields
recording what was shown outside (``hp="cipher"`` only), the ``hcp_baseline`` policy, and
the Legacy Display Element (``hp-legacy-display="1"``).
"""

from __future__ import annotations

import email.policy
import io
from email import message_from_bytes
from email.message import Message

import pytest
from helpers import PLAIN, run

import smime
import smime.stream
from smime.errors import InvalidOptionError, UsageError
from smime.problems import ProblemCode

FIELDS = [
    ("From", "Alice <alice@example.com>"),
    ("To", "Bob <bob@example.com>"),
    ("Subject", "Quarterly statement"),
    ("Date", "Sun, 29 Nov 2026 08:00:00 +0000"),
    ("Message-ID", "<statement-1@example.com>"),
]
WITH_KEYWORDS = PLAIN.replace(b"MIME-Version", b"Keywords: money, secret\r\nMIME-Version")



def _fields(part: Message, *, structural: bool = False) -> list[tuple[str, str]]:
    return [
        (name, str(value)) for name, value in part.items()
        if structural or not (name.lower().startswith("content-") or name == "MIME-Version")
    ]


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "ascii").replace("\r\n", "\n")


def _decrypted_root(sealed: bytes, pki) -> Message:
    opened = smime.decrypt(sealed, pki["bob"].identity)
    # decrypt() puts the outer fields in front only where the entity lacks them; the
    # payload root is the decrypted entity itself.
    return message_from_bytes(opened.as_bytes(), policy=email.policy.default)


# --- sending: signed only (hp="clear") -----------------------------------------------


def test_signed_payload_carries_every_header_field_with_hp_clear(pki):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)
    outer = message_from_bytes(signed.as_bytes())
    payload = outer.get_payload()[0]
    assert payload.get_param("hp") == "clear"
    assert _fields(payload) == FIELDS
    # RFC 9788 §2.2: HP-Outer belongs to hp="cipher" only
    assert payload.get_all("HP-Outer") is None
    # signed only: nothing is hidden, the outside keeps every field as it was
    assert _fields(outer) == FIELDS
    assert payload.get_content_type() == "text/plain"
    assert "Balance: 1,234.56 EUR" in payload.get_payload()


def test_signed_protected_headers_verify_and_are_the_result_headers(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)
    result = smime.verify(signed, trust)
    assert result.valid, result.problems
    assert result.signed_headers == tuple(FIELDS)
    assert result.headers == tuple(FIELDS)


def test_without_protect_headers_nothing_changes(pki):
    plain = smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    assert b"hp=" not in plain and b"HP-Outer" not in plain


# --- sending: encrypted (hp="cipher") ------------------------------------------------


def test_encrypted_payload_follows_hcp_baseline_field_by_field(pki):
    sealed = smime.encrypt(WITH_KEYWORDS, pki["bob"].certificate, protect_headers=True)
    outer = message_from_bytes(sealed.as_bytes())
    # outside: Subject obscured, Keywords left out, the rest as it was
    assert _fields(outer) == [
        ("From", "Alice <alice@example.com>"), ("To", "Bob <bob@example.com>"),
        ("Subject", "[...]"), ("Date", "Sun, 29 Nov 2026 08:00:00 +0000"),
        ("Message-ID", "<statement-1@example.com>"),
    ]
    root = _decrypted_root(sealed.as_bytes(), pki)
    assert root.get_param("hp") == "cipher"
    protected = [f for f in _fields(root) if f[0] != "HP-Outer"]
    assert protected == [*FIELDS, ("Keywords", "money, secret")]
    # HP-Outer: exactly what was shown outside, in order; nothing for Keywords
    assert root.get_all("HP-Outer") == [
        "From: Alice <alice@example.com>", "To: Bob <bob@example.com>", "Subject: [...]",
        "Date: Sun, 29 Nov 2026 08:00:00 +0000", "Message-ID: <statement-1@example.com>",
    ]


def test_legacy_display_element_repeats_the_hidden_subject(pki):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True)
    root = _decrypted_root(sealed.as_bytes(), pki)
    # RFC 9788 §4.5: in the main body part, marked, the hidden field and a blank line first
    assert root.get_content_type() == "text/plain"
    assert root.get_param("hp-legacy-display") == "1"
    assert root.get_payload().startswith(
        "Subject: Quarterly statement\r\n\r\nYour statement is attached.")
    # a client that reads header protection takes it back out (§4.5.3)
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.content.get_content_type() == "text/plain"
    assert opened.content.get_param("hp-legacy-display") is None
    assert opened.content.get_payload().startswith("Your statement is attached.")


def test_legacy_display_goes_in_every_alternative_and_survives_encodings(pki):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@example.com", "bob@example.com", "Grüße"
    msg.set_content("Plain text.\n")
    msg.add_alternative("<html><body><p>HTML text.</p></body></html>\n", subtype="html",
                        cte="base64")
    msg.add_attachment(b"%PDF-1.4 not shown\n", maintype="application", subtype="pdf",
                       filename="a.pdf")
    sealed = smime.encrypt(msg, pki["bob"].certificate, protect_headers=True)
    root = _decrypted_root(sealed.as_bytes(), pki)
    assert root.get_content_type() == "multipart/mixed"
    alternative, attachment = root.get_payload()
    plain, html = alternative.get_payload()
    assert plain.get_param("hp-legacy-display") == "1"
    assert _text(plain).startswith("Subject: Grüße\n\nPlain text.")
    assert html.get_param("hp-legacy-display") == "1"
    assert ('<div class="header-protection-legacy-display"><pre>Subject: Grüße'
            in _text(html))
    assert attachment.get_param("hp-legacy-display") is None  # not a main body part
    opened = smime.unwrap(sealed, pki["bob"].identity)
    shown_plain, shown_html = opened.content.get_payload()[0].get_payload()
    assert _text(shown_plain) == "Plain text.\n"
    assert "Grüße" not in _text(shown_html) and "<p>HTML text.</p>" in _text(shown_html)


def test_no_legacy_display_when_asked_or_when_nothing_is_hidden(pki):
    cert = pki["bob"].certificate
    without = smime.encrypt(PLAIN, cert, protect_headers=True, legacy_display=False)
    root = _decrypted_root(without.as_bytes(), pki)
    assert root.get_param("hp-legacy-display") is None
    assert root.get_payload().startswith("Your statement")
    open_policy = smime.encrypt(PLAIN, cert, protect_headers=True,
                                header_confidentiality="hcp_no_confidentiality")
    root = _decrypted_root(open_policy.as_bytes(), pki)
    assert root.get_param("hp-legacy-display") is None
    assert message_from_bytes(open_policy.as_bytes())["Subject"] == "Quarterly statement"
    assert root.get_all("HP-Outer")[2] == "Subject: Quarterly statement"


def test_a_callable_policy_decides_the_outside(pki):
    def hide_recipients(name: str, value: str) -> str | None:
        return None if name.lower() == "to" else "[...]" if name == "Subject" else value

    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True,
                           header_confidentiality=hide_recipients)
    outer = message_from_bytes(sealed.as_bytes())
    assert outer["To"] is None and outer["Subject"] == "[...]"
    root = _decrypted_root(sealed.as_bytes(), pki)
    assert root["To"] == "Bob <bob@example.com>"
    assert not any(v.startswith("To:") for v in root.get_all("HP-Outer"))
    assert root.get_payload().startswith(
        "To: Bob <bob@example.com>\r\nSubject: Quarterly statement\r\n\r\n")


@pytest.mark.parametrize(
    ("policy", "error"),
    [("hcp_strict", InvalidOptionError), (42, UsageError),
     (lambda n, v: 1, UsageError), (lambda n, v: 1 / 0, UsageError)],
)
def test_bad_policies_are_clear_errors(pki, policy, error):
    with pytest.raises(error):
        smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True,
                      header_confidentiality=policy)


def test_protect_headers_refuses_raw_cms_output(pki):
    with pytest.raises(UsageError):
        smime.sign(PLAIN, pki["alice"].identity, protect_headers=True, format="der")
    with pytest.raises(UsageError):
        smime.sign(PLAIN, pki["alice"].identity, header_confidentiality="hcp_baseline")
    with pytest.raises(UsageError, match="goes with protect_headers=True"):  # raw output too
        smime.sign(PLAIN, pki["alice"].identity, header_confidentiality="hcp_baseline",
                   format="der")


# --- sign then encrypt ----------------------------------------------------------------


def test_sign_then_encrypt_keeps_hp_cipher_under_the_signature(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True,
                        header_confidentiality="hcp_baseline")
    sealed = smime.encrypt(signed, pki["bob"].certificate, protect_headers=True)
    outer = message_from_bytes(sealed.as_bytes())
    assert outer["Subject"] == "[...]" and outer["From"] == "Alice <alice@example.com>"
    inner = message_from_bytes(smime.decrypt(sealed, pki["bob"].identity).as_bytes())
    assert inner.get_content_type() == "multipart/signed"
    root = inner.get_payload()[0]
    assert root.get_param("hp") == "cipher"
    assert "Subject: [...]" in root.get_all("HP-Outer")
    opened = smime.unwrap(sealed, pki["bob"].identity, trust)
    assert opened.valid, opened.summary()
    assert dict(opened.headers)["Subject"] == "Quarterly statement"
    assert not [w for w in opened.warnings if w.code is ProblemCode.HEADER_MISMATCH]


def test_encrypting_a_message_signed_without_hidden_headers_is_refused(pki):
    cert = pki["bob"].certificate
    for signed in (smime.sign(PLAIN, pki["alice"].identity),
                   smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)):
        with pytest.raises(UsageError, match="header_confidentiality"):
            smime.encrypt(signed, cert, protect_headers=True)
    clear = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)
    sealed = smime.encrypt(clear, cert, protect_headers=True,
                           header_confidentiality="hcp_no_confidentiality")
    assert message_from_bytes(sealed.as_bytes())["Subject"] == "Quarterly statement"


# --- OpenSSL reads what we write -------------------------------------------------------


@pytest.mark.interop
def test_openssl_verifies_our_protected_signature_and_sees_the_headers(pki, openssl, tmp_path):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)
    path = tmp_path / "signed.eml"
    path.write_bytes(signed.as_bytes())
    out = run(openssl, "cms", "-verify", "-in", path, "-CAfile", pki.root_path,
              "-purpose", "smimesign").stdout
    content = message_from_bytes(out)
    assert content.get_param("hp") == "clear"
    assert _fields(content) == FIELDS


@pytest.mark.interop
def test_openssl_decrypts_and_verifies_our_sign_then_encrypt(pki, openssl, tmp_path):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True,
                        header_confidentiality="hcp_baseline")
    sealed = smime.encrypt(signed, pki["bob"].certificate, protect_headers=True)
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    inner = run(openssl, "cms", "-decrypt", "-in", tmp_path / "sealed.eml",
                "-recip", pki["bob"].cert_path, "-inkey", pki["bob"].key_path).stdout
    (tmp_path / "inner.eml").write_bytes(inner)
    out = run(openssl, "cms", "-verify", "-in", tmp_path / "inner.eml",
              "-CAfile", pki.root_path, "-purpose", "smimesign").stdout
    root = message_from_bytes(out)
    assert root.get_param("hp") == "cipher"
    assert [f for f in _fields(root) if f[0] != "HP-Outer"] == FIELDS
    assert "Subject: [...]" in root.get_all("HP-Outer")


@pytest.mark.interop
def test_openssl_decrypts_our_protected_headers(pki, openssl, tmp_path):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True)
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    out = run(openssl, "cms", "-decrypt", "-in", tmp_path / "sealed.eml",
              "-recip", pki["bob"].cert_path, "-inkey", pki["bob"].key_path).stdout
    root = message_from_bytes(out)
    assert root.get_param("hp") == "cipher"
    assert [f for f in _fields(root) if f[0] != "HP-Outer"] == FIELDS


# --- receiving ---------------------------------------------------------------------


def _mismatches(problems) -> list[str]:
    return [str(p) for p in problems if p.code is ProblemCode.HEADER_MISMATCH]


def test_unwrap_shows_the_protected_headers_and_no_mismatch_for_hidden_ones(pki):
    sealed = smime.encrypt(WITH_KEYWORDS, pki["bob"].certificate, protect_headers=True)
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.header_protection == "cipher"
    assert opened.headers == (*FIELDS, ("Keywords", "money, secret"))
    assert dict(opened.outer_headers)["Subject"] == "[...]"
    assert opened.content["Subject"] == "Quarterly statement"
    assert opened.content.get_all("Keywords") == ["money, secret"]
    assert _mismatches(opened.warnings) == []


def test_unwrap_reports_an_outer_field_changed_on_the_way(pki):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True).as_bytes()
    tampered = sealed.replace(b"Subject: [...]", b"Subject: Urgent: pay now", 1)
    opened = smime.unwrap(tampered, pki["bob"].identity)
    found = _mismatches(opened.warnings)
    assert len(found) == 1 and "Urgent: pay now" in found[0] and "HP-Outer" in found[0]
    assert dict(opened.headers)["Subject"] == "Quarterly statement"
    assert opened.content["Subject"] == "Quarterly statement"


def test_unwrap_reports_and_ignores_an_outer_field_added_on_the_way(pki):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True).as_bytes()
    tampered = b"Reply-To: mallory@evil.example\r\n" + sealed
    opened = smime.unwrap(tampered, pki["bob"].identity)
    found = _mismatches(opened.warnings)
    assert len(found) == 1 and "Reply-To" in found[0] and "added on the way" in found[0]
    assert "Reply-To" not in dict(opened.headers)
    assert opened.content["Reply-To"] is None


def test_a_changed_outer_from_makes_a_protected_signature_invalid(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True).as_bytes()
    forged = signed.replace(b"From: Alice <alice@example.com>",
                            b"From: Mallory <mallory@example.com>", 1)
    result = smime.verify(forged, trust)
    assert not result.valid
    assert any("mallory@example.com" in m for m in _mismatches(result.problems))
    # the signer is bound to the protected From, which the signature covers
    assert dict(result.headers)["From"] == "Alice <alice@example.com>"
    assert all(signer.valid for signer in result.signers)


def test_sign_then_encrypt_with_a_changed_outer_from_is_not_valid(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True,
                        header_confidentiality="hcp_baseline")
    sealed = smime.encrypt(signed, pki["bob"].certificate, protect_headers=True).as_bytes()
    forged = sealed.replace(b"From: Alice <alice@example.com>",
                            b"From: Mallory <mallory@example.com>", 1)
    opened = smime.unwrap(forged, pki["bob"].identity, trust)
    assert not opened.valid
    problems = opened.verifications[0].problems
    assert any("mallory" in m and "HP-Outer" in m for m in _mismatches(problems))


def test_unprotected_messages_keep_the_outer_headers(pki, trust):
    signed = smime.sign(PLAIN, pki["alice"].identity)
    result = smime.verify(signed, trust)
    assert result.headers == tuple(FIELDS)
    opened = smime.unwrap(smime.encrypt(PLAIN, pki["bob"].certificate), pki["bob"].identity)
    assert opened.header_protection == ""
    assert opened.headers == tuple(FIELDS) == opened.outer_headers


V1_PAYLOAD = (
    b'Content-Type: multipart/mixed; boundary="v1b"; protected-headers="v1"\r\n'
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: Secret plans\r\n"
    b"\r\n"
    b"--v1b\r\n"
    b'Content-Type: text/rfc822-headers; protected-headers="v1"\r\n'
    b"Content-Disposition: inline\r\n\r\n"
    b"Subject: Secret plans\r\n\r\n"
    b"--v1b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Meet at noon.\r\n"
    b"--v1b--\r\n"
)


def test_protected_headers_v1_from_thunderbird_enigmail_k9(pki):
    der = smime.encrypt(V1_PAYLOAD, pki["bob"].certificate, format="der",
                        cipher="aes-256-gcm")
    sealed = smime.mime.build_pkcs7_mime(
        der, smime_type="authEnveloped-data",
        outer_headers=[("From", "Alice <alice@example.com>"), ("To", "Bob <bob@example.com>"),
                       ("Subject", "...")],
    )
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.header_protection == "v1"
    assert dict(opened.headers)["Subject"] == "Secret plans"
    assert opened.content["Subject"] == "Secret plans"
    assert _mismatches(opened.warnings) == []


# --- inspect ---------------------------------------------------------------------------


def test_inspect_puts_protected_and_outer_headers_side_by_side(pki):
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, protect_headers=True).as_bytes()
    tampered = b"Reply-To: mallory@evil.example\r\n" + sealed.replace(
        b"To: Bob <bob@example.com>", b"To: Eve <eve@example.com>", 1)
    (node,) = smime.inspect(tampered, pki["bob"].identity).find("header-protection")
    assert node.title == 'protected header section (hp="cipher")'
    rows = dict(node.fields)
    assert rows["Subject"].endswith("shown as the sender's HP-Outer records")
    assert "'Quarterly statement'" in rows["Subject"] and "'[...]'" in rows["Subject"]
    assert rows["From"].endswith(": same")
    assert rows["To"].endswith("DIFFERS outside")
    assert rows["Reply-To"].endswith("ADDED outside (not protected)")
    # without a key nothing inside an encryption is shown
    assert smime.inspect(tampered).find("header-protection") == []
    signed = smime.sign(PLAIN, pki["alice"].identity, protect_headers=True)
    (clear,) = smime.inspect(signed).find("header-protection")
    assert clear.title == 'protected header section (hp="clear")'
    assert all(value.endswith(": same") for _, value in clear.fields)


# --- the streaming API ---------------------------------------------------------------


def _boundaries_named(data: bytes) -> bytes:
    """``data`` with every boundary we made replaced by one name (they are random)."""
    import re

    return re.sub(rb"=_smime_[0-9a-f]{32}", b"=_smime_B", data)


@pytest.mark.parametrize("detached", [True, False])
def test_stream_sign_protects_headers_as_sign_does(pki, trust, tmp_path, detached):
    out = tmp_path / "signed.eml"
    smime.stream.sign(io.BytesIO(PLAIN), out, pki["alice"].identity, protect_headers=True,
                      detached=detached)
    streamed = smime.verify(out.read_bytes(), trust)
    in_memory = smime.verify(
        smime.sign(PLAIN, pki["alice"].identity, protect_headers=True, detached=detached), trust)
    assert streamed.valid and streamed.headers == tuple(FIELDS)
    assert streamed.content.as_bytes() == in_memory.content.as_bytes()
    checked = smime.stream.verify(out, trust=trust)
    assert checked.valid and checked.headers == tuple(FIELDS)
    assert checked.signed_headers == tuple(FIELDS)


def test_stream_encrypt_protects_a_large_body_in_blocks(pki, tmp_path):
    body = b"".join(b"line %07d of a long report\r\n" % i for i in range(120_000))
    message = PLAIN.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    src, out = tmp_path / "big.eml", tmp_path / "sealed.eml"
    src.write_bytes(message)
    smime.stream.encrypt(src, out, pki["bob"].certificate, protect_headers=True)
    sealed = out.read_bytes()
    assert message_from_bytes(sealed[:2000])["Subject"] == "[...]"
    streamed = smime.decrypt(sealed, pki["bob"].identity).as_bytes()
    in_memory = smime.decrypt(
        smime.encrypt(message, pki["bob"].certificate, protect_headers=True),
        pki["bob"].identity).as_bytes()
    assert _boundaries_named(streamed) == _boundaries_named(in_memory)
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.header_protection == "cipher" and opened.headers == tuple(FIELDS)
    assert opened.content.get_payload(decode=True).replace(b"\r\n", b"\n") == body.replace(
        b"\r\n", b"\n")


def test_stream_sign_then_encrypt(pki, trust, tmp_path):
    signed, sealed = tmp_path / "signed.eml", tmp_path / "sealed.eml"
    smime.stream.sign(io.BytesIO(PLAIN), signed, pki["alice"].identity, protect_headers=True,
                      header_confidentiality="hcp_baseline")
    with pytest.raises(UsageError, match="already S/MIME"):
        smime.stream.encrypt(signed, sealed, pki["bob"].certificate, protect_headers=True)
    smime.stream.encrypt(signed, sealed, pki["bob"].certificate)
    opened = smime.unwrap(sealed.read_bytes(), pki["bob"].identity, trust)
    assert opened.valid and opened.header_protection == "cipher"
    assert dict(opened.headers)["Subject"] == "Quarterly statement"
    assert message_from_bytes(sealed.read_bytes())["Subject"] == "[...]"


# --- RFC 9788's own examples -------------------------------------------------------------
# The appendix messages themselves (signed and encrypted with RFC 9216's keys) were not
# retrievable here; their decrypted payloads, as the RFC prints them, were. They are read
# below inside an encryption of our own, with the outer header section the RFC describes.

RFC_C_3_1_2 = (  # RFC 9788 Appendix C.3.1.2: smime-signed-enc-hp-baseline, its payload
    b"MIME-Version: 1.0\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"Subject: smime-signed-enc-hp-baseline\r\n"
    b"Message-ID: <smime-signed-enc-hp-baseline@example>\r\n"
    b"From: Alice <alice@smime.example>\r\n"
    b"To: Bob <bob@smime.example>\r\n"
    b"Date: Sat, 20 Feb 2021 10:09:02 -0500\r\n"
    b"User-Agent: Sample MUA Version 1.0\r\n"
    b"HP-Outer: Subject: [...]\r\n"
    b"HP-Outer: Message-ID: <smime-signed-enc-hp-baseline@example>\r\n"
    b"HP-Outer: From: Alice <alice@smime.example>\r\n"
    b"HP-Outer: To: Bob <bob@smime.example>\r\n"
    b"HP-Outer: Date: Sat, 20 Feb 2021 10:09:02 -0500\r\n"
    b"HP-Outer: User-Agent: Sample MUA Version 1.0\r\n"
    b'Content-Type: text/plain; charset="utf-8"; hp="cipher"\r\n'
    b"\r\n"
    b"This is the\r\nsmime-signed-enc-hp-baseline\r\nmessage.\r\n"
)
RFC_FIELDS = [
    ("Subject", "smime-signed-enc-hp-baseline"),
    ("Message-ID", "<smime-signed-enc-hp-baseline@example>"),
    ("From", "Alice <alice@smime.example>"),
    ("To", "Bob <bob@smime.example>"),
    ("Date", "Sat, 20 Feb 2021 10:09:02 -0500"),
    ("User-Agent", "Sample MUA Version 1.0"),
]
RFC_E_1 = (  # RFC 9788 Appendix E.1: a text/plain Legacy Display Element
    b"Date: Fri, 21 Jan 2022 20:40:48 -0500\r\n"
    b"From: Alice <alice@example.net>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Dinner plans\r\n"
    b"Message-ID: <text-plain-legacy-display@lhp.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="us-ascii"; hp-legacy-display="1";\r\n'
    b' hp="cipher"\r\n'
    b"HP-Outer: Date: Fri, 21 Jan 2022 20:40:48 -0500\r\n"
    b"HP-Outer: From: Alice <alice@example.net>\r\n"
    b"HP-Outer: To: Bob <bob@example.net>\r\n"
    b"HP-Outer: Subject: [...]\r\n"
    b"HP-Outer: Message-ID: <text-plain-legacy-display@lhp.example>\r\n"
    b"\r\n"
    b"Subject: Dinner plans\r\n"
    b"\r\n"
    b"Let's meet at Rama's Roti Shop at 8pm and go to the park\r\n"
    b"from there.\r\n"
)
RFC_E_2 = (  # RFC 9788 Appendix E.2: the same as text/html
    RFC_E_1.split(b"\r\n\r\n", 1)[0]
    .replace(b"text/plain", b"text/html")
    .replace(b"text-plain-legacy", b"text-html-legacy")
    + b"\r\n\r\n"
    b"<html><head><title></title></head><body>\r\n"
    b'<div class="header-protection-legacy-display">\r\n'
    b"<pre>Subject: Dinner plans</pre>\r\n"
    b"</div>\r\n"
    b"<p>\r\n"
    b"Let's meet at Rama's Roti Shop at 8pm and go to the park\r\n"
    b"from there.\r\n"
    b"</p>\r\n"
    b"</body>\r\n"
    b"</html>\r\n"
)


def _sealed_payload(pki, payload: bytes, outer: list[tuple[str, str]]) -> bytes:
    der = smime.encrypt(payload, pki["bob"].certificate, format="der", cipher="aes-256-gcm")
    return smime.mime.build_pkcs7_mime(
        der, smime_type="authEnveloped-data", outer_headers=outer).as_bytes()


def _outer_of(payload: bytes) -> list[tuple[str, str]]:
    """The outer header section the RFC describes: what its HP-Outer fields record."""
    root = message_from_bytes(payload)
    return [(v.split(": ", 1)[0], v.split(": ", 1)[1]) for v in root.get_all("HP-Outer")]


def test_rfc_9788_c_3_1_2_payload_reads_as_the_rfc_says(pki):
    sealed = _sealed_payload(pki, RFC_C_3_1_2, _outer_of(RFC_C_3_1_2))
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.header_protection == "cipher"
    assert opened.headers == tuple(RFC_FIELDS)
    assert dict(opened.outer_headers)["Subject"] == "[...]"
    assert _mismatches(opened.warnings) == []
    assert opened.content.get_payload() == (
        "This is the\r\nsmime-signed-enc-hp-baseline\r\nmessage.\r\n")
    # the same payload behind a changed outer Subject is reported
    tampered = sealed.replace(b"Subject: [...]", b"Subject: smime-signed", 1)
    assert len(_mismatches(smime.unwrap(tampered, pki["bob"].identity).warnings)) == 1


def test_we_build_the_rfc_9788_c_3_1_2_payload_field_by_field(pki):
    message = (b"".join(f"{n}: {v}\r\n".encode() for n, v in RFC_FIELDS)
               + b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
               + b"Content-Transfer-Encoding: 7bit\r\n\r\n"
               + b"This is the\r\nsmime-signed-enc-hp-baseline\r\nmessage.\r\n")
    sealed = smime.encrypt(message, pki["bob"].certificate, protect_headers=True,
                           legacy_display=False)
    ours = _decrypted_root(sealed.as_bytes(), pki)
    theirs = message_from_bytes(RFC_C_3_1_2, policy=email.policy.default)
    for field in ("HP-Outer", *(n for n, _ in RFC_FIELDS)):
        assert [str(v) for v in ours.get_all(field)] == [
            str(v) for v in theirs.get_all(field)], field
    assert ours.get_params() == theirs.get_params()
    assert ours["Content-Transfer-Encoding"] == theirs["Content-Transfer-Encoding"]
    assert ours.get_payload() == theirs.get_payload()
    assert _fields(message_from_bytes(sealed.as_bytes())) == _outer_of(RFC_C_3_1_2)


@pytest.mark.parametrize("payload", [RFC_E_1, RFC_E_2], ids=["text", "html"])
def test_rfc_9788_appendix_e_legacy_display_is_hidden(pki, payload):
    sealed = _sealed_payload(pki, payload, _outer_of(payload))
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert dict(opened.headers)["Subject"] == "Dinner plans"
    assert _mismatches(opened.warnings) == []
    shown = opened.content.get_payload().replace("\r\n", "\n")
    assert "Dinner plans" not in shown
    assert "Let's meet at Rama's Roti Shop at 8pm and go to the park\nfrom there.\n" in shown
    if payload is RFC_E_1:
        assert shown == "Let's meet at Rama's Roti Shop at 8pm and go to the park\nfrom there.\n"


@pytest.mark.parametrize("payload", [
    # a marked element whose base64 is damaged: shown as it came
    b'Content-Type: text/plain; hp="cipher"; hp-legacy-display="1"\r\n'
    b"Content-Transfer-Encoding: base64\r\nSubject: x\r\n\r\n!!!not base64!!!\r\n",
    # LF line ends, HP-Outer without a field name, an unknown hp value
    b'Content-Type: text/plain; hp="cipher"; hp-legacy-display="1"\n'
    b"Subject: x\nHP-Outer: no colon here\nHP-Outer: : empty\n\nSubject: x\n\nbody\n",
    b'Content-Type: multipart/mixed; boundary=B; hp="bogus"\r\nSubject: x\r\n\r\n--B\r\n',
    b'Content-Type: multipart/alternative; boundary=B; hp="cipher"\r\nSubject: x\r\n\r\n'
    + b"--B\r\nContent-Type: text/html; hp-legacy-display=1\r\n\r\n<div class=\r\n" * 40,
])
def test_damaged_protected_payloads_read_without_raw_errors(pki, payload):
    sealed = _sealed_payload(pki, payload, [("From", "a@example.com"), ("Subject", "[...]")])
    opened = smime.unwrap(sealed, pki["bob"].identity)
    assert opened.content is not None
    assert opened.header_protection in ("cipher", "")
    smime.inspect(sealed, pki["bob"].identity)


def test_bcc_is_never_copied_inside(pki):
    with_bcc = PLAIN.replace(b"MIME-Version", b"Bcc: carol@example.com\r\nMIME-Version")
    sealed = smime.encrypt(with_bcc, pki["bob"].certificate, protect_headers=True)
    root = _decrypted_root(sealed.as_bytes(), pki)
    assert root["Bcc"] is None
    assert not any(v.startswith("Bcc") for v in root.get_all("HP-Outer"))
    assert message_from_bytes(sealed.as_bytes())["Bcc"] == "carol@example.com"
    signed = smime.sign(with_bcc, pki["alice"].identity, protect_headers=True).as_bytes()
    assert message_from_bytes(signed).get_payload()[0]["Bcc"] is None
