"""Remember correspondents' certificates and capabilities, as mail clients do.

Every verified signed message carries the sender's certificate, the algorithms it can
decrypt (SMIMECapabilities) and, optionally, which certificate to encrypt to
(SMIMEEncryptionKeyPreference). :class:`CertificateStore` keeps them in SQLite, keyed by
email address, so that ``store.find("bob@example.com")`` gives the certificate to encrypt
to and ``store.capabilities(...)`` what cipher Bob reads.

SQLite in WAL mode with ``BEGIN IMMEDIATE`` transactions and a busy timeout: several
processes may harvest into one file at once, a reader never blocks a writer, and a
process killed mid-write leaves every committed row intact.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._log import Lazy
from .._log import store as _LOG
from ..cms import SignerIdentifier
from ..core.certs import MALFORMED, can_receive, receive_problem
from ..core.names import certificate_label
from ..core.pickling import reduce_fields
from ..core.times import now as _now
from ..core.times import utc
from ..core.views import card_html, certificate_dict
from ..errors import CertificateError, InvalidOptionError, Option, StoreError, UsageError
from ..keys import CertificateLike, certificate_emails, to_certificate
from ..problems import ProblemCode, StableCode
from ..validation import (
    TrustStore,
    ValidationContext,
    normalize_address,
    signer_addresses,
    validate_certificate,
)
from ._match import KeyPreference, preference_matches

__all__ = [
    "MAX_PREFERENCE_CANDIDATES",
    "CertificateStore",
    "HarvestReason",
    "HarvestResult",
    "HarvestedSigner",
    "RejectedCertificate",
    "SignedResult",
    "StoredCertificate",
    "check_recipient",
]

_T = TypeVar("_T")

#: How many certificates matching one key preference are validated before giving up:
#: an attacker can add any number of look-alikes to the unsigned certificate set.
MAX_PREFERENCE_CANDIDATES = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    fingerprint BLOB PRIMARY KEY,
    der BLOB NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    email TEXT NOT NULL,
    fingerprint BLOB NOT NULL REFERENCES certificates(fingerprint) ON DELETE CASCADE,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (email, fingerprint)
);
CREATE TABLE IF NOT EXISTS senders (
    email TEXT PRIMARY KEY,
    capabilities TEXT NOT NULL,
    preferred BLOB,
    stated_at TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
"""


def _iso(value: dt.datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fp(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _load(der: bytes) -> x509.Certificate:
    """A stored certificate; a row that no longer parses means the file was damaged."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise StoreError(f"the certificate store holds a damaged certificate: {exc}") from None


# ----------------------------------------------------------------------------- what it reads


class HarvestedSigner(Protocol):
    """What :meth:`CertificateStore.harvest` reads of one signer (``smime.SignerResult``)."""

    @property
    def certificate(self) -> x509.Certificate | None: ...
    @property
    def valid(self) -> bool: ...
    @property
    def email_addresses(self) -> Sequence[str]: ...
    @property
    def capabilities(self) -> Sequence[str]: ...
    @property
    def encryption_key_preference(self) -> KeyPreference | None: ...
    @property
    def signing_time(self) -> dt.datetime | None: ...


@runtime_checkable
class SignedResult(Protocol):
    """What :meth:`CertificateStore.harvest` reads of a verification
    (``smime.VerificationResult``); the store sits below the API and does not import it."""

    @property
    def valid(self) -> bool: ...
    @property
    def signers(self) -> Sequence[HarvestedSigner]: ...
    @property
    def certificates(self) -> Sequence[x509.Certificate]: ...
    @property
    def verified_with(self) -> ValidationContext | None: ...


# ----------------------------------------------------------------------------- results


class HarvestReason(StableCode):
    """Why :meth:`CertificateStore.harvest` did not keep a certificate (stable codes)."""

    SIGNATURE_NOT_VALID = enum.auto()
    NO_TRUST = enum.auto()
    UNTRUSTED = enum.auto()
    REVOKED = enum.auto()
    NOT_VALID_NOW = enum.auto()
    CANNOT_ENCRYPT = enum.auto()
    ADDRESS_MISMATCH = enum.auto()
    MALFORMED = enum.auto()


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate ``harvest`` kept, and the addresses it is stored under.

    ``role`` is ``"signer"`` or ``"encryption"`` (named by SMIMEEncryptionKeyPreference);
    ``preferred`` marks the sender's stated encryption certificate; ``can_encrypt`` says
    whether ``find`` may return it (a sign-only signer certificate is kept as a record of
    the signer, never encrypted to).
    """

    certificate: x509.Certificate
    addresses: tuple[str, ...]
    role: str
    preferred: bool = False
    can_encrypt: bool = True

    def __reduce__(self) -> tuple[Any, ...]:
        """The certificate travels as DER (cryptography's do not pickle)."""
        return reduce_fields(self)
    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``certificate`` (its facts), ``addresses``, ``role``,
        ``preferred``, ``can_encrypt``."""
        return {
            "certificate": certificate_dict(self.certificate),
            "addresses": list(self.addresses),
            "role": self.role,
            "preferred": self.preferred,
            "can_encrypt": self.can_encrypt,
        }


@dataclass(frozen=True)
class RejectedCertificate:
    """A certificate ``harvest`` did not keep: a stable ``reason`` and a ``message``."""

    certificate: x509.Certificate | None
    role: str
    reason: HarvestReason
    message: str

    def __reduce__(self) -> tuple[Any, ...]:
        """The certificate travels as DER (cryptography's do not pickle)."""
        return reduce_fields(self)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``certificate`` (its facts, or None), ``role``, ``reason``
        (the stable code) and ``message``."""
        cert = self.certificate
        return {
            "certificate": None if cert is None else certificate_dict(cert),
            "role": self.role,
            "reason": self.reason.value,
            "message": self.message,
        }


@dataclass(frozen=True, eq=False)
class HarvestResult:
    """What ``harvest`` kept and what it refused, and why.

    It still behaves as the number of address rows written, which ``harvest`` used to
    return: ``int(result)``, ``result == 1``, ``result >= 1`` and ``bool(result)`` work.
    """

    stored: tuple[StoredCertificate, ...] = ()
    rejected: tuple[RejectedCertificate, ...] = ()
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``rows`` (address rows written), ``stored`` and
        ``rejected`` (each their ``to_dict()``)."""
        return {
            "rows": self.rows,
            "stored": [item.to_dict() for item in self.stored],
            "rejected": [item.to_dict() for item in self.rejected],
        }

    def __int__(self) -> int:
        return self.rows

    def __index__(self) -> int:
        return self.rows

    def __bool__(self) -> bool:
        return self.rows > 0

    def __hash__(self) -> int:
        return hash(self.rows)  # equal results have equal row counts

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HarvestResult):
            return (self.stored, self.rejected, self.rows) == (
                other.stored, other.rejected, other.rows)
        if isinstance(other, int):
            return self.rows == other
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        count = _count(other)
        return NotImplemented if count is None else self.rows < count

    def __le__(self, other: object) -> bool:
        count = _count(other)
        return NotImplemented if count is None else self.rows <= count

    def __gt__(self, other: object) -> bool:
        count = _count(other)
        return NotImplemented if count is None else self.rows > count

    def __ge__(self, other: object) -> bool:
        count = _count(other)
        return NotImplemented if count is None else self.rows >= count

    def __add__(self, other: object) -> int:
        count = _count(other)
        return NotImplemented if count is None else self.rows + count

    __radd__ = __add__


def _count(value: object) -> int | None:
    """The row count of a HarvestResult or an int (what results compare and add with)."""
    if isinstance(value, HarvestResult):
        return value.rows
    return value if isinstance(value, int) else None


class CertificateStore:
    """A SQLite file of correspondents' certificates, capabilities and key preferences."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._lock = threading.RLock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the certificate store {self.path}: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _setup(self) -> None:
        conn = self._connection()

        def configure() -> None:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss, too
            conn.execute("PRAGMA foreign_keys = ON")

        self._retry(configure)
        with self._transaction() as c:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

    def _retry(self, action: Callable[[], _T]) -> _T:
        """Run ``action``, waiting out locks the busy handler does not cover; any other
        SQLite failure is a :class:`~smime.errors.StoreError`."""
        deadline = time.monotonic() + self._timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.Error as exc:  # locked, busy, corrupt, not a database...
                text = str(exc).lower()
                busy = isinstance(exc, sqlite3.OperationalError) and (
                    "locked" in text or "busy" in text)
                if not busy or time.monotonic() > deadline:
                    raise StoreError(f"certificate store {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the certificate store {self.path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it."""
        with self._lock:
            conn = self._connection()
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise StoreError(f"certificate store {self.path}: {exc}") from exc
            except BaseException:
                self._rollback(conn)
                raise
            try:
                self._retry(lambda: conn.execute("COMMIT"))
            except BaseException:
                self._rollback(conn)
                raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """Undo the open transaction; a connection too broken to roll back is reported
        by the error already on its way."""
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            return self._retry(lambda: conn.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> CertificateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CertificateStore({str(self.path)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its file's absolute path (and timeout) and opens that file again on
        load, with a connection and lock of its own: SQLite lets several processes share
        the file. An in-memory store lives in one process only, so it refuses."""
        if self._in_memory():
            raise UsageError(
                "an in-memory CertificateStore cannot be pickled: its certificates exist only "
                "in this process; give CertificateStore a file path to share it with workers"
            )
        return _reopen, (type(self), os.path.abspath(self.path), self._timeout)

    def __eq__(self, other: object) -> bool:
        """Stores on the same file are equal (what one writes, the other reads)."""
        if not isinstance(other, CertificateStore):
            return NotImplemented
        return self._where() == other._where()

    def __hash__(self) -> int:
        return hash(self._where())

    def _in_memory(self) -> bool:
        return str(self.path) == ":memory:"

    def _where(self) -> str:
        if self._in_memory():
            return f":memory:{id(self)}"  # each in-memory database is its own
        return os.path.realpath(self.path)

    def _repr_html_(self) -> str:
        try:
            rows = [(address, ", ".join(certificate_label(c) for c in self.certificates(address)))
                    for address in self.emails()]
        except StoreError as exc:
            rows = [("error", str(exc))]
        return card_html("certificate store", str(self.path), rows)

    def to_dict(self) -> dict[str, Any]:
        """A summary as plain data, JSON-safe: ``path``, ``open``, and per stored address
        (``addresses``) its ``certificates`` (their facts, newest first) and
        ``capabilities``. A closed store has no addresses to show."""
        with self._lock:
            is_open = self._conn is not None
            addresses = [
                {"email": address,
                 "certificates": [certificate_dict(c) for c in self.certificates(address)],
                 "capabilities": list(self.capabilities(address))}
                for address in (self.emails() if is_open else ())
            ]
        return {"path": str(self.path), "open": is_open, "addresses": addresses}

    # ------------------------------------------------------------------ writing

    def _put_certificate(
        self, conn: sqlite3.Connection, cert: x509.Certificate, emails: Iterable[str],
        seen: str,
    ) -> int:
        fp = _fp(cert)
        conn.execute(
            "INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) "
            "DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
            (fp, cert.public_bytes(serialization.Encoding.DER),
             _iso(cert.not_valid_before_utc), _iso(cert.not_valid_after_utc), seen, seen),
        )
        count = 0
        for email in emails:
            conn.execute(
                "INSERT INTO addresses VALUES (?, ?, ?, ?) ON CONFLICT(email, fingerprint) "
                "DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
                (email, fp, seen, seen),
            )
            count += 1
        return count

    def _put_sender(
        self, conn: sqlite3.Connection, email: str, capabilities: Sequence[str],
        preferred: bytes | None, stated_at: str, seen: str,
    ) -> None:
        """Capabilities and preference of the most recent message win (RFC 8551 §2.7.1)."""
        conn.execute(
            "INSERT INTO senders VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(email) DO UPDATE SET "
            "capabilities = CASE WHEN excluded.stated_at >= stated_at "
            "  THEN excluded.capabilities ELSE capabilities END, "
            "preferred = CASE WHEN excluded.stated_at >= stated_at "
            "  THEN excluded.preferred ELSE preferred END, "
            "stated_at = max(stated_at, excluded.stated_at), "
            "last_seen = max(last_seen, excluded.last_seen)",
            (email, json.dumps(list(capabilities)), preferred, stated_at, seen, seen),
        )

    def add(
        self,
        cert: CertificateLike,
        *,
        emails: Sequence[str] | None = None,
        capabilities: Sequence[str] = (),
        preferred: bool = False,
        seen_at: dt.datetime | None = None,
    ) -> int:
        """Import a certificate by hand (you vouch for it); returns address rows written.

        Nothing is validated here: no chain, trust store, revocation or address check, because
        you obtained the certificate some other way and checked it yourself (compare its
        fingerprint with the owner). Only ``find`` still skips it while it is expired or
        cannot receive. Certificates from mail go through :meth:`harvest`, which validates.

        ``emails`` defaults to the addresses the certificate names. ``capabilities`` and
        ``preferred`` (make it the encryption certificate) update the sender record.
        """
        certificate = to_certificate(cert)
        addresses = [normalize_address(e) for e in (emails or certificate_emails(certificate))]
        if not addresses:
            raise CertificateError.naming("the certificate names no email address; pass ",
                                          Option("emails=[...]"))
        seen = _iso(seen_at or _now())
        with self._transaction() as conn:
            count = self._put_certificate(conn, certificate, addresses, seen)
            if capabilities or preferred:
                for email in addresses:
                    self._put_sender(conn, email, capabilities,
                                     _fp(certificate) if preferred else None, seen, seen)
        return count

    def harvest(
        self,
        result: SignedResult,
        *,
        trust: TrustStore | None = None,
        at: dt.datetime | None = None,
    ) -> HarvestResult:
        """Store what a verified message tells about its signers; say what was kept and why not.

        A valid signature proves who signed, but not the certificates that came with it:
        the certificate set is not signed, so whoever relays a message can add to it. Each
        certificate is therefore kept only when it chains to ``trust`` (default: the trust
        the result was verified with, ``result.verified_with``) under the same revocation
        settings, is valid at ``at`` (default now) and names an address of the validated
        signer; the one named by SMIMEEncryptionKeyPreference must also allow encryption.
        Nothing is kept from a result that is not valid, nor without a trust store.

        ``result`` is a :class:`~smime.VerificationResult` (what :class:`SignedResult`
        describes). The :class:`HarvestResult` compares and converts as the number of address
        rows written, which this method used to return.
        """
        if not isinstance(result, SignedResult):
            raise UsageError.wrong_type(
                "result", result, "a verification result (from smime.verify, or one of "
                "UnwrapResult.verifications)")
        moment = utc(at) if at is not None else _now()
        signers = [(s, s.certificate) for s in result.signers if s.certificate is not None]
        if not result.valid:
            return _harvested(HarvestResult(rejected=tuple(
                RejectedCertificate(cert, "signer", HarvestReason.SIGNATURE_NOT_VALID,
                                    "the signature is not valid, so nothing it carries is kept")
                for _, cert in signers)))
        context = _context(result, trust)
        if context is None:
            return _harvested(HarvestResult(rejected=tuple(
                RejectedCertificate(cert, "signer", HarvestReason.NO_TRUST,
                                    "no trust store to validate the certificate against: pass "
                                    "trust= (the roots you verified the message with)")
                for _, cert in signers)))
        carried = list(result.certificates)
        plans: list[_Plan] = []
        rejected: list[RejectedCertificate] = []
        for signer, cert in signers:
            plan = self._judge(signer, cert, carried, context, moment, rejected)
            if plan is not None:
                plans.append(plan)
        return _harvested(self._write(plans, tuple(rejected)))

    def _judge(
        self, signer: HarvestedSigner, cert: x509.Certificate,
        carried: Sequence[x509.Certificate], context: ValidationContext,
        moment: dt.datetime, rejected: list[RejectedCertificate],
    ) -> _Plan | None:
        """What to store for one signer, or None; every refusal is added to ``rejected``."""
        if not signer.valid:
            rejected.append(RejectedCertificate(cert, "signer",
                                                HarvestReason.SIGNATURE_NOT_VALID,
                                                "this signer's signature is not valid"))
            return None
        refusal, addresses = _check_signer(cert, signer.email_addresses, carried, context,
                                           moment)
        if refusal is not None:
            rejected.append(refusal)
            return None
        chosen: x509.Certificate | None = None
        shared: tuple[str, ...] = ()
        preference = signer.encryption_key_preference
        if preference is not None:
            candidates = _unique([cert, *carried, *self._stored(addresses)])
            for candidate in islice(preference_matches(preference, candidates),
                                    MAX_PREFERENCE_CANDIDATES):
                refusal, shared = _check_encryption(
                    candidate, cert, addresses, carried, context, moment)
                if refusal is None:
                    chosen = candidate
                    break
                rejected.append(refusal)
        return _Plan(
            signer=cert, addresses=addresses, chosen=chosen, chosen_addresses=shared,
            capabilities=tuple(signer.capabilities), stated=signer.signing_time,
            signer_can_encrypt=can_receive(cert, moment),
        )

    def _write(
        self, plans: Sequence[_Plan], rejected: tuple[RejectedCertificate, ...]
    ) -> HarvestResult:
        """Store the judged plans in one transaction."""
        if not plans:
            return HarvestResult(rejected=rejected)
        seen = _iso(_now())
        count = 0
        stored: list[StoredCertificate] = []
        with self._transaction() as conn:
            for plan in plans:
                count += self._put_certificate(conn, plan.signer, plan.addresses, seen)
                own = plan.chosen is not None and _fp(plan.chosen) == _fp(plan.signer)
                stored.append(StoredCertificate(plan.signer, plan.addresses, "signer",
                                                preferred=own,
                                                can_encrypt=plan.signer_can_encrypt))
                if plan.chosen is not None and not own:
                    count += self._put_certificate(conn, plan.chosen, plan.chosen_addresses,
                                                   seen)
                    stored.append(StoredCertificate(plan.chosen, plan.chosen_addresses,
                                                    "encryption", preferred=True))
                stated = _iso(plan.stated) if plan.stated is not None else seen
                for email in plan.addresses:
                    preferred = (_fp(plan.chosen) if plan.chosen is not None
                                 and email in plan.chosen_addresses else None)
                    self._put_sender(conn, email, plan.capabilities, preferred, stated, seen)
        return HarvestResult(stored=tuple(stored), rejected=rejected, rows=count)

    def remove(self, email: str) -> int:
        """Forget an address; certificates no other address uses go too. Returns rows removed."""
        address = normalize_address(email)
        with self._transaction() as conn:
            removed = conn.execute("DELETE FROM addresses WHERE email = ?", (address,)).rowcount
            conn.execute("DELETE FROM senders WHERE email = ?", (address,))
            conn.execute("DELETE FROM certificates WHERE fingerprint NOT IN "
                         "(SELECT fingerprint FROM addresses)")
        return int(removed)

    # ------------------------------------------------------------------ reading

    def _stored(self, emails: Sequence[str]) -> list[x509.Certificate]:
        marks = ",".join("?" * len(emails))
        rows = self._query(
            "SELECT DISTINCT c.der FROM certificates c JOIN addresses a USING (fingerprint) "
            f"WHERE a.email IN ({marks})", list(emails),
        )
        return [_load(r[0]) for r in rows]

    def certificates(self, email: str) -> tuple[x509.Certificate, ...]:
        """Every certificate stored for an address, newest (latest notBefore) first."""
        rows = self._query(
            "SELECT c.der FROM certificates c JOIN addresses a USING (fingerprint) "
            "WHERE a.email = ? ORDER BY c.not_before DESC, a.last_seen DESC",
            (normalize_address(email),),
        )
        return tuple(_load(r[0]) for r in rows)

    def capabilities(self, email: str) -> tuple[str, ...]:
        """The algorithms the address last advertised, in its order of preference."""
        rows = self._query("SELECT capabilities FROM senders WHERE email = ?",
                           (normalize_address(email),))
        if not rows:
            return ()
        try:
            return tuple(str(name) for name in json.loads(rows[0][0]))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"the certificate store holds damaged capabilities for {email}: "
                             f"{exc}") from None

    def emails(self) -> tuple[str, ...]:
        rows = self._query("SELECT DISTINCT email FROM addresses ORDER BY email")
        return tuple(r[0] for r in rows)

    def find(self, email: str, *, at: dt.datetime | None = None) -> x509.Certificate | None:
        """The certificate to encrypt to: one that can receive at ``at`` (default now) by the
        rule ``encrypt`` applies (:func:`smime.core.certs.can_receive`: validity, key type,
        key usage, emailProtection), the sender's stated preference when usable, else the
        newest."""
        moment = utc(at) if at is not None else _now()
        usable = [c for c in self.certificates(email) if can_receive(c, moment)]
        if not usable:
            return None
        rows = self._query("SELECT preferred FROM senders WHERE email = ?",
                           (normalize_address(email),))
        preferred = rows[0][0] if rows else None
        for cert in usable:
            if preferred is not None and _fp(cert) == bytes(preferred):
                _LOG.debug("store: %s: the stated encryption preference, %s", email,
                           Lazy(certificate_label, cert))
                return cert
        _LOG.debug("store: %s: the newest usable of %d, %s", email, len(usable),
                   Lazy(certificate_label, usable[0]))
        return usable[0]

    def signer_certificates(self, identifier: SignerIdentifier) -> tuple[x509.Certificate, ...]:
        """Every stored certificate a SignerInfo names (issuer and serial number, or subject
        key identifier), whatever address it is kept under: what ``verify(..., store=)``
        looks in when a message carries no certificate for its signer. Finding one here is
        not trusting it; the chain is still validated against the trust store."""
        if not isinstance(identifier, SignerIdentifier):
            raise UsageError.wrong_type("identifier", identifier, "a smime.cms.SignerIdentifier")
        rows = self._query("SELECT der FROM certificates ORDER BY not_before DESC")
        return tuple(c for c in (_load(r[0]) for r in rows) if identifier.matches(c))

    def export_pem(self, email: str | None = None) -> bytes:
        """PEM of every stored certificate, or of one address's certificates."""
        if email is not None:
            certs = self.certificates(email)
        else:
            rows = self._query("SELECT der FROM certificates ORDER BY not_before DESC")
            certs = tuple(_load(r[0]) for r in rows)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _reopen(cls: type[CertificateStore], path: str, timeout: float) -> CertificateStore:
    return cls(path, timeout=timeout)


# ----------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class _Plan:
    """What ``harvest`` decided to store for one signer."""

    signer: x509.Certificate
    addresses: tuple[str, ...]
    chosen: x509.Certificate | None
    chosen_addresses: tuple[str, ...]
    capabilities: tuple[str, ...]
    stated: dt.datetime | None
    signer_can_encrypt: bool


def _harvested(result: HarvestResult) -> HarvestResult:
    """Log what a harvest kept (INFO) and each refusal with its reason (DEBUG)."""
    _LOG.info("store: harvest kept %d certificate(s), refused %d", len(result.stored),
              len(result.rejected))
    if _LOG.isEnabledFor(logging.DEBUG):
        for kept in result.stored:
            _LOG.debug("store: kept %s as %s for %s", certificate_label(kept.certificate),
                       kept.role, ", ".join(kept.addresses))
        for refused in result.rejected:
            _LOG.debug("store: refused %s as %s: %s (%s)", certificate_label(refused.certificate)
                       if refused.certificate is not None else "(unreadable certificate)",
                       refused.role, refused.reason.value, refused.message)
    return result


def _context(result: SignedResult, trust: TrustStore | None) -> ValidationContext | None:
    """The trust to judge with: ``trust`` under the result's revocation settings, or the
    result's own; None when there is neither."""
    recorded = result.verified_with
    if not isinstance(recorded, ValidationContext):
        recorded = None
    if trust is None:
        return recorded
    if not isinstance(trust, TrustStore):
        raise InvalidOptionError(f"trust= must be a TrustStore, not {type(trust).__name__}")
    return ValidationContext(trust) if recorded is None else replace(recorded, trust=trust)


def _unique(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    seen: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(_fp(cert), cert)
    return list(seen.values())


def _check_signer(
    cert: x509.Certificate, claimed: Sequence[str], carried: Sequence[x509.Certificate],
    context: ValidationContext, moment: dt.datetime,
) -> tuple[RejectedCertificate | None, tuple[str, ...]]:
    """The refusal of a signer certificate, or the addresses to store it under."""
    try:
        named = signer_addresses(cert)
        wanted = [normalize_address(a) for a in claimed] or list(named)
        addresses = tuple(a for a in dict.fromkeys(wanted) if a in named)
        if not addresses:
            what = ", ".join(named) if named else "no email address"
            return RejectedCertificate(
                cert, "signer", HarvestReason.ADDRESS_MISMATCH,
                f"the signer's certificate {certificate_label(cert)} names {what}, "
                "so there is no address to store it under"), ()
        refusal = _validity(cert, "signer", moment) or _chain(
            cert, "signer", carried, context, moment)
    except MALFORMED as exc:
        refusal = RejectedCertificate(cert, "signer", HarvestReason.MALFORMED,
                                      f"the signer's certificate cannot be read: {exc}")
    return refusal, (() if refusal is not None else addresses)


def _check_encryption(
    cert: x509.Certificate, signer: x509.Certificate, addresses: Sequence[str],
    carried: Sequence[x509.Certificate], context: ValidationContext, moment: dt.datetime,
) -> tuple[RejectedCertificate | None, tuple[str, ...]]:
    """The refusal of the certificate a key preference names, or the addresses it serves.

    The signer's own certificate was validated already; any other must chain to the
    trust store on its own, and name one of the signer's validated addresses.
    """
    role = "encryption"
    try:
        own = _fp(cert) == _fp(signer)
        named = signer_addresses(cert)
        shared = tuple(a for a in addresses if a in named)
        if not shared:
            return RejectedCertificate(
                cert, role, HarvestReason.ADDRESS_MISMATCH,
                f"the preferred encryption certificate {certificate_label(cert)} does not "
                f"name the signer's address ({', '.join(addresses)})"), ()
        # The signer's own certificate was validated as the signer's.
        refusal = _receiving_refusal(
            cert, moment, what="the preferred encryption certificate", validity=not own,
            carried=carried, context=None if own else context,
        )
    except MALFORMED as exc:
        refusal = RejectedCertificate(cert, role, HarvestReason.MALFORMED,
                                      f"the preferred encryption certificate cannot be read: {exc}")
    return refusal, (() if refusal is not None else shared)


def _receiving_refusal(
    cert: x509.Certificate, moment: dt.datetime, *, what: str, validity: bool,
    carried: Sequence[x509.Certificate], context: ValidationContext | None,
) -> RejectedCertificate | None:
    """Why ``cert`` may not be encrypted to, after its address matched: not valid at
    ``moment`` (when ``validity``), cannot receive (key type, KeyUsage,
    emailProtection), or does not chain to ``context``'s trust store (when given)."""
    role = "encryption"
    refusal = _validity(cert, role, moment) if validity else None
    problem = receive_problem(cert, moment) if refusal is None else None
    if problem is not None:
        refusal = RejectedCertificate(cert, role, HarvestReason.CANNOT_ENCRYPT,
                                      f"{what} cannot receive encrypted mail: {problem}")
    if refusal is None and context is not None:
        refusal = _chain(cert, role, carried, context, moment)
    return refusal


def check_recipient(
    cert: x509.Certificate, address: str, *, context: ValidationContext | None,
    intermediates: Sequence[x509.Certificate] = (), at: dt.datetime | None = None,
) -> RejectedCertificate | None:
    """Why a certificate from elsewhere (a directory) must not be encrypted to for
    ``address``, or None when it may.

    The checks ``harvest`` makes of a stated encryption certificate: it names the
    address, is valid at ``at`` (default now), can receive (key type, KeyUsage,
    emailProtection) and, given a ``context``, chains to its trust store (``intermediates``
    help build the path; they are not trusted).
    """
    role = "encryption"
    moment = utc(at) if at is not None else _now()
    try:
        named = signer_addresses(cert)
        if normalize_address(address) not in named:
            return RejectedCertificate(
                cert, role, HarvestReason.ADDRESS_MISMATCH,
                f"the certificate {certificate_label(cert)} does not name {address} "
                f"(it names {', '.join(named) or 'no email address'})")
        refusal = _receiving_refusal(cert, moment, what="the certificate", validity=True,
                                     carried=intermediates, context=context)
    except MALFORMED as exc:
        refusal = RejectedCertificate(cert, role, HarvestReason.MALFORMED,
                                      f"the certificate cannot be read: {exc}")
    return refusal


def _validity(cert: x509.Certificate, role: str, moment: dt.datetime) -> RejectedCertificate | None:
    if cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        return None
    return RejectedCertificate(cert, role, HarvestReason.NOT_VALID_NOW,
                               f"the {role} certificate {certificate_label(cert)} is not "
                               f"valid at "
                               f"{_iso(moment)} (valid {_iso(cert.not_valid_before_utc)} to "
                               f"{_iso(cert.not_valid_after_utc)})")


_VALIDITY_CODES = (ProblemCode.EXPIRED, ProblemCode.NOT_YET_VALID)


def _chain(
    cert: x509.Certificate, role: str, carried: Sequence[x509.Certificate],
    context: ValidationContext, moment: dt.datetime,
) -> RejectedCertificate | None:
    """Validate with the library's own path validation, as ``verify`` did: the same roots,
    revocation data and mode, and policy, except that a trusted chain is always required
    and a certificate to encrypt to need not be allowed to sign."""
    policy = replace(context.policy, require_trusted_chain=True,
                     check_key_usage=context.policy.check_key_usage and role == "signer")
    outcome = validate_certificate(
        cert, trust=context.trust, intermediates=carried, at=moment, crls=context.crls,
        ocsp_responses=context.ocsp_responses, revocation=context.revocation,
        fetch=context.fetch, policy=policy,
    )
    if outcome.trusted and not outcome.problems:
        return None
    codes = {p.code for p in outcome.problems}
    reasons = "; ".join(str(p) for p in outcome.problems) or "no path to a trusted root"
    if ProblemCode.REVOKED in codes:
        reason = HarvestReason.REVOKED
    elif codes and codes <= set(_VALIDITY_CODES):
        reason = HarvestReason.NOT_VALID_NOW
    else:
        reason = HarvestReason.UNTRUSTED
    return RejectedCertificate(
        cert, role, reason, f"the {role} certificate {certificate_label(cert)} does not "
        f"validate against the trust store: {reasons}")
