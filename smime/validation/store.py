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
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ..errors import CertificateError, LoadError
from ..keys import CertificateLike, certificate_emails, to_certificate
from ._common import utc
from ._store_match import can_encrypt_to, match_preference
from .binding import normalize_address

__all__ = ["CertificateStore"]

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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _fp(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


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
            raise LoadError(f"cannot open the certificate store {self.path}: {exc}") from exc
        self._setup()

    # ------------------------------------------------------------------ plumbing

    def _setup(self) -> None:
        conn = self._connection()
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        try:
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        except CertificateError:
            self.close()
            raise
        conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss, too
        conn.execute("PRAGMA foreign_keys = ON")
        with self._transaction() as c:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

    def _retry(self, action: Any) -> Any:
        """Run ``action``, waiting out locks the busy handler does not cover."""
        deadline = time.monotonic() + self._timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.DatabaseError as exc:  # locked, busy, corrupt, not a database...
                text = str(exc).lower()
                busy = isinstance(exc, sqlite3.OperationalError) and (
                    "locked" in text or "busy" in text)
                if not busy or time.monotonic() > deadline:
                    raise CertificateError(f"certificate store {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CertificateError(f"the certificate store {self.path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none of it."""
        with self._lock:
            conn = self._connection()
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                conn.execute("ROLLBACK")
                raise CertificateError(f"certificate store {self.path}: {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                self._retry(lambda: conn.execute("COMMIT"))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            return self._retry(lambda: conn.execute(sql, args).fetchall())  # type: ignore[no-any-return]

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

        ``emails`` defaults to the addresses the certificate names. ``capabilities`` and
        ``preferred`` (make it the encryption certificate) update the sender record.
        """
        certificate = to_certificate(cert)
        addresses = [normalize_address(e) for e in (emails or certificate_emails(certificate))]
        if not addresses:
            raise CertificateError("the certificate names no email address; pass emails=")
        seen = _iso(seen_at or _now())
        with self._transaction() as conn:
            count = self._put_certificate(conn, certificate, addresses, seen)
            if capabilities or preferred:
                for email in addresses:
                    self._put_sender(conn, email, capabilities,
                                     _fp(certificate) if preferred else None, seen, seen)
        return count

    def harvest(self, result: Any) -> int:
        """Store what a verified message tells about its signers; returns address rows written.

        ``result`` is a verification result (duck-typed: ``valid``, ``signers`` with
        ``certificate``, ``email_addresses``, ``capabilities``,
        ``encryption_key_preference``, ``signing_time``; ``certificates``). A result that
        is not valid stores nothing and returns 0, so harvesting every incoming message is
        safe: only signatures that verified teach the store anything.
        """
        if not getattr(result, "valid", False):
            return 0
        carried = [to_certificate(c) for c in getattr(result, "certificates", None) or ()]
        seen = _iso(_now())
        count = 0
        with self._transaction() as conn:
            for signer in getattr(result, "signers", ()) or ():
                cert = getattr(signer, "certificate", None)
                if cert is None or not getattr(signer, "valid", True):
                    continue
                cert = to_certificate(cert)
                emails = [normalize_address(e) for e in
                          (getattr(signer, "email_addresses", None) or certificate_emails(cert))]
                if not emails:
                    continue
                count += self._put_certificate(conn, cert, emails, seen)
                preference = getattr(signer, "encryption_key_preference", None)
                chosen = None
                if preference is not None:
                    chosen = match_preference(preference, [cert, *carried,
                                                            *self._stored(conn, emails)])
                    if chosen is not None and _fp(chosen) != _fp(cert):
                        count += self._put_certificate(conn, chosen, emails, seen)
                signing_time = getattr(signer, "signing_time", None)
                stated = _iso(signing_time) if isinstance(signing_time, dt.datetime) else seen
                capabilities = tuple(getattr(signer, "capabilities", None) or ())
                for email in emails:
                    self._put_sender(conn, email, capabilities,
                                     _fp(chosen) if chosen is not None else None, stated, seen)
        return count

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

    @staticmethod
    def _stored(conn: sqlite3.Connection, emails: Sequence[str]) -> list[x509.Certificate]:
        marks = ",".join("?" * len(emails))
        rows = conn.execute(
            "SELECT DISTINCT c.der FROM certificates c JOIN addresses a USING (fingerprint) "
            f"WHERE a.email IN ({marks})", list(emails),
        ).fetchall()
        return [x509.load_der_x509_certificate(r[0]) for r in rows]

    def certificates(self, email: str) -> tuple[x509.Certificate, ...]:
        """Every certificate stored for an address, newest (latest notBefore) first."""
        rows = self._query(
            "SELECT c.der FROM certificates c JOIN addresses a USING (fingerprint) "
            "WHERE a.email = ? ORDER BY c.not_before DESC, a.last_seen DESC",
            (normalize_address(email),),
        )
        return tuple(x509.load_der_x509_certificate(r[0]) for r in rows)

    def capabilities(self, email: str) -> tuple[str, ...]:
        """The algorithms the address last advertised, in its order of preference."""
        rows = self._query("SELECT capabilities FROM senders WHERE email = ?",
                           (normalize_address(email),))
        return tuple(json.loads(rows[0][0])) if rows else ()

    def emails(self) -> tuple[str, ...]:
        rows = self._query("SELECT DISTINCT email FROM addresses ORDER BY email")
        return tuple(r[0] for r in rows)

    def find(self, email: str, *, at: dt.datetime | None = None) -> x509.Certificate | None:
        """The certificate to encrypt to: valid at ``at`` (default now), with a key that can
        receive (RSA keyEncipherment, EC/X25519 keyAgreement; never Ed25519), the sender's
        stated preference when usable, else the newest."""
        moment = utc(at) if at is not None else _now()
        usable = [c for c in self.certificates(email) if can_encrypt_to(c, moment)]
        if not usable:
            return None
        rows = self._query("SELECT preferred FROM senders WHERE email = ?",
                           (normalize_address(email),))
        preferred = rows[0][0] if rows else None
        for cert in usable:
            if preferred is not None and _fp(cert) == bytes(preferred):
                return cert
        return usable[0]

    def export_pem(self, email: str | None = None) -> bytes:
        """PEM of every stored certificate, or of one address's certificates."""
        if email is not None:
            certs = self.certificates(email)
        else:
            rows = self._query("SELECT der FROM certificates ORDER BY not_before DESC")
            certs = tuple(x509.load_der_x509_certificate(r[0]) for r in rows)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
