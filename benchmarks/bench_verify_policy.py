"""Verify a 1 KB signed message with chain validation: cold (no cache) and warm (cached path).

Run: python benchmarks/bench_verify_policy.py [--repeat N] [--save F.json] [--compare F.json]
     python benchmarks/bench_verify_policy.py --baseline /path/to/old/checkout

Then, issue 11's traffic figures: a stream of NEW messages (each with its own signing time)
from 10 signers already seen, verified with the full default policy, beside rsmime (checks
the signature only) and M2Crypto (checks the chain) on the same messages; a cold verify
(``smime.clear_caches()`` before each); and ``import smime`` against
``import cryptography.x509`` (fresh interpreters). ``--baseline DIR`` runs this same script
on the smime found in DIR right before, and prints both side by side (before / after).

For the trust-policy change's "not slower by more than 20%" check: run with --save on the
old code, then with --compare on the new; the script prints the change per case and flags
any slowdown above the threshold (it never fails: numbers are for people to judge).
The trust store is fixed (the test root, built once); the message carries the intermediate,
so every cold call builds and validates signer -> intermediate -> root with pyhanko.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

SIGNERS = (("rsa-2048", "alice"), ("ec-p256", "carol"))


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS
THRESHOLD = 0.20


def cases(smime: Any, pki: Any, folder: Path, signed_by: str) -> dict[str, Callable[[], object]]:
    trust = smime.TrustStore.from_pem(pki.root_path)
    clear = c.cache_clearer(smime)
    found: dict[str, Callable[[], object]] = {}
    for key_type, name in SIGNERS:
        user = pki[name]
        msg = c.message_1k(user.email)
        if signed_by == "smime":
            identity = smime.load_identity(user.p12_path, password=pki.password)
            signed = bytes(smime.sign(msg, identity).as_bytes())
        else:
            signed = c.openssl_sign(pki, user, msg, folder)
        result = smime.verify(signed, trust=trust)
        if not result.valid:
            raise SystemExit(f"{key_type}: the benchmark message does not verify: "
                             + "; ".join(map(str, result.problems)))

        def warm(signed: bytes = signed) -> object:
            return smime.verify(signed, trust=trust)

        if clear is not None:
            def cold(signed: bytes = signed, clear: Callable[[], None] = clear) -> object:
                clear()
                return smime.verify(signed, trust=trust)
            found[f"{key_type} cold"] = cold
        found[f"{key_type} warm"] = warm
    return found


# ----------------------------------------------------------------------------- traffic


def _stream_pki(folder: Path, signers: int) -> tuple[Any, list[tuple[str, Any]]]:
    """A root, an intermediate and ``signers`` RSA-2048 signers (their Identities carry the
    intermediate), all valid since 60 days ago, so that signing times spread over the
    past weeks fall inside their validity. The chain is written to stream-chain.pem."""
    from cryptography.hazmat.primitives import serialization

    from smime.testing import issue_certificate, make_ca

    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60)
    root = make_ca("Stream Root", not_before=since)
    inter = make_ca("Stream Intermediate", issuer=root, not_before=since, path_length=0)
    users = [(f"user{i}@example.com",
              issue_certificate(inter, f"user{i}@example.com", not_before=since))
             for i in range(signers)]
    (folder / "stream-chain.pem").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM)
        for c in (root.certificate, inter.certificate)))
    return root, users


def _stream_batches(smime: Any, users: list[tuple[str, Any]], batches: int,
                    size: int) -> list[list[bytes]]:
    """A warm-up batch (one message per signer), then ``batches`` lists of ``size`` new
    messages, round robin over the signers, each with its own signing time (distinct
    seconds spread over the past four weeks). The ordinary 1 KB mail of issue 11."""
    now = dt.datetime.now(dt.timezone.utc)
    offsets = random.Random(11).sample(range(60, 28 * 86400), batches * size + len(users))
    body = c.message_1k("x")[-1024:]
    out = []
    for b in range(batches + 1):
        batch = []
        for i in range(len(users) if b == 0 else size):
            address, identity = users[i % len(users)]
            msg = (f"From: {address}\r\nTo: bob@example.com\r\nSubject: message {b}.{i}\r\n"
                   'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n'
                   "Content-Transfer-Encoding: 7bit\r\n\r\n").encode() + body
            when = now - dt.timedelta(seconds=offsets.pop())
            batch.append(bytes(smime.sign(msg, identity, signing_time=when).as_bytes()))
        out.append(batch)
    return out


def run_traffic(args: Any, smime: Any) -> dict[str, float]:
    """New-message stream, cold verify and import time; rates in ops/s."""
    rates: dict[str, float] = {}
    folder = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    root, users = _stream_pki(folder, args.signers)
    trust = smime.TrustStore.from_certificates([root.certificate])
    batches = _stream_batches(smime, users, args.repeat, args.stream)
    for msg in batches[0]:  # every signer seen once
        result = smime.verify(msg, trust=trust)
        if not result.valid:
            raise SystemExit("stream: a message does not verify: "
                             + "; ".join(map(str, result.problems)))
    verifiers: dict[str, Callable[[bytes], object]] = {
        "smime": lambda m: smime.verify(m, trust=trust)}
    skipped: dict[str, str] = {}
    try:
        import rsmime  # type: ignore[import-untyped, unused-ignore]

        rsmime.Rsmime.verify(batches[0][0])
        verifiers["rsmime (signature only)"] = rsmime.Rsmime.verify
    except Exception as exc:  # a comparator that is missing or breaks is reported, not fatal
        skipped["rsmime (signature only)"] = f"{type(exc).__name__}: {exc}"
    try:
        from M2Crypto import BIO, SMIME, X509

        m2 = SMIME.SMIME()
        store = X509.X509_Store()
        store.load_info(str(folder / "stream-chain.pem"))
        m2.set_x509_store(store)
        m2.set_x509_stack(X509.X509_Stack())

        def m2_verify(m: bytes) -> object:
            p7, data = SMIME.smime_load_pkcs7_bio(BIO.MemoryBuffer(m))
            return m2.verify(p7, data)

        m2_verify(batches[0][0])
        verifiers["M2Crypto (chain)"] = m2_verify
    except Exception as exc:
        skipped["M2Crypto (chain)"] = f"{type(exc).__name__}: {exc}"
    samples: dict[str, list[float]] = {k: [] for k in verifiers}
    for batch in batches[1:]:  # each batch once per verifier, in turn: every message is new
        for name, verify in verifiers.items():
            start = time.perf_counter()
            for msg in batch:
                verify(msg)
            samples[name].append(len(batch) / (time.perf_counter() - start))
    for name, got in samples.items():
        rates[f"stream {name}"] = statistics.median(got)
    for name in skipped:
        rates[f"stream {name}"] = 0.0

    clear = getattr(smime, "clear_caches", None) or c.cache_clearer(smime)
    one = batches[1][0]

    def cold() -> object:
        clear()
        return smime.verify(one, trust=trust)

    rates["cold verify (all caches empty)"] = c.measure(
        cold, repeat=args.repeat, min_time=args.min_time).ops_per_s
    rates.update(_import_times(args.repeat))
    for name, why in skipped.items():
        c.note(f"{name}: skipped: {why}")
    return rates


def _import_times(repeat: int) -> dict[str, float]:
    """Wall seconds of ``python -c "import X"`` in fresh interpreters, medians, interleaved."""
    env = dict(os.environ)
    codes = {"import smime (s)": "import smime",
             "import cryptography.x509 (s)": "import cryptography.x509"}
    samples: dict[str, list[float]] = {k: [] for k in codes}
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: -c puts cwd on sys.path
        for _ in range(max(repeat, 5)):
            for label, code in codes.items():
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=cwd)
                samples[label].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in samples.items()}


def print_traffic(rates: dict[str, float], before: dict[str, float] | None) -> None:
    rows = []
    for label, rate in rates.items():
        unit = " s" if label.endswith("(s)") else "/s"
        value = "skipped" if not rate else (f"{rate * 1000:,.0f} ms" if unit == " s"
                                            else c.fmt_rate(rate))
        row = [label, value]
        if before is not None:
            old = before.get(label)
            row.append("-" if not old else (f"{old * 1000:,.0f} ms" if unit == " s"
                                            else c.fmt_rate(old)))
            change = (old / rate if unit == " s" else rate / old) if old and rate else None
            row.append("-" if change is None else f"{change:.2f}x")
        rows.append(row)
    headings = ["traffic case", "after" if before is not None else "value"]
    if before is not None:
        headings += ["before", "speed-up"]
    c.table(rows, headings, left=1)
    s = rates.get("stream smime")
    c.ratio_line("stream: smime (full policy) / rsmime (signature only)", s,
                 rates.get("stream rsmime (signature only)"), ">= 0.5x")
    c.ratio_line("stream: smime / M2Crypto (chain)", s, rates.get("stream M2Crypto (chain)"))
    if before is not None:
        c.ratio_line("stream: smime after / before", s, before.get("stream smime"), ">= 6x")
        c.ratio_line("cold verify: after / before", rates.get("cold verify (all caches empty)"),
                     before.get("cold verify (all caches empty)"), ">= 3x")
    c.ratio_line("import smime / import cryptography.x509 (wall time)",
                 rates.get("import smime (s)"), rates.get("import cryptography.x509 (s)"),
                 "<= 2x")


def _baseline(args: Any) -> dict[str, float]:
    """This script's traffic figures on the smime of another checkout (run just before)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": str(Path(args.baseline).resolve())}
        argv = [sys.executable, __file__, "--traffic-only", "--json", out.name,
                "--repeat", str(args.repeat), "--min-time", str(args.min_time),
                "--stream", str(args.stream), "--signers", str(args.signers)]
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        loaded: dict[str, float] = json.loads(Path(out.name).read_text())
        return loaded


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--signed-by", choices=("smime", "openssl"), default="smime",
                        help="who signs the message being verified (default smime)")
    parser.add_argument("--save", type=Path, help="write the results to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with results saved by --save")
    parser.add_argument("--stream", type=int, default=1000,
                        help="new messages per timed pass of the stream (default 1000)")
    parser.add_argument("--signers", type=int, default=10, help="signers of the stream")
    parser.add_argument("--baseline", type=Path,
                        help="a checkout of older smime: measure its traffic figures first")
    parser.add_argument("--traffic-only", action="store_true", help=argparse_suppress())
    parser.add_argument("--json", type=Path, help=argparse_suppress())
    args = parser.parse_args()
    if args.traffic_only:
        smime, reason = c.load_smime("sign", "verify", "TrustStore")
        if smime is None:
            raise SystemExit(reason)
        args.json.write_text(json.dumps(run_traffic(args, smime)))
        return
    c.header(f"verify a 1 KB message with chain validation (ops/s, median of {args.repeat} "
             f"runs of >= {args.min_time}s)")
    smime, reason = c.load_smime("sign", "verify", "TrustStore", "load_identity")
    if smime is None:
        c.note(f"smime not usable, nothing to measure: {reason}")
        return
    if c.cache_clearer(smime) is None:
        c.note("no clear_validation_cache in this smime: only the warm case is measured")
    rates: dict[str, float] = {}
    with c.throwaway_pki() as pki:
        folder = Path(tempfile.mkdtemp(prefix="bench-vp-", dir=pki.folder))
        for label, fn in cases(smime, pki, folder, args.signed_by).items():
            if c.wanted(label, args.only):
                rates[label] = c.measure(fn, repeat=args.repeat,
                                         min_time=args.min_time).ops_per_s
    baseline: dict[str, float] = {}
    if args.compare:
        baseline = json.loads(args.compare.read_text())["ops_per_s"]
    rows = []
    for label, rate in rates.items():
        row = [label, c.fmt_rate(rate), f"{1e6 / rate:,.0f}"]
        if args.compare:
            old = baseline.get(label)
            if old:
                change = rate / old - 1
                flag = "  SLOWER > 20%" if change < -THRESHOLD else ""
                row += [c.fmt_rate(old), f"{100 * change:+.0f}%{flag}"]
            else:
                row += ["-", "-"]
        rows.append(row)
    headings = ["case", "verify/s", "us/op"]
    if args.compare:
        headings += ["baseline verify/s", "change"]
    c.table(rows, headings, left=1)
    for key_type, _ in SIGNERS:
        c.ratio_line(f"{key_type}: warm / cold", rates.get(f"{key_type} warm"),
                     rates.get(f"{key_type} cold"))
    print()
    before = _baseline(args) if args.baseline else None
    print(f"## traffic: {args.stream} new messages per pass from {args.signers} signers "
          f"already seen (median of {args.repeat} passes), cold verify, import time"
          + (f"; before = {args.baseline}" if before is not None else ""))
    print_traffic(run_traffic(args, smime), before)
    if args.save:
        args.save.write_text(json.dumps({"ops_per_s": rates, "signed_by": args.signed_by},
                                        indent=2) + "\n")
        print(f"\nsaved to {args.save}")


if __name__ == "__main__":
    main()
