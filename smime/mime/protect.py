"""Header protection (RFC 9788): the header section inside the cryptographic payload.

Without it, From, To, Subject and Date travel outside the signature and the encryption:
anyone may change them, and everyone on the way reads them. RFC 9788 copies the whole
header section into the root of the cryptographic payload, marks that part with the
``hp`` Content-Type parameter (``"clear"`` when only signed, ``"cipher"`` when
encrypted), and for encrypted mail lets a *header confidentiality policy* (HCP) decide
which values are shown outside; ``HP-Outer`` fields inside record what was shown, so a
receiver can tell the sender's choices from tampering. A Legacy Display Element (a
``text/plain`` part with ``hp-legacy-display="1"``) shows hidden values to clients that
know nothing of it.

This module composes and reads that structure; it does no cryptography.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..errors import InvalidOptionError, ParseError, UsageError
from ._encode import is_seven_bit_safe, qp_encode
from ._headers import fold_header, header_text
from ._raw import RawEntity, read_entity, split_multipart
from .canonical import PreparedEntity, _with_param, fresh_boundary
from .message import check_is_message, reading
from .parse import _param

__all__ = [
    "HCP_NAMES",
    "OBSCURED_SUBJECT",
    "USER_FACING",
    "HeaderPolicy",
    "ProtectedEntity",
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
    return first[: end + 2], [first[end + 2 :], *chunks[1:]]


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


def _legacy_display(shown: Sequence[tuple[str, str]]) -> bytes:
    """The Legacy Display Element (RFC 9788 §4.5): the hidden user-facing fields as text."""
    text = "".join(f"{name}: {value}\r\n" for name, value in shown) + "\r\n"
    body = text.encode("utf-8")
    seven_bit = body.isascii() and is_seven_bit_safe(body)
    charset = "us-ascii" if seven_bit else "utf-8"
    head = fold_header(
        "Content-Type", f'text/plain; charset="{charset}"; hp-legacy-display="1"'
    ) + "Content-Disposition: inline\r\n"
    if not seven_bit:
        head += "Content-Transfer-Encoding: quoted-printable\r\n"
        body = qp_encode(body)
    return head.encode("ascii") + b"\r\n" + body


@dataclass(frozen=True)
class ProtectedEntity:
    """The cryptographic payload with its header section, and the fields to put outside."""

    chunks: tuple[bytes | memoryview, ...]
    outer_headers: tuple[tuple[str, str], ...]

    @property
    def entity(self) -> bytes:
        return b"".join(bytes(c) for c in self.chunks)


def protect_entity(
    prepared: PreparedEntity,
    *,
    hp: HPValue,
    policy: HeaderPolicy | None = None,
    legacy_display: bool = True,
) -> ProtectedEntity:
    """``prepared`` as an RFC 9788 cryptographic payload.

    Every header field of the message (From, To, Subject, Date, Message-ID, ...) goes into
    the payload's root part, whose Content-Type gets ``hp``. With ``hp="cipher"``,
    ``policy`` (default :func:`hcp_baseline`) decides each field's outside value, and an
    ``HP-Outer`` field inside records each one shown; when a user-facing field was hidden
    or changed and ``legacy_display``, the payload becomes a multipart/mixed whose first
    part is a Legacy Display Element repeating it. ``hp="clear"`` keeps every field outside.
    """
    if hp not in ("clear", "cipher"):
        raise InvalidOptionError(f"hp={hp!r}: use 'clear' or 'cipher'")
    fields = list(prepared.outer_headers)
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
        inner = b"".join(bytes(c) for c in (head, *rest))
        element = _legacy_display(hidden)
        boundary = fresh_boundary([inner, element])
        head = fold_header(
            "Content-Type", f'multipart/mixed; boundary="{boundary.decode("ascii")}"'
        ).encode("ascii")
        rest = [
            b"\r\n--" + boundary + b"\r\n" + element + b"\r\n--" + boundary + b"\r\n",
            inner,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    section = [fold_header(name, value).encode("ascii") for name, value in fields]
    if hp == "cipher":
        section += [
            fold_header("HP-Outer", f"{name}: {value}").encode("ascii") for name, value in outer
        ]
    block = b"".join(_with_hp(_fields(head), hp) + section)
    return ProtectedEntity((block, *rest), tuple(outer))


def _first_part(entity: bytes) -> RawEntity | None:
    """The first part of a multipart entity, or None."""
    top = read_entity(entity, 0, len(entity))
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
            first = _first_part(entity)
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


def _structural(name: str) -> bool:
    lname = name.lower()
    return lname.startswith("content-") or lname == "mime-version"


def protected_section(entity: bytes) -> ProtectedSection | None:
    """The protected header section at the root of ``entity`` (a decrypted or signed
    payload), or None when the root carries no ``hp`` nor ``protected-headers="v1"``."""
    try:
        check_is_message(entity)
    except ParseError:
        return None
    with reading("protected content"):
        top = read_entity(entity, 0, len(entity))
        hp = (_param(top.headers, "hp") or "").strip().lower()
        legacy = (_param(top.headers, "protected-headers") or "").strip().lower()
        form = hp if hp in ("clear", "cipher") else "v1" if legacy == "v1" else ""
        if not form:
            return None
        headers: list[tuple[str, str]] = []
        outer: list[tuple[str, str]] = []
        for name, value in top.headers.raw_items():
            if _structural(name):
                continue
            text = header_text(value)
            if name.lower() == "hp-outer":
                if form == "cipher":
                    field, colon, shown = text.partition(":")
                    if colon and field.strip():
                        outer.append((field.strip(), shown.strip()))
                continue
            headers.append((name, text))
        first = _first_part(entity) if top.content_type == "multipart/mixed" else None
        lde = first is not None and (_param(first.headers, "hp-legacy-display") or "") == "1"
    return ProtectedSection(form, tuple(headers), tuple(outer), lde)


def without_legacy_display(entity: bytes) -> bytes:
    """``entity`` as a client that understands header protection shows it: a
    multipart/mixed payload loses its Legacy Display Element parts (RFC 9788 §4.5);
    anything else is returned as it is."""
    with reading("protected content"):
        top = read_entity(entity, 0, len(entity))
        boundary = top.boundary()
        if top.content_type != "multipart/mixed" or not boundary:
            return entity
        spans, _closed = split_multipart(entity, top.body, top.end, boundary)
        kept = [
            (start, end) for start, end in spans
            if (_param(read_entity(entity, start, end).headers, "hp-legacy-display") or "")
            .strip() != "1"
        ]
    if len(kept) == len(spans) or not kept:
        return entity
    root = entity[top.start : top.body]
    if len(kept) == 1:
        # The one part left takes the root's place, with the protected fields.
        fields = [f for f in _fields(root[:-2]) if not _structural(
            f.partition(b":")[0].decode("ascii", "replace").strip())]
        return b"".join(fields) + entity[kept[0][0] : kept[0][1]]
    out = [root]
    for start, end in kept:
        out += [b"--" + boundary + b"\r\n", entity[start:end], b"\r\n"]
    out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)
