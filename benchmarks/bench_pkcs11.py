"""Signing with a key on a PKCS#11 token (SoftHSM2) against the same key from a file.

Run: python benchmarks/bench_pkcs11.py [--repeat N] [--min-time S] [--only NAME]

A throwaway SoftHSM2 token is initialised in a temporary folder (its own SOFTHSM2_CONF),
the test PKI's RSA-2048 and EC P-256 keys are imported, and for each: the raw signature
rate (``key.sign`` of a SHA-256 digest) and ``smime.sign`` of a 1 KB message, from the file
key and from the token key; then ``smime.sign`` from 4 threads sharing one token identity.
Needs softhsm2 (Debian) and python-pkcs11 (``pip install -e .[pkcs11]``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common as c

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LABEL, PIN = "bench", "1234"
KEYS = (("RSA-2048", "alice"), ("EC P-256", "carol"))


def _token(folder: Path, pki: Any) -> None:
    """Initialise the token and import the keys (before the module is first loaded)."""
    (folder / "tokens").mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    util = ["softhsm2-util"]
    subprocess.run([*util, "--init-token", "--free", "--label", LABEL, "--so-pin", "87654321",
                    "--pin", PIN], check=True, capture_output=True)
    for key_id, (_shown, name) in enumerate(KEYS, 1):
        subprocess.run([*util, "--import", str(pki[name].key_path), "--token", LABEL,
                        "--label", name, "--id", f"{key_id:02x}", "--pin", PIN],
                       check=True, capture_output=True)


def _raw_sign(key: Any) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    data = b"x" * 64
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return lambda: key.sign(data, ec.ECDSA(hashes.SHA256()))


def _threaded_rate(fn: Any, threads: int, seconds: float) -> float:
    """Calls per second of ``fn`` from ``threads`` threads for about ``seconds``."""
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            fn()
            done[i] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


def main() -> None:
    args = c.base_parser(__doc__ or "").parse_args()
    smime, where = c.load_smime()
    if smime is None:
        raise SystemExit(f"smime cannot be imported: {where}")
    if not shutil.which("softhsm2-util") or not os.path.exists(MODULE):
        raise SystemExit("SoftHSM2 is not installed (apt-get install softhsm2)")
    from smime.testing import make_test_pki

    c.header("Signing: a key on a SoftHSM2 token against the same key from a file, 1 KB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pki = make_test_pki(folder / "pki", users=(("alice", "rsa-2048"), ("carol", "ec-p256")))
        _token(folder / "hsm", pki)
        rows, ratios = [], []
        for shown, name in KEYS:
            if not c.wanted(shown, args.only):
                continue
            user = pki[name]
            token = smime.load_identity(f"pkcs11:token={LABEL};object={name}", module=MODULE,
                                        pin=PIN, certificate=user.cert_path,
                                        chain=[pki.intermediate_path])
            msg = c.message_1k(user.email)
            rates = c.measure_many(
                {"file raw": _raw_sign(user.identity.key), "token raw": _raw_sign(token.key),
                 "file smime": lambda u=user, m=msg: smime.sign(m, u.identity),
                 "token smime": lambda t=token, m=msg: smime.sign(m, t)},
                repeat=args.repeat, min_time=args.min_time,
            )
            threaded = _threaded_rate(lambda t=token, m=msg: smime.sign(m, t), 4,
                                      max(1.0, args.min_time * 5))
            rows.append([shown, c.fmt_rate(rates["file raw"].ops_per_s),
                         c.fmt_rate(rates["token raw"].ops_per_s),
                         c.fmt_rate(rates["file smime"].ops_per_s),
                         c.fmt_rate(rates["token smime"].ops_per_s), c.fmt_rate(threaded)])
            ratios.append((shown, rates["token smime"].ops_per_s, rates["file smime"].ops_per_s))
        c.table(rows, ["key", "file key.sign/s", "token key.sign/s", "file smime.sign/s",
                       "token smime.sign/s", "token, 4 threads/s"], left=2)
        for shown, token_rate, file_rate in ratios:
            c.ratio_line(f"{shown}: token smime.sign / file smime.sign", token_rate, file_rate)
    c.note("calls into one PKCS#11 module are serialised (python-pkcs11 initialises it for a "
           "single thread), so threads share the token's rate; each has its own session")


if __name__ == "__main__":
    main()
