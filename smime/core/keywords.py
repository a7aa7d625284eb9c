"""Keyword lists written once: how a function taking ``**options: Unpack[SomeOptions]``
reads them and shows them.

A ``TypedDict`` gives a type checker every keyword; the two helpers here give the rest:
:func:`settled` (the defaults filled in, a misspelt keyword refused by name) and
:func:`spelled_out` (the keywords in the function's signature, for ``help()``, IDEs and the
reference). ``smime.api.keywords`` holds the operations' lists; a layer below may use the
same two for its own.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ForwardRef, TypeVar, cast

from ..errors import UsageError

__all__ = ["settled", "spelled_out"]

_T = TypeVar("_T", bound=Mapping[str, Any])
_F = TypeVar("_F", bound=Callable[..., Any])


def settled(operation: str, options: _T, defaults: _T) -> _T:
    """``options`` with every keyword not given at its default; a keyword the operation
    does not take is a :class:`~smime.errors.UsageError` (a ``TypeError``, as Python's own),
    naming the closest one it does take."""
    unknown = options.keys() - defaults.keys()
    if unknown:
        name = min(unknown)
        close = difflib.get_close_matches(name, list(defaults), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{operation}() got an unexpected keyword argument {name!r}{hint}")
    return cast(_T, {**defaults, **options})


def _annotation(hint: object) -> object:
    return hint.__forward_arg__ if isinstance(hint, ForwardRef) else hint


def spelled_out(
    options: type, defaults: Mapping[str, object], *, before: str | None = None
) -> Callable[[_F], _F]:
    """Show the keywords of ``options`` (a TypedDict) in the decorated
    function's signature, with their ``defaults``, in place of its ``**options`` (before
    the keyword ``before`` when one is named, so the variant's own keywords come last)."""

    def decorate(function: _F) -> _F:
        signature = inspect.signature(function)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = [p.name for p in own]
        at = names.index(before) if before in names else len(own)
        spelled = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name],
                              annotation=_annotation(hint))
            for name, hint in options.__annotations__.items()
        ]
        function.__dict__["__signature__"] = signature.replace(
            parameters=[*own[:at], *spelled, *own[at:]]
        )
        return function

    return decorate
