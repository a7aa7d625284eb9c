"""MkDocs hook: show Sphinx roles in docstrings as code, linked when the target is known.

The library's docstrings use reStructuredText roles (``:class:`~smime.errors.ParseError```),
which Markdown renders literally as ``:class:<code>...</code>``. This turns them into
``<code>`` elements, and full ``smime.*`` names into optional cross-references that
mkdocs-autorefs resolves after the build (no warning when a target is not documented).
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def _replace(match: re.Match[str]) -> str:
    tilde, target, parens = match.group(1), match.group(2), match.group(3) or ""
    shown = (target.rsplit(".", 1)[-1] if tilde else target) + parens
    code = f"<code>{shown}</code>"
    if target.startswith("smime."):
        return f'<autoref identifier="{target}" optional>{code}</autoref>'
    return code


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(_replace, html)
