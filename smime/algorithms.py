"""Algorithm names users write, and what they mean on the wire.

Options are short lowercase strings (``"sha256"``, ``"aes-256-gcm"``, ``"rsa-oaep"``,
``"pss"``). This module is the single table that maps them to asn1crypto names, OIDs,
``cryptography`` hash objects and MIME ``micalg`` values, and validates them with an error
that lists what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from .options import CIPHERS as WRITABLE_CIPHERS
from .options import DIGESTS as SIGNING_DIGESTS
from .options import KEY_TRANSPORTS, SIGNATURE_PADDINGS, check_option

__all__ = [
    "CIPHERS",
    "DIGESTS",
    "KEY_TRANSPORTS",
    "SIGNATURE_PADDINGS",
    "SIGNING_DIGESTS",
    "WEAK_DIGESTS",
    "WRITABLE_CIPHERS",
    "Cipher",
    "Digest",
    "check_option",
    "digest",
    "digest_from_micalg",
]


@dataclass(frozen=True)
class Digest:
    name: str  # our option name, e.g. "sha256"
    asn1_name: str  # asn1crypto DigestAlgorithmId name
    oid: str
    micalg: str  # RFC 8551 §3.4.3.2 spelling
    size: int

    def hash(self) -> hashes.HashAlgorithm:
        return _HASH_FACTORIES[self.name]()


_HASH_FACTORIES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

DIGESTS: dict[str, Digest] = {
    d.name: d
    for d in (
        Digest("md5", "md5", "1.2.840.113549.2.5", "md5", 16),
        Digest("sha1", "sha1", "1.3.14.3.2.26", "sha-1", 20),
        Digest("sha224", "sha224", "2.16.840.1.101.3.4.2.4", "sha-224", 28),
        Digest("sha256", "sha256", "2.16.840.1.101.3.4.2.1", "sha-256", 32),
        Digest("sha384", "sha384", "2.16.840.1.101.3.4.2.2", "sha-384", 48),
        Digest("sha512", "sha512", "2.16.840.1.101.3.4.2.3", "sha-512", 64),
    )
}
#: Digests we read for old mail but report as a weak-algorithm problem, and never write.
WEAK_DIGESTS = frozenset({"md5", "sha1", "sha224"})


def digest(name: str) -> Digest:
    """The digest for an option name we write (``sha256``, ``sha384``, ``sha512``)."""
    check_option("digest", name, SIGNING_DIGESTS)
    return DIGESTS[name]


def digest_from_micalg(micalg: str) -> Digest | None:
    """Read a ``micalg`` parameter in any case and in old spellings (``sha1``, ``sha256``)."""
    value = micalg.strip().strip('"').lower().split(",")[0].strip()
    compact = value.replace("-", "").replace("_", "")
    for d in DIGESTS.values():
        if compact == d.name:
            return d
    return None


@dataclass(frozen=True)
class Cipher:
    name: str  # option name, e.g. "aes-256-gcm"
    asn1_name: str  # asn1crypto EncryptionAlgorithmId name
    oid: str
    key_size: int
    mode: str  # "cbc" or "gcm"
    block: str  # "aes", "3des", "rc2"

    @property
    def authenticated(self) -> bool:
        return self.mode == "gcm"


CIPHERS: dict[str, Cipher] = {
    c.name: c
    for c in (
        Cipher("aes-128-cbc", "aes128_cbc", "2.16.840.1.101.3.4.1.2", 16, "cbc", "aes"),
        Cipher("aes-192-cbc", "aes192_cbc", "2.16.840.1.101.3.4.1.22", 24, "cbc", "aes"),
        Cipher("aes-256-cbc", "aes256_cbc", "2.16.840.1.101.3.4.1.42", 32, "cbc", "aes"),
        Cipher("aes-128-gcm", "aes128_gcm", "2.16.840.1.101.3.4.1.6", 16, "gcm", "aes"),
        Cipher("aes-256-gcm", "aes256_gcm", "2.16.840.1.101.3.4.1.46", 32, "gcm", "aes"),
        Cipher("des-ede3-cbc", "tripledes_3key", "1.2.840.113549.3.7", 24, "cbc", "3des"),
    )
}
#: What we advertise in SMIMECapabilities, strongest first (RFC 8551 §2.5.2).
ADVERTISED_CIPHERS = ("aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc")


#: OIDs we name in messages and inspection output.
OID_NAMES: dict[str, str] = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.113549.1.1.5": "sha1-rsa",
    "1.2.840.113549.1.1.7": "rsa-oaep",
    "1.2.840.113549.1.1.10": "rsassa-pss",
    "1.2.840.113549.1.1.11": "sha256-rsa",
    "1.2.840.113549.1.1.12": "sha384-rsa",
    "1.2.840.113549.1.1.13": "sha512-rsa",
    "1.2.840.10045.2.1": "ec",
    "1.2.840.10045.4.3.2": "ecdsa-sha256",
    "1.2.840.10045.4.3.3": "ecdsa-sha384",
    "1.2.840.10045.4.3.4": "ecdsa-sha512",
    "1.3.101.110": "x25519",
    "1.3.101.112": "ed25519",
    "1.3.132.1.11.1": "ecdh-sha256kdf",
    "1.3.132.1.11.2": "ecdh-sha384kdf",
    "1.3.132.1.11.3": "ecdh-sha512kdf",
    "1.2.840.113549.3.2": "rc2-cbc",
    **{c.oid: c.name for c in CIPHERS.values()},
    **{d.oid: d.name for d in DIGESTS.values()},
}

