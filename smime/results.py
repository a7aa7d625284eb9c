"""Immutable results of the receiving side: verification, decryption, unwrapping.

Modelled on pyHanko's status objects: *intact* (the digest matches), *valid* (the
signature verifies with the signer's key) and *trusted* (the chain reaches a trust anchor
and the S/MIME policy holds) are separate facts, and ``problems`` says in words which
failed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from cryptography import x509

from .errors import VerificationError
from .mime import WireMessage
from .problems import Problem, ProblemCode
from .validation import ValidationContext

__all__ = [
    "DecryptedMessage",
    "DecryptionInfo",
    "Layer",
    "SignerResult",
    "UnwrapResult",
    "VerificationResult",
]


def _subject(cert: x509.Certificate | None) -> str:
    if cert is None:
        return "(certificate not in the message)"
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


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

    @property
    def valid(self) -> bool:
        return self.intact and self.signature_valid and self.trusted and not self.problems

    def __bool__(self) -> bool:
        return self.valid

    @property
    def subject(self) -> str:
        return _subject(self.certificate)

    def describe(self) -> str:
        who = ", ".join(self.email_addresses) or self.subject
        when = self.signing_time.isoformat() if self.signing_time else "no signing time"
        verdict = "valid" if self.valid else "NOT valid"
        return f"{who} ({self.signature_algorithm} with {self.digest_algorithm}, {when}): {verdict}"


@dataclass(frozen=True)
class VerificationResult:
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

    def summary(self) -> str:
        """A few lines a person can read: the verdict, each signer, each problem."""
        lines = [f"signature {'VALID' if self.valid else 'NOT VALID'}"]
        if self.covers:
            lines[0] += f" (covers only part {self.covers} of the message)"
        lines.extend(f"  signer: {s.describe()}" for s in self.signers)
        if self.unsigned_parts:
            lines.append(f"  unsigned parts: {', '.join(self.unsigned_parts)}")
        if self.signed_headers:
            names = dict.fromkeys(name for name, _ in self.signed_headers)
            unsigned_from = "" if "from" in map(str.lower, names) else " (From is not signed)"
            lines.append(f"  signed headers: {', '.join(names)}{unsigned_from}")
        else:
            lines.append("  headers: unsigned (From, To, Subject, Date are outside the signature)")
        lines.extend(f"  problem: {p}" for p in self.problems)
        lines.extend(f"  warning: {p}" for p in self.warnings)
        return "\n".join(lines)

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


@dataclass(frozen=True)
class Layer:
    """One S/MIME layer peeled by ``unwrap``: its kind and that step's result."""

    kind: str  # "signed", "encrypted", "compressed", "certs-only"
    result: VerificationResult | DecryptionInfo | tuple[x509.Certificate, ...] | None = None
    path: str = ""


@dataclass(frozen=True)
class UnwrapResult:
    """The innermost content and every layer on the way, outermost first."""

    content: EmailMessage
    layers: tuple[Layer, ...] = field(default_factory=tuple)
    warnings: tuple[Problem, ...] = ()
    """Reported, not refused: ``unauthenticated_content`` for an encrypted layer without
    integrity (AES-CBC) that no valid signature inside covers (see ``require_authenticated``)."""

    @property
    def signed(self) -> bool:
        return any(layer.kind == "signed" for layer in self.layers)

    @property
    def encrypted(self) -> bool:
        return any(layer.kind == "encrypted" for layer in self.layers)

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
        lines.extend(f"warning: {p}" for p in self.warnings)
        return "\n".join(lines) or "no S/MIME layers"
