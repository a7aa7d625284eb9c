"""Raw CMS files (``.p7m``/``.p7s`` as OpenSSL, Java and Windows write them): DER or PEM.

The one place that tells a raw CMS file from a MIME message, and reads and writes the PEM
armour (RFC 7468 ``-----BEGIN CMS-----``; OpenSSL's ``PKCS7`` label is read too). A
message cannot be mistaken for one: a header block starts with a field name, never with a
DER ContentInfo (a SEQUENCE whose first element is one of the four CMS content-type OIDs
an S/MIME layer has) or with five dashes. Framing only: no ASN.1 library is needed to
decide, so the MIME layer can ask too.
"""

from __future__ import annotations

import binascii
import re
from typing import Literal, TypeAlias

from ..errors import ParseError
from .der import SEQUENCE, UNIVERSAL, read
from .wire import b64_decode

__all__ = ["CMS_TYPES", "RawForm", "cms_type", "detect_raw_cms", "read_raw_cms", "to_pem"]

RawForm: TypeAlias = Literal["der", "pem"]

_OBJECT_IDENTIFIER = 6
_PKCS7 = bytes.fromhex("2a864886f70d0107")  # 1.2.840.113549.1.7
_SMIME_CT = bytes.fromhex("2a864886f70d01091001")  # 1.2.840.113549.1.9.16.1
#: The content types of an S/MIME layer, by the DER of their OID: the smime-type they are.
CMS_TYPES = {
    _PKCS7 + b"\x02": "signed-data",
    _PKCS7 + b"\x03": "enveloped-data",
    _SMIME_CT + b"\x17": "authEnveloped-data",
    _SMIME_CT + b"\x09": "compressed-data",
}
#: PEM labels of a CMS ContentInfo: RFC 7468's, and what OpenSSL's pkcs7/smime commands write.
PEM_LABELS = (b"CMS", b"PKCS7", b"PKCS #7 SIGNED DATA")
_BEGIN = re.compile(rb"\A[ \t\r\n]*-----BEGIN ([A-Z0-9 #]{1,40})-----[ \t]*\r?\n")
_PEM_WIDTH = 64


def cms_type(data: bytes | memoryview) -> str | None:
    """The smime-type (``signed-data``...) of the ContentInfo at the start of ``data``, or
    None when it does not start with one of those (read from the framing alone)."""
    if len(data) < 4 or data[0] != 0x30:
        return None
    what = "CMS ContentInfo"
    try:
        top = read(data, 0, len(data), what)
        if not top.is_(UNIVERSAL, SEQUENCE) or not top.constructed:
            return None
        first = read(data, top.body, top.end, what)
    except ParseError:
        return None
    if not first.is_(UNIVERSAL, _OBJECT_IDENTIFIER) or first.constructed:
        return None
    return CMS_TYPES.get(bytes(data[first.body : first.end]))


def detect_raw_cms(data: bytes) -> RawForm | None:
    """``"der"`` or ``"pem"`` when ``data`` is a raw CMS file, None otherwise (a MIME
    message, or anything else: the MIME reader says what is wrong with it)."""
    if cms_type(data) is not None:
        return "der"
    match = _BEGIN.match(data)
    if match is not None and match.group(1) in PEM_LABELS:
        return "pem"
    return None


def read_raw_cms(data: bytes, form: RawForm | None = None) -> bytes:
    """The DER of a raw CMS file; ``form`` (``"der"``/``"pem"``) insists on one form.

    :class:`~smime.errors.ParseError` with a sentence when ``data`` is not one.
    """
    found = detect_raw_cms(data)
    if found == "der" and form in (None, "der"):
        return data
    if found == "pem" and form in (None, "pem"):
        return _unarmor(data)
    if form == "pem" or (form is None and data.lstrip()[:5] == b"-----"):
        raise ParseError("not a PEM CMS file: it must start with -----BEGIN CMS----- (or PKCS7)")
    raise ParseError(
        "not a DER CMS file: no ContentInfo of signed-data, enveloped-data, "
        "authEnveloped-data or compressed-data at its start"
    )


def _unarmor(data: bytes) -> bytes:
    match = _BEGIN.match(data)
    assert match is not None
    label = match.group(1)
    end = data.find(b"-----END " + label + b"-----", match.end())
    if end < 0:
        raise ParseError(f"malformed PEM CMS file: no -----END {label.decode()}----- line")
    der = b64_decode(memoryview(data)[match.end() : end], what="PEM CMS file")
    if cms_type(der) is None:
        raise ParseError("malformed PEM CMS file: its content is not a CMS ContentInfo")
    return der


def to_pem(der: bytes) -> bytes:
    """``der`` armoured as RFC 7468 ``CMS`` (64-column lines, LF), as ``openssl cms``
    writes it; the lines are cut by C-level slicing, not a Python loop per line."""
    text = binascii.b2a_base64(der, newline=False)
    stops = range(_PEM_WIDTH, len(text) + _PEM_WIDTH, _PEM_WIDTH)
    body = b"\n".join(map(text.__getitem__, map(slice, range(0, len(text), _PEM_WIDTH), stops)))
    return b"-----BEGIN CMS-----\n" + body + (b"\n" if body else b"") + b"-----END CMS-----\n"
