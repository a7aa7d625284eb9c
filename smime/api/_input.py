"""Turning what users pass into what the layers below take."""

from __future__ import annotations

import os
from collections.abc import Sequence
from email.message import Message
from typing import TypeAlias

from cryptography import x509

from ..errors import CertificateError, LoadError, SMIMEError
from ..keys import CertificateLike, Identity, load_certificates, to_certificate
from ..store import CertificateStore

MessageInput: TypeAlias = bytes | bytearray | memoryview | str | Message
RecipientInput: TypeAlias = CertificateLike | Identity | str


def identities(signers: Identity | Sequence[Identity]) -> list[Identity]:
    items = [signers] if isinstance(signers, Identity) else list(signers)
    if not items:
        raise SMIMEError("sign needs at least one identity")
    for item in items:
        if not isinstance(item, Identity):
            raise LoadError(
                f"expected an Identity (from smime.load_identity), got {type(item).__name__}"
            )
    return items


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
        raise CertificateError("encrypt needs at least one recipient")
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
