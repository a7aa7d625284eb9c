"""The code-level promises: layers point downward, ruff and mypy --strict stay clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the test extra), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_layers_contract_holds() -> None:
    done = _run(_tool("lint-imports"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_ruff_is_clean() -> None:
    done = _run(_tool("ruff"), "check", "smime", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    done = _run(_tool("mypy"), "--strict", "smime")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_rejects_option_values_the_api_refuses() -> None:
    sample = Path("tests/typing/option_values.py")
    wrong = {
        n for n, line in enumerate((REPO / sample).read_text().splitlines(), 1)
        if line.endswith("# wrong")
    }
    done = _run(_tool("mypy"), "--strict", str(sample))
    flagged = {
        int(line.split(":")[1]) for line in done.stdout.splitlines()
        if line.startswith(str(sample)) and ": error:" in line
    }
    assert flagged == wrong, done.stdout


def test_cli_offers_exactly_the_api_option_values() -> None:
    from smime import options
    from smime.cli import build_parser

    choices = {
        action.dest: tuple(action.choices)
        for sub in build_parser()._subparsers._group_actions  # type: ignore[union-attr]
        for parser in sub.choices.values()
        for action in parser._actions
        if action.choices is not None and action.dest in {
            "digest", "cipher", "key_transport", "revocation"}
    }
    assert choices == {
        "digest": options.DIGESTS,
        "cipher": options.CIPHER_CHOICES,
        "key_transport": options.KEY_TRANSPORT_CHOICES,
        "revocation": options.REVOCATION_MODES,
    }
