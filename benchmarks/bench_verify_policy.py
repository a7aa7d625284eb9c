"""Verify a 1 KB signed message with chain validation: cold (no cache) and warm (cached path).

Run: python benchmarks/bench_verify_policy.py [--repeat N] [--save F.json] [--compare F.json]

For the trust-policy change's "not slower by more than 20%" check: run with --save on the
old code, then with --compare on the new; the script prints the change per case and flags
any slowdown above the threshold (it never fails: numbers are for people to judge).
The trust store is fixed (the test root, built once); the message carries the intermediate,
so every cold call builds and validates signer -> intermediate -> root with pyhanko.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

SIGNERS = (("rsa-2048", "alice"), ("ec-p256", "carol"))
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


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--signed-by", choices=("smime", "openssl"), default="smime",
                        help="who signs the message being verified (default smime)")
    parser.add_argument("--save", type=Path, help="write the results to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with results saved by --save")
    args = parser.parse_args()
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
    if args.save:
        args.save.write_text(json.dumps({"ops_per_s": rates, "signed_by": args.signed_by},
                                        indent=2) + "\n")
        print(f"\nsaved to {args.save}")


if __name__ == "__main__":
    main()
