"""Turning what users pass into what the layers below take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from email.message import Message
from typing import TYPE_CHECKING, TypeAlias

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ..errors import CertificateError, UsageError
from ..keys import CertificateLike, Identity, check_identity, load_certificates, to_certificate

if TYPE_CHECKING:
    from ..store import CertificateStore

MessageInput: TypeAlias = bytes | bytearray | memoryview | str | Message
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
    recipients: RecipientInput | Sequence[RecipientInput], store: CertificateStore | None
) -> list[tuple[x509.Certificate, str | None]]:
    """Each recipient's certificate, with the address it was looked up by (if any)."""
    items: list[object]
    items = list(recipients) if isinstance(recipients, (list, tuple)) else [recipients]
    if not items:
        raise UsageError("encrypt needs at least one recipient")
    for item in items:
        if not isinstance(item, _RECIPIENT_CLASSES):
            raise UsageError.wrong_type("each recipient", item, RECIPIENT_TYPES)
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
                raise CertificateError(
                    f"the certificate store has no usable certificate for {address}"
                )
            out.append((cert, address))
        elif isinstance(item, x509.Certificate):
            out.append((item, None))
        else:
            certs = load_certificates(item)  # type: ignore[arg-type]
            out.extend((to_certificate(c), None) for c in certs)
    return out
