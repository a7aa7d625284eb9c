"""The old ``smime`` distribution installed into the same folder is named at import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import smime
from smime._conflict import OLD_PACKAGE_MODULES

PACKAGE = Path(smime.__file__).parent


def _import_from(site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import smime; print(smime.__file__)"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, env=env, timeout=60, check=True, cwd=site)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site folder holding a copy of this package, as pip would install it."""
    shutil.copytree(PACKAGE, tmp_path / "smime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_clean_install_imports_silently(site: Path) -> None:
    proc = _import_from(site)
    assert proc.stdout.strip() == str(site / "smime" / "__init__.py")
    assert proc.stderr == ""


@pytest.mark.parametrize("module", OLD_PACKAGE_MODULES)
def test_the_old_packages_modules_beside_this_one_give_a_warning(site: Path, module: str) -> None:
    # what balena/python-smime leaves in smime/ (its encrypt.py starts like this)
    (site / "smime" / module).write_text('"""Python S/MIME handler."""\n')
    proc = _import_from(site)
    assert "SMIMEWarning" in proc.stderr
    assert "the old 'smime' distribution from PyPI" in proc.stderr
    assert module in proc.stderr and "pip uninstall smime smime-sdk" in proc.stderr


def test_this_package_has_none_of_the_marker_modules() -> None:
    assert not [name for name in OLD_PACKAGE_MODULES if (PACKAGE / name).exists()]
