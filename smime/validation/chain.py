"""Is this certificate trusted, at this time, for signing mail? One call, one frozen answer.

``validate_certificate`` has the path built and checked by cryptography's Rust verifier
where its verdict is pyhanko-certvalidator's (see :mod:`._rust`), by pyhanko otherwise,
decides revocation itself (see :mod:`smime.validation.revocation`), adds the signer's key
usage checks, and turns every failure into a :class:`~smime.problems.Problem` with a stable
code and a sentence. Results are cached per chain for the stretch of time in which nothing
changes state (see ``_window``): mail clients see the same signers over and over, each
message with a new signing time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._cache import CacheInfo, LRUCache
from .._log import Lazy
from .._log import validation as _LOG
from ..algorithms import WEAK_DIGESTS
from ..core.names import certificate_label
from ..core.pickling import reduce_fields
from ..core.views import certificate_dict
from ..errors import LoadError, Option, UnsupportedError
from ..keys import CertificateLike, to_certificate
from ..options import RevocationMode
from ..problems import Problem, ProblemCode
from ._common import RevocationStatus, issued_by, name_key, utc
from ._crl import load_crl
from ._errors import (
    problem_from_error,
    revoked_problem,
    unknown_problem,
    untrusted_problem,
    validity_problems,
)
from ._pyhanko_outcome import PyhankoOutcome
from ._rust import rust_path
from .binding import check_key_usage
from .policy import DEFAULT_POLICY, VerificationPolicy
from .revocation import (
    CrlLike,
    OcspLike,
    check_mode,
    check_revocation,
    crl_der,
    load_revocation_data,
    ocsp_der,
)
from .trust import TrustStore

__all__ = [
    "ChainResult",
    "clear_validation_cache",
    "validate_certificate",
    "validate_certificate_async",
    "validation_cache_info",
]

#: A result is reused for any validation time in its window: the stretch between the
#: instants around it at which a certificate or revocation datum changes state (validity
#: bounds, thisUpdate, nextUpdate, revocation dates), less a margin for clock tolerance.
#: A result with problems names the minute of validation, so its window is that minute.
BUCKET = dt.timedelta(minutes=1)
_MARGIN = dt.timedelta(seconds=2)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: Windows kept per chain (validation at the signing time and at now are two).
_WINDOWS = 8
_Window = tuple[dt.datetime | None, dt.datetime | None, "ChainResult"]
_CACHE: LRUCache[tuple[_Window, ...]] = LRUCache("validation.paths", 1024)


@dataclass(frozen=True)
class ChainResult:
    """The outcome for one certificate.

    ``chain`` runs from the signer to the trust anchor (as far as it could be built when
    untrusted). ``trusted`` means a path to an anchor validated at ``at`` and nothing in it
    is revoked (or, in hard-fail mode, of unknown status). ``problems`` also carries the
    policy's key usage findings; ``valid`` is true when there are none.
    """

    chain: tuple[x509.Certificate, ...]
    trusted: bool
    problems: tuple[Problem, ...]
    revocation_checked: bool
    at: dt.datetime | None = None

    @property
    def valid(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.valid

    def __reduce__(self) -> tuple[Any, ...]:
        """Certificates travel as DER (cryptography's do not pickle)."""
        return reduce_fields(self)
    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``valid``, ``trusted``, ``revocation_checked``; ``chain``
        (each :func:`~smime.core.views.certificate_dict`, signer first); ``problems`` (each
        ``{"code": ..., "message": ...}``); ``at`` (ISO 8601, or None)."""
        return {
            "valid": self.valid,
            "trusted": self.trusted,
            "revocation_checked": self.revocation_checked,
            "chain": [certificate_dict(c) for c in self.chain],
            "problems": [p.to_dict() for p in self.problems],
            "at": self.at.isoformat() if self.at else None,
        }


def validation_cache_info() -> CacheInfo:
    """Hits, misses and size of the validated-path cache."""
    return _CACHE.info()


def clear_validation_cache() -> None:
    """Empty the validated-path cache (``smime.clear_caches()`` empties every cache)."""
    _CACHE.clear()


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Inputs:
    signer: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    trust: TrustStore
    trust_fps: frozenset[bytes]
    at: dt.datetime
    crls: tuple[bytes, ...]
    ocsps: tuple[bytes, ...]
    revocation: RevocationMode
    fetch: bool
    policy: VerificationPolicy
    timeout: float
    intermediate_fps: tuple[bytes, ...]  # the intermediates' fingerprints, in order


#: SHA-256 fingerprints by certificate (a lookup hashes the DER in Rust, much cheaper than
#: a SHA-256 through OpenSSL; a cache hit computes four of them).
_FINGERPRINTS: LRUCache[bytes] = LRUCache("validation.fingerprints", 2048)


def _fp(cert: x509.Certificate) -> bytes:
    return _FINGERPRINTS.get_or_make(cert, lambda: cert.fingerprint(hashes.SHA256()))


def _prepare(
    cert: CertificateLike, trust: TrustStore | Iterable[CertificateLike],
    intermediates: Iterable[CertificateLike], at: dt.datetime | None,
    crls: Iterable[CrlLike], ocsp_responses: Iterable[OcspLike], revocation: RevocationMode,
    fetch: bool, policy: VerificationPolicy, timeout: float,
) -> _Inputs:
    check_mode(revocation)
    if fetch and revocation != "off":
        _require_fetcher()
    store = trust if isinstance(trust, TrustStore) else TrustStore.from_certificates(trust)
    unique: dict[bytes, x509.Certificate] = {}
    for item in intermediates:
        try:
            c = to_certificate(item)
        except LoadError:
            continue  # a helper certificate we cannot parse cannot help build a path
        unique.setdefault(_fp(c), c)
    moment = utc(at) if at is not None else dt.datetime.now(dt.timezone.utc)
    return _Inputs(
        to_certificate(cert), tuple(unique.values()), store, store.fingerprints, moment,
        tuple(crl_der(c) for c in crls), tuple(ocsp_der(o) for o in ocsp_responses),
        revocation, bool(fetch), policy, float(timeout), tuple(unique),
    )


def _require_fetcher() -> None:
    """pyhanko-certvalidator fetches with aiohttp; say so plainly when it is missing."""
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise UnsupportedError.naming(
            Option("fetch=True"), " needs aiohttp (pip install 'smime-sdk[fetch]')"
        ) from exc


def _cache_key(inputs: _Inputs) -> tuple[Any, ...]:
    """Everything but the time that can change the answer: the certificates a path can be
    built from, the anchors, the revocation data and mode, and the policy. The time is
    matched against each stored result's window (see ``_window``)."""
    digest = hashlib.sha256
    return (
        _fp(inputs.signer),
        inputs.intermediate_fps,
        inputs.trust.identity,
        tuple(sorted(digest(d).digest() for d in inputs.crls)),
        tuple(sorted(digest(d).digest() for d in inputs.ocsps)),
        inputs.revocation,
        inputs.fetch,
        inputs.policy,
    )


# ----------------------------------------------------------------------------- public


def validate_certificate(
    cert: CertificateLike,
    *,
    trust: TrustStore | Iterable[CertificateLike],
    intermediates: Iterable[CertificateLike] = (),
    at: dt.datetime | None = None,
    crls: Iterable[CrlLike] = (),
    ocsp_responses: Iterable[OcspLike] = (),
    revocation: RevocationMode = "soft-fail",
    fetch: bool = False,
    policy: VerificationPolicy = DEFAULT_POLICY,
    timeout: float = 10,
    use_cache: bool = True,
) -> ChainResult:
    """Validate ``cert`` as a mail signer's certificate at ``at`` (default: now).

    ``intermediates`` are untrusted helpers for path building (the message's
    certificates). ``crls``/``ocsp_responses`` (DER/PEM bytes or cryptography objects)
    count for every certificate of the chain. ``revocation`` is ``"off"``, ``"soft-fail"``
    or ``"hard-fail"``; ``fetch=True`` downloads declared CRLs and OCSP answers (HTTP,
    ``timeout`` seconds each). Works with or without a running event loop.
    """
    inputs = _prepare(cert, trust, intermediates, at, crls, ocsp_responses, revocation,
                      fetch, policy, timeout)
    key, early = _begin(inputs, use_cache)
    if isinstance(early, ChainResult):
        return early
    if early is None:
        from ._runner import run_sync  # asyncio, loaded when pyhanko is first needed

        early = run_sync(lambda: _pyhanko(inputs))
    return _finish_safely(inputs, early, key)


_P = ParamSpec("_P")
_Async = Callable[..., Coroutine[Any, Any, ChainResult]]


def _parameters_of(
    sync: Callable[_P, ChainResult],
) -> Callable[[_Async], Callable[_P, Coroutine[Any, Any, ChainResult]]]:
    """Give an async twin the parameters of ``sync`` (its one home): for type checkers,
    ``inspect.signature`` and the API reference."""
    def twin(function: _Async) -> Callable[_P, Coroutine[Any, Any, ChainResult]]:
        function.__dict__["__signature__"] = inspect.signature(sync)  # a function's own attribute
        return function

    return twin


@_parameters_of(validate_certificate)
async def validate_certificate_async(cert: CertificateLike, **options: Any) -> ChainResult:
    """:func:`validate_certificate` for async code: awaits instead of blocking the loop."""
    bound = inspect.signature(validate_certificate_async).bind(cert, **options)
    bound.apply_defaults()
    use_cache = bound.arguments.pop("use_cache")
    inputs = _prepare(**bound.arguments)
    key, early = _begin(inputs, use_cache)
    if isinstance(early, ChainResult):
        return early
    return _finish_safely(inputs, early or await _pyhanko(inputs), key)


def _begin(inputs: _Inputs, use_cache: bool) -> tuple[Any, ChainResult | PyhankoOutcome | None]:
    """The cache key (None when not caching), then a cached result or else the Rust
    verifier's path, or None when pyhanko must build it."""
    key, hit = _lookup(inputs, use_cache)
    return key, hit if hit is not None else _fast(inputs)


def _lookup(inputs: Any, use_cache: bool) -> tuple[Any, ChainResult | None]:
    """The cache key for these inputs (None when not caching) and a cached result, if any:
    one whose window holds the validation time."""
    key = _cache_key(inputs) if use_cache else None
    windows = _CACHE.get(key) if key is not None else None
    for low, high, hit in windows or ():
        if (low is None or low <= inputs.at) and (high is None or inputs.at < high):
            _LOG.debug("chain: %s judged from the path cache (its answer holds at %s)",
                       Lazy(certificate_label, inputs.signer), inputs.at)
            return key, ChainResult(hit.chain, hit.trusted, hit.problems,
                                    hit.revocation_checked, inputs.at)
    return key, None


def _store(key: tuple[Any, ...], window: tuple[dt.datetime | None, dt.datetime | None],
           result: ChainResult) -> None:
    """Add a window to the chain's entry (the newest first, at most ``_WINDOWS``)."""
    def add(windows: tuple[_Window, ...] | None) -> tuple[_Window, ...]:
        kept = tuple(w for w in windows or () if w[:2] != window)
        return ((*window, result), *kept)[:_WINDOWS]

    _CACHE.update(key, add)


#: What cryptography raises for a certificate whose extensions cannot be read (found by
#: fuzzing: duplicate extensions, malformed names). Such a chain fails closed.
_MALFORMED = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def _finish_safely(inputs: Any, outcome: Any, key: Any) -> ChainResult:
    try:
        return _finish(inputs, outcome, key)
    except _MALFORMED as exc:
        problem = Problem(
            ProblemCode.INVALID_CHAIN,
            f"a certificate in the chain is malformed and cannot be checked: {exc}",
        )
        return ChainResult(chain=(), trusted=False, problems=(problem,),
                           revocation_checked=False, at=getattr(inputs, "at", None))


# ----------------------------------------------------------------------------- work


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _relevant_crls(inputs: _Inputs) -> list[bytes]:
    """The CRLs some known certificate may have signed: pyhanko parses and sorts every CRL
    it is given on each call, which costs more than the validation for long lists."""
    subjects = {name_key(c.subject) for c in (inputs.signer, *inputs.intermediates)}
    subjects |= inputs.trust.subject_keys()
    kept = []
    for der in inputs.crls:
        loaded = load_crl(der)
        if not isinstance(loaded, str) and loaded.issuer in subjects:
            kept.append(der)
    return kept


def _fast(inputs: _Inputs) -> PyhankoOutcome | None:
    """The Rust verifier's path, where its verdict is pyhanko's (see ``_rust``); else None.

    Only when no revocation data is weighed during path building: pyhanko would otherwise
    look at CRLs and OCSP answers itself, and fetching is pyhanko's.
    """
    if inputs.revocation != "off" and (inputs.crls or inputs.ocsps or inputs.fetch):
        _LOG.debug("chain: revocation data is weighed while building the path: pyhanko builds it")
        return None
    path = rust_path(inputs.signer, inputs.intermediates, inputs.trust, inputs.at)
    if path is None:
        _LOG.debug("chain: the Rust verifier defers to pyhanko (no path, or one pyhanko might "
                   "judge otherwise)")
    return None if path is None else PyhankoOutcome(path, None, None, calls=0)


async def _pyhanko(inputs: _Inputs) -> PyhankoOutcome:
    """pyhanko's path validation, imported on first use (it costs a third of ``import smime``)."""
    from ._pyhanko import PathQuery, validate_path

    weak = None if inputs.policy.allow_weak_algorithms else frozenset(WEAK_DIGESTS) | {"md2"}
    try:
        return await validate_path(PathQuery(
            _asn1(inputs.signer), [_asn1(c) for c in inputs.intermediates],
            inputs.trust.asn1_certificates(), crls=_relevant_crls(inputs), ocsps=inputs.ocsps,
            at=inputs.at, check_revocation=inputs.revocation != "off", fetch=inputs.fetch,
            timeout=inputs.timeout, weak_hashes=weak,
        ))
    except Exception as exc:  # malformed input pyhanko could not even set up for
        return PyhankoOutcome(None, None, exc)


def _to_certs(ders: Sequence[bytes], inputs: _Inputs) -> list[x509.Certificate]:
    """pyhanko's path as the very objects the caller gave (a fingerprint is the DER's hash)."""
    given = {_fp(c): c for c in (inputs.signer, *inputs.intermediates)}
    out: list[x509.Certificate] = []
    for der in ders:
        fp = hashlib.sha256(der).digest()
        cert = given.get(fp) or inputs.trust.get(fp)
        out.append(cert if cert is not None else x509.load_der_x509_certificate(der))
    return out


def _best_effort_chain(inputs: _Inputs) -> list[x509.Certificate]:
    """Signer, then issuers by name and signature, as far as the certificates reach."""
    pool = list(inputs.intermediates) + list(inputs.trust.certificates)
    chain = [inputs.signer]
    seen = {_fp(inputs.signer)}
    while len(chain) < 12 and _fp(chain[-1]) not in inputs.trust_fps:
        current = chain[-1]
        nxt = None
        for candidate in pool:
            if _fp(candidate) in seen:
                continue
            if issued_by(current, candidate):
                nxt = candidate
                break
        if nxt is None:
            break
        chain.append(nxt)
        seen.add(_fp(nxt))
    return chain


def _finish(inputs: _Inputs, outcome: PyhankoOutcome, key: tuple[Any, ...] | None) -> ChainResult:
    trust_fps = inputs.trust_fps
    validated = outcome.error is None and outcome.path is not None
    if validated:
        chain = _to_certs(outcome.path or (), inputs)
    elif outcome.tried_path:
        chain = _to_certs(outcome.tried_path, inputs)
    else:
        chain = _best_effort_chain(inputs)
    anchored = bool(chain) and _fp(chain[-1]) in trust_fps

    problems: list[Problem] = []
    problems.extend(validity_problems(chain, inputs.at, trust_fps))
    if outcome.error is not None:
        problem = problem_from_error(outcome.error, chain, inputs)
        if problem.code == ProblemCode.UNTRUSTED:
            if inputs.policy.require_trusted_chain:
                problems.append(untrusted_problem(chain, inputs.trust))
        elif not any(p.code == problem.code for p in problems):
            problems.append(problem)

    statuses: tuple[RevocationStatus, ...] = ()
    if inputs.revocation != "off":
        statuses = check_revocation(
            chain, crls=(*inputs.crls, *outcome.fetched_crls),
            ocsp_responses=(*inputs.ocsps, *outcome.fetched_ocsps), at=inputs.at,
            anchored=anchored, other_certificates=(*inputs.intermediates,
                                                   *inputs.trust.certificates),
        )
        problems = _revocation_problems(problems, chain, statuses, inputs, anchored)
    signer_known = bool(statuses) and statuses[0].known
    problems.extend(check_key_usage(inputs.signer, inputs.policy))
    problems = list(dict.fromkeys(problems))
    trusted = validated and not any(
        p.code in (ProblemCode.REVOKED, ProblemCode.REVOCATION_UNKNOWN) for p in problems
    )
    result = ChainResult(tuple(chain), trusted, tuple(problems), signer_known, inputs.at)
    if _LOG.isEnabledFor(logging.DEBUG):
        _log_chain(inputs, outcome, result, statuses)
    if (inputs.revocation == "soft-fail" and anchored and statuses and not statuses[0].known
            and not any(p.code == ProblemCode.REVOKED for p in problems)):
        _LOG.warning("revocation: the status of %s is unknown (%s); accepted in soft-fail "
                     "mode (revocation=\"hard-fail\" refuses it)",
                     Lazy(certificate_label, chain[0]), statuses[0].detail or "no revocation data")
    if key is not None:
        window = _window(inputs, outcome, chain, minute=bool(problems))
        if window is not None:
            _store(key, window, result)
    return result


def _log_chain(inputs: _Inputs, outcome: PyhankoOutcome, result: ChainResult,
               statuses: Sequence[RevocationStatus]) -> None:
    """DEBUG which verifier found the path, the path, and where each revocation status came
    from (certificates by subject and serial)."""
    verifier = "the Rust verifier" if outcome.calls == 0 else "pyhanko-certvalidator"
    if outcome.error is None and outcome.path is not None:
        _LOG.debug("chain: path found by %s: %s", verifier,
                   " <- ".join(certificate_label(c, short=True) for c in result.chain))
    else:
        _LOG.debug("chain: no valid path for %s (%s: %s)", certificate_label(inputs.signer),
                   verifier, type(outcome.error).__name__)
    if inputs.revocation == "off":
        _LOG.debug("revocation: not checked (revocation=\"off\")")
    for cert, status in zip(result.chain, statuses, strict=False):
        _LOG.debug("revocation: %s is %s (source: %s)", certificate_label(cert),
                   status.status, status.source or "none usable")
    if outcome.fetched_crls or outcome.fetched_ocsps or outcome.fetch_failures:
        _LOG.debug("revocation: fetched %d CRL(s) and %d OCSP response(s), %d fetch(es) failed",
                   len(outcome.fetched_crls), len(outcome.fetched_ocsps),
                   len(outcome.fetch_failures))


def _revocation_problems(
    problems: list[Problem], chain: Sequence[x509.Certificate],
    statuses: Sequence[RevocationStatus], inputs: _Inputs, anchored: bool,
) -> list[Problem]:
    revoked = [(chain[i], s) for i, s in enumerate(statuses) if s.status == "revoked"]
    if revoked:
        problems = [p for p in problems if p.code != ProblemCode.REVOKED]
        cert, status = revoked[0]
        problems.append(revoked_problem(cert, status, cert is chain[0]))
    elif (
        inputs.revocation == "hard-fail" and anchored and statuses
        and not statuses[0].known
        and not any(p.code == ProblemCode.REVOCATION_UNKNOWN for p in problems)
    ):
        problems.append(unknown_problem(chain[0], statuses[0]))
    return problems


def _window(
    inputs: _Inputs, outcome: PyhankoOutcome, chain: Sequence[x509.Certificate], *,
    minute: bool,
) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """The validation times for which this result holds as it is (None: not cacheable).

    Between two consecutive instants at which a certificate (given, in the path or an
    anchor) or a revocation datum changes state, path validation, revocation and key usage
    all answer alike; ``_MARGIN`` keeps clear of the checkers' clock tolerance. ``minute``
    narrows the window to the minute of validation, for results whose sentences name it.
    """
    if inputs.fetch and outcome.fetch_failures:
        return None
    at = inputs.at
    instants: list[dt.datetime] = []
    for c in (inputs.signer, *inputs.intermediates, *chain):
        instants += [c.not_valid_before_utc, c.not_valid_after_utc]
    loaded_crls, loaded_ocsps, _ = load_revocation_data(
        (*inputs.crls, *outcome.fetched_crls), (*inputs.ocsps, *outcome.fetched_ocsps))
    for crl in loaded_crls:
        instants.extend(crl.instants)
    for response in loaded_ocsps:
        instants.extend(response.instants)
    instants.extend(inputs.trust.validity_instants())
    low = max((t for t in instants if t <= at), default=None)
    high = min((t for t in instants if t > at), default=None)
    low = None if low is None else low + _MARGIN
    high = None if high is None else high - _MARGIN
    if minute:
        start = _EPOCH + ((at - _EPOCH) // BUCKET) * BUCKET
        low = start if low is None else max(low, start)
        high = start + BUCKET if high is None else min(high, start + BUCKET)
    if (low is not None and at < low) or (high is not None and at >= high):
        return None  # too close to a change of state to trust a neighbour's answer
    return low, high
