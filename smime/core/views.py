"""Views for people: the facts of a certificate, and one HTML card to show facts in.

Every value a notebook or REPL shows (identities, trust stores, results, the inspection
tree, the test PKI) describes certificates with :func:`certificate_facts` and renders with
:func:`card_html`, so they look alike and a hostile field is escaped in one place.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from ..algorithms import oid_name
from .certs import email_addresses, extension
from .names import issuer_text, subject_text

__all__ = [
    "TEXT_LIMIT",
    "Rows",
    "card_html",
    "card_lines",
    "certificate_dict",
    "certificate_facts",
    "content_preview",
    "cut",
    "key_description",
    "preformatted_html",
]

Rows = Iterable[tuple[str, str]]
#: Longest value shown whole; longer ones are cut and their size given.
TEXT_LIMIT = 160

_KEY_USAGES = (
    ("digitalSignature", "digital_signature"), ("nonRepudiation", "content_commitment"),
    ("keyEncipherment", "key_encipherment"), ("dataEncipherment", "data_encipherment"),
    ("keyAgreement", "key_agreement"), ("keyCertSign", "key_cert_sign"),
    ("cRLSign", "crl_sign"),
)


_SAN_KINDS: dict[type, str] = {
    x509.RFC822Name: "email", x509.DNSName: "DNS", x509.UniformResourceIdentifier: "URI",
    x509.IPAddress: "IP", x509.DirectoryName: "dirName", x509.RegisteredID: "RID",
    x509.OtherName: "otherName",
}


def cut(value: str, limit: int = TEXT_LIMIT) -> str:
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value.encode('utf-8', 'replace'))} bytes)"


def content_preview(data: bytes, limit: int = 2000, *, encoding: str = "utf-8") -> str:
    """The start of a message as text, for a notebook: ``limit`` characters at most, read
    in ``encoding`` (UTF-8 when Python does not know it)."""
    try:
        text = data[: limit * 4].decode(encoding, "replace")
    except (LookupError, UnicodeError):  # a charset Python does not know, or cannot
        text = data[: limit * 4].decode("utf-8", "replace")  # read leniently (idna)
    if len(text) > limit or len(data) > limit * 4:
        text = f"{text[:limit]}… ({len(data)} bytes)"
    return text


_T = TypeVar("_T")


def _safe(read: Callable[[], _T]) -> _T | str:
    """A certificate field, or a note: cryptography parses some fields only when read."""
    try:
        return read()
    except Exception as exc:  # ValueError and its relatives from a malformed certificate
        return cut(f"(unreadable: {exc})")


def key_description(cert: x509.Certificate) -> str:
    """``RSA 2048``, ``EC secp256r1``, ``Ed25519``...: the public key in a few words."""
    post_quantum = oid_name(cert.public_key_algorithm_oid.dotted_string)
    if post_quantum.startswith(("ml-kem-", "ml-dsa-")):  # ML-KEM-512 too, which
        return post_quantum.upper()                     # cryptography cannot load
    try:
        key = cert.public_key()
    except Exception:  # an algorithm cryptography cannot load
        return "unsupported key"
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        return f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'} {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    for kind, name in ((ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"),
                       (x25519.X25519PublicKey, "X25519"), (x448.X448PublicKey, "X448")):
        if isinstance(key, kind):
            return name
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey")


def _key_usages(cert: x509.Certificate) -> list[str] | None:
    """The keyUsage bits set, by their RFC 5280 names; None without the extension (any)."""
    usage = extension(cert, x509.KeyUsage, strict=True)
    if usage is None:
        return None
    names = []
    for name, attribute in _KEY_USAGES:
        try:
            if getattr(usage, attribute):
                names.append(name)
        except ValueError:  # encipherOnly/decipherOnly read without keyAgreement
            continue
    return names


def _extended_key_usages(cert: x509.Certificate) -> list[str] | None:
    """The extendedKeyUsage purposes, named or dotted; None without the extension (any)."""
    usage = extension(cert, x509.ExtendedKeyUsage, strict=True)
    if usage is None:
        return None
    return [getattr(oid, "_name", None) or oid.dotted_string for oid in usage]


def _alternative_names(cert: x509.Certificate) -> list[str]:
    """Every subjectAltName entry as ``kind:value`` (``email:a@example.com``, ``DNS:...``)."""
    san = extension(cert, x509.SubjectAlternativeName, strict=True)
    if san is None:
        return []
    found = []
    for general in san:
        kind = _SAN_KINDS.get(type(general), type(general).__name__)
        value = general.value
        if isinstance(general, x509.DirectoryName):
            value = general.value.rfc4514_string()
        elif isinstance(general, x509.OtherName):
            value = general.type_id.dotted_string
        elif isinstance(general, x509.RegisteredID):
            value = general.value.dotted_string
        found.append(f"{kind}:{value}")
    return found


def _listed(names: list[str] | None) -> str:
    return "- (any)" if names is None else ", ".join(names) or "none"


def certificate_facts(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    """What a person checks on a certificate, each fact readable even when others are not."""
    return (
        ("subject", subject_text(cert, readable=True)),
        ("issuer", issuer_text(cert, readable=True)),
        ("serial", _safe(lambda: f"{cert.serial_number:#x}")),
        ("valid", _safe(lambda: f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} .. "
                                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")),
        ("key", _safe(lambda: key_description(cert))),
        ("email", _safe(lambda: ", ".join(email_addresses(cert)) or "-")),
        ("alternative names", _safe(lambda: ", ".join(_alternative_names(cert)) or "-")),
        ("key usage", _safe(lambda: _listed(_key_usages(cert)))),
        ("extended key usage", _safe(lambda: _listed(_extended_key_usages(cert)))),
        ("SHA-256 fingerprint", _safe(lambda: cert.fingerprint(hashes.SHA256()).hex(":"))),
    )


def certificate_dict(cert: x509.Certificate) -> dict[str, Any]:
    """The facts of :func:`certificate_facts` as JSON-safe data, for ``to_dict()``: times in
    ISO 8601, lists as lists, the serial and fingerprint in hex; a field that cannot be read
    is an ``(unreadable: ...)`` string. ``key_usage``/``extended_key_usage`` are None when
    the certificate has no such extension (any use)."""
    return {
        "subject": subject_text(cert, readable=True),
        "issuer": issuer_text(cert, readable=True),
        "serial": _safe(lambda: format(cert.serial_number, "x")),
        "not_before": _safe(lambda: cert.not_valid_before_utc.isoformat()),
        "not_after": _safe(lambda: cert.not_valid_after_utc.isoformat()),
        "key": _safe(lambda: key_description(cert)),
        "email_addresses": _safe(lambda: list(email_addresses(cert))),
        "alternative_names": _safe(lambda: _alternative_names(cert)),
        "key_usage": _safe(lambda: _key_usages(cert)),
        "extended_key_usage": _safe(lambda: _extended_key_usages(cert)),
        "sha256_fingerprint": _safe(lambda: cert.fingerprint(hashes.SHA256()).hex()),
    }


def card_html(kind: str, title: str, rows: Rows = (), inner: str = "", *,
              opened: bool = True) -> str:
    """A folding card: ``kind`` and ``title`` above a table of ``rows``, then ``inner`` HTML
    (other cards). Every text is escaped here."""
    table = "".join(
        f"<tr><th style=\"text-align:left\">{html.escape(name)}</th>"
        f"<td style=\"overflow-wrap:anywhere\">{html.escape(cut(value))}</td></tr>"
        for name, value in rows
    )
    return (
        f"<details{' open' if opened else ''}><summary><b>{html.escape(kind)}</b> "
        f"{html.escape(cut(title))}</summary><div style=\"margin-left:1.2em\">"
        f"{f'<table>{table}</table>' if table else ''}{inner}</div></details>"
    )


def preformatted_html(text: str) -> str:
    """Text as it is (a message preview), wrapped inside the page, escaped."""
    return f'<pre style="white-space:pre-wrap;overflow-wrap:anywhere">{html.escape(text)}</pre>'


def card_lines(title: str, rows: Rows = (), depth: int = 0) -> list[str]:
    """The text form of a card: the title, then ``name: value`` lines indented under it."""
    pad = "  " * depth
    return [f"{pad}{title}", *(f"{pad}  {name}: {cut(value)}" for name, value in rows)]
