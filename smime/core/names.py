"""Distinguished names and certificates as text for people: the one formatter.

Names come from mail, so they are hostile input: a value may hold control characters, a
string type may not decode, and cryptography refuses to parse some names at all (with a
debug text such as ``ParseError { kind: InvalidValue ... }``). Every function here returns
text and never raises: a value that does not decode is shown as RFC 4514's ``#`` and the
hex of its encoding, control characters and line separators as ``\\XX`` escapes (RFC 4514
allows them for any character, so the text still says the name exactly, on one line),
and a name that cannot be read at all as ``(unreadable name)``. The text is not made safe
for a terminal (bidi controls, for one, pass through); the CLI does that when it prints.

The form is RFC 4514 (``CN=Alice,O=Example``, most specific first, as cryptography's
``rfc4514_string`` writes it); ``readable=True`` also spells ``emailAddress`` and
``serialNumber`` as OpenSSL does, instead of their dotted OIDs.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..algorithms import COMMON_NAME_OID, NAME_KEYS, READABLE_NAME_KEYS

__all__ = [
    "UNREADABLE",
    "certificate_label",
    "issuer_text",
    "name_text",
    "subject_text",
]

#: What a name that cannot be read at all is shown as.
UNREADABLE = "(unreadable name)"

_SPECIAL = frozenset('\\"+,;<>')


def _escape(value: str) -> str:
    """An attribute value escaped as RFC 4514 section 2.4 asks, and control characters
    (C0, DEL, C1) and the Unicode line and paragraph separators as ``\\XX`` hex pairs of
    their UTF-8 encoding (RFC 4514 lets any character be written so): the text keeps the
    name exactly and stays on one line."""
    out = []
    for char in value:
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char < " " or "\x7f" <= char <= "\x9f" or char in "\u2028\u2029":
            out.append("".join(f"\\{octet:02X}" for octet in char.encode("utf-8")))
        else:
            out.append(char)
    if value.startswith(("#", " ")):
        out[0] = "\\" + out[0]
    if value.endswith(" ") and len(value) > 1:
        out[-1] = "\\ "
    return "".join(out)


def _value_text(value: Any) -> str:
    """A string value escaped; anything else (or a string that does not decode) as ``#``
    and the hex of its DER, as RFC 4514 section 2.4 writes values without a string form."""
    try:
        native = value.native
    except Exception:  # asn1crypto decodes lazily: UnicodeDecodeError, ValueError...
        native = None
    if isinstance(native, str):
        return _escape(native)
    der: bytes = value.dump()
    return "#" + der.hex()


def _asn1_name(name: x509.Name | asn1_x509.Name | bytes) -> asn1_x509.Name:
    if isinstance(name, x509.Name):
        return asn1_x509.Name.load(name.public_bytes())
    if isinstance(name, (bytes, bytearray, memoryview)):
        return asn1_x509.Name.load(bytes(name))
    return name


def name_text(name: x509.Name | asn1_x509.Name | bytes, *, readable: bool = False) -> str:
    """A distinguished name (cryptography's, asn1crypto's or DER) as RFC 4514 text, most
    specific first; :data:`UNREADABLE` when it cannot be read at all."""
    keys = READABLE_NAME_KEYS if readable else NAME_KEYS
    try:
        rdns = list(_asn1_name(name).chosen)
        return ",".join(
            "+".join(_attribute_text(atv, keys) for atv in rdn) for rdn in reversed(rdns)
        )
    except Exception:  # a name asn1crypto cannot split into attributes
        return UNREADABLE


def _attribute_text(atv: Any, keys: dict[str, str]) -> str:
    oid = atv["type"].dotted
    return f"{keys.get(oid, oid)}={_value_text(atv['value'])}"


def _certificate_name(cert: x509.Certificate, field: str) -> asn1_x509.Name | x509.Name | None:
    """The certificate's subject or issuer; through asn1crypto when cryptography refuses
    to parse it (it parses names lazily, and strictly)."""
    try:
        name: x509.Name = getattr(cert, field)
        return name
    except ValueError:
        pass
    try:
        der = cert.public_bytes(serialization.Encoding.DER)
        return asn1_x509.Certificate.load(der)["tbs_certificate"][field]
    except Exception:  # not even asn1crypto can read the certificate
        return None


def subject_text(cert: x509.Certificate, *, readable: bool = False) -> str:
    """The certificate's subject as :func:`name_text` writes it."""
    name = _certificate_name(cert, "subject")
    return UNREADABLE if name is None else name_text(name, readable=readable)


def issuer_text(cert: x509.Certificate, *, readable: bool = False) -> str:
    """The certificate's issuer as :func:`name_text` writes it."""
    name = _certificate_name(cert, "issuer")
    return UNREADABLE if name is None else name_text(name, readable=readable)


def _common_name(cert: x509.Certificate) -> str | None:
    name = _certificate_name(cert, "subject")
    if name is None:
        return None
    try:
        for rdn in _asn1_name(name).chosen:
            for atv in rdn:
                if atv["type"].dotted == COMMON_NAME_OID and isinstance(atv["value"].native, str):
                    return str(atv["value"].native)
    except Exception:  # an unreadable name has no common name we can show
        return None
    return None


def certificate_label(cert: x509.Certificate, *, short: bool = False) -> str:
    """How sentences name one certificate: its subject, quoted, and its serial number
    (``'CN=Alice,O=Example' (serial 0x1f)``).

    ``short=True`` gives the subject's first common name alone when it has one
    (``'Alice'``), else the quoted subject: for sentences about a chain, where the serial
    would only add noise.
    """
    if short:
        common_name = _common_name(cert)
        return repr(common_name if common_name is not None else subject_text(cert))
    return f"{subject_text(cert)!r} (serial {cert.serial_number:#x})"
