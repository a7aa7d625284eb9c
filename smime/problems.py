"""Stable codes for what can be wrong with a signature, and the sentence that explains it.

Codes are part of the API: programs branch on ``problem.code``, people read ``str(problem)``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Option, worded

__all__ = ["Problem", "ProblemCode", "StableCode", "plain_reason"]


class StableCode(str, enum.Enum):
    """Codes that are part of the API, for programs to branch on: each a ``str`` whose value
    is its name in lower case (``NO_SIGNERS = enum.auto()`` is ``"no_signers"``), so a code
    is written once and cannot be misspelt against its name."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name.lower()


class ProblemCode(StableCode):
    """Why a signature or signer is not (fully) valid."""

    NO_SIGNERS = enum.auto()
    BAD_SIGNATURE = enum.auto()
    DIGEST_MISMATCH = enum.auto()
    CONTENT_TYPE_MISMATCH = enum.auto()
    MISSING_CERTIFICATE = enum.auto()
    UNTRUSTED = enum.auto()
    EXPIRED = enum.auto()
    NOT_YET_VALID = enum.auto()
    REVOKED = enum.auto()
    REVOCATION_UNKNOWN = enum.auto()
    KEY_USAGE = enum.auto()
    EXTENDED_KEY_USAGE = enum.auto()
    SENDER_MISMATCH = enum.auto()
    NO_SENDER = enum.auto()
    WEAK_ALGORITHM = enum.auto()
    UNSUPPORTED_ALGORITHM = enum.auto()
    INVALID_CHAIN = enum.auto()
    SIGNING_TIME_INVALID = enum.auto()
    MALFORMED = enum.auto()
    UNAUTHENTICATED_CONTENT = enum.auto()  # unwrap: CBC, no valid signature inside
    HEADER_MISMATCH = enum.auto()
    PARTIAL_SIGNATURE = enum.auto()


@dataclass(frozen=True)
class Problem:
    """One reason for distrust: a stable ``code`` and a ``message`` for people."""

    code: ProblemCode
    message: str
    parts: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The message in pieces when it names options (:class:`~smime.errors.Option`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", plain_reason(self.message))

    @classmethod
    def naming(cls, code: ProblemCode, *parts: str) -> Problem:
        """The problem whose message is ``parts`` joined, options among them."""
        return cls(code, worded(parts), parts)

    def __str__(self) -> str:
        return self.message

    def worded(self, word: Callable[[Option], str] | None) -> str:
        """The message with each option it names spelled by ``word`` (the command line's
        flags), as :meth:`smime.errors.SMIMEError.worded`."""
        if word is None or not self.parts:
            return self.message
        return plain_reason(worded(self.parts, word))

    def to_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``: plain data for JSON."""
        return {"code": self.code.value, "message": self.message}


#: cryptography's Rust parser reports DER faults in its debug notation:
#: ``error parsing asn1 value: ParseError { kind: InvalidValue, location: ["subject"] }``.
_DEBUG_START = re.compile(r"(?:error parsing asn1 value: )?ParseError \{")
_KIND = re.compile(r"kind: (\w+)")
_LOCATION = re.compile(r'location: \[(.*)\]')
_KINDS = {
    "InvalidValue": "an invalid value",
    "InvalidTag": "an invalid tag",
    "UnexpectedTag": "an unexpected element",
    "ShortData": "data that ends too early",
    "ExtraData": "extra data after the end",
    "InvalidLength": "an invalid length",
    "IntegerOverflow": "a number too large",
    "InvalidSetOrdering": "a SET OF out of order",
    "EncodedDefault": "a default value encoded",
    "OidTooLong": "an object identifier too long",
    "UnknownDefinedBy": "an unknown algorithm or type",
}


def _debug_words(notation: str) -> str:
    kind_match = _KIND.search(notation)
    kind = kind_match.group(1) if kind_match else ""
    words = _KINDS.get(kind) or re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower() or "bad data"
    location = _LOCATION.search(notation)
    places = re.findall(r'"([^"]*)"', location.group(1)) if location else []
    place = places[-1].rpartition("::")[2].replace("_", " ") if places else ""
    return f"malformed DER ({words}{f' in the {place}' if place else ''})"


def plain_reason(text: str) -> str:
    """``text`` with a dependency's debug notation put in words, for sentences people read:
    ``ParseError { kind: InvalidValue, location: ["subject"] }`` becomes
    ``malformed DER (an invalid value in the subject)``."""
    if "ParseError {" not in text:
        return text
    out: list[str] = []
    pos = 0
    for found in _DEBUG_START.finditer(text):
        if found.start() < pos:
            continue
        depth, end = 0, len(text)
        for index in range(found.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                end = index + 1
                break
        out += [text[pos : found.start()], _debug_words(text[found.end() : end])]
        pos = end
    return "".join(out) + text[pos:] if out else text
