"""What the API reads of a certificate source: the one home of that protocol.

``encrypt(..., store=)`` asks a source for the certificate to encrypt to and for the
algorithms an address announced; ``verify(..., store=)`` and ``unwrap`` ask it for a
signer's certificate the message lacks. :class:`~smime.CertificateStore` (harvested mail)
and :class:`smime.directory.LDAPDirectory` (an LDAP directory) both offer it, and so can
any object with these three methods.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

from cryptography import x509

from ..cms import SignerIdentifier
from ..errors import UsageError

__all__ = ["CertificateSource", "check_source"]


@runtime_checkable
class CertificateSource(Protocol):
    """Where ``store=`` looks certificates up; finding one is never trusting it for a
    signature (the chain is validated against ``trust=``)."""

    def find(self, email: str, *, at: dt.datetime | None = None) -> x509.Certificate | None:
        """The certificate to encrypt to for ``email`` at ``at`` (default now), or None."""
        ...

    def capabilities(self, email: str) -> tuple[str, ...]:
        """The algorithms ``email`` announced, in its order of preference; () if unknown."""
        ...

    def signer_certificates(self, identifier: SignerIdentifier) -> tuple[x509.Certificate, ...]:
        """Every certificate the SignerInfo's identifier names."""
        ...


def check_source(store: object) -> CertificateSource:
    """``store`` when it is a certificate source; else the one UsageError for ``store=``."""
    if not isinstance(store, CertificateSource):
        raise UsageError.wrong_type("store", store, "a CertificateStore, an LDAPDirectory "
                                    "(any smime.store.CertificateSource) or None")
    return store
