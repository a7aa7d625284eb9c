"""``import smime`` stays cheap: heavy dependencies load when first used, names still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import smime

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyhanko_certvalidator", "asyncio", "sqlite3", "http.client", "smtplib", "ssl")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running ``code``."""
    script = (f"import sys\n{code}\nimport json\n"
              f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT)
    loaded: list[str] = json.loads(out.stdout.splitlines()[-1])
    return loaded


def test_import_smime_loads_no_heavy_dependency() -> None:
    assert _loaded_after("import smime") == []


def test_signing_and_verifying_names_load_no_transport_store_or_pyhanko() -> None:
    touch = ", ".join(f"smime.{name}" for name in smime.__all__
                      if name not in ("send", "asend", "CertificateStore", "HarvestResult"))
    assert _loaded_after(f"import smime\n{touch}") == []


def test_the_lazy_names_load_their_modules_on_first_use() -> None:
    loaded = _loaded_after("import smime\nsmime.send\nsmime.CertificateStore")
    assert "smtplib" in loaded and "sqlite3" in loaded


def test_every_public_name_resolves() -> None:
    namespace: dict[str, object] = {}
    exec("from smime import *", namespace)  # the star import is what is tested
    for name in smime.__all__:
        assert getattr(smime, name) is namespace[name]
    assert set(smime.__all__) <= set(dir(smime))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        smime.no_such_name  # type: ignore[attr-defined]  # noqa: B018
