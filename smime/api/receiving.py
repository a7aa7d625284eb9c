"""The receiving side: verify, decrypt, unwrap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import getaddresses

from cryptography import x509

from .. import mime
from ..algorithms import check_option
from ..cms import _asn1
from ..cms.certs import read_certs_only
from ..cms.compressed import decompress_data
from ..cms.enveloped import decrypt_enveloped_data
from ..cms.signed import SignedDataInfo, SignerCheck, verify_signed_data
from ..errors import DecryptionError, ParseError
from ..keys import Identity, certificate_emails
from ..limits import Limits, accepts_limits
from ..problems import Problem, ProblemCode
from ..results import (
    DecryptedMessage,
    DecryptionInfo,
    Layer,
    SignerResult,
    UnwrapResult,
    VerificationResult,
)
from ..validation import (
    DEFAULT_POLICY,
    TrustStore,
    VerificationPolicy,
    check_key_usage,
    check_sender,
    validate_certificate,
    validation_times,
)
from ._input import MessageInput

__all__ = ["decrypt", "unwrap", "verify"]

MAX_LAYERS = 16
REVOCATION_MODES = ("soft-fail", "hard-fail", "off")
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


def _as_bytes(items: Iterable[bytes | str] | None) -> list[bytes]:
    out: list[bytes] = []
    for item in items or ():
        if isinstance(item, str):
            out.append(item.encode("ascii"))
        elif hasattr(item, "public_bytes"):
            from cryptography.hazmat.primitives.serialization import Encoding

            out.append(item.public_bytes(Encoding.DER))
        else:
            out.append(bytes(item))
    return out


def _raw_headers(message: EmailMessage) -> list[tuple[str, str]]:
    """Header values as sent: the email package's parsers can fail on damaged headers."""
    return [(name, str(value)) for name, value in message.raw_items()]


def _sender_addresses(headers: Sequence[tuple[str, str]]) -> list[str]:
    wanted = {"from", "sender"}
    values = [value for name, value in headers if name.lower() in wanted]
    return [addr for _name, addr in getaddresses(values) if addr]


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
    *,
    trust: TrustStore,
    senders: Sequence[str],
    crls: list[bytes],
    ocsp_responses: list[bytes],
    at: dt.datetime | None,
    revocation: str,
    fetch: bool,
    policy: VerificationPolicy,
) -> SignerResult:
    problems = list(check.problems)
    chain: tuple[x509.Certificate, ...] = ()
    trusted = bool(check.certificate)
    cert = check.certificate
    now = dt.datetime.now(dt.timezone.utc)
    if cert is not None:
        future = _future_signing_time(check, now)
        if future is not None:
            problems.append(future)
        moments = (
            (at,) if at is not None else validation_times(cert, check.signing_time, policy, now=now)
        )
        # Weak algorithms are always looked for; the policy decides below whether they are
        # fatal or only warnings, so a weak chain that is otherwise fine is checked again.
        strict = replace(policy, allow_weak_algorithms=False)
        for when in moments:
            kwargs = dict(
                trust=trust,
                intermediates=info.certificates,
                at=when,
                crls=[*crls, *info.crls],
                ocsp_responses=[*ocsp_responses, *info.ocsp_responses],
                revocation=revocation,
                fetch=fetch,
            )
            outcome = validate_certificate(cert, policy=strict, **kwargs)  # type: ignore[arg-type]
            if policy.allow_weak_algorithms and any(
                p.code == ProblemCode.WEAK_ALGORITHM for p in outcome.problems
            ):
                problems.extend(p for p in outcome.problems if p.code == ProblemCode.WEAK_ALGORITHM)
                outcome = validate_certificate(cert, policy=policy, **kwargs)  # type: ignore[arg-type]
            chain = chain or outcome.chain
            trusted = trusted and outcome.trusted
            problems.extend(p for p in outcome.problems if p not in problems)
        problems.extend(p for p in check_key_usage(cert, policy) if p not in problems)
        if policy.require_sender_match:
            binding = check_sender(cert, senders, policy=policy)
            if binding is not None:
                problems.append(binding)
    fatal, warnings = _split_weak(problems, policy)
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
    revocation: str
    fetch: bool
    policy: VerificationPolicy


def _checks(
    trust: TrustStore | None,
    crls: Iterable[bytes | str] | None,
    ocsp_responses: Iterable[bytes] | None,
    at: dt.datetime | None,
    revocation: str,
    fetch: bool,
    policy: VerificationPolicy | None,
) -> _Checks:
    check_option("revocation", revocation, REVOCATION_MODES)
    return _Checks(
        trust=trust if trust is not None else TrustStore.from_certificates([]),
        crls=_as_bytes(crls),
        ocsp_responses=_as_bytes(ocsp_responses),
        at=at,
        revocation=revocation,
        fetch=fetch,
        policy=policy or DEFAULT_POLICY,
    )


@dataclass(frozen=True)
class _Peeled:
    """One layer taken off: its result, and the exact bytes of what it held."""

    layer: Layer
    inner: bytes
    message: EmailMessage


def _verify_part(
    part: mime.SMIMEPart, headers: Sequence[tuple[str, str]], checks: _Checks
) -> tuple[VerificationResult, bytes]:
    """Verify one signature layer; ``headers`` are the message's outer headers (for From)."""
    assert part.der is not None
    notes: list[Problem] = []
    if part.kind == "multipart/signed":
        inner = part.signed_content or b""
        info = verify_signed_data(part.der, inner)
        if info.signers and not any(c.intact for c in info.signers) and b"\r\n" in inner:
            # Some signers (older NSS) digest the part with bare LF line ends. The bytes
            # they signed are still exactly these; we accept them and say so.
            bare = inner.replace(b"\r\n", b"\n")
            retry = verify_signed_data(part.der, bare)
            if all(c.intact for c in retry.signers):
                info, inner = retry, bare
                notes.append(Problem(
                    ProblemCode.MALFORMED,
                    "the signature covers the content with bare LF line ends instead of the "
                    "canonical CRLF (RFC 8551 §3.1.1); relays may break it",
                ))
    else:
        kind = _asn1.content_type_of(part.der)
        if kind != "signed_data":
            raise ParseError(
                f"not a signed message: the S/MIME part holds {kind.replace('_', '-')}"
            )
        info = verify_signed_data(part.der)
        inner = info.content or b""
    content = mime.parse_inner(inner, headers)
    senders = _sender_addresses(headers) or _sender_addresses(_raw_headers(content))
    signers = tuple(
        _signer_result(
            check,
            info,
            trust=checks.trust,
            senders=senders,
            crls=checks.crls,
            ocsp_responses=checks.ocsp_responses,
            at=checks.at,
            revocation=checks.revocation,
            fetch=checks.fetch,
            policy=checks.policy,
        )
        for check in info.signers
    )
    problems: list[Problem] = []
    if not signers:
        problems.append(
            Problem(ProblemCode.NO_SIGNERS, "the message carries no signature (no signers)")
        )
    # Each problem once, in order of appearance: dict keys, so linear in the signers.
    problems.extend(p for signer in signers for p in signer.problems)
    warnings = [*notes, *(p for signer in signers for p in signer.warnings)]
    result = VerificationResult(
        content=content,
        signers=signers,
        problems=tuple(dict.fromkeys(problems)),
        certificates=info.certificates,
        detached=part.kind == "multipart/signed",
        covers=part.path,
        warnings=tuple(dict.fromkeys(warnings)),
    )
    return result, inner


def _merged(
    outer: Sequence[tuple[str, str]], inner: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """The headers a layer shows: its own, then the outer ones it does not repeat."""
    names = {name.lower() for name, _ in inner}
    return (*inner, *((n, v) for n, v in outer if n.lower() not in names))


@accepts_limits
def verify(
    message: MessageInput,
    trust: TrustStore | None = None,
    *,
    crls: Iterable[bytes | str] | None = None,
    ocsp_responses: Iterable[bytes] | None = None,
    at: dt.datetime | None = None,
    revocation: str = "soft-fail",
    fetch: bool = False,
    policy: VerificationPolicy | None = None,
    limits: Limits | None = None,
) -> VerificationResult:
    """Verify a signed message as a careful mail client does.

    An invalid signature is a result (``result.valid`` False, ``result.problems`` saying
    why), never an exception; malformed input raises :class:`~smime.errors.ParseError`.
    ``trust`` holds the roots you trust (nothing is trusted without it); ``crls`` and
    ``ocsp_responses`` add revocation data to what the message carries; ``at`` fixes the
    validation time (default: the signing time when the policy says so, else now);
    ``revocation`` is ``"soft-fail"``, ``"hard-fail"`` or ``"off"``; ``fetch=True`` fetches
    CRLs and OCSP responses named in the certificates. ``limits`` caps the work a hostile
    message can cause (:class:`smime.Limits`; beyond a cap, LimitExceededError).
    """
    checks = _checks(trust, crls, ocsp_responses, at, revocation, fetch, policy)
    part = mime.find_smime_part(mime.input_bytes(message))
    if part is None or part.der is None:
        raise ParseError("not an S/MIME signed message: no multipart/signed or signed-data part")
    return _verify_part(part, part.outer_headers, checks)[0]


@accepts_limits
def decrypt(
    message: MessageInput, identity: Identity, *, limits: Limits | None = None
) -> DecryptedMessage:
    """Decrypt an enveloped or authEnveloped message with ``identity``.

    Every key or integrity failure raises the same :class:`~smime.errors.DecryptionError`.
    The result's ``decryption.authenticated`` is False for CBC content: unless it is also
    signed, it may have been altered (EFAIL). ``limits`` as for :func:`verify`.
    """
    part = mime.find_smime_part(mime.input_bytes(message))
    if part is None or part.der is None or part.kind != "application/pkcs7-mime":
        raise ParseError("not an S/MIME encrypted message: no application/pkcs7-mime part")
    return _decrypt_part(part, part.outer_headers, identity)[0]


def _decrypt_part(
    part: mime.SMIMEPart, headers: Sequence[tuple[str, str]], identity: Identity
) -> tuple[DecryptedMessage, bytes]:
    assert part.der is not None
    kind = _asn1.content_type_of(part.der)
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise ParseError(
            f"not an encrypted message: the S/MIME part holds {kind.replace('_', '-')}"
        )
    decrypted = decrypt_enveloped_data(part.der, identity)
    out = DecryptedMessage(mime.parse_inner(decrypted.content, headers).as_bytes())
    out.decryption = DecryptionInfo(
        cipher=decrypted.cipher,
        authenticated=decrypted.authenticated,
        key_management=decrypted.key_management,
        content_type=decrypted.content_type,
    )
    return out, decrypted.content


def _peel(
    part: mime.SMIMEPart,
    headers: Sequence[tuple[str, str]],
    identity: Identity | None,
    checks: _Checks,
) -> _Peeled | None:
    """Take one layer off, or None when the part is not a layer we open (certs-only ends)."""
    assert part.der is not None
    kind = "signed_data" if part.kind == "multipart/signed" else _asn1.content_type_of(part.der)
    if kind == "signed_data":
        if part.kind != "multipart/signed" and not verify_signed_data(part.der).signers:
            certs = tuple(read_certs_only(part.der))
            return _Peeled(
                Layer("certs-only", certs, part.path), b"", mime.parse_inner(b"", headers)
            )
        result, inner = _verify_part(part, headers, checks)
        return _Peeled(Layer("signed", result, part.path), inner, result.content)
    if kind in ("enveloped_data", "authenticated_enveloped_data"):
        if identity is None:
            raise DecryptionError("the message is encrypted: unwrap needs identity=")
        opened, inner = _decrypt_part(part, headers, identity)
        return _Peeled(Layer("encrypted", opened.decryption, part.path), inner, opened)
    if kind == "compressed_data":
        inner = decompress_data(part.der)
        return _Peeled(
            Layer("compressed", None, part.path), inner, mime.parse_inner(inner, headers)
        )
    return None


@accepts_limits
def unwrap(
    message: MessageInput,
    identity: Identity | None = None,
    trust: TrustStore | None = None,
    *,
    crls: Iterable[bytes | str] | None = None,
    ocsp_responses: Iterable[bytes] | None = None,
    at: dt.datetime | None = None,
    revocation: str = "soft-fail",
    fetch: bool = False,
    policy: VerificationPolicy | None = None,
    limits: Limits | None = None,
) -> UnwrapResult:
    """Peel every S/MIME layer (decrypt, verify, decompress), as a mail client does on receipt.

    Returns the innermost content and each layer's result, outermost first. Encrypted
    layers need ``identity`` (else DecryptionError); signature layers are verified with
    ``trust`` and the other keywords of :func:`verify`, and recorded even when not valid:
    check ``result.valid``. Each layer works on the exact bytes the one outside it held.
    ``limits`` caps the work of every layer, decompression included (:class:`smime.Limits`).
    """
    checks = _checks(trust, crls, ocsp_responses, at, revocation, fetch, policy)
    raw = mime.input_bytes(message)
    current: EmailMessage = mime.to_message(raw)
    headers: tuple[tuple[str, str], ...] = ()
    layers: list[Layer] = []
    for _ in range(MAX_LAYERS):
        part = mime.find_smime_part(raw)
        if part is None or part.der is None:
            break
        headers = _merged(headers, part.outer_headers)
        peeled = _peel(part, headers, identity, checks)
        if peeled is None:
            break
        layers.append(peeled.layer)
        current = peeled.message
        if peeled.layer.kind == "certs-only":
            break
        raw = peeled.inner
    else:
        raise ParseError(f"more than {MAX_LAYERS} nested S/MIME layers")
    return UnwrapResult(content=current, layers=tuple(layers))
