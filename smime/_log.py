"""The package's loggers, in one place: a child of ``"smime"`` per layer.

Library etiquette: a NullHandler on ``"smime"`` and nothing else; the application decides
where records go (``logging.basicConfig(level=logging.DEBUG)`` shows them all). Records
take %-style arguments, formatted only when a handler wants them, and never carry key
material, passwords or message content: certificates are named by subject and serial.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["ROOT", "CertLabel", "api", "cache", "cms", "keys", "store", "transports",
           "validation"]

ROOT = "smime"
logging.getLogger(ROOT).addHandler(logging.NullHandler())

#: sign, encrypt, decrypt, verify and unwrap: the verdicts and what was chosen.
api = logging.getLogger(f"{ROOT}.api")
#: CMS structures: digests, ciphers, key transport per recipient, which recipient matched.
cms = logging.getLogger(f"{ROOT}.cms")
#: Certificate paths (which verifier found them) and revocation sources.
validation = logging.getLogger(f"{ROOT}.validation")
#: Connections, sends, retries and refusals of every transport.
transports = logging.getLogger(f"{ROOT}.transports")
#: Hits and misses of the package's caches (DEBUG only).
cache = logging.getLogger(f"{ROOT}.cache")
#: The certificate store: what a harvest kept or skipped, and why.
store = logging.getLogger(f"{ROOT}.store")
#: Loading keys and identities (never the key or its password).
keys = logging.getLogger(f"{ROOT}.keys")


class CertLabel:
    """A certificate named for a record: its subject and serial, worked out only when the
    record is formatted, so a disabled level costs nothing."""

    __slots__ = ("_cert",)

    def __init__(self, cert: x509.Certificate) -> None:
        self._cert = cert

    def __str__(self) -> str:
        from cryptography.x509.oid import NameOID  # loaded by then: a certificate exists

        try:
            subject = self._cert.subject.rfc4514_string({NameOID.EMAIL_ADDRESS: "E"})
            subject = subject or "(empty subject)"
        except Exception:  # an undecodable name still gets a label
            subject = "(undecodable subject)"
        return f"{subject} (serial {self._cert.serial_number:x})"

    __repr__ = __str__
