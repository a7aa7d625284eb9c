"""The code-level promises: layers point downward, ruff and mypy --strict stay clean."""

from __future__ import annotations

import ast
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


# ---------------------------------------------------------------------------- faces


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imported(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement reaches: modules, and names taken from them."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        steps = package.split(".")
        base = ".".join([*steps[: len(steps) - node.level + 1], node.module or ""]).rstrip(".")
    else:
        base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]


def private_imports(source: str, module: str, *, package: bool = False) -> list[str]:
    """What ``module`` (of the smime package) imports from behind another part's face.

    A part is a subpackage or top-level module of smime (``smime.cms``, ``smime.results``);
    its underscore modules and names are its own. Those of ``smime`` itself
    (``smime._cache``) are shared by the whole package.
    """
    here = module if package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        for target in _imported(node, here):
            steps = target.split(".")
            if steps[0] != "smime" or len(steps) < 3 or _private(steps[1]):
                continue
            owner = ".".join(steps[:2])
            outside = module != owner and not module.startswith(owner + ".")
            if outside and any(_private(step) for step in steps[2:]):
                found.append(f"{module}:{node.lineno}: {target}")
                break  # one line for each import statement
    return found


def test_no_module_imports_another_parts_private_modules_or_names() -> None:
    found = []
    for path in sorted((REPO / "smime").rglob("*.py")):
        steps = path.relative_to(REPO).with_suffix("").parts
        package = steps[-1] == "__init__"
        module = ".".join(steps[:-1] if package else steps)
        found += private_imports(path.read_text(encoding="utf-8"), module, package=package)
    assert not found, "import these from the part's face (its __init__):\n" + "\n".join(found)


@pytest.mark.parametrize(("source", "module", "caught"), [
    ("from ..cms import _asn1", "smime.api.sending", ["smime.cms._asn1"]),
    ("from .cms._asn1 import content_type_of", "smime.inspection", ["smime.cms._asn1"]),
    ("import smime.mime._raw", "smime.cli.commands", ["smime.mime._raw"]),
    ("from smime.results import _subject", "smime.cli.commands", ["smime.results._subject"]),
    ("from ..api._input import MessageInput", "smime.cli._io", ["smime.api._input"]),
    ("from . import _oids", "smime.cms", []),  # its own, from its __init__
    ("from ._asn1 import parsed", "smime.cms.signed", []),
    ("from ..mime.parse import _param", "smime.mime.signed_view", []),
    ("from .. import _cache", "smime.validation.chain", []),  # smime's own, shared
    ("from ..cms import content_kind", "smime.api.receiving", []),
])
def test_the_private_import_check_catches_what_it_should(
    source: str, module: str, caught: list[str]
) -> None:
    package = module == "smime.cms"
    found = private_imports(source, module, package=package)
    assert [line.rsplit(" ", 1)[1] for line in found] == caught
