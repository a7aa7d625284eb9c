"""smime.stream against `openssl cms -stream`: MB/s at 100 MB and peak memory at 1 GB.

Run: python benchmarks/bench_stream.py [--size-mb 100] [--memory-mb 1024] [--repeat 3]
                                       [--no-memory]

Every figure is file to file. openssl runs as a process (its start-up included, as a user
runs it); smime runs in this process (its import and the identity load are not timed).
Ratios are openssl's time over smime's, from the same rounds: above 1.0, smime is faster.
Peak memory: each smime operation in a fresh child process, its peak RSS (VmHWM, reset
before the operation) above what the process held before it; openssl's from GNU time.
1 MB = 2**20 bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import smime
import smime.stream as stream
from smime.testing import make_test_pki

MB = 1024 * 1024


def write_message(path: Path, size: int) -> None:
    """A message of ``size`` bytes: headers and a base64 attachment, written in blocks."""
    block = base64.encodebytes(os.urandom(57 * 16384)).replace(b"\n", b"\r\n")
    with path.open("wb") as out:
        out.write(b"From: alice@example.com\r\nTo: alice@example.com\r\nSubject: big\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n")
        left = size - out.tell()
        while left > 0:
            out.write(block[:left])
            left -= len(block)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", "cms", *map(str, args)], check=True, capture_output=True)


_CHILD = """
import json, sys, smime, smime.stream as stream
op, src, dst, pki = sys.argv[1:5]
alice = smime.load_identity(pki + "/alice.p12", password="secret")
trust = smime.TrustStore.from_pem(pki + "/root.pem")
def field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")
base = field("VmRSS")
if op.startswith("encrypt"):
    stream.encrypt(src, dst, alice.certificate, cipher=op.split(":")[1])
elif op == "decrypt":
    stream.decrypt(src, dst, alice)
elif op.startswith("sign"):
    stream.sign(src, dst, alice, detached=op.endswith("detached"))
else:
    assert stream.verify(src, trust=trust).valid
print(json.dumps({"peak": field("VmHWM") - base, "base": base}))
"""


def child_peak(op: str, src: Path, dst: Path, pki: Path) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", _CHILD, op, str(src), str(dst), str(pki)],
                          check=True, capture_output=True, env=env)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def openssl_peak(args: list[str]) -> int | None:
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        return None
    done = subprocess.run([gnu_time, "-f", "%M", "openssl", "cms", *args],
                          capture_output=True, check=True)
    return int(done.stderr.split()[-1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        pki = make_test_pki(work / "pki")
        alice = pki["alice"]
        identity = alice.identity
        trust = smime.TrustStore.from_pem(pki.root_path)
        msg = work / "msg.eml"
        write_message(msg, args.size_mb * MB)
        size = msg.stat().st_size
        rows: dict[str, list[float]] = {}

        def add(name: str, seconds: float) -> None:
            rows.setdefault(name, []).append(seconds)

        for _ in range(args.repeat):
            for cipher in ("aes-256-gcm", "aes-256-cbc"):
                add(f"smime encrypt {cipher}", timed(lambda c=cipher: stream.encrypt(
                    msg, work / f"s-{c}.eml", alice.certificate, cipher=c)))
                add(f"openssl encrypt -stream {cipher}", timed(lambda c=cipher: openssl(
                    "-encrypt", "-stream", f"-{c}", "-in", msg, "-out", work / f"o-{c}.eml",
                    alice.cert_path)))
                add(f"smime decrypt {cipher}", timed(lambda c=cipher: stream.decrypt(
                    work / f"o-{c}.eml", work / "plain", identity)))
                add(f"openssl decrypt {cipher}", timed(lambda c=cipher: openssl(
                    "-decrypt", "-in", work / f"o-{c}.eml", "-out", work / "plain",
                    "-recip", alice.cert_path, "-inkey", alice.key_path)))
            for detached in (True, False):
                kind = "detached" if detached else "opaque"
                add(f"smime sign {kind}", timed(lambda d=detached, k=kind: stream.sign(
                    msg, work / f"s-{k}.eml", identity, detached=d)))
                add(f"openssl sign -stream {kind}", timed(lambda d=detached, k=kind: openssl(
                    "-sign", "-stream", "-in", msg, "-out", work / f"o-{k}.eml",
                    "-signer", alice.cert_path, "-inkey", alice.key_path,
                    *(() if d else ("-nodetach",)))))
                add(f"smime verify {kind}", timed(lambda k=kind: stream.verify(
                    work / f"s-{k}.eml", trust=trust)))
                add(f"openssl verify {kind}", timed(lambda k=kind: openssl(
                    "-verify", "-in", work / f"s-{k}.eml", "-CAfile", pki.root_path,
                    "-certfile", pki.intermediate_path, "-out", os.devnull)))
        medians = {name: statistics.median(values) for name, values in rows.items()}
        print(f"\n{size / MB:.0f} MB message, {args.repeat} rounds, medians\n")
        print(f"{'operation':40s} {'seconds':>8s} {'MB/s':>8s}")
        for name, seconds in medians.items():
            print(f"{name:40s} {seconds:8.2f} {size / MB / seconds:8.1f}")
        print("\nratios (openssl seconds / smime seconds; > 1: smime faster)")
        for op in ("encrypt", "decrypt"):
            for cipher in ("aes-256-gcm", "aes-256-cbc"):
                theirs = f"openssl {op}{' -stream' if op == 'encrypt' else ''} {cipher}"
                ratio = medians[theirs] / medians[f"smime {op} {cipher}"]
                print(f"  {op} {cipher}: {ratio:.2f}x")
        for op in ("sign", "verify"):
            for kind in ("detached", "opaque"):
                theirs = f"openssl {op}{' -stream' if op == 'sign' else ''} {kind}"
                ratio = medians[theirs] / medians[f"smime {op} {kind}"]
                print(f"  {op} {kind}: {ratio:.2f}x")
        if args.no_memory:
            return
        big = work / "big.eml"
        write_message(big, args.memory_mb * MB)
        for stale in work.glob("[so]-*.eml"):
            stale.unlink()
        print(f"\npeak memory, {args.memory_mb} MB message (RSS above the process before)")
        folder = pki.root_path.parent
        for op, src in (("encrypt:aes-256-gcm", big), ("encrypt:aes-256-cbc", big),
                        ("sign:detached", big), ("sign:opaque", big)):
            dst = work / f"{op.replace(':', '-')}.out"
            found = child_peak(op, src, dst, folder)
            print(f"  smime {op:28s} {found['peak'] / MB:7.1f} MiB "
                  f"(interpreter {found['base'] / MB:.0f} MiB)")
        for op, src in (("decrypt", work / "encrypt-aes-256-gcm.out"),
                        ("decrypt", work / "encrypt-aes-256-cbc.out"),
                        ("verify", work / "sign-detached.out"),
                        ("verify", work / "sign-opaque.out")):
            found = child_peak(op, src, work / "plain", folder)
            print(f"  smime {op} {src.stem:21s} {found['peak'] / MB:7.1f} MiB")
            (work / "plain").unlink(missing_ok=True)
        peak = openssl_peak(["-encrypt", "-stream", "-aes-256-gcm", "-in", str(big),
                             "-out", str(work / "o.eml"), str(alice.cert_path)])
        if peak is not None:
            print(f"  openssl encrypt -stream (whole process) {peak / MB:7.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
