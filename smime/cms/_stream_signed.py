"""SignedData for content too large to hold: digested in blocks as it passes.

Writing: :class:`SignedStream` digests the content as the caller hands it over and frames
it, when the signature is not detached, as BER's constructed OCTET STRING inside
indefinite-length elements (as ``openssl cms -stream`` does); the certificates and
SignerInfos follow the content, made by :mod:`smime.cms.signed` once the digests are known.

Reading: :func:`read_signed_stream` walks a SignedData from a stream, digesting the
encapsulated content and handing it to a sink; :func:`verify_signed_digests` checks the
signers of a SignedData against digests of content the caller read itself (a detached
signature). Both check with the same code as :func:`~smime.cms.verify_signed_data`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..algorithms import DIGESTS
from ..core.der import (
    CONTEXT,
    END_OF_CONTENTS,
    OCTET_STRING,
    SEQUENCE,
    SET,
    UNIVERSAL,
    StreamReader,
    children,
    encode,
    header,
    indefinite,
    read,
)
from ..core.signatures import digest_name
from ..errors import InvalidOptionError, ParseError, SMIMEError, UnsupportedError
from ..limits import current_limits
from . import _signed_der
from ._asn1 import load_content_info
from ._certs import Received
from ._signed_attrs import signing_time_attribute
from ._signed_der import DATA_TYPE_DER, SIGNED_DATA_TYPE_DER
from ._verify import VerifyContext
from .signed import SignedDataInfo, SignerSpec, _signer_info

__all__ = [
    "SignedStream",
    "digest_blocks",
    "read_signed_stream",
    "signer_digest_names",
    "verify_signed_digests",
]

_WHAT = "CMS signed data"
#: Certificates, CRLs and SignerInfos are read whole up to this size each.
MAX_ELEMENT = 64 * 1024 * 1024

Sink = Callable[[bytes], object]


class SignedStream:
    """One SignedData made over content handed over in blocks.

    ``head()`` first (the opening of an encapsulating SignedData; empty when detached),
    then ``update(block)`` per block (returns the block framed for the output, or b""
    when detached), then ``finish()``: the detached DER ContentInfo, or the closing of the
    encapsulating one.
    """

    def __init__(
        self,
        signers: Sequence[SignerSpec],
        *,
        detached: bool = True,
        signing_time: dt.datetime | None = None,
    ) -> None:
        self.specs = list(signers)
        if not self.specs:
            raise InvalidOptionError("signing needs at least one SignerSpec")
        for spec in self.specs:
            if not isinstance(spec, SignerSpec):
                raise InvalidOptionError(
                    f"signers must be SignerSpec objects, not {type(spec).__name__}"
                )
            if not spec.signed_attributes:
                raise UnsupportedError(
                    "unsupported: signed_attributes=False signs the content itself, which "
                    "cannot be streamed; sign in memory or keep the signed attributes"
                )
        self.detached = detached
        self.when = signing_time_attribute(signing_time or dt.datetime.now(dt.timezone.utc))
        names = dict.fromkeys(spec._algorithm.digest for spec in self.specs)
        self.hashes = {name: hashes.Hash(DIGESTS[name].hash()) for name in names}

    def _version(self) -> int:
        return 3 if any(s.identify_by == "subject_key_identifier" for s in self.specs) else 1

    def _digest_set(self) -> bytes:
        return encode(UNIVERSAL, SET,
                      b"".join(sorted(_signed_der.digest_algorithm(n) for n in self.hashes)))

    def head(self) -> bytes:
        if self.detached:
            return b""
        return b"".join((
            indefinite(UNIVERSAL, SEQUENCE), SIGNED_DATA_TYPE_DER, indefinite(CONTEXT, 0),
            indefinite(UNIVERSAL, SEQUENCE), _signed_der.version(self._version()),
            self._digest_set(),
            indefinite(UNIVERSAL, SEQUENCE), DATA_TYPE_DER, indefinite(CONTEXT, 0),
            indefinite(UNIVERSAL, OCTET_STRING),
        ))

    def update(self, block: bytes) -> bytes:
        for h in self.hashes.values():
            h.update(block)
        if self.detached or not block:
            return b""
        return header(UNIVERSAL, False, OCTET_STRING, len(block)) + block

    def finish(self) -> bytes:
        digests = {name: h.finalize() for name, h in self.hashes.items()}
        certificates: dict[bytes, None] = {}
        infos = []
        for spec in self.specs:
            infos.append(_signer_info(spec, b"", self.when, dict(digests)))
            certificates.update(dict.fromkeys(spec._certificates))
        signed = _signed_der.signed_data(
            self._version(), [_signed_der.digest_algorithm(n) for n in digests], None,
            list(certificates), [], infos,
        )
        if self.detached:
            return _signed_der.content_info(signed)
        # The detached SignedData's fields after its EncapsulatedContentInfo are the ones
        # that follow the streamed content.
        buf = memoryview(signed)
        fields = children(buf, read(buf, 0, len(buf), _WHAT), _WHAT)
        rest = b"".join(bytes(buf[f.start : f.next]) for f in fields[3:])
        # The segments, the [0] and the EncapsulatedContentInfo close before them.
        return END_OF_CONTENTS * 3 + rest + END_OF_CONTENTS * 3


# ---------------------------------------------------------------------------- reading


class _StreamContext(VerifyContext):
    """A VerifyContext whose digests were made as the content streamed by."""

    def digest(self, name: str) -> bytes | None:
        return self.digests.get(name)


def digest_blocks(names: Iterable[str], blocks: Iterable[bytes]) -> dict[str, bytes]:
    """The digests named (``sha256``...) of the content in ``blocks``."""
    running = {name: hashes.Hash(DIGESTS[name].hash()) for name in dict.fromkeys(names)}
    for block in blocks:
        for h in running.values():
            h.update(block)
    return {name: h.finalize() for name, h in running.items()}


def signer_digest_names(der: bytes) -> list[str]:
    """The digests the signers of a SignedData use (those we can compute)."""
    out: list[str] = []
    for si in _signed(der)["signer_infos"]:
        try:
            name = digest_name(si["digest_algorithm"]["algorithm"].dotted)
        except (SMIMEError, ValueError, TypeError, KeyError):
            continue
        if name not in out:
            out.append(name)
    return out


def _signed(der: bytes) -> Any:
    info = load_content_info(der, deep=False)
    kind = info["content_type"].native
    if kind != "signed_data":
        raise ParseError(f"expected a CMS signed-data structure, but this ContentInfo holds {kind}")
    try:  # the SignedData's own fields, which every caller reads first
        signed = info["content"]
        list(signed["signer_infos"])
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ParseError(f"malformed CMS SignedData: {exc}") from None
    return signed


def verify_signed_digests(
    der: bytes, digests: dict[str, bytes], *, content: bytes | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    more_certificates: Callable[[SignedDataInfo], Sequence[x509.Certificate]] | None = None,
) -> SignedDataInfo:
    """Check the signers of the SignedData ``der`` against ``digests`` of its content.

    ``content`` is what the SignedData encapsulated, when the caller kept it (small); a
    signer whose digest is not in ``digests`` is not intact. Not trust: see
    :func:`~smime.cms.verify_signed_data`. ``more_certificates(info)``, when it finds
    certificates for signers still without one (a certificate store), has them checked
    again with those.
    """
    info = _verify_signed_digests(der, digests, content, extra_certificates)
    more = () if more_certificates is None else tuple(more_certificates(info))
    if more:
        info = _verify_signed_digests(der, digests, content, (*extra_certificates, *more))
    return info


def _verify_signed_digests(
    der: bytes, digests: dict[str, bytes], content: bytes | None,
    extra_certificates: Sequence[x509.Certificate],
) -> SignedDataInfo:
    try:
        signed = _signed(der)
        caps = current_limits()
        caps.check("max_signers", len(signed["signer_infos"]), "signers in the SignedData")
        caps.check("max_certificates", len(signed["certificates"] or ()),
                   "certificates in the SignedData")
        received = Received.read(bytes(der))
        encap = signed["encap_content_info"]
        base = VerifyContext.build(
            received, econtent_type=encap["content_type"].dotted, econtent=None,
            detached_content=b"", extra_certificates=list(extra_certificates),
        )
        context = _StreamContext(base.econtent_type, content if content is not None else b"",
                                 False, base.certificates, dict(digests))
        return SignedDataInfo.checked(
            signed, received, context, content=content, detached=content is None
        )
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        if isinstance(exc, SMIMEError):
            raise
        raise ParseError(f"malformed CMS SignedData: {exc}") from None










def read_signed_stream(
    reader: StreamReader,
    write: Sink | None,
    *,
    detached: Callable[[list[str]], dict[str, bytes]] | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    more_certificates: Callable[[SignedDataInfo], Sequence[x509.Certificate]] | None = None,
) -> SignedDataInfo:
    """Read the SignedData ContentInfo ``reader`` is at: its encapsulated content is
    digested and handed to ``write`` in blocks, then every signer is checked.

    A SignedData without content is checked against ``detached(names)``: the digests
    named, of the content the caller holds elsewhere (ParseError without it).
    ``more_certificates`` as for :func:`verify_signed_digests` (the content is not read
    again: its digests are kept).
    """
    top = reader.expect(UNIVERSAL, SEQUENCE, "a ContentInfo SEQUENCE", _WHAT)
    top_end = reader.end_of(top)
    oid = reader.expect(UNIVERSAL, 6, "a content type", _WHAT)
    oid_bytes = reader.element(oid, 256)
    if oid_bytes != SIGNED_DATA_TYPE_DER:
        raise ParseError("expected a CMS signed-data structure")
    explicit = reader.expect(CONTEXT, 0, "the ContentInfo's content", _WHAT)
    explicit_end = reader.end_of(explicit)
    body = reader.expect(UNIVERSAL, SEQUENCE, "a SignedData SEQUENCE", _WHAT)
    body_end = reader.end_of(body)
    version = reader.element(reader.expect(UNIVERSAL, 2, "version", _WHAT), 64)
    digest_set = reader.element(reader.expect(UNIVERSAL, SET, "digestAlgorithms", _WHAT), 1 << 16)
    names = _digest_set_names(digest_set)
    encap = reader.expect(UNIVERSAL, SEQUENCE, "encapContentInfo", _WHAT)
    encap_end = reader.end_of(encap)
    type_oid = reader.element(reader.expect(UNIVERSAL, 6, "eContentType", _WHAT), 256)
    running = {name: hashes.Hash(DIGESTS[name].hash()) for name in names}
    embedded = False
    if reader.more(encap_end):
        embedded = True
        wrapper = reader.expect(CONTEXT, 0, "eContent", _WHAT)
        wrapper_end = reader.end_of(wrapper)
        value = reader.expect(UNIVERSAL, OCTET_STRING, "eContent OCTET STRING", _WHAT)
        for block in reader.octet_blocks(value):
            for h in running.values():
                h.update(block)
            if write is not None:
                write(block)
        reader.close(wrapper, wrapper_end, _WHAT)
    reader.close(encap, encap_end, _WHAT)
    rest: list[bytes] = []
    while reader.more(body_end):
        rest.append(reader.element(reader.head(), MAX_ELEMENT))
    reader.close(body, body_end, _WHAT)
    reader.close(explicit, explicit_end, _WHAT)
    reader.close(top, top_end, _WHAT)
    if not reader.at_end():
        raise ParseError(f"malformed {_WHAT}: trailing data after the ContentInfo")
    skeleton = encode(UNIVERSAL, SEQUENCE, b"".join((
        version, digest_set, encode(UNIVERSAL, SEQUENCE, type_oid), *rest,
    )))
    der = encode(UNIVERSAL, SEQUENCE, SIGNED_DATA_TYPE_DER + encode(CONTEXT, 0, skeleton))
    digests = {name: h.finalize() for name, h in running.items()}
    if not embedded:
        if detached is None:
            raise ParseError("the signature is detached: give the signed content (content=)")
        digests = detached(names or signer_digest_names(der))
    info = verify_signed_digests(der, digests, content=b"" if embedded else None,
                                 extra_certificates=extra_certificates,
                                 more_certificates=more_certificates)
    return SignedDataInfo(
        content=None, content_type=info.content_type, detached=not embedded,
        certificates=info.certificates, crls=info.crls, ocsp_responses=info.ocsp_responses,
        signers=info.signers,
    )


def _digest_set_names(digest_set: bytes) -> list[str]:
    """The digests of a digestAlgorithms SET that we compute (others stay unknown)."""
    buf = memoryview(digest_set)
    names: list[str] = []
    for item in children(buf, read(buf, 0, len(buf), _WHAT), _WHAT):
        fields = children(buf, item, _WHAT)
        if not fields or fields[0].tag != 6:
            raise ParseError(f"malformed {_WHAT}: a digest algorithm without an OID")
        dotted = _dotted(bytes(buf[fields[0].body : fields[0].end]))
        try:
            name = digest_name(dotted)
        except SMIMEError:
            continue
        if name not in names:
            names.append(name)
    return names


def _dotted(body: bytes) -> str:
    from asn1crypto import core

    try:
        return str(core.ObjectIdentifier.load(header(UNIVERSAL, False, 6, len(body)) + body).dotted)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"malformed {_WHAT}: {exc}") from None
