"""Quoted-printable for signing: lines starting ``From `` stay protected at any length.

A relay that mbox-escapes a line starting ``From `` breaks a signature, so the canonical
form writes it as ``=46rom``; that adds two characters, and a line the encoder had filled
to 76 columns must then be wrapped again without ever starting a new line with ``From ``.
Checked through :func:`smime.mime.prepare_entity`, which picks QP for 8-bit text.
"""

from __future__ import annotations

import email
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from smime.mime import prepare_entity

HEAD = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"


def _encoded(text: str) -> tuple[bytes, bytes]:
    """(the entity's QP body, the body decoded back) for an 8-bit text part holding ``text``."""
    entity = prepare_entity(HEAD + text.encode("utf-8")).entity
    head, _, body = entity.partition(b"\r\n\r\n")
    assert b"Content-Transfer-Encoding: quoted-printable" in head
    part = email.message_from_bytes(entity, policy=email.policy.compat32)
    decoded = part.get_payload(decode=True)
    assert isinstance(decoded, bytes)
    return body, decoded


def _assert_safe(body: bytes) -> None:
    lines = body.split(b"\r\n")
    assert all(len(line) <= 76 for line in lines), [len(x) for x in lines]
    assert not any(line.startswith(b"From ") for line in lines)
    assert not any(line.endswith((b" ", b"\t")) for line in lines)
    assert body.isascii() and b"\n" not in body.replace(b"\r\n", b"")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def test_long_from_line_with_a_soft_break_is_rewrapped() -> None:
    text = "Café.\nFrom " + "word " * 40 + "end\n"
    body, decoded = _encoded(text)
    _assert_safe(body)
    first = body.split(b"\r\n")[1]
    assert first.startswith(b"=46rom word") and first.endswith(b"=")
    assert decoded == _crlf(text)


def test_from_line_that_only_the_escape_pushes_past_76_columns() -> None:
    line = "From " + "x" * 70  # 75 columns: QP leaves it whole, "=46" makes it 77
    text = f"naïve\n{line}\n"
    body, decoded = _encoded(text)
    _assert_safe(body)
    lines = body.split(b"\r\n")
    assert lines[1] == b"=46rom " + b"x" * 68 + b"="  # 76 columns with the soft break
    assert lines[2] == b"xx"
    assert decoded == _crlf(text)


def test_wrapped_remainder_starting_with_from_is_escaped_too() -> None:
    text = "ü\n" + "From " * 40 + "\n"  # every wrap point can land on "From "
    body, decoded = _encoded(text)
    _assert_safe(body)
    assert decoded == _crlf(text)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["From ", "From", " ", "\t", "x", "yz", "é", "=", "\n"]),
                min_size=1, max_size=120))
def test_any_text_is_seven_bit_safe_and_decodes_back(pieces: list[str]) -> None:
    text = "é" + "".join(pieces)  # non-ASCII, so the part needs a transfer encoding
    body, decoded = _encoded(text)
    _assert_safe(body)
    assert decoded == _crlf(text)
