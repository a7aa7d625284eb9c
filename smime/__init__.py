"""smime: S/MIME for Python.

Sign, encrypt, decrypt and verify email (RFC 8551 on CMS, RFC 5652) so that Outlook,
Thunderbird, Apple Mail, OpenSSL, gpgsm and NSS open it, and send it through pluggable
transports. The guides live in ``docs/`` (``mkdocs serve``).
"""

from . import errors
from .__about__ import __version__
from ._cache import cache_info, clear_caches
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
from .limits import Limits
from .problems import Problem, ProblemCode
from .results import (
    DecryptedMessage,
    DecryptionInfo,
    Layer,
    SignerResult,
    UnwrapResult,
    VerificationResult,
)
from .store import CertificateStore, HarvestResult
from .transports import asend, send
from .validation import TrustStore, VerificationPolicy

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
