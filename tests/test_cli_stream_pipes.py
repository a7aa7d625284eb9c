"""``smime ... --stream`` through pipes: a few-MB message from standard input to standard
output, read by OpenSSL, and a failed decryption that leaves nothing behind."""

from __future__ import annotations

import base64
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_cli import SMIME, expect_error, run, with_password

from smime.cli.progress import THRESHOLD
from smime.core.wire import b64_encode

if TYPE_CHECKING:
    from smime.testing import TestPKI

HEAD = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: scans\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n")


def message(size: int) -> bytes:
    """A message with a base64 attachment of about ``size`` bytes of text."""
    return HEAD + b64_encode(os.urandom(size * 57 // 78))


@pytest.fixture(scope="module")
def big() -> bytes:
    return message(3 * 1024 * 1024)


def body_of(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1]


def test_round_trip_stdin_to_stdout(pki: TestPKI, big: bytes) -> None:
    env = with_password(pki)
    alice = pki["alice"]
    signed = run("sign", "--stream", "--identity", alice.p12_path, stdin=big, env=env).stdout
    assert body_of(big) in signed  # detached: the attachment as it came
    shown = run("verify", "--stream", "--trust", pki.root_path, "-o", "-", stdin=signed)
    assert shown.stdout.endswith(body_of(big))
    assert "signature VALID" in shown.stderr.decode()
    sealed = run("encrypt", "--stream", "--recipient", alice.cert_path, "--cipher",
                 "aes-256-gcm", stdin=signed).stdout
    assert b"smime-type=authEnveloped-data" in sealed and body_of(big)[:76] not in sealed
    opened = run("decrypt", "--stream", "--identity", alice.p12_path, stdin=sealed, env=env)
    assert opened.stdout == signed and opened.stderr == b""  # GCM: no warning
    opaque = run("sign", "--stream", "--opaque", "--identity", alice.p12_path, stdin=big,
                 env=env).stdout
    verdict = run("verify", "--stream", "--trust", pki.root_path, stdin=opaque)
    assert verdict.stdout.startswith(b"signature VALID")


@pytest.mark.interop
@pytest.mark.parametrize("cipher", ["aes-256-gcm", "aes-256-cbc"])
def test_openssl_decrypts_the_streamed_encryption(
    pki: TestPKI, openssl: str, big: bytes, tmp_path: Path, cipher: str,
) -> None:
    sealed = tmp_path / "sealed.eml"
    sealed.write_bytes(run("encrypt", "--stream", "--recipient", pki["bob"].cert_path,
                           "--cipher", cipher, stdin=big).stdout)
    proc = subprocess.run(
        [openssl, "cms", "-decrypt", "-in", sealed, "-inkey", pki["bob"].key_path,
         "-recip", pki["bob"].cert_path], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"Content-Type: application/octet-stream")
    assert proc.stdout.endswith(body_of(big))


@pytest.mark.interop
def test_openssl_verifies_the_streamed_signatures(
    pki: TestPKI, openssl: str, big: bytes, tmp_path: Path,
) -> None:
    for opaque in (False, True):
        signed = tmp_path / "signed.eml"
        signed.write_bytes(run("sign", "--stream", *(["--opaque"] if opaque else []),
                               "--identity", pki["alice"].p12_path, stdin=big,
                               env=with_password(pki)).stdout)
        proc = subprocess.run(
            [openssl, "cms", "-verify", "-in", signed, "-CAfile", pki.root_path,
             "-certfile", pki.intermediate_path], capture_output=True, timeout=60,
            check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.endswith(body_of(big))


@pytest.mark.interop
def test_raw_der_out_and_in(pki: TestPKI, openssl: str, big: bytes, tmp_path: Path) -> None:
    sealed = tmp_path / "sealed.p7m"
    sealed.write_bytes(run("encrypt", "--stream", "--out-form", "der", "--recipient",
                           pki["bob"].cert_path, stdin=big).stdout)
    proc = subprocess.run(
        [openssl, "cms", "-decrypt", "-inform", "DER", "-in", sealed, "-inkey",
         pki["bob"].key_path], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == big, proc.stderr.decode()
    opened = run("decrypt", "--stream", "--in-form", "der", "--identity",
                 pki["bob"].p12_path, sealed, env=with_password(pki))
    assert opened.stdout == big
    expect_error(run("decrypt", "--stream", "--in-form", "smime", "--identity",
                     pki["bob"].p12_path, sealed, env=with_password(pki), status=2),
                 "raw CMS file (DER)", "--in-form der")


def tampered(sealed: bytes) -> bytes:
    """The message with one byte of its ciphertext changed (the tag no longer matches)."""
    head, text = sealed.split(b"\r\n\r\n", 1)
    der = bytearray(base64.b64decode(text))
    der[len(der) // 2] ^= 0x01
    return head + b"\r\n\r\n" + b64_encode(bytes(der))


def test_failed_gcm_decrypt_writes_nothing(pki: TestPKI, big: bytes, tmp_path: Path) -> None:
    sealed = run("encrypt", "--stream", "--recipient", pki["bob"].cert_path, "--cipher",
                 "aes-256-gcm", stdin=big).stdout
    bad = tampered(sealed)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "opened.eml"
    target.write_bytes(b"before\r\n")
    proc = run("decrypt", "--stream", "--identity", pki["bob"].p12_path, "-o", target,
               stdin=bad, env=with_password(pki), status=2)
    expect_error(proc)
    assert proc.stdout == b""
    assert target.read_bytes() == b"before\r\n"
    assert sorted(p.name for p in folder.iterdir()) == ["opened.eml"]  # no temporary file
    proc = run("decrypt", "--stream", "--identity", pki["bob"].p12_path, stdin=bad,
               env=with_password(pki), status=2)
    assert proc.stdout == b""  # standard output: held back too
    run("decrypt", "--stream", "--identity", pki["bob"].p12_path, "-o", target,
        stdin=sealed, env=with_password(pki))
    assert target.read_bytes().endswith(body_of(big))
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_output_file_mode_and_devices(pki: TestPKI, big: bytes, tmp_path: Path) -> None:
    target = tmp_path / "signed.eml"
    old = os.umask(0o022)
    try:
        run("sign", "--stream", "--identity", pki["alice"].p12_path, "-o", target,
            stdin=big, env=with_password(pki))
    finally:
        os.umask(old)
    assert oct(target.stat().st_mode & 0o777) == "0o644"  # not decrypted content
    run("encrypt", "--stream", "--recipient", pki["bob"].cert_path, "-o", os.devnull,
        stdin=big)


def _pty_run(args: list[object], *, same_terminal: bool, tmp_path: Path) -> str:
    pty = pytest.importorskip("pty")
    source = tmp_path / "big.eml"
    source.write_bytes(message(THRESHOLD + (1 << 20)))
    master, slave = pty.openpty()
    shown = b""
    try:
        with open(tmp_path / "out", "wb") as out:
            proc = subprocess.Popen(
                [*SMIME, *map(str, args), source], stderr=slave,
                stdout=slave if same_terminal else out, stdin=subprocess.DEVNULL,
            )
            while True:  # read the terminal as it fills, so the command never blocks
                if select.select([master], [], [], 0.5)[0]:
                    chunk = os.read(master, 1 << 16)
                    shown += chunk
                    if chunk:
                        continue
                if proc.poll() is not None:
                    break
            proc.wait(timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    return shown.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_progress_only_on_a_terminal_of_its_own(pki: TestPKI, tmp_path: Path) -> None:
    args: list[object] = ["encrypt", "--stream", "--recipient", pki["bob"].cert_path]
    alone = _pty_run(args, same_terminal=False, tmp_path=tmp_path)
    assert "reading ... 100%" in alone and "Traceback" not in alone
    shared = _pty_run(args, same_terminal=True, tmp_path=tmp_path)
    assert "reading ..." not in shared and "smime.p7m" in shared


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_decrypt_into_a_named_pipe_does_not_read_it_back(
    pki: TestPKI, tmp_path: Path,
) -> None:
    sealed = run("encrypt", "--stream", "--recipient", pki["bob"].cert_path, "--cipher",
                 "aes-256-cbc", stdin=message(1 << 16)).stdout
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    proc = run("decrypt", "--stream", "--identity", pki["bob"].p12_path, "-o", fifo,
               stdin=sealed, env=with_password(pki))
    received, _ = reader.communicate(timeout=60)
    assert received.endswith(b"\r\n") and len(received) > 1 << 16
    assert b"does not detect tampering" in proc.stderr  # CBC, and not known to be signed
