"""Encrypt and decrypt 10 MB (and with --big 100 MB) messages: throughput and peak memory.

Run: python benchmarks/bench_encrypt.py [--big] [--repeat N] [--only NAME] [--no-memory]

Side by side: smime (AES-256-GCM and AES-256-CBC), `openssl cms` as a process, pyca's
PKCS7EnvelopeBuilder / pkcs7_decrypt_smime, and M2Crypto's SMIME. 1 MB = 2**20 bytes.
Every implementation encrypts the same MIME entity (a base64 attachment) for one RSA-2048
recipient and writes the S/MIME wire form; decryption reads what the same one wrote.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

RECIPIENT = "alice"  # rsa-2048


def message_of_size(size: int) -> tuple[bytes, bytes]:
    """A MIME entity of exactly ``size`` bytes holding a base64 attachment, and its payload."""
    head = (b"From: alice@example.com\r\nTo: alice@example.com\r\nSubject: big\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    lines_room = size - len(head)
    line_len = 78  # 76 base64 characters + CRLF, 57 raw bytes each
    lines = lines_room // line_len
    raw = os.urandom(lines * 57)
    encoded = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    body = encoded + b"\r\n" * ((lines_room - len(encoded)) // 2)
    msg = head + body
    msg += b" " * (size - len(msg))  # at most one byte of trailing padding
    return msg, raw


@dataclass
class Impl:
    name: str
    encrypt: Callable[[], object]
    decrypt: Callable[[], object] | None
    process: bool = False  # measured as a child process (memory via wait4 rusage)
    notes: list[str] = field(default_factory=list)
    enc_rss: Callable[[], int] | None = None
    dec_rss: Callable[[], int] | None = None


class Skip(Exception):
    """An implementation that cannot run here; the message says why."""


# ----------------------------------------------------------------------------- adapters


def smime_impl(smime: Any, pki: Any, msg: bytes, raw: bytes, cipher: str) -> Impl:
    user = pki[RECIPIENT]
    identity = smime.load_identity(user.p12_path, password=pki.password)
    cert = user.certificate
    wire: list[bytes] = []

    def encrypt() -> bytes:
        out = bytes(smime.encrypt(msg, cert, cipher=cipher).as_bytes())
        wire[:] = [out]
        return out

    def decrypt() -> object:
        return smime.decrypt(wire[0], identity)

    encrypt()
    opened = decrypt()
    if opened.get_payload(decode=True) != raw:  # type: ignore[attr-defined]
        raise RuntimeError("smime round trip lost the attachment")
    return Impl(f"smime {cipher}", encrypt, decrypt,
                notes=[f"{cipher}: wire {len(wire[0]) / c.MB:.1f} MB; decrypt returns an "
                       "EmailMessage"])


def openssl_impl(pki: Any, msg: bytes, folder: Path, cipher: str) -> Impl:
    exe = c.openssl_path()
    if exe is None:
        raise Skip("no openssl on PATH")
    user = pki[RECIPIENT]
    flag = {"aes-256-gcm": "-aes-256-gcm", "aes-256-cbc": "-aes256"}[cipher]
    src = c.write_file(folder, "plain.eml", msg)
    wire, back = folder / f"wire-{cipher}.eml", folder / f"back-{cipher}.eml"
    enc_argv = [exe, "cms", "-encrypt", "-binary", flag, "-in", str(src), "-out", str(wire),
                str(user.cert_path)]
    dec_argv = [exe, "cms", "-decrypt", "-binary", "-in", str(wire), "-out", str(back),
                "-recip", str(user.cert_path), "-inkey", str(user.key_path)]

    def encrypt() -> object:
        return subprocess.run(enc_argv, capture_output=True, check=True)

    def decrypt() -> object:
        return subprocess.run(dec_argv, capture_output=True, check=True)

    encrypt()
    decrypt()
    if back.read_bytes() != msg:
        raise RuntimeError("openssl round trip changed the message")
    return Impl(f"openssl cms {cipher} (process)", encrypt, decrypt, process=True,
                enc_rss=lambda: c.run_process(enc_argv), dec_rss=lambda: c.run_process(dec_argv),
                notes=["reads and writes files; time includes process start; memory is the "
                       "process's own peak RSS (absolute, GNU time %M)"])


def pyca_impl(pki: Any, msg: bytes) -> Impl:
    user = pki[RECIPIENT]
    cert, key = user.certificate, user.identity.key
    builder = (pkcs7.PKCS7EnvelopeBuilder().set_data(msg).add_recipient(cert)
               .set_content_encryption_algorithm(algorithms.AES256))
    wire: list[bytes] = []

    def encrypt() -> bytes:
        out = builder.encrypt(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Binary])
        wire[:] = [out]
        return out

    decrypt_fn = getattr(pkcs7, "pkcs7_decrypt_smime", None)
    notes = ["aes-256-cbc (AES-GCM not offered)"]
    encrypt()
    if decrypt_fn is None:
        notes.append("this cryptography has no pkcs7_decrypt_*: decrypt not measured")
        return Impl("pyca PKCS7EnvelopeBuilder aes-256-cbc", encrypt, None, notes=notes)

    def decrypt() -> object:
        return decrypt_fn(wire[0], cert, key, [])

    if decrypt() != msg:
        raise RuntimeError("pyca round trip changed the message")
    notes.append("decrypt: pkcs7_decrypt_smime")
    return Impl("pyca PKCS7EnvelopeBuilder aes-256-cbc", encrypt, decrypt, notes=notes)


def m2_impl(pki: Any, msg: bytes) -> Impl:
    try:
        from M2Crypto import BIO, SMIME, X509
    except ImportError as exc:
        raise Skip(f"M2Crypto not importable ({exc}); needs swig + libssl-dev to build") from exc
    user = pki[RECIPIENT]
    sender = SMIME.SMIME()
    stack = X509.X509_Stack()
    stack.push(X509.load_cert(str(user.cert_path)))
    sender.set_x509_stack(stack)
    sender.set_cipher(SMIME.Cipher("aes_256_cbc"))
    receiver = SMIME.SMIME()
    receiver.load_key(str(user.key_path), str(user.cert_path))
    wire: list[bytes] = []

    def encrypt() -> bytes:
        p7 = sender.encrypt(BIO.MemoryBuffer(msg), SMIME.PKCS7_BINARY)
        out = BIO.MemoryBuffer()
        sender.write(out, p7)
        wire[:] = [out.read() or b""]
        return wire[0]

    def decrypt() -> bytes:
        p7, _ = SMIME.smime_load_pkcs7_bio(BIO.MemoryBuffer(wire[0]))
        return receiver.decrypt(p7, SMIME.PKCS7_BINARY) or b""

    encrypt()
    if decrypt() != msg:
        raise RuntimeError("M2Crypto round trip changed the message")
    return Impl("M2Crypto SMIME aes-256-cbc", encrypt, decrypt,
                notes=["OpenSSL PKCS7 (EnvelopedData only: no GCM)"])


# ----------------------------------------------------------------------------- main


def run_size(args: Any, pki: Any, smime: Any, smime_reason: str, size_mb: int,
             folder: Path) -> dict[str, dict[str, float]]:
    size = size_mb * c.MB
    msg, raw = message_of_size(size)
    print(f"## {size_mb} MB message ({len(msg):,} bytes), one RSA-2048 recipient")
    builders: list[tuple[str, Callable[[], Impl]]] = []
    for cipher in ("aes-256-gcm", "aes-256-cbc"):
        builders.append((f"smime {cipher}",
                         lambda cipher=cipher: smime_impl(smime, pki, msg, raw, cipher)  # type: ignore[misc]
                         if smime else _raise(Skip(smime_reason))))
    for cipher in ("aes-256-gcm", "aes-256-cbc"):
        builders.append((f"openssl {cipher}",
                         lambda cipher=cipher: openssl_impl(pki, msg, folder, cipher)))  # type: ignore[misc]
    builders.append(("pyca", lambda: pyca_impl(pki, msg)))
    builders.append(("M2Crypto", lambda: m2_impl(pki, msg)))

    rows: list[list[str]] = []
    notes: list[str] = []
    results: dict[str, dict[str, float]] = {}
    built: list[tuple[str, Impl]] = []
    for name, build in builders:
        if not c.wanted(name, args.only):
            continue
        try:
            impl = build()
        except Skip as exc:
            rows.append([name, "skipped", "", "", "", "", "", ""])
            notes.append(f"{name}: skipped: {exc}")
            continue
        except Exception as exc:  # a comparator that breaks is reported, not fatal
            rows.append([name, "error", "", "", "", "", "", ""])
            notes.append(f"{name}: error: {type(exc).__name__}: {exc}")
            continue
        built.append((name, impl))
    jobs = {(name, op): fn for name, impl in built
            for op, fn in (("encrypt", impl.encrypt), ("decrypt", impl.decrypt)) if fn}
    seconds = c.time_many(jobs, repeat=args.repeat)
    for name, impl in built:
        got: dict[str, float] = {}
        for op in ("encrypt", "decrypt"):
            if (name, op) not in seconds:
                continue
            got[f"{op}_mbps"] = size / c.MB / seconds[name, op]
            if not args.no_memory:
                got.update(_memory(impl, op, jobs[name, op], size))
        results[name] = got
        rows.append([impl.name, f"{size_mb} MB",
                     c.fmt_rate(got.get("encrypt_mbps")), c.fmt_rate(got.get("decrypt_mbps")),
                     _mem_cell(got, "encrypt", impl.process),
                     _mem_cell(got, "decrypt", impl.process),
                     _ratio_cell(got, "encrypt", size), _ratio_cell(got, "decrypt", size)])
        notes.extend(f"{impl.name}: {n}" for n in impl.notes)
    c.table(rows, ["implementation", "size", "encrypt MB/s", "decrypt MB/s",
                   "encrypt peak MB", "decrypt peak MB", "enc peak/size", "dec peak/size"])
    for line in notes:
        c.note(line)
    c.note("peak MB for in-process libraries: resident-set growth during the call "
           "[tracemalloc peak in brackets]; for processes: the process's own max RSS")
    print()
    return results


def _memory(impl: Impl, op: str, fn: Callable[[], object], size: int) -> dict[str, float]:
    if impl.process:
        measure = impl.enc_rss if op == "encrypt" else impl.dec_rss
        assert measure is not None
        return {f"{op}_rss": float(measure())}
    mem = c.peak_memory(fn)
    return {f"{op}_rss": float(mem.rss_peak), f"{op}_traced": float(mem.traced_peak or 0)}


def _mem_cell(got: dict[str, float], op: str, process: bool) -> str:
    rss = got.get(f"{op}_rss")
    if rss is None:
        return "-"
    traced = got.get(f"{op}_traced")
    text = f"{rss / c.MB:,.0f}"
    return text if process or traced is None else f"{text} [{traced / c.MB:,.0f}]"


def _ratio_cell(got: dict[str, float], op: str, size: int) -> str:
    rss = got.get(f"{op}_rss")
    return "-" if rss is None else f"{rss / size:.1f}x"


def _raise(exc: Exception) -> Impl:
    raise exc


def print_ratios(size_mb: int, r: dict[str, dict[str, float]]) -> None:
    gcm, cbc = r.get("smime aes-256-gcm", {}), r.get("smime aes-256-cbc", {})
    m2, pyca = r.get("M2Crypto", {}), r.get("pyca", {})
    o_gcm, o_cbc = r.get("openssl aes-256-gcm", {}), r.get("openssl aes-256-cbc", {})
    size = size_mb * c.MB
    print(f"Ratios ({size_mb} MB):")
    value = gcm.get("encrypt_mbps")
    print(f"  {'smime aes-256-gcm encrypt MB/s':<52} "
          f"{c.fmt_rate(value) if value else 'n/a':>8}   (aim >= 250)")
    c.ratio_line("smime gcm encrypt / M2Crypto (cbc) encrypt", gcm.get("encrypt_mbps"),
                 m2.get("encrypt_mbps"), ">= 3x")
    c.ratio_line("smime cbc encrypt / M2Crypto cbc encrypt", cbc.get("encrypt_mbps"),
                 m2.get("encrypt_mbps"))
    c.ratio_line("smime gcm decrypt / M2Crypto (cbc) decrypt", gcm.get("decrypt_mbps"),
                 m2.get("decrypt_mbps"))
    c.ratio_line("smime cbc encrypt / pyca cbc encrypt", cbc.get("encrypt_mbps"),
                 pyca.get("encrypt_mbps"))
    c.ratio_line("smime cbc decrypt / pyca cbc decrypt", cbc.get("decrypt_mbps"),
                 pyca.get("decrypt_mbps"))
    c.ratio_line("smime gcm encrypt / openssl cms gcm encrypt", gcm.get("encrypt_mbps"),
                 o_gcm.get("encrypt_mbps"))
    c.ratio_line("smime gcm decrypt / openssl cms gcm decrypt", gcm.get("decrypt_mbps"),
                 o_gcm.get("decrypt_mbps"))
    c.ratio_line("smime cbc encrypt / openssl cms cbc encrypt", cbc.get("encrypt_mbps"),
                 o_cbc.get("encrypt_mbps"))
    for label, got in (("gcm", gcm), ("cbc", cbc)):
        for op in ("encrypt", "decrypt"):
            rss = got.get(f"{op}_rss")
            c.ratio_line(f"smime {label} {op} peak memory / message size", rss, size, "<= 3x")
    print()


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeat=3)
    parser.add_argument("--big", action="store_true", help="also run the 100 MB message")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory runs (throughput only)")
    args = parser.parse_args()
    c.header(f"encrypt / decrypt (MB/s, median of {args.repeat} runs; peak memory of one run)")
    smime, reason = c.load_smime("encrypt", "decrypt", "load_identity")
    if smime is None:
        c.note(f"smime skipped: {reason}")
    sizes = [10, 100] if args.big else [10]
    with c.throwaway_pki() as pki:
        for size_mb in sizes:
            folder = Path(tempfile.mkdtemp(prefix="bench-enc-", dir=pki.folder))
            results = run_size(args, pki, smime, reason, size_mb, folder)
            print_ratios(size_mb, results)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
