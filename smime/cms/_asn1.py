"""Safe entry to DER/BER: every parse failure becomes a ParseError.

asn1crypto parses lazily, so a structure that loads can still fail on first access deep
inside. ``load_content_info`` forces a full parse up front (bounded in depth and size), so
the rest of the layer can trust what it holds.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core

from ..core.der import SEQUENCE, UNIVERSAL, check_der, raw, read
from ..errors import ParseError
from ._schema import ContentInfo

__all__ = ["check_der", "content_type_of", "load_content_info", "parsed"]

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


def load_content_info(
    data: bytes,
    *,
    deep: bool = True,
    schema: type[core.Sequence] = ContentInfo,
    strict: bool = False,
    what: str = "CMS ContentInfo",
) -> Any:
    """Parse a DER/BER ContentInfo completely, or raise ParseError.

    ``deep=False`` checks only the element framing (lengths, depth) and leaves values to be
    parsed where they are read, for callers that map every read's errors themselves.
    ``schema`` replaces the ContentInfo class (a layer reading one content type its own
    way); ``strict`` refuses trailing bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(data).__name__}")
    data = bytes(data)
    check_der(data, what)
    try:
        info = schema.load(data, strict=strict)
        info["content_type"].native  # noqa: B018
    except Exception as exc:
        raise ParseError(f"malformed CMS ContentInfo: {exc}") from None
    return parsed(info, "CMS ContentInfo") if deep else info


def content_type_of(data: bytes) -> str:
    """The ContentInfo's content type name (``signed_data``, ``enveloped_data``...).

    Reads only the outer framing and the type's OID (asn1crypto would copy the content
    of each element it loads), so it stays cheap on a 100 MB enveloped message.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(data).__name__}")
    if not data:
        raise ParseError("malformed CMS ContentInfo: empty input")
    what = "CMS ContentInfo"
    buf = memoryview(data).cast("B")
    top = read(buf, 0, len(buf), what)
    if not top.is_(UNIVERSAL, SEQUENCE) or not top.constructed:
        raise ParseError(f"malformed {what}: a ContentInfo SEQUENCE expected")
    first = read(buf, top.body, top.end, what)
    try:
        return str(asn1_cms.ContentType.load(raw(buf, first), strict=True).native)
    except Exception as exc:
        raise ParseError(f"malformed {what}: {exc}") from None
