"""Before and after a change, in one run: sign, verify and 10 MB encrypt, this checkout
against another (``--baseline DIR``, a checkout or worktree of an older commit).

Both versions are loaded into one process (the older one as the package ``smime_old``),
and their calls are interleaved in short slices, old and new in turn, so that a change of
machine speed (another tenant, a frequency step) falls on both alike; each version's rate
is its operations per CPU-second over all its slices, and the ratio is new / old (above 1:
faster now). ``--rounds`` repeats the whole comparison and prints each round's ratios, so
the spread shows how far to trust them.

    git worktree add ../smime-old <commit>
    python benchmarks/bench_ab.py --baseline ../smime-old
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent.parent

SMALL = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Statement\r\n"
         b"Content-Type: text/plain\r\n\r\n" + b"Your statement is ready.\r\n" * 40)
BIG = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Big\r\n"
       b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
       + (b"QUJDRA==" * 9 + b"\r\n") * 138_000)


def load_as(name: str, folder: Path) -> ModuleType:
    """The ``smime`` package in ``folder``, imported under ``name``."""
    spec = importlib.util.spec_from_file_location(
        name, folder / "smime" / "__init__.py", submodule_search_locations=[str(folder / "smime")]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def workloads(smime: Any, folder: Path) -> dict[str, tuple[Callable[[], object], float]]:
    """Each measure's one operation, made with this version's own objects, and its units."""
    alice = smime.load_identity(folder / "alice.p12", password=b"secret")
    bob = smime.load_identity(folder / "bob.p12", password=b"secret")
    trust = smime.TrustStore.from_pem(str(folder / "root.pem"))
    signed = smime.sign(SMALL, alice).as_bytes()
    return {
        "sign 1 KB (per CPU-s)": (lambda: smime.sign(SMALL, alice), 1.0),
        "verify 1 KB, warm (per CPU-s)": (lambda: smime.verify(signed, trust), 1.0),
        "encrypt 10 MB (MB/CPU-s)": (
            lambda: smime.encrypt(BIG, [bob.certificate], cipher="aes-256-cbc"), len(BIG) / 1e6),
    }


def compare(
    old: Callable[[], object], new: Callable[[], object], seconds: float
) -> tuple[float, float]:
    """Operations per CPU-second of old and new, the two interleaved in slices."""
    spent = {"old": 0.0, "new": 0.0}
    done = {"old": 0, "new": 0}
    for work in (old, new):  # warm: caches filled, code paths loaded
        work()
    deadline = time.perf_counter() + 2 * seconds
    while time.perf_counter() < deadline:
        for name, work in (("old", old), ("new", new)):
            start, count = time.process_time(), 0
            while count < 3 or time.process_time() - start < 0.05:
                work()
                count += 1
            spent[name] += time.process_time() - start
            done[name] += count
    return done["old"] / spent["old"], done["new"] / spent["new"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="a checkout of the version to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per version, measure, round")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import smime
    from smime.testing import make_test_pki

    smime_old = load_as("smime_old", args.baseline.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        make_test_pki(tmp)
        new, old = workloads(smime, Path(tmp)), workloads(smime_old, Path(tmp))
        runs: dict[str, list[tuple[float, float]]] = {key: [] for key in new}
        for _ in range(args.rounds):
            for key, (work, units) in new.items():
                before, after = compare(old[key][0], work, args.seconds)
                runs[key].append((before * units, after * units))
    print(f"{'measure':32} {'old':>9} {'new':>9} {'new/old':>8}   new/old each round "
          "(medians; interleaved in one process)")
    for key, pairs in runs.items():
        each = [after / before for before, after in pairs]
        print(f"{key:32} {statistics.median(b for b, _ in pairs):9.1f} "
              f"{statistics.median(a for _, a in pairs):9.1f} {statistics.median(each):7.3f}x   "
              + " ".join(f"{r:.3f}" for r in each))

if __name__ == "__main__":
    main()
