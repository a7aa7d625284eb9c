"""The S/MIME wrappers of RFC 8551 §3.3-3.5, written byte by byte.

We compose the exact wire form ourselves and parse it into an ``EmailMessage`` whose
``as_bytes()`` gives those bytes back, so what is sent is what was signed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import EmailMessage

from .._cache import LRUCache
from ..algorithms import digest_from_micalg
from ..core.der import SizedChunks, presized
from ..core.wire import (
    FIELD_NAME,
    b64_encode,
    b64_size,
    b64_write,
    is_content_field,
    is_field_name,
    to_crlf,
)
from ..errors import InvalidOptionError, ParseError, UsageError
from ._headers import HEADER_WIDTH, fold_header
from ._lazy import WireMessage
from ._raw import RawEntity, check_raw_depth, read_entity
from .canonical import fresh_boundary, plain_header_text
from .message import check_is_message, reading

__all__ = ["SMIME_TYPES", "build_multipart_signed", "build_pkcs7_mime", "parse_inner"]

#: smime-type values (RFC 8551 §3.2.2, RFC 5083 §3 for authEnveloped-data), as spelled there.
SMIME_TYPES = (
    "signed-data",
    "enveloped-data",
    "authEnveloped-data",
    "compressed-data",
    "certs-only",
)
_FILENAMES = {"certs-only": "smime.p7c", "compressed-data": "smime.p7z"}
_DESCRIPTIONS = {
    "signed-data": "S/MIME Signed Message",
    "enveloped-data": "S/MIME Encrypted Message",
    "authEnveloped-data": "S/MIME Encrypted Message",
    "compressed-data": "S/MIME Compressed Message",
    "certs-only": "S/MIME Certificates",
}
_PREAMBLE = b"This is an S/MIME signed message\r\n"


def _outer_headers(outer_headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers to copy outside a layer: not the content headers, not MIME-Version."""
    kept = []
    for name, value in outer_headers:
        if not is_field_name(name):
            raise InvalidOptionError(f"{name!r} is not a valid header field name")
        if not is_content_field(name):
            kept.append((name, plain_header_text(value)))
    return kept


def _outer_block(outer_headers: Iterable[tuple[str, str]]) -> list[bytes]:
    lines = []
    for name, value in _outer_headers(outer_headers):
        if len(name) + 2 + len(value) <= HEADER_WIDTH and value.isascii():
            lines.append(f"{name}: {value}\r\n".encode("ascii"))  # what fold_header gives
        else:
            lines.append(fold_header(name, value).encode("ascii"))
    lines.append(b"MIME-Version: 1.0\r\n")
    return lines


def _finish(wire: bytes) -> EmailMessage:
    """The message for exact wire bytes: parsed only when someone reads inside it."""
    return WireMessage(wire)


#: A header line the email generator writes back unchanged: ``Name: value`` in ASCII, or a
#: folded continuation.
_STABLE_HEADER_LINE = re.compile(
    rf"(?:{FIELD_NAME}: [\t\x20-\x7e]*|[ \t][\t\x20-\x7e]*)".encode("ascii")
)


def _check_header_block(entity: bytes) -> None:
    """Refuse an entity whose headers the email package would rewrite (breaking the
    signature once anyone parses the message); ``prepare_entity`` output always passes."""
    end = entity.find(b"\r\n\r\n")
    block = entity[: end if end >= 0 else len(entity)]
    for line in block.split(b"\r\n") if block else ():
        if len(line) > 998 or not _STABLE_HEADER_LINE.fullmatch(line):
            raise ParseError(
                f"the entity's header line {line[:60]!r} would be rewritten by MIME "
                "parsers, breaking its signature; pass the output of prepare_entity()"
            )


def _protocol_and_micalg(micalg: str) -> str:
    """The parameters; several signers with different digests give ``"sha-256,sha-512"``."""
    names: list[str] = []
    for item in micalg.split(","):
        digest = digest_from_micalg(item) if item.strip() else None
        if digest is None:
            raise InvalidOptionError(f"micalg={micalg!r} is not a digest we know (e.g. sha-256)")
        if digest.micalg not in names:
            names.append(digest.micalg)
    value = ",".join(names)
    quoted = f'"{value}"' if "," in value else value
    return f'protocol="application/pkcs7-signature"; micalg={quoted}'


#: The folded Content-Type line of multipart/signed by micalg, split where the boundary goes.
_CONTENT_TYPES: LRUCache[tuple[bytes, bytes]] = LRUCache("mime.signed_content_types", 64)


def _signed_content_type(micalg: str) -> tuple[bytes, bytes]:
    """The Content-Type line of multipart/signed before and after its boundary.

    Folding breaks only at white space; the boundaries fresh_boundary makes have none and
    all have one length, so the line is the same around any of them, and is folded once.
    """
    parts = _CONTENT_TYPES.get(micalg)
    if parts is None:
        sample = fresh_boundary(()).decode("ascii")
        value = f'multipart/signed; {_protocol_and_micalg(micalg)}; boundary="{sample}"'
        line = fold_header("Content-Type", value).encode("ascii")
        before, _, after = line.rpartition(f'"{sample}"'.encode("ascii"))
        parts = (before + b'"', b'"' + after)
        _CONTENT_TYPES.put(micalg, parts)
    return parts


def build_multipart_signed(
    entity: bytes,
    signature_der: bytes,
    *,
    micalg: str,
    outer_headers: Iterable[tuple[str, str]] = (),
) -> EmailMessage:
    """multipart/signed (RFC 8551 §3.5.3) with ``entity`` as its first part, byte for byte.

    ``entity`` must be the canonical form that was signed (``prepare_entity(...).entity``);
    ``micalg`` is a digest name (``sha256``) or its micalg spelling (``sha-256``), or
    several separated by commas when signers used different digests.
    """
    if not isinstance(micalg, str):
        raise UsageError.wrong_type("micalg", micalg, "a string such as 'sha-256'")
    before, after = _signed_content_type(micalg)
    pairs = entity.count(b"\r\n")
    if entity.count(b"\n") != pairs or entity.count(b"\r") != pairs:
        raise ParseError("the entity to sign must use CRLF line ends (use prepare_entity)")
    _check_header_block(entity)
    boundary = fresh_boundary([entity])
    chunks = _outer_block(outer_headers)
    chunks += [
        before + boundary + after,
        b"\r\n",
        _PREAMBLE,
        b"--" + boundary + b"\r\n",
        entity,
        b"\r\n--" + boundary + b"\r\n",
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n'
        b"Content-Description: S/MIME Cryptographic Signature\r\n\r\n",
        b64_encode(signature_der),
        b"\r\n--" + boundary + b"--\r\n",
    ]
    return _finish(b"".join(chunks))


def _smime_type(value: str) -> str:
    for name in SMIME_TYPES:
        if value.lower() == name.lower():
            return name
    raise InvalidOptionError(
        f"smime_type={value!r} is not supported; use one of: " + ", ".join(SMIME_TYPES)
    )


def build_pkcs7_mime(
    der: bytes | SizedChunks,
    *,
    smime_type: str,
    outer_headers: Iterable[tuple[str, str]] = (),
    filename: str | None = None,
) -> EmailMessage:
    """application/pkcs7-mime (RFC 8551 §3.2) carrying ``der``, base64 in 76 columns.

    ``filename`` defaults to ``smime.p7m``, ``smime.p7c`` for certs-only and
    ``smime.p7z`` for compressed-data (the extensions RFC 8551 §3.2.1 lists). ``der`` may
    come as sized chunks (made while they are read): they are encoded as they come, into the
    one buffer that becomes the message.
    """
    kind = _smime_type(smime_type)
    name = filename or _FILENAMES.get(kind, "smime.p7m")
    if not name.isascii() or any(c in name for c in '"\\\r\n'):
        raise InvalidOptionError(f"filename={name!r} must be plain ASCII without quotes")
    chunks = _outer_block(outer_headers)
    chunks += [
        fold_header(
            "Content-Type", f'application/pkcs7-mime; smime-type={kind}; name="{name}"'
        ).encode("ascii"),
        b"Content-Transfer-Encoding: base64\r\n",
        fold_header("Content-Disposition", f'attachment; filename="{name}"').encode("ascii"),
        fold_header("Content-Description", _DESCRIPTIONS[kind]).encode("ascii"),
        b"\r\n",
    ]
    head = b"".join(chunks)
    out = presized(len(head) + b64_size(len(der)))
    out.write(head)
    b64_write(out, [der] if isinstance(der, (bytes, bytearray, memoryview)) else der)
    out.truncate()
    return _finish(out.getvalue())


def parse_inner(
    entity: bytes, outer_headers: Iterable[tuple[str, str]] = (), *, exact: bool = False,
    top: RawEntity | None = None,
) -> EmailMessage:
    """The message a mail client shows for decrypted or unwrapped content.

    Outer headers the entity does not carry itself (From, To, Subject, Date, ...) are put
    in front of it, with ``MIME-Version`` if any are; without outer headers the result
    is the entity as it is. Content that is not a MIME entity at all (some
    tools encrypt bare text) becomes the body of a ``text/plain`` message; with ``exact``
    (content of a raw CMS file: any bytes) its line ends are kept, so that
    ``get_payload(decode=True)`` gives the content back byte for byte. ``top``:
    ``entity`` already read (see :class:`SignedView`), not read again.
    """
    if top is None or not top.is_whole(entity):
        top = None
        try:
            check_is_message(entity)
        except ParseError:
            if exact:
                return WireMessage(b"\r\n" + entity)
            entity = b"\r\n" + entity
    with reading("decrypted content"):
        if top is None:
            top = read_entity(entity, 0, len(entity))
        present = {name.lower() for name in top.headers}
    chunks = [
        fold_header(name, value).encode("ascii")
        for name, value in _outer_headers(outer_headers)
        if name.lower() not in present
    ]
    if chunks and "mime-version" not in present:
        chunks.append(b"MIME-Version: 1.0\r\n")
    wire = b"".join(chunks) + to_crlf(entity, lone_cr=False)
    with reading("message"):
        check_raw_depth(wire)
    return WireMessage(wire)
