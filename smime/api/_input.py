"""Turning what users pass into what the layers below take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ..errors import CertificateError, UsageError
from ..keys import CertificateLike, Identity, check_identity, load_certificates, to_certificate
from ..mime.message import MessageSource
from ..validation import TrustStore

if TYPE_CHECKING:
    from ..store import CertificateSource

#: What ``trust=`` takes (for the error that names them).
TRUST_TYPES = (
    "a TrustStore, a path (str or os.PathLike) to a PEM/DER file or folder, PEM/DER bytes, "
    "a certificate, or a list of these"
)
TrustInput: TypeAlias = (
    "TrustStore | CertificateLike | Sequence[TrustStore | CertificateLike] | None"
)

MessageInput: TypeAlias = MessageSource
RecipientInput: TypeAlias = CertificateLike | Identity | str


#: What ``encrypt`` takes as one recipient (for the error that names them).
RECIPIENT_TYPES = (
    "a certificate (x509.Certificate, PEM or DER bytes, PEM text, a path), an Identity "
    "or an email address"
)
_RECIPIENT_CLASSES = (
    Identity, x509.Certificate, asn1_x509.Certificate, str, bytes, bytearray, memoryview,
    os.PathLike,
)


def identities(signers: Identity | Sequence[Identity]) -> list[Identity]:
    if isinstance(signers, Identity):
        return [signers]
    if not isinstance(signers, Sequence) or isinstance(signers, (str, bytes)):
        raise UsageError.wrong_type(
            "signers", signers, "an Identity (from smime.load_identity) or a list of them"
        )
    if not signers:
        raise UsageError("sign needs at least one identity")
    return [check_identity(item, "each signer") for item in signers]


def looks_like_address(value: object) -> bool:
    """An email address rather than a PEM text or a file path."""
    return (
        isinstance(value, str)
        and "@" in value
        and "\n" not in value
        and "-----BEGIN" not in value
        and not os.path.exists(value)
    )


def recipient_certificates(
    recipients: RecipientInput | Sequence[RecipientInput], store: CertificateSource | None
) -> list[tuple[x509.Certificate, str | None]]:
    """Each recipient's certificate, with the address it was looked up by (if any)."""
    given: list[object]
    given = list(recipients) if isinstance(recipients, (list, tuple)) else [recipients]
    if not given:
        raise UsageError("encrypt needs at least one recipient")
    items = []
    for item in given:
        if not isinstance(item, _RECIPIENT_CLASSES):
            raise UsageError.wrong_type("each recipient", item, RECIPIENT_TYPES)
        items.append(item)
    if store is not None:
        from ..store import check_source  # sqlite3 loads only for callers with a store

        check_source(store)
    out: list[tuple[x509.Certificate, str | None]] = []
    for item in items:
        if isinstance(item, Identity):
            out.append((item.certificate, None))
        elif looks_like_address(item):
            address = str(item).strip()
            if store is None:
                raise CertificateError(
                    f"no certificate for {address}: pass certificates, or store= a "
                    "CertificateStore that has harvested one"
                )
            cert = store.find(address)
            if cert is None:
                raise CertificateError(f"{store!r} has no usable certificate for {address}")
            out.append((cert, address))
        elif isinstance(item, x509.Certificate):
            out.append((item, None))
        else:
            certs = load_certificates(item)
            out.extend((to_certificate(c), None) for c in certs)
    return out


_TRUST_ITEMS = (
    TrustStore, x509.Certificate, asn1_x509.Certificate, str, bytes, bytearray, memoryview,
    os.PathLike,
)


def trust_store(trust: TrustInput) -> TrustStore:
    """``trust=`` as a TrustStore: a store as it is, else read as ``TrustStore.from_pem``
    reads (a ``str`` is a path or PEM text here, never a message). Nothing is trusted by
    default: None is the empty store."""
    if trust is None:
        return TrustStore.from_certificates([])
    if isinstance(trust, TrustStore):
        return trust
    given: list[object] = list(trust) if isinstance(trust, (list, tuple)) else [trust]
    items = []
    for item in given:
        if not isinstance(item, _TRUST_ITEMS):
            raise UsageError.wrong_type("trust", item, TRUST_TYPES)
        items.append(item)
    found: list[x509.Certificate] = []
    for item in items:
        if isinstance(item, TrustStore):
            found.extend(item.certificates)
        elif isinstance(item, (x509.Certificate, asn1_x509.Certificate)):
            found.append(to_certificate(item))
        else:
            found.extend(TrustStore.from_pem(item).certificates)
    return TrustStore.from_certificates(found)
