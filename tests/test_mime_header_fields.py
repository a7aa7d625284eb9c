"""The plain header reader answers exactly as the ``email`` package's compat32 parser.

``smime.core.wire.header_fields`` and ``smime.mime._raw.EntityHeaders`` keep the feed
parser off the verify path; any difference from the package would change which part is
found as the signature or which boundary splits a multipart, so they are pinned to it on
generated header blocks full of the cases the package reads oddly.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from hypothesis import given, settings
from hypothesis import strategies as st

from smime.core.wire import header_fields
from smime.mime._raw import EntityHeaders

_PIECES = [
    b"Content-Type", b"content-type", b"CONTENT-TYPE", b"Content-Transfer-Encoding",
    b"Content-Disposition", b"From", b"From ", b"X", b":", b": ", b" ", b"\t", b"\r\n",
    b"\n", b"\r", b";", b"; ", b"=", b'"', b"\\", b"*", b"*0*", b"<", b">", b"(", b")",
    b"multipart/signed", b"application/pkcs7-signature", b"text/plain", b"a/b/c",
    b"boundary", b"protocol", b"micalg", b"smime-type", b"filename", b"name", b"forwarded",
    b"abc", b"sha-256", b"x.p7s", b"\x0b", b"\x0c", b"\x1c", b"\xe9", b"\x00", b"''",
    b"utf-8''%41", b"  ",
]
_BLOCK = st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join)


def _field_block() -> st.SearchStrategy[bytes]:
    """Blocks that are mostly well-formed fields, so the fast path is taken often."""
    name = st.sampled_from([b"Content-Type", b"content-disposition", b"Subject", b"From",
                            b"Content-Transfer-Encoding"])
    value = st.lists(st.sampled_from(_PIECES[13:]), max_size=12).map(b"".join)
    eol = st.sampled_from([b"\r\n", b"\n"])
    field = st.tuples(name, value, eol).map(lambda t: t[0] + b":" + t[1] + t[2])
    return st.lists(field, max_size=5).map(b"".join)


def _email(block: bytes, default: str) -> Message:
    parsed = BytesHeaderParser(policy=compat32).parsebytes(block)
    parsed.set_default_type(default)
    return parsed


def _check(block: bytes) -> None:
    try:
        expected = _email(block, "message/rfc822")
    except Exception:  # the package refuses it: EntityHeaders must refuse too
        return
    fields = header_fields(block)
    if fields is not None:
        assert fields == list(expected.raw_items())
    ours = EntityHeaders(block, "message/rfc822")
    assert ours.raw_items() == list(expected.raw_items())
    assert list(ours) == list(expected.keys())
    assert ours.get_content_type() == expected.get_content_type()
    assert ours.get_boundary() == expected.get_boundary()
    for header in ("content-type", "content-disposition"):
        assert (header in ours) == (header in expected)
        for param in ("boundary", "protocol", "micalg", "smime-type", "name", "filename",
                      "forwarded", "text/plain", "multipart/signed"):
            assert ours.get_param(param, header=header) == expected.get_param(
                param, header=header
            ), (param, header)
    for name in ("content-transfer-encoding", "from", "subject"):
        assert ours.get(name) == expected.get(name)


@settings(max_examples=600, deadline=None)
@given(_BLOCK)
def test_any_block_reads_as_the_email_package_reads_it(block: bytes) -> None:
    _check(block)


@settings(max_examples=600, deadline=None)
@given(_field_block())
def test_field_blocks_read_as_the_email_package_reads_them(block: bytes) -> None:
    _check(block)


def test_ordinary_blocks_take_the_plain_path() -> None:
    block = (b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
             b'\tmicalg=sha-256; boundary="----=_b 1"\r\nSubject: x\r\n')
    assert header_fields(block) is not None
    _check(block)
    assert EntityHeaders(block).get_boundary() == "----=_b 1"


def test_blocks_the_package_reads_differently_are_left_to_it() -> None:
    for block in (b"Subject: caf\xc3\xa9\r\n", b"Subject: a\rb\r\n", b"Subject: a\x0bb\r\n",
                  b"not a field\r\n", b" leading continuation\r\n"):
        assert header_fields(block) is None
        _check(block)
