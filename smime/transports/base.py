"""What every transport shares: the result, the protocols, base classes, a mock.

A transport's one job is to move the exact bytes of a finished message; :func:`envelope`
(from ``_envelope``, re-exported here) works out the route and those bytes.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType, ModuleType
from typing import Any, ClassVar, Protocol, TypeAlias, TypeVar, runtime_checkable

from .._log import transports as _LOG
from ..errors import TransportError
from ._envelope import Envelope, MessageInput, Prepared, RecipientsInput, envelope, prepare

__all__ = [
    "AsyncBaseTransport",
    "AsyncTransport",
    "BaseTransport",
    "Envelope",
    "MessageInput",
    "MissingExtraError",
    "MockTransport",
    "NetworkError",
    "NetworkTimeoutError",
    "Prepared",
    "RecipientsInput",
    "RecipientsRefusedError",
    "SendResult",
    "Transport",
    "envelope",
    "prepare",
]

Rejections: TypeAlias = Mapping[str, tuple[int, str]]
_R_co = TypeVar("_R_co", covariant=True)


class MissingExtraError(TransportError, ImportError):
    """An optional dependency of a transport is not installed (the text names the extra)."""


class RecipientsRefusedError(TransportError):
    """Every recipient (or, from ``raise_for_status``, some recipient) was refused."""

    def __init__(self, message: str, rejected: Rejections) -> None:
        code, text = next(iter(rejected.values()), (None, None))
        super().__init__(message, code=code, text=text)
        self.rejected: Rejections = MappingProxyType(dict(rejected))


class NetworkError(TransportError):
    """No complete answer came: the server could not be reached, or the connection broke.

    ``maybe_sent`` is false when the failure came before the whole message was handed
    over (sending again is safe) and true when it was handed over but never confirmed:
    it may have been delivered, so the transports do not retry it themselves.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class NetworkTimeoutError(NetworkError):
    """The server did not answer within the transport's ``timeout``."""


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: the one place a transport may send its secret
    (an SMTP password, a SparkPost API key) without TLS, for a local test server."""
    return host in _LOOPBACK


def optional_module(module: str, extra: str, what: str) -> ModuleType:
    """The optional dependency ``module``, imported when ``what`` first needs it; without
    it a :class:`MissingExtraError` that names the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{what} needs the optional dependency {module!r}: pip install 'smime-sdk[{extra}]'"
        ) from exc


@dataclass(frozen=True)
class SendResult:
    """What the server (or file, or mock) said about one message.

    ``rejected`` maps each refused address to the server's ``(code, text)``.
    ``unconfirmed`` lists recipients a service took without saying, address by address,
    whether it accepted them (SparkPost reports only counts when it rejects some).
    """

    accepted: tuple[str, ...] = ()
    rejected: Rejections = field(default_factory=dict, hash=False)
    message_id: str | None = None
    server_id: str | None = None
    reply: str | None = None
    transport: str = ""
    unconfirmed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepted", tuple(self.accepted))
        object.__setattr__(self, "rejected", MappingProxyType(dict(self.rejected)))
        object.__setattr__(self, "unconfirmed", tuple(self.unconfirmed))

    def __reduce__(self) -> tuple[Any, ...]:
        """``rejected`` (read-only, which does not pickle) travels as a dict."""
        state = {item.name: getattr(self, item.name) for item in fields(self)}
        return _unpickle_send_result, (type(self), {**state, "rejected": dict(self.rejected)})

    @property
    def ok(self) -> bool:
        """True when every recipient was accepted."""
        return not self.rejected and not self.unconfirmed

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``ok``; ``accepted``, ``unconfirmed`` (addresses);
        ``rejected`` (address: ``[code, text]``); ``message_id``, ``server_id``, ``reply``,
        ``transport``."""
        return {
            "ok": self.ok,
            "accepted": list(self.accepted),
            "rejected": {address: list(answer) for address, answer in self.rejected.items()},
            "unconfirmed": list(self.unconfirmed),
            "message_id": self.message_id,
            "server_id": self.server_id,
            "reply": self.reply,
            "transport": self.transport,
        }

    def raise_for_status(self) -> SendResult:
        """Raise :class:`RecipientsRefusedError` if any recipient was refused; else ``self``."""
        if self.rejected:
            listed = ", ".join(f"{a} ({c})" for a, (c, _) in self.rejected.items())
            raise RecipientsRefusedError(f"recipients refused: {listed}", self.rejected)
        if self.unconfirmed:
            raise TransportError(
                f"the server did not accept every recipient: {self.reply}", text=self.reply
            )
        return self


def _unpickle_send_result(cls: type[SendResult], state: dict[str, Any]) -> SendResult:
    return cls(**state)


def sent(result: SendResult) -> SendResult:
    """Log a delivery: INFO when every recipient was taken, WARNING when some were not
    (the send returns normally: a caller who does not look would miss it)."""
    if result.ok:
        _LOG.info("%s: sent %s to %d recipient(s) (server id %s)", result.transport,
                  result.message_id, len(result.accepted), result.server_id)
    else:
        _LOG.warning("%s: sent %s, but %d recipient(s) refused and %d unconfirmed: %s",
                     result.transport, result.message_id, len(result.rejected),
                     len(result.unconfirmed), result.reply)
    return result


def failed(name: str, error: TransportError) -> None:
    """Log a send that raised: the error's own sentence (no password, no message)."""
    _LOG.info("%s: not sent: %s: %s", name, type(error).__name__, error)


class _Sends(Protocol[_R_co]):
    """The one ``send`` signature; the two protocols differ only in what it returns."""

    def send(
        self,
        message: MessageInput,
        *,
        sender: str | None = None,
        recipients: RecipientsInput = None,
    ) -> _R_co: ...


@runtime_checkable
class Transport(_Sends[SendResult], Protocol):
    """Anything with a ``send(message, *, sender=None, recipients=None) -> SendResult``
    method can deliver messages for :func:`smime.send`."""


@runtime_checkable
class AsyncTransport(_Sends[Awaitable[SendResult]], Protocol):
    """The asyncio twin of :class:`Transport`: its ``send`` returns an awaitable."""


class _Nesting:
    """What both base classes share: the name in results and logs, whether a message must
    name a sender and recipients, and how many ``with`` blocks are open."""

    name: ClassVar[str] = "transport"
    #: False for a transport that needs no route (a file keeps what it is given).
    _needs_route: ClassVar[bool] = True
    _depth: int = 0

    @property
    def is_open(self) -> bool:
        return self._depth > 0


class BaseTransport(_Nesting):
    """A context manager whose ``with`` block keeps resources (a connection) open.

    ``with`` blocks nest: only the outermost one opens and closes. Outside any block each
    ``send`` opens and closes on its own. Subclasses implement ``_deliver(prepared)``,
    which gets the checked envelope from :func:`prepare`.
    """

    def open(self) -> None:
        """Acquire what sending needs (connect, create folders)."""

    def close(self) -> None:
        """Release what :meth:`open` acquired; safe to call twice."""

    def __enter__(self) -> BaseTransport:
        if self._depth == 0:
            self.open()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.close()

    def send(self, message: MessageInput, *, sender: str | None = None,
             recipients: RecipientsInput = None) -> SendResult:
        prepared = prepare(message, sender, recipients, require=self._needs_route)
        try:
            return sent(self._deliver(prepared))
        except TransportError as exc:
            failed(self.name, exc)
            raise

    def _deliver(self, prepared: Prepared) -> SendResult:
        raise NotImplementedError

    def send_many(self, messages: Iterable[MessageInput]) -> tuple[SendResult, ...]:
        """Send each message (envelope from its headers) over one connection.

        Stops at the first error; the messages before it were sent.
        """
        with self:
            return tuple(self.send(m) for m in messages)


class AsyncBaseTransport(_Nesting):
    """The asyncio twin of :class:`BaseTransport` (``async with``, ``await send``)."""

    async def open(self) -> None:
        """Acquire what sending needs (connect)."""

    async def aclose(self) -> None:
        """Release what :meth:`open` acquired; safe to call twice."""

    async def __aenter__(self) -> AsyncBaseTransport:
        if self._depth == 0:
            await self.open()
        self._depth += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            await self.aclose()

    async def send(self, message: MessageInput, *, sender: str | None = None,
                   recipients: RecipientsInput = None) -> SendResult:
        prepared = prepare(message, sender, recipients, require=self._needs_route)
        try:
            return sent(await self._deliver(prepared))
        except TransportError as exc:
            failed(self.name, exc)
            raise

    async def _deliver(self, prepared: Prepared) -> SendResult:
        raise NotImplementedError

    async def send_many(self, messages: Iterable[MessageInput]) -> tuple[SendResult, ...]:
        """Send each message in turn over one connection; stops at the first error."""
        async with self:
            return tuple([await self.send(m) for m in messages])


class MockTransport(BaseTransport):
    """Records what it would send, for tests (like ``httpx.MockTransport``).

    ``handler`` may decide each result (return a :class:`SendResult` or raise); by default
    every recipient is accepted. ``sent`` lists each :class:`Envelope` in order.
    """

    name = "mock"

    def __init__(self, handler: Callable[[Envelope], SendResult] | None = None) -> None:
        self.handler = handler
        self.sent: list[Envelope] = []

    def _deliver(self, prepared: Prepared) -> SendResult:
        self.sent.append(prepared.envelope)
        if self.handler is not None:
            return self.handler(prepared.envelope)
        return SendResult(
            accepted=prepared.envelope.recipients,
            message_id=prepared.message_id,
            server_id=str(len(self.sent)),
            transport=self.name,
        )
