"""Where the command line takes a password from, and what it says when one does not fit.

Sources: --password-file, --password-fd, --password-env, SMIME_PASSWORD, and a prompt
that does not echo when standard error is a terminal (driven here through a real
pseudo-terminal).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest
from test_cli import LETTER, SMIME, expect_error, run, trust, with_password

import smime
from smime.testing import TestPKI


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "letter.eml"
    path.write_bytes(LETTER)
    return path


def _signed_ok(pki: TestPKI, data: bytes) -> None:
    result = smime.verify(data, trust(pki))
    assert result.valid, result.summary()


def test_password_from_a_file_descriptor(pki: TestPKI, letter: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, pki.password.encode() + b"\nnot this line\n")
    os.close(write_end)
    try:
        proc = subprocess.run(
            [*SMIME, "sign", "--identity", str(pki["alice"].p12_path),
             "--password-fd", str(read_end), str(letter)],
            capture_output=True, pass_fds=(read_end,), timeout=120, check=False,
            env={k: v for k, v in os.environ.items() if k != "SMIME_PASSWORD"},
        )
    finally:
        os.close(read_end)
    assert proc.returncode == 0, proc.stderr
    _signed_ok(pki, proc.stdout)


def test_password_from_a_named_variable(pki: TestPKI, letter: Path) -> None:
    proc = run("sign", "--identity", pki["alice"].p12_path, "--password-env", "MY_P12_PASS",
               letter, env={"MY_P12_PASS": pki.password})
    _signed_ok(pki, proc.stdout)


def test_a_named_variable_that_is_not_set(pki: TestPKI, letter: Path) -> None:
    proc = run("sign", "--identity", pki["alice"].p12_path, "--password-env", "NOT_SET_HERE",
               letter, status=2)
    expect_error(proc, "--password-env NOT_SET_HERE", "not set")


def test_sources_exclude_each_other(pki: TestPKI, letter: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(pki.password)
    proc = run("sign", "--identity", pki["alice"].p12_path, "--password-file", secret,
               "--password-env", "X", letter, status=2)
    assert b"not allowed with argument" in proc.stderr


def test_no_password_and_no_terminal_names_the_sources(pki: TestPKI, letter: Path) -> None:
    proc = run("sign", "--identity", pki["alice"].p12_path, letter, status=2)
    line = expect_error(proc, "--password-file", "--password-fd", "SMIME_PASSWORD")
    assert "password=" not in line  # API keywords are not the command line's words


def test_wrong_password_names_its_source(pki: TestPKI, letter: Path) -> None:
    proc = run("sign", "--identity", pki["alice"].p12_path, "--password-env", "P",
               letter, env={"P": "wrong"}, status=2)
    expect_error(proc, "wrong password", "--password-env P")


def test_a_key_that_does_not_match_is_reported_as_such(
    pki: TestPKI, letter: Path, tmp_path: Path
) -> None:
    """With SMIME_PASSWORD set for other files, an unencrypted key of the wrong person is a
    mismatch, not 'the private key is not encrypted'."""
    proc = run("sign", "--cert", pki["alice"].cert_path, "--key", pki["bob"].key_path, letter,
               env=with_password(pki), status=2)
    line = expect_error(proc)
    assert "not encrypted" not in line and "does not belong to the certificate" in line, line


def test_an_explicit_password_for_an_unencrypted_key(
    pki: TestPKI, letter: Path, tmp_path: Path
) -> None:
    proc = run("sign", "--cert", pki["alice"].cert_path, "--key", pki["alice"].key_path,
               "--password-env", "P", letter, env={"P": "x"}, status=2)
    expect_error(proc, "not encrypted", "--password-env P", "give none")


# ------------------------------------------------------------------ the terminal prompt


def _on_terminal(args: list[str], answer: str, timeout: float = 60) -> tuple[int, bytes]:
    """Run with a pseudo-terminal as controlling terminal, stdin and stderr; type
    ``answer`` at the prompt. Returns the exit status and all the terminal showed."""
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        args, stdin=slave, stdout=subprocess.PIPE, stderr=slave,
        preexec_fn=controlling_terminal, close_fds=True,
        env={k: v for k, v in os.environ.items() if k != "SMIME_PASSWORD"},
    )
    os.close(slave)
    shown = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            shown += chunk
            if not answered and b"Password for" in shown:
                os.write(master, answer.encode() + b"\n")
                answered = True
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        with_output = proc.stdout.read() if proc.stdout else b""
    finally:
        os.close(master)
    return proc.returncode, shown + b"\n--stdout--\n" + with_output


@pytest.mark.parametrize("typed", ["right", "wrong"])
def test_prompt_on_a_terminal_without_echo(
    pki: TestPKI, letter: Path, tmp_path: Path, typed: str
) -> None:
    answer = pki.password if typed == "right" else "not-the-password-4711"
    out = tmp_path / "signed.eml"
    status, shown = _on_terminal(
        [*SMIME, "sign", "--identity", str(pki["alice"].p12_path), str(letter), "-o", str(out)],
        answer,
    )
    terminal = shown.split(b"\n--stdout--\n")[0]
    assert b"Password for" in terminal
    assert answer.encode() not in terminal  # not echoed
    if typed == "right":
        assert status == 0, terminal
        _signed_ok(pki, out.read_bytes())
    else:
        assert status == 2 and b"wrong password" in terminal, terminal
        assert not out.exists()
