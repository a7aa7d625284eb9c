"""prepare_entity's parser-free path gives byte for byte what the general path gives.

The general path (``prepare_entity`` on a parsed ``Message``) is the reference: for every
input the fast path accepts, the two must agree exactly; for what it cannot read as the
``email`` parser would, it must decline (return None) so that the general path runs.
"""

from __future__ import annotations

import base64
import binascii
import email.feedparser
import re
import subprocess
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import smime
from smime.errors import ParseError, UsageError
from smime.limits import Limits, applied
from smime.mime import canonical, compose
from smime.mime.message import to_message

if TYPE_CHECKING:
    from pathlib import Path

    from smime.testing import TestPKI

FIELD_NAMES = ["From", "To", "Subject", "Date", "X-Mailer", "Content-Type",
               "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Content-ID"]
TYPES = ["text/plain", "text/plain; charset=us-ascii", "application/octet-stream",
         "text/html; charset=utf-8", "multipart/mixed; boundary=b1", "message/rfc822"]
PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126)
WORDS = st.text(alphabet=PRINTABLE, min_size=1, max_size=12)


def general(raw: bytes) -> canonical.PreparedEntity | None:
    """The reference: the email-package path, or None where it refuses the input."""
    try:
        return canonical.prepare_entity(to_message(raw))
    except ParseError:
        return None


def check_same(raw: bytes) -> canonical.PreparedEntity | None:
    fast = canonical._prepare_fast(raw)
    reference = general(raw)
    if fast is not None:
        assert reference is not None, "the fast path accepted what the general path refuses"
        assert fast.entity == reference.entity
        assert fast.outer_headers == reference.outer_headers
    return fast


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(FIELD_NAMES))
        value = " ".join(draw(st.lists(WORDS, min_size=1, max_size=14)))
        if name == "Content-Type":
            value = draw(st.sampled_from(TYPES))
        elif name == "Content-Transfer-Encoding":
            value = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "binary"]))
        sep = draw(st.sampled_from([": ", ":", ":  "]))
        lines.append(f"{name}{sep}{value}".encode())
    if draw(st.booleans()):
        lines.insert(0, b"Content-Type: text/plain")
    body_lines = draw(st.lists(st.text(alphabet=" abcFrom\tx=", max_size=20), max_size=8))
    body = "\r\n".join(body_lines).encode()
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    return (b"\r\n".join(lines) + b"\r\n\r\n" + body).replace(b"\r\n", newline)


@settings(max_examples=400, deadline=None)
@given(messages())
def test_fast_path_matches_the_general_path(raw: bytes) -> None:
    event("declined" if check_same(raw) is None else "fast path")


# ------------------------------------------------------------------ ordinary mail, generated
# Each list starts with what ordinary mail holds; the rest (after the clean ones) is what
# the fast path must leave to the parser. ``clean=True`` draws from the ordinary part only.

OUTER = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "X-Mailer", "MIME-Version",
         "Content-Length"]
LEAF_TYPES = (["text/plain", "text/html", "TEXT/Plain", "application/octet-stream",
               "application/pdf", "image/png", "text/calendar"],
              ["text", "message/rfc822", "message/delivery-status", "text/plain (comment)"])
MULTI_TYPES = (["multipart/mixed", "multipart/alternative", "multipart/related",
                "Multipart/Mixed"], ["multipart/signed", "multipart/digest"])
PARAMS = (["charset=us-ascii", "charset=utf-8", 'charset="utf-8"', "charset=ISO-8859-1",
           "format=flowed", 'name="report 2024.pdf"', "name=a.bin", "delsp=yes", 'name="a;b"'],
          ["charset=", "charset", "charset*=utf-8''x", 'name="=?utf-8?q?x?="', "charset=a;b",
           'name="a\\"b"'])
SEPARATORS = ["; ", ";", " ; ", ";\r\n\t", ";\r\n ", ";  "]
CTES = (["7bit", "8bit", "binary", "quoted-printable", "base64", "7BIT", "Base64", "\r\n 7bit"],
        ["x-uuencode", "7bit (plain)", ""])
BOUNDARIES = (["b1", "=_abc", "----=_NextPart_000_0012_01DA", "Apple-Mail=_4F2E", "x",
               "000000000000a1b2c3"], ["b1 ", "with space", "<b2>", "b?=x", "=?q?="])
TEXT_LINES = (["Hello.", "The quick brown fox jumps over the lazy dog", "", "From here on",
               ">From there", "trailing space ", "tab\t", "Gr\u00fc\u00dfe aus K\u00f6ln",
               "\u20ac 12,50", "a = b", "=3D", "x" * 80, "y" * 1000, "-- ", ".",
               "caf\u00e9 \u00e0 la cr\u00e8me", "\u65e5\u672c\u8a9e"], ["--b1", "--x--"])
OUTER_ODD = (["=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "", "a  "], ["x\x00y", "K\u00f6ln"])


def pick(draw: st.DrawFn, choices: tuple[list[str], list[str]], clean: bool) -> str:
    """Mostly ordinary; unless ``clean``, now and then one the fast path must decline."""
    if clean or draw(st.integers(0, 11)):
        return draw(st.sampled_from(choices[0]))
    return draw(st.sampled_from(choices[1]))


def fold(draw: st.DrawFn, text: str) -> str:
    """Fold at some of the spaces (not those already after a fold), as mailers do."""
    words = re.split(r"(?<!\n) ", text)
    out = words[0]
    for word in words[1:]:
        out += draw(st.sampled_from([" ", " ", " ", "\r\n ", "\r\n\t"])) + word
    return out


def text_body(draw: st.DrawFn, clean: bool) -> bytes:
    lines = [pick(draw, TEXT_LINES, clean) for _ in range(draw(st.integers(0, 8)))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1"]))
    body = "\r\n".join(lines).encode(encoding, "replace")
    return body + b"\r\n" if draw(st.booleans()) else body


def binary_body(draw: st.DrawFn, clean: bool) -> bytes:
    data = draw(st.binary(max_size=300))
    # A lone CR is read by the parser its own way; a "-" could make a delimiter line.
    return data.replace(b"\r", b"").replace(b"-", b"+") if clean else data


def leaf_body(draw: st.DrawFn, cte: str, main: str, clean: bool) -> bytes:
    if main == "text" or draw(st.booleans()):
        body = text_body(draw, clean)
    else:
        body = binary_body(draw, clean)
    cte = cte.strip().lower()
    if cte == "base64" and draw(st.integers(0, 4)):
        if draw(st.booleans()):
            body = base64.encodebytes(body).replace(b"\n", b"\r\n")
        else:  # one long line
            body = base64.b64encode(body) + b"\r\n"
    elif cte == "quoted-printable" and draw(st.integers(0, 4)):
        text = body.replace(b"\r\n", b"\n")
        body = binascii.b2a_qp(text, istext=draw(st.booleans())).replace(b"\n", b"\r\n")
    return body


def content_type(draw: st.DrawFn, types: tuple[list[str], list[str]], clean: bool) -> str:
    value = pick(draw, types, clean)
    names: set[str] = set()
    for _ in range(draw(st.integers(0, 3))):
        param = pick(draw, PARAMS, clean)
        if param.split("=")[0] in names:
            continue  # a repeated parameter is the parser's call (a named case below)
        names.add(param.split("=")[0])
        value += draw(st.sampled_from(SEPARATORS)) + param
    if not clean and draw(st.integers(0, 9)) == 0:
        value += draw(st.sampled_from([";", " ", "; ", " (c)"]))
    return value


def entity(draw: st.DrawFn, depth: int, clean: bool) -> tuple[list[tuple[str, str]], bytes]:
    """(content headers, body) of one MIME entity, maybe a multipart of more."""
    if depth < 3 and draw(st.integers(0, 2)) == 0:
        return multipart(draw, depth, clean)
    headers: list[tuple[str, str]] = []
    if draw(st.integers(0, 5)):
        headers.append(("Content-Type", fold(draw, content_type(draw, LEAF_TYPES, clean))))
    main = headers[0][1].split("/")[0].lower() if headers else "text"
    cte = ""
    if draw(st.booleans()):
        cte = pick(draw, CTES, clean)
        headers.append(("Content-Transfer-Encoding", cte))
    if draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from(['attachment; filename="a.bin"', "inline",
                                      "attachment;\r\n filename=report.pdf"]))
        headers.append(("Content-Disposition", value))
    if draw(st.integers(0, 9)) == 0:
        headers.append(("Content-ID", "<part1@example.com>"))
    if not clean and draw(st.integers(0, 19)) == 0:
        headers.insert(0, (draw(st.sampled_from(["Content-Type", "Content-Transfer-Encoding"])),
                           "text/plain"))
    return headers, leaf_body(draw, cte, main, clean)


def multipart(draw: st.DrawFn, depth: int, clean: bool) -> tuple[list[tuple[str, str]], bytes]:
    boundary = ("" if depth == 0 else f"{depth}.") + pick(draw, BOUNDARIES, clean)
    quoted = draw(st.booleans()) or not boundary.replace("-", "").isalnum()
    shown = f'"{boundary}"' if quoted else boundary
    value = content_type(draw, MULTI_TYPES, clean)
    headers = [("Content-Type", fold(draw, value + draw(st.sampled_from(SEPARATORS))
                                     + f"boundary={shown}"))]
    if draw(st.integers(0, 5)) == 0:
        cte = draw(st.sampled_from(["7bit", "8bit"])) if clean else pick(draw, CTES, clean)
        headers.append(("Content-Transfer-Encoding", cte))
    delimiter = b"--" + boundary.strip().encode()
    preamble = draw(st.sampled_from([None, b"", b"This is a multi-part message in MIME format.",
                                     b"\r\n", b"caf\xc3\xa9", b"x \r\ny"]))
    body = b"" if preamble is None else preamble + b"\r\n"
    count = draw(st.integers(1, 3))
    if not clean and draw(st.integers(0, 19)) == 0:
        count = 0  # a multipart without parts: the parser notes a defect
    for _ in range(count):
        child_headers, child_body = entity(draw, depth + 1, clean)
        head = b"".join(f"{n}: {v}\r\n".encode() for n, v in child_headers)
        separator = b"" if not clean and draw(st.integers(0, 9)) == 0 else b"\r\n"
        body += delimiter + draw(st.sampled_from([b"", b"", b" ", b"\t "])) + b"\r\n"
        body += head + separator + child_body + b"\r\n"
    if clean or draw(st.integers(0, 9)):
        body += delimiter + b"--" + draw(st.sampled_from([b"", b"", b"  "]))
        epilogues = [b"\r\n", b"\r\n", b"", b"\r\nepilogue\r\n", b"\r\n\r\n", b"\r\n\xff\r\n"]
        if not clean:
            epilogues.append(b"\r\n" + delimiter + b"\r\n")
        body += draw(st.sampled_from(epilogues))
    return headers, body


@st.composite
def ordinary_mail(draw: st.DrawFn, clean: bool = False) -> bytes:
    outer = [("From", "Alice Example <alice@example.com>")] if clean else []
    for name in draw(st.lists(st.sampled_from(OUTER), max_size=6)):
        value = {
            "Subject": "Re: the quarterly report for " + "x" * draw(st.integers(0, 80)),
            "Date": "Mon, 4 Mar 2024 10:15:00 +0100",
            "Message-ID": "<abc.123@example.com>",
            "MIME-Version": "1.0",
            "Content-Length": "12",
        }.get(name, "Alice Example <alice@example.com>, bob@example.com")
        if draw(st.integers(0, 9)) == 0:
            value = pick(draw, OUTER_ODD, clean)
        outer.append((name, fold(draw, value)))
    content, body = entity(draw, 0, clean)
    headers = outer + content
    order = draw(st.permutations(range(len(headers))))
    head = b"".join(
        f"{headers[i][0]}{draw(st.sampled_from([': ', ':', ':  ']))}{headers[i][1]}\r\n"
        .encode() for i in order
    )
    raw = head + b"\r\n" + body
    newline = draw(st.sampled_from(["crlf", "crlf", "lf", "mixed"]))
    if newline == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif newline == "mixed":
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + raw[cut:].replace(b"\r\n", b"\n")
    return raw


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.data_too_large])
@given(ordinary_mail())
def test_fast_path_matches_the_general_path_on_ordinary_mail(raw: bytes) -> None:
    event("declined" if check_same(raw) is None else "fast path")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(ordinary_mail(clean=True))
def test_fast_path_takes_ordinary_mail(raw: bytes) -> None:
    """Ordinary mail is read without the parser, giving the same bytes."""
    assert check_same(raw) is not None


# ------------------------------------------------------------------ named cases

PLAIN = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n")
ORDINARY = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'
            b"\r\n" + b"The quick brown fox jumps over the lazy dog; smime benchmark 0\r\n" * 16)
EIGHT_BIT = (b"From: a@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n\r\n"
             + "Gr\u00fc\u00dfe aus K\u00f6ln \r\nFrom here\r\n".encode() * 5)
MULTIPART = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: report\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
             b' boundary="------------0N5Yq2cQ4bC3"\r\n\r\n'
             b"This is a multi-part message in MIME format.\r\n"
             b"--------------0N5Yq2cQ4bC3\r\n"
             b'Content-Type: multipart/alternative; boundary="alt-1"\r\n\r\n'
             b"--alt-1\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n\r\n"
             + "Hall\u00f6chen,\r\nsee the attachment.\r\n".encode()
             + b"\r\n--alt-1\r\nContent-Type: text/html; charset=UTF-8\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
             b"<p>Hall=C3=B6chen,</p>\r\n"
             b"\r\n--alt-1--\r\n\r\n--------------0N5Yq2cQ4bC3\r\n"
             b'Content-Type: application/pdf; name="report.pdf"\r\n'
             b'Content-Disposition: attachment; filename="report.pdf"\r\n'
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(bytes(range(256)) * 3).replace(b"\n", b"\r\n")
             + b"\r\n--------------0N5Yq2cQ4bC3\r\n"
             b'Content-Type: application/octet-stream; name="raw.bin"\r\n'
             b"Content-Transfer-Encoding: binary\r\n\r\n"
             + bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
             + b"\r\n--------------0N5Yq2cQ4bC3--\r\n")


LONG_HEADERS = ORDINARY.replace(
    b"Subject: hi", b"Subject: Re: Fwd: the quarterly report for the third quarter, with the "
    b"figures\r\nX-Spam: \r\nTo: Carol <carol@example.com>,\r\n\tDave <dave@example.com>"
)


@pytest.mark.parametrize("raw", [PLAIN, ORDINARY, EIGHT_BIT, MULTIPART, LONG_HEADERS,
                                 ORDINARY.replace(b"\r\n", b"\n"),
                                 MULTIPART.replace(b"\r\n", b"\n")],
                         ids=["plain", "ordinary", "8bit", "multipart", "long-headers",
                              "ordinary-lf", "multipart-lf"])
def test_ordinary_mail_takes_the_fast_path(raw: bytes) -> None:
    fast = check_same(raw)
    assert fast is not None


def test_fast_path_result_for_plain_mail() -> None:
    fast = canonical._prepare_fast(PLAIN)
    assert fast is not None
    assert fast.entity == b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n"
    assert fast.outer_headers == (("From", "a@example.com"), ("To", "b@example.com"),
                                  ("Subject", "hi"))


def test_eight_bit_text_becomes_quoted_printable_on_the_fast_path() -> None:
    fast = check_same(EIGHT_BIT)
    assert fast is not None
    head, body = fast.entity.split(b"\r\n\r\n", 1)
    assert b"Content-Transfer-Encoding: quoted-printable" in head
    assert body.startswith(b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln=20\r\n=46rom here\r\n")


def test_repeated_content_headers_take_the_general_path() -> None:
    """Found by the property test: which of two transfer encodings counts is the parser's call."""
    raw = (b"From: 0\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n")
    assert canonical._prepare_fast(raw) is None


@pytest.mark.parametrize("raw", [
    MULTIPART.replace(b"--------------0N5Yq2cQ4bC3--", b"--------------0N5Yq2cQ4bC3-"),
    MULTIPART.replace(b"0N5Yq2cQ4bC3\r\nContent-Type: application/pdf",
                      b"0N5Yq2cQ4bC3\r\n--------------0N5Yq2cQ4bC3\r\n"
                      b"Content-Type: application/pdf"),
    MULTIPART.replace(b"multipart/alternative", b"message/rfc822"),
    MULTIPART.replace(b"multipart/mixed", b"multipart/signed"),
    ORDINARY.replace(b"jumps", b"ju\rmps"),
    b"From alice Mon Mar  4 10:15:00 2024\r\n" + ORDINARY,
    ORDINARY.replace(b"charset=\"utf-8\"", b"charset*=utf-8''utf-8"),
    ORDINARY.replace(b"text/plain;", b"text/plain (text);"),
    ORDINARY.replace(b"text/plain;", b"text/plain; charset=us-ascii;"),
])
def test_what_the_fast_path_cannot_copy_exactly_it_declines(raw: bytes) -> None:
    assert check_same(raw) is None


def test_a_boundary_that_now_collides_is_left_to_the_general_path() -> None:
    """Re-encoding can put a delimiter line into a part: the general path picks a random
    boundary, which the fast path cannot reproduce, so it declines."""
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\n\xc3\xa9\r\n--b trailing \r\n--b--\r\n")
    assert canonical._prepare_fast(raw) is None
    reference = general(raw)
    assert reference is not None and b"boundary=b\r\n" not in reference.entity


def test_text_input_takes_the_fast_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = general(EIGHT_BIT)

    def no_parsing(self: object, data: str) -> None:
        raise AssertionError("the email parser ran")

    monkeypatch.setattr(email.feedparser.FeedParser, "feed", no_parsing)
    assert canonical.prepare_entity(EIGHT_BIT.decode("utf-8")) == reference


def test_unusually_many_parts_or_header_lines_are_left_to_the_general_path() -> None:
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    many_parts = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + part * 300 + b"--b--\r\n"
    many_lines = b"Content-Type: text/plain\r\n" + b"X-Trace: hop\r\n" * 600 + b"\r\nx\r\n"
    for raw in (many_parts, many_lines):
        assert canonical._prepare_fast(raw) is None
        assert canonical.prepare_entity(raw) == general(raw)
    assert check_same(many_parts.replace(part * 300, part * 30)) is not None


@pytest.mark.parametrize(("limits", "raw"), [
    (Limits(max_parts=4), MULTIPART),
    (Limits(max_headers=4), ORDINARY),
    (Limits(max_header_size=40), ORDINARY),
    (None, ORDINARY.replace(b"Subject: hi", b"Subject: " + b"(" * 40 + b"hi" + b")" * 40)),
    (None, ORDINARY.replace(b"Subject: hi", b"Subject: hi" + b";a=b" * 101)),
], ids=["parts", "headers", "header-size", "comments", "parameters"])
def test_the_caps_on_hostile_input_hold_on_the_fast_path_too(
    limits: Limits | None, raw: bytes
) -> None:
    """What the general path refuses (smime.Limits, comment nesting, parameter lists), the
    fast path leaves to it, so that it is refused the same way."""
    with applied(limits):
        assert canonical._prepare_fast(raw) is None
        with pytest.raises(ParseError) as refused:
            canonical.prepare_entity(raw)
        with pytest.raises(type(refused.value)):
            to_message(raw)
    if limits is not None:
        assert canonical._prepare_fast(raw) is not None  # under the default caps


def test_large_plain_body_is_not_copied() -> None:
    body = b"x" * 70 + b"\r\n"
    raw = b"Content-Type: text/plain\r\nSubject: big\r\n\r\n" + body * 20_000
    fast = canonical._prepare_fast(raw)
    assert fast is not None
    assert fast.entity == b"Content-Type: text/plain\r\n\r\n" + body * 20_000


@pytest.mark.parametrize("raw", [ORDINARY, EIGHT_BIT, MULTIPART, LONG_HEADERS],
                         ids=["ordinary", "8bit", "multipart", "long-headers"])
def test_signing_ordinary_mail_does_not_parse_it(
    raw: bytes, pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signing hot path: canonicalise, sign, wrap, without the ``email`` parser."""
    identity = pki["alice"].identity
    raw = raw.replace(b"a@example.com", pki["alice"].email.encode())
    expected = smime.sign(raw, identity).as_bytes()

    def no_parsing(self: object, data: str) -> None:
        raise AssertionError("the email parser ran on the signing hot path")

    monkeypatch.setattr(email.feedparser.FeedParser, "feed", no_parsing)
    signed = smime.sign(raw, identity).as_bytes()
    monkeypatch.undo()
    assert signed.split(b"\r\n\r\n", 1)[0].startswith(b"From: " + pki["alice"].email.encode())
    entity = canonical.prepare_entity(to_message(raw)).entity
    assert entity in signed
    assert len(signed) == len(expected)
    report = smime.verify(signed, trust=smime.TrustStore.from_pem([pki.root_path]))
    assert report.valid, report.problems


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Subject", "To", "X-A-Rather-Long-Header-Name-For-Folding"]),
       st.text(alphabet=st.sampled_from(" \t\r\nabc,<>@.\x00\x7f\u00e9"), max_size=90))
def test_outer_header_lines_are_what_fold_header_writes(name: str, value: str) -> None:
    """The wrapper writes short plain headers directly: exactly as fold_header would."""
    from smime.mime._headers import fold_header, header_text

    expected = [fold_header(name, header_text(value)).encode("ascii"), b"MIME-Version: 1.0\r\n"]
    assert compose._outer_block([(name, value)]) == expected
    assert canonical.plain_header_text(value) == header_text(value)


@pytest.mark.parametrize("micalg", ["sha256", "sha-512", "sha1", "sha256,sha512", "SHA-384"])
def test_signed_content_type_line_is_what_fold_header_writes(micalg: str) -> None:
    """The wrapper's Content-Type is folded once per micalg, the boundary put in after."""
    from smime.mime._headers import fold_header

    for _ in range(20):
        boundary = canonical.fresh_boundary([b""])
        before, after = compose._signed_content_type(micalg)
        value = (f"multipart/signed; {compose._protocol_and_micalg(micalg)}; "
                 f'boundary="{boundary.decode()}"')
        assert before + boundary + after == fold_header("Content-Type", value).encode()


def test_micalg_of_another_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="micalg must be a string"):
        compose.build_multipart_signed(ORDINARY, b"0", micalg=["sha256"])  # type: ignore[arg-type]


@pytest.mark.interop
@pytest.mark.parametrize("raw", [ORDINARY, EIGHT_BIT, MULTIPART, LONG_HEADERS,
                                 MULTIPART.replace(b"\r\n", b"\n")],
                         ids=["ordinary", "8bit", "multipart", "long-headers", "multipart-lf"])
def test_openssl_verifies_what_the_fast_path_signs(
    raw: bytes, pki: TestPKI, openssl: str, tmp_path: Path
) -> None:
    assert canonical._prepare_fast(raw) is not None
    signed = tmp_path / "signed.eml"
    signed.write_bytes(smime.sign(raw, pki["alice"].identity).as_bytes())
    out = tmp_path / "out"
    subprocess.run([openssl, "cms", "-verify", "-in", str(signed), "-CAfile", str(pki.root_path),
                    "-out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == canonical.prepare_entity(to_message(raw)).entity
