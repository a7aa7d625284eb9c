"""Reading messages: to_message, message_bytes, and find_smime_part on every shape we meet."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
from email.message import EmailMessage
from email.mime.text import MIMEText

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smime.errors import ParseError
from smime.mime import (
    MAX_DEPTH,
    build_multipart_signed,
    build_pkcs7_mime,
    find_smime_part,
    message_bytes,
    parse_inner,
    prepare_entity,
    to_message,
)

DER = b"\x30\x82\x01\x00" + bytes(range(256))
B64 = base64.encodebytes(DER)
CONTENT = b"Content-Type: text/plain\r\n\r\nsigned text\r\n"


def signed(
    content: bytes = CONTENT,
    *,
    ctype: bytes = b"multipart/signed",
    protocol: bytes = b"application/pkcs7-signature",
    sig_type: bytes = b"application/pkcs7-signature",
    params: bytes = b"micalg=sha-256",
    eol: bytes = b"\r\n",
) -> bytes:
    msg = (
        b"From: alice@example.com\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: " + ctype + b'; protocol="' + protocol + b'"; ' + params + b";\r\n"
        b' boundary="BOUND"\r\n\r\npreamble\r\n--BOUND\r\n' + content + b"\r\n--BOUND\r\n"
        b"Content-Type: " + sig_type + b'; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + B64.replace(b"\n", b"\r\n") + b"\r\n"
        b"--BOUND--\r\n"
    )
    return msg.replace(b"\r\n", eol)


def opaque(ctype: bytes = b"application/pkcs7-mime; smime-type=enveloped-data") -> bytes:
    return (
        b"From: alice@example.com\r\nContent-Type: " + ctype + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + B64.replace(b"\n", b"\r\n")
    )


# ---------------------------------------------------------------- to_message / message_bytes


def test_to_message_reads_lf_and_crlf_and_str() -> None:
    for data in (b"Subject: x\n\nbody\n", b"Subject: x\r\n\r\nbody\r\n", "Subject: x\n\nbody\n"):
        msg = to_message(data)
        assert isinstance(msg, EmailMessage)
        assert msg["Subject"] == "x" and msg.get_content() in ("body\n", "body\r\n")
        assert msg.as_bytes() == b"Subject: x\r\n\r\nbody\r\n"


def test_to_message_accepts_mbox_line_and_headerless_entity() -> None:
    assert to_message(b"From alice Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n")["Subject"] == "x"
    assert to_message(b"\r\njust a body\r\n").get_content() == "just a body\r\n"


def test_to_message_passes_email_message_through_and_converts_compat32() -> None:
    msg = to_message(b"Subject: x\n\ny\n")
    assert to_message(msg) is msg
    legacy = MIMEText("hello", "plain", "utf-8")
    converted = to_message(legacy)
    assert isinstance(converted, EmailMessage) and converted.get_content() == "hello"


@pytest.mark.parametrize(
    "data",
    [b"", b"  \r\n\t\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"hello world\n", b"a:\x00b\n\nc"],
)
def test_to_message_refuses_what_is_not_a_message(data: bytes) -> None:
    with pytest.raises(ParseError, match="not an email message"):
        to_message(data)
    with pytest.raises(ParseError, match="not an email message"):
        find_smime_part(data)


def _nested(levels: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(levels)
    )
    return head + b"\r\nleaf\r\n"


def test_hostile_nesting_is_a_parse_error_not_a_recursion_error() -> None:
    for data in (_nested(1000), _nested(MAX_DEPTH + 2)):
        with pytest.raises(ParseError, match="nested deeper"):
            to_message(data)
        with pytest.raises(ParseError, match="nested deeper"):
            find_smime_part(data)
    rfc822 = b"Content-Type: message/rfc822\r\n\r\n" * 1000 + b"\r\nx"
    with pytest.raises(ParseError, match="nested deeper"):
        to_message(rfc822)
    assert to_message(_nested(MAX_DEPTH - 2)).is_multipart()


def test_message_bytes_does_not_refold_or_reencode() -> None:
    raw = (
        b"Subject: " + b"long " * 30 + b"\r\nX-Raw: caf\xc3\xa9\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"From the start \xc3\xa9\r\n"
    )
    assert message_bytes(to_message(raw.replace(b"\r\n", b"\n"))) == raw
    legacy = email.message_from_bytes(raw)  # compat32 would refold and mangle on its own
    assert message_bytes(legacy) == raw


def test_message_bytes_folds_headers_set_in_python() -> None:
    msg = EmailMessage()
    msg["Subject"] = "word " * 30
    msg.set_content("x")
    head = message_bytes(msg).split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))


# ---------------------------------------------------------------- find_smime_part


def test_multipart_signed_is_found_with_its_exact_first_part() -> None:
    part = find_smime_part(signed())
    assert part is not None
    assert (part.kind, part.path, part.micalg, part.protocol) == (
        "multipart/signed",
        "",
        "sha-256",
        "application/pkcs7-signature",
    )
    assert part.signed_content == CONTENT and part.der == DER
    assert part.outer_headers == (
        ("From", "alice@example.com"),
        ("Subject", "test"),
    )
    assert part.part.get_content_type() == "multipart/signed"


def test_signed_content_keeps_what_a_parser_would_change() -> None:
    content = (
        b"Content-Type:text/plain\r\nX-Long: " + b"y" * 100 + b"\r\n\r\ntrailing space \r\n\r\n\r\n"
    )
    part = find_smime_part(signed(content))
    assert part is not None and part.signed_content == content


def test_lf_only_message_gives_crlf_signed_content() -> None:
    part = find_smime_part(signed(eol=b"\n"))
    assert part is not None and part.signed_content == CONTENT and part.der == DER


def test_legacy_types_and_upper_case_parameters() -> None:
    data = signed(
        ctype=b"Multipart/Signed",
        protocol=b"Application/X-PKCS7-Signature",
        sig_type=b"application/x-pkcs7-signature",
        params=b"MICALG=SHA-256",
    )
    part = find_smime_part(data)
    assert part is not None
    assert (part.kind, part.micalg, part.protocol) == (
        "multipart/signed",
        "SHA-256",
        "Application/X-PKCS7-Signature",
    )
    legacy = find_smime_part(opaque(b"application/x-pkcs7-mime; SMIME-TYPE=Enveloped-Data"))
    assert legacy is not None
    assert (legacy.kind, legacy.smime_type, legacy.der) == (
        "application/pkcs7-mime",
        "enveloped-data",
        DER,
    )


def test_protocol_missing_but_signature_part_present() -> None:
    data = signed().replace(b'protocol="application/pkcs7-signature"; ', b"")
    part = find_smime_part(data)
    assert part is not None and part.kind == "multipart/signed" and part.protocol is None


def test_pgp_signed_message_is_not_smime() -> None:
    data = signed(protocol=b"application/pgp-signature", sig_type=b"application/pgp-signature")
    assert find_smime_part(data) is None


@pytest.mark.parametrize(
    ("filename", "kind", "smime_type"),
    [
        ("smime.p7m", "application/pkcs7-mime", None),
        ("SMIME.P7C", "application/pkcs7-mime", "certs-only"),
        ("smime.p7z", "application/pkcs7-mime", "compressed-data"),
        ("smime.p7s", "application/pkcs7-signature", None),
    ],
)
def test_octet_stream_with_an_smime_filename(
    filename: str, kind: str, smime_type: str | None
) -> None:
    data = opaque(b'application/octet-stream; name="' + filename.encode() + b'"')
    part = find_smime_part(data)
    assert part is not None and (part.kind, part.smime_type, part.der) == (kind, smime_type, DER)


def test_octet_stream_without_smime_filename_is_not_smime() -> None:
    assert find_smime_part(opaque(b'application/octet-stream; name="a.bin"')) is None


def test_pkcs7_mime_without_smime_type_leaves_it_to_the_der() -> None:
    part = find_smime_part(opaque(b'application/pkcs7-mime; name="smime.p7m"'))
    assert part is not None and part.smime_type is None


def test_binary_der_and_odd_base64_lines() -> None:
    binary = (
        b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n" + DER
    )
    assert find_smime_part(binary).der == DER  # type: ignore[union-attr]
    text = base64.b64encode(DER)
    ragged = b"\r\n".join([text[:10], b"  " + text[10:100] + b"\t", text[100:]])
    data = opaque().split(b"\r\n\r\n")[0] + b"\r\n\r\n" + ragged + b"\r\n\r\n"
    assert find_smime_part(data).der == DER  # type: ignore[union-attr]
    unlabelled = b"Content-Type: application/pkcs7-mime\r\n\r\n" + B64
    assert find_smime_part(unlabelled).der == DER  # type: ignore[union-attr]


def test_signed_part_nested_in_mixed_reports_its_path() -> None:
    inner = signed().split(b"MIME-Version: 1.0\r\n", 1)[1]
    data = (
        b"From: list@example.com\r\nContent-Type: multipart/mixed; boundary=MIX\r\n\r\n"
        b"--MIX\r\nContent-Type: text/plain\r\n\r\nlist footer\r\n--MIX\r\n"
        + inner
        + b"\r\n--MIX--\r\n"
    )
    part = find_smime_part(data)
    assert part is not None
    assert (part.kind, part.path, part.signed_content) == ("multipart/signed", "2", CONTENT)
    assert part.outer_headers == (("From", "list@example.com"),)
    deeper = (
        b"Content-Type: multipart/mixed; boundary=TOP\r\n\r\n--TOP\r\n"
        + data.split(b"\r\n", 1)[1]
        + b"\r\n--TOP--\r\n"
    )
    assert find_smime_part(deeper).path == "1.2"  # type: ignore[union-attr]


def test_attached_message_is_not_entered() -> None:
    data = (
        b"Content-Type: multipart/mixed; boundary=MIX\r\n\r\n--MIX\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + signed() + b"\r\n--MIX--\r\n"
    )
    assert find_smime_part(data) is None


def test_plain_message_has_no_smime_part() -> None:
    assert find_smime_part(b"Subject: hi\r\n\r\nhello\r\n") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (opaque().replace(B64[:20].replace(b"\n", b""), b"!!!!"), "malformed base64"),
        (opaque().split(b"\r\n\r\n")[0] + b"\r\n\r\nAAAAA\r\n", "malformed base64"),
        (opaque().split(b"\r\n\r\n")[0] + b"\r\n\r\n", "empty"),
        (
            signed()
            .replace(b'; name="smime.p7s"', b"")
            .replace(b"pkcs7-signature\r\n", b"text/plain\r\n"),
            "exactly two parts|second part",
        ),
        (
            signed().replace(
                b"--BOUND\r\nContent-Type: application", b"--BOUNDX\r\nContent-Type: app"
            ),
            "exactly two parts",
        ),
        (signed().replace(b'\r\n boundary="BOUND"', b""), "no boundary"),
    ],
)
def test_malformed_smime_parts_are_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        find_smime_part(data)


def test_second_part_must_be_a_signature() -> None:
    data = signed(sig_type=b"text/plain")
    with pytest.raises(ParseError, match="not application/pkcs7-signature"):
        find_smime_part(data)


def test_three_part_multipart_signed_is_refused() -> None:
    data = signed().replace(b"\r\n--BOUND--", b"\r\n--BOUND\r\n\r\nextra\r\n--BOUND--")
    with pytest.raises(ParseError, match="exactly two parts, found 3"):
        find_smime_part(data)


def test_email_message_input_is_flattened_first() -> None:
    built = build_multipart_signed(CONTENT, DER, micalg="sha256", outer_headers=[("To", "b@x")])
    part = find_smime_part(built)
    assert part is not None and part.signed_content == CONTENT and part.der == DER
    parsed = find_smime_part(email.message_from_bytes(signed(), policy=email.policy.default))
    assert parsed is not None and parsed.signed_content == CONTENT
    sealed = find_smime_part(build_pkcs7_mime(DER, smime_type="enveloped-data"))
    assert sealed is not None and sealed.der == DER and sealed.path == ""


# ---------------------------------------------------------------- hostile input

_SEEDS = [
    signed(),
    signed(eol=b"\n"),
    opaque(),
    b"Content-Type: multipart/mixed; boundary=MIX\r\n\r\n--MIX\r\n"
    + signed().split(b"MIME-Version: 1.0\r\n", 1)[1]
    + b"\r\n--MIX\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny\r\n--MIX--\r\n",
    b"Content-Type: text/plain; charset*=utf-8''%C3%A9; name*0=a; name*1=b\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9 =\r\nx\r\n",
]
_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "repeat"]),
        st.integers(0, 2000),
        st.binary(min_size=1, max_size=12),
    ),
    min_size=1,
    max_size=5,
)


def _mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, position, blob in edits:
        at = position % (len(out) + 1)
        if op == "flip" and at < len(out):
            out[at] ^= blob[0] or 1
        elif op == "insert":
            out[at:at] = blob
        elif op == "delete":
            del out[at : at + len(blob)]
        else:
            out[at:at] = bytes(out[at : at + 40]) * (1 + blob[0] % 4)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(seed=st.sampled_from(_SEEDS), edits=_EDITS)
def test_damaged_input_raises_only_parse_error(
    seed: bytes, edits: list[tuple[str, int, bytes]]
) -> None:
    """Anything else escaping (IndexError, UnicodeError, RecursionError...) fails the test."""
    data = _mutate(seed, edits)
    for function in (to_message, prepare_entity, parse_inner):
        with contextlib.suppress(ParseError):
            function(data)
    with contextlib.suppress(ParseError):
        part = find_smime_part(data)
        assert part is None or (isinstance(part.der, bytes) and part.der)
