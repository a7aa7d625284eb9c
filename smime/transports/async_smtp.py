"""The asyncio twin of :class:`~smime.transports.smtp.SMTPTransport`, on ``aiosmtplib``.

``aiosmtplib`` is an optional extra (``pip install 'smime-sdk[async]'``), imported only
when a connection is made. Same options, same rules: STARTTLS required by default, the
exact bytes sent, refused recipients reported, every failure a ``TransportError``.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from ..errors import TransportError
from .base import (
    AsyncBaseTransport,
    MessageInput,
    Prepared,
    RecipientsInput,
    RecipientsRefusedError,
    SendResult,
    missing_extra,
    prepare,
)
from .smtp import SMTPSettings, mail_options, queue_id

if TYPE_CHECKING:
    import aiosmtplib

__all__ = ["AsyncSMTPTransport"]

_T = TypeVar("_T")


def _aiosmtplib() -> ModuleType:
    try:
        import aiosmtplib
    except ImportError as exc:
        raise missing_extra("aiosmtplib", "async", "AsyncSMTPTransport") from exc
    return aiosmtplib


class _Stale(Exception):
    """A kept connection turned out to be closed before this message's MAIL command."""


class AsyncSMTPTransport(SMTPSettings, AsyncBaseTransport):
    """Send through an SMTP server from asyncio code (``async with``, ``await send``)."""

    name = "smtp"

    def _setup(self) -> None:
        self._conn: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            if self._conn is None:
                self._conn = await self._connect()

    async def aclose(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await _quit(conn)

    async def send(
        self,
        message: MessageInput,
        *,
        sender: str | None = None,
        recipients: RecipientsInput = None,
    ) -> SendResult:
        prepared = prepare(message, sender, recipients)
        async with self._lock:
            if not self.is_open:
                conn = await self._connect()
                try:
                    return await self._guarded(self._transaction(conn, prepared, False))
                finally:
                    await _quit(conn)
            kept = self._conn
            reused = kept is not None and kept.is_connected
            if kept is None or not reused:
                self._drop()
                kept = self._conn = await self._connect()
            try:
                return await self._guarded(self._transaction(kept, prepared, reused))
            except _Stale:
                self._drop()
                fresh = self._conn = await self._connect()
                return await self._guarded(self._transaction(fresh, prepared, False))
            except TransportError:
                if not kept.is_connected:
                    self._drop()
                raise

    async def _connect(self) -> aiosmtplib.SMTP:
        lib = _aiosmtplib()
        context = self.ssl_context or _ssl.create_default_context()
        conn: aiosmtplib.SMTP = lib.SMTP(
            hostname=self.host, port=self.port, local_hostname=self.local_hostname,
            timeout=self.timeout, use_tls=self.ssl, start_tls=False, tls_context=context,
        )

        async def connect() -> aiosmtplib.SMTP:
            await conn.connect()
            await conn.ehlo()
            if self.starttls and not self.ssl:
                if not conn.supports_extension("starttls"):
                    raise TransportError(
                        f"{self._where} does not offer STARTTLS; refusing to send in clear "
                        "(starttls=False allows it)"
                    )
                await conn.starttls(tls_context=context)
                await conn.ehlo()
            if self.username is not None:
                await conn.login(self.username, self._password or "")
            return conn

        try:
            return await self._guarded(connect())
        except BaseException:
            conn.close()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _guarded(self, step: Awaitable[_T]) -> _T:
        """Await ``step``, turning aiosmtplib/socket/TLS errors into TransportError."""
        lib = _aiosmtplib()
        try:
            return await step
        except (TransportError, _Stale):
            raise
        except lib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"{self._where} refused the login of {self.username!r}: {exc.code} {exc.message}",
                code=exc.code, text=exc.message,
            ) from exc
        except lib.SMTPResponseException as exc:
            raise TransportError(
                f"{self._where} answered {exc.code} {exc.message}", code=exc.code, text=exc.message
            ) from exc
        except lib.SMTPServerDisconnected as exc:
            raise TransportError(f"{self._where} closed the connection ({exc})") from exc
        except _ssl.SSLCertVerificationError as exc:
            raise TransportError(
                f"{self._where}: TLS certificate verification failed: {exc.verify_message}"
            ) from exc
        except TimeoutError as exc:
            raise TransportError(f"{self._where} did not answer within {self.timeout} s") from exc
        except (OSError, lib.SMTPException) as exc:
            raise TransportError(f"cannot talk to {self._where}: {exc}") from exc

    async def _transaction(
        self, conn: aiosmtplib.SMTP, prepared: Prepared, reused: bool
    ) -> SendResult:
        lib = _aiosmtplib()
        env = prepared.envelope
        options, utf8 = mail_options(prepared, conn.supports_extension, self._where)
        encoding = "utf-8" if utf8 else "ascii"
        try:
            await conn.mail(env.sender, options=options, encoding=encoding)
        except (lib.SMTPServerDisconnected, OSError) as exc:
            if reused:
                raise _Stale from exc
            raise
        except lib.SMTPSenderRefused as exc:
            if exc.code == 421 and reused:
                raise _Stale from exc
            await _reset(conn)
            raise TransportError(
                f"{self._where} refused the sender {env.sender!r}: {exc.code} {exc.message}",
                code=exc.code, text=exc.message,
            ) from exc
        rejected: dict[str, tuple[int, str]] = {}
        for rcpt in env.recipients:
            try:
                await conn.rcpt(rcpt, encoding=encoding)
            except lib.SMTPRecipientRefused as exc:
                rejected[rcpt] = (exc.code, exc.message)
        if len(rejected) == len(env.recipients):
            await _reset(conn)
            listed = ", ".join(f"{a} ({c} {t})" for a, (c, t) in rejected.items())
            raise RecipientsRefusedError(
                f"{self._where} refused every recipient: {listed}", rejected
            )
        try:
            response = await conn.data(env.data)
        except lib.SMTPDataError as exc:
            await _reset(conn)
            raise TransportError(
                f"{self._where} did not take the message: {exc.code} {exc.message}",
                code=exc.code, text=exc.message,
            ) from exc
        return SendResult(
            accepted=tuple(r for r in env.recipients if r not in rejected),
            rejected=rejected,
            message_id=prepared.message_id,
            server_id=queue_id(response.message),
            reply=f"{response.code} {response.message}",
            transport=self.name,
        )


async def _reset(conn: aiosmtplib.SMTP) -> None:
    await _quietly(conn.rset, conn)


async def _quit(conn: aiosmtplib.SMTP) -> None:
    await _quietly(conn.quit, conn)


async def _quietly(step: Callable[[], Awaitable[object]], conn: aiosmtplib.SMTP) -> None:
    """Run a courtesy command; on any failure just close (the result is already known)."""
    lib = _aiosmtplib()
    try:
        await step()
    except (lib.SMTPException, OSError):
        conn.close()
