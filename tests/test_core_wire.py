"""The one home of line endings, header field names and base64 (smime.core.wire)."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smime.core import wire
from smime.errors import ParseError


def test_every_line_end_becomes_crlf() -> None:
    assert wire.to_crlf(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd"
    assert wire.to_crlf(b"a\nb\r\nc\rd", lone_cr=False) == b"a\r\nb\r\nc\rd"
    unchanged = b"a\r\nb\r\n"
    assert wire.to_crlf(unchanged) is unchanged


def test_wire_bytes_end_in_crlf() -> None:
    assert wire.to_wire(b"Subject: x\n\nbody") == b"Subject: x\r\n\r\nbody\r\n"
    assert wire.to_wire(b"a\r\n") == b"a\r\n"


@pytest.mark.parametrize("name", ["Subject", "X-Custom.1", "a" * 80])
def test_field_names(name: str) -> None:
    assert wire.is_field_name(name)


@pytest.mark.parametrize("name", ["", "Sub ject", "Subject:", "Sübject", "a\r\nb"])
def test_not_field_names(name: str) -> None:
    assert not wire.is_field_name(name)


def test_content_fields_stay_with_their_part() -> None:
    for name in ("Content-Type", "content-transfer-encoding", "Content-Length", "MIME-Version"):
        assert wire.is_content_field(name), name
    for name in ("Subject", "From", "Contents", "X-Content-Type", "HP-Outer"):
        assert not wire.is_content_field(name), name


@given(st.binary(max_size=600))
def test_base64_is_76_column_crlf_lines(data: bytes) -> None:
    encoded = wire.b64_encode(data)
    lines = encoded.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) == 76 for line in lines[:-2])
    assert base64.b64decode(encoded.replace(b"\r\n", b"")) == data
    assert wire.b64_decode(encoded) == data
    assert wire.b64_decode(encoded, lenient=True) == data


def test_blocks_join_to_the_whole() -> None:
    data = bytes(range(256)) * 8000
    blocks = wire.b64_encode_blocks(data)
    assert len(blocks) > 1
    assert b"".join(blocks) == base64.encodebytes(data).replace(b"\n", b"\r\n")


def test_missing_padding_is_tolerated() -> None:
    assert wire.b64_decode(b"QUJDRA") == b"ABCD"
    assert wire.b64_decode(b"QUJD\r\nRA=\r\n") == b"ABCD"


@pytest.mark.parametrize("text", [b"QUJD*RA==", b"QUJD=RA==", b"QUJDR", b"QUJ\x00D"])
def test_stray_bytes_are_a_parse_error_naming_the_input(text: bytes) -> None:
    with pytest.raises(ParseError, match="malformed base64 in the signature part"):
        wire.b64_decode(text, what="signature part")


def test_lenient_decoding_skips_what_mail_clients_skip() -> None:
    assert wire.b64_decode(b"QU*JD\r\nRA==", lenient=True) == b"ABCD"
    assert wire.b64_decode(b"QUJDR", lenient=True) == b"ABC"


def test_base64_text_detection() -> None:
    assert wire.is_base64_text(b"QUJD\r\nRA==\r\n")
    assert not wire.is_base64_text(b"   \r\n")
    assert not wire.is_base64_text(b"Hello, world")


_BACKEND_PROBE = """
import sys, hashlib
if sys.argv[1] == "stdlib":
    sys.modules["pybase64"] = None
from smime.core import wire
data = bytes(range(256)) * 5000 + b"tail"
encoded = wire.b64_encode(data)
assert wire.b64_decode(encoded) == data
assert wire.b64_decode(b"QU*JD" + encoded, lenient=True) == b"ABC" + data
print(wire.B64_BACKEND, hashlib.sha256(encoded).hexdigest(), len(wire.b64_encode(b"")))
"""


def test_both_backends_write_the_same_bytes() -> None:
    outputs = {
        mode: subprocess.run(
            [sys.executable, "-c", _BACKEND_PROBE, mode], capture_output=True, text=True, check=True
        ).stdout.split()
        for mode in ("stdlib", "default")
    }
    assert outputs["stdlib"][0] == "binascii"
    assert outputs["default"][0] == "pybase64"
    assert outputs["stdlib"][1:] == outputs["default"][1:]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"A: 1\r\nB: 2\r\n\r\nbody", (12, 14)),
        (b"A: 1\nB: 2\n\nbody", (10, 11)),
        (b"A: 1\n\r\nbody", (5, 7)),
        (b"\r\nbody", (0, 2)),
        (b"\nbody", (0, 1)),
        (b"A: 1\r\nB: 2\r\n", (12, 12)),
        (b"", (0, 0)),
    ],
)
def test_header_block_ends_at_the_first_empty_line(
    data: bytes, expected: tuple[int, int]
) -> None:
    assert wire.header_block(data) == expected


def test_header_block_within_a_slice() -> None:
    data = b"xxA: 1\r\n\r\nbody\r\n--b"
    assert wire.header_block(data, 2, 14) == (8, 10)
