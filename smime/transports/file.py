"""Delivering into files: a folder of ``.eml`` files, an mbox file or a Maildir.

For tests, drop folders and archives. Each format is safe with several processes
writing at once: ``.eml`` files and Maildir entries appear atomically under unique
names, and mbox appends happen under ``fcntl`` and dot-file locks (the ones mail
programs honour).

What is written is the bytes that would go on the wire (``Bcc`` removed, CRLF line
ends), unchanged, with one exception that belongs to the mbox format itself: a body
line starting ``From `` is written as ``>From `` (it would otherwise read as the start
of the next message), and readers do not undo it. That alters a signed part holding
such a line; S/MIME canonicalisation protects against it by quoted-printable-encoding
those lines before signing (``=46rom``), so messages made by this library survive, but
one signed elsewhere may not. Use ``eml`` or ``maildir`` to keep bytes exact.
"""

from __future__ import annotations

import mailbox
import os
import random
import secrets
import tempfile
import time
from pathlib import Path

from ..errors import InvalidOptionError, TransportError
from .base import BaseTransport, MessageInput, RecipientsInput, SendResult, prepare

__all__ = ["FORMATS", "FileTransport"]

FORMATS = ("eml", "mbox", "maildir")


class FileTransport(BaseTransport):
    """Write each message to ``path``: ``format="eml"`` (a folder), ``"mbox"`` or ``"maildir"``.

    Folders are created as needed. ``lock_timeout`` bounds the wait for an mbox lock
    held by another process; ``fsync`` makes each message durable before ``send``
    returns. The result's ``server_id`` names what was written (file path, Maildir key
    or mbox key).
    """

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "eml",
        lock_timeout: float = 30,
        fsync: bool = True,
    ) -> None:
        if format not in FORMATS:
            raise InvalidOptionError(
                f"unknown format {format!r}; use one of {', '.join(map(repr, FORMATS))}"
            )
        self.path = Path(path)
        self.format = format
        self.lock_timeout = lock_timeout
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"FileTransport({str(self.path)!r}, format={self.format!r})"

    def send(
        self,
        message: MessageInput,
        *,
        sender: str | None = None,
        recipients: RecipientsInput = None,
    ) -> SendResult:
        prepared = prepare(message, sender, recipients, require=False)
        env = prepared.envelope
        try:
            if self.format == "eml":
                written = self._write_eml(env.data)
            elif self.format == "maildir":
                written = self._write_maildir(env.data)
            else:
                written = self._append_mbox(env.sender, env.data)
        except (OSError, mailbox.Error) as exc:
            raise TransportError(f"cannot write to {self.path}: {exc}") from exc
        return SendResult(
            accepted=env.recipients,
            message_id=prepared.message_id,
            server_id=written,
            transport=self.name,
        )

    def _write_eml(self, data: bytes) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.{os.getpid()}.{secrets.token_hex(8)}.eml"
        fd, temporary = tempfile.mkstemp(dir=self.path, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            target = self.path / name
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(target)

    def _write_maildir(self, data: bytes) -> str:
        for folder in ("tmp", "new", "cur"):  # Maildir(create=True) races with other writers
            (self.path / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        box = mailbox.Maildir(self.path, create=False)
        key = box.add(data)
        return str(self.path / "new" / key)

    def _append_mbox(self, sender: str, data: bytes) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.asctime(time.gmtime())
        from_line = f"From {sender or 'MAILER-DAEMON'} {stamp}\n".encode("utf-8", "replace")
        box = mailbox.mbox(self.path, create=True)
        try:
            self._lock(box)
            try:
                key = box.add(from_line + data)
                box.flush()
            finally:
                box.unlock()
        finally:
            box.close()
        return str(key)

    def _lock(self, box: mailbox.mbox) -> None:
        """Take the mbox locks, waiting (with jitter) while another process holds them."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                box.lock()
                return
            except mailbox.ExternalClashError as exc:
                if time.monotonic() >= deadline:
                    raise TransportError(
                        f"{self.path} stayed locked for {self.lock_timeout} s (if no program "
                        f"holds it, remove {self.path}.lock)"
                    ) from exc
                time.sleep(random.uniform(0.002, 0.02))
