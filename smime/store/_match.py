"""Which certificates an SMIMEEncryptionKeyPreference names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from cryptography import x509

from ..core.certs import MALFORMED

__all__ = ["KeyPreference", "preference_matches"]


class KeyPreference(Protocol):
    """A signer's stated encryption certificate, as the CMS layer reads it (RFC 8551 2.5.3):
    it knows which certificate it names."""

    def matches(self, certificate: x509.Certificate) -> bool:
        """True when ``certificate`` is the one named."""
        ...


def preference_matches(
    preference: KeyPreference, candidates: Sequence[x509.Certificate]
) -> Iterator[x509.Certificate]:
    """Every candidate the preference names, in order.

    Several can match: the certificate set of a SignedData is not signed, so anyone who
    relays the message can add a certificate copying the issuer and serial (or the key
    identifier) of the named one. The caller must validate each and keep the first good one.
    """
    for cert in candidates:
        try:
            if preference.matches(cert):
                yield cert
        except MALFORMED:
            continue  # a certificate we cannot read names nothing
