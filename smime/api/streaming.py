"""What the streaming API (``smime.stream``) shares with the in-memory one: how options
become signer and recipient specs, and how a signature's checks become a
:class:`~smime.VerificationResult`. One rule each, so both APIs decide alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import algorithms, mime
from ..cms import RecipientSpec, SignedDataInfo, SignerSpec
from ..keys import Identity
from ..options import (
    IDENTIFY_BY,
    CipherChoice,
    DigestName,
    IdentifyBy,
    KeyTransportChoice,
    RevocationMode,
    SignaturePadding,
)
from ..problems import Problem, ProblemCode
from ..results import VerificationResult
from ..validation import TrustStore, ValidationContext, VerificationPolicy
from ._input import RecipientInput, identities, recipient_certificates
from .receiving import (
    CertificatesInput,
    _carries,
    _Checks,
    _checks,
    _header_mismatches,
    _sender_addresses,
    _signer_result,
)
from .sending import _capabilities_for, _micalg, _supports

if TYPE_CHECKING:
    from ..store import CertificateStore

__all__ = ["Checks", "RecipientInput", "micalg", "recipient_specs", "signed_result", "signer_specs",
           "verification_checks"]

Checks = _Checks


def signer_specs(
    signers: Identity | Sequence[Identity],
    *,
    digest: DigestName,
    signature_padding: SignaturePadding,
    include_chain: bool,
    identify_by: IdentifyBy,
    signed_attributes: bool,
    encryption_certificate: x509.Certificate | None,
) -> list[SignerSpec]:
    """The SignerSpecs ``smime.sign`` makes from its keywords."""
    algorithms.check_option("digest", digest, algorithms.SIGNING_DIGESTS)
    algorithms.check_option("signature_padding", signature_padding, algorithms.SIGNATURE_PADDINGS)
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    specs = [
        SignerSpec(
            identity=identity,
            digest=digest,
            padding=signature_padding if isinstance(identity.key, rsa.RSAPrivateKey)
            else "pkcs1v15",
            identify_by=identify_by,
            include_chain=include_chain,
            signed_attributes=signed_attributes,
            encryption_certificate=encryption_certificate,
        )
        for identity in identities(signers)
    ]
    if signature_padding == "pss" and not any(
        isinstance(s.identity.key, rsa.RSAPrivateKey) for s in specs
    ):
        algorithms.check_option(
            "signature_padding (for non-RSA keys)", signature_padding, ("pkcs1v15",)
        )
    return specs


def micalg(specs: Sequence[SignerSpec]) -> str:
    """The multipart/signed micalg parameter for these signers."""
    return _micalg(specs)


def recipient_specs(
    recipients: RecipientInput | Sequence[RecipientInput],
    *,
    cipher: CipherChoice,
    key_transport: KeyTransportChoice,
    identify_by: IdentifyBy,
    capabilities: Sequence[str] | Mapping[str, Sequence[str]] | None,
    store: CertificateStore | None,
    check_usage: bool,
) -> tuple[list[RecipientSpec], str]:
    """(RecipientSpecs, cipher) as ``smime.encrypt`` chooses them (``auto`` resolved)."""
    algorithms.check_option("cipher", cipher, ("auto", *algorithms.WRITABLE_CIPHERS))
    algorithms.check_option("key_transport", key_transport, ("auto", *algorithms.KEY_TRANSPORTS))
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    found = recipient_certificates(recipients, store)
    known = [_capabilities_for(cert, address, capabilities, store) for cert, address in found]
    if cipher == "auto":
        cipher = "aes-256-gcm" if all(_supports(c, "aes-256-gcm") for c in known) else "aes-256-cbc"
    specs = []
    for (cert, _address), caps in zip(found, known, strict=False):
        transport = key_transport
        if transport == "auto":
            transport = "rsa-oaep" if _supports(caps, "rsa-oaep") else "rsa-pkcs1v15"
        specs.append(RecipientSpec(certificate=cert, key_transport=transport,
                                   identify_by=identify_by, check_usage=check_usage))
    return specs, cipher


def verification_checks(
    trust: TrustStore | None,
    *,
    crls: Iterable[bytes | str] | None,
    ocsp_responses: Iterable[bytes] | None,
    at: dt.datetime | None,
    revocation: RevocationMode,
    fetch: bool,
    policy: VerificationPolicy | None,
    certificates: CertificatesInput = None,
) -> Checks:
    """``verify``'s keywords, checked and resolved once (before any input is read)."""
    return _checks(trust, crls, ocsp_responses, at, revocation, fetch, policy,
                   certificates=certificates)


def signed_result(
    info: SignedDataInfo,
    *,
    checks: Checks,
    outer_headers: Sequence[tuple[str, str]],
    entity_head: bytes,
    detached: bool,
    mail: bool = True,
    notes: Sequence[Problem] = (),
) -> VerificationResult:
    """The verdict on a signature whose content was checked by digest as it streamed by.

    ``entity_head`` is the signed entity's header block (its body went elsewhere): the
    result's ``content`` shows those headers; the From among them binds the signer.
    ``mail=False``: a raw CMS file whose content is no message has no sender to bind
    the signer to, so the policy's sender match does not apply.
    """
    view = mime.signed_view(entity_head)
    if not mail and not view.headers and checks.policy.require_sender_match:
        checks = replace(checks, policy=replace(checks.policy, require_sender_match=False))
    content = mime.parse_inner(view.entity, outer_headers)
    binding = view.headers if _carries(view.headers, "from") else outer_headers
    senders = _sender_addresses(binding)
    sender_header = _sender_addresses(binding, "sender")
    signers = tuple(
        _signer_result(
            check, info, helpers=(*info.certificates, *checks.certificates),
            trust=checks.trust, senders=senders, sender_header=sender_header,
            crls=checks.crls, ocsp_responses=checks.ocsp_responses, at=checks.at,
            revocation=checks.revocation, fetch=checks.fetch, policy=checks.policy,
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
    fatal, minor = _header_mismatches(outer_headers, view.headers, checks.policy)
    problems.extend(fatal)
    warnings.extend(minor)
    return VerificationResult(
        content=content,
        signers=signers,
        problems=tuple(dict.fromkeys(problems)),
        certificates=info.certificates,
        detached=detached,
        warnings=tuple(dict.fromkeys(warnings)),
        signed_headers=view.headers,
        verified_with=ValidationContext(
            checks.trust, (*checks.crls, *info.crls),
            (*checks.ocsp_responses, *info.ocsp_responses), checks.revocation, checks.fetch,
            checks.policy),
    )
