"""The public operations: the only place where the MIME and CMS layers meet."""

from ._input import looks_like_address, trust_store
from .receiving import decrypt, unwrap, verify
from .sending import compress, encrypt, export_certificates, load_certificates, sign

__all__ = [
    "compress",
    "decrypt",
    "encrypt",
    "export_certificates",
    "load_certificates",
    "looks_like_address",
    "sign",
    "trust_store",
    "unwrap",
    "verify",
]
