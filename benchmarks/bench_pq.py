"""Post-quantum against classical: ML-DSA-65 and ML-KEM-768 next to RSA-2048 and EC P-256.

Run: python benchmarks/bench_pq.py [--repeat N] [--min-time S] [--only NAME]

For a 1 KB message: sign and verify rates (the chain is validated, CA and user of the same
algorithm, caches warm), encrypt and decrypt rates for one recipient, and the size on the
wire of each message (S/MIME, base64 included), with the signer's chain in signed mail.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import _common as c

#: name shown, key type of the signer and its CAs / of the recipient
SIGNERS = (("RSA-2048", "rsa-2048"), ("EC P-256", "ec-p256"), ("ML-DSA-65", "ml-dsa-65"))
RECIPIENTS = (("RSA-2048", "rsa-2048"), ("EC P-256", "ec-p256"), ("ML-KEM-768", "ml-kem-768"))


def _sign_row(smime: Any, folder: Path, name: str, key_type: str, args: Any) -> list[str]:
    from smime.testing import make_test_pki

    pki = make_test_pki(folder / key_type, users=(("user", key_type),), ca_key_type=key_type)
    user = pki["user"]
    msg = c.message_1k(user.email)
    trust = smime.TrustStore([pki.root.certificate])
    signed = bytes(smime.sign(msg, user.identity).as_bytes())
    assert smime.verify(signed, trust=trust).valid
    rates = c.measure_many(
        {"sign": lambda: smime.sign(msg, user.identity),
         "verify": lambda: smime.verify(signed, trust=trust)},
        repeat=args.repeat, min_time=args.min_time,
    )
    return [name, "", c.fmt_rate(rates["sign"].ops_per_s), c.fmt_rate(rates["verify"].ops_per_s),
            f"{len(signed):,}"]


def _encrypt_row(smime: Any, folder: Path, name: str, key_type: str, args: Any) -> list[str]:
    from smime.testing import make_test_pki

    pki = make_test_pki(folder / f"r-{key_type}", users=(("user", key_type),))
    user = pki["user"]
    msg = c.message_1k(user.email)
    cert = user.certificate
    encrypted = bytes(smime.encrypt(msg, cert, cipher="aes-256-gcm").as_bytes())
    rates = c.measure_many(
        {"encrypt": lambda: smime.encrypt(msg, cert, cipher="aes-256-gcm"),
         "decrypt": lambda: smime.decrypt(encrypted, user.identity)},
        repeat=args.repeat, min_time=args.min_time,
    )
    return [name, "", c.fmt_rate(rates["encrypt"].ops_per_s),
            c.fmt_rate(rates["decrypt"].ops_per_s), f"{len(encrypted):,}"]


def main() -> None:
    args = c.base_parser(__doc__ or "").parse_args()
    smime, where = c.load_smime()
    if smime is None:
        raise SystemExit(f"smime cannot be imported: {where}")
    c.header("ML-DSA-65 and ML-KEM-768 against RSA-2048 and EC P-256, 1 KB message")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [_sign_row(smime, folder, n, k, args) for n, k in SIGNERS if c.wanted(n, args.only)]
        c.table(rows, ["signer (and CAs)", "", "sign/s", "verify/s", "signed bytes"], left=2)
        rows = [_encrypt_row(smime, folder, n, k, args)
                for n, k in RECIPIENTS if c.wanted(n, args.only)]
        c.table(rows, ["recipient", "", "encrypt/s", "decrypt/s", "encrypted bytes"], left=2)
    c.note("signed bytes include the signer's certificate and its CA chain (intermediate, "
           "root); an "
           "ML-DSA-65 certificate carries a 1,952-byte key and a 3,309-byte signature")


if __name__ == "__main__":
    main()
