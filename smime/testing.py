"""A throwaway PKI for demos and tests (yours and ours).

``make_test_pki(folder)`` writes a root CA, an intermediate CA and one user per key type
we support, as PEM and PKCS#12 files, and returns them as objects. ``issue_certificate``
makes more (expired, without EKU, with revocation URLs...) for negative tests.
Never use these keys for real mail.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa, x25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from .core.names import subject_text
from .core.views import card_html
from .errors import CertificateError, InvalidOptionError
from .keys import Identity, PrivateKey

__all__ = [
    "KEY_TYPES",
    "PQ_USERS",
    "TestPKI",
    "TestUser",
    "generate_key",
    "issue_certificate",
    "issue_crl",
    "issue_ocsp_response",
    "make_ca",
    "make_test_pki",
]

KEY_TYPES = (
    "rsa-2048", "rsa-3072", "ec-p256", "ec-p384", "ec-p521", "ed25519", "x25519",
    "ml-kem-768", "ml-kem-1024", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87",
)
_PQ_KEYS: dict[str, type[
    mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
]] = {
    "ml-kem-768": mlkem.MLKEM768PrivateKey, "ml-kem-1024": mlkem.MLKEM1024PrivateKey,
    "ml-dsa-44": mldsa.MLDSA44PrivateKey, "ml-dsa-65": mldsa.MLDSA65PrivateKey,
    "ml-dsa-87": mldsa.MLDSA87PrivateKey,
}

#: name, key type, what the key may do
DEFAULT_USERS: tuple[tuple[str, str], ...] = (
    ("alice", "rsa-2048"),
    ("bob", "rsa-3072"),
    ("carol", "ec-p256"),
    ("dave", "ec-p384"),
    ("erin", "ed25519"),
    ("frank", "ec-p521"),
    ("grace", "x25519"),
)
#: Post-quantum users for ``make_test_pki(users=PQ_USERS)``: ML-KEM keys receive, ML-DSA
#: keys sign (a person has one of each, as with RSA-less EC and X25519 pairs today).
PQ_USERS: tuple[tuple[str, str], ...] = (
    ("kim", "ml-kem-768"),
    ("kai", "ml-kem-1024"),
    ("dana", "ml-dsa-44"),
    ("dora", "ml-dsa-65"),
    ("dirk", "ml-dsa-87"),
)
PASSWORD = "secret"


def generate_key(key_type: str) -> PrivateKey:
    """A fresh private key of one of :data:`KEY_TYPES`."""
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    curves: dict[str, ec.EllipticCurve] = {
        "ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1(), "ec-p521": ec.SECP521R1()
    }
    if key_type in curves:
        return ec.generate_private_key(curves[key_type])
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "x25519":
        return x25519.X25519PrivateKey.generate()
    if key_type in _PQ_KEYS:
        return _PQ_KEYS[key_type].generate()
    raise ValueError(f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


IssuerKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    | mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
)


def _issuer_key(key: PrivateKey) -> IssuerKey:
    """The key as one that signs certificates: X25519 and ML-KEM keys cannot sign."""
    if isinstance(key, x25519.X25519PrivateKey):
        raise CertificateError("an X25519 key cannot sign certificates; issue with another CA")
    if isinstance(key, (mlkem.MLKEM768PrivateKey, mlkem.MLKEM1024PrivateKey)):
        raise CertificateError("an ML-KEM key cannot sign certificates; issue with another CA")
    return key


def _signing_hash(issuer_key: PrivateKey) -> hashes.SHA256 | None:
    """None for the keys that name no hash (Ed25519, ML-DSA)."""
    return hashes.SHA256() if isinstance(
        issuer_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
    ) else None


def _name(common_name: str, email: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smime Test PKI"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def make_ca(
    common_name: str = "smime Test Root CA",
    *,
    issuer: Identity | None = None,
    key_type: str = "rsa-2048",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    path_length: int | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> Identity:
    """A root CA (no ``issuer``) or an intermediate CA signed by ``issuer``."""
    key = generate_key(key_type)
    subject = _name(common_name)
    not_before = not_before or _now() - dt.timedelta(days=1)
    not_after = not_after or not_before + dt.timedelta(days=3650)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                _issuer_key(issuer.key).public_key()
            ),
            critical=False,
        )
    builder = _revocation_extensions(builder, crl_url, ocsp_url)
    cert = builder.sign(_issuer_key(signer_key), _signing_hash(signer_key))
    chain = (issuer.certificate, *issuer.chain) if issuer else ()
    return Identity(cert, key, chain)


def _revocation_extensions(
    builder: x509.CertificateBuilder, crl_url: str | None, ocsp_url: str | None
) -> x509.CertificateBuilder:
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    return builder


def issue_certificate(
    issuer: Identity,
    email: str | Sequence[str] | None,
    *,
    key_type: str = "rsa-2048",
    key: PrivateKey | None = None,
    common_name: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: Iterable[str] | None = None,
    extended_key_usage: Iterable[x509.ObjectIdentifier] | None = (
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ),
    subject_email: bool = True,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> Identity:
    """An end-entity S/MIME certificate signed by ``issuer``.

    ``key_usage`` names KeyUsage flags (``digital_signature``, ``content_commitment``,
    ``key_encipherment``, ``key_agreement``); by default what suits the key type.
    ``extended_key_usage=None`` leaves the EKU extension out.
    """
    key = key or generate_key(key_type)
    emails = [email] if isinstance(email, str) else list(email or [])
    if key_usage is None:
        key_usage = _default_key_usage(key)
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    for flag in key_usage:
        flags[flag] = True
    not_before = not_before or _now() - dt.timedelta(days=1)
    not_after = not_after or not_before + dt.timedelta(days=825)
    cn = common_name or (emails[0] if emails else "smime test user")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, emails[0] if emails and subject_email else None))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**flags), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                _issuer_key(issuer.key).public_key()
            ),
            critical=False,
        )
    )
    if emails:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(e) for e in emails]), critical=False
        )
    if extended_key_usage is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
        )
    builder = _revocation_extensions(builder, crl_url, ocsp_url)
    cert = builder.sign(_issuer_key(issuer.key), _signing_hash(issuer.key))
    return Identity(cert, key, (issuer.certificate, *issuer.chain))


def _default_key_usage(key: PrivateKey) -> tuple[str, ...]:
    if isinstance(key, rsa.RSAPrivateKey):
        return ("digital_signature", "content_commitment", "key_encipherment")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ("digital_signature", "content_commitment", "key_agreement")
    if isinstance(key, x25519.X25519PrivateKey):
        return ("key_agreement",)
    if isinstance(key, (mlkem.MLKEM768PrivateKey, mlkem.MLKEM1024PrivateKey)):
        return ("key_encipherment",)  # RFC 9935 section 5: keyEncipherment alone
    return ("digital_signature", "content_commitment")


@dataclass(frozen=True)
class TestUser:
    """One user of the test PKI and where their files are."""

    __test__: ClassVar[bool] = False  # a name starting with "Test" is no pytest test class

    name: str
    email: str
    key_type: str
    identity: Identity
    cert_path: Path
    key_path: Path
    p12_path: Path | None  # None for X25519, ML-KEM, ML-DSA: cryptography 50 cannot write them
    legacy_p12_path: Path | None

    @property
    def certificate(self) -> x509.Certificate:
        return self.identity.certificate

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``name``, ``email``, ``key_type``, ``identity`` (its public
        facts, :meth:`Identity.to_dict`) and the file paths (None where not written)."""
        return {
            "name": self.name,
            "email": self.email,
            "key_type": self.key_type,
            "identity": self.identity.to_dict(),
            **{what: None if path is None else str(path) for what, path in (
                ("cert_path", self.cert_path), ("key_path", self.key_path),
                ("p12_path", self.p12_path), ("legacy_p12_path", self.legacy_p12_path))},
        }


@dataclass(frozen=True)
class TestPKI:
    """The files and objects ``make_test_pki`` made. ``pki["alice"]`` is a :class:`TestUser`."""

    folder: Path
    root: Identity
    intermediate: Identity
    root_path: Path
    intermediate_path: Path
    users: Mapping[str, TestUser]
    password: str = PASSWORD

    __test__: ClassVar[bool] = False  # a name starting with "Test" is no pytest test class

    def __getitem__(self, name: str) -> TestUser:
        return self.users[name]

    def __repr__(self) -> str:
        return f"TestPKI({str(self.folder)!r}, users: {', '.join(self.users)})"

    def _repr_html_(self) -> str:
        users = "".join(
            card_html("user", name, (
                ("email", user.email),
                ("key", user.key_type),
                ("files", ", ".join(p.name for p in (user.cert_path, user.key_path,
                                                     user.p12_path) if p is not None)),
            ), opened=False)
            for name, user in self.users.items()
        )
        return card_html("test PKI", str(self.folder), (
            ("root", f"{subject_text(self.root.certificate)} ({self.root_path.name})"),
            ("intermediate", f"{subject_text(self.intermediate.certificate)} "
                             f"({self.intermediate_path.name})"),
            ("password", self.password),
        ), users)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: ``folder``, ``root`` and ``intermediate`` (public facts),
        their files, ``users`` by name (:meth:`TestUser.to_dict`) and the ``password`` of
        every key file (a test password, shown as the HTML view shows it)."""
        return {
            "folder": str(self.folder),
            "root": self.root.to_dict(),
            "intermediate": self.intermediate.to_dict(),
            "root_path": str(self.root_path),
            "intermediate_path": str(self.intermediate_path),
            "users": {name: user.to_dict() for name, user in self.users.items()},
            "password": self.password,
        }

    def issue_crl(
        self, revoked: Iterable[Revocable] = (), *, issuer: Identity | None = None,
        **options: Any,
    ) -> bytes:
        """A CRL (DER) of the intermediate CA, or of ``issuer``; ``options`` (``reason``,
        ``revoked_at``, ``this_update``, ``next_update``) as :func:`issue_crl` takes them."""
        return issue_crl(issuer or self.intermediate, revoked, **options)

    def issue_ocsp_response(
        self, certificate: Revocable, *, issuer: Identity | None = None, **options: Any,
    ) -> bytes:
        """An OCSP response (DER) about a certificate the intermediate CA (or ``issuer``)
        issued; ``options`` (``status``, ``reason``, ``revoked_at``, ``this_update``,
        ``next_update``) as :func:`issue_ocsp_response` takes them."""
        return issue_ocsp_response(issuer or self.intermediate, certificate, **options)


Revocable: TypeAlias = x509.Certificate | Identity | TestUser
OCSPStatus: TypeAlias = Literal["good", "revoked", "unknown"]


def _certificate_of(item: Revocable) -> x509.Certificate:
    return item if isinstance(item, x509.Certificate) else item.certificate


def _reason(reason: str | None) -> x509.ReasonFlags | None:
    if reason is None:
        return None
    try:
        return x509.ReasonFlags[reason]
    except KeyError:
        names = ", ".join(flag.name for flag in x509.ReasonFlags)
        raise InvalidOptionError(
            f"unknown revocation reason {reason!r}; use one of {names}"
        ) from None


def _updates(
    this_update: dt.datetime | None, next_update: dt.datetime | None, days: int
) -> tuple[dt.datetime, dt.datetime]:
    start = this_update or _now() - dt.timedelta(hours=1)
    return start, next_update or start + dt.timedelta(days=days)


def issue_crl(
    issuer: Identity,
    revoked: Iterable[Revocable] = (),
    *,
    reason: str | None = None,
    revoked_at: dt.datetime | None = None,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> bytes:
    """A complete CRL (DER, as CAs publish it) signed by ``issuer``, revoking ``revoked``.

    So that revocation can be tried without a CA: an empty CRL says "none revoked", which
    ``revocation="hard-fail"`` needs. ``reason`` names an ``x509.ReasonFlags`` member
    (``"key_compromise"``...). By default the CRL was issued an hour ago, is current for
    seven days, and dates each revocation at its issue time.
    """
    last, upcoming = _updates(this_update, next_update, days=7)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(last)
        .next_update(upcoming)
        .add_extension(x509.CRLNumber(int(last.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                _issuer_key(issuer.key).public_key()
            ),
            critical=False,
        )
    )
    flag = _reason(reason)
    for item in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(_certificate_of(item).serial_number)
            .revocation_date(revoked_at or last)
        )
        if flag is not None:
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(_issuer_key(issuer.key), _signing_hash(issuer.key))
    return crl.public_bytes(serialization.Encoding.DER)


def issue_ocsp_response(
    issuer: Identity,
    certificate: Revocable,
    *,
    status: OCSPStatus = "good",
    reason: str | None = None,
    revoked_at: dt.datetime | None = None,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> bytes:
    """An OCSP response (DER) signed by ``issuer`` itself, saying ``certificate`` is
    ``"good"``, ``"revoked"`` or ``"unknown"``; current for a day by default.

    What a CA's responder would answer, for trying ``ocsp_responses=`` offline.
    """
    produced, upcoming = _updates(this_update, next_update, days=1)
    cert_status = {
        "good": ocsp.OCSPCertStatus.GOOD,
        "revoked": ocsp.OCSPCertStatus.REVOKED,
        "unknown": ocsp.OCSPCertStatus.UNKNOWN,
    }.get(status)
    if cert_status is None:
        raise InvalidOptionError(f"unknown OCSP status {status!r}; use good, revoked or unknown")
    revoked = cert_status is ocsp.OCSPCertStatus.REVOKED
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=_certificate_of(certificate),
            issuer=issuer.certificate,
            algorithm=hashes.SHA1(),  # the CertID hash every responder and client supports
            cert_status=cert_status,
            this_update=produced,
            next_update=upcoming,
            revocation_time=(revoked_at or produced) if revoked else None,
            revocation_reason=_reason(reason) if revoked else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
        .sign(_issuer_key(issuer.key), _signing_hash(issuer.key))
    )
    return response.public_bytes(serialization.Encoding.DER)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
    return path


def write_identity(
    identity: Identity, folder: Path, name: str, password: str = PASSWORD
) -> tuple[Path, Path, Path | None, Path | None]:
    """Write ``name.pem``, ``name.key`` (PKCS#8), ``name.p12`` and ``name.legacy.p12``
    (PBE-SHA1-3DES, for gpgsm and older tools); no PKCS#12 for X25519, ML-KEM or ML-DSA
    keys, which cryptography 50 cannot put in one (the PEM files hold them)."""
    cert_path = _write(folder / f"{name}.pem", _pem(identity.certificate))
    key_path = _write(
        folder / f"{name}.key",
        identity.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    key = identity.key
    if isinstance(key, (x25519.X25519PrivateKey, *_PQ_KEYS.values())):
        return cert_path, key_path, None, None
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                            ed25519.Ed25519PrivateKey))
    pw = password.encode()
    p12 = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        identity.certificate,
        list(identity.chain) or None,
        serialization.BestAvailableEncryption(pw),
    )
    legacy = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(pw)
    )
    legacy_p12 = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        identity.certificate,
        list(identity.chain) or None,
        legacy,
    )
    p12_path = _write(folder / f"{name}.p12", p12, private=True)
    legacy_path = _write(folder / f"{name}.legacy.p12", legacy_p12, private=True)
    return cert_path, key_path, p12_path, legacy_path


def make_test_pki(
    folder: str | os.PathLike[str],
    *,
    users: Sequence[tuple[str, str]] = DEFAULT_USERS,
    domain: str = "example.com",
    password: str = PASSWORD,
    ca_key_type: str = "rsa-2048",
) -> TestPKI:
    """Write a root CA, an intermediate CA and users (``name@domain``) into ``folder``.

    Default users: alice RSA-2048, bob RSA-3072, carol EC P-256, dave EC P-384, erin
    Ed25519, frank EC P-521, grace X25519 (key agreement only). Files per user:
    ``name.pem``, ``name.key``, ``name.p12`` (password ``secret``), ``name.legacy.p12``;
    plus ``root.pem``, ``intermediate.pem`` and ``chain.pem`` (intermediate + root).
    ``users=PQ_USERS`` makes ML-KEM and ML-DSA users (PEM only), ``ca_key_type="ml-dsa-65"``
    CAs that sign with ML-DSA.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    root = make_ca("smime Test Root CA", key_type=ca_key_type)
    intermediate = make_ca(
        "smime Test Intermediate CA", issuer=root, path_length=0, key_type=ca_key_type
    )
    root_path = _write(out / "root.pem", _pem(root.certificate))
    intermediate_path = _write(out / "intermediate.pem", _pem(intermediate.certificate))
    _write(out / "chain.pem", _pem(intermediate.certificate) + _pem(root.certificate))
    _write(
        out / "root.key",
        root.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    _write(
        out / "intermediate.key",
        intermediate.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    made: dict[str, TestUser] = {}
    for name, key_type in users:
        email = f"{name}@{domain}"
        identity = issue_certificate(
            intermediate,
            email,
            key_type=key_type,
            common_name=f"{name.capitalize()} ({key_type})",
        )
        paths = write_identity(identity, out, name, password)
        made[name] = TestUser(name, email, key_type, identity, *paths)
    return TestPKI(out, root, intermediate, root_path, intermediate_path, made, password)
