"""The one place that talks to pyhanko-certvalidator: build a context, validate, report.

pyhanko finds and checks the path (signatures, validity, name and policy constraints,
basic constraints) and fetches declared CRLs and OCSP responses when asked. It runs with
its "check if declared, tolerate failures" revocation rule; our own checker then decides
revocation from everything pyhanko saw plus what the caller gave, because pyhanko alone
would ignore a caller's CRL for a certificate that declares no distribution point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import (
    NO_REVOCATION,
    AcceptAllAlgorithms,
    AlgorithmUsagePolicy,
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)

from ._pyhanko_outcome import PyhankoOutcome

__all__ = ["PathQuery", "PyhankoOutcome", "validate_path"]

_SOFT = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
        RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
    ),
    # a CRL issued after the (signing) time still tells whether the key was revoked then
    retroactive_revinfo=True,
)
_OFF = CertRevTrustPolicy(NO_REVOCATION)


#: Smallest RSA and DSA keys we accept in a chain unless weak algorithms are allowed.
MIN_KEY_BITS = 2048


def _algorithm_policy(weak_hashes: frozenset[str] | None) -> AlgorithmUsagePolicy:
    """None: accept everything; else refuse these digests and keys under 2048 bits."""
    if weak_hashes is None:
        return AcceptAllAlgorithms()
    return DisallowWeakAlgorithmsPolicy(
        weak_hash_algos=weak_hashes, rsa_key_size_threshold=MIN_KEY_BITS,
        dsa_key_size_threshold=MIN_KEY_BITS,
    )


def _signer_first(path: ValidationPath) -> tuple[bytes, ...]:
    certs = list(path.iter_certs(include_root=True))
    return tuple(c.dump() for c in reversed(certs))


@dataclass(frozen=True)
class PathQuery:
    """One path validation asked of pyhanko: the certificates (asn1crypto), the revocation
    data and rules, the time, and the digests refused (None: every algorithm allowed)."""

    signer: asn1_x509.Certificate
    intermediates: Sequence[asn1_x509.Certificate]
    anchors: Sequence[asn1_x509.Certificate]
    crls: Sequence[bytes]
    ocsps: Sequence[bytes]
    at: dt.datetime
    check_revocation: bool
    fetch: bool
    timeout: float
    weak_hashes: frozenset[str] | None


async def _run(query: PathQuery) -> PyhankoOutcome:
    backend = None
    check = query.check_revocation
    if query.fetch and check:
        from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

        backend = AIOHttpFetcherBackend(per_request_timeout=query.timeout)
    context = ValidationContext(
        trust_roots=list(query.anchors),
        other_certs=list(query.intermediates),
        crls=list(query.crls) if check else [],
        ocsps=list(query.ocsps) if check else [],
        moment=query.at,
        allow_fetching=backend is not None,
        fetcher_backend=backend,
        revinfo_policy=_SOFT if check else _OFF,
        algorithm_usage_policy=_algorithm_policy(query.weak_hashes),
    )
    path: tuple[bytes, ...] | None = None
    tried: tuple[bytes, ...] | None = None
    error: Exception | None = None
    try:
        validated = await CertificateValidator(
            query.signer, validation_context=context
        ).async_validate_path()
        path = _signer_first(validated)
    except PathValidationError as exc:
        error = exc
        try:
            tried = _signer_first(exc.original_path)
        except Exception:  # a partial path pyhanko could not describe
            tried = None
    except Exception as exc:  # PathBuildingError, and anything malformed input provokes
        error = exc
    finally:
        fetched_crls: tuple[bytes, ...] = ()
        fetched_ocsps: tuple[bytes, ...] = ()
        if backend is not None:
            manager = context.revinfo_manager
            fetched_crls = tuple(c.dump() for c in manager.crls)
            fetched_ocsps = tuple(o.dump() for o in manager.ocsps)
        failures = tuple(str(e) for e in context.soft_fail_exceptions)
        await context.aclose()
        if backend is not None:  # ours, not the context's: it closes only what it made
            await backend.close()
    return PyhankoOutcome(path, tried, error, fetched_crls, fetched_ocsps, failures)


async def validate_path(query: PathQuery) -> PyhankoOutcome:
    """Validate the path; when pyhanko's own revocation step aborts it, validate again
    without revocation so the other checks still report, and let our checker decide."""
    outcome = await _run(query)
    if query.check_revocation and isinstance(outcome.error, InsufficientRevinfoError):
        again = await _run(replace(query, crls=(), ocsps=(), check_revocation=False,
                                   fetch=False))
        return PyhankoOutcome(
            again.path, again.tried_path, again.error, outcome.fetched_crls,
            outcome.fetched_ocsps, (*outcome.fetch_failures, str(outcome.error)), calls=2,
        )
    return outcome
