"""``python -m tests.fuzz``: run the fuzzers, replay and minimize crash inputs.

    python -m tests.fuzz list
    python -m tests.fuzz run TARGET|all --seconds 300      # atheris when installed
    python -m tests.fuzz run verify --engine hypothesis    # the fallback engine
    python -m tests.fuzz replay [TARGET]

Run it from the repository root. New crashes are minimized, saved under
``tests/fuzz/regressions/<target>/`` and printed; commit them, and list those that still
crash in ``tests/fuzz/known-crashes.txt``. Each target runs in one process, one at a time
(one core).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the harness imports smime, which atheris must instrument first
    from .harness import Crash
    from .seeds import Context

WORK = Path(tempfile.gettempdir()) / "smime-fuzz"
REPO = Path(__file__).resolve().parents[2]


def _context(work: Path) -> Context:
    from smime.testing import make_test_pki

    from .seeds import make_context

    return make_context(make_test_pki(work / "pki"))


def _known_buckets(name: str, ctx: Context) -> set[tuple[str, str, str]]:
    """Buckets of the saved inputs, so a run keeps only crashes of a new kind."""
    from .harness import TARGETS, regressions, run_one

    found = set()
    for path in regressions(name):
        crash = run_one(TARGETS[name], path.read_bytes(), ctx)
        if crash is not None:
            found.add(crash.bucket)
    return found


class Recorder:
    """Keeps the first input of every new crash bucket, minimized, and logs it as JSON lines."""

    def __init__(self, name: str, ctx: Context, log: Path, minimize_seconds: float,
                 alarm: bool = True) -> None:
        self.name, self.ctx, self.log, self.alarm = name, ctx, log, alarm
        self.minimize_seconds = minimize_seconds
        self.seen = _known_buckets(name, ctx)

    def record(self, crash: Crash, data: bytes) -> None:
        from .harness import TARGETS, crash_report, minimize, run_one, save_regression

        if crash.bucket in self.seen:
            return
        self.seen.add(crash.bucket)
        target = TARGETS[self.name]
        if crash.kind != "Hang":
            data = minimize(target, data, self.ctx, crash, seconds=self.minimize_seconds,
                            alarm=self.alarm)
            crash = run_one(target, data, self.ctx, alarm=self.alarm) or crash
        path = save_regression(self.name, data)
        entry = crash_report(crash, path, data)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        print("CRASH", json.dumps(entry), flush=True)


def _seed_dir(name: str, ctx: Context, work: Path) -> Path:
    from .harness import TARGETS, regressions
    from .seeds import seeds

    folder = work / "seeds"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for i, (_, data) in enumerate(seeds(TARGETS[name].seeds, ctx)):
        (folder / f"seed-{i:04d}").write_bytes(data)
    for path in regressions(name):
        (folder / f"regression-{path.name}").write_bytes(path.read_bytes())
    return folder


def _dictionary(work: Path) -> Path:
    from .seeds import TOKENS

    path = work / "tokens.dict"
    path.write_text("".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in TOKENS))
    return path


# --------------------------------------------------------------------------------- atheris


def _atheris_child(name: str, work: Path, seconds: int, max_len: int) -> None:
    """Runs in its own process: libFuzzer exits when it stops, so the parent restarts it."""
    import atheris

    assert "smime" not in sys.modules, "smime must be imported under atheris' instrumentation"
    with atheris.instrument_imports(include=["smime", "asn1crypto", "email"]):
        import smime  # noqa: F401

    from .harness import TARGETS, run_one
    from .seeds import mutate

    ctx = _context(work)
    recorder = Recorder(name, ctx, work / "crashes.jsonl", minimize_seconds=20, alarm=False)
    target = TARGETS[name]

    def test_one(data: bytes) -> None:
        crash = run_one(target, data, ctx, alarm=False)  # libFuzzer owns SIGALRM (-timeout)
        if crash is not None:
            recorder.record(crash, data)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return mutate(data, rng, max_size=max_size)
        return bytes(atheris.Mutate(data, max_size))

    corpus = work / "corpus"
    corpus.mkdir(exist_ok=True)
    atheris.Setup(
        [sys.argv[0], str(corpus), str(_seed_dir(name, ctx, work)),
         f"-max_total_time={seconds}", "-timeout=30", "-rss_limit_mb=4096",
         f"-max_len={max_len}", f"-dict={_dictionary(work)}",
         f"-artifact_prefix={work}/", "-print_final_stats=1"],
        test_one,
        custom_mutator=custom_mutator,
    )
    atheris.Fuzz()


def _run_atheris(name: str, seconds: int, work: Path, max_len: int) -> None:
    """Restart the child until the time is used, turning libFuzzer's timeout/oom artifacts
    into regression inputs too."""
    from .harness import save_regression

    end = time.monotonic() + seconds
    log = work / "crashes.jsonl"
    while (left := int(end - time.monotonic())) > 5:
        for old in work.glob("*-*"):
            if old.name.split("-")[0] in ("crash", "timeout", "oom", "slow"):
                old.unlink()
        child = subprocess.run(
            [sys.executable, "-m", "tests.fuzz", "_atheris", name, str(work), str(left),
             str(max_len)],
            check=False,
            cwd=REPO,
        )
        artifacts = [a for a in sorted(work.glob("*-*"))
                     if a.name.split("-")[0] in ("timeout", "oom", "crash")]
        if child.returncode != 0 and not artifacts:
            print(f"{name}: the fuzzer exited with {child.returncode} and no artifact; stopping")
            return
        for artifact in artifacts:
            kind = artifact.name.split("-")[0]
            data = artifact.read_bytes()
            path = save_regression(name, data)
            label = {"timeout": "Hang", "oom": "OutOfMemory", "crash": "Crash"}[kind]
            entry = {"target": name, "kind": label, "where": "libFuzzer",
                     "message": f"libFuzzer {kind}", "file": str(path), "input": len(data)}
            with log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
            print("CRASH", json.dumps(entry), flush=True)


# ------------------------------------------------------------------------------ hypothesis


def _run_hypothesis(name: str, seconds: int, work: Path, max_len: int) -> None:
    """Hypothesis drives the shared mutator in batches until the time is used."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from .harness import TARGETS, run_one
    from .seeds import mutate, seeds

    ctx = _context(work)
    recorder = Recorder(name, ctx, work / "crashes.jsonl", minimize_seconds=30)
    target = TARGETS[name]
    pool = [data for _, data in seeds(target.seeds, ctx)]
    end = time.monotonic() + seconds
    runs = 0

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(pool), st.randoms(use_true_random=True))
    def batch(seed: bytes, rng: random.Random) -> None:
        nonlocal runs
        if time.monotonic() > end:
            return
        data = mutate(seed, rng, pool, max_size=max_len)
        runs += 1
        crash = run_one(target, data, ctx)
        if crash is not None:
            recorder.record(crash, data)

    while time.monotonic() < end:
        batch()
    print(f"{name}: {runs} inputs in {seconds}s", flush=True)


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    if sys.argv[1:2] == ["_atheris"] and argv is None:
        _, _, name, work, seconds, max_len = sys.argv
        _atheris_child(name, Path(work), int(seconds), int(max_len))
        return 0
    from .harness import TARGETS, regressions, run_one

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the targets")
    run = sub.add_parser("run", help="fuzz one target (or all, one after the other)")
    run.add_argument("target", choices=[*TARGETS, "all"])
    run.add_argument("--seconds", type=int, default=60, help="per target")
    run.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    run.add_argument("--max-len", type=int, default=256 * 1024)
    run.add_argument("--workdir", type=Path, default=WORK,
                     help="keeps the PKI, corpus and crash log per target (default %(default)s)")
    replay = sub.add_parser("replay", help="run the saved regression inputs")
    replay.add_argument("target", nargs="?", choices=list(TARGETS))
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, target in TARGETS.items():
            print(f"{name:20} seeds: {target.seeds}")
        return 0
    if args.command == "replay":
        with tempfile.TemporaryDirectory() as tmp:
            ctx = _context(Path(tmp))
            failed = 0
            for path in regressions(args.target):
                crash = run_one(TARGETS[path.parent.name], path.read_bytes(), ctx)
                status = crash.describe() if crash else "ok"
                failed += crash is not None
                print(f"{path.parent.name}/{path.name}: {status}")
        return 1 if failed else 0

    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = "atheris"
    names = list(TARGETS) if args.target == "all" else [args.target]
    for name in names:
        work = args.workdir / name
        work.mkdir(parents=True, exist_ok=True)
        print(f"== {name}: {engine}, {args.seconds}s, work in {work}", flush=True)
        runner = _run_atheris if engine == "atheris" else _run_hypothesis
        runner(name, args.seconds, work, args.max_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
