"""Revocation of every certificate in a chain, from the CRLs and OCSP responses we hold.

The caller's CRLs and OCSP responses must count even when a certificate names no
distribution point or responder (pyhanko-certvalidator skips them then), so this module
decides the status itself, with cryptography doing the signature checks:

* ``"off"`` checks nothing;
* ``"soft-fail"``: a revoked certificate fails, missing or unusable data is fine;
* ``"hard-fail"``: the same, and the signer's certificate must have usable data (a current
  CRL or OCSP response from its CA), else the result is REVOCATION_UNKNOWN.

A revocation dated after the validation time does not count (the signature was made
before), except for key or CA compromise: then the signing time, a claim of whoever holds
the key, proves nothing.

What the caller of ``verify``/``unwrap`` hands in is held to more (``given_crls``,
``given_ocsp_responses``, ``given_revocation_problems``): an item that cannot be read is a
``ParseError``, and a certificate that the caller's data concerns but does not settle
(expired, not signed by its CA) has an unknown status in every mode. Carrying on as if
nothing had been given would let whoever supplies that data (a stale cache, a forged
download) switch revocation checking off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from asn1crypto import pem as asn1_pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ..core.names import certificate_label
from ..errors import ParseError
from ..options import REVOCATION_MODES, RevocationMode, check_option
from ..problems import Problem, ProblemCode
from ._common import RevocationStatus, utc
from ._crl import CrlContext, LoadedCrl, check_crls, concerns, load_crl
from ._ocsp import LoadedOcsp, check_ocsp, load_ocsp, names_certificate

if TYPE_CHECKING:
    from .chain import ChainResult

__all__ = [
    "REVOCATION_MODES",
    "CrlLike",
    "OcspLike",
    "RevocationStatus",
    "check_mode",
    "check_revocation",
    "crl_der",
    "given_crls",
    "given_ocsp_responses",
    "given_revocation_problems",
    "load_revocation_data",
    "ocsp_der",
]

CrlLike: TypeAlias = "bytes | bytearray | memoryview | str | x509.CertificateRevocationList"
OcspLike: TypeAlias = "bytes | bytearray | memoryview | ocsp.OCSPResponse"

_Loaded = TypeVar("_Loaded")


def crl_der(value: CrlLike) -> bytes:
    """DER of a CRL given as an object, DER bytes or PEM (bytes or text)."""
    if isinstance(value, x509.CertificateRevocationList):
        return value.public_bytes(serialization.Encoding.DER)
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ParseError(f"a CRL must be bytes or a CertificateRevocationList, "
                         f"not {type(value).__name__}")
    data = bytes(value)
    if asn1_pem.detect(data):
        try:
            kind, _headers, der = asn1_pem.unarmor(data)
        except (ValueError, TypeError) as exc:
            raise ParseError(f"malformed PEM CRL: {exc}") from exc
        if kind != "X509 CRL":
            raise ParseError(f"expected a PEM 'X509 CRL', found {kind!r}")
        return bytes(der)
    return data


def ocsp_der(value: OcspLike) -> bytes:
    """DER of an OCSP response given as an object or DER bytes."""
    if isinstance(value, ocsp.OCSPResponse):
        return value.public_bytes(serialization.Encoding.DER)
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ParseError(f"an OCSP response must be DER bytes, not {type(value).__name__}")
    return bytes(value)


def given_crls(crls: Iterable[CrlLike] | None) -> list[bytes]:
    """The caller's CRLs as DER, each one read: a CRL that cannot be read is a ParseError
    naming it (``crls[2]``), not data quietly left out."""
    return _given("crls", crls, crl_der, load_crl)


def given_ocsp_responses(responses: Iterable[OcspLike] | None) -> list[bytes]:
    """The caller's OCSP responses as DER, each one read: one that cannot be read, or that
    is an error answer (``unauthorized``, ``tryLater``), is a ParseError naming it."""
    return _given("ocsp_responses", responses, ocsp_der, load_ocsp)


def _given(
    keyword: str,
    values: Iterable[Any] | None,
    to_der: Callable[[Any], bytes],
    load: Callable[[bytes], object],
) -> list[bytes]:
    ders: list[bytes] = []
    for index, value in enumerate(values or ()):
        try:
            der = to_der(value)
        except ParseError as exc:
            raise ParseError(f"{keyword}[{index}]: {exc}") from None
        loaded = load(der)
        if isinstance(loaded, str):
            raise ParseError(f"{keyword}[{index}] cannot be used: {loaded}")
        ders.append(der)
    return ders


def given_revocation_problems(
    outcome: ChainResult,
    crls: Sequence[bytes],
    ocsp_responses: Sequence[bytes],
    *,
    revocation: str,
    other_certificates: Sequence[x509.Certificate] = (),
) -> tuple[Problem, ...]:
    """REVOCATION_UNKNOWN for each certificate of a trusted chain that the caller's CRLs or
    OCSP responses concern but do not settle, in soft-fail mode too.

    A CRL concerns a certificate when it is a complete CRL of its issuer for its
    distribution point; an OCSP response when it names it. CRLs of other CAs, and answers
    about other certificates, concern nothing and are ignored.
    """
    if revocation == "off" or not outcome.trusted or not (crls or ocsp_responses):
        return ()
    chain = outcome.chain
    now = dt.datetime.now(dt.timezone.utc)
    moment = utc(outcome.at) if outcome.at is not None else now
    loaded_crls, loaded_ocsps, _ = load_revocation_data(crls, ocsp_responses)
    ctx = CrlContext(chain, other_certificates, loaded_crls, moment, now)
    problems: list[Problem] = []
    for index, cert in enumerate(chain[:-1]):
        issuer = chain[index + 1]
        statuses: list[RevocationStatus] = []
        if any(concerns(crl, cert) for crl in loaded_crls):
            statuses.append(check_crls(cert, ctx))
        if any(names_certificate(response, cert, issuer) for response in loaded_ocsps):
            statuses.append(check_ocsp(cert, issuer, loaded_ocsps, moment, now))
        if not statuses or any(status.known for status in statuses):
            continue
        who = "the signer's certificate" if index == 0 else "the CA certificate"
        problems.append(Problem(
            ProblemCode.REVOCATION_UNKNOWN,
            f"the revocation data given for {who} {certificate_label(cert, short=True)} does "
            f"not say whether it is revoked ({'; '.join(status.detail for status in statuses)})",
        ))
    return tuple(problems)


def load_revocation_data(
    crls: Iterable[bytes], ocsps: Iterable[bytes]
) -> tuple[list[LoadedCrl], list[LoadedOcsp], list[str]]:
    """Parse what can be parsed; the rest becomes notes (unusable data is not an error)."""
    notes: list[str] = []
    return _loaded(crls, load_crl, notes), _loaded(ocsps, load_ocsp, notes), notes


def _loaded(
    items: Iterable[bytes], load: Callable[[bytes], _Loaded | str], notes: list[str]
) -> list[_Loaded]:
    kept: list[_Loaded] = []
    for der in items:
        value = load(der)
        if isinstance(value, str):
            notes.append(value)
        else:
            kept.append(value)
    return kept


def check_revocation(
    chain: Sequence[x509.Certificate],
    *,
    crls: Iterable[CrlLike] = (),
    ocsp_responses: Iterable[OcspLike] = (),
    at: dt.datetime | None = None,
    anchored: bool = True,
    other_certificates: Sequence[x509.Certificate] = (),
) -> tuple[RevocationStatus, ...]:
    """One status per certificate of ``chain`` (signer first) that has an issuer in it.

    With ``anchored`` the last certificate is the trust anchor and gets no status (trust in
    it is the user's decision). ``other_certificates`` may hold separate CRL-signing
    certificates.
    """
    now = dt.datetime.now(dt.timezone.utc)
    moment = utc(at) if at is not None else now
    loaded_crls, loaded_ocsps, notes = load_revocation_data(
        [crl_der(c) for c in crls], [ocsp_der(o) for o in ocsp_responses]
    )
    ctx = CrlContext(chain, other_certificates, loaded_crls, moment, now, unusable=notes)
    count = len(chain) - 1 if anchored else len(chain)
    statuses: list[RevocationStatus] = []
    for index in range(max(count, 0)):
        cert = chain[index]
        issuer = chain[index + 1] if index + 1 < len(chain) else None
        by_crl = check_crls(cert, ctx)
        if by_crl.status == "revoked":
            statuses.append(by_crl)
            continue
        by_ocsp = check_ocsp(cert, issuer, loaded_ocsps, moment, now)
        if by_ocsp.status != "unknown":
            statuses.append(by_ocsp)
        elif by_crl.status == "good":
            statuses.append(by_crl)
        else:
            statuses.append(RevocationStatus(
                "unknown", detail=f"{by_crl.detail}; {by_ocsp.detail}"
            ))
    return tuple(statuses)


def check_mode(mode: str) -> RevocationMode:
    return check_option("revocation", mode, REVOCATION_MODES)
