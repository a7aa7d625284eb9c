"""A progress line on standard error, for inputs big enough to make people wonder.

It is drawn only when standard error is a terminal: in pipes, logs and tests it stays
silent, so scripts never have to filter it out.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any, TextIO

__all__ = ["THRESHOLD", "Progress", "shares_terminal"]

#: Inputs up to this size finish before anyone looks: no progress line.
THRESHOLD = 4 * 1024 * 1024


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def shares_terminal(stream: IO[Any], other: IO[Any]) -> bool:
    """Whether ``other`` writes to the same terminal as ``stream`` (a progress line there
    would land in the middle of the output)."""
    if not (_is_terminal(stream) and _is_terminal(other)):
        return False
    try:
        mine, theirs = os.fstat(stream.fileno()), os.fstat(other.fileno())
    except (AttributeError, ValueError, OSError):
        return True  # cannot tell: assume one screen
    return mine.st_rdev == theirs.st_rdev


class Progress:
    """``reading ... 42%`` updated in place with ``\\r``; :meth:`clear` erases it."""

    def __init__(self, stream: TextIO | None = None, *, threshold: int = THRESHOLD) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.threshold = threshold
        self.enabled = _is_terminal(self.stream)
        self._width = 0

    def _draw(self, text: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self._width = len(text)

    def update(self, label: str, done: int, total: int | None) -> None:
        """Report ``done`` of ``total`` bytes (``total`` None when the size is unknown)."""
        if not self.enabled or max(done, total or 0) <= self.threshold:
            return
        if total:
            self._draw(f"{label} ... {min(100, done * 100 // total)}%")
        else:
            self._draw(f"{label} ... {done / 1_000_000:.1f} MB")

    def step(self, label: str, size: int) -> None:
        """A phase that reports no progress of its own (signing, encrypting)."""
        if self.enabled and size > self.threshold:
            self._draw(f"{label} ...")

    def clear(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
