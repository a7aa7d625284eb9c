"""Before and after a change, in one run: sign, verify and 10 MB encrypt, this checkout
against another (``--baseline DIR``, a worktree of an older commit).

Each round runs every measure once for each version, each in a fresh interpreter that
imports its own ``smime`` (``PYTHONPATH``), in alternating order, so machine load falls on
both alike; the figure per version is the median over the rounds, and the ratio is
new / old (above 1: faster now).

    git worktree add ../smime-old <commit>
    python benchmarks/bench_ab.py --baseline ../smime-old --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

#: One measure, run in the child: prints {"name": operations or MB per second}.
CHILD = r"""
import json, sys, time
from pathlib import Path
import smime

folder, seconds = Path(sys.argv[1]), float(sys.argv[2])
alice = smime.load_identity(folder / "alice.p12", password=b"secret")
bob = smime.load_identity(folder / "bob.p12", password=b"secret")
trust = smime.TrustStore.from_pem(str(folder / "root.pem"))
small = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Statement\r\n"
         b"Content-Type: text/plain\r\n\r\n" + b"Your statement is ready.\r\n" * 40)
big = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Big\r\n"
       b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
       + (b"QUJDRA==" * 9 + b"\r\n") * 138_000)

def rate(work, units=1.0):
    work()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        work()
        done += 1
    return units * done / (time.perf_counter() - start)

signed = smime.sign(small, alice).as_bytes()
smime.verify(signed, trust)
print(json.dumps({
    "sign 1 KB (per s)": rate(lambda: smime.sign(small, alice)),
    "verify 1 KB, warm (per s)": rate(lambda: smime.verify(signed, trust)),
    "encrypt 10 MB (MB/s)": rate(lambda: smime.encrypt(big, [bob.certificate],
                                                       cipher="aes-256-cbc"),
                                 len(big) / 1e6),
}))
"""


def measure(source: Path, folder: Path, seconds: float) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(seconds)], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="a checkout of the version to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measure and round")
    args = parser.parse_args()
    versions = {"new": HERE, "old": args.baseline.resolve()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(HERE))
        from smime.testing import make_test_pki

        make_test_pki(tmp)
        for round_ in range(args.rounds):
            order = list(versions) if round_ % 2 == 0 else list(reversed(versions))
            for name in order:
                runs[name].append(measure(versions[name], Path(tmp), args.seconds))
    print(f"{'measure':32} {'old':>10} {'new':>10} {'new/old':>8}   ({args.rounds} rounds, "
          "medians)")
    for key in runs["new"][0]:
        old = statistics.median(r[key] for r in runs["old"])
        new = statistics.median(r[key] for r in runs["new"])
        print(f"{key:32} {old:10.1f} {new:10.1f} {new / old:7.2f}x")


if __name__ == "__main__":
    main()
