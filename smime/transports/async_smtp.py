"""The asyncio twin of :class:`~smime.transports.smtp.SMTPTransport`, on ``aiosmtplib``.

``aiosmtplib`` is an optional extra (``pip install 'smime-sdk[async]'``), imported only
when a connection is made. The conversation is the one in ``_smtp`` that the
synchronous transport runs too, so the options and the rules are the same: STARTTLS
required by default, the exact bytes sent, refused recipients reported, a lost
connection reported with ``maybe_sent``, every failure a ``TransportError``.
"""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _smtp
from ._smtp import Reply, SMTPCore
from ._steps import arun
from .base import AsyncBaseTransport, Prepared, SendResult, optional_module

if TYPE_CHECKING:
    import aiosmtplib

__all__ = ["AsyncSMTPTransport"]


def _reply(response: Any) -> Reply:
    return Reply(response.code, response.message)


class AsyncSMTPTransport(SMTPCore, AsyncBaseTransport):
    """Send through an SMTP server from asyncio code (``async with``, ``await send``)."""

    def _setup(self) -> None:
        self._conn: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            if self._conn is None:
                await arun(self._open_steps(), self._do)

    async def aclose(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await arun(self._quit_steps(), self._do)

    async def _deliver(self, prepared: Prepared) -> SendResult:
        async with self._lock:
            conn = self._conn
            alive = conn is not None and conn.is_connected
            steps = self._send_steps(prepared, alive=alive, keep=self.is_open or conn is not None)
            return await arun(steps, self._do)

    async def _do(self, step: _smtp.Step) -> Reply | _smtp.Fault | None:
        """Carry out one step; the server's answer, or the Fault when none came."""
        lib = optional_module("aiosmtplib", "async", "AsyncSMTPTransport")
        try:
            return await self._perform(step, lib)
        except lib.SMTPResponseException as exc:
            return _reply(exc)
        except (OSError, lib.SMTPException) as exc:
            return _smtp.fault(exc, closed=lib.SMTPServerDisconnected, library=lib.SMTPException)
        except BaseException:
            self._drop()
            raise

    async def _perform(self, step: _smtp.Step, lib: ModuleType) -> Reply | None:
        if isinstance(step, _smtp.Close):
            self._drop()
            return None
        if isinstance(step, _smtp.Connect):
            self._conn = lib.SMTP(
                hostname=self.host, port=self.port, local_hostname=self.local_hostname,
                timeout=self.timeout, use_tls=self.ssl, start_tls=False,
                tls_context=self._tls_context(),
            )
            return _reply(await self._conn.connect())
        conn = self._conn
        if conn is None or conn.protocol is None:
            raise lib.SMTPServerDisconnected("not connected")
        if isinstance(step, _smtp.Command):
            return _reply(await conn.execute_command(step.line))
        if isinstance(step, _smtp.Write):
            conn.protocol.write(step.data)
            return None
        if isinstance(step, _smtp.Read):
            return _reply(await conn.protocol.read_response(timeout=self.timeout))
        if isinstance(step, _smtp.Hello):
            return _reply(await (conn.ehlo() if step.esmtp else conn.helo()))
        if isinstance(step, _smtp.StartTLS):
            return _reply(await conn.starttls(tls_context=self._tls_context()))
        return _reply(await conn.login(step.username, step.password))

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
