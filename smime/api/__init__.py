"""The public operations: the only place where the MIME and CMS layers meet."""

from .receiving import decrypt, unwrap, verify
from .sending import compress, encrypt, export_certificates, load_certificates, sign

__all__ = [
    "compress",
    "decrypt",
    "encrypt",
    "export_certificates",
    "load_certificates",
    "sign",
    "unwrap",
    "verify",
]
