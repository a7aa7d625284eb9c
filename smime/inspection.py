"""Look inside a message: a tree of its MIME parts and CMS layers, for notebooks and the CLI.

``inspect(message)`` never needs a key: encrypted layers show their recipients. With an
``identity`` the tree continues into the decrypted content. The tree prints as indented
text, renders as collapsible HTML in Jupyter (no JavaScript, everything escaped, long
values cut) and converts to JSON-safe data.

Headers are read as they came (unfolded, encoded words decoded), through the lenient
``compat32`` accessors: the ``email`` package's structured-header parser takes time
quadratic in a field's length and fails on some hostile values.
"""

from __future__ import annotations

import datetime as dt
import email.header
import html
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import collapse_rfc2231_value
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from . import mime
from .algorithms import READABLE_NAME_KEYS, oid_name
from .cms import (
    RecipientSummary,
    SignedDataInfo,
    content_kind,
    decompress_data,
    decrypt_enveloped_data,
    describe_enveloped_data,
    read_certs_only,
    verify_signed_data,
)
from .core.certs import subject_key_identifier
from .core.cmsfile import detect_raw_cms, read_raw_cms
from .core.der import UNIVERSAL, Tlv, raw
from .core.der import read as der_read
from .core.names import issuer_text, subject_text
from .core.views import (
    card_html,
    card_lines,
    certificate_facts,
    content_preview,
    cut,
    preformatted_html,
)
from .core.wire import is_content_field
from .errors import LimitExceededError, SMIMEError, UsageError
from .keys import Identity, certificate_emails, check_identity
from .limits import (
    ASN1_DUMP_DEPTH,
    ASN1_DUMP_ELEMENTS,
    PREVIEW_CHARACTERS,
    PREVIEW_LINES,
    Limits,
    applied,
)
from .mime import encodable_text, header_text
from .mime.message import MESSAGE_FAILURES, MessageSource

__all__ = ["Node", "asn1_node", "decryption_html", "inspect", "verification_html"]

MAX_DEPTH = 24
MAX_PARTS = 500


@dataclass(frozen=True)
class Node:
    """One layer or part: what it is, a few facts, and what it contains."""

    kind: str
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = field(default_factory=tuple)
    preview: str = ""
    """The first lines of a text part's body (empty for other nodes)."""

    def __post_init__(self) -> None:
        # Values come from hostile input: raw 8-bit bytes (surrogate escapes) would make
        # str(), the HTML and the JSON fail to encode as UTF-8.
        object.__setattr__(self, "title", encodable_text(self.title))
        object.__setattr__(
            self, "fields", tuple((encodable_text(n), encodable_text(v)) for n, v in self.fields)
        )
        object.__setattr__(self, "preview", encodable_text(self.preview))

    def __str__(self) -> str:
        return "\n".join(self._lines(0))

    def _lines(self, depth: int) -> Iterator[str]:
        yield from card_lines(self.title, self.fields, depth)
        pad = "  " * (depth + 1)
        yield from (f"{pad}| {line}" for line in self.preview.splitlines())
        for child in self.children:
            yield from child._lines(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``json.dumps(node.to_dict())`` always works. ``preview`` is None
        where there is none."""
        return {
            "kind": self.kind,
            "title": self.title,
            "fields": {name: value for name, value in self.fields},
            "children": [child.to_dict() for child in self.children],
            "preview": self.preview or None,
        }

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, kind: str) -> list[Node]:
        return [node for node in self.walk() if node.kind == kind]

    def field(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def _repr_html_(self) -> str:
        return f'<div class="smime-inspect">{self._html(0)}</div>'

    def _html(self, depth: int) -> str:
        inner = "".join(child._html(depth + 1) for child in self.children)
        if self.preview:
            inner = preformatted_html(self.preview) + inner
        return card_html(self.kind, self.title, self.fields, inner, opened=depth < 3)






def _time(value: dt.datetime | None) -> str:
    return value.isoformat() if value else "-"


# ---------------------------------------------------------------------------- certificates










def certificate_node(cert: x509.Certificate) -> Node:
    return Node("certificate", subject_text(cert), certificate_facts(cert)[1:])


# ---------------------------------------------------------------------------- CMS layers


def _signed_node(info: SignedDataInfo) -> Node:
    signers = []
    for check in info.signers:
        cert = check.certificate
        signers.append(
            Node(
                "signer",
                ", ".join(certificate_emails(cert)) if cert else check.identifier,
                (
                    ("identifier", check.identifier),
                    ("subject", subject_text(cert) if cert
                     else "(certificate not in message)"),
                    ("digest", check.digest_algorithm),
                    ("signature", check.signature_algorithm),
                    ("signing time", _time(check.signing_time)),
                    ("signed attributes", ", ".join(check.signed_attributes) or "-"),
                    ("capabilities", ", ".join(check.capabilities) or "-"),
                    ("intact", "yes" if check.intact else "NO"),
                    ("signature valid", "yes" if check.signature_valid else "NO"),
                    *(("problem", str(p)) for p in check.problems),
                ),
            )
        )
    certs = tuple(certificate_node(c) for c in info.certificates)
    return Node(
        "signed-data",
        "CMS SignedData" + (" (detached)" if info.detached else " (content inside)"),
        (
            ("content type", info.content_type),
            ("signers", str(len(info.signers))),
            ("certificates", str(len(info.certificates))),
            ("CRLs", str(len(info.crls))),
        ),
        (*signers, *certs),
    )


@dataclass(frozen=True)
class _Walk:
    """What the walk carries down: the key to decrypt with, the certificate that is "you"
    among the recipients, whether to add each CMS layer's ASN.1 structure, and the
    message's own header fields, to set beside a protected header section."""

    identity: Identity | None = None
    you: x509.Certificate | None = None
    asn1: bool = False
    outer: tuple[tuple[str, str], ...] | None = None  # the message's own header fields


def _is_you(recipient: RecipientSummary, you: x509.Certificate) -> bool:
    """Whether the recipient names ``you``: by issuer and serial number, or by subject key
    identifier (what decryption looks for; the private key is not needed to tell)."""
    if recipient.ski is not None:
        ski = subject_key_identifier(you)
        return ski is not None and ski.hex() == recipient.ski
    return (recipient.serial is not None and recipient.serial == you.serial_number
            and recipient.issuer == issuer_text(you))


def _recipient_node(recipient: RecipientSummary, you: x509.Certificate | None) -> Node:
    fields = (("kind", recipient.kind), ("algorithm", recipient.algorithm))
    if you is not None and _is_you(recipient, you):
        return Node("recipient", f"{recipient.identifier} (you)",
                    (*fields, ("you", subject_text(you, readable=True))))
    return Node("recipient", recipient.identifier, fields)


def _cms_node(
    der: bytes, signed_content: bytes | None, walk: _Walk, depth: int
) -> Node:
    kind = content_kind(der)
    if kind.layer == "signed":
        info = verify_signed_data(der, signed_content)
        node = _signed_node(info)
        if info.content is not None and info.signers:
            inner = _entity_node(info.content, walk, depth + 1)
            node = Node(node.kind, node.title, node.fields, (*node.children, inner))
        if not info.signers:
            node = Node(
                "certs-only",
                "certificates only (no signers)",
                node.fields[2:3],
                tuple(certificate_node(c) for c in read_certs_only(der)),
            )
        return node
    if kind.layer == "encrypted":
        summary = describe_enveloped_data(der)
        recipients = tuple(_recipient_node(r, walk.you) for r in summary.recipients)
        children: tuple[Node, ...] = recipients
        if walk.identity is not None:
            try:
                decrypted = decrypt_enveloped_data(der, walk.identity)
                children += (
                    Node(
                        "decrypted",
                        "decrypted content",
                        (("authenticated", "yes" if decrypted.authenticated else "no"),),
                        (_entity_node(decrypted.content, walk, depth + 1),),
                    ),
                )
            except SMIMEError as exc:
                children += (Node("error", f"could not decrypt: {exc}"),)
        title = "CMS AuthEnvelopedData" if summary.authenticated else "CMS EnvelopedData"
        fields: tuple[tuple[str, str], ...] = (
            ("cipher", summary.cipher), ("recipients", str(len(recipients))))
        if walk.you is not None:
            mine = [str(n) for n, r in enumerate(recipients, 1) if r.field("you") is not None]
            fields += (("you", f"recipient {', '.join(mine)}" if mine else "not a recipient"),)
        return Node(kind.label, title, fields, children)
    if kind.layer == "compressed":
        return _compressed_node(der, walk, depth)
    return Node(kind.label, f"CMS {kind.name}")


def _compressed_node(der: bytes, walk: _Walk, depth: int) -> Node:
    """The compressed layer; inflated under the caps of the call, so a bomb costs little."""
    title = "CMS CompressedData (zlib)"
    try:
        content = decompress_data(der)
    except LimitExceededError as exc:
        fields = (("compressed size", f"{len(der)} bytes"),)
        return Node("compressed-data", title, fields, (Node("error", str(exc)),))
    return Node(
        "compressed-data",
        title,
        (("compressed size", f"{len(der)} bytes"), ("uncompressed size", f"{len(content)} bytes")),
        (_entity_node(content, walk, depth + 1),),
    )


# ---------------------------------------------------------------------------- MIME parts


def _entity_node(data: bytes, walk: _Walk, depth: int) -> Node:
    try:
        msg = mime.to_message(data)
    except SMIMEError as exc:
        return Node("error", f"unreadable MIME entity: {exc}")
    return _part_node(msg, walk, depth, [0])


def _part_node(part: Message, walk: _Walk, depth: int, count: list[int]) -> Node:
    try:
        return _part_node_unsafe(part, walk, depth, count)
    except MESSAGE_FAILURES as exc:  # the email package on damaged headers or bodies
        return Node("error", f"unreadable MIME part: {exc}")


def _compat_view(part: Message) -> tuple[Message, dict[str, Any]]:
    """``part``'s headers and payload for ``compat32``'s accessors (linear, no header
    objects), and each header's first value as it came (``compat32`` would turn 8-bit text
    into replacement characters)."""
    view = Message(policy=compat32)
    first: dict[str, Any] = {}
    for name, value in part.raw_items():
        view.set_raw(name, value)
        first.setdefault(name.lower(), value)
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        view.set_payload(payload)
    return view, first


def _shown(value: Any) -> str:
    """A header value as a person reads it: unfolded, encoded words decoded, control
    characters kept for the display to escape visibly."""
    text = header_text(value, keep_controls=True)
    if "=?" not in text:
        return text
    try:
        decoded = str(email.header.make_header(email.header.decode_header(text)))
        return header_text(decoded, keep_controls=True)
    except MESSAGE_FAILURES:  # an unknown charset, a broken encoded word
        return text


def _part_node_unsafe(
    part: Message, walk: _Walk, depth: int, count: list[int]
) -> Node:
    count[0] += 1
    view, headers = _compat_view(part)
    ctype = view.get_content_type()
    params = view.get_params(header="content-type", failobj=[])[1:]
    fields: list[tuple[str, str]] = [
        (k, str(collapse_rfc2231_value(v))) for k, v in params if isinstance(k, str)
    ]
    cte = headers.get("content-transfer-encoding")
    if cte:
        fields.append(("transfer encoding", _shown(cte)))
    for header in ("from", "to", "subject", "date"):
        if header in headers:
            fields.append((header, _shown(headers[header])))
    if depth > MAX_DEPTH or count[0] > MAX_PARTS:
        return Node("error", "nested too deep or too many parts: not shown")
    children: list[Node] = []
    preview = ""
    form = _protection_form(view)
    if form:
        children.append(_protected_node(part, form, walk.outer))
    if part.is_multipart():
        payload = part.get_payload()
        fields.append(("parts", str(len(payload))))
        if ctype == "multipart/signed":
            children.append(_smime_node(part, walk, depth))
        for sub in payload:
            if isinstance(sub, Message):
                children.append(_part_node(sub, walk, depth + 1, count))
    else:
        raw = view.get_payload(decode=True)
        size = len(raw) if isinstance(raw, bytes) else 0
        fields.append(("size", f"{size} bytes"))
        if mime.classify_part(view) == "pkcs7-mime" and isinstance(raw, bytes):
            children.append(_safe_cms(raw, None, walk, depth))
        elif ctype.startswith("text/") and isinstance(raw, bytes):
            preview = _preview(raw, view.get_content_charset() or "utf-8")
    return Node("mime", ctype, tuple(fields), tuple(children), preview)


def _protection_form(view: Message) -> str:
    """``hp="cipher"``/``"clear"`` (RFC 9788) or ``protected-headers="v1"``, or ``""``."""
    hp = str(view.get_param("hp", "") or "").strip().lower()
    if hp in ("cipher", "clear"):
        return f'hp="{hp}"'
    legacy = str(view.get_param("protected-headers", "") or "").strip().lower()
    return 'protected-headers="v1"' if legacy == "v1" else ""


def _protected_node(
    part: Message, form: str, outer: Sequence[tuple[str, str]] | None
) -> Node:
    """The header section a payload protects and its HP-Outer records; with the
    message's ``outer`` fields, each beside its protected value with a verdict:
    ``same``, ``shown as recorded`` (HP-Outer), ``hidden``, or ``DIFFERS``."""
    protected: list[tuple[str, str]] = []
    recorded: list[tuple[str, str]] = []
    for name, value in part.raw_items():
        if is_content_field(name):
            continue
        if name.lower() == "hp-outer":
            field_name, _, shown = _shown(value).partition(":")
            recorded.append((field_name.strip(), shown.strip()))
        else:
            protected.append((name, _shown(value)))
    title = f"protected header section ({form})"
    if outer is None:  # a raw CMS file: no outer header section to compare with
        fields = [(f"{name} (protected)", value) for name, value in protected]
        fields += [(f"{name} (HP-Outer)", value) for name, value in recorded]
        return Node("header-protection", title, tuple(fields))
    return Node("header-protection", title, _side_by_side(protected, recorded, outer))


def _side_by_side(
    protected: Sequence[tuple[str, str]], recorded: Sequence[tuple[str, str]],
    outer: Sequence[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    inside = {name.lower(): (name, value) for name, value in protected}
    records = {name.lower(): value for name, value in recorded}
    outside = {name.lower(): (name, value) for name, value in outer}
    rows: list[tuple[str, str]] = []
    for key in dict.fromkeys([*inside, *outside]):
        name = (inside.get(key) or outside[key])[0]
        inner = inside[key][1] if key in inside else None
        out = outside[key][1] if key in outside else None
        if out is None:
            verdict = "hidden outside"
        elif key in records and records[key] == out:
            verdict = "shown as the sender's HP-Outer records" if out != inner else "same"
        elif inner is None:
            verdict = "ADDED outside (not protected)"
        else:
            verdict = "same" if out == inner else "DIFFERS outside"
        rows.append((name, f"protected {inner!r} | outside {out!r}: {verdict}"))
    return tuple(rows)


def _preview(body: bytes, charset: str) -> str:
    """The first :data:`PREVIEW_LINES` lines of a text body, in its charset."""
    text = content_preview(body, PREVIEW_CHARACTERS, encoding=charset)
    lines = text.splitlines()
    if len(lines) > PREVIEW_LINES:
        lines = [*lines[:PREVIEW_LINES], f"… ({len(body)} bytes)"]
    return "\n".join(lines)


def _smime_node(part: Message, walk: _Walk, depth: int) -> Node:
    try:
        found = mime.find_smime_part(mime.message_bytes(part))
    except SMIMEError as exc:
        return Node("error", f"unreadable signature: {exc}")
    if found is None or found.der is None:
        return Node("error", "multipart/signed without a readable signature")
    return _safe_cms(found.der, found.signed_content, walk, depth)


def _safe_cms(der: bytes, signed: bytes | None, walk: _Walk, depth: int) -> Node:
    try:
        node = _cms_node(der, signed, walk, depth)
    except SMIMEError as exc:
        node = Node("error", f"unreadable CMS: {exc}")
    if walk.asn1:
        node = Node(node.kind, node.title, node.fields, (*node.children, asn1_node(der)))
    return node


# ---------------------------------------------------------------------------- ASN.1


_UNIVERSAL_NAMES = {
    1: "BOOLEAN", 2: "INTEGER", 3: "BIT STRING", 4: "OCTET STRING", 5: "NULL",
    6: "OBJECT IDENTIFIER", 10: "ENUMERATED", 12: "UTF8String", 16: "SEQUENCE", 17: "SET",
    18: "NumericString", 19: "PrintableString", 20: "T61String", 22: "IA5String",
    23: "UTCTime", 24: "GeneralizedTime", 26: "VisibleString", 28: "UniversalString",
    30: "BMPString",
}
#: asn1crypto's classes for the primitives shown by value (it decodes them, not us).
_PRIMITIVES: dict[int, type[asn1_core.Asn1Value]] = {
    1: asn1_core.Boolean, 2: asn1_core.Integer, 10: asn1_core.Integer,
    12: asn1_core.UTF8String, 18: asn1_core.NumericString, 19: asn1_core.PrintableString,
    20: asn1_core.TeletexString, 22: asn1_core.IA5String, 23: asn1_core.UTCTime,
    24: asn1_core.GeneralizedTime, 26: asn1_core.VisibleString, 30: asn1_core.BMPString,
}
#: asn1crypto's OID tables consulted after ours (:func:`smime.algorithms.oid_name`).
_OID_TABLES: tuple[type[asn1_core.ObjectIdentifier], ...] = (
    asn1_cms.ContentType, asn1_x509.NameType, asn1_x509.ExtensionId, asn1_x509.KeyPurposeId,
)
#: Bytes of a string or number shown before it is cut.
_ASN1_VALUE_BYTES = 32


def _tag_name(tlv: Tlv) -> str:
    if tlv.tag_class == UNIVERSAL:
        return _UNIVERSAL_NAMES.get(tlv.tag, f"UNIVERSAL {tlv.tag}")
    prefix = {1: "APPLICATION ", 2: "", 3: "PRIVATE "}[tlv.tag_class]
    return f"[{prefix}{tlv.tag}]"


def _oid_text(dotted: str) -> str:
    name = oid_name(dotted)
    if name == dotted:
        name = READABLE_NAME_KEYS.get(dotted, dotted)
    for table in _OID_TABLES:
        if name != dotted:
            break
        name = table.map(dotted)
    return dotted if name == dotted else f"{dotted} ({name})"


def _asn1_value(data: bytes, tlv: Tlv) -> str:
    """A primitive element's value in a few words, decoded by asn1crypto; bytes as hex."""
    if tlv.tag_class == UNIVERSAL:
        try:
            if tlv.tag == 6:
                return _oid_text(asn1_core.ObjectIdentifier.load(raw(data, tlv)).dotted)
            if tlv.tag == 5:
                return ""
            kind = _PRIMITIVES.get(tlv.tag)
            if kind is not None:
                value = kind.load(raw(data, tlv)).native
                if isinstance(value, int) and not isinstance(value, bool) and value > 2**64:
                    return f"{value:#x}"[: 2 + 2 * _ASN1_VALUE_BYTES] + "…"
                text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
                return repr(cut(text, _ASN1_VALUE_BYTES)) if isinstance(value, str) else text
        except (ValueError, TypeError, OverflowError):  # a malformed value: shown as bytes
            pass
    end = min(tlv.end, tlv.body + _ASN1_VALUE_BYTES)  # a large OCTET STRING is not copied
    return data[tlv.body:end].hex() + ("…" if tlv.end > end else "")


def _first_children(data: bytes, parent: Tlv, most: int) -> tuple[list[Tlv], bool]:
    """At most ``most`` elements inside ``parent`` (read one by one, so a structure of a
    million elements costs what is shown), and whether there are more; none when its
    contents do not split into elements."""
    found: list[Tlv] = []
    pos = parent.body
    try:
        while pos < parent.end:
            if len(found) >= most:
                return found, True
            child = der_read(data, pos, parent.end, "ASN.1 structure")
            found.append(child)
            pos = child.next
    except SMIMEError:
        return [], False
    return found, False


def asn1_node(data: bytes) -> Node:
    """The ASN.1 structure of ``data`` as a tree: each element's tag, length and, for a
    primitive, its value (OIDs named, long values cut). Read with :mod:`smime.core.der`,
    values decoded by asn1crypto; at most :data:`~smime.limits.ASN1_DUMP_DEPTH` levels and
    :data:`~smime.limits.ASN1_DUMP_ELEMENTS` elements are shown."""
    try:
        top = der_read(data, 0, len(data), "ASN.1 structure")
    except SMIMEError as exc:
        return Node("error", f"unreadable ASN.1: {exc}")
    built: dict[int, list[Node]] = {}
    order: list[tuple[Tlv, int, int]] = []  # (element, depth, parent index), pre-order
    stack: list[tuple[Tlv, int, int]] = [(top, 0, -1)]
    cut_off = False
    while stack and len(order) < ASN1_DUMP_ELEMENTS:
        tlv, depth, parent = stack.pop()
        index = len(order)
        order.append((tlv, depth, parent))
        if tlv.constructed and depth < ASN1_DUMP_DEPTH:
            inner, truncated = _first_children(data, tlv, ASN1_DUMP_ELEMENTS - len(order))
            cut_off |= truncated
            stack.extend((child, depth + 1, index) for child in reversed(inner))
    cut_off |= bool(stack)
    for index in range(len(order) - 1, -1, -1):  # children before parents
        tlv, depth, parent = order[index]
        title = f"{_tag_name(tlv)} ({tlv.end - tlv.body} bytes)"
        if not tlv.constructed:
            value = _asn1_value(data, tlv)
            title += f": {value}" if value else ""
        elif depth >= ASN1_DUMP_DEPTH:
            title += ": … (nested deeper: not shown)"
        node = Node("asn1", title, (), tuple(reversed(built.pop(index, []))))
        built.setdefault(parent, []).append(node)
    (root,) = built[-1]
    if cut_off:
        more = Node("asn1", f"… more elements not shown (at most {ASN1_DUMP_ELEMENTS})")
        root = Node(root.kind, root.title, root.fields, (*root.children, more))
    return Node("asn1-structure", f"ASN.1 structure ({len(data)} bytes)", (), (root,))


def inspect(
    message: MessageSource,
    identity: Identity | x509.Certificate | None = None,
    *,
    limits: Limits | None = None,
    asn1: bool = False,
) -> Node:
    """The tree of ``message``'s MIME parts and CMS layers (see the module docstring).

    ``identity`` marks the recipient that is you (``(you)``, matched by issuer and serial
    number or subject key identifier) and, when it is an :class:`~smime.Identity` with its
    key, decrypts; a certificate alone only marks. ``asn1=True`` adds each CMS layer's
    ASN.1 structure (tags, lengths, OIDs named, values cut). ``limits`` caps the work a
    hostile message can cause (:class:`smime.Limits`); a compressed layer beyond them is
    shown with the error, not inflated.
    """
    if isinstance(identity, x509.Certificate):
        walk = _Walk(you=identity, asn1=asn1)
    elif isinstance(identity, Identity):
        walk = _Walk(identity, identity.certificate, asn1)
    elif identity is None:
        walk = _Walk(asn1=asn1)
    else:
        if isinstance(identity, (str, bytes, bytearray, memoryview, os.PathLike)):
            check_identity(identity)  # a key file: the error says to load it first
        raise UsageError.wrong_type(
            "identity", identity, "an Identity (from smime.load_identity) or a certificate")
    with applied(limits):
        if not isinstance(message, (str, Message)):
            data = mime.input_bytes(message)
            form = detect_raw_cms(data)
            if form is not None:  # a raw .p7m/.p7s file: its one CMS layer
                fields = (("size", f"{len(data)} bytes"),)
                child = _safe_cms(read_raw_cms(data), None, walk, 0)
                return Node("file", f"raw CMS file ({form.upper()})", fields, (child,))
            message = data
        msg: EmailMessage = mime.to_message(message)
        outer = tuple((name, _shown(value)) for name, value in msg.raw_items()
                      if not is_content_field(name))
        return _part_node(msg, replace(walk, outer=outer), 0, [0])


# ---------------------------------------------------------------------------- result views


def _escaped(text: str) -> str:
    """Text from a message, safe in HTML and encodable (no lone surrogates)."""
    return html.escape(encodable_text(text))


def verification_html(result: Any) -> str:
    """HTML for a VerificationResult (duck-typed: this layer sits below the API)."""
    verdict = "valid" if result.valid else "NOT valid"
    colour = "#1a7f37" if result.valid else "#cf222e"
    rows = []
    for signer in result.signers:
        chain = " → ".join(subject_text(c) for c in signer.chain) or "(no chain)"
        rows.append(
            "<li>"
            + _escaped(signer.describe())
            + "<br><small>chain: "
            + _escaped(chain)
            + "</small></li>"
        )
    problems = "".join(f"<li>{_escaped(str(p))}</li>" for p in result.problems)
    warnings = "".join(f"<li>{_escaped(str(p))}</li>" for p in result.warnings)
    return (
        f'<div class="smime-verification"><b style="color:{colour}">signature {verdict}</b>'
        f"<ul>{''.join(rows)}</ul>"
        + (f"<b>problems</b><ul>{problems}</ul>" if problems else "")
        + (f"<b>warnings</b><ul>{warnings}</ul>" if warnings else "")
        + "</div>"
    )


def decryption_html(message: Any) -> str:
    info = message.decryption
    auth = (
        "authenticated (AES-GCM)"
        if info.authenticated
        else "NOT authenticated (CBC: check a signature)"
    )
    # The wire bytes, not as_string(): the text generator fails on raw 8-bit headers.
    text = content_preview(message.as_bytes())
    return (
        '<div class="smime-decryption">'
        f"<b>decrypted</b>: {html.escape(info.cipher)}, {html.escape(info.key_management)}, "
        f"{html.escape(auth)}<br>{preformatted_html(text)}</div>"
    )
