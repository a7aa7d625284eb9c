"""Immutable results of the receiving side: verification, decryption, unwrapping.

Modelled on pyHanko's status objects: *intact* (the digest matches), *valid* (the
signature verifies with the signer's key) and *trusted* (the chain reaches a trust anchor
and the S/MIME policy holds) are separate facts, and ``problems`` says in words which
failed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from email.message import EmailMessage, Message
from typing import Any

from cryptography import x509

from .core.names import subject_text
from .core.pickling import reduce_fields
from .core.views import (
    card_html,
    certificate_dict,
    certificate_facts,
    content_preview,
    preformatted_html,
)
from .errors import Option, VerificationError
from .mime import WireMessage
from .problems import Problem, ProblemCode
from .validation import ValidationContext

__all__ = [
    "DecryptedMessage",
    "DecryptionInfo",
    "Layer",
    "ProtectedPart",
    "SignerResult",
    "UnwrapResult",
    "VerificationResult",
]


#: Where str.splitlines() breaks: inside a value, each would start a line of its own.
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def _subject(cert: x509.Certificate | None) -> str:
    if cert is None:
        return "(certificate not in the message)"
    return subject_text(cert, readable=True)


def _problems(problems: Iterable[Problem]) -> list[dict[str, str]]:
    return [p.to_dict() for p in problems]


def _compared(result: Any) -> tuple[Any, ...]:
    """The fields equality looks at, a message as its bytes: an EmailMessage compares by
    identity, so a result that came back from another process would equal nothing."""
    return tuple(
        value.as_bytes() if isinstance(value, Message) else value
        for value in (getattr(result, item.name) for item in fields(result) if item.compare)
    )


class _ComparedByBytes:
    """Equality and hash over the compared fields, messages by their bytes (see
    :func:`_compared`); the dataclasses using it say ``eq=False``, so that it applies."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _compared(self) == _compared(other)

    def __hash__(self) -> int:
        return hash(_compared(self))


def _lines(lines: Iterable[str]) -> str:
    """The lines joined, each kept one line: a name or an address from a message cannot add
    a line of its own (shown as ``\\n``), so every line of a summary is what it says."""
    return "\n".join(_LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], line) for line in lines)


@dataclass(frozen=True)
class SignerResult:
    """What is known about one signer of a message."""

    certificate: x509.Certificate | None
    email_addresses: tuple[str, ...]
    signing_time: dt.datetime | None
    digest_algorithm: str
    signature_algorithm: str
    intact: bool
    signature_valid: bool
    trusted: bool
    chain: tuple[x509.Certificate, ...] = ()
    capabilities: tuple[str, ...] = ()
    encryption_key_preference: Any = None
    signed_attributes: tuple[str, ...] = ()
    identifier: str = ""
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    """Reported but not fatal under the policy (e.g. SHA-1 on old mail)."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Certificates travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)

    @property
    def valid(self) -> bool:
        return self.intact and self.signature_valid and self.trusted and not self.problems

    def __bool__(self) -> bool:
        return self.valid

    @property
    def subject(self) -> str:
        return _subject(self.certificate)

    def _repr_html_(self) -> str:
        facts = certificate_facts(self.certificate)[1:] if self.certificate else ()
        rows = (*(("problem", str(p)) for p in self.problems),
                *(("warning", str(p)) for p in self.warnings), *facts)
        return card_html("signer", self.describe(), rows)

    def describe(self) -> str:
        who = ", ".join(self.email_addresses) or self.subject
        when = self.signing_time.isoformat() if self.signing_time else "no signing time"
        verdict = "valid" if self.valid else "NOT valid"
        return f"{who} ({self.signature_algorithm} with {self.digest_algorithm}, {when}): {verdict}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe, with stable keys: ``valid``, ``intact``,
        ``signature_valid`` and ``trusted`` (booleans); ``email_addresses``; the
        certificate's ``subject``, ``issuer`` (RFC 4514) and ``serial`` (hex), each None
        without a certificate, and ``certificate``: all its facts (see
        :func:`smime.core.views.certificate_dict`), or None; ``signing_time`` (ISO 8601, or
        None); ``digest_algorithm``, ``signature_algorithm``; ``chain`` (subjects, signer
        first); ``identifier``; ``capabilities``; ``signed_attributes``;
        ``encryption_key_preference`` (text, or None); ``problems`` and ``warnings`` (each
        ``{"code": ..., "message": ...}``)."""
        cert = self.certificate
        named = certificate_dict(cert) if cert is not None else {}
        preference = self.encryption_key_preference
        return {
            "valid": self.valid,
            "email_addresses": list(self.email_addresses),
            "subject": named.get("subject"),
            "issuer": named.get("issuer"),
            "serial": named.get("serial"),
            "certificate": named or None,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "digest_algorithm": self.digest_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "intact": self.intact,
            "signature_valid": self.signature_valid,
            "trusted": self.trusted,
            "chain": [_subject(c) for c in self.chain],
            "identifier": self.identifier,
            "capabilities": list(self.capabilities),
            "signed_attributes": list(self.signed_attributes),
            "encryption_key_preference": None if preference is None else str(preference),
            "problems": _problems(self.problems),
            "warnings": _problems(self.warnings),
        }


@dataclass(frozen=True, eq=False)
class VerificationResult(_ComparedByBytes):
    """The outcome of ``smime.verify``. ``bool(result)`` is ``result.valid``."""

    content: EmailMessage
    signers: tuple[SignerResult, ...]
    problems: tuple[Problem, ...]
    certificates: tuple[x509.Certificate, ...] = ()
    detached: bool = True
    covers: str = ""
    """Which part the signature covers: ``""`` the whole message, else a part path like
    ``"2"``; then ``valid`` is False (``partial_signature``) unless ``verify(part=...)``
    asked for that part."""
    warnings: tuple[Problem, ...] = ()
    """Reported but not fatal under the policy (e.g. SHA-1 on old mail)."""
    verified_with: ValidationContext | None = field(default=None, compare=False, repr=False)
    """The trust and revocation settings it was verified with (``CertificateStore.harvest``
    validates what it keeps against them)."""
    unsigned_parts: tuple[str, ...] = ()
    """The parts of the message outside the signature (paths like ``"1"``), when
    ``covers`` is a part: show them as unsigned, if at all."""
    signed_headers: tuple[tuple[str, str], ...] = ()
    """The message header fields inside the signature (protected headers, or those of a
    wrapped message/rfc822), as ``(name, value)``. ``content`` shows these; a From here is
    the one checked against the signer. Empty: every header shown, From included, comes
    from outside the signature and is unsigned (the From check still binds the outer From)."""
    headers: tuple[tuple[str, str], ...] = ()
    """The message's header section as a reader should see it: the protected one (RFC
    9788 ``hp``, or ``protected-headers="v1"``) when the signed part carries one, outer
    fields ignored; else the signed fields followed by the outer ones they do not repeat."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Certificates travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)

    @property
    def valid(self) -> bool:
        return bool(self.signers) and not self.problems and all(s.valid for s in self.signers)

    def __bool__(self) -> bool:
        return self.valid

    @property
    def codes(self) -> frozenset[ProblemCode]:
        return frozenset(p.code for p in self.problems)

    def raise_for_status(self) -> VerificationResult:
        """Raise :class:`~smime.errors.VerificationError` unless valid; return self (chainable)."""
        if not self.valid:
            reasons = "; ".join(str(p) for p in self.problems) or "no valid signer"
            raise VerificationError(f"signature not valid: {reasons}", result=self)
        return self

    def summary(self, *, word: Callable[[Option], str] | None = None) -> str:
        """A few lines a person can read: the verdict, each signer with its certificate and
        the chain that issued it, which parts and headers are signed, each problem and
        warning. Line breaks inside a value are shown escaped (``\\n``), never kept.
        ``word`` spells the options a problem names (the command line: its flags)."""
        lines = [f"signature {'VALID' if self.valid else 'NOT VALID'}"]
        if self.covers:
            lines[0] += f" (covers only part {self.covers} of the message)"
        for signer in self.signers:
            lines.append(f"  signer: {signer.describe()}")
            cert = signer.certificate
            if cert is not None:
                lines.append(f"    certificate: {signer.subject} (serial {cert.serial_number:#x})")
            if len(signer.chain) > 1:
                lines.append("    issued by: " + " -> ".join(_subject(c) for c in signer.chain[1:]))
        if self.unsigned_parts:
            lines.append(f"  unsigned parts: {', '.join(self.unsigned_parts)}")
        if self.signed_headers:
            names = dict.fromkeys(name for name, _ in self.signed_headers)
            unsigned_from = "" if "from" in map(str.lower, names) else " (From is not signed)"
            lines.append(f"  signed headers: {', '.join(names)}{unsigned_from}")
        else:
            lines.append("  headers: unsigned (From, To, Subject, Date are outside the signature)")
        lines.extend(f"  problem: {p.worded(word)}" for p in self.problems)
        lines.extend(f"  warning: {p.worded(word)}" for p in self.warnings)
        return _lines(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe, with stable keys: ``valid``, ``detached`` (booleans);
        ``covers`` (a part path, or None for the whole message); ``signers`` (each
        :meth:`SignerResult.to_dict`); ``problems`` and ``warnings`` (each ``{"code": ...,
        "message": ...}``); ``unsigned_parts``; ``signed_headers`` (``[name, value]``
        pairs); ``certificates`` (each ``{"subject", "issuer", "serial", ...}``: every fact of
        :func:`smime.core.views.certificate_dict`, serial in hex)."""
        return {
            "valid": self.valid,
            "detached": self.detached,
            "covers": self.covers or None,
            "signers": [s.to_dict() for s in self.signers],
            "problems": _problems(self.problems),
            "warnings": _problems(self.warnings),
            "unsigned_parts": list(self.unsigned_parts),
            "signed_headers": [[name, value] for name, value in self.signed_headers],
            "headers": [[name, value] for name, value in self.headers],
            "certificates": [certificate_dict(c) for c in self.certificates],
        }

    def _repr_html_(self) -> str:
        from .inspection import verification_html

        return verification_html(self)


@dataclass(frozen=True)
class DecryptionInfo:
    """How a message was encrypted; ``authenticated`` is False for CBC (no integrity)."""

    cipher: str
    authenticated: bool
    key_management: str
    content_type: str = "data"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``cipher``, ``authenticated``, ``key_management`` and
        ``content_type`` (the CMS type inside: ``data``, ``signed_data``...)."""
        return {
            "cipher": self.cipher,
            "authenticated": self.authenticated,
            "key_management": self.key_management,
            "content_type": self.content_type,
        }

    def _repr_html_(self) -> str:
        protection = "authenticated" if self.authenticated else "NOT authenticated"
        return card_html("encrypted", f"{self.cipher}, {protection}", (
            ("key management", self.key_management), ("content type", self.content_type),
        ))


class DecryptedMessage(WireMessage):
    """The decrypted entity, with ``.decryption`` saying how it was protected.

    Content that is neither authenticated (AES-GCM) nor signed can have been altered in
    transit (EFAIL): check ``decryption.authenticated`` before acting on it.
    """

    decryption: DecryptionInfo

    @property
    def authenticated(self) -> bool:
        return self.decryption.authenticated

    def _repr_html_(self) -> str:
        from .inspection import decryption_html

        return decryption_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``content_type`` of the decrypted entity and
        ``decryption`` (:meth:`DecryptionInfo.to_dict`); the content itself is not
        included (it is the message: ``as_bytes()``)."""
        return {"content_type": self.get_content_type(), "decryption": self.decryption.to_dict()}


@dataclass(frozen=True)
class Layer:
    """One S/MIME layer peeled by ``unwrap``: its kind and that step's result."""

    kind: str  # "signed", "encrypted", "compressed", "certs-only"
    result: VerificationResult | DecryptionInfo | tuple[x509.Certificate, ...] | None = None
    path: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        """Certificates travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``kind``; ``path`` (a part path, or None for the whole
        content); ``result``: the layer's result's ``to_dict()``, a list of certificates
        (``{"subject", "issuer", "serial", ...}``) for certs-only, None for compressed."""
        result = self.result
        data: Any
        if isinstance(result, (VerificationResult, DecryptionInfo)):
            data = result.to_dict()
        elif isinstance(result, tuple):
            data = [certificate_dict(c) for c in result]
        else:
            data = None
        return {"kind": self.kind, "path": self.path or None, "result": data}


@dataclass(frozen=True, eq=False)
class ProtectedPart(_ComparedByBytes):
    """One part of a partly protected message (``UnwrapResult.parts``) and its protection.

    ``content`` is what the protection held (the decrypted or signed content) as a message
    of its own, never spliced into the unprotected message around it (EFAIL); None for an
    unprotected part (read it in ``UnwrapResult.content``)."""

    path: str
    content_type: str
    filename: str = ""
    encrypted: bool = False
    authenticated: bool = False
    """The part is protected against change: AES-GCM, or a valid signature covers it."""
    signed_by: tuple[str, ...] = ()
    signature_valid: bool | None = None
    """None: not signed."""
    content: EmailMessage | None = None
    not_opened: str = ""
    """Why an S/MIME part could not be opened (no key for it, damaged); "" otherwise."""

    @property
    def protected(self) -> bool:
        return self.encrypted or self.signature_valid is not None or bool(self.not_opened)

    def describe(self) -> str:
        """``attachment readme.txt.p7m (part 2) was encrypted (aes-256-cbc, ...)``."""
        name = f"attachment {self.filename}" if self.filename else self.content_type
        if self.not_opened:
            return f"{name} (part {self.path}) is S/MIME but was not opened: {self.not_opened}"
        what = []
        if self.encrypted:
            what.append("encrypted")
        if self.signature_valid is not None:
            who = ", ".join(self.signed_by) or "an unknown signer"
            what.append(f"signed by {who} ({'VALID' if self.signature_valid else 'NOT VALID'})")
        verdict = " and ".join(what) if what else "not protected"
        if what and not self.authenticated:
            verdict += ", not authenticated"
        return f"{name} (part {self.path}) was {verdict}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: every field but ``content``."""
        return {
            "path": self.path, "content_type": self.content_type, "filename": self.filename,
            "encrypted": self.encrypted, "authenticated": self.authenticated,
            "signed_by": list(self.signed_by), "signature_valid": self.signature_valid,
            "not_opened": self.not_opened or None,
        }


@dataclass(frozen=True, eq=False)
class UnwrapResult(_ComparedByBytes):
    """The innermost content and every layer on the way, outermost first."""

    content: EmailMessage
    layers: tuple[Layer, ...] = field(default_factory=tuple)
    warnings: tuple[Problem, ...] = ()
    """Reported, not refused: ``unauthenticated_content`` for an encrypted layer without
    integrity (AES-CBC) that no valid signature inside covers (see ``require_authenticated``)."""
    headers: tuple[tuple[str, str], ...] = ()
    """The header section to show: the protected one (RFC 9788) when the payload carries
    one, else the outer fields (and signed ones, as a signature layer shows them)."""
    header_protection: str = ""
    """How the headers were protected: ``"cipher"`` or ``"clear"`` (RFC 9788 ``hp``),
    ``"v1"`` (the older ``protected-headers="v1"``), ``""`` not at all."""
    outer_headers: tuple[tuple[str, str], ...] = ()
    """The message's own header fields, outside every layer (what anyone could read or
    change on the way)."""
    parts: tuple[ProtectedPart, ...] = ()
    """For a partly protected message (an encrypted attachment next to plain text, a
    signed part in an unsigned multipart/mixed): every part with its protection, in
    order. Then ``content`` is the whole message as received and the protected content is
    each protected part's own ``content``. Empty when the protection covers the message."""

    @property
    def signed(self) -> bool:
        """A signature covers the message (not only a part of it: see ``parts``)."""
        return any(layer.kind == "signed" for layer in self._whole_layers())

    @property
    def encrypted(self) -> bool:
        """The message was encrypted (not only a part of it: see ``parts``)."""
        return any(layer.kind == "encrypted" for layer in self._whole_layers())

    def _whole_layers(self) -> tuple[Layer, ...]:
        """The layers around the whole message: those before the first one on a part."""
        for i, layer in enumerate(self.layers):
            if layer.path:
                return self.layers[:i]
        return self.layers

    @property
    def verifications(self) -> tuple[VerificationResult, ...]:
        return tuple(
            layer.result for layer in self.layers if isinstance(layer.result, VerificationResult)
        )

    @property
    def valid(self) -> bool:
        """Every signature layer is valid (False when there is none)."""
        checks = self.verifications
        return bool(checks) and all(c.valid for c in checks)

    def summary(self) -> str:
        """One line per layer, outermost first, then every warning: for a person."""
        lines = []
        for layer in self.layers:
            where = f" (part {layer.path})" if layer.path else ""
            result = layer.result
            if isinstance(result, VerificationResult):
                lines.append(f"signed{where}: {'VALID' if result.valid else 'NOT VALID'}")
                lines.extend(f"  problem: {p}" for p in result.problems)
            elif isinstance(result, DecryptionInfo):
                protection = "authenticated" if result.authenticated else "NOT authenticated"
                lines.append(f"encrypted{where}: {result.cipher}, {protection}")
            else:
                lines.append(f"{layer.kind}{where}")
        protected = [part for part in self.parts if part.protected]
        if protected:
            rest = "; the rest was not" if len(protected) < len(self.parts) else ""
            lines.append("; ".join(part.describe() for part in protected) + rest)
        lines.extend(f"warning: {p}" for p in self.warnings)
        return _lines(lines) or "no S/MIME layers"

    def __repr__(self) -> str:
        kinds = "+".join(layer.kind for layer in self.layers) or "plain"
        verdict = "valid" if self.valid else ("NOT valid" if self.signed else "unsigned")
        return f"UnwrapResult({kinds}, {verdict}, content={self.content.get_content_type()})"

    def _repr_html_(self) -> str:
        layers = "".join(
            layer.result._repr_html_()
            if isinstance(layer.result, (VerificationResult, DecryptionInfo))
            else card_html(layer.kind, layer.path or "the message")
            for layer in self.layers
        )
        rows = [("warning", str(p)) for p in self.warnings]
        preview = preformatted_html(content_preview(self.content.as_bytes()))
        return card_html("unwrapped", self.summary().splitlines()[0], rows, layers + preview)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``valid``, ``signed``, ``encrypted`` (booleans);
        ``layers`` (each :meth:`Layer.to_dict`, outermost first); ``warnings`` (each
        ``{"code": ..., "message": ...}``); ``headers`` and ``outer_headers`` (``[name,
        value]`` pairs), ``header_protection``; ``parts`` (each
        :meth:`ProtectedPart.to_dict`, for a partly protected message)."""
        return {
            "valid": self.valid,
            "signed": self.signed,
            "encrypted": self.encrypted,
            "layers": [layer.to_dict() for layer in self.layers],
            "warnings": _problems(self.warnings),
            "headers": [[name, value] for name, value in self.headers],
            "outer_headers": [[name, value] for name, value in self.outer_headers],
            "header_protection": self.header_protection or None,
            "parts": [part.to_dict() for part in self.parts],
        }
