"""Safe entry to DER/BER: every parse failure becomes a ParseError.

asn1crypto parses lazily, so a structure that loads can still fail on first access deep
inside. ``load_content_info`` forces a full parse up front (bounded in depth and size), so
the rest of the layer can trust what it holds.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core

from ..errors import ParseError
from ._schema import ContentInfo

__all__ = ["MAX_DEPTH", "check_der", "content_type_of", "load_content_info", "parsed"]

#: Deeper ASN.1 nesting than any real message has; bounds recursion on hostile input.
MAX_DEPTH = 64


def check_der(data: bytes, what: str = "CMS structure") -> None:
    """Reject data whose outer TLV lengths exceed the data or nest too deep (cheap, iterative)."""
    if not data:
        raise ParseError(f"malformed {what}: empty input")
    stack: list[int] = [len(data)]
    pos = 0
    depth = 0
    while pos < len(data):
        while stack and pos >= stack[-1]:
            stack.pop()
            depth -= 1
        start = pos
        if pos + 2 > len(data):
            raise ParseError(f"malformed {what}: truncated at byte {pos}")
        tag = data[pos]
        pos += 1
        if tag & 0x1F == 0x1F:  # high tag number form
            while pos < len(data) and data[pos] & 0x80:
                pos += 1
            pos += 1
        if pos >= len(data):
            raise ParseError(f"malformed {what}: truncated at byte {start}")
        first = data[pos]
        pos += 1
        if first == 0x80:  # BER indefinite length: let asn1crypto handle it
            if not tag & 0x20:
                raise ParseError(f"malformed {what}: indefinite length on a primitive at {start}")
            return
        if first & 0x80:
            n = first & 0x7F
            if n > 8 or pos + n > len(data):
                raise ParseError(f"malformed {what}: bad length at byte {start}")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        else:
            length = first
        end = pos + length
        limit = stack[-1] if stack else len(data)
        if end > limit:
            raise ParseError(
                f"malformed {what}: element at byte {start} claims {length} bytes, "
                f"only {limit - pos} remain"
            )
        if tag & 0x20:  # constructed: descend
            stack.append(end)
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseError(f"malformed {what}: nested deeper than {MAX_DEPTH} levels")
        else:
            pos = end
        if not stack:
            break
    if len(data) > 0 and pos < len(data) and not stack:
        raise ParseError(f"malformed {what}: {len(data) - pos} bytes of trailing data")


#: Subtrees whose members cryptography parses itself (strictly, in Rust): the walk checks
#: only that they split into elements, which keeps verification fast.
_OPAQUE = (asn1_cms.CertificateSet, asn1_cms.RevocationInfoChoices)


def _walk(value: Any) -> None:
    """Visit every value once, iteratively (no recursion on hostile depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _OPAQUE):
            len(item)
        elif isinstance(item, core.Choice):
            stack.append(item.chosen)
        elif isinstance(item, (core.Sequence, core.SequenceOf)):
            stack.extend(item[i] for i in range(len(item)))
        elif isinstance(item, core.Any):
            continue  # content of unknown type: whoever reads it interprets it
        else:
            item.native  # noqa: B018 - decoding the value is the check


def parsed(value: Any, what: str) -> Any:
    """Force asn1crypto to parse ``value`` completely; ParseError on anything wrong."""
    try:
        _walk(value)
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, IndexError...
        raise ParseError(f"malformed {what}: {exc}") from None
    return value


def load_content_info(data: bytes, *, deep: bool = True) -> asn1_cms.ContentInfo:
    """Parse a DER/BER ContentInfo completely, or raise ParseError.

    ``deep=False`` checks only the element framing (lengths, depth) and leaves values to be
    parsed where they are read, for callers that map every read's errors themselves.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(data).__name__}")
    data = bytes(data)
    check_der(data, "CMS ContentInfo")
    try:
        info = ContentInfo.load(data, strict=False)
        info["content_type"].native  # noqa: B018
    except Exception as exc:
        raise ParseError(f"malformed CMS ContentInfo: {exc}") from None
    return parsed(info, "CMS ContentInfo") if deep else info


def content_type_of(data: bytes) -> str:
    """The ContentInfo's content type name (``signed_data``, ``enveloped_data``...).

    Reads only the outer structure, so it stays cheap on a 100 MB enveloped message.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(data).__name__}")
    if not data:
        raise ParseError("malformed CMS ContentInfo: empty input")
    try:
        info = ContentInfo.load(bytes(data), strict=False)
        return str(info["content_type"].native)
    except Exception as exc:
        raise ParseError(f"malformed CMS ContentInfo: {exc}") from None
