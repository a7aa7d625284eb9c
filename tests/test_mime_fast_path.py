"""prepare_entity's parser-free path gives byte for byte what the general path gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smime.errors import ParseError
from smime.mime import canonical
from smime.mime.message import to_message

FIELD_NAMES = ["From", "To", "Subject", "Date", "X-Mailer", "Content-Type",
               "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Content-ID"]
TYPES = ["text/plain", "text/plain; charset=us-ascii", "application/octet-stream",
         "text/html; charset=utf-8", "multipart/mixed; boundary=b1", "message/rfc822"]
PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126)
WORDS = st.text(alphabet=PRINTABLE, min_size=1, max_size=12)


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
    fast = canonical._prepare_simple(raw)
    try:
        general = canonical.prepare_entity(to_message(raw))
    except ParseError:
        assert fast is None
        return
    if fast is not None:
        assert fast == general


def test_fast_path_is_taken_for_plain_mail() -> None:
    raw = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n")
    fast = canonical._prepare_simple(raw)
    assert fast is not None
    assert fast.entity == b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n"
    assert fast.outer_headers == (("From", "a@example.com"), ("To", "b@example.com"),
                                  ("Subject", "hi"))
    assert canonical._prepare_simple(raw.replace(b"Hello.", b"Gr\xc3\xbc\xc3\x9fe")) is None
    assert canonical._prepare_simple(raw.replace(b"Hello.", b"From here")) is None


def test_repeated_content_headers_take_the_general_path() -> None:
    """Found by the property test: which of two transfer encodings counts is the parser's call."""
    raw = (b"From: 0\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n")
    assert canonical._prepare_simple(raw) is None
