"""docs/security.md's defaults tables say what the code does, and cover every default.

Each row names settings (``smime.verify(revocation=)``, ``VerificationPolicy(validate_at=)``,
``smime verify --revocation``) and a default; the test reads the real default from the
function signature, the dataclass field or the command-line parser and compares.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import smime
from smime.cli import build_parser

SECURITY = Path(__file__).resolve().parent.parent / "docs" / "security.md"
SETTING = re.compile(r"`((?:smime\.)?\w+)\((\w+)=\)`")
OPTION = re.compile(r"^`smime (\w+) (--[\w-]+)`$")
CELL = re.compile(r"^`(.*)`$")

#: Keywords of the public functions that set no security-relevant default, and why. A new
#: keyword must be added to the defaults table in docs/security.md or here.
NOT_SECURITY_DEFAULTS = {
    "crls": "extra revocation data you hand in; none by default adds nothing",
    "ocsp_responses": "as crls",
    "identity": "the key to decrypt with, not a choice of behaviour",
    "detached": "a choice of format (multipart/signed or opaque), both equally safe",
    "include_chain": "helps readers build the path; adds no trust",
    "identify_by": "how a certificate is named in the message",
    "encryption_certificate": "which of your certificates readers should encrypt to",
    "signing_time": "the signing time to claim; the clock by default",
    "capabilities": "what recipients are known to read: input to cipher='auto'",
    "store": "where addresses are looked up: input, not a default behaviour",
    "certificates": "extra certificates that help find a signer and build its path; they "
                    "add no trust (trust= decides)",
    "format": "how the result is packed (S/MIME message or raw CMS file), equally safe",
    "content": "the detached content to verify against: input, not a default behaviour",
}
FUNCTIONS = ("verify", "unwrap", "decrypt", "encrypt", "sign")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _rows(text: str) -> list[tuple[str, str]]:
    """(setting cell, default cell) of every table row below the header rows."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[1]) <= {"-", " "}:
            continue
        if cells[1] == "default":
            continue
        rows.append((cells[0], cells[1]))
    return rows


MISSING = "(no such setting)"


def _code_default(owner: str, keyword: str) -> Any:
    if owner.startswith("smime."):
        target = getattr(smime, owner.removeprefix("smime."))
        param = inspect.signature(target).parameters.get(keyword)
        return MISSING if param is None else param.default
    field = {f.name: f for f in dataclasses.fields(getattr(smime, owner))}.get(keyword)
    return MISSING if field is None else field.default


def _option_default(command: str, option: str) -> Any:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = [a for a in sub.choices[command]._actions if option in a.option_strings]
    return actions[0].default if actions else MISSING


def mismatches(text: str) -> tuple[list[str], set[tuple[str, str]]]:
    """Rows whose default differs from the code, and every (owner, keyword) documented."""
    wrong: list[str] = []
    documented: set[tuple[str, str]] = set()
    for setting, default in _rows(_section(text, "Defaults")):
        option = OPTION.match(setting)
        if option:
            command, flag = option.groups()
            actual = _option_default(command, flag)
            stated: Any = {"off": False, "on": True}.get(default)
            if stated is None:
                stated = CELL.sub(r"\1", default)
            if actual != stated:
                wrong.append(f"smime {command} {flag}: documented {default}, code {actual!r}")
            continue
        found = SETTING.findall(setting)
        if not found:
            wrong.append(f"unreadable row: {setting}")
            continue
        literal = CELL.match(default)
        assert literal, f"the default of {setting} must be a `literal`: {default}"
        value = ast.literal_eval(literal.group(1))
        for owner, keyword in found:
            documented.add((owner, keyword))
            actual = _code_default(owner, keyword)
            if actual != value or type(actual) is not type(value):
                wrong.append(f"{owner}({keyword}=): documented {value!r}, code {actual!r}")
    return wrong, documented


def test_documented_defaults_match_the_code() -> None:
    wrong, documented = mismatches(SECURITY.read_text(encoding="utf-8"))
    assert not wrong, "docs/security.md's defaults disagree with the code:\n" + "\n".join(wrong)
    assert len(documented) >= 20  # the table was read, not skipped


def test_every_default_is_documented() -> None:
    _wrong, documented = mismatches(SECURITY.read_text(encoding="utf-8"))
    missing = [
        f"VerificationPolicy({f.name}=)"
        for f in dataclasses.fields(smime.VerificationPolicy)
        if ("VerificationPolicy", f.name) not in documented
    ]
    for name in FUNCTIONS:
        for param in inspect.signature(getattr(smime, name)).parameters.values():
            if param.default is inspect.Parameter.empty:
                continue
            if param.name not in NOT_SECURITY_DEFAULTS and (f"smime.{name}", param.name) not in (
                documented
            ):
                missing.append(f"smime.{name}({param.name}=)")
    assert not missing, (
        "defaults missing from docs/security.md's table (add a row with the reason, or list "
        "the keyword in NOT_SECURITY_DEFAULTS here): " + ", ".join(missing)
    )


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('| `smime.verify(revocation=)` | `"hard-fail"` | x |', "smime.verify(revocation=)"),
        ("| `VerificationPolicy(require_sender_match=)` | `False` | x |", "require_sender_match"),
        ("| `smime.decrypt(require_authenticated=)` | `0` | x |", "require_authenticated"),
        ("| `smime encrypt --cipher` | `aes-256-cbc` | x |", "smime encrypt --cipher"),
        ("| `smime decrypt --require-authenticated` | on | x |", "--require-authenticated"),
        ("| revocation | `None` | x |", "unreadable row"),
    ],
)
def test_the_check_catches_a_wrong_row(row: str, problem: str) -> None:
    """The comparison above must fail on a wrong value, or it checks nothing."""
    text = f"\n## Defaults\n\n| setting | default | why |\n| --- | --- | --- |\n{row}\n"
    wrong, _ = mismatches(text)
    assert len(wrong) == 1 and problem in wrong[0], wrong
