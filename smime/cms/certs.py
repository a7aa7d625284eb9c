"""Certs-only messages (RFC 8551 3.6, ``smime.p7c``): SignedData with certificates, no signers."""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import cms
from cryptography import x509

from ..errors import InvalidOptionError, LoadError, ParseError
from ..keys import CertificateLike, to_asn1_certificate
from ._asn1 import load_content_info

__all__ = ["create_certs_only", "read_certs_only"]


def create_certs_only(certificates: Sequence[CertificateLike]) -> bytes:
    """A degenerate SignedData: no content, no signers, just ``certificates`` (DER)."""
    try:
        certs = [to_asn1_certificate(c) for c in certificates]
    except LoadError as exc:
        raise InvalidOptionError(f"certificates: {exc}") from None
    if not certs:
        raise InvalidOptionError("certificates: at least one certificate is needed")
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in certs],
            "signer_infos": [],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def read_certs_only(der: bytes) -> list[x509.Certificate]:
    """The certificates of a SignedData (certs-only or not), in message order."""
    info = load_content_info(der)
    kind = info["content_type"].native
    if kind != "signed_data":
        raise ParseError(f"expected a certs-only signed-data, got {kind}")
    out: list[x509.Certificate] = []
    try:  # the certificate set is parsed here, not by load_content_info (see _asn1._OPAQUE)
        for choice in info["content"]["certificates"] or []:
            if choice.name != "certificate":
                continue  # attribute certificates and other formats are not X.509 certificates
            out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
    except Exception as exc:  # ValueError, and InvalidVersion which is not one
        raise ParseError(f"malformed certificate in certs-only data: {exc}") from None
    return out
