"""Header protection (RFC 9788): the header section inside the cryptographic payload.

Without it, From, To, Subject and Date travel outside the signature and the encryption:
anyone may change them, and everyone on the way reads them. RFC 9788 copies the whole
header section into the root of the cryptographic payload, marks that part with the
``hp`` Content-Type parameter (``"clear"`` when only signed, ``"cipher"`` when
encrypted), and for encrypted mail lets a *header confidentiality policy* (HCP) decide
which values are shown outside; ``HP-Outer`` fields inside record what was shown, so a
receiver can tell the sender's choices from tampering. A Legacy Display Element (the
hidden fields as text at the top of each main body part, marked ``hp-legacy-display="1"``)
shows them to clients that know nothing of header protection.

This module composes and reads that structure; it does no cryptography.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from typing import Literal, TypeAlias

from ..core.wire import b64_decode, b64_encode, is_content_field, to_crlf
from ..errors import InvalidOptionError, ParseError, SMIMEError, UsageError
from ._encode import is_seven_bit_safe, qp_decode, qp_encode
from ._headers import fold_header, header_text
from ._raw import RawEntity, read_entity, split_multipart
from .canonical import PreparedEntity, _with_param
from .message import check_is_message, reading
from .parse import _param

__all__ = [
    "HCP_NAMES",
    "OBSCURED_SUBJECT",
    "USER_FACING",
    "HeaderPolicy",
    "ProtectedSection",
    "carried_hp",
    "hcp_baseline",
    "hcp_no_confidentiality",
    "header_policy",
    "protect_entity",
    "protected_section",
    "without_legacy_display",
]

#: A header confidentiality policy: (field name, protected value) -> the value shown
#: outside, or None to leave the field out (RFC 9788 §3.2).
HeaderPolicy: TypeAlias = Callable[[str, str], "str | None"]
HPValue: TypeAlias = Literal["clear", "cipher"]

#: The Subject hcp_baseline shows outside (RFC 9788 §3.2.3).
OBSCURED_SUBJECT = "[...]"
#: Fields a reader sees (RFC 9787 §1.1.2): the Legacy Display Element repeats those the
#: policy hid, and a receiver compares these between outside and inside.
USER_FACING = ("from", "to", "cc", "date", "subject", "reply-to", "followup-to")


def hcp_baseline(name: str, value: str) -> str | None:
    """RFC 9788's recommended policy: Subject becomes ``[...]``, Keywords and Comments are
    left out, every other field (From, To, Cc, Date, Message-ID, ...) is shown as it is,
    because transport and reply threading need them."""
    lname = name.lower()
    if lname == "subject":
        return OBSCURED_SUBJECT
    if lname in ("keywords", "comments"):
        return None
    return value


def hcp_no_confidentiality(name: str, value: str) -> str | None:
    """Every field shown outside unchanged: integrity for the headers, no confidentiality."""
    return value


HCP_NAMES: dict[str, HeaderPolicy] = {
    "hcp_baseline": hcp_baseline,
    "hcp_no_confidentiality": hcp_no_confidentiality,
}


def header_policy(value: object) -> HeaderPolicy:
    """The policy a ``header_confidentiality=`` keyword names (or the callable given)."""
    if isinstance(value, str):
        policy = HCP_NAMES.get(value)
        if policy is None:
            raise InvalidOptionError(
                f"header_confidentiality={value!r} is not a policy we know; use one of: "
                + ", ".join(HCP_NAMES) + ", or a callable (name, value) -> value or None"
            )
        return policy
    if callable(value):
        return value
    raise UsageError.wrong_type(
        "header_confidentiality", value, "'hcp_baseline', 'hcp_no_confidentiality' or a callable"
    )


def _outer_value(policy: HeaderPolicy, name: str, value: str) -> str | None:
    try:
        shown = policy(name, value)
    except Exception as exc:  # the caller's code: say whose it was
        raise UsageError(
            f"header_confidentiality raised {type(exc).__name__} for the {name} field: {exc}"
        ) from exc
    if shown is not None and not isinstance(shown, str):
        raise UsageError.wrong_type(
            f"header_confidentiality's result for {name}", shown, "a string or None"
        )
    return None if shown is None else header_text(shown)


def _split_head(chunks: Sequence[bytes | memoryview]) -> tuple[bytes, list[bytes | memoryview]]:
    """The entity's header block (its CRLFs, no blank line) and the rest, uncopied when
    the block lies in the first chunk."""
    first = bytes(chunks[0])
    end = first.find(b"\r\n\r\n")
    if end < 0 and first.startswith(b"\r\n"):
        return b"", [first, *chunks[1:]]
    if end < 0:
        first = b"".join(bytes(c) for c in chunks)
        end = first.find(b"\r\n\r\n")
        if end < 0:
            raise ParseError("the entity to protect has no end of its header section")
        chunks = [first]
    return first[: end + 2], [memoryview(first)[end + 2 :], *chunks[1:]]


def _fields(block: bytes) -> list[bytes]:
    """Each header field of a CRLF block, with its folded lines and its CRLF."""
    fields: list[bytes] = []
    for line in block.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
        else:
            fields.append(line + b"\r\n")
    return fields


def _with_hp(fields: list[bytes], hp: HPValue) -> list[bytes]:
    """The entity's fields with ``hp`` set on its Content-Type (added when it had none)."""
    out = []
    found = False
    for field in fields:
        name, _, raw = field.partition(b":")
        if name.strip().lower() == b"content-type" and not found:
            found = True
            text = header_text(raw.decode("ascii", "surrogateescape"))
            field = fold_header("Content-Type", _with_param(text, "hp", hp)).encode("ascii")
        out.append(field)
    if not found:
        value = _with_param('text/plain; charset="us-ascii"', "hp", hp)
        out.insert(0, fold_header("Content-Type", value).encode("ascii"))
    return out


#: The class of the HTML element holding a Legacy Display Element (RFC 9788 §4.5.2).
LEGACY_DISPLAY_CLASS = "header-protection-legacy-display"
_HTML_BODY = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
_HTML_ELEMENT = re.compile(
    rb'<div\s+class="' + LEGACY_DISPLAY_CLASS.encode("ascii") + rb'"\s*>.*?</div>\s*',
    re.IGNORECASE | re.DOTALL,
)
_MAX_NESTING = 8
_MARKED = re.compile(rb"hp-legacy-display", re.IGNORECASE)
TextRewrite: TypeAlias = Callable[[str, str, bytes], "tuple[bytes, str] | None"]


def _codec(charset: str) -> str | None:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def _decoded_body(entity: RawEntity) -> tuple[bytes, str]:
    """The part's body decoded from its transfer encoding, and that encoding's name."""
    cte = header_text(entity.headers.get("content-transfer-encoding") or "7bit").lower()
    body = entity.body_bytes
    if cte == "base64":
        return b64_decode(body, lenient=True, what="text part"), cte
    if cte == "quoted-printable":
        return qp_decode(body), cte
    return body, cte


def _encoded_body(data: bytes, cte: str) -> tuple[bytes, str]:
    """``data`` in a transfer encoding as safe as ``cte`` (7-bit safe stays 7-bit safe)."""
    if cte == "base64":
        return b64_encode(data), cte
    if cte != "quoted-printable" and data.isascii() and is_seven_bit_safe(data):
        return data, cte
    return qp_encode(data), "quoted-printable"


def _rewrite_text(entity: RawEntity, rewrite: TextRewrite, param: str | None) -> bytes | None:
    """The text part with its decoded body rewritten, re-encoded, and its Content-Type
    given ``hp-legacy-display=param`` (None: the parameter removed); None when unchanged."""
    charset = (_param(entity.headers, "charset") or "us-ascii").strip()
    body, cte = _decoded_body(entity)
    done = rewrite(entity.content_type, charset, body)
    if done is None:
        return None
    new_body, new_charset = done
    encoded, new_cte = _encoded_body(new_body, cte)
    if not entity.body_bytes.endswith(b"\r\n"):
        encoded = encoded.removesuffix(b"\r\n")  # the delimiter's line break follows
    fields = []
    for field in _fields(entity.data[entity.start : entity.body - 2]):
        name = field.partition(b":")[0].strip().lower()
        if name == b"content-type":
            value = header_text(field.partition(b":")[2].decode("ascii", "surrogateescape"))
            if new_charset != charset:
                value = _with_param(value, "charset", new_charset)
            value = (_with_param(value, "hp-legacy-display", param) if param is not None
                     else _without_param(value, "hp-legacy-display"))
            field = fold_header("Content-Type", value).encode("ascii")
        elif name == b"content-transfer-encoding" and new_cte != cte:
            continue
        fields.append(field)
    if new_cte != cte:
        fields.append(f"Content-Transfer-Encoding: {new_cte}\r\n".encode("ascii"))
    return b"".join(fields) + b"\r\n" + encoded


def _without_param(content_type: str, name: str) -> str:
    scratch = Message()
    scratch["Content-Type"] = content_type
    scratch.del_param(name)
    return header_text(scratch["Content-Type"])


def _main_parts(
    data: bytes, entity: RawEntity, rewrite: TextRewrite, param: str | None, depth: int = 0
) -> bytes | None:
    """``entity`` with its main body parts (RFC 9788 §4.5: the text part; every part of a
    multipart/alternative; the first part of a multipart/mixed or /related) rewritten, as
    bytes; None when none changed. Other parts are copied byte for byte."""
    ctype = entity.content_type
    if ctype in ("text/plain", "text/html"):
        marked = (_param(entity.headers, "hp-legacy-display") or "").strip() == "1"
        if param is None and not marked:
            return None  # removing: only what the sender marked as an element
        return _rewrite_text(entity, rewrite, param)
    boundary = entity.boundary() if ctype.startswith("multipart/") else None
    if boundary is None or depth >= _MAX_NESTING:
        return None
    spans, _closed = split_multipart(data, entity.body, entity.end, boundary)
    if ctype == "multipart/alternative":
        targets = range(len(spans))
    elif ctype in ("multipart/mixed", "multipart/related"):
        targets = range(min(1, len(spans)))
    else:
        return None
    out: list[bytes] = []
    pos = entity.start
    changed = False
    for i in targets:
        start, end = spans[i]
        new = _main_parts(data, read_entity(data, start, end), rewrite, param, depth + 1)
        if new is not None:
            out += [data[pos:start], new]
            pos = end
            changed = True
    if not changed:
        return None
    out.append(data[pos : entity.end])
    return b"".join(out)


def _display_lines(shown: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{name}: {_readable(value)}\r\n" for name, value in shown)


def _readable(value: str) -> str:
    """A header value as a reader sees it: encoded words decoded."""
    if "=?" not in value:
        return value
    try:
        return header_text(str(make_header(decode_header(value))))
    except (ValueError, LookupError, HeaderParseError):
        return value


def _injector(shown: Sequence[tuple[str, str]]) -> TextRewrite:
    """A rewrite putting the Legacy Display Element in front of a text part's content."""
    lines = _display_lines(shown)

    def inject(ctype: str, charset: str, body: bytes) -> tuple[bytes, str] | None:
        if ctype == "text/html":
            element = (f'<div class="{LEGACY_DISPLAY_CLASS}"><pre>{html.escape(lines)}'
                       "</pre></div>\r\n")
        else:
            element = lines + "\r\n"
        codec = _codec(charset)
        if codec is None:
            return None
        if codec == "ascii" and not element.isascii():
            charset, codec = "utf-8", "utf-8"  # US-ASCII text is UTF-8 text too
        try:
            prefix = element.encode(codec)
        except UnicodeEncodeError:
            return None  # the part's charset cannot spell the value: no element there
        if ctype == "text/html":
            tag = _HTML_BODY.search(body)
            if tag is not None:
                return body[: tag.end()] + b"\r\n" + prefix + body[tag.end() :], charset
        return prefix + body, charset

    return inject


def _strip(ctype: str, charset: str, body: bytes) -> tuple[bytes, str] | None:
    """The Legacy Display Element taken out of a text part (RFC 9788 §4.5.3)."""
    if ctype == "text/html":
        found = _HTML_ELEMENT.search(body)
        return (body[: found.start()] + body[found.end() :], charset) if found else None
    end = body.find(b"\r\n\r\n")
    if end < 0:
        end = body.find(b"\n\n")
        return (body[end + 2 :], charset) if end >= 0 else None
    return body[end + 4 :], charset


def protect_entity(
    prepared: PreparedEntity,
    *,
    hp: HPValue,
    policy: HeaderPolicy | None = None,
    legacy_display: bool = True,
) -> PreparedEntity:
    """``prepared`` as an RFC 9788 cryptographic payload, and the fields to put outside.

    Every header field of the message (From, To, Subject, Date, Message-ID, ...) goes into
    the payload's root part, whose Content-Type gets ``hp``. With ``hp="cipher"``,
    ``policy`` (default :func:`hcp_baseline`) decides each field's outside value, and an
    ``HP-Outer`` field inside records each one shown; when a user-facing field was hidden
    or changed and ``legacy_display``, each main body part (RFC 9788 §4.5) begins with a
    Legacy Display Element repeating it. ``hp="clear"`` keeps every field outside.
    """
    if hp not in ("clear", "cipher"):
        raise InvalidOptionError(f"hp={hp!r}: use 'clear' or 'cipher'")
    # Bcc stays outside only, for the transport: inside, every recipient would read it
    # (RFC 9788 §11.4 on Bcc).
    fields = [(n, v) for n, v in prepared.outer_headers if n.lower() != "bcc"]
    blind = [(n, v) for n, v in prepared.outer_headers if n.lower() == "bcc"]
    outer: list[tuple[str, str]] = []
    hidden: list[tuple[str, str]] = []
    if hp == "cipher":
        rule = policy or hcp_baseline
        for name, value in fields:
            shown = _outer_value(rule, name, value)
            if shown is not None:
                outer.append((name, shown))
            if name.lower() in USER_FACING and shown != header_text(value):
                hidden.append((name, value))
    else:
        outer = fields
    head, rest = _split_head(prepared.chunks)
    if hidden and legacy_display:
        entity = prepared.entity
        with reading("message"):
            injected = _main_parts(entity, read_entity(entity, 0, len(entity)),
                                   _injector(hidden), "1")
        if injected is not None:
            head, rest = _split_head((injected,))
    section = [fold_header(name, value).encode("ascii") for name, value in fields]
    if hp == "cipher":
        section += [
            fold_header("HP-Outer", f"{name}: {value}").encode("ascii") for name, value in outer
        ]
    block = b"".join(_with_hp(_fields(head), hp) + section)
    return PreparedEntity((block, *rest), (*outer, *blind))


def _first_part(top: RawEntity) -> RawEntity | None:
    """The first part of a multipart entity, read, or None."""
    entity = top.data
    boundary = top.boundary()
    if not boundary:
        return None
    spans, _closed = split_multipart(entity, top.body, top.end, boundary)
    return read_entity(entity, *spans[0]) if spans else None


def carried_hp(entity: bytes) -> str | None:
    """The ``hp`` value of the entity's root part, or of the first part of a
    multipart/signed entity (what a signer put there): None when it carries none."""
    try:
        check_is_message(entity)
    except ParseError:
        return None
    with reading("content"):
        top = read_entity(entity, 0, len(entity))
        value = _param(top.headers, "hp")
        if value is None and top.content_type == "multipart/signed":
            first = _first_part(top)
            value = None if first is None else _param(first.headers, "hp")
    return None if value is None else value.strip().lower()


@dataclass(frozen=True)
class ProtectedSection:
    """The header section a cryptographic payload carries (RFC 9788, or the older
    ``protected-headers="v1"``): ``form`` is ``"cipher"``, ``"clear"`` or ``"v1"``;
    ``headers`` the protected fields (no HP-Outer); ``hp_outer`` the ``(name, value)``
    pairs the sender recorded as shown outside (``hp="cipher"`` only)."""

    form: str
    headers: tuple[tuple[str, str], ...]
    hp_outer: tuple[tuple[str, str], ...] = ()
    legacy_display: bool = False


def protected_section(entity: bytes, *, top: RawEntity | None = None) -> ProtectedSection | None:
    """The protected header section at the root of ``entity`` (a decrypted or signed
    payload), or None when the root carries no ``hp`` nor ``protected-headers="v1"``.
    ``top``: ``entity`` already read (see :class:`SignedView`), not read again."""
    if top is None or not top.is_whole(entity):
        top = None
        try:
            check_is_message(entity)
        except ParseError:
            return None
    with reading("protected content"):
        if top is None:
            top = read_entity(entity, 0, len(entity))
        hp = (_param(top.headers, "hp") or "").strip().lower()
        legacy = (_param(top.headers, "protected-headers") or "").strip().lower()
        form = hp if hp in ("clear", "cipher") else "v1" if legacy == "v1" else ""
        if not form:
            return None
        headers: list[tuple[str, str]] = []
        outer: list[tuple[str, str]] = []
        for name, value in top.headers.raw_items():
            if is_content_field(name):
                continue
            text = header_text(value)
            if name.lower() == "hp-outer":
                if form == "cipher":
                    field, colon, shown = text.partition(":")
                    if colon and field.strip():
                        outer.append((field.strip(), shown.strip()))
                continue
            headers.append((name, text))
        lde = _MARKED.search(entity) is not None
    return ProtectedSection(form, tuple(headers), tuple(outer), lde)


def without_legacy_display(entity: bytes) -> bytes:
    """``entity`` as a client that understands header protection shows it: each main body
    part marked ``hp-legacy-display="1"`` loses its Legacy Display Element (RFC 9788
    §4.5.3); anything else is returned as it is."""
    entity = to_crlf(entity, lone_cr=False)
    try:
        with reading("protected content"):
            top = read_entity(entity, 0, len(entity))
            stripped = _main_parts(entity, top, _strip, None)
    except SMIMEError:
        return entity  # a damaged element: shown as it came, not a failure to read the mail
    return entity if stripped is None else stripped
