"""Signed attributes (RFC 5652 section 11, RFC 8551 section 2.5): writing and reading them.

What we write is fixed by RFC 8551: contentType, messageDigest, signingTime,
SMIMECapabilities and, for a separate encryption certificate, SMIMEEncryptionKeyPreference.
Reading never fails on an attribute we do not know: it is listed by OID and otherwise ignored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._cache import LRUCache
from ..algorithms import (
    ADVERTISED_CIPHERS,
    ADVERTISED_PQ,
    CIPHERS,
    ENCRYPTION_KEY_PREFERENCE_OID,
    MS_ENCRYPTION_KEY_PREFERENCE_OID,
    OID_NAMES,
    RSAES_OAEP_OID,
    oid_name,
)
from ..core.certs import subject_key_identifier
from ..core.names import name_text
from ._schema import Capabilities, CMSAttribute, OaepParameters, SetOfCapabilities

__all__ = [
    "CAPABILITIES_ATTRIBUTE",
    "CONTENT_TYPE_DATA_ATTRIBUTE",
    "EncryptionKeyPreference",
    "encryption_key_preference",
    "issuer_and_serial",
    "key_preference_attribute",
    "read_capabilities",
    "read_key_preference",
    "signing_time_attribute",
]


# ---------------------------------------------------------------------------- writing


def issuer_and_serial(cert: x509.Certificate) -> asn1_cms.IssuerAndSerialNumber:
    """IssuerAndSerialNumber from the certificate's own issuer encoding (never re-encoded)."""
    issuer = asn1_x509.Name.load(cert.issuer.public_bytes(serialization.Encoding.DER))
    return asn1_cms.IssuerAndSerialNumber({"issuer": issuer, "serial_number": cert.serial_number})


def _capabilities_der() -> bytes:
    caps: list[dict[str, Any]] = [
        {"capability_id": CIPHERS[name].oid} for name in ADVERTISED_CIPHERS
    ]
    # RSAES-OAEP with SHA-256 and MGF1-SHA-256, the parameters our enveloped layer writes.
    oaep = OaepParameters({
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
    })
    caps.append({"capability_id": RSAES_OAEP_OID, "parameters": oaep})
    by_name = {name: oid for oid, name in OID_NAMES.items()}
    caps.extend({"capability_id": by_name[name]} for name in ADVERTISED_PQ)
    der: bytes = CMSAttribute({
        "type": "smime_capabilities",
        "values": SetOfCapabilities([Capabilities(caps)]),
    }).dump()
    return der


#: SMIMECapabilities, strongest first (RFC 8551 section 2.5.2); the same for every message.
CAPABILITIES_ATTRIBUTE = _capabilities_der()
CONTENT_TYPE_DATA_ATTRIBUTE: bytes = CMSAttribute(
    {"type": "content_type", "values": ["data"]}
).dump()

_TIME_CACHE: LRUCache[bytes] = LRUCache("cms.signing_time", 1)


def signing_time_attribute(when: dt.datetime) -> bytes:
    """signingTime: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5652 section 11.3).

    Naive datetimes are taken as UTC. The last encoding is kept: bursts share a second.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc).replace(microsecond=0)
    der = _TIME_CACHE.get(when)
    if der is None:
        kind = "utc_time" if 1950 <= when.year <= 2049 else "generalized_time"
        der = CMSAttribute({
            "type": "signing_time",
            "values": [asn1_cms.Time(name=kind, value=when)],
        }).dump()
        _TIME_CACHE.put(when, der)
    return der


def key_preference_attribute(cert: x509.Certificate) -> bytes:
    """SMIMEEncryptionKeyPreference (issuerAndSerialNumber form) naming ``cert``."""
    der: bytes = CMSAttribute({
        "type": "encrypt_key_pref",
        "values": [asn1_cms.SMIMEEncryptionKeyPreference(name="issuer_and_serial_number",
                                                         value=issuer_and_serial(cert))],
    }).dump()
    return der


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class EncryptionKeyPreference:
    """The certificate a signer wants mail encrypted to (RFC 8551 section 2.5.3)."""

    issuer: str | None = None  # RFC 4514 text, for people
    serial_number: int | None = None
    subject_key_identifier: bytes | None = None
    issuer_der: bytes | None = None  # for matching

    def matches(self, certificate: x509.Certificate) -> bool:
        """True when ``certificate`` is the one this preference names."""
        if self.issuer_der is not None:
            issuer = certificate.issuer.public_bytes(serialization.Encoding.DER)
            return issuer == self.issuer_der and certificate.serial_number == self.serial_number
        if self.subject_key_identifier is not None:
            return subject_key_identifier(certificate) == self.subject_key_identifier
        return False

    def __str__(self) -> str:
        if self.issuer is not None:
            return f"{self.issuer}, serial {self.serial_number:#x}"
        return f"subject key identifier {(self.subject_key_identifier or b'').hex()}"


def encryption_key_preference(ias: asn1_cms.IssuerAndSerialNumber) -> EncryptionKeyPreference:
    return EncryptionKeyPreference(
        issuer=name_text(ias["issuer"], readable=True),
        serial_number=ias["serial_number"].native,
        issuer_der=ias["issuer"].dump(),
    )


def read_key_preference(attrs: dict[str, asn1_core.Asn1Value]) -> EncryptionKeyPreference | None:
    """The preference from the S/MIME attribute, else from Microsoft's twin; None if neither."""
    pref = attrs.get(ENCRYPTION_KEY_PREFERENCE_OID)
    if pref is not None:
        choice = pref[0] if len(pref) else None
        if choice is not None and choice.name == "issuer_and_serial_number":
            return encryption_key_preference(choice.chosen)
        if choice is not None and choice.name == "recipientKeyId":
            return EncryptionKeyPreference(
                subject_key_identifier=choice.chosen["subjectKeyIdentifier"].native
            )
    ms = attrs.get(MS_ENCRYPTION_KEY_PREFERENCE_OID)
    if ms is not None and len(ms):
        try:
            ias = asn1_cms.IssuerAndSerialNumber.load(ms[0].dump())
            ias.native  # noqa: B018 - force the parse inside the try
        except (ValueError, TypeError, KeyError, IndexError):
            return None
        return encryption_key_preference(ias)
    return None


def read_capabilities(value: asn1_core.Asn1Value | None) -> tuple[str, ...]:
    """Capability names (``aes-256-gcm``, ``rsa-oaep``; dotted OIDs when unknown), in order."""
    if value is None or not len(value):
        return ()
    return tuple(oid_name(cap["capability_id"].dotted) for cap in value[0])
