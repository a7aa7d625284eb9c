"""Checking one SignerInfo: find its certificate, recompute its digest, verify its signature.

Every failure becomes a :class:`~smime.problems.Problem` on that signer, so one bad signer
never hides what is true of the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization

from .._cache import LRUCache
from ..algorithms import (
    CONTENT_TYPE_OID,
    DIGESTS,
    MESSAGE_DIGEST_OID,
    SIGNING_TIME_OID,
    SMIME_CAPABILITIES_OID,
    WEAK_DIGESTS,
    oid_name,
)
from ..core.names import name_text
from ..core.signatures import SignatureScheme, digest_name, key_mismatch, verify_signature
from ..errors import Option, UnsupportedError
from ..problems import Problem, ProblemCode
from ._certs import (
    Cert,
    Received,
    SignerIdentifier,
    find_certificate,
    inherits_dsa_parameters,
    public_key,
)
from ._sigalgs import verifying_scheme
from ._signed_attrs import (
    EncryptionKeyPreference,
    read_capabilities,
    read_key_preference,
)

__all__ = ["SignerCheck", "VerifyContext", "check_signer"]


@dataclass(frozen=True)
class SignerCheck:
    """One signer: who (as far as the message says), with what, and whether the math holds."""

    certificate: x509.Certificate | None  # None when neither the message nor the caller has it
    identifier: str  # "issuer DN, serial 0x..", or "subject key identifier <hex>"
    digest_algorithm: str  # "sha256"..., or the dotted OID when unknown
    signature_algorithm: str  # rsa-pkcs1v15 | rsassa-pss | ecdsa | ed25519 | dsa | dotted OID
    signing_time: dt.datetime | None
    signed_attributes: tuple[str, ...]  # names ("content-type", ...), dotted OIDs when unknown
    capabilities: tuple[str, ...]  # SMIMECapabilities ("aes-256-gcm", "rsa-oaep", OIDs)
    encryption_key_preference: EncryptionKeyPreference | None
    intact: bool  # the content is what was signed (messageDigest, or the signature itself)
    signature_valid: bool  # the signer's public key verifies the signature
    problems: tuple[Problem, ...]
    unsigned_attributes: tuple[str, ...] = ()  # e.g. "countersignature" (not verified here)
    signer_id: SignerIdentifier | None = None  # to look the certificate up when it is missing

    @property
    def verified(self) -> bool:
        """Integrity and signature both hold (says nothing about trust)."""
        return self.intact and self.signature_valid


@dataclass
class VerifyContext:
    """What every signer of one SignedData shares: content, certificates, digests made."""

    econtent_type: str
    content: bytes | None  # what the digests cover
    mismatch: bool  # detached content given and the SignedData carries a different eContent
    certificates: list[Cert]
    digests: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        received: Received,
        *,
        econtent_type: str,
        econtent: bytes | None,
        detached_content: bytes | None,
        extra_certificates: Sequence[x509.Certificate],
    ) -> VerifyContext:
        certs = [Cert.from_der(der, from_message=True) for der in received.certificates]
        for cert in extra_certificates:
            certs.append(Cert.checked(cert.public_bytes(serialization.Encoding.DER), cert,
                                      from_message=False))
        mismatch = (
            econtent is not None and detached_content is not None
            and not hmac.compare_digest(econtent, detached_content)
        )
        content = detached_content if detached_content is not None else econtent
        return cls(econtent_type, content, mismatch, certs)

    def message_certificates(self) -> tuple[x509.Certificate, ...]:
        return tuple(c.crypto for c in self.certificates if c.from_message and c.crypto)

    def digest(self, name: str) -> bytes | None:
        if self.content is None:
            return None
        value = self.digests.get(name)
        if value is None:
            quick = _HASHLIB.get(name)
            if quick is not None:
                digest: bytes = quick(self.content).digest()
                self.digests[name] = digest
                return digest
            h = hashes.Hash(DIGESTS[name].hash())
            h.update(self.content)
            value = self.digests[name] = h.finalize()
        return value


#: The SHA-2 digests through hashlib: the same values, made in half the time for a mail
#: (no cryptography Hash object to set up per message).
_HASHLIB: dict[str, Callable[[bytes], Any]] = {
    "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512,
}


# ---------------------------------------------------------------------------- one signer


def check_signer(
    si: asn1_cms.SignerInfo, ctx: VerifyContext, signed_attrs: bytes | None
) -> SignerCheck:
    """Check one SignerInfo; anything unexpected becomes a MALFORMED problem, not an exception.

    ``signed_attrs`` is the SET OF as received (see :class:`Received`).
    """
    try:
        return _Check(si, ctx, signed_attrs).run()
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError,
            UnsupportedAlgorithm) as exc:
        return SignerCheck(
            certificate=None, identifier="(unreadable signer)", digest_algorithm="",
            signature_algorithm="", signing_time=None, signed_attributes=(), capabilities=(),
            encryption_key_preference=None, intact=False, signature_valid=False,
            problems=(Problem(ProblemCode.MALFORMED,
                              f"this signer's information could not be read: {exc}"),),
        )


class _Check:
    def __init__(
        self, si: asn1_cms.SignerInfo, ctx: VerifyContext, signed_attrs: bytes | None
    ) -> None:
        self.si = si
        self.ctx = ctx
        self.signed_attrs = signed_attrs
        self.problems: list[Problem] = []

    def problem(self, code: ProblemCode, *parts: str) -> None:
        """Record a problem once; ``parts`` as :meth:`Problem.naming` takes them."""
        problem = Problem.naming(code, *parts)
        if not any(p.code == code and p.message == problem.message for p in self.problems):
            self.problems.append(problem)

    def run(self) -> SignerCheck:
        si, ctx = self.si, self.ctx
        name = signer_name(si["sid"])
        identifier = name.text
        found = find_certificate(name.sid, ctx.certificates)
        digest = self._digest_algorithm()
        scheme_name, scheme = self._scheme(digest)
        attrs = self._attributes()
        intact = False
        signed_data: bytes | None
        if attrs is not None:
            values, names = attrs
            intact = self._check_attributes(values, digest)
            signed_data = self.signed_attrs
        else:
            values, names = {}, ()
            signed_data = ctx.content
        if ctx.content is None:
            self.problem(ProblemCode.MALFORMED, "the signature is detached and no content was "
                                                "given to check it against")
        signature_valid = False
        if found is None:
            self.problem(ProblemCode.MISSING_CERTIFICATE,
                         f"the signer's certificate ({identifier}) is neither in the message "
                         "nor among the certificates given, so the signature was not checked; "
                         "supply it with ", Option("certificates=[...] or store=..."))
        elif scheme is not None and signed_data is not None:
            signature_valid = self._verify(found, scheme, signed_data)
        if attrs is None:
            intact = signature_valid
        if ctx.mismatch:
            intact = False
            self.problem(ProblemCode.MALFORMED, "the signature carries its own content, which "
                                                "differs from the detached content")
        if found is not None and found.crypto is None:
            if inherits_dsa_parameters(found.asn1):
                self.problem(ProblemCode.UNSUPPORTED_ALGORITHM,
                             "the signer's certificate cannot be loaded by the cryptography "
                             "library: its DSA key inherits parameters from the issuer "
                             "(RFC 3279 section 2.3.2)")
            else:
                self.problem(ProblemCode.MALFORMED,
                             f"the signer's certificate cannot be read: {found.error}")
        return SignerCheck(
            certificate=found.crypto if found is not None else None,
            identifier=identifier,
            digest_algorithm=digest or si["digest_algorithm"]["algorithm"].dotted,
            signature_algorithm=scheme_name,
            signing_time=_signing_time(values.get(SIGNING_TIME_OID)),
            signed_attributes=names,
            capabilities=_capabilities(values.get(SMIME_CAPABILITIES_OID)),
            encryption_key_preference=read_key_preference(values),
            intact=intact,
            signature_valid=signature_valid,
            problems=tuple(self.problems),
            unsigned_attributes=tuple(
                oid_name(a["type"].dotted) for a in self.si["unsigned_attrs"] or ()
            ),
            signer_id=name.signer_id,
        )

    def _digest_algorithm(self) -> str | None:
        oid = self.si["digest_algorithm"]["algorithm"].dotted
        try:
            name = digest_name(oid)
        except UnsupportedError as exc:
            self.problem(ProblemCode.UNSUPPORTED_ALGORITHM, f"{exc}, so the content cannot be "
                                                            "checked")
            return None
        self._weak(name)
        return name

    def _weak(self, name: str) -> None:
        if name in WEAK_DIGESTS:
            self.problem(ProblemCode.WEAK_ALGORITHM,
                         f"the signer used {DIGESTS[name].micalg.upper()}, a digest too weak "
                         "to rule out forgery, so the signature proves little; it counts only "
                         "with ", Option("VerificationPolicy(allow_weak_algorithms=True)"),
                         ", for old mail")

    def _scheme(self, digest: str | None) -> tuple[str, SignatureScheme | None]:
        identifier = self.si["signature_algorithm"]
        oid = identifier["algorithm"].dotted
        try:
            scheme = verifying_scheme(identifier, digest or "")
        except UnsupportedError as exc:
            self.problem(ProblemCode.UNSUPPORTED_ALGORITHM,
                         f"{exc}, so the signature cannot be checked")
            return oid_name(oid), None
        if scheme.hash == "":  # the digest algorithm was unknown and the OID names no hash
            return scheme.name, None
        if scheme.hash is not None:
            self._weak(scheme.hash)
        return scheme.name, scheme

    def _attributes(self) -> tuple[dict[str, Any], tuple[str, ...]] | None:
        signed = self.si["signed_attrs"]
        if isinstance(signed, asn1_core.Void):
            return None
        values: dict[str, Any] = {}
        names: list[str] = []
        for attr in signed:
            oid = attr["type"].dotted
            if oid in values:
                self.problem(ProblemCode.MALFORMED,
                             f"the signed attribute {oid_name(oid)} appears more than once")
                continue
            values[oid] = attr["values"]
            names.append(oid_name(oid))
        return values, tuple(names)

    def _check_attributes(self, values: dict[str, Any], digest: str | None) -> bool:
        content_type = values.get(CONTENT_TYPE_OID)
        if content_type is None or len(content_type) != 1:
            self.problem(ProblemCode.MALFORMED, "the signed attributes lack a single "
                                                "content-type attribute (RFC 5652 section 5.3)")
        elif content_type[0].dotted != self.ctx.econtent_type:
            self.problem(ProblemCode.CONTENT_TYPE_MISMATCH,
                         f"the signed content type {content_type[0].native} differs from the "
                         f"content's type {self.ctx.econtent_type}")
        message_digest = values.get(MESSAGE_DIGEST_OID)
        if message_digest is None or len(message_digest) != 1:
            self.problem(ProblemCode.MALFORMED, "the signed attributes lack a single "
                                                "message-digest attribute (RFC 5652 section 5.3)")
            return False
        if digest is None:
            return False
        actual = self.ctx.digest(digest)
        if actual is None:
            return False
        if not hmac.compare_digest(bytes(message_digest[0].native), actual):
            self.problem(ProblemCode.DIGEST_MISMATCH,
                         "the content was changed after it was signed: its digest does not "
                         "match the one the signer signed")
            return False
        return True

    def _verify(self, found: Cert, scheme: SignatureScheme, data: bytes) -> bool:
        key = public_key(found, self.ctx.certificates)
        if isinstance(key, Problem):
            self.problem(key.code, key.message)
            return False
        mismatch = key_mismatch(scheme, key)
        if mismatch is not None:
            self.problem(ProblemCode.BAD_SIGNATURE, mismatch)
            return False
        if not verify_signature(key, scheme, self.si["signature"].native, data):
            self.problem(ProblemCode.BAD_SIGNATURE,
                         "the signature does not verify with the signer's public key: the "
                         "signed data or the signature was altered, or made with another key")
            return False
        return True


# ---------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class SignerName:
    """A SignerIdentifier read once: a signer names itself alike in every message."""

    sid: asn1_cms.SignerIdentifier  # read through already: only looked at from here on
    text: str  # "issuer DN, serial 0x..", or "subject key identifier <hex>"
    signer_id: SignerIdentifier


#: Signer identifiers and the names of capability lists, by their DER: both are the same
#: in every message of a signer, and reading them costs asn1crypto parses.
_SIGNER_NAMES: LRUCache[SignerName] = LRUCache("cms.signer_names", 512)
_CAPABILITIES: LRUCache[tuple[str, ...]] = LRUCache("cms.capabilities", 256)


def signer_name(sid: asn1_cms.SignerIdentifier | bytes) -> SignerName:
    """The name of a SignerIdentifier, parsed or as its DER (raises what asn1crypto raises)."""
    der = sid if isinstance(sid, bytes) else sid.dump()
    return _SIGNER_NAMES.get_or_make(der, lambda: _signer_name(sid))


def _signer_name(sid: asn1_cms.SignerIdentifier | bytes) -> SignerName:
    if isinstance(sid, bytes):
        sid = asn1_cms.SignerIdentifier.load(sid, strict=True)
    return SignerName(sid, _identifier_text(sid), SignerIdentifier.read(sid))


def _capabilities(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return capabilities(value.dump(), lambda: read_capabilities(value))


def capabilities(der: bytes, read: Callable[[], tuple[str, ...]]) -> tuple[str, ...]:
    """The capability names of an SMIMECapabilities attribute's values (their DER)."""
    return _CAPABILITIES.get_or_make(der, read)


def _identifier_text(sid: asn1_cms.SignerIdentifier) -> str:
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        return f"{name_text(ias['issuer'], readable=True)}, serial {ias['serial_number'].native:#x}"
    return f"subject key identifier {bytes(sid.chosen.native).hex()}"


def _signing_time(value: Any) -> dt.datetime | None:
    if value is None or len(value) != 1:
        return None
    when = _utc_time(value[0]) or value[0].native
    if isinstance(when, dt.datetime) and when.tzinfo is not None:
        return when
    return None


def _utc_time(value: Any) -> dt.datetime | None:
    """A UTCTime in its DER form (YYMMDDHHMMSSZ) read directly, as asn1crypto would read
    it (years 50-99 are 19xx); None for any other form, for asn1crypto to read."""
    chosen = value.chosen if isinstance(value, asn1_core.Choice) else value
    return utc_time(chosen.contents if isinstance(chosen, asn1_core.UTCTime) else None)


def utc_time(raw: bytes | None) -> dt.datetime | None:
    """:func:`_utc_time` of a UTCTime's contents octets."""
    if raw is None or len(raw) != 13 or raw[12:] != b"Z" or not raw[:12].isdigit():
        return None
    year = int(raw[0:2])
    try:
        return dt.datetime(year + (1900 if year >= 50 else 2000), int(raw[2:4]), int(raw[4:6]),
                           int(raw[6:8]), int(raw[8:10]), int(raw[10:12]),
                           tzinfo=dt.timezone.utc)
    except ValueError:
        return None  # out of range: asn1crypto raises its own error
