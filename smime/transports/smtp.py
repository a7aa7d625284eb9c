"""Sending over SMTP with the standard library's ``smtplib``.

STARTTLS is required by default: a server that does not offer it is an error, not a
reason to send in clear. The exact bytes from :func:`~smime.transports.base.envelope`
go to ``DATA``, only dot-stuffed, so a signature survives the trip. What to send and
what each answer means is decided in ``_smtp`` (shared with the asyncio twin); this
module only carries the steps out with ``smtplib``.
"""

from __future__ import annotations

import smtplib
import threading

from . import _smtp
from ._smtp import Reply, SMTPCore
from ._steps import run
from .base import BaseTransport, Prepared, SendResult

__all__ = ["SMTPTransport"]


def _reply(answer: tuple[int, bytes | str]) -> Reply:
    code, text = answer
    return Reply(code, text.decode("utf-8", "replace") if isinstance(text, bytes) else text)


class SMTPTransport(SMTPCore, BaseTransport):
    """Send through an SMTP server (submission port 587 with STARTTLS by default).

    ``ssl=True`` uses implicit TLS (port 465 by default) and ignores ``starttls``.
    ``username`` turns on AUTH, which needs TLS unless the server is this machine.
    ``ssl_context`` defaults to ``ssl.create_default_context()`` (verifying). Inside a
    ``with`` block one connection serves every ``send`` and is re-opened if the server
    dropped it while idle. A recipient the server refuses lands in ``SendResult.rejected``;
    only when all are refused is it an error. A lost connection raises
    :class:`~smime.transports.NetworkError`, whose ``maybe_sent`` says whether the message
    may have been delivered all the same.
    """

    def _setup(self) -> None:
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.RLock()

    def open(self) -> None:
        with self._lock:
            if self._conn is None:
                run(self._open_steps(), self._do)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                run(self._quit_steps(), self._do)

    def _deliver(self, prepared: Prepared) -> SendResult:
        with self._lock:
            conn = self._conn
            alive = conn is not None and conn.sock is not None
            steps = self._send_steps(prepared, alive=alive, keep=self.is_open or conn is not None)
            return run(steps, self._do)

    def _do(self, step: _smtp.Step) -> Reply | _smtp.Fault | None:
        """Carry out one step; the server's answer, or the Fault when none came."""
        try:
            return self._perform(step)
        except smtplib.SMTPResponseException as exc:
            return _reply((exc.smtp_code, exc.smtp_error))
        except OSError as exc:  # smtplib.SMTPException is an OSError
            return _smtp.fault(exc, closed=smtplib.SMTPServerDisconnected,
                               library=smtplib.SMTPException)
        except BaseException:
            self._drop()
            raise

    def _perform(self, step: _smtp.Step) -> Reply | None:
        if isinstance(step, _smtp.Close):
            self._drop()
            return None
        if isinstance(step, _smtp.Connect):
            self._conn = self._new_connection()
            return Reply(220, "")  # smtplib raises SMTPConnectError for any other greeting
        conn = self._conn
        if conn is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        if isinstance(step, _smtp.Command):
            conn.send(step.line + b"\r\n")
            return _reply(conn.getreply())
        if isinstance(step, _smtp.Write):
            conn.send(step.data)
            return None
        if isinstance(step, _smtp.Read):
            return _reply(conn.getreply())
        if isinstance(step, _smtp.Hello):
            return _reply(conn.ehlo() if step.esmtp else conn.helo())
        if isinstance(step, _smtp.StartTLS):
            return _reply(conn.starttls(context=self._tls_context()))
        return _reply(conn.login(step.username, step.password))

    def _new_connection(self) -> smtplib.SMTP:
        """Connected, greeted; the host given here is the one STARTTLS verifies."""
        if self.ssl:
            return smtplib.SMTP_SSL(self.host, self.port, self.local_hostname,
                                    timeout=self.timeout, context=self._tls_context())
        return smtplib.SMTP(self.host, self.port, self.local_hostname, timeout=self.timeout)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
