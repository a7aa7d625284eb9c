"""DER for SignedData, assembled from pieces asn1crypto encoded.

Building the whole tree through asn1crypto's schema classes costs about 2.5 ms a message,
seven times an RSA-2048 signature. So every piece that does not change between messages
(algorithm identifiers, signer identifiers, certificates, the capabilities attribute) is
encoded once by asn1crypto's schema classes; per message, only the few enclosing
SEQUENCE/SET/OCTET STRING elements are framed by ``smime.core.der``. The result
is the DER asn1crypto itself would write: the tests re-encode our output through
asn1crypto's SignedData schema and compare byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asn1crypto import cms as asn1_cms

from ..algorithms import DIGESTS
from ..core.der import CONTEXT, OCTET_STRING, SEQUENCE, SET, UNIVERSAL, encode
from ._schema import BareDigestAlgorithm

__all__ = [
    "attribute_set",
    "content_info",
    "digest_algorithm",
    "message_digest_attribute",
    "signed_data",
    "signer_info",
    "version",
]

#: The content types' DER, for the readers and writers that frame SignedData by hand.
DATA_TYPE_DER = bytes(asn1_cms.ContentType("data").dump())
SIGNED_DATA_TYPE_DER = bytes(asn1_cms.ContentType("signed_data").dump())
_MESSAGE_DIGEST_OID = asn1_cms.CMSAttributeType("message_digest").dump()
_VERSIONS: dict[int, bytes] = {n: asn1_cms.CMSVersion(n).dump() for n in (1, 3, 4, 5)}


#: Every digest's AlgorithmIdentifier, encoded once: a constant table, not a cache.
_DIGEST_ALGORITHMS: dict[str, bytes] = {
    name: bytes(BareDigestAlgorithm({"algorithm": d.asn1_name}).dump())
    for name, d in DIGESTS.items()
}


def digest_algorithm(name: str) -> bytes:
    """DER AlgorithmIdentifier of a digest (``sha256``), parameters absent."""
    return _DIGEST_ALGORITHMS[name]


def version(number: int) -> bytes:
    return _VERSIONS[number]


def _sequence(*parts: bytes) -> bytes:
    return encode(UNIVERSAL, SEQUENCE, b"".join(parts))


def _set_contents(parts: Iterable[bytes]) -> bytes:
    """DER SET OF contents: the elements' encodings in ascending order (X.690 11.6)."""
    return b"".join(sorted(parts))


def _octet_string(data: bytes) -> bytes:
    return encode(UNIVERSAL, OCTET_STRING, data, constructed=False)


def _context(tag: int, contents: bytes) -> bytes:
    return encode(CONTEXT, tag, contents)


def message_digest_attribute(digest: bytes) -> bytes:
    set_of = encode(UNIVERSAL, SET, _octet_string(digest))
    return _sequence(_MESSAGE_DIGEST_OID, set_of)


def attribute_set(attributes: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(the SET OF to sign, the same contents tagged [0] IMPLICIT for the SignerInfo)."""
    contents = _set_contents(attributes)
    return (
        encode(UNIVERSAL, SET, contents),
        _context(0, contents),
    )


def signer_info(
    number: int,
    sid: bytes,
    digest_alg: bytes,
    signed_attrs: bytes | None,
    signature_alg: bytes,
    signature: bytes,
) -> bytes:
    parts = [_VERSIONS[number], sid, digest_alg]
    if signed_attrs is not None:
        parts.append(signed_attrs)
    parts += [signature_alg, _octet_string(signature)]
    return _sequence(*parts)


def signed_data(
    number: int,
    digest_algs: Sequence[bytes],
    content: bytes | None,
    certificates: Sequence[bytes],
    revocation: Sequence[bytes],
    signer_infos: Sequence[bytes],
) -> bytes:
    encap = [DATA_TYPE_DER]
    if content is not None:
        encap.append(_context(0, _octet_string(content)))
    parts = [
        _VERSIONS[number],
        encode(UNIVERSAL, SET, _set_contents(digest_algs)),
        _sequence(*encap),
    ]
    if certificates:
        parts.append(_context(0, _set_contents(certificates)))
    if revocation:
        parts.append(_context(1, _set_contents(revocation)))
    parts.append(encode(UNIVERSAL, SET, _set_contents(signer_infos)))
    return _sequence(*parts)


def content_info(signed: bytes) -> bytes:
    return _sequence(SIGNED_DATA_TYPE_DER, _context(0, signed))
