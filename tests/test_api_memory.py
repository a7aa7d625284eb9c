"""Peak memory of in-memory encrypt and decrypt, measured in a fresh interpreter.

A 48 MiB message must not need more than twice its size on top of the input: the output
plus a block or two (issue 12). Measured as the growth of the resident set's high-water
mark (``/proc/self/status`` VmHWM, reset through ``/proc/self/clear_refs``), which sees
what OpenSSL and Rust allocate as well as Python's own objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smime.testing import TestPKI as PKI

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS"
)

SIZE = 48 * 2**20
LIMIT = 2.0

_PROBE = r"""
import base64, gc, json, os, sys
import smime

def hwm_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")

def rss_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

def peak(fn):
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = rss_kb()
    out = fn()
    return out, (hwm_kb() - base) * 1024

p12, password, cert, size, cipher = sys.argv[1:6]
size = int(size)
identity = smime.load_identity(p12, password=password)
recipient = smime.load_certificates(cert)[0]
head = (b"From: alice@example.com\r\nTo: alice@example.com\r\nSubject: big\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n")
raw = os.urandom((size - len(head)) // 78 * 57)
body = base64.encodebytes(raw).replace(b"\n", b"\r\n")
del raw
message = head + body
del body
smime.encrypt(message[:4096] + b"\r\n", recipient, cipher=cipher)  # warm up imports, caches
wire, enc = peak(lambda: smime.encrypt(message, recipient, cipher=cipher).as_bytes())
del message
opened, dec = peak(lambda: smime.decrypt(wire, identity))
print(json.dumps({"size": size, "encrypt": enc, "decrypt": dec, "wire": len(wire),
                  "plain": len(opened.as_bytes())}))
"""


def _measure(pki: PKI, cipher: str) -> dict[str, int]:
    user = pki["alice"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(user.p12_path), pki.password, str(user.cert_path),
         str(SIZE), cipher],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "aes-256-cbc"])
def test_encrypt_and_decrypt_peak_at_most_twice_the_message(pki: PKI, cipher: str) -> None:
    got = _measure(pki, cipher)
    assert got["plain"] > SIZE * 0.99  # the round trip gave the whole message back
    assert got["encrypt"] <= LIMIT * SIZE, f"encrypt peak {got['encrypt'] / SIZE:.2f}x"
    assert got["decrypt"] <= LIMIT * SIZE, f"decrypt peak {got['decrypt'] / SIZE:.2f}x"
