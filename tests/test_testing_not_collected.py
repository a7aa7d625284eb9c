"""``from smime.testing import TestPKI, TestUser`` in a test module adds no test classes:
pytest collects classes named ``Test*``, and these two are values, not tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_pytest_does_not_collect_the_test_pki_classes(tmp_path: Path) -> None:
    module = tmp_path / "test_uses_pki.py"
    module.write_text("from smime.testing import TestPKI, TestUser\n\n\n"
                      "def test_nothing() -> None:\n    assert TestPKI and TestUser\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "--collect-only", str(module)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 test collected" in done.stdout
    assert "TestPKI" not in done.stdout and "TestUser" not in done.stdout
