"""The receiving side: verify, decrypt, unwrap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses

from cryptography import x509

from .. import mime
from ..cms import _asn1
from ..cms.certs import read_certs_only
from ..cms.compressed import decompress_data
from ..cms.enveloped import decrypt_enveloped_data
from ..cms.signed import SignedDataInfo, SignerCheck, verify_signed_data
from ..errors import DecryptionError, ParseError
from ..keys import Identity, certificate_emails
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
)
from ._input import MessageInput

__all__ = ["decrypt", "unwrap", "verify"]

MAX_LAYERS = 16
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


def _raw(message: MessageInput) -> bytes:
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    if isinstance(message, str):
        return message.encode("utf-8", "surrogateescape")
    return mime.message_bytes(message)


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


def _sender_addresses(headers: Sequence[tuple[str, str]]) -> list[str]:
    wanted = {"from", "sender"}
    values = [value for name, value in headers if name.lower() in wanted]
    return [addr for _name, addr in getaddresses(values) if addr]


def _validation_time(
    check: SignerCheck, at: dt.datetime | None, policy: VerificationPolicy, now: dt.datetime
) -> tuple[dt.datetime, Problem | None]:
    if at is not None:
        return at, None
    signing_time = check.signing_time
    if signing_time is not None and signing_time > now + FUTURE_TOLERANCE:
        return now, Problem(
            ProblemCode.SIGNING_TIME_INVALID,
            f"the signing time {signing_time.isoformat()} lies in the future",
        )
    if policy.validate_at == "signing_time" and signing_time is not None:
        return signing_time, None
    return now, None


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
    trusted = False
    cert = check.certificate
    now = dt.datetime.now(dt.timezone.utc)
    if cert is not None:
        moment, time_problem = _validation_time(check, at, policy, now)
        if time_problem:
            problems.append(time_problem)
        moments = [moment]
        if at is None and policy.validate_at == "both" and moment != now:
            moments.append(now)
        for when in moments:
            outcome = validate_certificate(
                cert,
                trust=trust,
                intermediates=info.certificates,
                at=when,
                crls=[*crls, *info.crls],
                ocsp_responses=[*ocsp_responses, *info.ocsp_responses],
                revocation=revocation,
                fetch=fetch,
                policy=policy,
            )
            chain = chain or outcome.chain
            trusted = outcome.trusted if when is moment else (trusted and outcome.trusted)
            problems.extend(p for p in outcome.problems if p not in problems)
        problems.extend(p for p in check_key_usage(cert, policy) if p not in problems)
        if policy.require_sender_match:
            binding = check_sender(cert, senders)
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
) -> VerificationResult:
    """Verify a signed message as a careful mail client does.

    An invalid signature is a result (``result.valid`` False, ``result.problems`` saying
    why), never an exception; malformed input raises :class:`~smime.errors.ParseError`.
    ``trust`` holds the roots you trust (nothing is trusted without it); ``crls`` and
    ``ocsp_responses`` add revocation data to what the message carries; ``at`` fixes the
    validation time (default: the signing time when the policy says so, else now).
    """
    policy = policy or DEFAULT_POLICY
    trust = trust if trust is not None else TrustStore.from_certificates([])
    raw = _raw(message)
    part = mime.find_smime_part(raw)
    if part is None or part.der is None:
        raise ParseError("not an S/MIME signed message: no multipart/signed or signed-data part")
    if part.kind == "multipart/signed":
        info = verify_signed_data(part.der, part.signed_content)
        content = mime.parse_inner(part.signed_content or b"", ())
    else:
        kind = _asn1.content_type_of(part.der)
        if kind != "signed_data":
            raise ParseError(f"not a signed message: the S/MIME part holds {kind.replace('_', '-')}")
        info = verify_signed_data(part.der)
        content = mime.parse_inner(info.content or b"", part.outer_headers)
    senders = _sender_addresses(part.outer_headers) or _sender_addresses(list(content.items()))
    signers = tuple(
        _signer_result(
            check, info, trust=trust, senders=senders, crls=_as_bytes(crls),
            ocsp_responses=_as_bytes(ocsp_responses), at=at, revocation=revocation,
            fetch=fetch, policy=policy,
        )
        for check in info.signers
    )
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if not signers:
        problems.append(Problem(ProblemCode.NO_SIGNERS, "the message carries no signature (no signers)"))
    for signer in signers:
        problems.extend(p for p in signer.problems if p not in problems)
        warnings.extend(p for p in signer.warnings if p not in warnings)
    return VerificationResult(
        content=content,
        signers=signers,
        problems=tuple(problems),
        certificates=info.certificates,
        detached=part.kind == "multipart/signed",
        covers=part.path,
        warnings=tuple(warnings),
    )


def decrypt(message: MessageInput, identity: Identity) -> DecryptedMessage:
    """Decrypt an enveloped or authEnveloped message with ``identity``.

    Every key or integrity failure raises the same :class:`~smime.errors.DecryptionError`.
    The result's ``decryption.authenticated`` is False for CBC content: unless it is also
    signed, it may have been altered (EFAIL).
    """
    part = mime.find_smime_part(_raw(message))
    if part is None or part.der is None or part.kind != "application/pkcs7-mime":
        raise ParseError("not an S/MIME encrypted message: no application/pkcs7-mime part")
    return _decrypt_part(part, identity)


def _decrypt_part(part: mime.SMIMEPart, identity: Identity) -> DecryptedMessage:
    assert part.der is not None
    kind = _asn1.content_type_of(part.der)
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise ParseError(f"not an encrypted message: the S/MIME part holds {kind.replace('_', '-')}")
    decrypted = decrypt_enveloped_data(part.der, identity)
    inner = mime.parse_inner(decrypted.content, part.outer_headers)
    out = DecryptedMessage(policy=inner.policy)
    out.__dict__.update(inner.__dict__)
    out.decryption = DecryptionInfo(
        cipher=decrypted.cipher,
        authenticated=decrypted.authenticated,
        key_management=decrypted.key_management,
        content_type=decrypted.content_type,
    )
    return out


def unwrap(
    message: MessageInput,
    identity: Identity | None = None,
    trust: TrustStore | None = None,
    **verify_options: object,
) -> UnwrapResult:
    """Peel every S/MIME layer (decrypt, verify, decompress), as a mail client does on receipt.

    Returns the innermost content and each layer's result, outermost first. Encrypted
    layers need ``identity`` (else DecryptionError); signature layers are verified with
    ``trust`` and ``verify_options`` (the keywords of :func:`verify`) and recorded even when
    not valid: check ``result.valid``.
    """
    current: EmailMessage = mime.to_message(message)
    raw = _raw(message)
    layers: list[Layer] = []
    for _ in range(MAX_LAYERS):
        part = mime.find_smime_part(raw)
        if part is None or part.der is None:
            break
        if part.kind == "multipart/signed":
            result = verify(raw, trust, **verify_options)  # type: ignore[arg-type]
            layers.append(Layer("signed", result, part.path))
            current = result.content
        else:
            kind = _asn1.content_type_of(part.der)
            if kind == "signed_data":
                try:
                    certs_only = not verify_signed_data(part.der).signers
                except ParseError:
                    certs_only = False
                if certs_only:
                    layers.append(Layer("certs-only", tuple(read_certs_only(part.der)), part.path))
                    break
                result = verify(raw, trust, **verify_options)  # type: ignore[arg-type]
                layers.append(Layer("signed", result, part.path))
                current = result.content
            elif kind in ("enveloped_data", "authenticated_enveloped_data"):
                if identity is None:
                    raise DecryptionError("the message is encrypted: unwrap needs identity=")
                current = _decrypt_part(part, identity)
                layers.append(Layer("encrypted", current.decryption, part.path))  # type: ignore[attr-defined]
            elif kind == "compressed_data":
                current = mime.parse_inner(decompress_data(part.der), part.outer_headers)
                layers.append(Layer("compressed", None, part.path))
            else:
                break
        raw = mime.message_bytes(current)
    else:
        raise ParseError(f"more than {MAX_LAYERS} nested S/MIME layers")
    return UnwrapResult(content=current, layers=tuple(layers))
