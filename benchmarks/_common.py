"""Shared plumbing for the benchmark scripts: timing, memory, a throwaway PKI, tables.

Nothing here asserts a time: the scripts print numbers and ratios for people to read.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

MB = 1024 * 1024
K = TypeVar("K")


@dataclass(frozen=True)
class Timing:
    """Median ops/s over ``runs`` batches of ``per_run`` calls each."""

    ops_per_s: float
    per_run: int
    runs: int

    @property
    def seconds_per_op(self) -> float:
        return 1.0 / self.ops_per_s if self.ops_per_s else float("inf")


def _calibrate(fn: Callable[[], object], min_time: float, warmup: int) -> tuple[int, float]:
    """Warm up, then find a batch size lasting at least ``min_time``: (size, first rate)."""
    for _ in range(warmup):
        fn()
    per_run = 1
    while True:
        start = time.perf_counter()
        for _ in range(per_run):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or per_run >= 1 << 20:
            return per_run, per_run / elapsed
        per_run = max(per_run * 2, int(per_run * min_time / max(elapsed, 1e-9) * 1.1))


def _batch(fn: Callable[[], object], per_run: int) -> float:
    start = time.perf_counter()
    for _ in range(per_run):
        fn()
    return per_run / (time.perf_counter() - start)


def measure(
    fn: Callable[[], object], *, repeat: int, min_time: float, warmup: int = 3
) -> Timing:
    """Warm up, size a batch to last ``min_time`` seconds, then time ``repeat`` batches."""
    per_run, first = _calibrate(fn, min_time, warmup)
    rates = [first] + [_batch(fn, per_run) for _ in range(repeat - 1)]
    return Timing(statistics.median(rates), per_run, len(rates))


def measure_many(
    fns: Mapping[K, Callable[[], object]], *, repeat: int, min_time: float, warmup: int = 3
) -> dict[K, Timing]:
    """:func:`measure` for several callables, their batches taken in turn (round robin).

    Interleaving spreads any load from other processes over all contenders alike, so the
    ratios printed from one run stay fair on a shared machine.
    """
    sizes = {key: _calibrate(fn, min_time, warmup)[0] for key, fn in fns.items()}
    rates: dict[K, list[float]] = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            rates[key].append(_batch(fn, sizes[key]))
    return {key: Timing(statistics.median(r), sizes[key], len(r)) for key, r in rates.items()}


def time_once(fn: Callable[[], object], *, repeat: int, warmup: int = 1) -> float:
    """Median seconds of single calls (for operations that take a good part of a second)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_many(
    fns: Mapping[K, Callable[[], object]], *, repeat: int, warmup: int = 1
) -> dict[K, float]:
    """Median seconds per call of each callable, one call of each in turn per round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[K, list[float]] = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    return {key: statistics.median(s) for key, s in samples.items()}


# ----------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class Memory:
    """Peak memory of one call: Python heap (tracemalloc) and resident set growth."""

    traced_peak: int | None  # bytes tracemalloc saw at the peak (Python allocations only)
    rss_peak: int  # bytes: high-water resident set minus the resident set before the call


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _release_free_memory() -> None:
    """Hand freed heap pages back to the kernel, so reusing them shows up as growth."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_memory(fn: Callable[[], object]) -> Memory:
    """Run ``fn`` once in a forked child and report its peak memory.

    tracemalloc sees only memory the Python allocator hands out; OpenSSL's and Rust's
    buffers escape it, so the child also resets the kernel's resident-set high-water mark
    (``/proc/self/clear_refs``) and reports how far it rose during the call.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            _release_free_memory()
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            base = _status_kb("VmRSS")
            tracemalloc.start()
            fn()
            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rss = (_status_kb("VmHWM") - base) * 1024
            os.write(write_fd, f"{traced} {rss}".encode())
        except BaseException as exc:  # report, never let the child run the parent's code
            os.write(write_fd, f"error {type(exc).__name__}: {exc}".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        answer = fh.read().decode()
    os.waitpid(pid, 0)
    if answer.startswith("error"):
        raise RuntimeError(answer[6:])
    traced, rss = (int(x) for x in answer.split())
    return Memory(traced, rss)


def run_process(argv: Sequence[str]) -> int:
    """Run a command; return its own peak resident set in bytes.

    A child forked from this (large) Python process inherits its resident-set high-water
    mark, and exec keeps it, so ``wait4``'s ``ru_maxrss`` would report this process's size.
    GNU time (``/usr/bin/time``) is a small process that forks the command itself, so its
    ``%M`` is the command's own peak; without it the figure is an upper bound.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time")
                                        else None)
    if gnu_time:
        with tempfile.NamedTemporaryFile(prefix="bench-rss-") as out:
            subprocess.run([gnu_time, "-f", "%M", "-o", out.name, *argv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
            return int(Path(out.name).read_text().split()[-1]) * 1024
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with status {proc.returncode}")
    return int(usage.ru_maxrss) * 1024


# ----------------------------------------------------------------------------- setup


@contextlib.contextmanager
def throwaway_pki() -> Iterator[Any]:
    """A fresh smime test PKI in a temporary folder, removed afterwards."""
    from smime.testing import make_test_pki

    folder = tempfile.mkdtemp(prefix="smime-bench-")
    try:
        yield make_test_pki(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load_smime(*names: str) -> tuple[ModuleType | None, str]:
    """The smime package when its public API is importable, else None and the reason."""
    try:
        import smime
    except Exception as exc:
        return None, f"import smime failed: {type(exc).__name__}: {exc}"
    missing = [n for n in names if not hasattr(smime, n)]
    if missing:
        try:  # the top level may not re-export yet; the api package may still be importable
            import smime.api
        except Exception as exc:
            return None, f"smime.{missing[0]} missing ({type(exc).__name__}: {exc})"
        return None, f"smime has no {', '.join(missing)} yet"
    return smime, ""


def openssl_path() -> str | None:
    return shutil.which("openssl")


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs per measurement; the median is reported (default 5)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds each timed run lasts at least (default 0.2)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only implementations whose name contains this (repeatable)")
    return parser


def wanted(name: str, only: Sequence[str]) -> bool:
    return not only or any(o.lower() in name.lower() for o in only)


def header(title: str) -> None:
    import cryptography

    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"# {title}")
    print(f"# {now}; Python {platform.python_version()}; cryptography {cryptography.__version__}; "
          f"{os.cpu_count()} CPUs; {platform.machine()}")
    ssl = openssl_path()
    if ssl:
        version = subprocess.run([ssl, "version"], capture_output=True, text=True).stdout.strip()
        print(f"# {version}")
    print()


def note(text: str) -> None:
    print(f"  note: {text}", file=sys.stdout)


def table(rows: Sequence[Sequence[str]], headings: Sequence[str], left: int = 2) -> None:
    """Print an aligned plain-text table: the first `left` columns left-aligned, the rest right."""
    widths = [max(len(str(r[i])) for r in [headings, *rows]) for i in range(len(headings))]
    def fmt(row: Sequence[str]) -> str:
        cells = [str(c).ljust(w) if i < left else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()
    print(fmt(headings))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))
    print()


def fmt_rate(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:,.1f}{unit}"


def ratio_line(label: str, num: float | None, den: float | None, aim: str = "",
               percent: bool = False) -> None:
    if not num or not den:
        value = "n/a"
    elif percent:
        value = f"{100 * num / den:.0f}%"
    else:
        value = f"{num / den:.2f}x"
    suffix = f"   (aim {aim})" if aim else ""
    print(f"  {label:<52} {value:>8}{suffix}")


def write_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def message_1k(sender: str) -> bytes:
    """A plain-text mail whose body is exactly 1024 bytes of CRLF-ended lines."""
    line = b"The quick brown fox jumps over the lazy dog; smime benchmark 0\r\n"  # 64 bytes
    body = line * 16
    head = (f"From: {sender}\r\nTo: bob@example.com\r\nSubject: benchmark\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    return head + body


def cache_clearer(smime: Any) -> Callable[[], None] | None:
    """smime's ``clear_validation_cache``, wherever this version exports it."""
    for holder in (smime, getattr(smime, "validation", None)):
        fn = getattr(holder, "clear_validation_cache", None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    try:
        from smime.validation.chain import clear_validation_cache
    except ImportError:
        return None
    return clear_validation_cache


def openssl_sign(pki: Any, user: Any, msg: bytes, folder: Path) -> bytes:
    """``msg`` signed by ``openssl cms`` (detached), carrying the intermediate CA."""
    exe = openssl_path()
    if exe is None:
        raise RuntimeError("no openssl on PATH")
    src = write_file(folder, "msg.eml", msg)
    return subprocess.run(
        [exe, "cms", "-sign", "-in", str(src), "-signer", str(user.cert_path),
         "-inkey", str(user.key_path), "-certfile", str(pki.intermediate_path)],
        capture_output=True, check=True).stdout
