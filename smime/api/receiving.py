"""The receiving side: verify, decrypt, unwrap."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import email.errors
import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .. import mime
from ..cms import (
    SignedDataInfo,
    SignerCheck,
    content_kind,
    decompress_data,
    decrypt_enveloped_data,
    read_certs_only,
    verify_signed_data,
)
from ..core.cmsfile import detect_raw_cms
from ..errors import (
    DecryptionError,
    InvalidOptionError,
    LoadError,
    MissingKeyError,
    Option,
    ParseError,
    SMIMEError,
    UsageError,
)
from ..keys import (
    Identity,
    certificate_emails,
    check_identity,
    load_certificates,
)
from ..limits import accepts_limits
from ..mime.message import check_is_message
from ..options import REVOCATION_MODES, RevocationMode, check_option
from ..problems import Problem, ProblemCode
from ..results import (
    DecryptedMessage,
    DecryptionInfo,
    Layer,
    ProtectedPart,
    SignerResult,
    UnwrapResult,
    VerificationResult,
)
from ..validation import (
    DEFAULT_POLICY,
    TrustStore,
    ValidationContext,
    VerificationPolicy,
    check_key_usage,
    check_sender,
    normalize_address,
    validate_certificate,
    validation_times,
)
from ..validation.revocation import given_crls, given_ocsp_responses, given_revocation_problems
from . import _records, keywords
from ._input import MessageInput, TrustInput, trust_store

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..store import CertificateSource

__all__ = ["decrypt", "unwrap", "verify"]

MAX_LAYERS = 16
_PART_PATH = re.compile(r"(?:[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,8})*)?")
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


def _sender_addresses(headers: Sequence[tuple[str, str]], field: str = "from") -> list[str]:
    """The addresses of one header field (From by default; Sender for the policy option)."""
    values = [value for name, value in headers if name.lower() == field]
    return _addresses(values, field)


#: A field that is one plain address, bare or after a display name of plain words: what
#: ``getaddresses`` would answer for it is the address itself, read here without it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ADDRESS = re.compile(
    rf"[ \t]*(?:(?P<bare>{_ADDR_SPEC})|[A-Za-z0-9 \t]*<(?P<angle>{_ADDR_SPEC})>)[ \t]*"
)


def _addresses(values: Sequence[str], field: str) -> list[str]:
    plain = [_PLAIN_ADDRESS.fullmatch(value) for value in values]
    if all(plain):
        return [m.group("bare") or m.group("angle") for m in plain if m is not None]
    try:
        pairs = getaddresses(values)
    except RecursionError:
        raise ParseError(f"malformed {field} header: comments nested too deeply") from None
    return [addr for _name, addr in pairs if addr]


def _future_signing_time(check: SignerCheck, now: dt.datetime) -> Problem | None:
    signing_time = check.signing_time
    if signing_time is not None and signing_time > now + FUTURE_TOLERANCE:
        return Problem(
            ProblemCode.SIGNING_TIME_INVALID,
            f"the signing time {signing_time.isoformat()} lies in the future",
        )
    return None


def _signer_result(
    check: SignerCheck,
    info: SignedDataInfo,
    checks: _Checks,
    *,
    helpers: Sequence[x509.Certificate],
    senders: Sequence[str],
    sender_header: Sequence[str] = (),
) -> SignerResult:
    trust, policy = checks.trust, checks.policy
    problems = list(check.problems)
    chain: tuple[x509.Certificate, ...] = ()
    trusted = bool(check.certificate)
    cert = check.certificate
    now = dt.datetime.now(dt.timezone.utc)
    if cert is not None:
        future = _future_signing_time(check, now)
        if future is not None:
            problems.append(future)
        moments = _moments(cert, check, checks.at, policy, now)
        # Weak algorithms are always looked for; the policy decides below whether they are
        # fatal or only warnings, so a weak chain that is otherwise fine is checked again.
        strict = replace(policy, allow_weak_algorithms=False) if policy.allow_weak_algorithms \
            else policy
        validate = functools.partial(
            validate_certificate, cert, trust=trust, intermediates=helpers,
            crls=[*checks.crls, *info.crls],
            ocsp_responses=[*checks.ocsp_responses, *info.ocsp_responses],
            revocation=checks.revocation, fetch=checks.fetch,
        )
        for when, label in moments:
            outcome = validate(at=when, policy=strict)
            if policy.allow_weak_algorithms and any(
                p.code == ProblemCode.WEAK_ALGORITHM for p in outcome.problems
            ):
                problems.extend(p for p in outcome.problems if p.code == ProblemCode.WEAK_ALGORITHM)
                outcome = validate(at=when, policy=policy)
            chain = chain or outcome.chain
            trusted = trusted and outcome.trusted
            found = (_checked_at(p, label) for p in outcome.problems)
            problems.extend(p for p in found if p not in problems)
            unsettled = given_revocation_problems(
                outcome, checks.crls, checks.ocsp_responses, revocation=checks.revocation,
                other_certificates=(*helpers, *trust.certificates))
            trusted = trusted and not unsettled
            problems.extend(p for p in unsettled if p not in problems)
        problems.extend(p for p in check_key_usage(cert, policy) if p not in problems)
        if policy.require_sender_match:
            binding = check_sender(cert, senders, sender=sender_header, policy=policy)
            if binding is not None:
                problems.append(binding)
    fatal, warnings = _split_weak(problems, policy)
    if cert is not None and not trusted and not fatal and not policy.require_trusted_chain:
        # The caller waived the trust anchor: the signer is trusted as far as the policy
        # asks, and the fact that no root vouches for it is kept as a warning.
        trusted = True
        warnings = (*warnings, Problem(
            ProblemCode.UNTRUSTED,
            "no trusted root vouches for the signer's certificate; accepted because the "
            "policy does not require one (VerificationPolicy(require_trusted_chain=False))",
        ))
    return SignerResult(
        certificate=cert,
        email_addresses=certificate_emails(cert) if cert is not None else (),
        signing_time=check.signing_time,
        digest_algorithm=check.digest_algorithm,
        signature_algorithm=check.signature_algorithm,
        intact=check.intact,
        signature_valid=check.signature_valid,
        trusted=trusted,
        chain=chain,
        capabilities=check.capabilities,
        encryption_key_preference=check.encryption_key_preference,
        signed_attributes=check.signed_attributes,
        identifier=check.identifier,
        problems=fatal,
        warnings=warnings,
    )


def _moments(
    cert: x509.Certificate,
    check: SignerCheck,
    at: dt.datetime | None,
    policy: VerificationPolicy,
    now: dt.datetime,
) -> list[tuple[dt.datetime, str]]:
    """When to validate the signer's chain, each with the words that say which time it is."""
    if at is not None:
        return [(at, f"the time given (at={at.isoformat()})")]
    claimed = check.signing_time
    return [
        (when, f"the signing time the signer claims (validate_at={policy.validate_at!r})")
        if claimed is not None and when == claimed
        else (when, f"the current time (validate_at={policy.validate_at!r})")
        for when in validation_times(cert, claimed, policy, now=now)
    ]


def _checked_at(problem: Problem, label: str) -> Problem:
    """A validity problem says at which time it was judged: the signing time or now."""
    if problem.code not in (ProblemCode.EXPIRED, ProblemCode.NOT_YET_VALID):
        return problem
    return Problem(problem.code, f"{problem.message}, judged at {label}")


def _split_weak(
    problems: list[Problem], policy: VerificationPolicy
) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """Weak algorithms are warnings for old mail unless the policy rejects them."""
    if not policy.allow_weak_algorithms:
        return tuple(problems), ()
    weak = ProblemCode.WEAK_ALGORITHM
    return (
        tuple(p for p in problems if p.code != weak),
        tuple(p for p in problems if p.code == weak),
    )


@dataclass(frozen=True)
class _Checks:
    """How to judge signers: the keywords of :func:`verify`, resolved once."""

    trust: TrustStore
    crls: list[bytes]
    ocsp_responses: list[bytes]
    at: dt.datetime | None
    revocation: RevocationMode
    fetch: bool
    policy: VerificationPolicy
    certificates: tuple[x509.Certificate, ...] = ()  # the caller's extra certificates
    store: CertificateSource | None = None  # searched for signers the message lacks
    part: str = ""  # the part the caller accepts a signature on; "" the whole message
    base: str = ""  # where in the message the current layer's content sits (unwrap)
    outside: tuple[str, ...] = ()  # the message's parts beside it

    def context(self, info: SignedDataInfo) -> ValidationContext:
        """What the signers of ``info`` were judged with: these checks, and the revocation
        data the SignedData carried."""
        return ValidationContext(
            self.trust, (*self.crls, *info.crls),
            (*self.ocsp_responses, *info.ocsp_responses), self.revocation, self.fetch,
            self.policy,
        )


def _inside(checks: _Checks, part: mime.SMIMEPart) -> _Checks:
    """The checks for the layer inside ``part``: its paths are relative to that part."""
    return replace(
        checks,
        base=_join(checks.base, part.path),
        outside=(*checks.outside, *(_join(checks.base, p) for p in part.other_parts)),
    )


def verification_checks(
    trust: TrustInput, options: keywords.CheckOptions, part: str | None = None
) -> _Checks:
    """``verify``'s keywords, checked and resolved once (before any input is read), for
    the in-memory and the streaming API alike; ``options`` keywords.settled (every one present)."""
    at, policy, store = options["at"], options["policy"], options["store"]
    revocation = options["revocation"]
    if at is not None and not isinstance(at, dt.datetime):
        raise UsageError.wrong_type("at", at, "a datetime or None")
    if policy is not None and not isinstance(policy, VerificationPolicy):
        raise UsageError.wrong_type("policy", policy, "a VerificationPolicy or None")
    check_option("revocation", revocation, REVOCATION_MODES)
    if store is not None:
        from ..store import check_source  # sqlite3 loads only for callers with a store

        check_source(store)
    if part is not None and (not isinstance(part, str) or not _PART_PATH.fullmatch(part)):
        raise InvalidOptionError(
            f"part={part!r} is not a part path; use one like '2' or '1.2' (see result.covers)"
        )
    return _Checks(
        trust=trust_store(trust),
        crls=given_crls(options["crls"]),
        ocsp_responses=given_ocsp_responses(options["ocsp_responses"]),
        at=at,
        revocation=revocation,
        fetch=options["fetch"],
        policy=policy or DEFAULT_POLICY,
        certificates=_given_certificates(options["certificates"]),
        store=store,
        part=part or "",
    )



def _given_certificates(value: keywords.CertificatesInput) -> tuple[x509.Certificate, ...]:
    """The caller's extra certificates, each one read: one that cannot be read is a
    LoadError naming ``certificates=``, not a signer quietly left unverified."""
    if value is None:
        return ()
    if not isinstance(value, (str, bytes, bytearray, memoryview, os.PathLike)):
        value = list(value)
    try:
        return tuple(load_certificates(value))
    except LoadError as exc:
        raise LoadError(f"certificates=: {exc}") from None


def _signed_data(der: bytes, content: bytes | None, checks: _Checks) -> _Signed:
    """Verify a SignedData with the caller's certificates; a signer whose certificate is
    still missing is looked up in ``store=`` (by issuer and serial, or key identifier) and,
    when found there, the SignedData is checked again with it."""
    info = verify_signed_data(der, content, extra_certificates=checks.certificates)
    found = stored_signer_certificates(info, checks)
    if found:
        info = verify_signed_data(der, content, extra_certificates=(*checks.certificates, *found))
    return _Signed(info, (*info.certificates, *checks.certificates, *found))


def stored_signer_certificates(
    info: SignedDataInfo, checks: _Checks
) -> tuple[x509.Certificate, ...]:
    """What ``store=`` holds for the signers of ``info`` whose certificate is still missing
    (by issuer and serial, or key identifier): the SignedData is then checked again with
    them, in memory or streamed."""
    found: dict[bytes, x509.Certificate] = {}
    if checks.store is not None:
        for check in info.signers:
            if check.certificate is None and check.signer_id is not None:
                for cert in checks.store.signer_certificates(check.signer_id):
                    found.setdefault(cert.fingerprint(hashes.SHA256()), cert)
    return tuple(found.values())


@dataclass(frozen=True)
class _Signed:
    """A SignedData checked, and every certificate that may help build its signers' paths."""

    info: SignedDataInfo
    helpers: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class _Peeled:
    """One layer taken off: its result, and the exact bytes of what it held."""

    layer: Layer
    inner: bytes
    message: EmailMessage


def _verify_part(
    part: mime.SMIMEPart, headers: Sequence[tuple[str, str]], checks: _Checks,
    *, given_content: bool = False,
) -> tuple[VerificationResult, bytes]:
    """Verify one signature layer; ``headers`` are the message's outer headers (for From);
    ``given_content``: the caller passed the signed content (``verify(content=)``)."""
    assert part.der is not None
    notes: list[Problem] = []
    if part.kind == "multipart/signed":
        inner = part.signed_content or b""
        signed = _signed_data(part.der, inner, checks)
        info = signed.info
        if given_content and not info.detached:
            raise InvalidOptionError(
                "content= goes with a detached signature; this one carries its signed content"
            )
        if info.signers and not any(c.intact for c in info.signers) and b"\r\n" in inner:
            # Some signers (older NSS) digest the part with bare LF line ends. The bytes
            # they signed are still exactly these; we accept them and say so.
            bare = inner.replace(b"\r\n", b"\n")
            retry = _signed_data(part.der, bare, checks)
            if all(c.intact for c in retry.info.signers):
                signed, info, inner = retry, retry.info, bare
                notes.append(Problem(
                    ProblemCode.MALFORMED,
                    "the signature covers the content with bare LF line ends instead of the "
                    "canonical CRLF (RFC 8551 §3.1.1); relays may break it",
                ))
    else:
        kind = content_kind(part.der)
        if kind.layer != "signed":
            raise ParseError(f"not a signed message: the S/MIME part holds {kind.label}")
        signed = _signed_data(part.der, None, checks)
        info = signed.info
        inner = info.content or b""
    view = mime.signed_view(inner)
    section = None if view.wrapped else mime.protected_section(view.entity, top=view.top)
    signed_headers = _without_hp_outer(view.headers)
    if section is not None:
        # RFC 9788: the protected section is the header section; outer fields are ignored
        content = mime.parse_inner(_shown_entity(view.entity, section), (), exact=part.raw_cms)
    else:
        content = mime.parse_inner(view.entity, headers, exact=part.raw_cms, top=view.top)
    signers, problems, warnings = judge_signers(
        info, checks, helpers=signed.helpers, outer_headers=headers,
        signed_headers=signed_headers, raw=part.raw_cms, notes=notes, section=section,
    )
    covers = _join(checks.base, part.path)
    unsigned = (*checks.outside, *(_join(checks.base, p) for p in part.other_parts))
    partial = _partial_signature(covers, unsigned, checks.part)
    if partial is not None:
        problems.append(partial)
    result = VerificationResult(
        content=content,
        signers=signers,
        problems=tuple(dict.fromkeys(problems)),
        certificates=info.certificates,
        detached=part.kind == "multipart/signed",
        covers=covers,
        warnings=tuple(dict.fromkeys(warnings)),
        unsigned_parts=unsigned,
        signed_headers=signed_headers,
        verified_with=checks.context(info),
        headers=section.headers if section is not None else _merged(headers, signed_headers),
    )
    _records.verified(result)
    return result, inner


def judge_signers(
    info: SignedDataInfo,
    checks: _Checks,
    *,
    helpers: Sequence[x509.Certificate],
    outer_headers: Sequence[tuple[str, str]],
    signed_headers: Sequence[tuple[str, str]],
    raw: bool,
    notes: Sequence[Problem] = (),
    section: mime.ProtectedSection | None = None,
) -> tuple[tuple[SignerResult, ...], list[Problem], list[Problem]]:
    """Each signer's result, then the layer's problems and warnings (in-memory and streamed
    verification both ask this).

    The signed headers are the ones shown: the signer is bound to the From among them, and
    to the outer From only when the signature covers none. A raw CMS file (a signed
    document) names no sender to bind the signer to; signed content that carries a From
    is still bound to it. ``section``: the protected header section (RFC 9788) the signed
    part carries; outer fields its ``HP-Outer`` records were shown on purpose.
    """
    binding = signed_headers if _carries(signed_headers, "from") else outer_headers
    senders = _sender_addresses(binding)
    sender_header = _sender_addresses(binding, "sender")
    judged = checks
    if raw and not senders and not sender_header:
        judged = replace(checks, policy=replace(checks.policy, require_sender_match=False))
    signers = tuple(
        _signer_result(
            check, info, judged, helpers=helpers, senders=senders, sender_header=sender_header,
        )
        for check in info.signers
    )
    problems: list[Problem] = []
    if not signers:
        problems.append(
            Problem(ProblemCode.NO_SIGNERS, "the message carries no signature (no signers)")
        )
    problems.extend(p for signer in signers for p in signer.problems)
    warnings = [*notes, *(p for signer in signers for p in signer.warnings)]
    fatal, minor = _header_mismatches(outer_headers, signed_headers, checks.policy, section)
    problems.extend(fatal)
    warnings.extend(minor)
    return signers, problems, warnings


def _without_hp_outer(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The message's fields: HP-Outer fields are a record of the outside, not headers."""
    return tuple((name, value) for name, value in headers if name.lower() != "hp-outer")


def _shown_entity(entity: bytes, section: mime.ProtectedSection) -> bytes:
    """The payload as a client that reads header protection shows it: without the Legacy
    Display Element, which only repeats the protected fields for other clients."""
    return mime.without_legacy_display(entity) if section.legacy_display else entity


def _join(base: str, path: str) -> str:
    """A part path inside the part at ``base`` (layers nest: "2" then "1" is "2.1")."""
    return f"{base}.{path}" if base and path else base or path


def _partial_signature(
    covers: str, unsigned: Sequence[str], wanted: str
) -> Problem | None:
    """PARTIAL_SIGNATURE unless the signature covers the whole message or the part the
    caller asked for (``part=``): a valid part must not make the whole message look signed."""
    if not covers or wanted == covers or wanted.startswith(f"{covers}."):
        return None
    if unsigned:
        rest = f"part{'s' if len(unsigned) > 1 else ''} {', '.join(unsigned)} of it"
        rest += f" {'are' if len(unsigned) > 1 else 'is'} not signed"
    else:
        rest = "the multipart around it is not signed"
    if wanted:
        return Problem(
            ProblemCode.PARTIAL_SIGNATURE,
            f"the signature covers part {covers} of the message, not part {wanted}; {rest}",
        )
    return Problem(
        ProblemCode.PARTIAL_SIGNATURE,
        f"the signature covers only part {covers} of the message; {rest} "
        f"(part={covers!r} accepts the signed part alone)",
    )


#: Header fields a reader sees, compared between the outside and the signed headers.
_ADDRESS_FIELDS = {
    "from": "From", "sender": "Sender", "reply-to": "Reply-To", "to": "To", "cc": "Cc",
}
_TEXT_FIELDS = {
    "subject": "Subject", "date": "Date", "message-id": "Message-ID",
    "in-reply-to": "In-Reply-To", "references": "References",
}
#: The Subjects header confidentiality puts outside, hidden on purpose, not changed: RFC
#: 9788's, and the older ``protected-headers="v1"`` one (Thunderbird, Enigmail, K-9).
_OBSCURED_SUBJECTS = ("[...]", "...")


def _carries(headers: Sequence[tuple[str, str]], field: str) -> bool:
    return any(name.lower() == field for name, _ in headers)


def _values(headers: Sequence[tuple[str, str]], field: str) -> list[str]:
    return [value for name, value in headers if name.lower() == field]


def _header_mismatches(
    outer: Sequence[tuple[str, str]],
    signed: Sequence[tuple[str, str]],
    policy: VerificationPolicy,
    section: mime.ProtectedSection | None = None,
    *,
    label_inside: str = "signed",
) -> tuple[list[Problem], list[Problem]]:
    """HEADER_MISMATCH for each field the outside and the signature both carry, differing.

    Fatal for the fields the sender binding reads (From; also Sender when the policy lets
    it bind) while the policy binds at all: the outer one is what other programs show and
    the signer's address was not checked against it. Other fields (a mailing list's
    Subject tag, a rewritten To) are warnings: the signed value is the one shown.

    With a protected header section (RFC 9788, ``section``), an outer value its
    ``HP-Outer`` fields record was shown by the sender's choice and is no mismatch; an
    outer field the section does not carry (and did not record) was added on the way.
    """
    fatal: list[Problem] = []
    minor: list[Problem] = []
    if not signed:
        return fatal, minor
    exposed = section.hp_outer if section is not None else ()
    bound = {"from", "sender"} if policy.allow_sender_header else {"from"}
    for field, label in (*_ADDRESS_FIELDS.items(), *_TEXT_FIELDS.items()):
        outside, inside = _values(outer, field), _values(signed, field)
        recorded = _values(exposed, field)
        if outside and recorded and not _differs(field, outside, recorded):
            continue  # shown outside as the sender's policy chose (HP-Outer)
        if outside and not inside and section is not None:
            minor.append(Problem(
                ProblemCode.HEADER_MISMATCH,
                f"the outer {label} {_quoted(outside)} is not in the protected header "
                "section and the sender did not put it outside (no HP-Outer): it was added "
                "on the way, and is ignored",
            ))
            continue
        if not outside or not inside or not _differs(field, outside, inside):
            continue
        problem = Problem(
            ProblemCode.HEADER_MISMATCH,
            f"the outer {label} {_quoted(outside)} differs from the {label_inside} {label} "
            f"{_quoted(inside)}; the {label_inside} one is shown"
            + (" and checked" if label_inside == "signed" else "")
            + ("" if not exposed else " (the sender's HP-Outer records another value "
               "outside: it was changed on the way)"),
        )
        if field in bound and policy.require_sender_match:
            fatal.append(problem)
        else:
            minor.append(problem)
    return fatal, minor


def _differs(field: str, outside: Sequence[str], inside: Sequence[str]) -> bool:
    """Whether two values of one field say different things to a reader."""
    if field in _ADDRESS_FIELDS:
        return _address_set(outside, field) != _address_set(inside, field)
    if field == "subject" and _text(outside) in _OBSCURED_SUBJECTS:
        return False
    if field == "date":
        return _date(outside) != _date(inside)
    return _text(outside) != _text(inside)


def _address_set(values: Sequence[str], field: str) -> frozenset[str]:
    return frozenset(normalize_address(addr) for addr in _addresses(values, field))


def _text(values: Sequence[str]) -> str:
    """One header's text with RFC 2047 words decoded and white space collapsed."""
    joined = " ".join(values)
    with contextlib.suppress(ValueError, LookupError, email.errors.HeaderParseError):
        joined = str(make_header(decode_header(joined)))
    return " ".join(joined.split())


def _date(values: Sequence[str]) -> dt.datetime | str:
    """The instant a Date names (the same time in two zones is the same date), else its text."""
    text = _text(values)
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return text
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def _quoted(values: Sequence[str], limit: int = 120) -> str:
    text = _text(values)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _merged(
    outer: Sequence[tuple[str, str]], inner: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """The headers a layer shows: its own, then the outer ones it does not repeat."""
    names = {name.lower() for name, _ in inner}
    return (*inner, *((n, v) for n, v in outer if n.lower() not in names))


@accepts_limits
@keywords.spelled_out(keywords.VerifyOptions, keywords.VERIFY_DEFAULTS)
def verify(
    message: MessageInput, trust: TrustInput = None, **options: Unpack[keywords.VerifyOptions]
) -> VerificationResult:
    """Verify a signed message as a careful mail client does.

    An invalid signature is a result (``result.valid`` False, ``result.problems`` saying
    why), never an exception; malformed input raises :class:`~smime.errors.ParseError`.
    ``trust`` holds the roots you trust (nothing is trusted without it): a
    :class:`~smime.TrustStore`, or what ``TrustStore.from_pem`` reads (a path as ``str`` or
    ``Path``, PEM/DER bytes, certificates, a list of these); ``crls`` and
    ``ocsp_responses`` add revocation data to what the message carries; ``at`` fixes the
    validation time (default: the signing time when the policy says so, else now);
    ``revocation`` is ``"soft-fail"``, ``"hard-fail"`` or ``"off"``; ``fetch=True`` fetches
    CRLs and OCSP responses named in the certificates.

    ``certificates`` adds signer or intermediate certificates the message does not carry
    (anything :func:`smime.load_certificates` reads: a PEM bundle, DER, a path, a list);
    ``store`` is a :class:`smime.CertificateStore` searched for a signer's certificate by
    issuer and serial number or key identifier. Both only help find certificates: trust
    still comes from ``trust`` alone. A signer found nowhere is ``missing_certificate``.

    ``valid`` speaks for the whole message: a signature on only one part of it (a signed
    part inside an unsigned multipart/mixed) is ``partial_signature``, with ``covers`` and
    ``unsigned_parts`` saying which parts. ``part="2"`` asks about that part alone, for a
    caller that will show only it.
    ``limits`` caps the work a hostile message can cause (:class:`smime.Limits`; beyond a
    cap, LimitExceededError).

    ``message`` may also be a raw CMS file (DER or PEM ``.p7m``/``.p7s``, as ``openssl
    cms`` writes them); ``content`` is the signed content of a detached signature (a
    ``.p7s``, or a message whose S/MIME part is a lone signature), exactly as signed.
    """
    o = keywords.settled("verify", options, keywords.VERIFY_DEFAULTS)
    checks = verification_checks(trust, o, o["part"])
    found = mime.find_smime_part(mime.input_bytes(message))
    content = o["content"]
    if content is not None:
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise UsageError.wrong_type("content", content, "bytes (the signed content)")
        found = mime.with_content(found, bytes(content))
    if found is None or found.der is None:
        raise ParseError("not an S/MIME signed message: no multipart/signed or signed-data part")
    return _verify_part(found, found.outer_headers, checks, given_content=content is not None)[0]


@accepts_limits
@keywords.spelled_out(keywords.DecryptOptions, keywords.DECRYPT_DEFAULTS)
def decrypt(
    message: MessageInput, identity: Identity, **options: Unpack[keywords.DecryptOptions]
) -> DecryptedMessage:
    """Decrypt an enveloped or authEnveloped message with ``identity``.

    Every key or integrity failure raises the same :class:`~smime.errors.DecryptionError`.
    The result's ``decryption.authenticated`` is False for CBC content: unless it is also
    signed, it may have been altered (EFAIL). ``require_authenticated=True`` refuses such
    content (``DecryptionError``) unless the decrypted entity is, as a whole, an S/MIME
    signed message whose signature matches it (trust is not judged here: verify it next);
    every failure on CBC content then gives one message, so no padding oracle is left.
    ``certificates`` (as for :func:`verify`) supply a signer's certificate the signed
    content does not carry, for that check. ``limits`` as for :func:`verify`.
    """
    o = keywords.settled("decrypt", options, keywords.DECRYPT_DEFAULTS)
    identity = check_identity(identity)
    extra = _given_certificates(o["certificates"])
    part = mime.find_smime_part(mime.input_bytes(message))
    if part is None or part.der is None or part.kind != "application/pkcs7-mime":
        raise ParseError("not an S/MIME encrypted message: no application/pkcs7-mime part")
    # Handed over in a box that _decrypt_part empties, so the DER (the size of the
    # message) is freed before the decrypted message is put together.
    der, headers, exact = [part.der], part.outer_headers, part.raw_cms
    del part
    return _decrypt_part(
        der, headers, identity, require_authenticated=o["require_authenticated"], exact=exact,
        certificates=extra,
    )[0]


def unauthenticated_refused(signature: str) -> DecryptionError:
    """Why ``require_authenticated=True`` refused content: the same words for every cause
    (bad padding, wrong key, unsigned or tampered content), so they tell an attacker
    nothing; ``signature`` names what was looked for (``"intact signature"``...)."""
    return DecryptionError.naming(
        "decryption refused (", Option("require_authenticated=True"), "): the content is "
        "encrypted without integrity protection (enveloped-data, such as AES-CBC) and no "
        f"{signature} inside the encryption vouches for it, so it may have been altered on "
        "the way (EFAIL)",
    )


def _signed_whole(content: bytes, certificates: Sequence[x509.Certificate] = ()) -> bool:
    """Whether ``content`` is, as a whole, a signed message whose signature matches it.

    Checked with the certificates the signature carries and the caller's; trust is not
    judged (``decrypt`` has no trust store). A tampered or forged plaintext fails here,
    whatever it looks like.
    """
    try:
        part = mime.find_smime_part(content)
        if part is None or part.der is None or part.path:
            return False
        if part.kind == "multipart/signed":
            info = verify_signed_data(part.der, part.signed_content or b"",
                                      extra_certificates=certificates)
        elif content_kind(part.der).layer == "signed":
            info = verify_signed_data(part.der, extra_certificates=certificates)
        else:
            return False
    except SMIMEError:
        return False
    return any(check.verified for check in info.signers)


def _decrypt_part(
    box: list[bytes],
    headers: Sequence[tuple[str, str]],
    identity: Identity,
    *,
    require_authenticated: bool = False,
    certificates: Sequence[x509.Certificate] = (),
    exact: bool = False,
) -> tuple[DecryptedMessage, bytes]:
    """Decrypt the DER taken out of ``box`` (emptied, so that only this frame holds it)."""
    der = box.pop()
    kind = content_kind(der)
    if kind.layer != "encrypted":
        raise ParseError(f"not an encrypted message: the S/MIME part holds {kind.label}")
    refuse = require_authenticated and not kind.authenticated
    try:
        decrypted = decrypt_enveloped_data(der, identity)
        del der
    except DecryptionError:
        if refuse:
            raise unauthenticated_refused("intact signature") from None
        raise
    if refuse and not _signed_whole(decrypted.content, certificates):
        raise unauthenticated_refused("intact signature")
    if not exact and mime.protected_section(decrypted.content) is not None:
        headers = ()  # RFC 9788: the payload's own header section; outer fields are ignored
    out = DecryptedMessage(mime.parse_inner(decrypted.content, headers, exact=exact).as_bytes())
    out.decryption = DecryptionInfo(
        cipher=decrypted.cipher,
        authenticated=decrypted.authenticated,
        key_management=decrypted.key_management,
        content_type=decrypted.content_type,
    )
    _records.decrypted(out.decryption, vouched=refuse)
    return out, decrypted.content


def _peel(
    part: mime.SMIMEPart,
    headers: Sequence[tuple[str, str]],
    identity: Identity | None,
    checks: _Checks,
) -> _Peeled | None:
    """Take one layer off, or None when the part is not a layer we open (certs-only ends)."""
    assert part.der is not None
    layer = "signed" if part.kind == "multipart/signed" else content_kind(part.der).layer
    if layer == "signed":
        if part.kind != "multipart/signed" and not verify_signed_data(part.der).signers:
            certs = tuple(read_certs_only(part.der))
            return _Peeled(
                Layer("certs-only", certs, part.path), b"", mime.parse_inner(b"", headers)
            )
        result, inner = _verify_part(part, headers, checks)
        return _Peeled(Layer("signed", result, part.path), inner, result.content)
    if layer == "encrypted":
        if identity is None:
            raise MissingKeyError("the message is encrypted: unwrap needs identity=")
        opened, inner = _decrypt_part([part.der], headers, identity, exact=part.raw_cms)
        return _Peeled(Layer("encrypted", opened.decryption, part.path), inner, opened)
    if layer == "compressed":
        inner = decompress_data(part.der)
        return _Peeled(
            Layer("compressed", None, part.path), inner,
            mime.parse_inner(inner, headers, exact=part.raw_cms),
        )
    return None


@accepts_limits
@keywords.spelled_out(keywords.UnwrapOptions, keywords.UNWRAP_DEFAULTS)
def unwrap(
    message: MessageInput,
    identity: Identity | None = None,
    trust: TrustInput = None,
    **options: Unpack[keywords.UnwrapOptions],
) -> UnwrapResult:
    """Peel every S/MIME layer (decrypt, verify, decompress), as a mail client does on receipt.

    Returns the innermost content and each layer's result, outermost first. Encrypted
    layers need ``identity`` (else :class:`~smime.errors.MissingKeyError`); signature
    layers are verified with ``trust`` and the other keywords of :func:`verify`
    (``certificates`` and ``store`` too), and
    recorded even when not valid: check ``result.valid``. Each layer works on the exact
    bytes the one outside it held.

    An encrypted layer without integrity (AES-CBC) counts as authenticated only when a
    signature layer inside it covers its whole content and is valid; otherwise the result
    carries an ``unauthenticated_content`` warning, or, with ``require_authenticated=True``,
    :class:`~smime.errors.DecryptionError` is raised (one message for every cause).

    Part paths (``part=``, each result's ``covers``) count from the message given, through
    the layers: a signed part 1 inside an encrypted part 2 is ``"2.1"``.

    ``limits`` caps the work of every layer, decompression included (:class:`smime.Limits`).

    When only a part is protected (an encrypted attachment, a signed part in an unsigned
    multipart/mixed) and ``part=`` does not name it, ``content`` is the whole message as
    received and ``parts`` lists every part with its protection; the protected part's
    plaintext is that entry's own ``content``. ``headers`` is the header section to show:
    the protected one when the payload carries one (RFC 9788); outer fields that differ
    from it without the sender's ``HP-Outer`` record are ``header_mismatch`` warnings.
    """
    o = keywords.settled("unwrap", options, keywords.UNWRAP_DEFAULTS)
    checks = verification_checks(trust, o, o["part"])
    require_authenticated = o["require_authenticated"]
    if identity is not None:
        identity = check_identity(identity)
    raw = mime.input_bytes(message)
    raw_cms = detect_raw_cms(raw) is not None
    if not raw_cms:
        check_is_message(raw)
    # Until a layer is peeled, the content is the message itself, as its exact bytes: a
    # re-serialisation could fail on damaged 8-bit headers, or change what was sent.
    current: EmailMessage = mime.parse_inner(raw, (), exact=raw_cms)
    headers: tuple[tuple[str, str], ...] = ()
    outermost: tuple[tuple[str, str], ...] = ()
    layers: list[Layer] = []
    before: list[tuple[EmailMessage, bytes]] = []  # each layer's surroundings, as peeled
    before_headers: list[tuple[tuple[str, str], ...]] = []
    opened_unauthenticated = False
    try:
        for _ in range(MAX_LAYERS):
            found = _inner_part(raw) if layers else mime.find_smime_part(raw)
            if found is None or found.der is None:
                break
            if not layers:
                outermost = found.outer_headers
            headers = _merged(headers, found.outer_headers)
            opened_unauthenticated = opened_unauthenticated or (
                require_authenticated and identity is not None and _without_integrity(found)
            )
            peeled = _peel(found, headers, identity, checks)
            if peeled is None:
                break
            before.append((current, raw))
            before_headers.append(headers)
            layers.append(peeled.layer)
            current = peeled.message
            if peeled.layer.kind == "certs-only":
                break
            raw = peeled.inner
            checks = _inside(checks, found)
        else:
            raise ParseError(f"more than {MAX_LAYERS} nested S/MIME layers")
    except SMIMEError:
        # Whatever failed inside CBC content (padding, parsing, a signature) must look
        # the same from outside, or the caller's errors become a padding oracle.
        if require_authenticated and opened_unauthenticated:
            raise unauthenticated_refused("valid signature") from None
        raise
    unvouched = _unvouched(layers)
    if unvouched and require_authenticated:
        raise unauthenticated_refused("valid signature")
    warnings = [_unauthenticated(layer) for layer in unvouched]
    section = None
    shown = headers
    if layers and all(not layer.path for layer in layers):
        section = mime.protected_section(raw)
        last = layers[-1].result
        if isinstance(last, VerificationResult):
            shown = last.headers or headers  # judged, mismatches reported, by that layer
        elif section is not None:
            shown = section.headers
            current = _payload_message(current, _shown_entity(raw, section))
            fatal, minor = _header_mismatches(
                outermost, section.headers, checks.policy, section, label_inside="protected"
            )
            warnings += [*fatal, *minor]
    parts: tuple[ProtectedPart, ...] = ()
    split = next((i for i, layer in enumerate(layers) if layer.path), None)
    if split is not None and not checks.part:
        # Only a part is protected: the message stays whole, the protected content is that
        # part's own (never spliced into the unprotected message: EFAIL).
        container, container_raw = before[split]

        def open_part(data: bytes) -> UnwrapResult:
            inside: keywords.UnwrapOptions = {
                **o, "require_authenticated": False, "part": None, "limits": None,
            }
            return unwrap(data, identity, trust, **inside)

        parts, more = _part_protection(
            container_raw, layers[split:], current, headers=before_headers[split],
            open_part=open_part,
        )
        warnings += more
        current = container
    return UnwrapResult(
        content=current, layers=tuple(layers), warnings=tuple(dict.fromkeys(warnings)),
        headers=shown, header_protection=section.form if section is not None else "",
        outer_headers=outermost, parts=parts,
    )


#: How deep unwrap opens S/MIME parts inside S/MIME parts beside the first one.
_PART_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("smime_part_depth", default=0)
_MAX_PART_DEPTH = 4


def _part_protection(
    container: bytes, layers: Sequence[Layer], plaintext: EmailMessage, *,
    headers: Sequence[tuple[str, str]], open_part: Callable[[bytes], UnwrapResult],
) -> tuple[tuple[ProtectedPart, ...], list[Problem]]:
    """Every part of ``container`` with its protection, and the warnings of the S/MIME
    parts opened here; ``layers`` were peeled off the part at ``layers[0].path``, leaving
    ``plaintext``. Other S/MIME parts are opened each as a message of their own, with the
    container's ``headers`` (so a signature is bound to its From)."""
    decrypted = _decryptions(layers)
    checked = [layer.result for layer in layers if isinstance(layer.result, VerificationResult)]
    signature_valid = None if not checked else all(
        bool(r.signers) and all(s.valid for s in r.signers)
        and all(p.code is ProblemCode.PARTIAL_SIGNATURE for p in r.problems)
        for r in checked
    )
    signed_by = _signed_by(checked)
    out = []
    warnings: list[Problem] = []
    for info in mime.leaf_parts(container):
        if info.path != layers[0].path and info.smime:
            part, found = _other_part(info, container, headers, open_part)
            out.append(part)
            warnings += found
            continue
        if info.path != layers[0].path:
            out.append(ProtectedPart(info.path, info.content_type, info.filename))
            continue
        out.append(ProtectedPart(
            info.path, info.content_type, info.filename,
            encrypted=bool(decrypted),
            authenticated=bool(signature_valid) or any(d.authenticated for d in decrypted),
            signed_by=signed_by, signature_valid=signature_valid, content=plaintext,
        ))
    return tuple(out), warnings


def _decryptions(layers: Sequence[Layer]) -> list[DecryptionInfo]:
    return [layer.result for layer in layers if isinstance(layer.result, DecryptionInfo)]


def _signed_by(checked: Sequence[VerificationResult]) -> tuple[str, ...]:
    """The signers' addresses, each once, in order."""
    return tuple(dict.fromkeys(
        address for r in checked for signer in r.signers for address in signer.email_addresses
    ))


def _other_part(
    info: mime.PartInfo, container: bytes, headers: Sequence[tuple[str, str]],
    open_part: Callable[[bytes], UnwrapResult],
) -> tuple[ProtectedPart, list[Problem]]:
    """An S/MIME part beside the first one, opened on its own."""
    plain = ProtectedPart(info.path, info.content_type, info.filename)
    depth = _PART_DEPTH.get()
    if depth >= _MAX_PART_DEPTH:
        return replace(plain, not_opened="nested too deep"), []
    token = _PART_DEPTH.set(depth + 1)
    try:
        entity = mime.parse_inner(container[info.start : info.end], headers).as_bytes()
        opened = open_part(entity)
    except SMIMEError as exc:
        return replace(plain, not_opened=str(exc)), []
    finally:
        _PART_DEPTH.reset(token)
    checked = opened.verifications
    decrypted = _decryptions(opened.layers)
    where = f" (part {info.path})"
    return replace(
        plain,
        encrypted=bool(decrypted),
        authenticated=(bool(checked) and opened.valid) or any(d.authenticated for d in decrypted),
        signed_by=_signed_by(checked),
        signature_valid=opened.valid if checked else None,
        content=opened.content,
    ), [Problem(w.code, f"{w}{where}") for w in opened.warnings]


def _payload_message(current: EmailMessage, entity: bytes) -> EmailMessage:
    """The protected payload as the content: its own header section, no outer field
    merged in (RFC 9788); a decrypted message keeps saying how it was encrypted."""
    shown = mime.parse_inner(entity, ())
    if isinstance(current, DecryptedMessage):
        out = DecryptedMessage(shown.as_bytes())
        out.decryption = current.decryption
        return out
    return shown


def _inner_part(raw: bytes) -> mime.SMIMEPart | None:
    """The S/MIME part of a layer's content; None when the content is not a MIME entity
    (bare text, as some tools encrypt): then there is nothing further to peel. Content
    that is itself a CMS structure (signed-data inside enveloped-data, as ``openssl cms``
    nests them) is the next layer."""
    if detect_raw_cms(raw) is not None:
        return mime.find_smime_part(raw)
    try:
        check_is_message(raw)
    except ParseError:
        return None
    return mime.find_smime_part(raw)


def _without_integrity(part: mime.SMIMEPart) -> bool:
    """An enveloped-data part: encrypted, if at all, without integrity (decided unopened)."""
    if part.kind != "application/pkcs7-mime" or part.der is None:
        return False
    kind = content_kind(part.der)
    return kind.layer == "encrypted" and not kind.authenticated


def _unvouched(layers: Sequence[Layer]) -> list[Layer]:
    """Encrypted layers without integrity that no valid signature inside covers whole.

    A signature counts when it lies inside the encrypted layer and every layer between
    (itself included) is the whole content of the one outside it: a signed part next to
    unsigned ones in a multipart does not vouch for those.
    """
    out: list[Layer] = []
    for i, layer in enumerate(layers):
        info = layer.result
        if not isinstance(info, DecryptionInfo) or info.authenticated:
            continue
        vouched = False
        for inner in layers[i + 1 :]:
            if inner.path:
                break
            if isinstance(inner.result, VerificationResult) and inner.result.valid:
                vouched = True
                break
        if not vouched:
            out.append(layer)
    return out


def _unauthenticated(layer: Layer) -> Problem:
    assert isinstance(layer.result, DecryptionInfo)
    where = f" (part {layer.path})" if layer.path else ""
    return Problem(
        ProblemCode.UNAUTHENTICATED_CONTENT,
        f"the content was encrypted with {layer.result.cipher}{where}, which does not detect "
        "tampering, and no valid signature inside the encryption covers it: it may have been "
        "altered on the way (EFAIL), so do not render it as HTML, follow its links or act on "
        "it (require_authenticated=True refuses such content)",
    )
