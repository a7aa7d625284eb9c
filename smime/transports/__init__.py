"""Moving finished messages: SMTP, SparkPost, files, and a mock for tests.

Every transport sends the exact bytes it is given (``Bcc`` removed, line ends made
CRLF): re-serialising a signed message could break its signature. Any object with a
``send(message, *, sender=None, recipients=None) -> SendResult`` method is a transport.
"""

from __future__ import annotations

import inspect
from email.message import Message

from ..errors import InvalidOptionError, UsageError
from ..mime import input_bytes
from .async_smtp import AsyncSMTPTransport
from .base import (
    AsyncBaseTransport,
    AsyncTransport,
    BaseTransport,
    Envelope,
    MessageInput,
    MissingExtraError,
    MockTransport,
    NetworkError,
    NetworkTimeoutError,
    RecipientsInput,
    RecipientsRefusedError,
    SendResult,
    Transport,
    envelope,
)
from .file import FileTransport
from .smtp import SMTPTransport
from .sparkpost import AsyncSparkPostTransport, SparkPostTransport

__all__ = [
    "AsyncBaseTransport",
    "AsyncSMTPTransport",
    "AsyncSparkPostTransport",
    "AsyncTransport",
    "BaseTransport",
    "Envelope",
    "FileTransport",
    "MissingExtraError",
    "MockTransport",
    "NetworkError",
    "NetworkTimeoutError",
    "RecipientsRefusedError",
    "SMTPTransport",
    "SendResult",
    "SparkPostTransport",
    "Transport",
    "asend",
    "envelope",
    "send",
]


def _check_transport(transport: object) -> None:
    if not callable(getattr(transport, "send", None)):
        raise UsageError.wrong_type(
            "transport", transport,
            "a transport: an object with a send(message, *, sender=None, recipients=None) "
            "method, such as smime.transports.SMTPTransport",
        )


def send(
    message: MessageInput,
    transport: Transport,
    *,
    sender: str | None = None,
    recipients: RecipientsInput = None,
) -> SendResult:
    """Send ``message`` with ``transport`` (envelope from its headers unless given)."""
    _check_transport(transport)
    if inspect.iscoroutinefunction(getattr(transport, "send", None)):
        raise InvalidOptionError(
            f"{type(transport).__name__} is asynchronous: use "
            "`await smime.transports.asend(message, transport)`"
        )
    return transport.send(_read(message), sender=sender, recipients=recipients)


def _read(message: MessageInput) -> bytes | str | Message:
    """A path or file object read once here, so every transport gets what it knows."""
    if isinstance(message, (bytes, str, Message)):
        return message
    return input_bytes(message)


async def asend(
    message: MessageInput,
    transport: AsyncTransport | Transport,
    *,
    sender: str | None = None,
    recipients: RecipientsInput = None,
) -> SendResult:
    """:func:`send` for asyncio code; takes asynchronous and synchronous transports."""
    _check_transport(transport)
    result = transport.send(_read(message), sender=sender, recipients=recipients)
    if inspect.isawaitable(result):
        return await result
    return result
