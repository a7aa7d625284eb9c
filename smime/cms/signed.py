"""RFC 5652 SignedData: make it, and check the mathematics of every signer in it.

Checking here means integrity (the messageDigest matches the content) and the signature
(the signer's public key verifies it). Whether the signer's certificate is trusted is the
validation layer's question, not this module's.

Ed25519 (RFC 8419): the digestAlgorithm is always SHA-512 and, with signed attributes, the
messageDigest is the SHA-512 of the content, whatever digest the SignerSpec asked for; the
signature is PureEdDSA over the signed attributes (or over the content without them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._cache import LRUCache
from .._log import Lazy
from .._log import cms as _LOG
from ..algorithms import DATA_OID, DIGESTS
from ..core.certs import subject_key_identifier
from ..core.names import certificate_label
from ..errors import CertificateError, InvalidOptionError, ParseError, SMIMEError
from ..keys import CertificateLike, Identity, to_certificate
from ..limits import current_limits
from ..options import (
    IDENTIFY_BY,
    DigestName,
    IdentifyBy,
    SignaturePadding,
    check_items,
    check_option,
)
from . import _signed_der as encode
from ._asn1 import check_der, load_content_info, parsed
from ._certs import Received, SignerIdentifier
from ._sigalgs import SigningAlgorithm, signing_algorithm
from ._signed_attrs import (
    CAPABILITIES_ATTRIBUTE,
    CONTENT_TYPE_DATA_ATTRIBUTE,
    EncryptionKeyPreference,
    issuer_and_serial,
    key_preference_attribute,
    signing_time_attribute,
)
from ._signed_fast import check_signers, read_shape
from ._verify import SignerCheck, VerifyContext, check_signer

__all__ = [
    "EncryptionKeyPreference",
    "SignedDataInfo",
    "SignerCheck",
    "SignerIdentifier",
    "SignerSpec",
    "create_signed_data",
    "verify_signed_data",
]

_DER = serialization.Encoding.DER


@dataclass(frozen=True)
class SignerSpec:
    """Who signs and how. Options are checked when the spec is made, not when it is used."""

    identity: Identity
    digest: DigestName = "sha256"  # Ed25519: always sha512 (RFC 8419)
    padding: SignaturePadding = "pkcs1v15"  # pss for RSA keys only
    identify_by: IdentifyBy = "issuer_and_serial"  # SKI: SignerInfo version 3
    include_chain: bool = True  # add identity.chain to the certificates
    signed_attributes: bool = True  # False: sign the content itself, no attributes at all
    encryption_certificate: x509.Certificate | None = None  # -> SMIMEEncryptionKeyPreference
    _algorithm: SigningAlgorithm = field(init=False, repr=False, compare=False)
    _signer_id: bytes = field(init=False, repr=False, compare=False)
    _certificates: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _key_preference: bytes | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.identity, Identity):
            raise InvalidOptionError(
                f"identity must be an smime Identity, not {type(self.identity).__name__}"
            )
        check_option("identify_by", self.identify_by, IDENTIFY_BY)
        cert = self.identity.certificate
        put = object.__setattr__
        put(self, "_algorithm", signing_algorithm(self.identity.key, self.digest, self.padding))
        put(self, "_signer_id", _signer_identifier(cert, self.identify_by))
        chain = self.identity.chain if self.include_chain else ()
        ders = [_der(c) for c in (cert, *chain)]
        put(self, "_key_preference", None)
        if self.encryption_certificate is not None:
            encryption = to_certificate(self.encryption_certificate)
            put(self, "encryption_certificate", encryption)
            put(self, "_key_preference", key_preference_attribute(encryption))
            ders.append(_der(encryption))
        put(self, "_certificates", tuple(ders))


_DER_CACHE: LRUCache[bytes] = LRUCache("cms.certificate_der", 256)
_SID_CACHE: LRUCache[bytes] = LRUCache("cms.signer_identifiers", 256)


def _der(cert: x509.Certificate) -> bytes:
    """A certificate's DER. Kept (bounded): cryptography re-serialises it on every call."""
    data = _DER_CACHE.get(cert)
    if data is None:
        data = cert.public_bytes(_DER)
        _DER_CACHE.put(cert, data)
    return data


def _signer_identifier(cert: x509.Certificate, identify_by: str) -> bytes:
    """DER SignerIdentifier; public data, so it is kept per certificate (bounded)."""
    key = (cert, identify_by)
    data = _SID_CACHE.get(key)
    if data is None:
        if identify_by == "subject_key_identifier":
            ski = subject_key_identifier(cert)
            if ski is None:
                raise CertificateError(
                    "identify_by='subject_key_identifier' needs a certificate with a "
                    "subjectKeyIdentifier extension; this one has none"
                )
            sid = asn1_cms.SignerIdentifier(name="subject_key_identifier", value=ski)
        else:
            sid = asn1_cms.SignerIdentifier(name="issuer_and_serial_number",
                                            value=issuer_and_serial(cert))
        data = sid.dump()
        _SID_CACHE.put(key, data)
    return data


@dataclass(frozen=True)
class SignedDataInfo:
    """What a SignedData holds, and the verdict on each signer's mathematics."""

    content: bytes | None  # the encapsulated content; None when detached
    content_type: str  # eContentType: "data", or another asn1crypto name / dotted OID
    detached: bool
    certificates: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...]  # DER CertificateLists
    ocsp_responses: tuple[bytes, ...]  # DER OCSPResponses
    signers: tuple[SignerCheck, ...]  # empty for a certs-only ("degenerate") SignedData

    @classmethod
    def checked(cls, signed: Any, received: Received, context: VerifyContext, *,
                content: bytes | None, detached: bool) -> SignedDataInfo:
        """The info of a parsed SignedData, each signer checked in ``context``."""
        return cls(
            content=content,
            content_type=str(signed["encap_content_info"]["content_type"].native),
            detached=detached,
            certificates=context.message_certificates(),
            crls=received.crls,
            ocsp_responses=received.ocsp_responses,
            signers=tuple(
                check_signer(si, context, attrs)
                for si, attrs in zip(signed["signer_infos"], received.signed_attributes,
                                     strict=False)
            ),
        )


# ---------------------------------------------------------------------------- creating


def create_signed_data(
    content: bytes,
    signers: Sequence[SignerSpec],
    *,
    detached: bool = True,
    signing_time: dt.datetime | None = None,
    extra_certificates: Sequence[CertificateLike] = (),
    crls: Sequence[bytes] = (),
    ocsp_responses: Sequence[bytes] = (),
) -> bytes:
    """A DER ContentInfo holding SignedData over ``content`` by every signer in ``signers``.

    Certificates (each signer's, its chain unless ``include_chain=False``, its encryption
    certificate, then ``extra_certificates``) are included once each. ``crls`` and
    ``ocsp_responses`` are DER and go into the RevocationInfoChoices.
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"content must be bytes, not {type(content).__name__}")
    content = bytes(content)
    signers = check_items("signers", signers, SignerSpec)
    when = signing_time_attribute(signing_time or dt.datetime.now(dt.timezone.utc))
    digests: dict[str, bytes] = {}
    certificates: dict[bytes, None] = {}
    signer_infos = []
    for spec in signers:
        signer_infos.append(_signer_info(spec, content, when, digests))
        certificates.update(dict.fromkeys(spec._certificates))
    for extra in extra_certificates:
        certificates.setdefault(_der(to_certificate(extra)))
    revocation = _revocation_choices(crls, ocsp_responses)
    version = 1
    if ocsp_responses:
        version = 5  # RFC 5652 section 5.1: an "other" revocation format is present
    elif any(spec.identify_by == "subject_key_identifier" for spec in signers):
        version = 3  # a version 3 SignerInfo is present
    signed = encode.signed_data(
        version,
        [encode.digest_algorithm(name) for name in digests],
        None if detached else content,
        list(certificates),
        revocation,
        signer_infos,
    )
    return encode.content_info(signed)


def _signer_info(
    spec: SignerSpec, content: bytes, when: bytes, digests: dict[str, bytes]
) -> bytes:
    algorithm = spec._algorithm
    name = algorithm.digest
    _LOG.debug("signing: signer %s, digest %s, signature %s",
               Lazy(certificate_label, spec.identity.certificate), name, algorithm.scheme)
    message_digest = digests.get(name)
    if message_digest is None:
        h = hashes.Hash(DIGESTS[name].hash())
        h.update(content)
        message_digest = digests[name] = h.finalize()
    embedded: bytes | None = None
    if spec.signed_attributes:
        attributes = [
            CONTENT_TYPE_DATA_ATTRIBUTE,
            encode.message_digest_attribute(message_digest),
            when,
            CAPABILITIES_ATTRIBUTE,
        ]
        if spec._key_preference is not None:
            attributes.append(spec._key_preference)
        # The SET OF is signed; the same contents, tagged [0], go into the SignerInfo.
        to_sign, embedded = encode.attribute_set(attributes)
        signature = algorithm.sign(spec.identity.key, to_sign)
    else:
        signature = algorithm.sign(spec.identity.key, content)
    return encode.signer_info(
        3 if spec.identify_by == "subject_key_identifier" else 1,
        spec._signer_id,
        encode.digest_algorithm(name),
        embedded,
        algorithm.identifier,
        signature,
    )


def _revocation_choices(crls: Sequence[bytes], ocsp_responses: Sequence[bytes]) -> list[bytes]:
    out = []
    for item in crls:
        crl = _load_der(asn1_crl.CertificateList, item, "CRL")
        out.append(asn1_cms.RevocationInfoChoice(name="crl", value=crl).dump())
    for item in ocsp_responses:
        response = _load_der(asn1_ocsp.OCSPResponse, item, "OCSP response")
        out.append(asn1_cms.RevocationInfoChoice(name="other", value={
            "other_rev_info_format": "ocsp_response",  # id-ri-ocsp-response 1.3.6.1.5.5.7.16.2
            "other_rev_info": response,
        }).dump())
    return out


def _load_der(spec: type[asn1_core.Asn1Value], data: bytes, what: str) -> asn1_core.Asn1Value:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"a {what} must be DER bytes, not {type(data).__name__}")
    try:
        value = spec.load(bytes(data))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"malformed {what}: {exc}") from None
    return parsed(value, what)


# ---------------------------------------------------------------------------- verifying


def verify_signed_data(
    der: bytes,
    content: bytes | None = None,
    *,
    extra_certificates: Sequence[CertificateLike] = (),
) -> SignedDataInfo:
    """Read a SignedData and check each signer's integrity and signature (not trust).

    ``content`` is the detached content (multipart/signed); ``extra_certificates`` are
    looked in for signers whose certificate the message does not carry. Malformed DER or a
    ContentInfo that is not signed-data raises ParseError; every other failure is reported
    as a problem on the signer concerned.
    """
    try:
        return _verify_signed_data(der, content, extra_certificates)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # Values are parsed where they are read (a full walk up front cost 40% of a
        # verification); anything asn1crypto finds malformed on the way is the input's fault.
        if isinstance(exc, SMIMEError):
            raise
        raise ParseError(f"malformed CMS SignedData: {exc}") from None


def _verify_signed_data(
    der: bytes, content: bytes | None, extra_certificates: Sequence[CertificateLike]
) -> SignedDataInfo:
    fast = _verify_common(der, content, extra_certificates)
    if fast is not None:
        return fast
    info = load_content_info(der, deep=False)
    kind = info["content_type"].native
    if kind != "signed_data":
        raise ParseError(
            f"expected a CMS signed-data structure, but this ContentInfo holds {kind}"
        )
    if content is not None and not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"content must be bytes or None, not {type(content).__name__}")
    signed = info["content"]
    caps = current_limits()
    caps.check("max_signers", len(signed["signer_infos"]), "signers in the SignedData")
    certificates = len(signed["certificates"] or ())
    caps.check("max_certificates", certificates, "certificates in the SignedData")
    received = Received.of(signed)  # the one parse: nothing has walked it yet
    encap = signed["encap_content_info"]
    econtent = _econtent(encap)
    context = VerifyContext.build(
        received,
        econtent_type=encap["content_type"].dotted,
        econtent=econtent,
        detached_content=None if content is None else bytes(content),
        extra_certificates=[to_certificate(c) for c in extra_certificates],
    )
    return SignedDataInfo.checked(
        signed, received, context, content=econtent, detached=econtent is None
    )


def _verify_common(
    der: bytes, content: bytes | None, extra_certificates: Sequence[CertificateLike]
) -> SignedDataInfo | None:
    """The SignedData of the common shape with clean signers, read without asn1crypto's
    tree (see :mod:`._signed_fast`); None for the full path to read and word."""
    buffers = (bytes, bytearray, memoryview)
    if not isinstance(der, buffers) or not (content is None or isinstance(content, buffers)):
        return None
    der = bytes(der)
    check_der(der, "CMS ContentInfo")  # as load_content_info would, first
    shape = read_shape(der)
    if shape is None:
        return None
    caps = current_limits()
    caps.check("max_signers", len(shape.signers), "signers in the SignedData")
    caps.check("max_certificates", len(shape.received.certificates),
               "certificates in the SignedData")
    context = VerifyContext.build(
        shape.received,
        econtent_type=DATA_OID,
        econtent=shape.econtent,
        detached_content=None if content is None else bytes(content),
        extra_certificates=[to_certificate(c) for c in extra_certificates],
    )
    signers = check_signers(shape, context)
    if signers is None:
        return None
    return SignedDataInfo(
        content=shape.econtent,
        content_type="data",
        detached=shape.econtent is None,
        certificates=context.message_certificates(),
        crls=(),
        ocsp_responses=(),
        signers=signers,
    )


def _econtent(encap: asn1_core.Asn1Value) -> bytes | None:
    """The octets the signature covers: the eContent OCTET STRING's value (chunks joined).

    PKCS#7 v1.5 allowed any type here; its digest covers the content octets of that value.
    """
    value = encap["content"]
    if isinstance(value, asn1_core.Void) or value.contents is None:
        return None
    if isinstance(value, asn1_core.ParsableOctetString):
        return bytes(value)
    if isinstance(value, asn1_core.OctetString):
        return bytes(value.native)
    inner = value.parsed if isinstance(value, asn1_core.Any) else value
    return bytes(inner.contents or b"")
