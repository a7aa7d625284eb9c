"""Sending over SMTP with the standard library's ``smtplib``.

STARTTLS is required by default: a server that does not offer it is an error, not a
reason to send in clear. The exact bytes from :func:`~smime.transports.base.envelope`
go to ``DATA`` (smtplib only dot-stuffs them), so a signature survives the trip.
"""

from __future__ import annotations

import re
import smtplib
import ssl as _ssl
import threading
from collections.abc import Callable
from typing import TypeVar

from ..errors import InvalidOptionError, TransportError
from .base import (
    BaseTransport,
    MessageInput,
    Prepared,
    RecipientsInput,
    RecipientsRefusedError,
    SendResult,
    prepare,
)

__all__ = ["SMTPSettings", "SMTPTransport", "check_options", "mail_options", "queue_id"]

_QUEUED = re.compile(r"queued as\s+<?([\w.@-]+)", re.IGNORECASE)
_T = TypeVar("_T")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def queue_id(reply: str) -> str | None:
    """The server's queue id from a final ``250`` reply ("... queued as 4XyZ"), if it says."""
    found = _QUEUED.search(reply)
    return found.group(1) if found else None


def mail_options(
    prepared: Prepared, has_extension: Callable[[str], bool], where: str
) -> tuple[list[str], bool]:
    """ESMTP ``MAIL FROM`` parameters for this message, and whether SMTPUTF8 is needed."""
    env = prepared.envelope
    options = []
    if has_extension("size"):
        options.append(f"SIZE={len(env.data)}")
    if not env.data.isascii() and has_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    utf8 = not (env.sender.isascii() and all(r.isascii() for r in env.recipients))
    if utf8:
        if not has_extension("smtputf8"):
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
    if username is not None and not (starttls or ssl) and host not in _LOOPBACK:
        raise InvalidOptionError(
            "username=... with starttls=False and ssl=False would send the password in "
            "clear; use starttls=True or ssl=True"
        )


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class _Stale(Exception):
    """A kept connection turned out to be closed before this message's MAIL command."""


class SMTPSettings:
    """What the SMTP transport and its asyncio twin are told, checked once, shown without
    the password."""

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
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self._setup()

    def _setup(self) -> None:
        """Where each twin makes its connection slot and lock."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(host={self.host!r}, port={self.port}, "
                f"starttls={self.starttls}, ssl={self.ssl}, username={self.username!r})")

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"


class SMTPTransport(SMTPSettings, BaseTransport):
    """Send through an SMTP server (submission port 587 with STARTTLS by default).

    ``ssl=True`` uses implicit TLS (port 465 by default) and ignores ``starttls``.
    ``username`` turns on AUTH, which needs TLS unless the server is this machine.
    ``ssl_context`` defaults to ``ssl.create_default_context()`` (verifying). Inside a
    ``with`` block one connection serves every ``send`` and is re-opened if the server
    dropped it while idle. A recipient the server refuses lands in ``SendResult.rejected``;
    only when all are refused is it an error.
    """

    name = "smtp"

    def _setup(self) -> None:
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.RLock()

    def open(self) -> None:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                _quit(conn)

    def send(
        self,
        message: MessageInput,
        *,
        sender: str | None = None,
        recipients: RecipientsInput = None,
    ) -> SendResult:
        prepared = prepare(message, sender, recipients)
        with self._lock:
            if not self.is_open:
                conn = self._connect()
                try:
                    return self._guarded(lambda: self._transaction(conn, prepared, False), conn)
                finally:
                    _quit(conn)
            reused = self._conn is not None
            kept = self._conn if self._conn is not None else self._connect()
            self._conn = kept
            try:
                return self._guarded(lambda: self._transaction(kept, prepared, reused))
            except _Stale:
                self._drop()
                fresh = self._conn = self._connect()
                return self._guarded(lambda: self._transaction(fresh, prepared, False))

    # --- connection ----------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or _ssl.create_default_context()
        conn: smtplib.SMTP | None = None

        def connect() -> smtplib.SMTP:
            nonlocal conn
            if self.ssl:
                conn = smtplib.SMTP_SSL(self.host, self.port, self.local_hostname,
                                        timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, self.local_hostname,
                                    timeout=self.timeout)
            conn.ehlo_or_helo_if_needed()
            if self.starttls and not self.ssl:
                if not conn.has_extn("starttls"):
                    raise TransportError(
                        f"{self._where} does not offer STARTTLS; refusing to send in clear "
                        "(starttls=False allows it)"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if self.username is not None:
                conn.login(self.username, self._password or "")
            return conn

        try:
            return self._guarded(connect)
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _guarded(self, step: Callable[[], _T], conn: smtplib.SMTP | None = None) -> _T:
        """Run ``step``, turning smtplib/socket/TLS errors into TransportError."""
        try:
            return step()
        except (TransportError, _Stale):
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"{self._where} refused the login of {self.username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                code=exc.smtp_code, text=_text(exc.smtp_error),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop_if_kept(conn)
            raise TransportError(
                f"{self._where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                code=exc.smtp_code, text=_text(exc.smtp_error),
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            self._drop_if_kept(conn)
            if isinstance(exc.__context__, TimeoutError):
                raise TransportError(
                    f"{self._where} did not answer within {self.timeout} s") from exc
            raise TransportError(f"{self._where} closed the connection ({exc})") from exc
        except _ssl.SSLCertVerificationError as exc:
            self._drop_if_kept(conn)
            raise TransportError(
                f"{self._where}: TLS certificate verification failed: {exc.verify_message}"
            ) from exc
        except _ssl.SSLError as exc:
            self._drop_if_kept(conn)
            raise TransportError(f"{self._where}: TLS failed: {exc.reason or exc}") from exc
        except TimeoutError as exc:
            self._drop_if_kept(conn)
            raise TransportError(f"{self._where} did not answer within {self.timeout} s") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop_if_kept(conn)
            raise TransportError(f"cannot talk to {self._where}: {exc}") from exc

    def _drop_if_kept(self, conn: smtplib.SMTP | None) -> None:
        if conn is None:
            self._drop()

    # --- one message ---------------------------------------------------------------------

    def _transaction(self, conn: smtplib.SMTP, prepared: Prepared, reused: bool) -> SendResult:
        env = prepared.envelope
        options, _ = mail_options(prepared, conn.has_extn, self._where)
        try:
            code, reply = conn.mail(env.sender, options)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if reused:
                raise _Stale from exc
            raise
        if code == 421 and reused:
            raise _Stale
        try:
            if code != 250:
                raise TransportError(
                    f"{self._where} refused the sender {env.sender!r}: {code} {_text(reply)}",
                    code=code, text=_text(reply),
                )
            rejected: dict[str, tuple[int, str]] = {}
            for rcpt in env.recipients:
                code, reply = conn.rcpt(rcpt)
                if code not in (250, 251):
                    rejected[rcpt] = (code, _text(reply))
            if len(rejected) == len(env.recipients):
                listed = ", ".join(f"{a} ({c} {t})" for a, (c, t) in rejected.items())
                raise RecipientsRefusedError(
                    f"{self._where} refused every recipient: {listed}", rejected
                )
            code, reply = conn.data(env.data)
            if code != 250:
                raise TransportError(
                    f"{self._where} did not take the message: {code} {_text(reply)}",
                    code=code, text=_text(reply),
                )
        except TransportError:
            _reset(conn)
            raise
        finally:
            conn.command_encoding = "ascii"
        text = _text(reply)
        return SendResult(
            accepted=tuple(r for r in env.recipients if r not in rejected),
            rejected=rejected,
            message_id=prepared.message_id,
            server_id=queue_id(text),
            reply=f"{code} {text}",
            transport=self.name,
        )


def _reset(conn: smtplib.SMTP) -> None:
    """Abort the transaction so a kept connection can carry the next message."""
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()
