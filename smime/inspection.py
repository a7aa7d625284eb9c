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
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import collapse_rfc2231_value
from typing import Any

from cryptography import x509

from . import mime
from .cms import (
    SignedDataInfo,
    content_kind,
    decompress_data,
    decrypt_enveloped_data,
    describe_enveloped_data,
    read_certs_only,
    verify_signed_data,
)
from .core.cmsfile import detect_raw_cms, read_raw_cms
from .core.names import subject_text
from .core.views import (
    card_html,
    card_lines,
    certificate_facts,
    content_preview,
    preformatted_html,
)
from .errors import LimitExceededError, SMIMEError
from .keys import Identity, certificate_emails, check_identity
from .limits import Limits, applied
from .mime import encodable_text, header_text
from .mime.message import MESSAGE_FAILURES, MessageSource

__all__ = ["Node", "decryption_html", "inspect", "verification_html"]

MAX_DEPTH = 24
MAX_PARTS = 500


@dataclass(frozen=True)
class Node:
    """One layer or part: what it is, a few facts, and what it contains."""

    kind: str
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Values come from hostile input: raw 8-bit bytes (surrogate escapes) would make
        # str(), the HTML and the JSON fail to encode as UTF-8.
        object.__setattr__(self, "title", encodable_text(self.title))
        object.__setattr__(
            self, "fields", tuple((encodable_text(n), encodable_text(v)) for n, v in self.fields)
        )

    def __str__(self) -> str:
        return "\n".join(self._lines(0))

    def _lines(self, depth: int) -> Iterator[str]:
        yield from card_lines(self.title, self.fields, depth)
        for child in self.children:
            yield from child._lines(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``json.dumps(node.to_dict())`` always works."""
        return {
            "kind": self.kind,
            "title": self.title,
            "fields": {name: value for name, value in self.fields},
            "children": [child.to_dict() for child in self.children],
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


def _cms_node(
    der: bytes, signed_content: bytes | None, identity: Identity | None, depth: int
) -> Node:
    kind = content_kind(der)
    if kind.layer == "signed":
        info = verify_signed_data(der, signed_content)
        node = _signed_node(info)
        if info.content is not None and info.signers:
            inner = _entity_node(info.content, identity, depth + 1)
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
        recipients = tuple(
            Node("recipient", r.identifier, (("kind", r.kind), ("algorithm", r.algorithm)))
            for r in summary.recipients
        )
        children: tuple[Node, ...] = recipients
        if identity is not None:
            try:
                decrypted = decrypt_enveloped_data(der, identity)
                children += (
                    Node(
                        "decrypted",
                        "decrypted content",
                        (("authenticated", "yes" if decrypted.authenticated else "no"),),
                        (_entity_node(decrypted.content, identity, depth + 1),),
                    ),
                )
            except SMIMEError as exc:
                children += (Node("error", f"could not decrypt: {exc}"),)
        title = "CMS AuthEnvelopedData" if summary.authenticated else "CMS EnvelopedData"
        return Node(
            kind.label,
            title,
            (("cipher", summary.cipher), ("recipients", str(len(recipients)))),
            children,
        )
    if kind.layer == "compressed":
        return _compressed_node(der, identity, depth)
    return Node(kind.label, f"CMS {kind.name}")


def _compressed_node(der: bytes, identity: Identity | None, depth: int) -> Node:
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
        (_entity_node(content, identity, depth + 1),),
    )


# ---------------------------------------------------------------------------- MIME parts


def _entity_node(data: bytes, identity: Identity | None, depth: int) -> Node:
    try:
        msg = mime.to_message(data)
    except SMIMEError as exc:
        return Node("error", f"unreadable MIME entity: {exc}")
    return _part_node(msg, identity, depth, [0])


def _part_node(part: Message, identity: Identity | None, depth: int, count: list[int]) -> Node:
    try:
        return _part_node_unsafe(part, identity, depth, count)
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
    part: Message, identity: Identity | None, depth: int, count: list[int]
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
    form = _protection_form(view)
    if form:
        children.append(_protected_node(part, form))
    if part.is_multipart():
        payload = part.get_payload()
        fields.append(("parts", str(len(payload))))
        if ctype == "multipart/signed":
            children.append(_smime_node(part, identity, depth))
        for sub in payload:
            if isinstance(sub, Message):
                children.append(_part_node(sub, identity, depth + 1, count))
    else:
        raw = view.get_payload(decode=True)
        size = len(raw) if isinstance(raw, bytes) else 0
        fields.append(("size", f"{size} bytes"))
        if mime.classify_part(view) == "pkcs7-mime" and isinstance(raw, bytes):
            children.append(_safe_cms(raw, None, identity, depth))
    return Node("mime", ctype, tuple(fields), tuple(children))


def _protection_form(view: Message) -> str:
    """``hp="cipher"``/``"clear"`` (RFC 9788) or ``protected-headers="v1"``, or ``""``."""
    hp = str(view.get_param("hp", "") or "").strip().lower()
    if hp in ("cipher", "clear"):
        return f'hp="{hp}"'
    legacy = str(view.get_param("protected-headers", "") or "").strip().lower()
    return 'protected-headers="v1"' if legacy == "v1" else ""


def _is_structural(name: str) -> bool:
    lname = name.lower()
    return lname.startswith("content-") or lname == "mime-version"


def _protected_node(part: Message, form: str) -> Node:
    """The header section a payload protects, its HP-Outer records; the outer values
    are put beside them by :func:`_beside_outer` once the whole tree is read."""
    protected: list[tuple[str, str]] = []
    recorded: list[tuple[str, str]] = []
    for name, value in part.raw_items():
        if _is_structural(name):
            continue
        if name.lower() == "hp-outer":
            field_name, _, shown = _shown(value).partition(":")
            recorded.append((field_name.strip(), shown.strip()))
        else:
            protected.append((name, _shown(value)))
    fields = [(f"{name} (protected)", value) for name, value in protected]
    fields += [(f"{name} (HP-Outer)", value) for name, value in recorded]
    return Node("header-protection", f"protected header section ({form})", tuple(fields))


def _beside_outer(node: Node, outer: list[tuple[str, str]]) -> Node:
    """Every header-protection node with the message's outer fields beside the protected
    ones: ``same``, ``shown as recorded`` (HP-Outer), ``hidden``, or ``DIFFERS``."""
    children = tuple(_beside_outer(child, outer) for child in node.children)
    if node.kind != "header-protection":
        return Node(node.kind, node.title, node.fields, children)
    protected = {n[: -len(" (protected)")].lower(): (n, v) for n, v in node.fields
                 if n.endswith(" (protected)")}
    recorded = {n[: -len(" (HP-Outer)")].lower(): v for n, v in node.fields
                if n.endswith(" (HP-Outer)")}
    outside = {name.lower(): (name, value) for name, value in outer}
    rows: list[tuple[str, str]] = []
    for key in dict.fromkeys([*protected, *outside]):
        name = (protected.get(key) or outside[key])[0].removesuffix(" (protected)")
        inner = protected[key][1] if key in protected else None
        out = outside[key][1] if key in outside else None
        if out is None:
            verdict = "hidden outside"
        elif key in recorded and recorded[key] == out:
            verdict = "shown as the sender's HP-Outer records" if out != inner else "same"
        elif inner is None:
            verdict = "ADDED outside (not protected)"
        else:
            verdict = "same" if out == inner else "DIFFERS outside"
        rows.append((name, f"protected {inner!r} | outside {out!r}: {verdict}"))
    return Node(node.kind, node.title, tuple(rows), children)


def _smime_node(part: Message, identity: Identity | None, depth: int) -> Node:
    try:
        found = mime.find_smime_part(mime.message_bytes(part))
    except SMIMEError as exc:
        return Node("error", f"unreadable signature: {exc}")
    if found is None or found.der is None:
        return Node("error", "multipart/signed without a readable signature")
    return _safe_cms(found.der, found.signed_content, identity, depth)


def _safe_cms(der: bytes, signed: bytes | None, identity: Identity | None, depth: int) -> Node:
    try:
        return _cms_node(der, signed, identity, depth)
    except SMIMEError as exc:
        return Node("error", f"unreadable CMS: {exc}")


def inspect(
    message: MessageSource,
    identity: Identity | None = None,
    *,
    limits: Limits | None = None,
) -> Node:
    """The tree of ``message``'s MIME parts and CMS layers (see the module docstring).

    ``limits`` caps the work a hostile message can cause (:class:`smime.Limits`); a
    compressed layer beyond them is shown with the error, not inflated.
    """
    if identity is not None:
        identity = check_identity(identity)
    with applied(limits):
        if not isinstance(message, (str, Message)):
            data = mime.input_bytes(message)
            form = detect_raw_cms(data)
            if form is not None:  # a raw .p7m/.p7s file: its one CMS layer
                fields = (("size", f"{len(data)} bytes"),)
                child = _safe_cms(read_raw_cms(data), None, identity, 0)
                return Node("file", f"raw CMS file ({form.upper()})", fields, (child,))
            message = data
        msg: EmailMessage = mime.to_message(message)
        root = _part_node(msg, identity, 0, [0])
        if not root.find("header-protection"):
            return root
        outer = [(name, _shown(value)) for name, value in msg.raw_items()
                 if not _is_structural(name)]
        return _beside_outer(root, outer)


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
