"""Can this certificate receive encrypted mail at this time? The one rule, asked everywhere.

``encrypt`` (through the CMS recipient check) and ``CertificateStore.find`` used to carry a
rule each, and they disagreed: the store offered X448 and secp256k1 certificates that
``encrypt`` refused, and ``encrypt`` took certificates for TLS servers that the store
would not offer. Both now ask :func:`receive_problem`, so what the store offers,
``encrypt`` accepts.

A certificate can receive when all of these hold (RFC 8550 section 4.4, RFC 5280 4.2.1):

- its key can be encrypted to by this library: RSA (key transport), EC on P-256, P-384
  or P-521, or X25519 (key agreement), ML-KEM-768 or ML-KEM-1024 (a KEM recipient).
  Ed25519, Ed448, DSA and ML-DSA keys only sign; X448 key agreement is not implemented,
  so X448 is refused too, and so is ML-KEM-512, which cryptography lacks;
- it is within its validity period at the moment asked about;
- a KeyUsage extension, when present, allows keyEncipherment (RSA) or keyAgreement;
- an ExtendedKeyUsage extension, when present, names emailProtection or
  anyExtendedKeyUsage;
- its extensions can be read at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal, TypeAlias, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..algorithms import ML_KEMS
from ..errors import CertificateError
from .names import certificate_label
from .times import now, utc

__all__ = [
    "ANY_EXTENDED_KEY_USAGE",
    "EC_CURVES",
    "MALFORMED",
    "ReceivingKind",
    "can_receive",
    "check_can_receive",
    "email_addresses",
    "email_usage_allowed",
    "extension",
    "receive_problem",
    "subject_key_identifier",
]

#: The EC curves we agree keys on: the NIST curves of RFC 5753 / RFC 8551.
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")

#: anyExtendedKeyUsage (RFC 5280 4.2.1.12): every purpose, email included.
ANY_EXTENDED_KEY_USAGE = x509.ObjectIdentifier("2.5.29.37.0")

#: What cryptography raises for a certificate whose extensions cannot be read.
MALFORMED = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


def is_ca(cert: x509.Certificate) -> bool:
    """Whether BasicConstraints makes ``cert`` a CA (an unreadable extension: not one)."""
    constraints = extension(cert, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def extension(
    cert: x509.Certificate, kind: type[_Extension], *, strict: bool = False
) -> _Extension | None:
    """The value of one extension, or None when the certificate has none.

    An extension that cannot be read counts as absent unless ``strict``: then one of
    :data:`MALFORMED` is raised, for the checks that must refuse it rather than skip it.
    """
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except MALFORMED:
        if strict:
            raise
        return None


def email_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """Email addresses a certificate names: rfc822Name SANs, then subject emailAddress,
    lower-cased, each once."""
    found: list[str] = []
    san = extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        found.extend(san.get_values_for_type(x509.RFC822Name))
    try:
        for attr in cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS):
            if isinstance(attr.value, str):
                found.append(attr.value)
    except ValueError:
        pass
    return tuple(dict.fromkeys(address.strip().lower() for address in found))


def subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    """The certificate's SubjectKeyIdentifier bytes, when it has a readable one."""
    ski = extension(cert, x509.SubjectKeyIdentifier)
    return None if ski is None else ski.digest

#: How the content-encryption key reaches a recipient: RSA key transport, key agreement
#: on an EC curve or X25519, or ML-KEM encapsulation (RFC 9629).
ReceivingKind: TypeAlias = Literal["rsa", "ecdh", "x25519", "mlkem"]

#: RFC 9935 section 5: an ML-KEM certificate's KeyUsage asserts keyEncipherment only.
_USAGE_LABEL = {"rsa": "keyEncipherment", "ecdh": "keyAgreement", "x25519": "keyAgreement",
                "mlkem": "keyEncipherment"}


def email_usage_allowed(purposes: Iterable[x509.ObjectIdentifier]) -> bool:
    """Whether an ExtendedKeyUsage list admits S/MIME (emailProtection or any purpose)."""
    oids = set(purposes)
    return ExtendedKeyUsageOID.EMAIL_PROTECTION in oids or ANY_EXTENDED_KEY_USAGE in oids


def _kind(cert: x509.Certificate) -> tuple[ReceivingKind | None, str | None]:
    """The way to reach the certificate's key, or why there is none."""
    who = certificate_label(cert)
    try:
        key = cert.public_key()
    except Exception as exc:  # an algorithm cryptography does not know
        kem = ML_KEMS.get(cert.public_key_algorithm_oid.dotted_string)
        if kem is not None:
            return None, (f"certificate {who} has an {kem.name.upper()} key, which this "
                          "library cannot encrypt to (cryptography does not implement it)")
        return None, f"certificate {who} has a key we cannot use: {exc}"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            return None, (f"certificate {who} is on the curve {key.curve.name}; "
                          f"we encrypt to {', '.join(EC_CURVES)} only")
        return "ecdh", None
    if isinstance(key, x25519.X25519PublicKey):
        return "x25519", None
    if isinstance(key, (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey)):
        return "mlkem", None
    if isinstance(key, x448.X448PublicKey):
        return None, (f"certificate {who} has an X448 key: this library does not implement "
                      "X448 key agreement, so it cannot encrypt to it")
    kind = type(key).__name__.removesuffix("PublicKey")
    return None, (f"certificate {who} has a {kind} key, which can only sign: "
                  "it cannot receive encrypted mail")


def _usage_problem(cert: x509.Certificate, kind: ReceivingKind, at: dt.datetime) -> str | None:
    """Why the validity period, KeyUsage or ExtendedKeyUsage forbids receiving at ``at``."""
    who = certificate_label(cert)
    if at < cert.not_valid_before_utc:
        return (f"certificate {who} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if at > cert.not_valid_after_utc:
        return f"certificate {who} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    try:
        ku = extension(cert, x509.KeyUsage, strict=True)
        eku = extension(cert, x509.ExtendedKeyUsage, strict=True)
    except MALFORMED as exc:
        return f"certificate {who} has malformed extensions: {exc}"
    # no KeyUsage extension: every use is allowed (RFC 5280 4.2.1.3)
    if ku is not None and not (
        ku.key_encipherment if _USAGE_LABEL[kind] == "keyEncipherment" else ku.key_agreement
    ):
        return f"certificate {who} does not allow {_USAGE_LABEL[kind]} in its key usage"
    if eku is not None and not email_usage_allowed(eku):
        return (f"certificate {who} is not for email: its extended key usage names neither "
                "emailProtection nor anyExtendedKeyUsage")
    return None


def _assess(
    cert: x509.Certificate, at: dt.datetime | None, check_usage: bool
) -> tuple[ReceivingKind | None, str | None]:
    kind, problem = _kind(cert)
    if kind is None or not check_usage:
        return kind, problem
    return kind, _usage_problem(cert, kind, utc(at) if at is not None else now())


def receive_problem(
    cert: x509.Certificate, at: dt.datetime | None = None, *, check_usage: bool = True
) -> str | None:
    """The sentence saying why ``cert`` cannot receive encrypted mail at ``at`` (default
    now), or None when it can.

    ``check_usage=False`` skips the validity period, KeyUsage and ExtendedKeyUsage (the
    caller vouches for them), never the question whether the key can be encrypted to.
    """
    return _assess(cert, at, check_usage)[1]


def can_receive(cert: x509.Certificate, at: dt.datetime | None = None) -> bool:
    """Whether ``cert`` can receive encrypted mail at ``at`` (default now): the one rule."""
    return receive_problem(cert, at) is None


def check_can_receive(
    cert: x509.Certificate, at: dt.datetime | None = None, *, check_usage: bool = True
) -> ReceivingKind:
    """How to reach ``cert``'s key; :class:`~smime.errors.CertificateError` with the
    sentence of :func:`receive_problem` when it cannot receive."""
    kind, problem = _assess(cert, at, check_usage)
    if problem is not None or kind is None:
        raise CertificateError(problem or f"certificate {certificate_label(cert)} cannot "
                               "receive encrypted mail")
    return kind
