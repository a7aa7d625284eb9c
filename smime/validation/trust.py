"""Trust anchors: the certificates a user decides to believe.

A :class:`TrustStore` is immutable, so a validation result computed against it (and cached)
stays true for as long as the store lives. Its ``identity`` is a digest of the set of
certificate fingerprints: two stores holding the same roots are interchangeable.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.utils import CryptographyDeprecationWarning

from .._cache import LRUCache
from ..core.names import subject_text
from ..core.pickling import certificate_der, load_certificate
from ..core.views import card_html, certificate_dict, certificate_facts
from ..errors import LoadError, Option, SMIMEError
from ..keys import CertificateLike, load_certificates, to_certificate
from ._common import name_key

__all__ = ["TrustStore"]

#: File name endings read from a folder of certificates.
FOLDER_SUFFIXES = (".pem", ".crt", ".cer", ".der")

#: Where Linux distributions, the BSDs and macOS keep the TLS root bundle, most common first.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # CentOS, RHEL 7+
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/ssl/cert.pem",  # Alpine, macOS, OpenBSD, FreeBSD
    "/usr/local/etc/ssl/cert.pem",  # FreeBSD ports
    "/usr/local/share/certs/ca-root-nss.crt",  # FreeBSD
    "/usr/share/ssl/certs/ca-bundle.crt",  # old Red Hat
)
SYSTEM_FOLDERS = ("/etc/ssl/certs", "/system/etc/security/cacerts", "/etc/pki/tls/certs")

PemSource: TypeAlias = "str | bytes | bytearray | memoryview | os.PathLike[str]"


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


class TrustStore:
    """An immutable set of trust anchors (root or pinned intermediate certificates).

    An empty store is allowed: every chain is then untrusted, and only signature math and
    the other checks can pass.
    """

    __slots__ = (
        "_asn1", "_by_fingerprint", "_certificates", "_identity", "_instants", "_subjects",
    )

    def __init__(self, certificates: Iterable[x509.Certificate] = ()) -> None:
        unique: dict[bytes, x509.Certificate] = {}
        for cert in certificates:
            if not isinstance(cert, x509.Certificate):
                raise LoadError(f"a TrustStore holds certificates, not {type(cert).__name__}")
            unique.setdefault(_fingerprint(cert), cert)
        self._by_fingerprint = unique
        self._certificates = tuple(unique.values())
        self._identity = hashlib.sha256(b"".join(sorted(unique))).digest()
        self._asn1: tuple[asn1_x509.Certificate, ...] | None = None
        self._instants: tuple[datetime, ...] | None = None
        self._subjects: frozenset[Any] | None = None

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_pem(cls, source: PemSource | Sequence[PemSource]) -> TrustStore:
        """Read a PEM bundle, a single PEM or DER file, PEM bytes, a folder of ``.pem``,
        ``.crt``, ``.cer`` and ``.der`` files, or a list of any of these."""
        if isinstance(source, (list, tuple)):
            found: list[x509.Certificate] = []
            for item in source:
                found.extend(cls.from_pem(item).certificates)
            return cls(found)
        if isinstance(source, str) and not source.strip():
            raise LoadError("no trust anchors: the source is an empty string")
        if isinstance(source, (str, os.PathLike)) and not (
            isinstance(source, str) and "-----BEGIN" in source
        ):
            path = Path(source)
            if path.is_dir():
                return cls(_read_folder(path))
        try:
            return cls(load_certificates(source))
        except SMIMEError:
            raise
        except (ValueError, TypeError) as exc:
            raise LoadError(f"cannot read trust anchors: {exc}") from exc

    @classmethod
    def from_certificates(cls, certificates: Iterable[CertificateLike]) -> TrustStore:
        """Trust exactly these certificates (cryptography or asn1crypto objects, or bytes)."""
        found: list[x509.Certificate] = []
        for item in certificates:
            if isinstance(item, (bytes, bytearray, memoryview)):
                found.extend(load_certificates(bytes(item)))
            else:
                found.append(to_certificate(item))
        return cls(found)

    @classmethod
    def from_system(cls) -> TrustStore:
        """The operating system's root bundle.

        These are the roots browsers trust for TLS servers; public S/MIME CAs are often among
        them, but companies and test setups usually issue mail certificates from their own
        CA, so S/MIME users usually bring their own roots (``from_pem``) or merge them in
        (``TrustStore.from_system().merged(mine)``). Reads the usual bundle files of Linux,
        the BSDs and macOS (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``); raises ``LoadError``
        when none is found.
        """
        for bundle in _system_candidates():
            if bundle.is_file():
                certs = _lenient_read(bundle)
                if certs:
                    return cls(certs)
        for folder in _system_folders():
            if folder.is_dir():
                certs = [c for f in sorted(folder.iterdir()) if f.is_file()
                         for c in _lenient_read(f)]
                if certs:
                    return cls(certs)
        raise LoadError.naming(
            "no system certificate bundle found (looked for "
            + ", ".join(str(p) for p in _system_candidates())
            + "); pass your roots with ", Option("TrustStore.from_pem(...)"),
        )

    # ------------------------------------------------------------------ queries

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        return self._certificates

    @property
    def fingerprints(self) -> frozenset[bytes]:
        """SHA-256 fingerprints of the anchors."""
        return frozenset(self._by_fingerprint)

    @property
    def identity(self) -> bytes:
        """A digest of the set of fingerprints: equal stores have equal identities."""
        return self._identity

    def get(self, fingerprint: bytes) -> x509.Certificate | None:
        """The anchor with this SHA-256 fingerprint, if held."""
        return self._by_fingerprint.get(fingerprint)

    def merged(self, other: TrustStore | Iterable[CertificateLike]) -> TrustStore:
        """A new store holding the anchors of both."""
        extra = other if isinstance(other, TrustStore) else TrustStore.from_certificates(other)
        return TrustStore(self._certificates + extra.certificates)

    def asn1_certificates(self) -> tuple[asn1_x509.Certificate, ...]:
        """The anchors as asn1crypto objects (for pyhanko-certvalidator), parsed once."""
        if self._asn1 is None:
            self._asn1 = tuple(
                asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in self._certificates
            )
        return self._asn1

    def subject_keys(self) -> frozenset[Any]:
        """Normalised subject names of the anchors (to pick the CRLs they may have issued)."""
        if self._subjects is None:
            self._subjects = frozenset(name_key(c.subject) for c in self._certificates)
        return self._subjects

    def validity_instants(self) -> tuple[datetime, ...]:
        """Every notBefore/notAfter of the anchors, sorted (a cache must not span them)."""
        if self._instants is None:
            self._instants = tuple(sorted(
                t for c in self._certificates
                for t in (c.not_valid_before_utc, c.not_valid_after_utc)
            ))
        return self._instants

    def __len__(self) -> int:
        return len(self._certificates)

    def __iter__(self) -> Iterator[x509.Certificate]:
        return iter(self._certificates)

    def __contains__(self, item: object) -> bool:
        try:
            cert = to_certificate(item)
        except (SMIMEError, ValueError, TypeError):
            return False
        return _fingerprint(cert) in self._by_fingerprint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrustStore) and other._identity == self._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as the anchors' DER; the parsed forms are per process, made on demand."""
        return _unpickle_trust_store, (
            type(self), tuple(certificate_der(c) for c in self), self._identity)

    def __copy__(self) -> TrustStore:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> TrustStore:
        return self

    def __bool__(self) -> bool:
        return True  # an empty store is still a store (and means "trust nothing")

    def __repr__(self) -> str:
        return f"TrustStore({len(self)} certificate{'s' if len(self) != 1 else ''})"

    def _repr_html_(self) -> str:
        roots = "".join(
            card_html("certificate", subject_text(cert), certificate_facts(cert)[1:],
                      opened=False)
            for cert in self
        )
        return card_html("trust store", repr(self)[len("TrustStore("):-1], (), roots)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``identity`` (hex, equal for equal stores) and
        ``certificates`` (each :func:`~smime.core.views.certificate_dict`)."""
        return {
            "identity": self._identity.hex(),
            "certificates": [certificate_dict(c) for c in self._certificates],
        }


#: Stores this process unpickled, by identity: every result of a batch names the store it
#: was verified with, so the same anchors arrive again and again.
_UNPICKLED: LRUCache[TrustStore] = LRUCache("validation.unpickled_trust_stores", 16)


def _unpickle_trust_store(
    cls: type[TrustStore], anchors: tuple[bytes, ...], identity: bytes
) -> TrustStore:
    """The store a pickle carries: the one already made here from the same anchors (it
    is immutable), else a new one."""
    found = _UNPICKLED.get((cls, identity))
    if found is None:
        found = cls(load_certificate(der) for der in anchors)
        _UNPICKLED.put((cls, found.identity), found)
    return found


def _read_folder(folder: Path) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in FOLDER_SUFFIXES:
            try:
                certs.extend(load_certificates(path))
            except LoadError as exc:
                raise LoadError(f"{path}: {exc}") from exc
    return certs


def _lenient_read(path: Path) -> list[x509.Certificate]:
    """Every certificate in a system file, skipping the odd one cryptography rejects."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if not asn1_pem.detect(data):
        try:
            return load_certificates(data)
        except SMIMEError:
            return []
    certs: list[x509.Certificate] = []
    try:
        blocks = list(asn1_pem.unarmor(data, multiple=True))
    except (ValueError, TypeError):
        return []
    with warnings.catch_warnings():
        # a system bundle may hold a root with a negative serial; it is still a root
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for kind, _headers, der in blocks:
            if kind in ("CERTIFICATE", "X509 CERTIFICATE"):
                try:
                    certs.append(x509.load_der_x509_certificate(der))
                except ValueError:
                    continue
    return certs


def _system_candidates() -> list[Path]:
    import ssl  # only for the system's bundle paths; it costs 10 ms to import

    paths = ssl.get_default_verify_paths()
    found: list[str] = []
    env_file = os.environ.get(paths.openssl_cafile_env)
    for candidate in (env_file, paths.cafile, paths.openssl_cafile, *SYSTEM_BUNDLES):
        if candidate and candidate not in found:
            found.append(candidate)
    return [Path(p) for p in found]


def _system_folders() -> list[Path]:
    import ssl

    paths = ssl.get_default_verify_paths()
    env_dir = os.environ.get(paths.openssl_capath_env)
    found: list[str] = []
    for candidate in (env_dir, paths.capath, paths.openssl_capath, *SYSTEM_FOLDERS):
        if candidate and candidate not in found:
            found.append(candidate)
    return [Path(p) for p in found]
