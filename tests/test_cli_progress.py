"""The progress line: drawn on a terminal for big inputs, never anywhere else."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from test_cli import LETTER, SMIME, run

from smime.cli.progress import THRESHOLD, Progress

BIG = LETTER + b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n" * (
    THRESHOLD // 74 + 1000
)

if TYPE_CHECKING:
    from smime.testing import TestPKI


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_percentages_and_clears_on_a_terminal() -> None:
    screen = Terminal()
    progress = Progress(screen)
    progress.update("reading", THRESHOLD, 2 * THRESHOLD)
    progress.update("reading", 2 * THRESHOLD, 2 * THRESHOLD)
    assert screen.getvalue().split("\r")[1:] == ["reading ... 50%", "reading ... 100%"]
    progress.clear()
    assert screen.getvalue().endswith("\r" + " " * len("reading ... 100%") + "\r")


def test_silent_for_small_inputs_and_for_non_terminals() -> None:
    screen = Terminal()
    Progress(screen).update("reading", 1000, 2000)
    Progress(screen).step("signing", 1000)
    assert screen.getvalue() == ""
    log = io.StringIO()
    quiet = Progress(log)
    quiet.update("reading", 2 * THRESHOLD, 2 * THRESHOLD)
    quiet.step("signing", 2 * THRESHOLD)
    quiet.clear()
    assert log.getvalue() == ""


def test_big_input_prints_nothing_when_stderr_is_not_a_terminal(pki: TestPKI) -> None:
    proc = run("sign", "--cert", pki["alice"].cert_path, "--key", pki["alice"].key_path,
               stdin=BIG)
    assert proc.stderr == b"" and len(proc.stdout) > len(BIG)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_big_input_shows_progress_on_a_terminal(pki: TestPKI, tmp_path: os.PathLike[str]) -> None:
    pty = pytest.importorskip("pty")
    source = os.path.join(tmp_path, "big.eml")
    with open(source, "wb") as handle:
        handle.write(BIG)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [*SMIME, "sign", "--cert", str(pki["alice"].cert_path), "--key",
             str(pki["alice"].key_path), source, "-o", os.path.join(tmp_path, "out.eml")],
            stderr=slave, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=120,
            check=False,
        )
        shown = b""
        while select.select([master], [], [], 0.5)[0]:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    text = shown.decode()
    assert "reading ... 100%" in text and "writing ... 100%" in text
    assert "Traceback" not in text
