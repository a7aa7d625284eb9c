"""``import smime`` stays cheap: heavy dependencies load when first used, names still work."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import smime

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyhanko_certvalidator", "asyncio", "sqlite3", "http.client", "smtplib", "ssl")


def _loaded_after(code: str, watch: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``watch`` modules a fresh interpreter loads to run ``code`` (not those it held at
    start: under ``coverage`` the tracer has loaded sqlite3 already)."""
    script = (f"import sys\nbefore = set(sys.modules)\n{code}\nimport json\n"
              f"print(json.dumps([m for m in {watch!r} if m in sys.modules and m not in before]))")
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
    loaded = _loaded_after("import smime\nsmime.send\nsmime.CertificateStore",
                           watch=("smtplib", "smime.transports", "smime.store"))
    assert loaded == ["smtplib", "smime.transports", "smime.store"]


def test_every_public_name_resolves() -> None:
    namespace: dict[str, object] = {}
    exec("from smime import *", namespace)  # the star import is what is tested
    for name in smime.__all__:
        assert getattr(smime, name) is namespace[name]
    assert set(smime.__all__) <= set(dir(smime))


def test_type_checkers_see_the_names_getattr_loads() -> None:
    """The ``TYPE_CHECKING`` imports of ``smime/__init__.py`` and its lazy table agree,
    module by module: a name added to one and not the other is caught here."""
    tree = ast.parse((ROOT / "smime" / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    typed = {str(node.module): {alias.name for alias in node.names}
             for node in block.body if isinstance(node, ast.ImportFrom)}
    for module, names in typed.items():
        if names == {"*"}:  # all of the module's public names
            typed[module] = set(importlib.import_module(f"smime.{module}").__all__)
    assert typed == {module: set(names) for module, names in smime._LAZY_FROM.items()}


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        smime.no_such_name  # type: ignore[attr-defined]  # noqa: B018


_KEY_READS = r"""
import json, sys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from smime.testing import make_ca
from smime.validation._ocsp import _key_hash
from smime.cms._certs import _key_identifier

der = make_ca("Odd", key_type="ec-p256").certificate.public_bytes(serialization.Encoding.DER)
odd = der.replace(bytes.fromhex("06072a8648ce3d0201"), bytes.fromhex("06072a8648ce3d0209"))

def reads():
    cert = x509.load_der_x509_certificate(odd)
    return [_key_hash(cert, "sha1").hex(), _key_identifier(asn1_x509.Certificate.load(odd)).hex()]

before = reads()
assert "pyhanko_certvalidator" not in sys.modules
import pyhanko_certvalidator  # patches asn1crypto's public key table when it loads
print(json.dumps([before, reads()]))
"""


def test_key_reads_do_not_depend_on_pyhanko_being_loaded() -> None:
    """pyhanko-certvalidator patches asn1crypto to read keys of unknown algorithms; loaded
    lazily, it must not change what we read (an OCSP issuer key hash, a key identifier)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _KEY_READS], capture_output=True, text=True,
                         check=True, env=env, cwd=ROOT)
    before, after = json.loads(out.stdout.splitlines()[-1])
    assert before == after
