"""How a transport's protocol core and its two I/O shells talk (the h11 pattern).

A core is a generator with no I/O: it yields the next step for a shell to carry out (an
SMTP command, an HTTP request, a pause) and is sent back what came of it, the answer or
the exception the step raised. Every decision lives in the core; the synchronous and the
asyncio shell only do the I/O, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Done", "advance", "arun", "run"]

_T = TypeVar("_T")
_Op = TypeVar("_Op")
_In = TypeVar("_In")


@dataclass(frozen=True)
class Done(Generic[_T]):
    """The core finished; ``value`` is what it returned."""

    value: _T


def advance(steps: Generator[_Op, Any, _T], outcome: object) -> _Op | Done[_T]:
    """Hand ``outcome`` to the core (an exception is raised where it waits) and take its
    next step, or :class:`Done` when it returned. Start a core with ``outcome=None``."""
    try:
        if isinstance(outcome, BaseException):
            return steps.throw(outcome)
        return steps.send(outcome)
    except StopIteration as stop:
        return Done(stop.value)


def run(steps: Generator[_Op, _In, _T], do: Callable[[_Op], _In | BaseException]) -> _T:
    """Drive a core to its end, carrying out each step with ``do``."""
    step = advance(steps, None)
    while not isinstance(step, Done):
        step = advance(steps, do(step))
    result: _T = step.value
    return result


async def arun(
    steps: Generator[_Op, _In, _T], do: Callable[[_Op], Awaitable[_In | BaseException]]
) -> _T:
    """:func:`run` for asyncio shells, whose ``do`` is a coroutine."""
    step = advance(steps, None)
    while not isinstance(step, Done):
        step = advance(steps, await do(step))
    result: _T = step.value
    return result
