"""Caps on the work one message can ask of the library.

A hostile message can be small and still demand a great deal: 350 kB of compressed data
that inflates to 250 MiB, five thousand signers, fifty thousand MIME parts. Each cap in
:class:`Limits` stops such input with :class:`~smime.errors.LimitExceededError` (a
``ParseError``) before the work is done, and the message names the cap. The defaults lie
far above what real mail carries; a caller who trusts its input passes other values with
``limits=`` to ``verify``, ``decrypt``, ``unwrap`` and ``inspect``.

The lower layers read the caps of the call in progress with :func:`current_limits` (a
context variable, as :func:`decimal.localcontext` does), so the value need not be threaded
through every internal function; :func:`applied` sets it for the length of one call.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from .errors import InvalidOptionError, LimitExceededError, Option

__all__ = [
    "ASN1_DUMP_DEPTH",
    "ASN1_DUMP_ELEMENTS",
    "DEFAULT_LIMITS",
    "MAX_COMMENT_DEPTH",
    "MAX_PARAMETERS",
    "PREVIEW_CHARACTERS",
    "PREVIEW_LINES",
    "RATIO_FLOOR",
    "Limits",
    "accepts_limits",
    "applied",
    "current_limits",
]

_KIB = 1024
_MIB = 1024 * 1024

#: Output that compressed data may always inflate to, whatever its compression ratio.
RATIO_FLOOR = 1 * _MIB
#: Deepest nesting of ``(comments)`` in a header field: the ``email`` package parses them
#: recursively, four stack frames a level, so deeper input would exhaust Python's stack.
MAX_COMMENT_DEPTH = 32
#: Most ``;``-separated parameters in one header field: the ``email`` package splits a
#: parameter list in quadratic time (40,000 of them take seconds), and real mail has a few.
MAX_PARAMETERS = 100
#: ``inspect(..., asn1=True)``: levels of ASN.1 nesting shown (deeper ones are named, not
#: opened) and elements shown in all (the rest are counted): a certificate has about 150,
#: a signed message with its chain about 600, and each becomes a line or an HTML card.
ASN1_DUMP_DEPTH = 24
ASN1_DUMP_ELEMENTS = 2000
#: ``inspect``'s preview of a text part: its first lines, at most this many characters.
PREVIEW_LINES = 8
PREVIEW_CHARACTERS = 600


@dataclass(frozen=True)
class Limits:
    """How much work one message may cause; each field is a cap, in bytes or a count.

    Input beyond a cap raises :class:`~smime.errors.LimitExceededError`, whose ``limit``
    names the field. ``docs/reference/limits.md`` says why each default was chosen.
    """

    max_decompressed_size: int = 64 * _MIB
    """Bytes a compressed-data layer may inflate to."""
    max_compression_ratio: int = 100
    """Inflated bytes per compressed byte, beyond the first MiB (zlib reaches 1032:1)."""
    max_signers: int = 100
    """SignerInfos in one SignedData."""
    max_certificates: int = 500
    """Certificates in one SignedData (each is parsed, and offered to every signer's chain)."""
    max_recipients: int = 1000
    """Recipient keys in one EnvelopedData (each key of a key-agreement info counts)."""
    max_parts: int = 1000
    """MIME entities in one message, counting every level of nesting."""
    max_header_size: int = 64 * _KIB
    """Bytes of one header field, folded lines included."""
    max_headers: int = 1000
    """Header fields of one MIME entity."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOptionError(
                    f"Limits.{item.name} must be a positive whole number, not {value!r}"
                )

    def to_dict(self) -> dict[str, int]:
        """Plain data, JSON-safe: each cap by its name."""
        return dataclasses.asdict(self)

    def exceeded(self, name: str, what: str) -> LimitExceededError:
        """The error for input beyond the cap ``name``; ``what`` says what there is too much of."""
        cap = getattr(self, name)
        return LimitExceededError.naming(
            f"{what} (limit {name}={cap}); pass ", Option(f"limits=smime.Limits({name}=...)"),
            " to allow more for input you trust",
            limit=name,
        )

    def check(self, name: str, count: int, what: str) -> None:
        """Raise :meth:`exceeded` when ``count`` ``what`` (a plural) exceed the cap ``name``."""
        if count > getattr(self, name):
            raise self.exceeded(name, f"too many {what}: {count}")


DEFAULT_LIMITS = Limits()
_CURRENT: ContextVar[Limits] = ContextVar("smime_limits", default=DEFAULT_LIMITS)


def current_limits() -> Limits:
    """The caps of the operation in progress (the defaults outside one)."""
    return _CURRENT.get()


@contextmanager
def applied(limits: object) -> Iterator[Limits]:
    """Make ``limits`` current inside the block; None keeps the caps already in force
    (anything else but a :class:`Limits` is refused: callers pass what they were given)."""
    if limits is None:
        yield _CURRENT.get()
        return
    if not isinstance(limits, Limits):
        raise InvalidOptionError(f"limits must be an smime.Limits, not {type(limits).__name__}")
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def accepts_limits(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` under the ``limits=`` keyword it is called with (see :func:`applied`).

    The decorated function declares ``limits`` among its keywords, for its signature and
    documentation, and leaves it to this wrapper.
    """

    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        limits = kwargs.get("limits")
        with applied(limits):
            return function(*args, **kwargs)

    return run
