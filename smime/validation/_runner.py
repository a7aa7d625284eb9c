"""Run pyhanko-certvalidator's coroutines from synchronous code, loop or no loop.

With no event loop running we use ``asyncio.run``. Inside a running loop (Jupyter, an
async web app) a synchronous caller cannot await, and ``asyncio.run`` would refuse, so the
coroutine runs on its own loop in a worker thread while the caller waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_EXECUTOR: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="smime-validation")
        return _EXECUTOR


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``factory()`` makes to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    return _executor().submit(lambda: asyncio.run(factory())).result()
