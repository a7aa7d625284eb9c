"""Bytes to ``EmailMessage`` and back without the ``email`` package changing anything.

The standard library refolds long headers, re-encodes 8-bit ones and may write LF line
ends, any of which breaks a signature over the bytes. ``POLICY`` (SMTP line ends, source
headers never refolded) and ``message_bytes`` keep a parsed message as it was.
"""

from __future__ import annotations

import email
import email.errors
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.policy import Compat32, EmailPolicy, Policy
from typing import Any, BinaryIO, TypeAlias

from ..core.wire import FIELD_NAME, Writable
from ..errors import LoadError, ParseError, SMIMEError, UsageError
from ._lazy import WireMessage
from ._policy import MAX_DEPTH, POLICY
from ._raw import check_raw_depth

__all__ = [
    "MAX_DEPTH",
    "MESSAGE_TYPES",
    "POLICY",
    "MessageSource",
    "check_depth",
    "check_is_message",
    "flatten",
    "message_bytes",
    "parse_bytes",
    "reading",
    "to_message",
]

#: Everything a message argument may be (see :func:`input_bytes`).
MessageSource: TypeAlias = (
    bytes | bytearray | memoryview | str | Message | os.PathLike[str] | BinaryIO
)

_HEADER_LINE = re.compile(f"{FIELD_NAME}:".encode("ascii"))
#: What a message argument may be (for the error that names them). A ``str`` is the
#: message's text, never a file name: pass a ``pathlib.Path`` for a file.
MESSAGE_TYPES = (
    "bytes, str (the message text), an email.message.Message, a path (os.PathLike) "
    "or a binary file object"
)
#: What the ``email`` package raises on input it cannot cope with (its own bugs included).
MESSAGE_FAILURES = (
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    LookupError,
    UnicodeError,
    email.errors.MessageError,
)


def check_is_message(data: bytes) -> None:
    """Reject input that has no header/body structure.

    A message must start with a header field (``Name: value``), optionally after an mbox
    ``From `` line, or with an empty line (a MIME entity without headers).
    """
    if not data or data.isspace():
        raise ParseError("not an email message: the input is empty")
    start = 0
    if data.startswith(b"From "):
        eol = data.find(b"\n")
        start = len(data) if eol < 0 else eol + 1
    eol = data.find(b"\n", start)
    first = data[start : len(data) if eol < 0 else eol].rstrip(b"\r")
    if first and (not _HEADER_LINE.match(first) or b"\x00" in first):
        raise ParseError(
            "not an email message: it must start with a header field such as "
            "'Content-Type: text/plain' (or with an empty line before a body)"
        )


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Turn what the ``email`` package raises on malformed input into ``ParseError``."""
    try:
        yield
    except SMIMEError:
        raise
    except RecursionError:
        raise ParseError(
            f"malformed {what}: MIME parts nested deeper than {MAX_DEPTH} levels"
        ) from None
    except MESSAGE_FAILURES as exc:
        raise ParseError(f"malformed {what}: {exc}") from exc


def check_depth(msg: Message, limit: int = MAX_DEPTH) -> None:
    """Refuse a message tree nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > limit:
            raise ParseError(f"malformed message: MIME parts nested deeper than {limit} levels")
        payload = getattr(part, "_payload", None)  # get_payload() may decode, and fail
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


def parse_bytes(data: bytes, *, require_headers: bool = True) -> EmailMessage:
    """Parse wire bytes with :data:`POLICY`, bounded in depth.

    ``require_headers=False`` skips the is-it-a-message rule, for content already known
    to be a MIME entity (possibly empty or header-less).
    """
    if require_headers:
        check_is_message(data)
    with reading("message"):
        check_raw_depth(data)
        msg = email.message_from_bytes(data, policy=POLICY)
        check_depth(msg)
    assert isinstance(msg, EmailMessage)
    return msg


def to_message(data: MessageSource) -> EmailMessage:
    """Parse ``data`` (LF or CRLF line ends) into an ``EmailMessage`` with :data:`POLICY`.

    An ``EmailMessage`` is returned as it is; another ``Message`` (``compat32``) is
    flattened and parsed again. ``str`` input is taken as UTF-8; a path or a binary file
    object is read (see :func:`input_bytes`). ``ParseError`` when the
    input is not a message (empty, or not starting with a header field or an empty line:
    see :func:`check_is_message`) or nests parts deeper than :data:`MAX_DEPTH`. Plain text
    is not a message: give it a ``Content-Type`` header, or build an ``EmailMessage``.
    """
    if isinstance(data, EmailMessage):
        return data
    if isinstance(data, Message):
        return parse_bytes(message_bytes(data))
    if isinstance(data, str):
        return parse_bytes(data.encode("utf-8", "surrogateescape"))
    return parse_bytes(input_bytes(data))


class _FaithfulCompat32(Compat32):
    """``compat32`` that writes headers read from a source as they were, not re-encoded."""

    @staticmethod
    def _as_read(name: str, value: Any, linesep: str) -> str | None:
        if isinstance(value, str) and value.isascii():
            lines = value.splitlines()
            if all(len(line) < 998 for line in lines):
                return name + ": " + linesep.join(lines) + linesep
        return None

    def fold(self, name: str, value: Any) -> str:
        text = self._as_read(name, value, self.linesep)
        return super().fold(name, value) if text is None else text

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = self._as_read(name, value, self.linesep)
        return super().fold_binary(name, value) if text is None else text.encode("ascii")


def _flatten_policy(policy: Policy) -> Policy:
    if isinstance(policy, EmailPolicy):
        return policy.clone(
            linesep="\r\n", refold_source="none", cte_type="8bit", mangle_from_=False
        )
    return _FaithfulCompat32(linesep="\r\n", cte_type="8bit", mangle_from_=False)


def input_bytes(message: MessageSource) -> bytes:
    """What the caller handed over, as bytes: bytes as they are, text as UTF-8, a message
    flattened faithfully (:func:`message_bytes`), a path's file or a binary file object's
    content as read. The one rule every function that takes a message follows; a ``str``
    is message text (a file name would be ambiguous with it), so files come as paths."""
    if isinstance(message, Message):
        return message_bytes(message)
    if isinstance(message, str):
        return message.encode("utf-8", "surrogateescape")
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    if isinstance(message, os.PathLike):
        try:
            with open(message, "rb") as file:
                return file.read()
        except OSError as exc:
            raise LoadError(
                f"cannot read the message file {os.fsdecode(message)!r}: {exc.strerror or exc}"
            ) from exc
    read = getattr(message, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            raise UsageError(
                "the message file object is open in text mode: open it with 'rb', so the "
                "bytes a signature covers are read unchanged"
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise UsageError.wrong_type("the message file object's read()", data, "bytes")
        return bytes(data)
    raise UsageError.wrong_type("the message", message, MESSAGE_TYPES)


class _TextSafeGenerator(BytesGenerator):
    """A BytesGenerator that writes text the stock one cannot encode as ASCII as UTF-8.

    Decoded parameters (an RFC 2231 ``boundary*=utf-8''...``) reach the output as text;
    the stock generator raises UnicodeEncodeError on them. Raw 8-bit input, which the
    parser keeps as surrogate escapes, is written back byte for byte either way.
    """

    #: Generator's output file, set by its __init__ and swapped for a buffer while a
    #: part is written; typeshed leaves the private attribute out.
    _fp: Writable

    def write(self, s: str) -> None:
        self._fp.write(s.encode("utf-8", "surrogateescape"))


def flatten(msg: Message, policy: Policy, *, unixfrom: bool = False) -> bytes:
    """``msg`` serialised with ``policy``, as ``Message.as_bytes`` does but never failing on
    text it cannot encode as ASCII (see :class:`_TextSafeGenerator`)."""
    buffer = io.BytesIO()
    _TextSafeGenerator(buffer, mangle_from_=False, policy=policy).flatten(msg, unixfrom=unixfrom)
    return buffer.getvalue()


def message_bytes(msg: Message) -> bytes:
    """The message as wire bytes: CRLF, source headers not refolded, 8-bit kept as it was."""
    if not isinstance(msg, Message):
        raise TypeError(f"expected email.message.Message, not {type(msg).__name__}")
    if isinstance(msg, WireMessage):
        wire = msg.wire()
        if wire is not None:
            return wire  # the bytes it was built from: it has not been changed since
    try:
        return flatten(msg, _flatten_policy(msg.policy))
    except RecursionError:
        raise ParseError(
            f"malformed message: MIME parts nested deeper than {MAX_DEPTH} levels"
        ) from None
    except (UnicodeError, TypeError, ValueError, LookupError) as exc:
        raise ParseError(f"the message cannot be serialised: {exc}") from exc
