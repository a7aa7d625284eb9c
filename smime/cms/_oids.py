"""The algorithm OIDs of enveloped data that asn1crypto lacks, and our names for them.

asn1crypto 1.5 knows no ECDH key-agreement scheme (RFC 5753, RFC 8418); ``_schema`` reads
these tables into its own OID and AlgorithmIdentifier classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algorithms import OID_NAMES

__all__ = [
    "DES_EDE3_WRAP_OID",
    "KDF_SCHEMES",
    "KEY_WRAPS",
    "RC2_OID",
    "KdfScheme",
    "oid_name",
]

RC2_OID = "1.2.840.113549.3.2"


@dataclass(frozen=True)
class KdfScheme:
    """One key-agreement scheme: asn1crypto name, our name, the KDF and its hash."""

    oid: str
    asn1_name: str
    name: str
    kdf: str  # "x963" (ANSI X9.63) or "hkdf" (RFC 5869)
    hash_name: str


#: Schemes we read; we write the SHA-2 X9.63 ones for EC and HKDF-SHA256 for X25519.
#: Cofactor DH equals standard DH on the NIST prime curves (cofactor 1), so we read those too.
KDF_SCHEMES: dict[str, KdfScheme] = {
    s.asn1_name: s
    for s in (
        KdfScheme("1.3.133.16.840.63.0.2", "ecdh_sha1kdf", "ecdh-sha1kdf", "x963", "sha1"),
        KdfScheme("1.3.132.1.11.0", "ecdh_sha224kdf", "ecdh-sha224kdf", "x963", "sha224"),
        KdfScheme("1.3.132.1.11.1", "ecdh_sha256kdf", "ecdh-sha256kdf", "x963", "sha256"),
        KdfScheme("1.3.132.1.11.2", "ecdh_sha384kdf", "ecdh-sha384kdf", "x963", "sha384"),
        KdfScheme("1.3.132.1.11.3", "ecdh_sha512kdf", "ecdh-sha512kdf", "x963", "sha512"),
        KdfScheme("1.3.133.16.840.63.0.3", "ecdh_cofactor_sha1kdf", "ecdh-cofactor-sha1kdf",
                  "x963", "sha1"),
        KdfScheme("1.3.132.1.14.0", "ecdh_cofactor_sha224kdf", "ecdh-cofactor-sha224kdf",
                  "x963", "sha224"),
        KdfScheme("1.3.132.1.14.1", "ecdh_cofactor_sha256kdf", "ecdh-cofactor-sha256kdf",
                  "x963", "sha256"),
        KdfScheme("1.3.132.1.14.2", "ecdh_cofactor_sha384kdf", "ecdh-cofactor-sha384kdf",
                  "x963", "sha384"),
        KdfScheme("1.3.132.1.14.3", "ecdh_cofactor_sha512kdf", "ecdh-cofactor-sha512kdf",
                  "x963", "sha512"),
        KdfScheme("1.2.840.113549.1.9.16.3.19", "ecdh_hkdf_sha256", "ecdh-hkdf-sha256",
                  "hkdf", "sha256"),
        KdfScheme("1.2.840.113549.1.9.16.3.20", "ecdh_hkdf_sha384", "ecdh-hkdf-sha384",
                  "hkdf", "sha384"),
        KdfScheme("1.2.840.113549.1.9.16.3.21", "ecdh_hkdf_sha512", "ecdh-hkdf-sha512",
                  "hkdf", "sha512"),
    )
}

#: AES key wrap (RFC 3394) algorithms: asn1crypto name -> (our name, KEK length in bytes).
KEY_WRAPS: dict[str, tuple[str, int]] = {
    "aes128_wrap": ("aes128-wrap", 16),
    "aes192_wrap": ("aes192-wrap", 24),
    "aes256_wrap": ("aes256-wrap", 32),
    "des_ede3_wrap": ("des-ede3-wrap", 24),  # RFC 3217; read only (OpenSSL's ECDH with -des3)
}
DES_EDE3_WRAP_OID = "1.2.840.113549.1.9.16.3.6"


_NAMES: dict[str, str] = {
    **OID_NAMES,
    "1.2.840.113549.1.1.1": "rsa-pkcs1v15",  # as a key transport algorithm
    "2.16.840.1.101.3.4.1.5": "aes128-wrap",
    "2.16.840.1.101.3.4.1.25": "aes192-wrap",
    "2.16.840.1.101.3.4.1.45": "aes256-wrap",
    "2.16.840.1.101.3.4.1.8": "aes128-wrap-pad",
    "2.16.840.1.101.3.4.1.28": "aes192-wrap-pad",
    "2.16.840.1.101.3.4.1.48": "aes256-wrap-pad",
    "1.2.840.113549.1.9.16.3.7": "rc2-wrap",
    "1.2.840.113549.1.9.16.3.9": "pwri-kek",
    "2.16.840.1.101.3.4.1.26": "aes-192-gcm",
    "1.2.840.113549.1.9.16.3.8": "zlib",
    RC2_OID: "rc2-cbc",
    **{s.oid: s.name for s in KDF_SCHEMES.values()},
}


def oid_name(oid: str) -> str:
    """Our short name for an algorithm OID, or the dotted OID itself when we have none."""
    return _NAMES.get(oid, oid)
