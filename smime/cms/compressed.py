"""CompressedData (RFC 3274): zlib, inflated in bounded steps so that a bomb costs little.

Two caps of :class:`~smime.limits.Limits` bound the work, not only the result: the
inflated size (``max_decompressed_size``) and, beyond :data:`~smime.limits.RATIO_FLOOR`,
the ratio of inflated to compressed bytes (``max_compression_ratio``). Inflation stops at
the first block that would cross either, so refusing a bomb costs about as much as
inflating the cap, never the whole stream.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms, core

from ..algorithms import ZLIB_OID
from ..errors import InvalidOptionError, LimitExceededError, ParseError, UnsupportedError
from ..limits import DEFAULT_LIMITS, RATIO_FLOOR, Limits, current_limits
from ._asn1 import load_content_info, parsed

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DecompressedData",
    "create_compressed_data",
    "decompress_data",
    "read_compressed_data",
]

#: Largest decompressed content we produce unless told otherwise.
DEFAULT_MAX_SIZE = DEFAULT_LIMITS.max_decompressed_size
_CHUNK = 1024 * 1024


class _OpaqueContent(cms.EncapsulatedContentInfo):
    """eContent as plain octets: asn1crypto would parse a compressed signed_data as SignedData."""

    _oid_specs: dict[str, object] = {}  # noqa: RUF012


class _Compressed(cms.CompressedData):
    _fields = [  # noqa: RUF012
        ("version", cms.CMSVersion),
        ("compression_algorithm", cms.CompressionAlgorithm),
        ("encap_content_info", _OpaqueContent),
    ]


class _ContentInfo(core.Sequence):
    _fields = [  # noqa: RUF012
        ("content_type", cms.ContentType),
        ("content", _Compressed, {"explicit": 0, "optional": True}),
    ]


@dataclass(frozen=True)
class DecompressedData:
    content: bytes
    content_type: str  # the inner eContentType: "data", "signed_data"...


def create_compressed_data(content: bytes, *, content_type: str = "data") -> bytes:
    """``content`` zlib-compressed as a DER ContentInfo."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"content must be bytes, not {type(content).__name__}")
    compressed = zlib.compress(content)
    data = _Compressed(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": "zlib"},
            "encap_content_info": {"content_type": content_type, "content": compressed},
        }
    )
    return bytes(_ContentInfo({"content_type": "compressed_data", "content": data}).dump())


def read_compressed_data(
    der: bytes, *, max_size: int | None = None, limits: Limits | None = None
) -> DecompressedData:
    """The decompressed content and its type.

    :class:`~smime.errors.LimitExceededError` when the content would inflate beyond the
    caps of ``limits`` (default: those of the call in progress); ``max_size`` replaces
    their ``max_decompressed_size``.
    """
    info = load_content_info(
        der, deep=False, schema=_ContentInfo, strict=True, what="CMS compressed-data"
    )
    kind = info["content_type"].native
    if kind != "compressed_data":
        raise ParseError(f"expected compressed-data, got {kind}")
    try:
        content = info["content"]
    except Exception as exc:
        raise ParseError(f"malformed compressed-data: {exc}") from None
    compressed_data = parsed(content, "compressed-data")
    if not isinstance(compressed_data, _Compressed):
        raise ParseError("malformed compressed-data: the ContentInfo has no content")
    algorithm = compressed_data["compression_algorithm"]["algorithm"]
    if algorithm.dotted != ZLIB_OID:
        raise UnsupportedError(f"unsupported compression algorithm {algorithm.dotted}")
    encap = compressed_data["encap_content_info"]
    compressed = encap["content"].native
    if compressed is None:
        raise ParseError("malformed compressed-data: no compressed content")
    caps = limits or current_limits()
    if max_size is not None:
        caps = dataclasses.replace(caps, max_decompressed_size=max_size)
    allowed, overflow = _allowance(len(compressed), caps)
    content = _inflate(compressed, allowed, overflow)
    return DecompressedData(content, str(encap["content_type"].native))


def decompress_data(
    der: bytes, *, max_size: int | None = None, limits: Limits | None = None
) -> bytes:
    """The decompressed content of a CompressedData ContentInfo (see read_compressed_data)."""
    return read_compressed_data(der, max_size=max_size, limits=limits).content


def _allowance(compressed: int, caps: Limits) -> tuple[int, Callable[[], LimitExceededError]]:
    """How many bytes the content may inflate to, and the error for one byte more."""
    size_cap = caps.max_decompressed_size
    ratio_cap = max(RATIO_FLOOR, caps.max_compression_ratio * compressed)
    if ratio_cap < size_cap:
        return ratio_cap, lambda: caps.exceeded(
            "max_compression_ratio",
            f"compressed-data of {compressed} bytes expands beyond {ratio_cap} bytes, over "
            f"{caps.max_compression_ratio} times its size: a decompression bomb?",
        )
    return size_cap, lambda: caps.exceeded(
        "max_decompressed_size",
        f"compressed-data expands beyond the limit of {size_cap} bytes: a decompression bomb?",
    )


def _inflate(
    compressed: bytes, allowed: int, overflow: Callable[[], LimitExceededError]
) -> bytes:
    """zlib-decompress in blocks, never producing more than ``allowed`` + 1 bytes."""
    inflater = zlib.decompressobj()
    parts: list[bytes] = []
    total = 0
    pending = compressed
    try:
        while not inflater.eof:
            part = inflater.decompress(pending, min(_CHUNK, allowed - total + 1))
            pending = inflater.unconsumed_tail
            if not part and not pending and not inflater.eof:
                raise ParseError("malformed compressed-data: the zlib stream is truncated")
            total += len(part)
            if total > allowed:
                raise overflow()
            parts.append(part)
    except zlib.error as exc:
        raise ParseError(f"malformed compressed-data: {exc}") from None
    return b"".join(parts)
