"""Many messages at once, on any ``concurrent.futures`` executor: threads, processes, Dask.

Each function takes an iterable of messages and the arguments of the operation of the same
name (:func:`smime.sign` for :func:`sign`, ...), keywords included, and gives one
:class:`BatchItem` per message, in input order. A message that fails gives its exception
in its own item; the rest of the batch goes on::

    items = smime.batch.sign(paths, alice, executor=pool)
    for item in items:
        if item.ok:
            deliver(item.value)
        else:
            log(item.index, item.error)

``sign``, ``encrypt``, ... return a list; ``imap_sign``, ``imap_encrypt``, ... are the
same calls as generators that yield the items in order while the executor works ahead on
at most ``in_flight`` chunks, so a run of millions of messages holds a bounded number of
messages and results in memory (``multiprocessing.Pool.map`` and ``imap`` are the model:
the same arguments, a list or a lazy iterator).

``executor=None`` works in the calling thread. A ``ThreadPoolExecutor`` gets the
arguments as they are. Any other executor (``ProcessPoolExecutor``,
``dask.distributed.Client.get_executor()``, ...) may run the work in another process, so
the identity, trust store and options are pickled once per call and that one payload
travels with each chunk of ``chunksize`` messages, not with each message; each worker
process unpickles it once, on its first chunk, and keeps it (keyed by a digest of the
payload) for the next chunks and for later batches with the same arguments. Messages
travel as they are given: bytes, or paths that the workers read (on a cluster, paths the
workers can open). A pickled :class:`~smime.Identity` carries its private key to every
worker: where that is not wanted, load the identity in the workers instead.

``encrypt(pairs, None)`` encrypts each message to its own recipients: each item is then a
``(message, recipients)`` pair. A failure of the executor itself (a worker process that
died, a cluster that went away) is not a message's fault: it is raised, and the chunks
still pending are cancelled.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, cast

from . import api
from ._cache import LRUCache
from .api import keywords
from .core.pickling import dumps
from .errors import SMIMEError, UsageError
from .keys import Identity
from .mime.message import MessageSource
from .options import WireFormat, check_count, check_executor
from .results import DecryptedMessage, UnwrapResult, VerificationResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "BatchItem",
    "decrypt",
    "encrypt",
    "imap_decrypt",
    "imap_encrypt",
    "imap_sign",
    "imap_unwrap",
    "imap_verify",
    "sign",
    "unwrap",
    "verify",
]

T = TypeVar("T")

#: Messages per chunk when the number of messages is not known in advance.
DEFAULT_CHUNKSIZE = 64
#: The largest chunk chosen for a known number of messages (the smallest is 1).
MAX_CHUNKSIZE = 256
#: Decoded payloads a worker process keeps (one per distinct set of batch arguments).
CACHE_SIZE = 8


class BatchOptions(TypedDict, total=False):
    """How a batch runs: the keywords every function here takes beside the operation's."""

    executor: Executor | None
    chunksize: int | None
    in_flight: int | None


_BATCH_DEFAULTS: BatchOptions = {"executor": None, "chunksize": None, "in_flight": None}


class SignBatch(keywords.SignOptions, BatchOptions, total=False):
    """:func:`sign`'s keywords: :func:`smime.sign`'s and the batch's."""

    format: WireFormat


class EncryptBatch(keywords.EncryptOptions, BatchOptions, total=False):
    """:func:`encrypt`'s keywords: :func:`smime.encrypt`'s and the batch's."""

    format: WireFormat


class DecryptBatch(keywords.DecryptOptions, BatchOptions, total=False):
    """:func:`decrypt`'s keywords: :func:`smime.decrypt`'s and the batch's."""


class VerifyBatch(keywords.VerifyOptions, BatchOptions, total=False):
    """:func:`verify`'s keywords: :func:`smime.verify`'s and the batch's."""


class UnwrapBatch(keywords.UnwrapOptions, BatchOptions, total=False):
    """:func:`unwrap`'s keywords: :func:`smime.unwrap`'s and the batch's."""


#: Each function's defaults, for its signature.
_SIGN: SignBatch = {**keywords.SIGN_CALL_DEFAULTS, **_BATCH_DEFAULTS}
_ENCRYPT: EncryptBatch = {**keywords.ENCRYPT_CALL_DEFAULTS, **_BATCH_DEFAULTS}
_DECRYPT: DecryptBatch = {**keywords.DECRYPT_DEFAULTS, **_BATCH_DEFAULTS}
_VERIFY: VerifyBatch = {**keywords.VERIFY_DEFAULTS, **_BATCH_DEFAULTS}
_UNWRAP: UnwrapBatch = {**keywords.UNWRAP_DEFAULTS, **_BATCH_DEFAULTS}


@dataclass(frozen=True)
class BatchItem(Generic[T]):
    """The outcome for one message of a batch: its ``index`` in the input, and either the
    ``value`` the operation returned or the ``error`` it raised (the other is None).

    An invalid signature is a value (a :class:`~smime.VerificationResult` whose ``valid``
    is False), as from :func:`smime.verify`; ``error`` holds what the single call would have
    raised (a :class:`~smime.errors.ParseError` for garbage, ...).
    """

    index: int
    value: T | None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the operation returned a value (no exception)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``index``, ``ok``; ``value`` (its own ``to_dict()``, or
        the size of a message or of bytes); ``error`` (``{"type", "message"}``) or None."""
        value: Any = self.value
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, (bytes, Message)):
            value = {"size": len(value if isinstance(value, bytes) else value.as_bytes())}
        error = None if self.error is None else {
            "type": type(self.error).__name__, "message": str(self.error)}
        return {"index": self.index, "ok": self.ok, "value": value, "error": error}

    def result(self) -> T:
        """The value, or raise the error (as ``concurrent.futures.Future.result`` does)."""
        if self.error is not None:
            raise self.error
        return cast("T", self.value)  # no error: the value is the operation's result


@dataclass(frozen=True)
class _Job:
    """One operation with everything but the message: what each chunk runs. ``paired``:
    each item is a ``(message, recipients)`` pair (encrypt, one set of recipients each)."""

    operation: str
    args: tuple[Any, ...]
    options: dict[str, Any]
    paired: bool = False

    def call(self, function: Callable[..., Any], item: Any) -> Any:
        if not self.paired:
            return function(item, *self.args, **self.options)
        if not isinstance(item, tuple) or len(item) != 2:
            raise UsageError.wrong_type(
                "each item (recipients=None)", item, "a (message, recipients) tuple"
            )
        return function(item[0], item[1], *self.args, **self.options)

    def outcomes(self, messages: Iterable[Any]) -> Iterator[tuple[Any, Exception | None]]:
        """Each message's value or, when it failed, its own exception (reported in its
        item; the rest go on)."""
        function = getattr(api, self.operation)
        for message in messages:
            try:
                yield self.call(function, message), None
            except Exception as exc:
                yield None, exc

    def run(self, messages: Sequence[Any]) -> list[tuple[Any, Exception | None]]:
        return list(self.outcomes(messages))


#: The payloads this (worker) process has unpickled, by digest: ``smime.cache_info()``
#: counts each unpickling as a miss.
_JOBS: LRUCache[_Job] = LRUCache("batch.jobs", CACHE_SIZE)


def _portable(error: Exception) -> Exception:
    """``error`` if it survives pickling back to the caller, else an SMIMEError naming it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return SMIMEError(f"{type(error).__name__}: {error}")
    return error


def _run_shipped(
    token: str, payload: bytes, chunk: bytes, serial: int
) -> list[tuple[Any, Exception | None]]:
    """The task a worker process runs: the arguments unpickled once per process, the
    chunk's messages each time. ``serial`` (unused here) makes every task of every call
    distinct, so that an executor that deduplicates equal tasks (Dask's ``pure``
    default) never hands one chunk's output, a random content key included, to another."""
    job = _JOBS.get_or_make(token, lambda: pickle.loads(payload))
    out = job.run(pickle.loads(chunk))
    return [(value, None if error is None else _portable(error)) for value, error in out]


def _workers(executor: Executor) -> int:
    """How many tasks the executor runs at once, when it says (the stdlib pools do)."""
    count = getattr(executor, "_max_workers", None)
    return count if isinstance(count, int) and count > 0 else os.cpu_count() or 1


def _chunksize(messages: Iterable[Any], executor: Executor, chunksize: int | None) -> int:
    if chunksize is not None:
        return chunksize
    if not isinstance(messages, Sized):  # a generator: its length is not known
        return DEFAULT_CHUNKSIZE
    count = len(messages)
    # About four chunks per worker: enough to even out the load, few enough to keep the
    # cost of each task (a round trip, the payload) small beside the messages' work.
    return max(1, min(MAX_CHUNKSIZE, -(-count // (4 * _workers(executor)))))


def _check_call(operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> None:
    """A keyword the operation does not take is the caller's error, raised now (TypeError,
    as the single call raises it), not once per message."""
    signature = inspect.signature(getattr(api, operation))
    signature.bind(None, *args, **options)


def _read_trust(trust: Any) -> Any:
    """``trust=`` read once here, by the rule every operation reads it with (paths, PEM or
    DER data, certificates, lists of them), not once per message in every worker."""
    return None if trust is None else api.trust_store(trust)


def _count(given: Mapping[str, object], name: str) -> int | None:
    value = given.get(name)
    return None if value is None else check_count(name, value)


def _items(
    operation: str,
    messages: Iterable[Any],
    args: tuple[Any, ...],
    given: Mapping[str, object],
    *,
    paired: bool = False,
) -> Iterator[BatchItem[Any]]:
    options = {name: value for name, value in given.items() if name not in _BATCH_DEFAULTS}
    _check_call(operation, (None, *args) if paired else args, options)
    if isinstance(messages, (str, bytes, bytearray, memoryview, Message, os.PathLike)):
        raise UsageError(
            f"messages must be an iterable of messages, not one {type(messages).__name__}: "
            f"pass a list, or call smime.{operation} for a single message"
        )
    size, ahead = _count(given, "chunksize"), _count(given, "in_flight")
    executor = check_executor(given.get("executor"))
    job = _Job(operation, args, options, paired)
    local = executor is None or isinstance(executor, ThreadPoolExecutor)
    # Pickled now, so that arguments that cannot travel fail the call, not the first next().
    payload = None if local else dumps(job, f"the arguments of {operation}")
    return _generate(job, payload, messages, executor, size, ahead)


def _generate(
    job: _Job,
    payload: bytes | None,
    messages: Iterable[Any],
    executor: Executor | None,
    chunksize: int | None,
    in_flight: int | None,
) -> Iterator[BatchItem[Any]]:
    if executor is None:
        for index, (value, error) in enumerate(job.outcomes(messages)):
            yield BatchItem(index, value, error)
        return
    size = _chunksize(messages, executor, chunksize)
    limit = in_flight or 2 * _workers(executor)
    submit: Callable[[list[Any]], Future[list[tuple[Any, Exception | None]]]]
    if payload is None:
        def submit(chunk: list[Any]) -> Future[list[tuple[Any, Exception | None]]]:
            return executor.submit(job.run, chunk)
    else:
        shipped = payload
        token = hashlib.blake2b(payload, digest_size=16).hexdigest()
        serials = itertools.count(int.from_bytes(os.urandom(8), "big"))

        def submit(chunk: list[Any]) -> Future[list[tuple[Any, Exception | None]]]:
            items = dumps(chunk, "a message")
            return executor.submit(_run_shipped, token, shipped, items, next(serials))

    pending: deque[Future[list[tuple[Any, Exception | None]]]] = deque()
    index = 0
    iterator = iter(messages)
    try:
        while True:
            while len(pending) < limit:
                chunk = list(itertools.islice(iterator, size))
                if not chunk:
                    break
                pending.append(submit(chunk))
            if not pending:
                return
            for value, error in pending.popleft().result():
                yield BatchItem(index, value, error)
                index += 1
    finally:
        for future in pending:  # the consumer stopped early, or the executor failed
            future.cancel()


@keywords.spelled_out(SignBatch, _SIGN)
def imap_sign(
    messages: Iterable[MessageSource],
    signers: Identity | Sequence[Identity],
    **options: Unpack[SignBatch],
) -> Iterator[BatchItem[EmailMessage | bytes]]:
    """:func:`smime.sign` each message (``options`` are its keywords), items yielded in input
    order as they are ready; at most ``in_flight`` chunks of ``chunksize`` messages are
    submitted ahead (default: twice the executor's workers)."""
    return _items("sign", messages, (signers,), options)


@keywords.spelled_out(EncryptBatch, _ENCRYPT)
def imap_encrypt(
    messages: Iterable[Any], recipients: Any, **options: Unpack[EncryptBatch]
) -> Iterator[BatchItem[EmailMessage | bytes]]:
    """:func:`smime.encrypt` each message to the same ``recipients`` (as :func:`imap_sign`);
    with ``recipients=None``, each item is a ``(message, recipients)`` pair, for a run in
    which every message has its own recipients."""
    if recipients is None:
        return _items("encrypt", messages, (), options, paired=True)
    return _items("encrypt", messages, (recipients,), options)


@keywords.spelled_out(DecryptBatch, _DECRYPT)
def imap_decrypt(
    messages: Iterable[MessageSource], identity: Identity, **options: Unpack[DecryptBatch]
) -> Iterator[BatchItem[DecryptedMessage]]:
    """:func:`smime.decrypt` each message with ``identity`` (as :func:`imap_sign`)."""
    return _items("decrypt", messages, (identity,), options)


@keywords.spelled_out(VerifyBatch, _VERIFY)
def imap_verify(
    messages: Iterable[MessageSource], trust: Any = None, **options: Unpack[VerifyBatch]
) -> Iterator[BatchItem[VerificationResult]]:
    """:func:`smime.verify` each message against ``trust`` (as :func:`imap_sign`); a trust
    path or PEM data is read once, here."""
    return _items("verify", messages, (_read_trust(trust),), options)


@keywords.spelled_out(UnwrapBatch, _UNWRAP)
def imap_unwrap(
    messages: Iterable[MessageSource],
    identity: Identity | None = None,
    trust: Any = None,
    **options: Unpack[UnwrapBatch],
) -> Iterator[BatchItem[UnwrapResult]]:
    """:func:`smime.unwrap` each message (as :func:`imap_sign`)."""
    return _items("unwrap", messages, (identity, _read_trust(trust)), options)


@keywords.spelled_out(SignBatch, _SIGN)
def sign(
    messages: Iterable[MessageSource], signers: Identity | Sequence[Identity],
    **options: Unpack[SignBatch],
) -> list[BatchItem[EmailMessage | bytes]]:
    """:func:`smime.sign` each message; one :class:`BatchItem` per message, in input order
    (:func:`imap_sign` collected: the same ``executor``, ``chunksize``, ``in_flight``)."""
    return list(imap_sign(messages, signers, **options))


@keywords.spelled_out(EncryptBatch, _ENCRYPT)
def encrypt(
    messages: Iterable[Any], recipients: Any, **options: Unpack[EncryptBatch],
) -> list[BatchItem[EmailMessage | bytes]]:
    """:func:`smime.encrypt` each message to the same ``recipients``, in input order; with
    ``recipients=None``, each item is a ``(message, recipients)`` pair (:func:`imap_encrypt`
    collected)."""
    return list(imap_encrypt(messages, recipients, **options))


@keywords.spelled_out(DecryptBatch, _DECRYPT)
def decrypt(
    messages: Iterable[MessageSource], identity: Identity, **options: Unpack[DecryptBatch],
) -> list[BatchItem[DecryptedMessage]]:
    """:func:`smime.decrypt` each message with ``identity``, in input order
    (:func:`imap_decrypt` collected)."""
    return list(imap_decrypt(messages, identity, **options))


@keywords.spelled_out(VerifyBatch, _VERIFY)
def verify(
    messages: Iterable[MessageSource], trust: Any = None, **options: Unpack[VerifyBatch],
) -> list[BatchItem[VerificationResult]]:
    """:func:`smime.verify` each message against ``trust``, in input order
    (:func:`imap_verify` collected)."""
    return list(imap_verify(messages, trust, **options))


@keywords.spelled_out(UnwrapBatch, _UNWRAP)
def unwrap(
    messages: Iterable[MessageSource], identity: Identity | None = None, trust: Any = None,
    **options: Unpack[UnwrapBatch],
) -> list[BatchItem[UnwrapResult]]:
    """:func:`smime.unwrap` each message, in input order (:func:`imap_unwrap` collected)."""
    return list(imap_unwrap(messages, identity, trust, **options))
