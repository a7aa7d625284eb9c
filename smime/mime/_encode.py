"""Transfer encodings for the canonical form: 7-bit safety and quoted-printable.

Base64 and line endings are shared with the transports: :mod:`smime.core.wire`.

Each function works on whole bodies with C-speed bytes operations, so a 100 MB part costs
a few passes over its bytes and nothing quadratic.
"""

from __future__ import annotations

import binascii
import re

from ..core.wire import has_long_line, to_crlf

__all__ = [
    "is_seven_bit_safe",
    "qp_decode",
    "qp_encode",
]

_QP_WIDTH = 76
_QP_TOKEN = re.compile(rb"=[0-9A-Fa-f]{2}|[^=]")
_QP_FROM_LINE = re.compile(rb"^From [^\n]*", re.MULTILINE)
_QP_PADDING = re.compile(rb"[ \t]+(?=\r\n|\Z)")


def is_seven_bit_safe(data: bytes) -> bool:
    """Whether no relay has a reason to touch ``data`` (RFC 8551 §3.1.1, RFC 5321 §4.5.3.1.6).

    7-bit without NUL, lines of at most 998 octets, no white space at the end of a line
    (stripped by some gateways) and no line starting ``From `` (mbox-escaped by others).
    Text without blanks (base64) has neither of the last two, so one ``memchr`` each
    settles them.
    """
    if not data.isascii() or b"\x00" in data:
        return False
    if (b" " in data or b"\t" in data) and not _blanks_safe(data):
        return False
    return not has_long_line(data)


def _blanks_safe(data: bytes) -> bool:
    """No line starting ``From `` and no white space at the end of a line."""
    if data.startswith(b"From ") or b"\nFrom " in data or b"\rFrom " in data:
        return False
    return not data.endswith((b" ", b"\t")) and not any(
        seq in data for seq in (b" \r", b"\t\r", b" \n", b"\t\n")
    )


def _rewrap_from_line(match: re.Match[bytes]) -> bytes:
    """Protect an encoded line starting ``From `` as ``=46rom``, keeping lines <= 76."""
    line = b"=46" + match.group(0)[1:]
    if len(line) <= _QP_WIDTH:
        return line
    soft = line.endswith(b"=")
    lines: list[bytes] = []
    current = b""
    for token in _QP_TOKEN.findall(line[:-1] if soft else line):
        if len(current) + len(token) > _QP_WIDTH - 1:
            lines.append(current + b"=")
            current = b""
        current += token
    lines.append(current + b"=" if soft else current)
    return _QP_FROM_LINE.sub(_rewrap_from_line, b"\n".join(lines))


def qp_encode(data: bytes) -> bytes:
    """Quoted-printable in text mode: line breaks stay line breaks (CRLF), 76 columns.

    Trailing white space becomes ``=20``/``=09`` and a line starting ``From `` becomes
    ``=46rom``, so the encoded text is 7-bit safe by :func:`is_seven_bit_safe`.
    """
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    encoded = binascii.b2a_qp(text, quotetabs=False, istext=True, header=False)
    if encoded.startswith(b"From ") or b"\nFrom " in encoded:
        encoded = _QP_FROM_LINE.sub(_rewrap_from_line, encoded)
    return encoded.replace(b"\n", b"\r\n")


def qp_decode(data: bytes) -> bytes:
    """Decode quoted-printable; white space a relay added at line ends is dropped (RFC 2045)."""
    return binascii.a2b_qp(_QP_PADDING.sub(b"", to_crlf(data)))
