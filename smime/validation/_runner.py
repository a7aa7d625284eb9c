"""Run pyhanko-certvalidator's coroutines from synchronous code, loop or no loop.

With no event loop running we use ``asyncio.run`` in the caller's thread. Inside a running
loop (Jupyter, an async web app) a synchronous caller cannot await, and ``asyncio.run``
would refuse, so the coroutine runs on its own loop in a thread made for this one call,
and joined before we return: no thread outlives the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory()`` makes to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smime-validation") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
