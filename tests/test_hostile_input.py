"""Nothing but SMIMEError escapes on hostile input (issue 9): certificates cryptography
cannot read, header comments nested past Python's stack, and 8-bit or decoded text the
``email`` generators cannot encode (``as_bytes()``, ``str()``, ``_repr_html_()``).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from helpers import PLAIN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smime
from smime import mime
from smime.cms.enveloped import RecipientSpec, create_enveloped_data
from smime.cms.signed import SignerSpec, create_signed_data
from smime.errors import LoadError, ParseError, SMIMEError
from smime.limits import MAX_COMMENT_DEPTH
from smime.problems import ProblemCode
from smime.testing import TestPKI as PKI


def _p7m(der: bytes, smime_type: str, headers: bytes = b"From: alice@example.com\r\n") -> bytes:
    return (
        headers + b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type="
        + smime_type.encode() + b"; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(der).replace(b"\n", b"\r\n")
    )


# ---------------------------------------------------------------------------- certificates


def _with_duplicate_extension(pki: PKI, der: bytes) -> bytes:
    """The certificate with its subjectKeyIdentifier twice, re-signed by its issuer."""
    cert = asn1_x509.Certificate.load(der)
    tbs = cert["tbs_certificate"]
    extensions = list(tbs["extensions"])
    ski = next(e for e in extensions if e["extn_id"].native == "key_identifier")
    tbs["extensions"] = [*extensions, ski]
    key = pki.intermediate.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA256())
    return bytes(asn1_x509.Certificate({
        "tbs_certificate": tbs,
        "signature_algorithm": cert["signature_algorithm"],
        "signature_value": signature,
    }).dump())


def _signed_by_duplicate_extension_cert(pki: PKI) -> bytes:
    """Alice's signature, intact, with her certificate replaced by one that cryptography
    loads but cannot read the extensions of (DuplicateExtension on first use)."""
    alice = pki["alice"].identity
    der = create_signed_data(PLAIN, [SignerSpec(alice)], detached=False)
    info = asn1_cms.ContentInfo.load(der)
    own = alice.certificate.public_bytes(serialization.Encoding.DER)
    certs = [c.chosen.dump() for c in info["content"]["certificates"]]
    swapped = [_with_duplicate_extension(pki, c) if c == own else c for c in certs]
    info["content"]["certificates"] = [
        asn1_cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(c))
        for c in swapped
    ]
    return _p7m(info.dump(force=True), "signed-data")


def test_a_signer_certificate_with_a_duplicated_extension_fails_closed(
    pki: PKI, trust: smime.TrustStore
) -> None:
    message = _signed_by_duplicate_extension_cert(pki)
    for result in (smime.verify(message, trust), smime.unwrap(message, trust=trust).layers[0]
                   .result):
        assert isinstance(result, smime.VerificationResult)
        assert not result.valid
        (signer,) = result.signers
        assert signer.intact and not signer.trusted and signer.certificate is None
        assert any(
            p.code == ProblemCode.MALFORMED and "Duplicate" in p.message for p in result.problems
        )
        assert "NOT VALID" in result.summary() and "signature NOT valid" in result._repr_html_()
    tree = smime.inspect(message)
    assert tree.find("signer") and "Duplicate" in str(tree)


def test_loading_a_certificate_with_a_duplicated_extension_is_refused(pki: PKI) -> None:
    der = _with_duplicate_extension(
        pki, pki["alice"].certificate.public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(LoadError, match="Duplicate"):
        smime.load_certificates(der)


# ---------------------------------------------------------------------------- header comments


def _nested_comment(depth: int) -> bytes:
    return b"(" * depth + b"x" + b")" * depth


def test_deeply_nested_header_comments_are_refused(pki: PKI, trust: smime.TrustStore) -> None:
    """500 nested comments (6 kB) made the email package's parsers recurse past Python's
    stack: RecursionError from verify, unwrap and inspect."""
    hostile = b"From: " + _nested_comment(500) + b" alice@example.com\r\n"
    body = PLAIN.split(b"\r\n", 1)[1]
    signed = hostile + smime.sign(body, pki["alice"].identity).as_bytes()
    sealed = hostile + smime.encrypt(body, pki["bob"].certificate).as_bytes()
    for operation in (
        lambda: smime.verify(signed, trust),
        lambda: smime.unwrap(signed, trust=trust),
        lambda: smime.inspect(signed),
        lambda: smime.inspect(hostile + body),
        lambda: smime.decrypt(sealed, pki["bob"].identity),
        lambda: smime.unwrap(sealed, pki["bob"].identity),
    ):
        with pytest.raises(ParseError, match="comments deeper than"):
            operation()


@pytest.mark.parametrize(
    "field",
    [
        b"Content-Type: text/plain; a=b " + _nested_comment(MAX_COMMENT_DEPTH + 1),
        b"To: " + b"(\\)" * (MAX_COMMENT_DEPTH + 1) + b"x" + b")" * (MAX_COMMENT_DEPTH + 1),
        b"Message-ID: <a@b>\r\n " + _nested_comment(MAX_COMMENT_DEPTH + 1),
    ],
)
def test_nesting_is_counted_as_a_parser_would_see_it(field: bytes) -> None:
    """Escaped closers and folded lines do not hide the depth."""
    with pytest.raises(ParseError, match="comments deeper than"):
        smime.inspect(field + b"\r\n" + PLAIN)


def test_nesting_up_to_the_cap_is_read(pki: PKI, trust: smime.TrustStore) -> None:
    sender = _nested_comment(MAX_COMMENT_DEPTH).decode() + " alice@example.com"
    body = PLAIN.split(b"\r\n", 1)[1]
    signed = f"From: {sender}\r\n".encode() + smime.sign(body, pki["alice"].identity).as_bytes()
    result = smime.verify(signed, trust)
    assert result.valid
    assert email.utils.parseaddr(result.content["From"])[1] == "alice@example.com"
    assert "alice@example.com" in (smime.inspect(signed).field("from") or "")


# ---------------------------------------------------------------------------- encoding text


#: A multipart whose boundary is given in RFC 2231 form with non-ASCII characters: the
#: email generator writes the decoded boundary as text and cannot encode it as ASCII.
RFC2231_BOUNDARY = (
    b"Content-Type: multipart/mixed; boundary*=utf-8''%C3%B6x\r\n\r\n"
    b"--\xc3\xb6x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--\xc3\xb6x--\r\n"
)
#: 8-bit text in a header, and a charset no codec knows.
EIGHT_BIT = (
    b"Subject: \xff\xfe caf\xc3\xa9\r\nContent-Type: text/plain; charset=x-unknown\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\nh\xe9llo\r\n"
)


def _opened(pki: PKI, trust: smime.TrustStore, inner: bytes) -> list[object]:
    """The messages verify, decrypt and unwrap return for ``inner``."""
    alice, bob = pki["alice"].identity, pki["bob"].identity
    signed = _p7m(create_signed_data(inner, [SignerSpec(alice)], detached=False), "signed-data")
    sealed = _p7m(create_enveloped_data(inner, [RecipientSpec(bob.certificate)]),
                  "enveloped-data", b"From: \xff\xfe <alice@example.com>\r\n")
    return [
        smime.verify(signed, trust).content,
        smime.decrypt(sealed, bob),
        smime.unwrap(sealed, bob, trust).content,
    ]


@pytest.mark.parametrize("inner", [RFC2231_BOUNDARY, EIGHT_BIT])
def test_content_stays_its_bytes_after_it_is_read(
    pki: PKI, trust: smime.TrustStore, inner: bytes
) -> None:
    for message in _opened(pki, trust, inner):
        assert isinstance(message, mime.WireMessage)
        wire = message.as_bytes()
        assert wire.endswith(inner)
        message.get_content_type()  # parses the message
        list(message.walk())
        assert message.as_bytes() == wire == bytes(message)
        assert mime.message_bytes(message) == wire
        text = str(message)  # as_string(): the text generator fails on such input
        assert text.encode("utf-8") and ("hi" in text or "llo" in text)


def test_a_changed_message_is_written_as_changed(pki: PKI, trust: smime.TrustStore) -> None:
    """Once changed, the message is generated again (as the email package sees it): the
    change is there, and text it cannot encode as ASCII no longer makes it fail."""
    for message in _opened(pki, trust, RFC2231_BOUNDARY):
        assert isinstance(message, mime.WireMessage)
        message["X-Added"] = "yes"
        changed = message.as_bytes()
        assert b"X-Added: yes\r\n" in changed and b"\r\nhi\r\n" in changed
        assert mime.message_bytes(message) == changed


@pytest.mark.parametrize("inner", [RFC2231_BOUNDARY, EIGHT_BIT])
def test_notebook_and_text_views_encode(pki: PKI, trust: smime.TrustStore, inner: bytes) -> None:
    decrypted = _opened(pki, trust, inner)[1]
    assert isinstance(decrypted, smime.DecryptedMessage)
    html = decrypted._repr_html_()
    assert html.encode("utf-8") and "decrypted" in html
    sealed = _p7m(
        create_enveloped_data(inner, [RecipientSpec(pki["bob"].certificate)]),
        "enveloped-data",
        b"From: J\xf6rg \xed\xa0\x80 <alice@example.com>\r\nSubject: \xff\xfe\r\n",
    )
    tree = smime.inspect(sealed, pki["bob"].identity)
    assert "J\u00f6rg" in (tree.field("from") or "")
    for rendered in (str(tree), tree._repr_html_(), json.dumps(tree.to_dict(), ensure_ascii=False)):
        assert rendered.encode("utf-8")


# ---------------------------------------------------------------------------- fuzzing

_PIECES = [
    b"\xff", b"\xed\xa0\x80", b"\xc3\xb6", b"=?utf-8?q?J=F6rg?=", b"=?utf-8?b?w7Y=?=",
    b"=?x-unknown?q?a?=", b"(", b")", b"\\", b'"', b"<", b">", b",", b";", b":", b"@",
    b" ", b"\r\n ", b"a", b"b@c", b"\x00", b"\x1b[2J", b"=", b"*", b"'", b"%C3%B6",
    b"utf-8''%ff%fe", b"\xe2\x80\xa8",
]
_NAMES = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Content-Type",
          b"Content-Disposition", b"Content-Transfer-Encoding", b"Sender", b"X-Any"]
_FIELD = st.tuples(
    st.sampled_from(_NAMES), st.lists(st.sampled_from(_PIECES), min_size=1, max_size=10)
).map(lambda f: f[0] + b": " + b"".join(f[1]) + b"\r\n")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outer=st.lists(_FIELD, max_size=3), inner=st.lists(_FIELD, max_size=3),
       charset=st.sampled_from([b"utf-8", b"x-unknown", b"latin-1"]))
def test_fuzzed_headers_give_results_or_smime_errors(
    pki: PKI, trust: smime.TrustStore, outer: list[bytes], inner: list[bytes], charset: bytes
) -> None:
    entity = (b"".join(inner) + b"Content-Type: text/plain; charset=" + charset
              + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nh\xe9llo\r\n")
    alice, bob = pki["alice"].identity, pki["bob"].identity
    signed = b"".join(outer) + _p7m(
        create_signed_data(entity, [SignerSpec(alice)], detached=False), "signed-data", b"")
    sealed = b"".join(outer) + _p7m(
        create_enveloped_data(entity, [RecipientSpec(bob.certificate)]), "enveloped-data", b"")
    operations = [
        lambda: (lambda r: _views(r.content, r))(smime.verify(signed, trust)),
        lambda: _views(smime.decrypt(sealed, bob)),
        lambda: _views(smime.unwrap(sealed, bob, trust).content),
        lambda: _views(smime.inspect(signed)),
        lambda: _views(smime.inspect(sealed, bob)),
    ]
    for operation in operations:
        with contextlib.suppress(SMIMEError):
            operation()


def _views(*values: object) -> None:
    """What a user does with a result: bytes, text, notebook HTML."""
    for value in values:
        if isinstance(value, mime.WireMessage):
            wire = value.as_bytes()
            value.get_content_type()
            assert value.as_bytes() == wire
            str(value).encode("utf-8")
        if hasattr(value, "_repr_html_"):
            value._repr_html_().encode("utf-8")
        if isinstance(value, smime.inspection.Node):
            str(value).encode("utf-8")
            json.dumps(value.to_dict())
