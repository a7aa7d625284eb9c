"""Input, output and secrets for the commands: binary-safe, stdin/stdout by default.

Secrets come from a file or the environment, never from argv, where every user of the
machine can read them in the process list.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import IO

from .progress import Progress

__all__ = [
    "STDIO",
    "CLIError",
    "json_text",
    "printable",
    "read_file",
    "read_input",
    "write_output",
]

STDIO = "-"
CHUNK = 1 << 20


#: What a terminal acts on instead of showing: C0 and C1 controls, DEL, the bidirectional
#: embeddings, overrides, isolates and marks, line and paragraph separators, and lone
#: surrogates (bytes of a message that were not UTF-8).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: The same without C0 controls, which json.dumps escapes itself (and the raw newlines
#: of its indentation are not in a string).
_UNSAFE_IN_JSON = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class CLIError(Exception):
    """A mistake in how the command was called or in what it was given (exit status 2)."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``).

    Certificate names, addresses, header values and problem sentences come from messages:
    raw, an escape sequence in a name could erase the lines above it and leave only
    "signature VALID" on the screen, and a bidi override could reverse what is shown.
    """
    return _UNSAFE.sub(_escape, text)


def json_text(data: object) -> str:
    """Indented JSON that is as safe on a terminal as :func:`printable` text.

    json.dumps escapes C0 controls but leaves DEL, C1 controls, bidi controls and lone
    surrogates raw; they become ``\\uXXXX`` escapes, which decode to the same strings.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _describe_os_error(what: str, path: str, exc: OSError) -> CLIError:
    return CLIError(f"cannot {what} {path}: {exc.strerror or exc}")


def read_file(path: str, what: str = "read") -> bytes:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise CLIError(f"cannot {what} {path}: it is a directory") from None
    except OSError as exc:
        raise _describe_os_error(what, path, exc) from None


def read_input(path: str, progress: Progress) -> bytes:
    """The whole input, from a file or standard input; empty input is an error."""
    if path == STDIO:
        stream = sys.stdin.buffer
        if sys.stdin.isatty():
            print("smime: reading the message from standard input (end with Ctrl-D)",
                  file=sys.stderr)
        name = "standard input"
        data = _read_stream(stream, _size_of(stream.fileno()), progress)
    else:
        name = path
        try:
            with open(path, "rb") as handle:
                data = _read_stream(handle, _size_of(handle.fileno()), progress)
        except IsADirectoryError:
            raise CLIError(f"cannot read {path}: it is a directory") from None
        except OSError as exc:
            raise _describe_os_error("read", path, exc) from None
    if not data:
        raise CLIError(f"{name} is empty: expected a MIME message")
    return data


def _size_of(fd: int) -> int | None:
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _read_stream(stream: IO[bytes], total: int | None, progress: Progress) -> bytes:
    chunks: list[bytes] = []
    done = 0
    read = stream.read
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
        progress.update("reading", done, total)
    return b"".join(chunks)


def write_output(path: str, data: bytes, progress: Progress, *, private: bool = False) -> None:
    """Write ``data`` to standard output, or to a new file that then replaces ``path``.

    The file is made beside ``path`` (never through a symbolic link or into an existing
    file, whose owner and mode would stay), synced, and renamed over ``path``: a symbolic
    link at ``path`` is replaced, not followed, and a failed write leaves ``path`` as it
    was. ``private`` files (decrypted content) are readable by the owner only; others get
    the usual mode (0666 less the umask). A terminal, pipe or device (``/dev/null``,
    ``/dev/stdout``) is written in place: there is no file to replace.
    """
    if path == STDIO:
        _write_stream(sys.stdout.buffer, data, progress)
        sys.stdout.buffer.flush()
        return
    try:
        if _is_stream(path):
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            with os.fdopen(fd, "wb") as handle:
                _write_stream(handle, data, progress)
        else:
            _replace(path, data, progress, 0o600 if private else 0o666)
    except IsADirectoryError:
        raise CLIError(f"cannot write {path}: it is a directory") from None
    except OSError as exc:
        raise _describe_os_error("write", path, exc) from None


def _is_stream(path: str) -> bool:
    """Whether ``path`` is written in place: a terminal or device, a pipe of our own, or an
    open descriptor (``/dev/stdout``, ``/dev/fd/3``). A pipe someone else made at the name
    is not: it would hand them the content."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(path)
    if stat.S_ISCHR(info.st_mode):
        return True
    if stat.S_ISFIFO(info.st_mode) and info.st_uid == os.getuid():
        return True
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    if _DESCRIPTOR_FOLDER.fullmatch(folder):
        return True
    return os.path.islink(path) and _DESCRIPTOR_LINK.fullmatch(os.readlink(path)) is not None


#: Where a process's open descriptors are (``/dev/fd`` leads here), and the links to one
#: of them (``/dev/stdout`` is ``/proc/self/fd/1``).
_DESCRIPTOR_FOLDER = re.compile(r"/proc/[0-9]+/fd")
_DESCRIPTOR_LINK = re.compile(r"/proc/self/fd/[0-9]+|/dev/fd/[0-9]+")


def _replace(path: str, data: bytes, progress: Progress, mode: int) -> None:
    """Write a new file (created exclusively with ``mode``) beside ``path``, then rename it
    over ``path``; on any failure the new file is removed."""
    target = os.path.abspath(path)
    folder, name = os.path.split(target)
    fd, temporary = _create_beside(folder, name, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_stream(handle, data, progress)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _create_beside(folder: str, name: str, mode: int) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _attempt in range(100):
        temporary = os.path.join(folder, f".{name[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, flags, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {name} in {folder}")


def _write_stream(stream: IO[bytes], data: bytes, progress: Progress) -> None:
    view = memoryview(data)
    write = stream.write
    for start in range(0, len(data), CHUNK):
        write(view[start : start + CHUNK])
        progress.update("writing", min(len(data), start + CHUNK), len(data))
    progress.clear()
