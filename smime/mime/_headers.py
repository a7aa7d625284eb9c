"""Header text that survives the ``email`` package and mail relays unchanged.

A header we write is folded to lines of at most 78 characters at white space (so that the
``email`` package, which refolds source headers only when a line is longer than that,
leaves it alone) and is 7-bit: non-ASCII values become RFC 2047 encoded words. A header
that already has that shape is kept byte for byte.
"""

from __future__ import annotations

import email.header
import email.policy
import re
from typing import Any

__all__ = [
    "HEADER_WIDTH",
    "encodable_text",
    "fold_header",
    "header_text",
    "is_clean_source_header",
    "render_header",
]

#: The line length the ``email`` package folds at (``max_line_length`` of its policies).
HEADER_WIDTH = 78
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: Characters that ``str.splitlines`` (used by the ``email`` generator) treats as line ends,
#: plus the other controls RFC 5322 does not allow in a header value.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_WORDS = re.compile(r"[ \t]*[^ \t]+")
_FOLD_POLICY = email.policy.SMTP.clone(utf8=False, max_line_length=HEADER_WIDTH)


def encodable_text(value: str) -> str:
    """``value`` as text that encodes as UTF-8: raw 8-bit bytes, which the parser keeps as
    surrogate escapes, become the characters they spell (UTF-8, else Latin-1)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that escapes no byte
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return value


def header_text(value: Any, *, keep_controls: bool = False) -> str:
    """One header value as a single unfolded line of text (RFC 5322 unfolding).

    Accepts what ``Message.raw_items()`` yields: source strings (folded, maybe with raw
    8-bit bytes), header objects of the modern policy, ``email.header.Header``. Control
    characters become spaces unless ``keep_controls`` (for displays that escape them, so
    that a reader sees they were there).
    """
    text = str(value)
    text = _LINE_BREAK.sub("", text)
    text = encodable_text(text)
    if not keep_controls:
        text = _CONTROLS.sub(" ", text)
    return text.strip(" \t")


def is_clean_source_header(name: str, value: str) -> bool:
    """Whether a header as parsed from a source can be written back unchanged.

    It must be 7-bit printable, folded to lines of at most 78 characters whose breaks are
    followed by white space, with no trailing white space and no empty line.
    """
    if not value or not value.isascii():
        return False
    lines = _LINE_BREAK.split(value)
    if len(name) + 2 + len(lines[0]) > HEADER_WIDTH:
        return False
    for i, line in enumerate(lines):
        if _CONTROLS.search(line) or line != line.rstrip(" \t"):
            return False
        if i and (len(line) > HEADER_WIDTH or line[:1] not in (" ", "\t") or not line.strip()):
            return False
    return bool(lines[0].strip())


def _fold_ascii(name: str, value: str) -> str:
    """Fold at white space only, so the value unfolds to exactly what it was."""
    lines: list[str] = []
    current = f"{name}:"
    for i, word in enumerate(_WORDS.findall(value)):
        if i == 0:
            current += " " + word.lstrip(" \t")
        elif len(current) + len(word) <= HEADER_WIDTH:
            current += word
        else:
            lines.append(current)
            current = word
    if current == f"{name}:":
        current += " "
    lines.append(current)
    return "\r\n".join(lines) + "\r\n"


def _fold_encoded(name: str, value: str) -> str:
    """RFC 2047 (RFC 2231 for parameters) encoding by the ``email`` package, 78 columns."""
    try:
        folded = str(_FOLD_POLICY.header_factory(name, value).fold(policy=_FOLD_POLICY))
    except Exception:  # the email header parser has failure modes of its own
        folded = ""
    if folded.isascii() and folded.endswith("\r\n") and folded[: len(name) + 1] == name + ":":
        lines = [line.rstrip(" \t") for line in folded[:-2].split("\r\n")]
        return "\r\n".join(line for line in lines if line.strip()) + "\r\n"
    encoded = email.header.Header(value, "utf-8", header_name=name).encode(
        linesep="\r\n", maxlinelen=HEADER_WIDTH
    )
    return f"{name}: {encoded}\r\n"


def fold_header(name: str, value: str) -> str:
    """``Name: value`` folded to 78 columns with CRLF line ends, 7-bit."""
    value = header_text(value)
    if value.isascii():
        return _fold_ascii(name, value)
    return _fold_encoded(name, value)


def render_header(name: str, value: Any, *, verbatim: bool = False) -> bytes:
    """One header as wire bytes: kept as it came from the source when that is safe.

    ``verbatim`` writes a source header exactly as the ``email`` generator would (for
    content that is already signed and must not change), whatever its shape.
    """
    if isinstance(value, str) and not hasattr(value, "name"):
        if is_clean_source_header(name, value):
            return (name + ": " + "\r\n".join(_LINE_BREAK.split(value)) + "\r\n").encode("ascii")
        if verbatim:
            text = name + ": " + "\r\n".join(value.splitlines()) + "\r\n"
            return text.encode("utf-8", "surrogateescape")
    return fold_header(name, str(value)).encode("ascii")
