"""The fuzz targets, the crash oracle and the regression inputs.

A target is one line in :data:`TARGETS`: a name, a call taking the input bytes and the
:class:`~seeds.Context`, and the kind of seeds it starts from. Whatever the call returns
is then used the way a caller would (``summary()``, ``_repr_html_()``, ``as_bytes()``,
``to_dict()``), because those are parsers' outputs too.

The oracle: an :class:`smime.errors.SMIMEError` is the library doing its job; any other
exception is a crash, and so is an input that takes longer than :data:`TIME_LIMIT`
seconds (a hang). Each crash found is kept as ``regressions/<target>/<sha>.bin`` and
replayed by ``tests/test_fuzz.py``; inputs that still crash are listed with the reason in
``known-crashes.txt`` (the replay test is then ``xfail(strict=True)``: delete the line
when the fix lands).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import smime
from smime.errors import SMIMEError
from smime.inspection import Node

from .seeds import Context

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "regressions"
MANIFEST = HERE / "known-crashes.txt"
TIME_LIMIT = 5.0  # seconds one input may take before it counts as a hang


@dataclass(frozen=True)
class Target:
    """One parser entry point: ``call(data, ctx)`` returns what the caller would get."""

    name: str
    call: Callable[[bytes, Context], object]
    seeds: str  # "messages", "certificates" or "identities"


def _decrypt(data: bytes, ctx: Context) -> list[object]:
    out: list[object] = []
    for identity in ctx.identities:  # RSA (key transport), EC and X25519 (key agreement)
        with contextlib.suppress(SMIMEError):
            out.append(smime.decrypt(data, identity))
    return out


def _load_identity(data: bytes, ctx: Context) -> list[object]:
    out: list[object] = []
    for password in (None, ctx.password):
        with contextlib.suppress(SMIMEError):
            out.append(smime.load_identity(data, password=password))
    return out


def _stream_targets() -> tuple[Target, ...]:
    """The streaming readers, once ``smime.stream`` exists (signatures from DESIGN.md)."""
    if importlib.util.find_spec("smime.stream") is None:
        return ()
    stream = importlib.import_module("smime.stream")  # sys.modules' entry, as imported

    return (
        Target("stream.verify", lambda d, c: stream.verify(io.BytesIO(d), trust=c.trust), "messages"),  # noqa: E501
        Target("stream.decrypt", lambda d, c: stream.decrypt(io.BytesIO(d), io.BytesIO(), c.identity), "messages"),  # noqa: E501
    )


#: One line per parser entry point. A new reader (for instance another ``smime.stream``
#: function) is one more ``Target(...)`` line here or in :func:`_stream_targets`.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("verify", lambda d, c: smime.verify(d, trust=c.trust), "messages"),
        Target("decrypt", _decrypt, "messages"),
        Target("unwrap", lambda d, c: smime.unwrap(d, identity=c.identity, trust=c.trust), "messages"),  # noqa: E501
        Target("inspect", lambda d, c: smime.inspect(d), "messages"),
        Target("load_certificates", lambda d, c: smime.load_certificates(d), "certificates"),
        Target("load_identity", _load_identity, "identities"),
        *_stream_targets(),
    )
}


def exercise(value: object) -> None:
    """Use a result the way a caller would: every view of it is parsed input too."""
    if isinstance(value, (list, tuple)):
        for item in value:
            exercise(item)
    elif isinstance(value, smime.VerificationResult):
        _ = value.valid, value.codes
        value.summary()
        value._repr_html_()
        value.content.as_bytes()
        for signer in value.signers:
            signer.describe()
    elif isinstance(value, smime.UnwrapResult):
        _ = value.valid, value.signed, value.encrypted
        value.content.as_bytes()
        for layer in value.layers:
            exercise(layer.result)
    elif isinstance(value, Node):
        str(value)
        value._repr_html_()
        json.dumps(value.to_dict())
    elif isinstance(value, Message):
        html = getattr(value, "_repr_html_", None)
        if html is not None:
            html()
        value.as_bytes()


# --------------------------------------------------------------------------------- oracle


class Hang(BaseException):
    """Raised by the watchdog alarm; a BaseException so that ``except Exception`` lets it by."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt Python code running longer than ``seconds`` (main thread, POSIX only)."""
    usable = seconds is not None and hasattr(signal, "setitimer")
    if usable:
        try:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
        except ValueError:  # not the main thread: only the elapsed time is checked
            usable = False
    if not usable:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


@dataclass(frozen=True)
class Crash:
    """What went wrong for one input: the exception and the innermost frame it came from."""

    target: str
    kind: str  # exception class name, or "Hang"
    where: str  # innermost frame in smime/ (else the innermost frame), "path:line"
    message: str
    seconds: float

    @property
    def bucket(self) -> tuple[str, str, str]:
        """Crashes with the same bucket are taken for one bug."""
        where = "" if self.kind in ("RecursionError", "Hang") else self.where
        return (self.target, self.kind, where)

    def describe(self) -> str:
        what = f"{self.kind} at {self.where}: {self.message[:300]}"
        return f"{self.target}: {what} ({self.seconds:.2f}s)"


def _where(tb: TracebackType | None) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "/smime/" in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path = frame.filename
    for marker in ("/smime/", "/site-packages/", "/lib/python"):
        if marker in path:
            path = path[path.index(marker) + 1 :]
            break
    return f"{path}:{frame.lineno}"


def run_one(target: Target, data: bytes, ctx: Context, *,
            limit: float | None = TIME_LIMIT, alarm: bool = True) -> Crash | None:
    """Feed ``data`` to ``target`` and use the result; a :class:`Crash` or None."""
    start = time.monotonic()
    try:
        with time_limit(limit if alarm else None):
            exercise(target.call(data, ctx))
    except SMIMEError:
        pass
    except Hang as exc:
        return Crash(target.name, "Hang", _where(exc.__traceback__),
                     f"still running after {limit}s", time.monotonic() - start)
    except Exception as exc:  # the oracle: anything else escaping is a bug
        return Crash(target.name, type(exc).__name__, _where(exc.__traceback__),
                     str(exc), time.monotonic() - start)
    elapsed = time.monotonic() - start
    if limit is not None and elapsed > limit:
        return Crash(target.name, "Hang", "(finished late)", f"took {elapsed:.1f}s", elapsed)
    return None


# ---------------------------------------------------------------------------- regressions


def regression_path(target: str, data: bytes) -> Path:
    return REGRESSIONS / target / f"{hashlib.sha256(data).hexdigest()[:16]}.bin"


def save_regression(target: str, data: bytes) -> Path:
    """Keep a crashing input (idempotent: the file name is its hash)."""
    path = regression_path(target, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def regressions(target: str | None = None) -> list[Path]:
    """Every saved input, or those of one target, in a stable order."""
    pattern = f"{target}/*.bin" if target else "*/*.bin"
    return sorted(REGRESSIONS.glob(pattern))


def known_crashes() -> dict[str, str]:
    """``target/file.bin`` -> why it still crashes, from :data:`MANIFEST`."""
    out: dict[str, str] = {}
    if not MANIFEST.exists():
        return out
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def minimize(target: Target, data: bytes, ctx: Context, crash: Crash, *,
             seconds: float = 30.0, alarm: bool = True) -> bytes:
    """A smaller input with the same crash bucket (greedy chunk removal, time-bounded)."""
    deadline = time.monotonic() + seconds
    chunk = max(1, len(data) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i, shrunk = 0, False
        while i < len(data) and time.monotonic() < deadline:
            candidate = data[:i] + data[i + chunk :]
            again = run_one(target, candidate, ctx, alarm=alarm)
            if again is not None and again.bucket == crash.bucket:
                data, shrunk = candidate, True
            else:
                i += chunk
        if not shrunk:
            chunk //= 2
    return data


def describe_input(data: bytes) -> str:
    """A one-line sketch of an input for a report: size, first line, content type."""
    first = data.split(b"\n", 1)[0][:60]
    ctype = ""
    lower = data[:8192].lower()
    at = lower.find(b"content-type:")
    if at >= 0:
        ctype = data[at + 13 : at + 13 + 60].split(b"\n", 1)[0].strip().decode("latin-1")
    return f"{len(data)} bytes, starts {first!r}" + (f", Content-Type {ctype}" if ctype else "")


def crash_report(crash: Crash, path: Path, data: bytes) -> dict[str, Any]:
    return {
        "target": crash.target,
        "kind": crash.kind,
        "where": crash.where,
        "message": crash.message[:500],
        "seconds": round(crash.seconds, 3),
        "file": str(path.relative_to(HERE)),
        "input": describe_input(data),
    }
