"""Which stored certificate to encrypt to, and which one a key preference names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from ._common import name_key, name_key_der
from .binding import ANY_EKU

__all__ = ["can_encrypt_to", "preference_matches"]

#: What cryptography raises for a certificate whose extensions cannot be read.
_MALFORMED = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def can_encrypt_to(cert: x509.Certificate, at: dt.datetime) -> bool:
    """Valid at ``at``, for email (EKU), with a key and key usage that can receive a key."""
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return False
    try:
        key = cert.public_key()
    except Exception:  # a key type cryptography cannot load cannot be encrypted to
        return False
    try:
        ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    except _MALFORMED:
        return False
    try:
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        if ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku and ANY_EKU not in eku:
            return False
    except x509.ExtensionNotFound:
        pass
    except _MALFORMED:
        return False
    if isinstance(key, rsa.RSAPublicKey):
        return ku is None or ku.key_encipherment
    if isinstance(key, (ec.EllipticCurvePublicKey, x25519.X25519PublicKey, x448.X448PublicKey)):
        return ku is None or ku.key_agreement
    return False


def _field(value: Any, *names: str) -> Any:
    for name in names:
        if isinstance(value, dict) and name in value:
            return value[name]
        if hasattr(value, name):
            return getattr(value, name)
    return None


def _issuer_key(issuer: Any) -> Any:
    """The comparable form of an issuer given as a Name, asn1crypto Name, DER or RFC 4514."""
    try:
        if isinstance(issuer, x509.Name):
            return name_key(issuer)
        if hasattr(issuer, "dump"):
            return name_key_der(issuer.dump())
        if isinstance(issuer, (bytes, bytearray, memoryview)):
            return name_key_der(bytes(issuer))
        if isinstance(issuer, str):
            return name_key(x509.Name.from_rfc4514_string(issuer))
    except (ValueError, TypeError):
        return None
    return None


def preference_matches(
    preference: Any, candidates: Sequence[x509.Certificate]
) -> Iterator[x509.Certificate]:
    """Every candidate an SMIMEEncryptionKeyPreference names, in order.

    Several can match: the certificate set of a SignedData is not signed, so anyone who
    relays the message can add a certificate copying the issuer and serial (or the key
    identifier) of the named one. The caller must validate each and keep the first good one.

    Duck-typed: an object with ``matches(cert)`` (the CMS layer's), or with
    ``issuer_der``/``issuer`` and ``serial_number``, or ``subject_key_identifier``.
    """
    matcher = getattr(preference, "matches", None)
    if callable(matcher):
        for cert in candidates:
            try:
                if matcher(cert):
                    yield cert
            except _MALFORMED:
                continue  # a certificate we cannot read names nothing
        return
    ski = _field(preference, "subject_key_identifier", "ski", "key_identifier")
    serial = _field(preference, "serial_number", "serial")
    issuer_given = _field(preference, "issuer_der", "issuer")
    issuer = _issuer_key(issuer_given) if issuer_given is not None else None
    if issuer_given is not None and issuer is None:
        return  # an issuer we cannot read must not degrade to a serial-only match
    for cert in candidates:
        if ski is not None:
            try:
                own = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except (x509.ExtensionNotFound, *_MALFORMED):
                continue
            if own.digest == bytes(ski):
                yield cert
        elif serial is not None and cert.serial_number == int(serial) and (
            issuer is None or name_key(cert.issuer) == issuer
        ):
            yield cert
