"""Correspondents' certificates from an LDAP directory, as Outlook finds a colleague's.

:class:`LDAPDirectory` looks an address up (``mail``) and reads the certificates the entry
publishes: ``userSMIMECertificate`` (PKCS#7 certs-only, RFC 2798) and ``userCertificate``
(``;binary``, RFC 4523). It is a :class:`smime.store.CertificateSource`, so it goes
wherever a :class:`~smime.CertificateStore` does: ``encrypt(msg, "bob@example.org",
store=directory)``, and ``verify(..., store=directory)`` for a signer's certificate that a
message omits (by issuer and serial number).

A directory is untrusted input. Each certificate it returns is checked as ``harvest``
checks one (:func:`smime.store.check_recipient`: it names the address, is valid now, can
receive, and chains to ``trust=`` when given) before ``find`` returns it. The connection
is TLS (``ldaps://`` or StartTLS) unless the caller opts out by name; answers are capped
in number and size, and kept for a short while in a per-process cache
(``smime.clear_caches()`` empties it).

The client is ``ldap3`` (the ``ldap`` extra): pure Python, so it installs everywhere
without OpenLDAP's headers and a compiler, which python-ldap needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import ipaddress
import math
import os
import re
import ssl
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ._cache import LRUCache
from ._log import Lazy
from ._log import directory as _LOG
from .cms import SignerIdentifier
from .core.certs import is_ca
from .core.names import UNREADABLE, certificate_label, name_text
from .core.pickling import reduce_attributes, reduce_fields
from .core.times import now as _now
from .core.times import utc
from .core.views import certificate_dict
from .errors import (
    InvalidOptionError,
    LoadError,
    SMIMEError,
    TransportError,
    UnsupportedError,
    UsageError,
)
from .keys import CertificateLike, Source, load_certificates
from .options import check_count, check_seconds
from .store import RejectedCertificate, check_recipient
from .validation import TrustStore, ValidationContext, normalize_address

__all__ = ["DirectoryLookup", "LDAPDirectory", "escape_filter_value"]

#: The attributes read, by their base name: PKCS#7 certs-only, and plain DER certificates.
SMIME_ATTRIBUTE = "usersmimecertificate"
CERTIFICATE_ATTRIBUTE = "usercertificate"
_REQUESTED = ("userSMIMECertificate", "userCertificate;binary", "userCertificate")

#: Answers by (directory, address): (monotonic expiry, the certificates the server sent).
_CACHE: LRUCache[tuple[float, tuple[x509.Certificate, ...]]] = LRUCache(
    "directory.lookups", 1024)

_FILTER_SPECIALS = {"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\0": "\\00"}


def escape_filter_value(value: str) -> str:
    """``value`` as an LDAP filter assertion value (RFC 4515 section 3): ``*``, ``(``,
    ``)``, ``\\`` and NUL escaped, so that an address cannot change the query."""
    return "".join(_FILTER_SPECIALS.get(ch, ch) for ch in value)


def _ldap3() -> ModuleType:
    """The ldap3 package, imported on first use (it is an optional dependency)."""
    try:
        return importlib.import_module("ldap3")
    except ImportError:
        raise UnsupportedError(
            "LDAPDirectory needs the ldap3 package: pip install 'smime-sdk[ldap]'") from None


@dataclass(frozen=True)
class DirectoryLookup:
    """What the directory holds for one address: the certificates that may be encrypted
    to at the time asked (newest first), and each one refused with its reason."""

    address: str
    certificates: tuple[x509.Certificate, ...]
    rejected: tuple[RejectedCertificate, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``address``, ``certificates`` (each certificate's facts),
        ``rejected`` (each :meth:`~smime.store.RejectedCertificate.to_dict`)."""
        return {
            "address": self.address,
            "certificates": [certificate_dict(c) for c in self.certificates],
            "rejected": [r.to_dict() for r in self.rejected],
        }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class LDAPDirectory:
    """An LDAP directory searched by email address for certificates to encrypt to.

    ``url`` is ``ldaps://host[:port]`` or ``ldap://host[:port]`` (then StartTLS is
    required); ``base`` the DN searched below. The server's certificate is checked against
    ``ca_file`` (default: the system's roots) and its name against the URL's host.
    Plaintext LDAP needs ``allow_plaintext=True`` *and* ``trust=``: with nothing
    authenticating the server, only a chain to your own roots can vouch for a certificate.

    ``trust`` (a :class:`~smime.TrustStore` or a :class:`~smime.validation.ValidationContext`
    with revocation settings) makes every certificate chain to those roots, helped by
    ``intermediates`` and the chain a PKCS#7 entry carries; without it the TLS-authenticated
    directory is the authority, and certificates are still checked for the address,
    validity and usage. ``bind_dn``/``password`` bind (default: anonymous). ``timeout``
    bounds connecting, each read, and the whole exchange after the handshake, in seconds.
    ``cache_ttl`` is how long an answer is reused (0: not at all). ``max_entries``,
    ``max_certificates``, ``max_value_size`` and ``max_response_size`` (bytes read in all)
    cap what a hostile directory can make this read and validate.
    """

    def __init__(
        self,
        url: str,
        base: str,
        *,
        trust: TrustStore | ValidationContext | None = None,
        intermediates: Source | Iterable[CertificateLike] = (),
        ca_file: str | os.PathLike[str] | None = None,
        starttls: bool = True,
        allow_plaintext: bool = False,
        bind_dn: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        cache_ttl: float = 300.0,
        max_entries: int = 8,
        max_certificates: int = 16,
        max_value_size: int = 64 * 1024,
        max_response_size: int = 1024 * 1024,
    ) -> None:
        if not isinstance(url, str):
            raise UsageError.wrong_type("url", url, "an ldap:// or ldaps:// URL")
        if not isinstance(base, str):
            raise UsageError.wrong_type("base", base, "a DN (str)")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise InvalidOptionError(
                f"url={url!r} is not an LDAP URL; use ldaps://host[:port] or ldap://host[:port]")
        try:
            port = parts.port or (636 if scheme == "ldaps" else 389)
        except ValueError:
            raise InvalidOptionError(f"url={url!r} has an invalid port") from None
        self.url = url
        self.base = base
        self._host = unquote(parts.hostname)
        self._port = port
        self._ssl = scheme == "ldaps"
        self._starttls = not self._ssl and starttls
        self._tls = self._ssl or self._starttls
        if not self._tls and not allow_plaintext:
            raise InvalidOptionError(
                f"{url} without StartTLS is plaintext: anyone on the path can swap the "
                "certificates it returns. Use ldaps:// or starttls=True, or pass "
                "allow_plaintext=True (and trust=) to accept that")
        if not self._tls and trust is None:
            raise InvalidOptionError(
                "plaintext LDAP needs trust=: nothing else would vouch for the certificates")
        if isinstance(trust, TrustStore):
            trust = ValidationContext(trust)
        elif trust is not None and not isinstance(trust, ValidationContext):
            raise UsageError.wrong_type("trust", trust, "a TrustStore, a ValidationContext "
                                        "or None")
        self._context = trust
        # a path, PEM bundle or DER is one source; a list holds sources or certificates
        if isinstance(intermediates, (str, bytes, bytearray, memoryview, os.PathLike)):
            self._intermediates = tuple(load_certificates(intermediates))
        else:
            self._intermediates = tuple(load_certificates(list(intermediates)))
        self._ca_file = os.fspath(ca_file) if ca_file is not None else None
        if (bind_dn is None) != (password is None):
            raise InvalidOptionError("bind_dn= and password= go together (or neither, to "
                                     "search anonymously)")
        self._bind_dn = bind_dn
        self._password = password
        self.timeout = float(check_seconds("timeout", timeout))
        self.cache_ttl = float(check_seconds("cache_ttl", cache_ttl, zero=True))
        self.max_entries = check_count("max_entries", max_entries)
        self.max_certificates = check_count("max_certificates", max_certificates)
        self.max_value_size = check_count("max_value_size", max_value_size)
        self.max_response_size = check_count("max_response_size", max_response_size)

    def __repr__(self) -> str:
        return f"LDAPDirectory({self.url!r}, {self.base!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Settings only (a connection is opened per lookup, the cache is per process);
        a bind password travels with them."""
        return reduce_attributes(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LDAPDirectory):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: the settings, never the bind password."""
        return {
            "url": self.url, "base": self.base, "tls": self._tls, "starttls": self._starttls,
            "bind_dn": self._bind_dn, "ca_file": self._ca_file,
            "trust": self._context.to_dict() if self._context is not None else None,
            "intermediates": [certificate_dict(c) for c in self._intermediates],
            "timeout": self.timeout, "cache_ttl": self.cache_ttl,
            "max_entries": self.max_entries, "max_certificates": self.max_certificates,
            "max_value_size": self.max_value_size, "max_response_size": self.max_response_size,
        }

    # ------------------------------------------------------------------ CertificateSource

    def find(self, email: str, *, at: dt.datetime | None = None) -> x509.Certificate | None:
        """The certificate to encrypt to for ``email`` at ``at`` (default now): the newest
        one that passes every check, or None (:meth:`lookup` says why each was refused)."""
        found = self.lookup(email, at=at).certificates
        return found[0] if found else None

    def certificates(
        self, email: str, *, at: dt.datetime | None = None
    ) -> tuple[x509.Certificate, ...]:
        """Every usable certificate the directory holds for ``email``, newest first."""
        return self.lookup(email, at=at).certificates

    def capabilities(self, email: str) -> tuple[str, ...]:
        """Always (): a directory does not say which ciphers an address reads, so
        ``encrypt``'s auto rule picks the one every client reads."""
        return ()

    def signer_certificates(self, identifier: SignerIdentifier) -> tuple[x509.Certificate, ...]:
        """The certificates the directory holds under the issuer and serial number a
        SignerInfo names (``userCertificate`` by certificateExactMatch, RFC 4523), for
        ``verify(..., store=directory)`` when a message omits its signer's certificate.

        A signer named by key identifier has no LDAP match, so finds nothing. What is
        found is only a candidate: ``verify`` checks the signature with it and validates
        its chain against ``trust=``.
        """
        if not isinstance(identifier, SignerIdentifier):
            raise UsageError.wrong_type("identifier", identifier, "a smime.cms.SignerIdentifier")
        if identifier.issuer is None or identifier.serial_number is None:
            return ()
        issuer = name_text(identifier.issuer)
        if issuer == UNREADABLE:
            return ()
        # GSER (RFC 3641): the DN a quoted string, its quotes doubled
        quoted = issuer.replace('"', '""')
        gser = f'{{ serialNumber {identifier.serial_number}, issuer rdnSequence:"{quoted}" }}'
        query = f"(userCertificate={escape_filter_value(gser)})"
        found = self._fetched(query)
        return tuple(c for c in found if identifier.matches(c))

    # ------------------------------------------------------------------ lookups

    def lookup(self, email: str, *, at: dt.datetime | None = None) -> DirectoryLookup:
        """Search the directory (or the cache) for ``email`` and judge what it holds."""
        address = _address(email)
        moment = utc(at) if at is not None else _now()
        fetched = self._fetched(f"(mail={escape_filter_value(address)})")
        helpers = (*fetched, *self._intermediates)
        usable: list[x509.Certificate] = []
        rejected: list[RejectedCertificate] = []
        for cert in fetched:
            if is_ca(cert):
                continue  # an issuer a PKCS#7 entry carries: a path helper only
            refusal = check_recipient(cert, address, context=self._context,
                                      intermediates=helpers, at=moment)
            if refusal is None:
                usable.append(cert)
            else:
                rejected.append(refusal)
                _LOG.info("directory %s: %s refused for %s: %s (%s)", self.url,
                          Lazy(certificate_label, cert), address, refusal.reason.value,
                          refusal.message)
        usable.sort(key=lambda c: c.not_valid_before_utc, reverse=True)
        return DirectoryLookup(address, tuple(usable), tuple(rejected))

    def _key(self, query: str) -> Hashable:
        """Everything that decides what the server answers and how far it is vouched for:
        an answer fetched without TLS, or as another user, never serves this directory."""
        secret = (hashlib.sha256(self._password.encode()).digest()
                  if self._password is not None else None)
        return (self.url, self.base, self._ssl, self._starttls, self._ca_file, self.timeout,
                self._bind_dn, secret, self.max_entries, self.max_certificates,
                self.max_value_size, self.max_response_size, query)

    def _fetched(self, query: str) -> tuple[x509.Certificate, ...]:
        """The certificates of the entries ``query`` finds, from the cache while fresh."""
        if self.cache_ttl <= 0:
            return self._search(query)
        key = self._key(query)
        hit = _CACHE.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = self._search(query)
        _CACHE.put(key, (time.monotonic() + self.cache_ttl, found))
        return found

    # ------------------------------------------------------------------ the wire

    def _connection(self, ldap3: ModuleType) -> Any:
        tls = None
        if self._tls:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED, ca_certs_file=self._ca_file,
                sni=None if _is_ip(self._host) else self._host,
            )
        server = ldap3.Server(self._host, port=self._port, use_ssl=self._ssl, tls=tls,
                              get_info=ldap3.NONE, connect_timeout=self.timeout)
        return ldap3.Connection(
            server, user=self._bind_dn, password=self._password,
            auto_bind=ldap3.AUTO_BIND_NONE, client_strategy=ldap3.SYNC, read_only=True,
            raise_exceptions=False, auto_referrals=False,
            # ldap3 packs this into a C timeval: whole seconds
            receive_timeout=max(1, math.ceil(self.timeout)),
        )

    def _search(self, query: str) -> tuple[x509.Certificate, ...]:
        """One search: ``query`` is a filter whose values are escaped already."""
        ldap3 = _ldap3()
        from ldap3.core.exceptions import LDAPException

        started = time.monotonic()
        conn = self._connection(ldap3)
        try:
            conn.open()
            if self._starttls and not conn.start_tls():
                raise TransportError(f"LDAP directory {self.url}: StartTLS failed: "
                                     f"{conn.last_error or conn.result}")
            # ldap3 reads a whole answer, however large and slow, before returning it: this
            # connection (ours, not ldap3's class) reads through a budget of bytes and time.
            conn.socket = _Budget(conn.socket, self.max_response_size,
                                  time.monotonic() + self.timeout)
            if self._bind_dn is not None and not conn.bind():
                raise self._refused("bind", conn.result)
            conn.search(self.base, query, search_scope=ldap3.SUBTREE,
                        attributes=list(_REQUESTED), size_limit=self.max_entries,
                        time_limit=max(1, math.ceil(self.timeout)))
            result = conn.result or {}
            if result.get("result") not in (0, 4):  # success, sizeLimitExceeded (partial)
                raise self._refused("search", result)
            entries = [r for r in (conn.response or ()) if r.get("type") == "searchResEntry"]
        except SMIMEError:
            raise
        except (LDAPException, OSError) as exc:
            raise TransportError(f"LDAP directory {self.url}: {_reason(exc)}") from exc
        except Exception as exc:  # ldap3 decoding a malformed answer: KeyError, IndexError...
            raise TransportError(f"LDAP directory {self.url} sent an answer that cannot be "
                                 f"read ({type(exc).__name__}: {exc})") from exc
        finally:
            try:
                conn.unbind()
            except (LDAPException, OSError):
                _LOG.debug("directory %s: closing the connection failed", self.url)
        if len(entries) > self.max_entries or result.get("result") == 4:
            _LOG.warning("directory %s: more than %d entries for %s; read the first %d",
                         self.url, self.max_entries, query, self.max_entries)
        found = self._certificates(entries[: self.max_entries], query)
        _LOG.debug("directory %s: %s: %d entr(y/ies), %d certificate(s) in %.3f s", self.url,
                   query, min(len(entries), self.max_entries), len(found),
                   time.monotonic() - started)
        return found

    def _refused(self, what: str, result: dict[str, Any]) -> TransportError:
        code = result.get("result")
        text = str(result.get("message") or result.get("description") or "")
        return TransportError(
            f"LDAP directory {self.url} refused the {what}: {result.get('description')} "
            f"({code}){': ' + text if text else ''}", code=code, text=text)

    def _certificates(
        self, entries: Sequence[dict[str, Any]], query: str
    ) -> tuple[x509.Certificate, ...]:
        """The certificates of the entries' certificate attributes, each read as the
        untrusted input it is: an unreadable or oversized value is skipped, and at most
        ``max_certificates`` are kept."""
        out: dict[bytes, x509.Certificate] = {}
        for entry in entries:
            raw = entry.get("raw_attributes") or {}
            for name, values in raw.items():
                kind = str(name).split(";", 1)[0].lower()
                if kind not in (SMIME_ATTRIBUTE, CERTIFICATE_ATTRIBUTE):
                    continue
                for value in values if isinstance(values, list) else [values]:
                    for cert in self._read(value, kind, entry.get("dn"), query):
                        if len(out) >= self.max_certificates:
                            _LOG.warning("directory %s: more than %d certificates for %s; "
                                         "the rest are ignored", self.url,
                                         self.max_certificates, query)
                            return tuple(out.values())
                        out.setdefault(cert.fingerprint(hashes.SHA256()), cert)
        return tuple(out.values())

    def _read(self, value: object, kind: str, dn: object, query: str) -> list[x509.Certificate]:
        if not isinstance(value, bytes):
            return []
        if len(value) > self.max_value_size:
            _LOG.warning("directory %s: %s of %s is %d bytes, over max_value_size=%d; "
                         "skipped", self.url, kind, dn, len(value), self.max_value_size)
            return []
        try:
            certs = load_certificates(value)
        except LoadError as exc:
            _LOG.info("directory %s: %s of %s (for %s) cannot be read: %s", self.url, kind,
                      dn, query, exc)
            return []
        return certs


def _address(email: str) -> str:
    """``email`` as searched for; refuses what is not an address rather than search it."""
    if not isinstance(email, str):
        raise UsageError.wrong_type("email", email, "an email address (str)")
    address = normalize_address(email)
    if ("@" not in address or len(address) > 320
            or any(ord(ch) < 0x20 or ch == "\x7f" for ch in address)):
        raise InvalidOptionError(f"{email!r} is not an email address to look up")
    return address


class _Budget:
    """A socket whose reads stop, with an OSError, past ``limit`` bytes or ``deadline``."""

    def __init__(self, sock: Any, limit: int, deadline: float) -> None:
        self._sock = sock
        self._left = limit
        self._limit = limit
        self._deadline = deadline

    def recv(self, size: int) -> bytes:
        if time.monotonic() > self._deadline:
            raise TimeoutError("the directory did not finish its answer in time")
        data: bytes = self._sock.recv(size)
        self._left -= len(data)
        if self._left < 0:
            raise OSError(f"the directory's answer exceeds max_response_size={self._limit} "
                          "bytes")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _reason(exc: BaseException) -> str:
    """ldap3's error text without the tuple reprs it wraps around it."""
    text = str(exc)
    while (match := re.fullmatch(r"""\(["'](.*)["'],\)""", text, re.S)) is not None:
        text = match.group(1)
    if "doesn't match any name" in text:
        return "the server's TLS certificate does not name this host"
    return text
