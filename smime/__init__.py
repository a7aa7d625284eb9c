"""smime: S/MIME for Python.

Sign, encrypt, decrypt and verify email (RFC 8551 on CMS, RFC 5652) so that Outlook,
Thunderbird, Apple Mail, OpenSSL, gpgsm and NSS open it, and send it through pluggable
transports. The guides live in ``docs/`` (``mkdocs serve``).
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from .__about__ import __version__
from ._cache import cache_info, clear_caches
from ._conflict import warn_if_old_package as _warn_if_old_package
from .limits import Limits
from .problems import Problem, ProblemCode

_warn_if_old_package(__path__[0])

if TYPE_CHECKING:
    from .api import (
        compress,
        decrypt,
        encrypt,
        export_certificates,
        load_certificates,
        sign,
        unwrap,
        verify,
    )
    from .inspection import inspect
    from .keys import Identity, load_identity
    from .results import *  # noqa: F403  (every result type is public here)
    from .store import CertificateStore, HarvestResult
    from .transports import asend, send
    from .validation import TrustStore, VerificationPolicy

#: Public names whose modules load on first use, so that ``import smime`` stays cheap: the
#: store needs sqlite3, the transports asyncio, smtplib and http, path validation pyhanko,
#: and the operations the email package and asn1crypto. Each module loads once, whole.
_LAZY_FROM = {
    "api": ("compress", "decrypt", "encrypt", "export_certificates", "load_certificates",
            "sign", "unwrap", "verify"),
    "inspection": ("inspect",),
    "keys": ("Identity", "load_identity"),
    "results": ("DecryptedMessage", "DecryptionInfo", "Layer", "ProtectedPart",
                "SignerResult", "UnwrapResult", "VerificationResult"),
    "store": ("CertificateStore", "HarvestResult"),
    "transports": ("asend", "send"),
    "validation": ("TrustStore", "VerificationPolicy"),
}
_LAZY = {name: module for module, names in _LAZY_FROM.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CertificateStore",
    "DecryptedMessage",
    "DecryptionInfo",
    "HarvestResult",
    "Identity",
    "Layer",
    "Limits",
    "Problem",
    "ProblemCode",
    "ProtectedPart",
    "SignerResult",
    "TrustStore",
    "UnwrapResult",
    "VerificationPolicy",
    "VerificationResult",
    "__version__",
    "asend",
    "cache_info",
    "clear_caches",
    "compress",
    "decrypt",
    "encrypt",
    "errors",
    "export_certificates",
    "inspect",
    "load_certificates",
    "load_identity",
    "send",
    "sign",
    "unwrap",
    "verify",
]
