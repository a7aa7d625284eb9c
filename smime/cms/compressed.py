"""CompressedData (RFC 3274): zlib, read with a size limit so that a bomb cannot exhaust memory."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from asn1crypto import cms, core

from ..errors import InvalidOptionError, ParseError, UnsupportedError
from ._asn1 import check_der, parsed

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DecompressedData",
    "create_compressed_data",
    "decompress_data",
    "read_compressed_data",
]

#: Largest decompressed content we produce unless told otherwise.
DEFAULT_MAX_SIZE = 256 * 1024 * 1024
_ZLIB_OID = "1.2.840.113549.1.9.16.3.8"
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


def read_compressed_data(der: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> DecompressedData:
    """The decompressed content and its type; ParseError beyond ``max_size`` bytes."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected DER bytes, got {type(der).__name__}")
    data = bytes(der)
    check_der(data, "CMS compressed-data")
    try:
        info = _ContentInfo.load(data, strict=True)
        kind = info["content_type"].native
    except Exception as exc:  # asn1crypto's ValueError, TypeError...
        raise ParseError(f"malformed CMS ContentInfo: {exc}") from None
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
    if algorithm.dotted != _ZLIB_OID:
        raise UnsupportedError(f"unsupported compression algorithm {algorithm.dotted}")
    encap = compressed_data["encap_content_info"]
    compressed = encap["content"].native
    if compressed is None:
        raise ParseError("malformed compressed-data: no compressed content")
    return DecompressedData(_inflate(compressed, max_size), str(encap["content_type"].native))


def decompress_data(der: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """The decompressed content of a CompressedData ContentInfo."""
    return read_compressed_data(der, max_size=max_size).content


def _inflate(compressed: bytes, max_size: int) -> bytes:
    """zlib-decompress in bounded steps: never holds more than ``max_size`` + one chunk."""
    inflater = zlib.decompressobj()
    parts: list[bytes] = []
    total = 0
    pending = compressed
    try:
        while not inflater.eof:
            part = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not part and not pending and not inflater.eof:
                raise ParseError("malformed compressed-data: the zlib stream is truncated")
            total += len(part)
            if total > max_size:
                raise ParseError(
                    f"compressed-data expands beyond the limit of {max_size} bytes "
                    "(decompression bomb?)"
                )
            parts.append(part)
    except zlib.error as exc:
        raise ParseError(f"malformed compressed-data: {exc}") from None
    return b"".join(parts)
