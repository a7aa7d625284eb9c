"""The SMTP envelope of a message, and the exact bytes to put on the wire.

Works on bytes, not on a re-serialised ``email`` object: ``Bcc`` is cut out of the raw
header block and the body is never touched, so a signature over it survives. Only line
ends change: lone CR or LF become CRLF, which RFC 5321 requires on the wire.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from ..core.wire import to_wire
from ..errors import Option, ParseError
from ..mime import input_bytes
from ..mime.message import MessageSource

__all__ = ["Envelope", "MessageInput", "Prepared", "RecipientsInput", "envelope", "prepare"]

MessageInput: TypeAlias = MessageSource
RecipientsInput: TypeAlias = str | Iterable[str] | None


class Envelope(NamedTuple):
    """The SMTP envelope and the bytes to put on the wire (``Bcc`` removed, CRLF only)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``sender``, ``recipients`` and the ``size`` of ``data``
        (the message itself is left out)."""
        return {"sender": self.sender, "recipients": list(self.recipients),
                "size": len(self.data)}


_BAD_ADDRESS = re.compile(r"[\x00-\x1f\x7f<>]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def wire_bytes(message: MessageInput) -> bytes:
    """The message as bytes with CRLF line ends only, ending in CRLF (nothing else changed)."""
    return to_wire(input_bytes(message))


def header_fields(data: bytes) -> tuple[list[tuple[str, bytes]], int]:
    """The raw header fields of CRLF-normalised bytes, in order, and where the header ends.

    Each field is ``(lowercase name, raw bytes including folded lines and the final CRLF)``.
    """
    if data.startswith(b"\r\n"):
        end = 0
    else:
        blank = data.find(b"\r\n\r\n")
        end = len(data) if blank < 0 else blank + 2
    fields: list[tuple[str, bytearray]] = []
    for line in data[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].extend(line)
        else:
            name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
            fields.append((name, bytearray(line)))
    return [(name, bytes(raw)) for name, raw in fields], end


def field_value(raw: bytes) -> str:
    """The unfolded value of one raw header field."""
    value = raw.split(b":", 1)[1] if b":" in raw else b""
    return value.translate(None, b"\r\n").decode("utf-8", "surrogateescape").strip()


def _check_address(address: str, where: str) -> str:
    if not address.startswith('"') and any(c.isspace() for c in address):
        raise ParseError(f"{where}: {address!r} is not an email address")
    try:
        address.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError(f"{where}: {address!r} is neither ASCII nor UTF-8") from exc
    if _BAD_ADDRESS.search(address) or not address.isprintable():
        raise ParseError(f"{where}: {address!r} holds characters not allowed in an address")
    return address


def _addresses(values: Iterable[str], where: str) -> list[str]:
    values = list(values)
    for value in values:
        if _CONTROL.search(value):
            raise ParseError(f"{where}: {value!r} holds control characters (CR, LF...)")
    found: list[str] = []
    for _name, address in email.utils.getaddresses(values):
        if address:
            found.append(_check_address(address, where))
    return found


def _dedupe(addresses: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def _route_fields(fields: list[tuple[str, bytes]]) -> tuple[str, list[tuple[str, bytes]]]:
    """The topmost Resent- block when there is one (RFC 5322 3.6.6), else the originals."""
    start = next((i for i, (name, _) in enumerate(fields) if name.startswith("resent-")), None)
    if start is not None:
        block: list[tuple[str, bytes]] = []
        for name, raw in fields[start:]:
            if not name.startswith("resent-"):
                break
            block.append((name[len("resent-"):], raw))
        if any(name in ("to", "cc", "bcc", "from") for name, _ in block):
            return "resent-", block
    return "", fields


@dataclass(frozen=True)
class Prepared:
    """An envelope plus what the transports report back (the Message-ID), and whether the
    caller named the sender (SparkPost then makes it the return path)."""

    envelope: Envelope
    message_id: str | None
    explicit_sender: bool = False


def prepare(
    message: MessageInput,
    sender: str | None = None,
    recipients: RecipientsInput = None,
    *,
    require: bool = True,
) -> Prepared:
    """:func:`envelope`, also giving the Message-ID; ``require=False`` allows no route."""
    explicit = sender is not None
    data = wire_bytes(message)
    fields, end = header_fields(data)
    prefix, route = _route_fields(fields)

    def values(*names: str) -> list[str]:
        return [field_value(raw) for name, raw in route if name in names]

    if sender is None:
        found = _addresses(values("sender"), f"{prefix}Sender") or _addresses(
            values("from"), f"{prefix}From")
        if not found and require:
            raise ParseError.naming("the message has no From or Sender header: pass ",
                                    Option("sender=..."))
        sender = found[0] if found else ""
    elif sender.strip() in ("", "<>"):
        sender = ""  # the null reverse-path, for bounces and notifications
    else:
        parsed = _addresses([sender], "sender")
        if len(parsed) != 1:
            raise ParseError(f"sender: {sender!r} is not one email address")
        sender = parsed[0]
    if recipients is None:
        rcpts = _addresses(values("to", "cc", "bcc"), f"{prefix}To/Cc/Bcc")
        if not rcpts and require:
            raise ParseError.naming("the message has no To, Cc or Bcc address: pass ",
                                    Option("recipients=[...]"))
    else:
        given = [recipients] if isinstance(recipients, str) else list(recipients)
        rcpts = _addresses(given, "recipients")
        if not rcpts and require:
            raise ParseError.naming(Option("recipients=..."), " holds no address")
    kept = [raw for name, raw in fields if name not in ("bcc", "resent-bcc")]
    if len(kept) != len(fields):
        data = b"".join(kept) + data[end:]
    message_id = next((field_value(raw) for name, raw in fields if name == "message-id"), None)
    return Prepared(Envelope(sender, _dedupe(rcpts), data), message_id or None, explicit)


def envelope(
    message: MessageInput, sender: str | None = None, recipients: RecipientsInput = None
) -> Envelope:
    """The SMTP envelope of a message and the exact bytes to send.

    The sender defaults to the ``Sender`` header, else the first ``From`` address; the
    recipients to ``To`` + ``Cc`` + ``Bcc`` (or the topmost ``Resent-*`` block when the
    message is being resent), deduplicated. ``Bcc`` lines are cut out of the raw header
    block; lone CR or LF become CRLF (RFC 5321 forbids them on the wire); nothing else
    changes. A ``Message`` is flattened first, faithfully but not necessarily
    byte-for-byte: pass bytes when the exact form matters.
    """
    return prepare(message, sender, recipients).envelope
