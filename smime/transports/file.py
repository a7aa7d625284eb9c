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

Mail is private: files are created readable by their owner only (mode 0600, ``mode=``
changes it) and the folders made for them 0700 (the bits of ``mode`` plus search where
it allows reading, less the umask). An existing mbox file or folder keeps its
permissions.
"""

from __future__ import annotations

import mailbox
import os
import random
import secrets
import socket
import time
from pathlib import Path

from .._log import transports as _LOG
from ..errors import InvalidOptionError, TransportError
from ..options import check_seconds
from .base import BaseTransport, Prepared, SendResult

__all__ = ["FORMATS", "FileTransport"]

FORMATS = ("eml", "mbox", "maildir")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class FileTransport(BaseTransport):
    """Write each message to ``path``: ``format="eml"`` (a folder), ``"mbox"`` or ``"maildir"``.

    Folders are created as needed. ``lock_timeout`` bounds the wait for an mbox lock
    held by another process; ``fsync`` makes each message durable before ``send``
    returns. ``mode`` is the permission of the files created (default 0o600, owner only,
    whatever the umask); folders created get the same bits plus search where it allows
    reading (0o700), less the umask. The result's ``server_id`` names what was written (file path,
    Maildir key or mbox key).
    """

    name = "file"
    _needs_route = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "eml",
        lock_timeout: float = 30,
        fsync: bool = True,
        mode: int = 0o600,
    ) -> None:
        if format not in FORMATS:
            raise InvalidOptionError(
                f"unknown format {format!r}; use one of {', '.join(map(repr, FORMATS))}"
            )
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
            raise InvalidOptionError(f"mode must be permission bits such as 0o600, not {mode!r}")
        self.path = Path(path)
        self.format = format
        self.lock_timeout = check_seconds("lock_timeout", lock_timeout, zero=True)
        self.fsync = fsync
        self.mode = mode
        self.folder_mode = mode | (mode & 0o444) >> 2

    def __repr__(self) -> str:
        return f"FileTransport({str(self.path)!r}, format={self.format!r})"

    def _deliver(self, prepared: Prepared) -> SendResult:
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
        _LOG.debug("file: wrote %d bytes as %s in %s", len(env.data), self.format, self.path)
        return SendResult(
            accepted=env.recipients,
            message_id=prepared.message_id,
            server_id=written,
            transport=self.name,
        )

    def _make_folder(self, folder: Path) -> None:
        """Create ``folder`` and any missing parents with :attr:`folder_mode`."""
        missing = []
        while not folder.exists() and folder.parent != folder:
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir(mode=self.folder_mode, exist_ok=True)

    def _write_new(self, temporary: Path, target: Path, data: bytes) -> None:
        """Write ``data`` to a new file with :attr:`mode`, then rename it to ``target``: it
        appears whole or not at all, and is never readable by others on the way."""
        fd = os.open(temporary, _NEW_FILE, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), self.mode)
                out.write(data)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _write_eml(self, data: bytes) -> str:
        self._make_folder(self.path)
        name = f"{time.time_ns()}.{os.getpid()}.{secrets.token_hex(8)}.eml"
        target = self.path / name
        self._write_new(self.path / f".{name}.tmp", target, data)
        return str(target)

    def _write_maildir(self, data: bytes) -> str:
        """Deliver as the Maildir convention says: write into ``tmp``, rename into ``new``."""
        for folder in ("tmp", "new", "cur"):
            self._make_folder(self.path / folder)
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        name = f"{int(time.time())}.P{os.getpid()}R{secrets.token_hex(8)}.{host}"
        target = self.path / "new" / name
        self._write_new(self.path / "tmp" / name, target, data)
        return str(target)

    def _append_mbox(self, sender: str, data: bytes) -> str:
        self._make_folder(self.path.parent)
        try:
            fd = os.open(self.path, _NEW_FILE, 0o600)
        except FileExistsError:
            pass  # an existing mbox keeps the permissions its owner gave it
        else:
            try:
                os.fchmod(fd, self.mode)
            finally:
                os.close(fd)
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
