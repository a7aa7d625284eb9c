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
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ..algorithms import DIGESTS
from ..errors import CertificateError, InvalidOptionError, ParseError
from ..keys import CertificateLike, Identity, to_certificate
from ..problems import Problem
from ._asn1 import load_content_info, parsed
from ._signed_attrs import (
    EncryptionKeyPreference,
    capabilities_attribute,
    issuer_and_serial,
    key_preference_attributes,
    signing_time_attribute,
)
from ._sigalgs import SigningAlgorithm, signing_algorithm
from ._verify import SignerCheck, VerifyContext, check_signer

__all__ = [
    "EncryptionKeyPreference",
    "SignedDataInfo",
    "SignerCheck",
    "SignerSpec",
    "create_signed_data",
    "verify_signed_data",
]

IDENTIFY_BY = ("issuer_and_serial", "subject_key_identifier")
_DER = serialization.Encoding.DER


@dataclass(frozen=True)
class SignerSpec:
    """Who signs and how. Options are checked when the spec is made, not when it is used."""

    identity: Identity
    digest: str = "sha256"  # sha256 | sha384 | sha512 (Ed25519: always sha512, RFC 8419)
    padding: str = "pkcs1v15"  # pkcs1v15 | pss (RSA keys only)
    identify_by: str = "issuer_and_serial"  # | subject_key_identifier (SignerInfo version 3)
    include_chain: bool = True  # add identity.chain to the certificates
    signed_attributes: bool = True  # False: sign the content itself, no attributes at all
    encryption_certificate: x509.Certificate | None = None  # -> SMIMEEncryptionKeyPreference
    _algorithm: SigningAlgorithm = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.identity, Identity):
            raise InvalidOptionError(
                f"identity must be an smime Identity, not {type(self.identity).__name__}"
            )
        object.__setattr__(
            self, "_algorithm", signing_algorithm(self.identity.key, self.digest, self.padding)
        )
        if self.identify_by not in IDENTIFY_BY:
            raise InvalidOptionError(
                f"identify_by={self.identify_by!r} is not supported; use one of: "
                + ", ".join(IDENTIFY_BY)
            )
        if self.identify_by == "subject_key_identifier" and _ski(self.identity.certificate) is None:
            raise CertificateError(
                "identify_by='subject_key_identifier' needs a certificate with a "
                "subjectKeyIdentifier extension; this one has none"
            )
        if self.encryption_certificate is not None:
            cert = to_certificate(self.encryption_certificate)  # type: ignore[arg-type]
            object.__setattr__(self, "encryption_certificate", cert)


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


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
    """A DER ContentInfo holding SignedData over ``content`` by every signer in ``signers``."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"content must be bytes, not {type(content).__name__}")
    content = bytes(content)
    signers = list(signers)
    if not signers:
        raise InvalidOptionError("create_signed_data needs at least one SignerSpec")
    for spec in signers:
        if not isinstance(spec, SignerSpec):
            raise InvalidOptionError(f"signers must be SignerSpec objects, not {type(spec).__name__}")
    when = signing_time or dt.datetime.now(dt.timezone.utc)
    digests: dict[str, bytes] = {}
    certificates: dict[bytes, None] = {}
    signer_infos = []
    for spec in signers:
        signer_infos.append(_signer_info(spec, content, when, digests))
        certificates.setdefault(spec.identity.certificate.public_bytes(_DER))
        if spec.include_chain:
            for cert in spec.identity.chain:
                certificates.setdefault(cert.public_bytes(_DER))
        if spec.encryption_certificate is not None:
            certificates.setdefault(spec.encryption_certificate.public_bytes(_DER))
    for extra in extra_certificates:
        certificates.setdefault(to_certificate(extra).public_bytes(_DER))
    revocation = _revocation_choices(crls, ocsp_responses)
    version = "v1"
    if ocsp_responses:
        version = "v5"  # RFC 5652 section 5.1: an "other" revocation format
    elif any(si["version"].native == "v3" for si in signer_infos):
        version = "v3"
    signed = {
        "version": version,
        "digest_algorithms": [{"algorithm": name} for name in digests],
        "certificates": [asn1_x509.Certificate.load(der) for der in certificates],
        "signer_infos": signer_infos,
    }
    signed["encap_content_info"] = (
        {"content_type": "data"} if detached else {"content_type": "data", "content": content}
    )
    if revocation:
        signed["crls"] = revocation
    info = asn1_cms.ContentInfo({"content_type": "signed_data",
                                 "content": asn1_cms.SignedData(signed)})
    return info.dump()  # type: ignore[no-any-return]


def _digest(name: str, content: bytes, cache: dict[str, bytes]) -> bytes:
    value = cache.get(name)
    if value is None:
        h = hashes.Hash(DIGESTS[name].hash())
        h.update(content)
        value = cache[name] = h.finalize()
    return value


def _signer_info(
    spec: SignerSpec, content: bytes, when: dt.datetime, digests: dict[str, bytes]
) -> asn1_cms.SignerInfo:
    algorithm = spec._algorithm
    cert = spec.identity.certificate
    message_digest = _digest(algorithm.digest, content, digests)
    if spec.identify_by == "subject_key_identifier":
        sid = asn1_cms.SignerIdentifier(name="subject_key_identifier", value=_ski(cert))
        version = "v3"
    else:
        sid = asn1_cms.SignerIdentifier(name="issuer_and_serial_number",
                                        value=issuer_and_serial(cert))
        version = "v1"
    info = {
        "version": version,
        "sid": sid,
        "digest_algorithm": {"algorithm": algorithm.digest},
        "signature_algorithm": algorithm.identifier,
    }
    if spec.signed_attributes:
        attrs = [
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
            signing_time_attribute(when),
            capabilities_attribute(),
        ]
        if spec.encryption_certificate is not None:
            attrs.extend(key_preference_attributes(spec.encryption_certificate))
        # Sign the DER SET OF exactly as it will be embedded (only its tag changes to [0]).
        der = asn1_cms.CMSAttributes(attrs).dump()
        info["signed_attrs"] = asn1_cms.CMSAttributes.load(der)
        info["signature"] = algorithm.sign(spec.identity.key, der)
    else:
        info["signature"] = algorithm.sign(spec.identity.key, content)
    return asn1_cms.SignerInfo(info)


def _revocation_choices(
    crls: Sequence[bytes], ocsp_responses: Sequence[bytes]
) -> list[asn1_cms.RevocationInfoChoice]:
    out = []
    for der in crls:
        crl = _load_der(asn1_crl.CertificateList, der, "CRL")
        out.append(asn1_cms.RevocationInfoChoice(name="crl", value=crl))
    for der in ocsp_responses:
        response = _load_der(asn1_ocsp.OCSPResponse, der, "OCSP response")
        out.append(asn1_cms.RevocationInfoChoice(name="other", value={
            "other_rev_info_format": "ocsp_response",  # id-ri-ocsp-response 1.3.6.1.5.5.7.16.2
            "other_rev_info": response,
        }))
    return out


def _load_der(spec: type[asn1_core.Asn1Value], der: bytes, what: str) -> asn1_core.Asn1Value:
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"a {what} must be DER bytes, not {type(der).__name__}")
    try:
        value = spec.load(bytes(der))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"malformed {what}: {exc}") from None
    return parsed(value, what)  # type: ignore[no-any-return]


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
    info = load_content_info(der)
    kind = info["content_type"].native
    if kind != "signed_data":
        raise ParseError(
            f"expected a CMS signed-data structure, but this ContentInfo holds {kind}"
        )
    if content is not None and not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"content must be bytes or None, not {type(content).__name__}")
    signed = info["content"]
    encap = signed["encap_content_info"]
    econtent = _econtent(encap)
    context = VerifyContext.build(
        signed,
        econtent_type=encap["content_type"].dotted,
        econtent=econtent,
        detached_content=None if content is None else bytes(content),
        extra_certificates=[to_certificate(c) for c in extra_certificates],
    )
    crls: list[bytes] = []
    ocsp: list[bytes] = []
    for choice in signed["crls"] or ():
        if choice.name == "crl":
            crls.append(choice.chosen.dump())
        elif choice.chosen["other_rev_info_format"].dotted == "1.3.6.1.5.5.7.16.2":
            ocsp.append(choice.chosen["other_rev_info"].dump())
    return SignedDataInfo(
        content=econtent,
        content_type=str(encap["content_type"].native),
        detached=econtent is None,
        certificates=context.message_certificates(),
        crls=tuple(crls),
        ocsp_responses=tuple(ocsp),
        signers=tuple(check_signer(si, context) for si in signed["signer_infos"]),
    )


def _econtent(encap: asn1_core.Asn1Value) -> bytes | None:
    """The octets the signature covers: the eContent OCTET STRING's value (chunks joined).

    PKCS#7 v1.5 allowed any type here; its digest covers the content octets of that value.
    """
    value = encap["content"]
    if isinstance(value, asn1_core.Void) or value.contents is None:
        return None
    if isinstance(value, (asn1_core.OctetString, asn1_core.ParsableOctetString)):
        return bytes(value.native if isinstance(value, asn1_core.OctetString) else bytes(value))
    inner = value.parsed if isinstance(value, asn1_core.Any) else value
    return bytes(inner.contents or b"")
