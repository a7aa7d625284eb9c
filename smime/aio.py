"""The operations for asyncio code: the CPU work runs in an executor, off the event loop.

``await smime.aio.sign(message, alice)`` is :func:`smime.sign` with the same arguments and
keywords, run by ``loop.run_in_executor``: in the loop's default executor (a thread pool)
unless ``executor=`` names another, such as a ``ProcessPoolExecutor`` for many signatures
at once (the arguments and the result then travel by pickle; pass bytes or paths rather
than open files). The loop keeps serving other tasks meanwhile.

A pipeline that signs, encrypts and sends many messages over one SMTP connection, at most
``limit`` of them being worked on at a time (the transport sends one message at a time on
its connection, in the order they are ready)::

    async def send_all(messages, alice, recipients, transport, limit=8):
        gate = asyncio.Semaphore(limit)

        async def one(message):
            async with gate:
                signed = await smime.aio.sign(message, alice)
                sealed = await smime.aio.encrypt(signed, recipients)
                return await smime.transports.asend(sealed, transport)

        async with transport:  # one connection for them all
            return await asyncio.gather(*(one(m) for m in messages))

See the guide "Millions of messages" for the complete example.
"""

from __future__ import annotations

import asyncio
import functools
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar

from . import api
from .api import keywords
from .core.pickling import dumps
from .keys import Identity
from .mime.message import MessageSource
from .options import check_executor
from .results import DecryptedMessage, UnwrapResult, VerificationResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["decrypt", "encrypt", "sign", "unwrap", "verify"]

T = TypeVar("T")


def _call_shipped(payload: bytes) -> Any:
    """In the worker: the operation and its arguments, unpickled, and the call."""
    name, args, options = pickle.loads(payload)
    return getattr(api, name)(*args, **options)


async def _run(
    executor: Executor | None, function: Callable[..., T], *args: Any, **options: Any
) -> T:
    check_executor(executor)
    loop = asyncio.get_running_loop()
    if executor is None or isinstance(executor, ThreadPoolExecutor):
        call = functools.partial(function, *args, **options)
        return await loop.run_in_executor(executor, call)
    # Another process: the arguments go pickled, certificates as their DER.
    payload = dumps((function.__name__, args, options), f"the arguments of {function.__name__}")
    result: T = await loop.run_in_executor(executor, _call_shipped, payload)
    return result


@keywords.spelled_out(keywords.SignCall, keywords.SIGN_CALL_DEFAULTS)
async def sign(
    message: MessageSource, signers: Identity | Sequence[Identity], *,
    executor: Executor | None = None, **options: Unpack[keywords.SignCall],
) -> EmailMessage | bytes:
    """:func:`smime.sign` (``options`` are its keywords), run in ``executor``."""
    return await _run(executor, api.sign, message, signers, **options)


@keywords.spelled_out(keywords.EncryptCall, keywords.ENCRYPT_CALL_DEFAULTS)
async def encrypt(
    message: MessageSource, recipients: Any, *, executor: Executor | None = None,
    **options: Unpack[keywords.EncryptCall],
) -> EmailMessage | bytes:
    """:func:`smime.encrypt`, run in ``executor``."""
    return await _run(executor, api.encrypt, message, recipients, **options)


@keywords.spelled_out(keywords.DecryptOptions, keywords.DECRYPT_DEFAULTS)
async def decrypt(
    message: MessageSource, identity: Identity, *, executor: Executor | None = None,
    **options: Unpack[keywords.DecryptOptions],
) -> DecryptedMessage:
    """:func:`smime.decrypt`, run in ``executor``."""
    return await _run(executor, api.decrypt, message, identity, **options)


@keywords.spelled_out(keywords.VerifyOptions, keywords.VERIFY_DEFAULTS)
async def verify(
    message: MessageSource, trust: Any = None, *, executor: Executor | None = None,
    **options: Unpack[keywords.VerifyOptions],
) -> VerificationResult:
    """:func:`smime.verify`, run in ``executor``."""
    return await _run(executor, api.verify, message, trust, **options)


@keywords.spelled_out(keywords.UnwrapOptions, keywords.UNWRAP_DEFAULTS)
async def unwrap(
    message: MessageSource, identity: Identity | None = None, trust: Any = None, *,
    executor: Executor | None = None, **options: Unpack[keywords.UnwrapOptions],
) -> UnwrapResult:
    """:func:`smime.unwrap`, run in ``executor``."""
    return await _run(executor, api.unwrap, message, identity, trust, **options)
