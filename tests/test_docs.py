"""The documentation builds strictly, its examples name real API, and the notebook runs.

The site build and the notebook need the docs toolchain (``pip install -e ".[docs,test]"``).
Where it is missing they skip with a message saying so; CI sets ``SMIME_REQUIRE_DOCS=1``,
which turns that skip into a failure.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "notebooks" / "explore.ipynb"
CELL_TIMEOUT = 120
#: Pages whose code blocks sketch signatures rather than runnable examples.
SKETCHES = {"internals.md"}
FENCE = re.compile(r"^```(?:python|\{\.python[^}\n]*\})\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _require(*modules: str) -> None:
    """Skip (fail in CI) when a module of the docs toolchain is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = (
        f"docs toolchain not installed ({', '.join(missing)} missing): "
        'pip install -e ".[docs,test]"'
    )
    if os.environ.get("SMIME_REQUIRE_DOCS") == "1":
        pytest.fail(f"{reason} (SMIME_REQUIRE_DOCS=1)")
    pytest.skip(reason)


def test_missing_toolchain_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMIME_REQUIRE_DOCS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_docs_module"):
        _require("no_such_docs_module")
    monkeypatch.setenv("SMIME_REQUIRE_DOCS", "1")
    with pytest.raises(pytest.fail.Exception, match="SMIME_REQUIRE_DOCS=1"):
        _require("no_such_docs_module")


# ---------------------------------------------------------------------------- site build


def test_site_builds_strictly(tmp_path: Path) -> None:
    _require("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python",
             "mkdocs_jupyter")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("sign", "encrypt", "decrypt", "verify", "unwrap", "inspect", "send"):
        assert f'id="smime.{name}"' in api, f"API reference lacks smime.{name}"
    results = (site / "reference" / "results" / "index.html").read_text(encoding="utf-8")
    assert "raise_for_status" in results
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog, "CHANGELOG.md was not included in the changelog page"
    # the notebook is a page of the site, rendered as HTML (and still offered as a download)
    page = (site / "notebooks" / "explore" / "index.html").read_text(encoding="utf-8")
    assert "jp-Notebook" in page and "jp-OutputArea-output" in page
    assert "make_test_pki" in page and "smime.inspect" in page
    assert "stylesheets/extra.css" in page
    assert (site / "notebooks" / "explore" / "explore.ipynb").is_file()
    guide = (site / "guides" / "notebook" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../notebooks/explore/"' in guide
    assert not list(ROOT.glob(".cache/mkdocs-jupyter"))  # the build writes nothing here
    css = (site / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert "overflow-x: auto" in css and "pre-wrap" in css


# ---------------------------------------------------------------------------- examples


def _python_blocks() -> Iterator[tuple[str, int, str]]:
    for page in sorted(DOCS.rglob("*.md")):
        if page.name in SKETCHES:
            continue
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            yield str(page.relative_to(ROOT)), line, match.group(1)


def _resolve(dotted: str) -> Any:
    """The object a dotted name such as ``smime.errors.LoadError`` refers to."""
    parts = dotted.split(".")
    obj: Any = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if not hasattr(obj, part) and inspect.ismodule(obj):
            importlib.import_module(".".join(parts[: i + 1]))
        obj = getattr(obj, part)
    return obj


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _check_block(code: str) -> list[str]:
    """Names of the ``smime`` package a code block uses that do not exist, or wrong keywords."""
    tree = ast.parse(code)
    aliases = {"smime": "smime"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smime"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    errors: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smime"):
            for alias in node.names:
                try:
                    _resolve(f"{node.module}.{alias.name}")
                except (AttributeError, ImportError):
                    errors.append(f"from {node.module} import {alias.name}: no such name")
        if isinstance(node, ast.Attribute):
            name = _dotted(node, aliases)
            if name:
                try:
                    _resolve(name)
                except (AttributeError, ImportError):
                    errors.append(f"{name}: no such name")
        if isinstance(node, ast.Call):
            name = _dotted(node.func, aliases)
            if not name:
                continue
            try:
                target = _resolve(name)
                params = inspect.signature(target).parameters.values()
            except (AttributeError, ImportError, TypeError, ValueError):
                continue
            if any(p.kind is p.VAR_KEYWORD for p in params):
                continue
            allowed = {p.name for p in params if p.kind is not p.POSITIONAL_ONLY}
            errors.extend(
                f"{name}(... {kw.arg}=...): no such keyword"
                for kw in node.keywords
                if kw.arg is not None and kw.arg not in allowed
            )
    return list(dict.fromkeys(errors))


def test_python_examples_use_real_names_and_keywords() -> None:
    blocks = list(_python_blocks())
    assert len(blocks) >= 15, "expected the guides' Python examples"
    problems: list[str] = []
    for page, line, code in blocks:
        try:
            found = _check_block(code)
        except SyntaxError as exc:
            found = [f"does not parse: {exc.msg}"]
        problems.extend(f"{page}:{line}: {p}" for p in found)
    assert not problems, "documentation examples out of step with the API:\n" + "\n".join(problems)


def test_example_checker_catches_mistakes() -> None:
    """The checker above must fail on a misspelt function or keyword, or it checks nothing."""
    assert _check_block("import smime\nsmime.testing.make_test_pkis(folder)")
    assert _check_block("import smime\nsmime.testing.make_test_pki(folder, domian='a.test')")
    assert _check_block("from smime.errors import NoSuchError")
    assert _check_block("from smime.testing import make_test_pki\nmake_test_pki(f, pasword='x')")
    assert not _check_block("import smime\nsmime.testing.make_test_pki(folder, domain='a.test')")


def test_every_problem_code_is_explained() -> None:
    from smime.problems import ProblemCode

    table = (DOCS / "guides" / "verifying.md").read_text(encoding="utf-8")
    missing = [c.value for c in ProblemCode if f"`{c.value}`" not in table]
    assert not missing, f"problem codes missing from guides/verifying.md: {missing}"


def test_cli_reference_lists_every_command() -> None:
    """Each command documented in the CLI reference exists and answers ``--help``."""
    documented = re.findall(r"^### `smime (\w+)`", (DOCS / "reference" / "cli.md").read_text(),
                            re.MULTILINE)
    assert set(documented) >= {"sign", "encrypt", "decrypt", "verify", "inspect", "send"}
    from smime.cli import build_parser

    parser = build_parser()
    commands = {name for action in parser._actions
                if isinstance(action, argparse._SubParsersAction) for name in action.choices}
    assert set(documented) == commands, "docs/reference/cli.md and `smime --help` disagree"
    for command in documented:
        proc = subprocess.run(
            [sys.executable, "-m", "smime", command, "--help"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode == 0, f"smime {command} --help: {proc.stderr}"


# ---------------------------------------------------------------------------- notebook


def _stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def _tagged(notebook: Any, tag: str) -> Any:
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one notebook cell tagged {tag!r}"
    return cells[0]


def test_notebook_is_committed_without_outputs() -> None:
    import json

    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_runs(tmp_path: Path) -> None:
    _require("nbclient", "nbformat", "ipykernel")
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError when a cell fails
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert not errors

    verified = _stdout(_tagged(notebook, "verify"))
    assert "signature VALID" in verified and "valid: True" in verified
    tampered = _stdout(_tagged(notebook, "tampered"))
    assert "signature NOT VALID" in tampered and "valid: False" in tampered
    assert "digest_mismatch" in tampered
    unwrapped = _stdout(_tagged(notebook, "unwrap"))
    assert unwrapped.split() == ["encrypted", "signed", "valid:", "True"]
    rendered = _tagged(notebook, "inspect-sealed").outputs
    assert any("text/html" in o.get("data", {}) for o in rendered), "inspect() has no HTML repr"
