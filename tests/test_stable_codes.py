"""The stable codes programs branch on: each is its name in lower case, and the guides
list exactly the codes there are."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import pytest

from smime.problems import ProblemCode, StableCode
from smime.store import HarvestReason

DOCS = Path(__file__).resolve().parent.parent / "docs" / "guides"


def _documented(guide: str, heading: str) -> set[str]:
    """The codes in the first column of the table after ``heading`` in ``guide``."""
    text = (DOCS / guide).read_text(encoding="utf-8")
    rows: list[str] = []
    for line in text[text.index(heading) + len(heading):].splitlines():
        if line.startswith("| `"):
            rows.append(line)
        elif rows:
            break
    return {code for row in rows for code in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


@pytest.mark.parametrize(("codes", "guide", "heading"), [
    (ProblemCode, "verifying.md", "### Problem codes"),
    (HarvestReason, "correspondents.md", "| `reason` | meaning |"),
])
def test_codes_are_their_names_and_documented(
    codes: type[StableCode], guide: str, heading: str
) -> None:
    assert issubclass(codes, str)
    assert all(code.value == code.name.lower() for code in codes)
    assert {code.value for code in codes} == _documented(guide, heading)


def test_a_new_code_gets_its_lower_case_name() -> None:
    class Example(StableCode):
        SOME_CODE = enum.auto()

    assert Example.SOME_CODE == "some_code"
    assert Example("some_code") is Example.SOME_CODE
