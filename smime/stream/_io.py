"""Where streamed bytes come from and go: paths or binary files, read in blocks, and
output committed only when the whole operation succeeded."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, TypeAlias

from ..errors import ParseError, UsageError

__all__ = ["BLOCK", "Output", "Progress", "Reader", "Source", "Target", "opened"]

#: Bytes read or handed on at a time: large enough that per-call overhead vanishes, small
#: enough that a few of them in flight stay far below the memory bound and in the CPU's
#: cache (1 MiB blocks made encryption ~1.4x slower: each pass over a fresh block missed).
BLOCK = 1 << 17

Source: TypeAlias = "str | os.PathLike[str] | BinaryIO | IO[bytes]"
Target: TypeAlias = "str | os.PathLike[str] | BinaryIO | IO[bytes]"
Progress: TypeAlias = Callable[[int], object]


class Reader:
    """A binary source read in blocks, counting what was read for the progress callback."""

    def __init__(self, file: IO[bytes], progress: Progress | None = None, count: int = 0
                 ) -> None:
        self.file = file
        self.progress = progress
        self.count = count  # bytes of the input behind us

    def read(self, n: int = BLOCK) -> bytes:
        try:
            data = self.file.read(n)
        except OSError as exc:
            raise ParseError(f"cannot read the input: {exc}") from None
        if not isinstance(data, bytes):
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise UsageError.wrong_type("src", self.file, "a path or a binary file object")
        if data:
            self.count += len(data)
            if self.progress is not None:
                self.progress(self.count)
        return data

    def blocks(self, first: bytes = b"") -> Iterator[bytes]:
        """``first`` (already read), then the rest of the input in blocks."""
        if first:
            yield first
        while True:
            data = self.read(BLOCK)
            if not data:
                return
            yield data


@contextlib.contextmanager
def opened(src: Source, progress: Progress | None = None, what: str = "src") -> Iterator[Reader]:
    """A :class:`Reader` over a path (opened and closed here) or a binary file object."""
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot open {what} {path!r}: {exc.strerror}") from None
        with file:
            yield Reader(file, progress)
    elif hasattr(src, "read"):
        yield Reader(src, progress)
    else:
        raise UsageError.wrong_type(what, src, "a path or a binary file object")


class Output:
    """Output held back until :meth:`commit`; on any failure before it, nothing is left.

    To a path: written to a temporary file beside it (same folder, so the final rename is
    atomic) and renamed into place by :meth:`commit`. To a file object: written straight
    through, unless ``hold`` (decrypted content not yet authenticated, a message that may
    yet be refused): then to an anonymous temporary file, copied to the caller's file by
    :meth:`commit`.
    """

    def __init__(self, dst: Target, *, hold: bool, what: str = "dst") -> None:
        self._path: Path | None = None
        self._temp: str | None = None
        self._target: IO[bytes] | None = None
        if isinstance(dst, (str, os.PathLike)):
            path = Path(os.fspath(dst))
            try:
                fd, temp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.",
                                            suffix=".part")
            except OSError as exc:
                raise UsageError(f"cannot write {what} {str(path)!r}: {exc.strerror}") from None
            self._path, self._temp = path, temp
            self.file: IO[bytes] = os.fdopen(fd, "w+b")
        elif hasattr(dst, "write"):
            if hold:
                self._target = dst
                self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by commit or discard
            else:
                self.file = dst
        else:
            raise UsageError.wrong_type(what, dst, "a path or a binary file object")
        self.committed = False

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def reset(self) -> None:
        """Drop what was written, to start over (held or temporary output only)."""
        if self._path is None and self._target is None:
            raise UsageError("output already handed on cannot be taken back")
        self.file.seek(0)
        self.file.truncate()

    def commit(self) -> None:
        if self._path is not None and self._temp is not None:
            self.file.close()
            os.replace(self._temp, self._path)
            self._temp = None
        elif self._target is not None:
            self.file.seek(0)
            shutil.copyfileobj(self.file, self._target, BLOCK)
            self.file.close()
        self.committed = True

    def discard(self) -> None:
        if self._path is not None or self._target is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            self._temp = None

    def __enter__(self) -> Output:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.discard()
