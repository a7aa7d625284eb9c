"""What the streaming API (``smime.stream``) shares with the in-memory one: how options
become signer and recipient specs, and how a signature's checks become a
:class:`~smime.VerificationResult`. One rule each, so both APIs decide alike."""

from __future__ import annotations

from collections.abc import Sequence

from .. import mime
from ..cms import SignedDataInfo
from ..problems import Problem
from ..results import VerificationResult
from . import _records
from ._input import RecipientInput
from .receiving import (
    _Checks,
    _merged,
    _without_hp_outer,
    judge_signers,
    stored_signer_certificates,
    verification_checks,
)
from .sending import header_protection, micalg, recipient_specs, signer_specs

__all__ = [
    "Checks",
    "RecipientInput",
    "header_protection",
    "micalg",
    "recipient_specs",
    "signed_result",
    "signer_specs",
    "stored_signer_certificates",
    "verification_checks",
]

Checks = _Checks


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
    section = None if view.wrapped else mime.protected_section(view.entity)
    signed_headers = _without_hp_outer(view.headers)
    content = mime.parse_inner(view.entity, () if section is not None else outer_headers)
    signers, problems, warnings = judge_signers(
        info, checks, helpers=(*info.certificates, *checks.certificates),
        outer_headers=outer_headers, signed_headers=signed_headers, raw=not mail, notes=notes,
        section=section,
    )
    result = VerificationResult(
        content=content,
        signers=signers,
        problems=tuple(dict.fromkeys(problems)),
        certificates=info.certificates,
        detached=detached,
        warnings=tuple(dict.fromkeys(warnings)),
        signed_headers=signed_headers,
        verified_with=checks.context(info),
        headers=section.headers if section is not None else _merged(outer_headers,
                                                                    signed_headers),
    )
    _records.verified(result)
    return result
