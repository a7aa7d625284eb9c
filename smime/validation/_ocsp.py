"""OCSP responses the caller handed us (or pyhanko fetched), checked with cryptography.

A response counts when it is signed by the certificate's issuer or by a responder
certificate that issuer delegated (id-kp-OCSPSigning, RFC 6960 §4.2.2.2), names the
certificate by serial number and issuer hashes, and is current at the validation time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..core.certs import extension
from ..core.der import public_key_bits
from ..core.signatures import verify_signature
from ..problems import plain_reason
from ._common import COMPROMISE_REASONS, TOLERANCE, RevocationStatus, issued_by

__all__ = ["LoadedOcsp", "check_ocsp", "load_ocsp", "names_certificate"]

#: How long a response without nextUpdate counts after its thisUpdate (as pyhanko does).
NO_NEXT_UPDATE_VALIDITY = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class LoadedOcsp:
    response: ocsp.OCSPResponse
    algorithm: object  # asn1crypto SignedDigestAlgorithm of the BasicOCSPResponse
    instants: tuple[dt.datetime, ...]


def load_ocsp(der: bytes) -> LoadedOcsp | str:
    """The parsed response, or a sentence saying why it cannot be used."""
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return f"an OCSP response says {response.response_status.name.lower()}"
        basic = asn1_ocsp.OCSPResponse.load(der).basic_ocsp_response
        algorithm = basic["signature_algorithm"]
        instants: list[dt.datetime] = [response.produced_at_utc]
        for single in response.responses:
            instants.append(single.this_update_utc)
            if single.next_update_utc:
                instants.append(single.next_update_utc)
            if single.revocation_time_utc:
                instants.append(single.revocation_time_utc)
    except (ValueError, TypeError, KeyError) as exc:
        return f"an OCSP response is malformed ({plain_reason(str(exc))})"
    return LoadedOcsp(response, algorithm, tuple(instants))


def _key_hash(cert: x509.Certificate, algorithm: str) -> bytes:
    spki = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).public_key
    return hashlib.new(algorithm, public_key_bits(spki.dump())).digest()


def _name_hash(cert: x509.Certificate, algorithm: str) -> bytes:
    return hashlib.new(algorithm, cert.subject.public_bytes()).digest()


def _is_delegate(responder: x509.Certificate, issuer: x509.Certificate, when: dt.datetime) -> bool:
    if not issued_by(responder, issuer):
        return False
    eku = extension(responder, x509.ExtendedKeyUsage)
    return (
        eku is not None
        and ExtendedKeyUsageOID.OCSP_SIGNING in eku
        and responder.not_valid_before_utc - TOLERANCE <= when
        <= responder.not_valid_after_utc + TOLERANCE
    )


def _names_responder(loaded: LoadedOcsp, cert: x509.Certificate) -> bool:
    response = loaded.response
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    key_hash = response.responder_key_hash
    return key_hash is not None and key_hash == _key_hash(cert, "sha1")


def _signed_for(loaded: LoadedOcsp, issuer: x509.Certificate) -> bool:
    response = loaded.response
    candidates = [issuer] + [
        c for c in response.certificates
        if _is_delegate(c, issuer, response.produced_at_utc)
    ]
    for signer in candidates:
        if _names_responder(loaded, signer) and verify_signature(
            signer.public_key(), loaded.algorithm, response.signature,
            response.tbs_response_bytes,
        ):
            return True
    return False


def _names(single: ocsp.OCSPSingleResponse, cert: x509.Certificate,
           issuer: x509.Certificate) -> bool:
    """Whether ``single`` is about ``cert``: its serial number and its issuer's hashes."""
    if single.serial_number != cert.serial_number:
        return False
    algorithm = single.hash_algorithm.name
    try:
        return (
            single.issuer_name_hash == _name_hash(issuer, algorithm)
            and single.issuer_key_hash == _key_hash(issuer, algorithm)
        )
    except ValueError:
        return False


def names_certificate(
    loaded: LoadedOcsp, cert: x509.Certificate, issuer: x509.Certificate
) -> bool:
    """Whether the response answers for ``cert`` (issued by ``issuer``), usable or not."""
    return any(_names(single, cert, issuer) for single in loaded.response.responses)


def check_ocsp(
    cert: x509.Certificate,
    issuer: x509.Certificate | None,
    responses: Sequence[LoadedOcsp],
    at: dt.datetime,
    now: dt.datetime,
) -> RevocationStatus:
    """The status of ``cert`` at ``at`` according to the usable OCSP responses."""
    if issuer is None or not responses:
        return RevocationStatus("unknown", detail="no OCSP response given for it")
    notes: list[str] = []
    good = False
    for loaded in responses:
        for single in loaded.response.responses:
            try:
                if not _names(single, cert, issuer):
                    continue
                signed = _signed_for(loaded, issuer)
            except (ValueError, UnsupportedAlgorithm):
                # Unsigned data anyone relaying the message can plant (an unknown CertID
                # hash, an unreadable responder name, a key cryptography cannot load).
                notes.append("an OCSP response for it cannot be read")
                continue
            if not signed:
                notes.append("an OCSP response for it is not signed by its CA or a delegate")
                continue
            status = single.certificate_status
            if status == ocsp.OCSPCertStatus.REVOKED:
                when = single.revocation_time_utc
                reason = single.revocation_reason
                if when is not None and (when <= at + TOLERANCE or reason in COMPROMISE_REASONS):
                    name = reason.name.replace("_", " ") if reason else None
                    return RevocationStatus("revoked", "ocsp", when, name)
            elif status == ocsp.OCSPCertStatus.UNKNOWN:
                notes.append("the OCSP responder does not know the certificate")
                continue
            if single.this_update_utc > max(at, now) + TOLERANCE:
                notes.append("an OCSP response claims to be issued in the future")
                continue
            until = single.next_update_utc or single.this_update_utc + NO_NEXT_UPDATE_VALIDITY
            if until < at - TOLERANCE:
                notes.append(f"the OCSP response expired ({until:%Y-%m-%d %H:%M}Z) "
                             f"before the validation time {at:%Y-%m-%d %H:%M}Z")
                continue
            good = True
    if good:
        return RevocationStatus("good", "ocsp")
    return RevocationStatus(
        "unknown", detail="; ".join(dict.fromkeys(notes)) or "no OCSP response covers it"
    )
