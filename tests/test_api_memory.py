"""Peak memory of in-memory encrypt and decrypt, measured in a fresh interpreter.

A 48 MiB message must not need more than twice its size on top of the input (issue 12):
for encrypt the output plus a block or two, for decrypt the DER and the plaintext. Measured
by tracemalloc, and as the growth of the resident set's high-water mark (``/proc/self/status``
VmHWM, reset through ``/proc/self/clear_refs``), which also sees what OpenSSL and the C
allocator hold.
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
#: Input plus output: what the Python allocator hands out during the call.
LIMIT = 2.0
#: The resident set also holds what the C allocator keeps of freed blocks and OpenSSL's
#: buffers: a little over the traced figure (before issue 12: 3.7x for both calls).
RSS_LIMIT = 2.1

_PROBE = r"""
import base64, gc, json, os, sys, tracemalloc
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
    # (result, resident-set growth, tracemalloc peak): two runs, so that tracemalloc's own
    # bookkeeping is not counted in the resident set.
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = rss_kb()
    fn()
    rss = (hwm_kb() - base) * 1024
    gc.collect()
    tracemalloc.start()
    out = fn()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, rss, traced

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
wire, enc, enc_traced = peak(lambda: smime.encrypt(message, recipient, cipher=cipher).as_bytes())
del message
opened, dec, dec_traced = peak(lambda: smime.decrypt(wire, identity))
print(json.dumps({"size": size, "encrypt": enc, "decrypt": dec, "encrypt_traced": enc_traced,
                  "decrypt_traced": dec_traced, "wire": len(wire),
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
    for op in ("encrypt", "decrypt"):
        traced, rss = got[f"{op}_traced"] / SIZE, got[op] / SIZE
        assert traced <= LIMIT + 0.01, f"{op} allocates {traced:.2f}x the message"
        assert rss <= RSS_LIMIT, f"{op} resident set grows by {rss:.2f}x the message"
