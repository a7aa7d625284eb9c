"""pyhanko-certvalidator's exceptions and our own findings as Problems people can read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..core.names import certificate_label, issuer_text
from ..errors import Option
from ..problems import Problem, ProblemCode
from ._common import TOLERANCE, RevocationStatus
from .trust import TrustStore

__all__ = [
    "problem_from_error",
    "revoked_problem",
    "unknown_problem",
    "untrusted_problem",
    "validity_problems",
]


def _who(cert: x509.Certificate, is_signer: bool) -> str:
    if is_signer:
        return f"the signer's certificate {certificate_label(cert, short=True)}"
    return f"the CA certificate {certificate_label(cert, short=True)}"


def _day(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def validity_problems(
    chain: Sequence[x509.Certificate], at: dt.datetime, anchors: Collection[bytes]
) -> list[Problem]:
    """EXPIRED / NOT_YET_VALID for the chain's certificates (anchors are the user's call)."""
    problems: list[Problem] = []
    for index, cert in enumerate(chain):
        if index and cert.fingerprint(hashes.SHA256()) in anchors:
            continue
        if at > cert.not_valid_after_utc + TOLERANCE:
            problems.append(_out_of_date(_who(cert, index == 0), cert.not_valid_after_utc,
                                         expired=True, at=at))
        elif at < cert.not_valid_before_utc - TOLERANCE:
            problems.append(_out_of_date(_who(cert, index == 0), cert.not_valid_before_utc,
                                         expired=False, at=at))
    return problems


def _out_of_date(
    who: str, when: dt.datetime, *, expired: bool, at: dt.datetime | None = None
) -> Problem:
    """EXPIRED ("expired on ``when``") or NOT_YET_VALID ("is not valid until ``when``"):
    one sentence whether our own check or pyhanko found it (``at``: the validation time)."""
    code, says = ((ProblemCode.EXPIRED, "expired on") if expired
                  else (ProblemCode.NOT_YET_VALID, "is not valid until"))
    checked = f" (validation time {_day(at)})" if at is not None else ""
    return Problem(code, f"{who} {says} {_day(when)}{checked}")


def untrusted_problem(chain: Sequence[x509.Certificate], trust: TrustStore) -> Problem:
    last = chain[-1]
    label = certificate_label(last, short=True)
    if not len(trust):
        why = "the trust store is empty"
    elif last.issuer == last.subject:
        who = "the signer's certificate" if len(chain) == 1 else "its root"
        why = f"{who} {label} is self-signed and not in the trust store"
    else:
        why = (f"the issuer of {label} ({issuer_text(last)}) "
               "is neither in the trust store nor among the certificates given")
    return Problem(ProblemCode.UNTRUSTED, f"no path to a trusted root: {why}")


def _message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[0].lower() + text[1:] if text else text


def problem_from_error(exc: Exception, chain: Sequence[x509.Certificate], inputs: Any) -> Problem:
    """The stable code and a sentence for whatever pyhanko raised."""
    from pyhanko_certvalidator.errors import (  # loaded when pyhanko first validates
        DisallowedAlgorithmError,
        ExpiredError,
        InsufficientRevinfoError,
        InvalidCertificateError,
        NotYetValidError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
    )

    is_signer = bool(getattr(exc, "is_ee_cert", False))
    if isinstance(exc, (PathBuildingError, InvalidCertificateError)) and not isinstance(
        exc, PathValidationError
    ):
        return untrusted_problem(chain, inputs.trust)
    if isinstance(exc, ExpiredError):
        return _out_of_date("a certificate in the chain", exc.expired_dt, expired=True)
    if isinstance(exc, NotYetValidError):
        return _out_of_date("a certificate in the chain", exc.valid_from, expired=False)
    if isinstance(exc, RevokedError):
        who = "the signer's certificate" if is_signer else "a CA certificate in the chain"
        reason = exc.reason.human_friendly if exc.reason else "no reason given"
        return Problem(ProblemCode.REVOKED,
                       f"{who} was revoked on {_day(exc.revocation_dt)} ({reason})")
    if isinstance(exc, InsufficientRevinfoError):
        return Problem(ProblemCode.REVOCATION_UNKNOWN,
                       f"could not establish revocation status: {_message(exc)}")
    if isinstance(exc, DisallowedAlgorithmError):
        return Problem.naming(ProblemCode.WEAK_ALGORITHM,
                              f"a certificate in the chain uses a weak algorithm: "
                              f"{_message(exc)}; it counts only with ",
                              Option("VerificationPolicy(allow_weak_algorithms=True)"))
    if isinstance(exc, PathValidationError):
        return Problem(ProblemCode.INVALID_CHAIN,
                       f"the certificate chain is invalid: {_message(exc)}")
    return Problem(ProblemCode.INVALID_CHAIN,
                   f"the certificate chain could not be validated: {_message(exc)}")


def revoked_problem(cert: x509.Certificate, status: RevocationStatus, is_signer: bool) -> Problem:
    when = f" on {_day(status.revoked_at)}" if status.revoked_at else ""
    why = f" (reason: {status.reason})" if status.reason else ""
    sources = {"crl": "a CRL", "ocsp": "an OCSP response"}
    source = sources.get(status.source or "", "revocation data")
    return Problem(
        ProblemCode.REVOKED,
        f"{_who(cert, is_signer)} was revoked{when}{why}, says {source} from its CA",
    )


def unknown_problem(cert: x509.Certificate, status: RevocationStatus) -> Problem:
    return Problem(
        ProblemCode.REVOCATION_UNKNOWN,
        f"could not tell whether {_who(cert, True)} is revoked ({status.detail}); "
        "hard-fail mode requires a current CRL or OCSP response",
    )
