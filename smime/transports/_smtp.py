"""The SMTP conversation without I/O: what to send, what each reply means, when to reconnect.

:class:`SMTPCore` holds an SMTP transport's settings and yields one :data:`Step` at a
time (connect, EHLO, STARTTLS, AUTH, a command line, the message bytes, read a reply,
close). ``SMTPTransport`` (smtplib) and ``AsyncSMTPTransport`` (aiosmtplib) carry each
step out and send back the server's :class:`Reply`, or a :class:`Fault` when none came,
so one set of rules serves both:

- a kept connection found dead before this message's ``MAIL`` (closed, silent, or
  answering 421) is replaced, and the message goes over a fresh one: nothing had been
  sent on it yet;
- a connection lost before the whole message was handed over raises
  :class:`~smime.transports.NetworkError` with ``maybe_sent=False``: nothing was
  delivered, and sending again is safe;
- lost after the final dot and before the server's reply: ``maybe_sent=True``. The
  server may have queued the message, so it is not sent again here.
"""

from __future__ import annotations

import contextlib
import re
import ssl as _ssl
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeAlias, TypeVar

from .._log import transports as _LOG
from ..errors import InvalidOptionError, Option, TransportError
from ..options import check_seconds
from .base import (
    NetworkError,
    NetworkTimeoutError,
    Prepared,
    RecipientsRefusedError,
    SendResult,
    is_loopback,
)

__all__ = [
    "Close",
    "Command",
    "Connect",
    "Fault",
    "Hello",
    "Login",
    "Read",
    "Reply",
    "SMTPCore",
    "StartTLS",
    "Step",
    "Steps",
    "Write",
    "check_options",
    "fault",
    "mail_options",
    "queue_id",
]

_T = TypeVar("_T")
_QUEUED = re.compile(r"queued as\s+<?([\w.@-]+)", re.IGNORECASE)
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)


# --- the steps a shell carries out ------------------------------------------------------


@dataclass(frozen=True)
class Connect:
    """Open a connection (implicit TLS when ``ssl=True``) and read the greeting."""


@dataclass(frozen=True)
class Hello:
    """EHLO (or HELO), through the library, which then knows the server's extensions."""

    esmtp: bool = True


@dataclass(frozen=True)
class StartTLS:
    """STARTTLS, and on 220 the TLS handshake."""


@dataclass(frozen=True)
class Login:
    """AUTH with a mechanism both sides offer (the library picks it)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Command:
    """One command line, without its CRLF; answered by its reply."""

    line: bytes


@dataclass(frozen=True)
class Write:
    """Bytes as they are (the dot-stuffed message and the final dot); answered by ``None``."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Read:
    """Wait for the next reply."""


@dataclass(frozen=True)
class Close:
    """Drop the connection, if there is one, without a word; answered by ``None``."""


Step: TypeAlias = Connect | Hello | StartTLS | Login | Command | Write | Read | Close


@dataclass(frozen=True)
class Reply:
    """What the server answered."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


Steps: TypeAlias = Generator[Step, Reply | None, _T]
FaultKind = Literal["closed", "timeout", "network", "tls", "tls-verify", "protocol"]


class Fault(Exception):
    """A step got no reply: the connection failed (``kind``), in the library's words."""

    def __init__(self, kind: FaultKind, detail: str, cause: BaseException) -> None:
        super().__init__(kind, detail)
        self.kind: FaultKind = kind
        self.detail = detail
        self.cause = cause
        self.maybe_sent = False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (libraries wrap socket and TLS errors)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 8 and current not in seen:
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def fault(exc: BaseException, *, closed: type[BaseException],
          library: type[BaseException]) -> Fault:
    """Which kind of failure ``exc``, raised by a shell's library for one step, is.

    ``closed`` is the library's "server disconnected" class; ``library`` its base class,
    whose other members are the library giving up (no AUTH mechanism in common...).
    """
    chain = list(_chain(exc))
    verify = next((e for e in chain if isinstance(e, _ssl.SSLCertVerificationError)), None)
    if verify is not None:
        return Fault("tls-verify", str(getattr(verify, "verify_message", None) or verify), exc)
    tls = next((e for e in chain if isinstance(e, _ssl.SSLError)), None)
    if tls is not None:
        return Fault("tls", str(getattr(tls, "reason", None) or tls), exc)
    if any(isinstance(e, TimeoutError) for e in chain):
        return Fault("timeout", str(exc), exc)
    if isinstance(exc, closed):
        return Fault("closed", str(exc), exc)
    if isinstance(exc, ConnectionError) or (
        isinstance(exc, OSError) and not isinstance(exc, library)
    ):
        return Fault("network", str(exc), exc)
    return Fault("protocol", str(exc), exc)


class _Stale(Exception):
    """A kept connection turned out dead before this message's MAIL command."""


# --- small rules ------------------------------------------------------------------------


def queue_id(reply: str) -> str | None:
    """The server's queue id from a final ``250`` reply ("... queued as 4XyZ"), if it says."""
    found = _QUEUED.search(reply)
    return found.group(1) if found else None


def mail_options(
    prepared: Prepared, extensions: frozenset[str], where: str
) -> tuple[list[str], bool]:
    """ESMTP ``MAIL FROM`` parameters for this message, and whether SMTPUTF8 is needed."""
    env = prepared.envelope
    options = []
    if "size" in extensions:
        options.append(f"SIZE={len(env.data)}")
    if not env.data.isascii() and "8bitmime" in extensions:
        options.append("BODY=8BITMIME")
    utf8 = not (env.sender.isascii() and all(r.isascii() for r in env.recipients))
    if utf8:
        if "smtputf8" not in extensions:
            raise TransportError(
                f"{where} does not offer SMTPUTF8, which the non-ASCII addresses need"
            )
        options.append("SMTPUTF8")
    return options, utf8


def check_options(host: str, *, starttls: bool, ssl: bool, username: str | None,
                  password: str | None) -> None:
    """Refuse settings that would leak a password: AUTH in clear to another machine."""
    if password is not None and username is None:
        raise InvalidOptionError("password=... needs username=...")
    if username is not None and not (starttls or ssl) and not is_loopback(host):
        raise InvalidOptionError.naming(
            Option("username=..."), " with ", Option("starttls=False"), " and ",
            Option("ssl=False"), " would send the password in clear; use ",
            Option("starttls=True"), " or ", Option("ssl=True"),
        )


def _extension_names(ehlo_text: str) -> frozenset[str]:
    """The lowercase keywords of an EHLO reply (its first line is the server's name)."""
    found = (_KEYWORD.match(line.strip()) for line in ehlo_text.splitlines()[1:])
    return frozenset(match.group().lower() for match in found if match)


def _ask(step: Step) -> Steps[Reply]:
    reply = yield step
    assert reply is not None, f"{step!r} must be answered with a Reply"
    return reply


def _refused(what: str, reply: Reply) -> TransportError:
    """``what`` the server did, followed by its reply."""
    return TransportError(f"{what} {reply}", code=reply.code, text=reply.text)


# --- the conversation ---------------------------------------------------------------------


class SMTPCore:
    """The settings of an SMTP transport, checked once and shown without the password,
    and its conversation as generators of steps. The shells inherit it and do the I/O."""

    name: ClassVar[str] = "smtp"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        starttls: bool = True,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        ssl_context: _ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        check_options(host, starttls=starttls, ssl=ssl, username=username, password=password)
        self.host = host
        self.port = port if port is not None else (465 if ssl else 587)
        self.starttls = starttls
        self.ssl = ssl
        self.username = username
        self._password = password
        self.timeout = check_seconds("timeout", timeout)
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self._default_context: _ssl.SSLContext | None = None
        self._extensions: frozenset[str] = frozenset()
        self._setup()

    def _setup(self) -> None:
        """Where each shell makes its connection slot and lock."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(host={self.host!r}, port={self.port}, "
                f"starttls={self.starttls}, ssl={self.ssl}, username={self.username!r})")

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _tls_context(self) -> _ssl.SSLContext:
        """``ssl_context``, else one verifying default context made when first needed."""
        if self.ssl_context is not None:
            return self.ssl_context
        if self._default_context is None:
            self._default_context = _ssl.create_default_context()
        return self._default_context

    # --- what the shells run ---------------------------------------------------------------

    def _open_steps(self) -> Steps[None]:
        """Connect, say hello, secure and log in."""
        return self._guard(self._open())

    def _send_steps(self, prepared: Prepared, *, alive: bool, keep: bool) -> Steps[SendResult]:
        """One message: over the kept connection when ``alive``, else a new one; with
        ``keep`` the connection stays open afterwards, else it is closed with QUIT."""
        try:
            result = yield from self._guard(self._send(prepared, alive))
        except TransportError:
            if not keep:
                yield from self._quit_steps()
            raise
        if not keep:
            yield from self._quit_steps()
        return result

    def _quit_steps(self) -> Steps[None]:
        """Say QUIT if the server still listens, and close."""
        with contextlib.suppress(Fault):
            yield from _ask(Command(b"QUIT"))
        yield Close()

    # --- the rules -------------------------------------------------------------------------

    def _guard(self, steps: Steps[_T]) -> Steps[_T]:
        """Run ``steps``; a step with no reply closes the connection and becomes the
        TransportError that says what happened."""
        try:
            return (yield from steps)
        except Fault as failed:
            yield Close()
            raise self._lost(failed) from failed.cause

    def _lost(self, failed: Fault) -> TransportError:
        where = self._where
        if failed.kind == "tls-verify":
            return TransportError(f"{where}: TLS certificate verification failed: {failed.detail}")
        if failed.kind == "protocol":
            return TransportError(f"cannot talk to {where}: {failed.detail}")
        after = ("; the message was sent but not confirmed, so it may have been delivered "
                 "(not sent again)" if failed.maybe_sent else "")
        if failed.kind == "timeout":
            return NetworkTimeoutError(f"{where} did not answer within {self.timeout} s{after}",
                                       maybe_sent=failed.maybe_sent)
        said = {"closed": f"{where} closed the connection ({failed.detail})",
                "tls": f"{where}: TLS failed: {failed.detail}"}
        text = said.get(failed.kind, f"cannot talk to {where}: {failed.detail}")
        return NetworkError(text + after, maybe_sent=failed.maybe_sent)

    def _open(self) -> Steps[None]:
        yield Close()
        _LOG.debug("smtp: connecting to %s (ssl %s, starttls %s)", self._where, self.ssl,
                   self.starttls)
        try:
            reply = yield from _ask(Connect())
            if reply.code != 220:
                raise _refused(f"{self._where} answered", reply)
            yield from self._hello()
            if self.starttls and not self.ssl:
                if "starttls" not in self._extensions:
                    raise TransportError.naming(
                        f"{self._where} does not offer STARTTLS; refusing to send in clear (",
                        Option("starttls=False"), " allows it)",
                    )
                reply = yield from _ask(StartTLS())
                if reply.code != 220:
                    raise _refused(f"{self._where} refused STARTTLS:", reply)
                _LOG.debug("smtp: %s: TLS started (STARTTLS)", self._where)
                yield from self._hello()
            if self.username is not None:
                yield from self._login(self.username)
        except TransportError:
            yield Close()
            raise

    def _hello(self) -> Steps[None]:
        reply = yield from _ask(Hello())
        if reply.code == 250:
            self._extensions = _extension_names(reply.text)
            return
        reply = yield from _ask(Hello(esmtp=False))
        if reply.code != 250:
            raise _refused(f"{self._where} answered", reply)
        self._extensions = frozenset()

    def _login(self, username: str) -> Steps[None]:
        if "auth" not in self._extensions:
            raise TransportError.naming(f"{self._where} does not offer AUTH, which ",
                                        Option("username=..."), " needs")
        reply = yield from _ask(Login(username, self._password or ""))
        if not 200 <= reply.code < 300:
            raise _refused(f"{self._where} refused the login of {username!r}:", reply)
        _LOG.debug("smtp: %s: logged in as %r", self._where, username)

    def _send(self, prepared: Prepared, alive: bool) -> Steps[SendResult]:
        if not alive:
            yield from self._open()
        try:
            return (yield from self._transaction(prepared, reused=alive))
        except _Stale:
            _LOG.info("smtp: %s: the kept connection had gone stale; sending again over a new "
                      "one (nothing was sent on the old)", self._where)
            yield from self._open()
            return (yield from self._transaction(prepared, reused=False))

    def _transaction(self, prepared: Prepared, *, reused: bool) -> Steps[SendResult]:
        env = prepared.envelope
        options, utf8 = mail_options(prepared, self._extensions, self._where)
        encoding = "utf-8" if utf8 else "ascii"
        mail = " ".join([f"MAIL FROM:<{env.sender}>", *options]).encode(encoding)
        try:
            reply = yield from _ask(Command(mail))
        except Fault:
            if reused:
                raise _Stale from None
            raise
        if reply.code == 421 and reused:
            raise _Stale
        if reply.code != 250:
            yield from self._reset()
            raise _refused(f"{self._where} refused the sender {env.sender!r}:", reply)
        rejected: dict[str, tuple[int, str]] = {}
        for rcpt in env.recipients:
            reply = yield from _ask(Command(f"RCPT TO:<{rcpt}>".encode(encoding)))
            if reply.code not in (250, 251):
                rejected[rcpt] = (reply.code, reply.text)
        if len(rejected) == len(env.recipients):
            yield from self._reset()
            listed = ", ".join(f"{a} ({c} {t})" for a, (c, t) in rejected.items())
            raise RecipientsRefusedError(
                f"{self._where} refused every recipient: {listed}", rejected
            )
        _LOG.debug("smtp: %s: %d recipient(s) taken, %d refused; sending %d bytes",
                   self._where, len(env.recipients) - len(rejected), len(rejected),
                   len(env.data))
        reply = yield from self._data(env.data)
        if reply.code != 250:
            yield from self._reset()
            raise _refused(f"{self._where} did not take the message:", reply)
        return SendResult(
            accepted=tuple(r for r in env.recipients if r not in rejected),
            rejected=rejected,
            message_id=prepared.message_id,
            server_id=queue_id(reply.text),
            reply=str(reply),
            transport=self.name,
        )

    def _data(self, data: bytes) -> Steps[Reply]:
        """DATA, the dot-stuffed message and the final dot, and the server's verdict."""
        reply = yield from _ask(Command(b"DATA"))
        if reply.code != 354:
            return reply
        yield Write(_LINE_START_DOT.sub(b"..", data) + b".\r\n")
        try:
            return (yield from _ask(Read()))
        except Fault as failed:
            failed.maybe_sent = True
            raise

    def _reset(self) -> Steps[None]:
        """Abort the transaction so a kept connection can carry the next message."""
        try:
            reply: Reply | None = yield from _ask(Command(b"RSET"))
        except Fault:
            reply = None
        if reply is None or reply.code != 250:
            yield Close()
