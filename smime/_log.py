"""The package's loggers, in one place: a child of ``"smime"`` per layer.

Library etiquette: a NullHandler on ``"smime"`` and nothing else; the application decides
where records go (``logging.basicConfig(level=logging.DEBUG)`` shows them all). Records
take %-style arguments, formatted only when a handler wants them, and never carry key
material, passwords or message content: certificates are named by subject and serial
(``smime.core.names.certificate_label``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["ROOT", "Lazy", "api", "cache", "cms", "directory", "keys", "store",
           "transports", "validation"]

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
#: LDAP directory lookups: what was searched, and each certificate refused and why.
directory = logging.getLogger(f"{ROOT}.directory")
#: Loading keys and identities (never the key or its password).
keys = logging.getLogger(f"{ROOT}.keys")


class Lazy:
    """An argument of a record worked out only when the record is formatted, so that a
    disabled level costs nothing: ``Lazy(certificate_label, cert)``."""

    __slots__ = ("_args", "_make")

    def __init__(self, make: Callable[..., object], *args: object) -> None:
        self._make = make
        self._args = args

    def __str__(self) -> str:
        return str(self._make(*self._args))

    __repr__ = __str__
