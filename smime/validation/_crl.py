"""CRL processing after RFC 5280 §6.3, for CRLs the caller handed us.

pyhanko-certvalidator ignores a given CRL when the certificate declares no distribution
point, so we decide ourselves: scope (issuing distribution point, user/CA-only, reasons),
signer (the issuer, or a separate CRL-signing certificate that the chain's CA issued),
freshness at the validation time, critical extensions we do not understand, delta CRLs
and indirect CRLs.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from .._cache import LRUCache
from ..core.certs import MALFORMED, extension, is_ca
from ..core.signatures import verify_signature
from ..problems import plain_reason
from ._common import (
    COMPROMISE_REASONS,
    TOLERANCE,
    RevocationStatus,
    issued_by,
    name_key,
    utc,
)

__all__ = ["LoadedCrl", "check_crls", "concerns", "load_crl"]

ALL_REASONS = frozenset(
    r for r in x509.ReasonFlags
    if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)
)
_KNOWN_CRL_EXTENSIONS = frozenset({
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.CRL_NUMBER,
    ExtensionOID.DELTA_CRL_INDICATOR, ExtensionOID.ISSUING_DISTRIBUTION_POINT,
    ExtensionOID.FRESHEST_CRL, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
})
_KNOWN_ENTRY_EXTENSIONS = frozenset({
    CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE,
    CRLEntryExtensionOID.CERTIFICATE_ISSUER,
    x509.ObjectIdentifier("2.5.29.23"),  # holdInstructionCode
})
MAX_SIGNER_DEPTH = 2
_SHA256 = hashes.SHA256()


@dataclass(frozen=True)
class Entry:
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None


@dataclass
class LoadedCrl:
    """A parsed CRL and the facts the checks need (None fields: extension absent)."""

    crl: x509.CertificateRevocationList
    issuer: Any
    this_update: dt.datetime
    next_update: dt.datetime | None
    idp: x509.IssuingDistributionPoint | None
    number: int | None
    delta_base: int | None
    has_freshest: bool
    entries: dict[tuple[Any, int], Entry] = field(repr=False)
    algorithm: Any = None  # asn1crypto SignedDigestAlgorithm
    instants: tuple[dt.datetime, ...] = ()
    defect: str | None = None  # why this CRL must not be used, for the certificates it covers


class CrlError(ValueError):
    """A CRL we must not use (malformed, or a critical extension we do not understand)."""


_CACHE: LRUCache[LoadedCrl | str] = LRUCache("validation.crls", 256)


def load_crl(der: bytes) -> LoadedCrl | str:
    """The parsed CRL, or a sentence saying why it cannot be used (cached by digest)."""
    digest = hashlib.sha256(der).digest()
    hit = _CACHE.get(digest)
    if hit is not None:
        return hit
    try:
        loaded: LoadedCrl | str = _parse(der)
    except (ValueError, TypeError, x509.InvalidVersion) as exc:  # InvalidVersion is neither
        loaded = f"a CRL is malformed ({plain_reason(str(exc))})"
    _CACHE.put(digest, loaded)
    return loaded


def _parse(der: bytes) -> LoadedCrl:
    crl = x509.load_der_x509_crl(der)
    issuer = name_key(crl.issuer)
    idp = number = delta_base = None
    has_freshest = False
    defect = None
    for ext in crl.extensions:
        if ext.oid not in _KNOWN_CRL_EXTENSIONS and ext.critical:
            defect = (f"its CRL has a critical extension we cannot process "
                      f"({ext.oid.dotted_string})")
        value = ext.value
        if isinstance(value, x509.IssuingDistributionPoint):
            idp = value
        elif isinstance(value, x509.DeltaCRLIndicator):
            delta_base = value.crl_number
        elif isinstance(value, x509.CRLNumber):
            number = value.crl_number
        elif isinstance(value, x509.FreshestCRL):
            has_freshest = True
    entries: dict[tuple[Any, int], Entry] = {}
    instants = [crl.last_update_utc] + ([crl.next_update_utc] if crl.next_update_utc else [])
    try:
        if defect is None:
            _read_entries(crl, issuer, bool(idp and idp.indirect_crl), entries, instants)
    except CrlError as exc:
        defect, entries = str(exc), {}
    algorithm = asn1_crl.CertificateList.load(der)["signature_algorithm"]
    algorithm.native  # noqa: B018 - parse now, so a malformed one fails here
    return LoadedCrl(
        crl, issuer, crl.last_update_utc, crl.next_update_utc, idp, number, delta_base,
        has_freshest, entries, algorithm, tuple(instants), defect,
    )


def _read_entries(
    crl: x509.CertificateRevocationList, issuer: Any, indirect: bool,
    entries: dict[tuple[Any, int], Entry], instants: list[dt.datetime],
) -> None:
    current_issuer = issuer
    for revoked in crl:
        reason = None
        when = revoked.revocation_date_utc
        for ext in revoked.extensions:
            if ext.oid not in _KNOWN_ENTRY_EXTENSIONS and ext.critical:
                raise CrlError("an entry of its CRL has a critical extension we cannot "
                               f"process ({ext.oid.dotted_string})")
            value = ext.value
            if isinstance(value, x509.CRLReason):
                reason = value.reason
            elif isinstance(value, x509.InvalidityDate):
                when = min(when, utc(value.invalidity_date))
            elif isinstance(value, x509.CertificateIssuer):
                if not indirect:
                    raise CrlError("its CRL names a certificate issuer in a direct CRL")
                names = value.get_values_for_type(x509.DirectoryName)
                if not names:
                    raise CrlError("its indirect CRL names no directory issuer")
                current_issuer = name_key(names[0])
        entries[(current_issuer, revoked.serial_number)] = Entry(when, reason)
        instants.append(when)


# ----------------------------------------------------------------------------- scope


def _general_key(name: x509.GeneralName) -> Any:
    if isinstance(name, x509.DirectoryName):
        return ("dn", name_key(name.value))
    return (type(name).__name__, str(name.value))


def _full_names(
    full: Sequence[x509.GeneralName] | None,
    relative: x509.RelativeDistinguishedName | None,
    base: x509.Name,
) -> set[Any]:
    if full:
        return {_general_key(n) for n in full}
    if relative is not None:
        return {("dn", name_key(x509.Name([*base.rdns, relative])))}
    return set()


@dataclass(frozen=True)
class DistributionPoint:
    names: frozenset[Any]  # empty: only cRLIssuer given
    reasons: frozenset[x509.ReasonFlags]
    crl_issuers: frozenset[Any]  # name keys of an indirect CRL issuer; empty: the CA


def distribution_points(cert: x509.Certificate) -> list[DistributionPoint]:
    """The certificate's CRL distribution points, then the implicit one RFC 5280 adds."""
    points: list[DistributionPoint] = []
    for dp in extension(cert, x509.CRLDistributionPoints) or ():
        issuers = [n.value for n in dp.crl_issuer or () if isinstance(n, x509.DirectoryName)]
        if dp.crl_issuer and not issuers:
            continue
        base = issuers[0] if issuers else cert.issuer
        names = _full_names(dp.full_name, dp.relative_name, base)
        if not names and issuers:
            names = {("dn", name_key(n)) for n in issuers}
        points.append(DistributionPoint(
            frozenset(names), frozenset(dp.reasons or ALL_REASONS),
            frozenset(name_key(n) for n in issuers),
        ))
    points.append(DistributionPoint(
        frozenset({("dn", name_key(cert.issuer))}), ALL_REASONS, frozenset()
    ))
    return points


def _in_scope(
    crl: LoadedCrl, cert: x509.Certificate, cert_issuer: Any, dp: DistributionPoint
) -> bool:
    if dp.crl_issuers:
        if crl.issuer not in dp.crl_issuers or not (crl.idp and crl.idp.indirect_crl):
            return False
    elif crl.issuer != cert_issuer:
        return False
    idp = crl.idp
    if idp is None:
        return True
    if idp.only_contains_attribute_certs:
        return False
    if idp.only_contains_user_certs and is_ca(cert):
        return False
    if idp.only_contains_ca_certs and not is_ca(cert):
        return False
    idp_names = _full_names(idp.full_name, idp.relative_name, crl.crl.issuer)
    return not idp_names or bool(idp_names & dp.names)


def concerns(crl: LoadedCrl, cert: x509.Certificate) -> bool:
    """Whether ``crl`` is a complete CRL in scope for ``cert``, usable or not: its issuer and
    distribution point are the certificate's (a CRL of another CA or partition is not)."""
    if crl.delta_base is not None:
        return False
    issuer = name_key(cert.issuer)
    return any(_in_scope(crl, cert, issuer, dp) for dp in distribution_points(cert))


def _covered(crl: LoadedCrl, dp: DistributionPoint) -> frozenset[x509.ReasonFlags]:
    some = crl.idp.only_some_reasons if crl.idp and crl.idp.only_some_reasons else ALL_REASONS
    return dp.reasons & frozenset(some)


# ----------------------------------------------------------------------------- checking


@dataclass
class CrlContext:
    """What a CRL check may use: the validated chain, other certificates, the moment."""

    chain: Sequence[x509.Certificate]
    pool: Sequence[x509.Certificate]
    crls: Sequence[LoadedCrl]
    at: dt.datetime
    now: dt.datetime
    problems: list[str] = field(default_factory=list)
    unusable: Sequence[str] = ()  # why some of the data given could not be read at all
    chain_fps: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.chain_fps = frozenset(c.fingerprint(_SHA256) for c in self.chain)

    @functools.cached_property
    def by_subject(self) -> dict[Any, list[x509.Certificate]]:
        """The certificates by normalised subject; made when a CRL needs its signer (the
        names' string preparation is slow, and most verifications weigh no CRL)."""
        found: dict[Any, list[x509.Certificate]] = {}
        seen: set[bytes] = set()
        for cert in (*self.chain, *self.pool):
            fp = cert.fingerprint(_SHA256)
            if fp not in seen:
                seen.add(fp)
                found.setdefault(name_key(cert.subject), []).append(cert)
        return found

    def fresh(self, crl: LoadedCrl) -> bool:
        if crl.this_update > max(self.at, self.now) + TOLERANCE:
            self.problems.append("a CRL claims to be issued in the future")
            return False
        if crl.next_update is not None and crl.next_update < self.at - TOLERANCE:
            self.problems.append(
                f"a CRL expired (nextUpdate {crl.next_update:%Y-%m-%d %H:%M}Z) before the "
                f"validation time {self.at:%Y-%m-%d %H:%M}Z"
            )
            return False
        return True


def _may_sign_crls(cert: x509.Certificate) -> bool:
    try:
        usage = extension(cert, x509.KeyUsage, strict=True)
    except MALFORMED:
        return False
    return usage is None or usage.crl_sign


def _valid_at(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc - TOLERANCE <= at <= cert.not_valid_after_utc + TOLERANCE


def _signed_by(crl: LoadedCrl, cert: x509.Certificate) -> bool:
    try:
        key = cert.public_key()
    except Exception:  # unsupported or unparsable key
        return False
    return verify_signature(key, crl.algorithm, crl.crl.signature, crl.crl.tbs_certlist_bytes)


def _crl_signer_ok(crl: LoadedCrl, ctx: CrlContext, depth: int) -> bool:
    """The CRL is signed by a chain CA, or by a CRL-signing certificate a chain CA issued."""
    fps = ctx.chain_fps
    for signer in ctx.by_subject.get(crl.issuer, ()):
        if not (_may_sign_crls(signer) and _signed_by(crl, signer)):
            continue
        if signer.fingerprint(_SHA256) in fps:
            return True
        if depth >= MAX_SIGNER_DEPTH or not _valid_at(signer, ctx.at):
            continue
        for authority in ctx.chain:
            if issued_by(signer, authority):
                status = check_crls(signer, ctx, depth + 1)
                if status.status != "revoked":
                    return True
                ctx.problems.append("the CRL's signing certificate is itself revoked")
    return False


def check_crls(cert: x509.Certificate, ctx: CrlContext, depth: int = 0) -> RevocationStatus:
    """The status of ``cert`` according to the usable CRLs in ``ctx``.

    Its issuer needs no mention: the CRL signer is looked up by name among the chain (and,
    for separate CRL-signing keys, the other certificates), and checked by signature.
    """
    mark = len(ctx.problems)
    serial = cert.serial_number
    cert_issuer = name_key(cert.issuer) if ctx.crls else None  # no CRL: no names to compare
    checked: set[x509.ReasonFlags] = set()
    revoked: RevocationStatus | None = None
    for dp in distribution_points(cert) if ctx.crls else ():
        for crl in ctx.crls:
            if crl.delta_base is not None or not _in_scope(crl, cert, cert_issuer, dp):
                continue
            if crl.defect is not None:
                ctx.problems.append(crl.defect)
                continue
            if not _crl_signer_ok(crl, ctx, depth):
                ctx.problems.append("a CRL for this issuer has no valid signature by its CA")
                continue
            entry = crl.entries.get((cert_issuer, serial))
            deltas = [d for d in ctx.crls if _is_delta_for(d, crl)
                      and d.defect is None and _crl_signer_ok(d, ctx, depth)]
            fresh_deltas = [d for d in deltas if ctx.fresh(d)]
            for delta in sorted(fresh_deltas, key=lambda d: d.delta_base or 0):
                entry = delta.entries.get((cert_issuer, serial), entry)
            if entry is not None and _counts(entry, ctx.at):
                if revoked is None or entry.revoked_at < (revoked.revoked_at or ctx.at):
                    revoked = _revoked(entry)
                continue
            if not ctx.fresh(crl):
                continue
            if (crl.has_freshest or _declares_freshest(cert)) and deltas and not fresh_deltas:
                ctx.problems.append("the delta CRL for this issuer is out of date")
                continue
            checked |= _covered(crl, dp)
    if revoked is not None:
        return revoked
    if checked >= ALL_REASONS:
        return RevocationStatus("good", "crl")
    notes = [*ctx.problems[mark:], *ctx.unusable]
    detail = "; ".join(dict.fromkeys(notes)) if notes else "no CRL given covers it"
    if checked:
        detail = "the CRLs given cover only some revocation reasons"
    return RevocationStatus("unknown", detail=detail)


def _counts(entry: Entry, at: dt.datetime) -> bool:
    """An entry revokes at ``at`` if dated by then, or if the key was compromised at all;
    a delta CRL's removeFromCRL lifts a hold."""
    if entry.reason == x509.ReasonFlags.remove_from_crl:
        return False
    return entry.revoked_at <= at + TOLERANCE or entry.reason in COMPROMISE_REASONS


def _is_delta_for(delta: LoadedCrl, base: LoadedCrl) -> bool:
    return (
        delta.delta_base is not None
        and delta.issuer == base.issuer
        and base.number is not None
        and delta.delta_base <= base.number
        and delta.idp == base.idp
    )


def _declares_freshest(cert: x509.Certificate) -> bool:
    return extension(cert, x509.FreshestCRL) is not None


def _revoked(entry: Entry) -> RevocationStatus:
    reason = entry.reason.name.replace("_", " ") if entry.reason else None
    return RevocationStatus("revoked", "crl", entry.revoked_at, reason)
