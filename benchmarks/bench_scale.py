"""Scaling out with smime.batch: two worker processes against one, on a process pool and
on a Dask LocalCluster, and the batch layer's own cost per message against a plain loop.

Run: python benchmarks/bench_scale.py [--count N] [--repeat N] [--no-dask]

Every timed run signs (or verifies) messages it has not seen before, with signers already
warm: each worker has done a first batch with the same arguments, so its payload is
decoded and the signer's validated path is cached. The aims (issue 14): 2 workers at least
1.7x one worker for sign and for verify on an otherwise idle 2-core machine, and the batch
layer within 5 % of a plain loop. The machine's load average is printed before and after:
on a shared machine the ratios say more about the neighbours than about smime.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import _common as c

_serial = itertools.count()


def statements(sender: str, count: int) -> list[bytes]:
    """``count`` 1 KB messages, each one new (a serial number in Subject and body)."""
    base = c.message_1k(sender)
    out = []
    for _ in range(count):
        n = next(_serial)
        out.append(base.replace(b"Subject: benchmark", f"Subject: statement {n}".encode())
                   + f"Statement {n}.\r\n".encode())
    return out


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def median_rate(run: Callable[[list[bytes]], object], make: Callable[[], list[bytes]],
                repeat: int) -> float:
    """Messages per second: the median of ``repeat`` runs, each on new messages."""
    rates = []
    for _ in range(repeat):
        messages = make()
        start = time.perf_counter()
        run(messages)
        rates.append(len(messages) / (time.perf_counter() - start))
    return statistics.median(rates)


@contextmanager
def process_pool(workers: int) -> Iterator[Executor]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


@contextmanager
def dask_cluster(workers: int) -> Iterator[Executor]:
    import dask
    from distributed import Client, LocalCluster

    # As docs/guides/millions.md advises for CPU-bound runs: no statistical profiler.
    quiet = dask.config.set({"distributed.worker.profile.enabled": False})
    with quiet, LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                             host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client.get_executor()


def scaling(smime: Any, pki: Any, make_executor: Callable[[int], Any], count: int,
            repeat: int) -> dict[str, dict[int, float]]:
    """Sign and verify rates (messages/s) with 1 and 2 workers."""
    import smime.batch

    alice = pki["alice"].identity
    trust = smime.TrustStore.from_pem(pki.root_path)
    sender = "alice@example.com"
    rates: dict[str, dict[int, float]] = {"sign": {}, "verify": {}}

    def check(items: list[Any]) -> None:
        bad = [item for item in items if not item.ok]
        assert not bad, bad[0].error

    for workers in (1, 2):
        with make_executor(workers) as executor:
            def sign(messages: list[bytes], executor: Any = executor) -> None:
                check(smime.batch.sign(messages, alice, executor=executor))

            def verify(messages: list[bytes], executor: Any = executor) -> None:
                items = smime.batch.verify(messages, trust, executor=executor)
                check(items)
                assert all(item.value.valid for item in items)

            def signed(n: int) -> list[bytes]:
                return [smime.sign(m, alice).as_bytes() for m in statements(sender, n)]

            # Warm: every worker decodes the arguments and caches alice's path.
            sign(statements(sender, 8 * workers))
            verify(signed(8 * workers))
            rates["sign"][workers] = median_rate(sign, lambda: statements(sender, count),
                                                 repeat)
            rates["verify"][workers] = median_rate(verify, lambda: signed(count), repeat)
    return rates


@contextmanager
def no_op(smime: Any, name: str) -> Iterator[None]:
    """``smime.api.<name>`` replaced by a function that returns its message: what remains
    of a batch run is the batch layer's own work."""
    import smime.api

    original = getattr(smime.api, name)
    setattr(smime.api, name, lambda message, *args, **options: message)
    try:
        yield
    finally:
        setattr(smime.api, name, original)


def best(fn: Callable[[], object], count: int, repeat: int) -> float:
    """Seconds per message: the best of ``repeat`` runs (noise only ever adds time)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / count)
    return min(times)


def overhead(smime: Any, pki: Any, count: int, repeat: int) -> dict[str, dict[str, float]]:
    """Seconds per message: the operation in a plain loop, the same through smime.batch
    (executor=None), and the layer alone around a no-op operation (in the calling thread,
    and through a one-process pool: chunks pickled, sent, unpickled, results back)."""
    import smime.batch

    alice = pki["alice"].identity
    trust = smime.TrustStore.from_pem(pki.root_path)
    messages = statements("alice@example.com", count)
    signed = [smime.sign(m, alice).as_bytes() for m in messages]
    out: dict[str, dict[str, float]] = {}
    cases = {
        "sign": (messages, alice, smime.batch.imap_sign),
        "verify": (signed, trust, smime.batch.imap_verify),
    }
    for name, (inputs, arg, imap) in cases.items():
        def plain(inputs: list[bytes] = inputs, name: str = name, arg: Any = arg) -> None:
            op = getattr(smime.api, name)  # looked up now: no_op() may have replaced it
            for m in inputs:
                op(m, arg)

        def batched(inputs: list[bytes] = inputs, imap: Any = imap, arg: Any = arg,
                    executor: Any = None) -> None:
            for item in imap(inputs, arg, executor=executor):
                item.result()

        plain(), batched()  # warm
        row = {"plain": best(plain, count, repeat), "batch": best(batched, count, repeat)}
        with no_op(smime, name):
            row["layer"] = best(batched, count, 2 * repeat) - best(plain, count, 2 * repeat)
            with ProcessPoolExecutor(max_workers=1) as pool:
                batched(executor=pool)  # start the process
                row["pool"] = best(lambda: batched(executor=pool), count, repeat)
        out[name] = row
    return out


def main() -> None:
    parser = c.base_parser(__doc__ or "")
    parser.add_argument("--count", type=int, default=600,
                        help="new messages per timed run (default 600)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    args = parser.parse_args()
    repeat = max(1, args.repeat if args.repeat != 5 else 3)
    c.header("smime.batch: scaling out and the batch layer's cost")
    smime, why = c.load_smime("sign", "verify")
    if smime is None:
        raise SystemExit(why)
    print(f"before: {load()}\n")
    with c.throwaway_pki() as pki:
        executors: list[tuple[str, Callable[[int], Any]]] = [("process pool", process_pool)]
        if not args.no_dask:
            try:
                import distributed  # noqa: F401
            except ImportError:
                c.note("Dask: not installed (pip install 'smime-sdk[dask]'), skipped")
            else:
                executors.append(("Dask LocalCluster", dask_cluster))
        rows, ratios = [], []
        for label, make in executors:
            rates = scaling(smime, pki, make, args.count, repeat)
            for op in ("sign", "verify"):
                one, two = rates[op][1], rates[op][2]
                rows.append([label, op, c.fmt_rate(one), c.fmt_rate(two), f"{two / one:.2f}x"])
                ratios.append((f"{label}, {op}: 2 workers / 1", two, one))
        c.table(rows, ["executor", "operation", "1 worker msg/s", "2 workers msg/s", "2 / 1"])
        for label, two, one in ratios:
            c.ratio_line(label, two, one, aim=">= 1.7x")
        print()
        cost = overhead(smime, pki, args.count, repeat)
        c.table([[op, f"{r['plain'] * 1e6:,.0f}", f"{r['batch'] * 1e6:,.0f}",
                  f"{r['layer'] * 1e6:,.1f}", f"{r['pool'] * 1e6:,.0f}"]
                 for op, r in cost.items()],
                ["operation", "plain loop µs/msg", "smime.batch µs/msg",
                 "layer alone µs/msg", "layer + 1-process pool µs/msg"], left=1)
        for op, r in cost.items():
            c.ratio_line(f"{op}: smime.batch / plain loop (end to end)", r["batch"], r["plain"],
                         aim="<= 105%", percent=True)
            c.ratio_line(f"{op}: (plain + layer alone) / plain", r["plain"] + r["layer"],
                         r["plain"], aim="<= 105%", percent=True)
            c.ratio_line(f"{op}: (plain + pool shipping) / plain", r["plain"] + r["pool"],
                         r["plain"], aim="<= 105%", percent=True)
    print(f"\nafter: {load()}")


if __name__ == "__main__":
    main()
