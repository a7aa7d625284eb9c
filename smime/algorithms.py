"""Algorithm names users write, and what they mean on the wire.

Options are short lowercase strings (``"sha256"``, ``"aes-256-gcm"``, ``"rsa-oaep"``,
``"pss"``). This module is the single table that maps them to asn1crypto names, OIDs,
``cryptography`` hash objects and MIME ``micalg`` values, and validates them with an error
that lists what is allowed. It is also the one OID table: every algorithm, CMS and name
attribute OID the library names or acts on (digests, ciphers, signature and key-agreement
schemes, key wraps, CMS attributes, distinguished-name keys) is written here once, and
:func:`oid_name` names any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from .options import CIPHERS as WRITABLE_CIPHERS
from .options import DIGESTS as SIGNING_DIGESTS
from .options import KEY_TRANSPORTS, SIGNATURE_PADDINGS, check_option

__all__ = [
    "ADVERTISED_PQ",
    "ATTRIBUTE_NAMES",
    "CIPHERS",
    "COMMON_NAME_OID",
    "CONTENT_TYPE_OID",
    "DATA_OID",
    "DES_EDE3_WRAP_OID",
    "DIGESTS",
    "DSA",
    "ECDSA",
    "ED448",
    "ED25519",
    "ENCRYPTION_KEY_PREFERENCE_OID",
    "HKDF_KEM_KDFS",
    "HKDF_SHA256_OID",
    "ID_DSA_OID",
    "ID_ORI_KEM_OID",
    "KDF_SCHEMES",
    "KEY_TRANSPORTS",
    "KEY_WRAPS",
    "MESSAGE_DIGEST_OID",
    "MGF1_OID",
    "ML_DSA",
    "ML_KEMS",
    "MS_ENCRYPTION_KEY_PREFERENCE_OID",
    "NAME_KEYS",
    "OCSP_RESPONSE_OID",
    "OID_NAMES",
    "RC2_OID",
    "READABLE_NAME_KEYS",
    "RSAES_OAEP_OID",
    "RSASSA_PSS",
    "RSA_ENCRYPTION_OID",
    "RSA_PKCS1V15",
    "SIGNATURE_ALGORITHMS",
    "SIGNATURE_PADDINGS",
    "SIGNED_DATA_OID",
    "SIGNING_DIGESTS",
    "SIGNING_TIME_OID",
    "SMIME_CAPABILITIES_OID",
    "WEAK_DIGESTS",
    "WRITABLE_CIPHERS",
    "ZLIB_OID",
    "Cipher",
    "Digest",
    "KdfScheme",
    "MlKem",
    "SignatureAlgorithm",
    "check_option",
    "digest",
    "digest_from_micalg",
    "oid_name",
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


# ---------------------------------------------------------------------------- the OID table
#
# Every OID the library names or acts on is written once, below or in DIGESTS and CIPHERS
# above; OID_NAMES is their union (a test checks that no OID is defined twice).

RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1"
RSAES_OAEP_OID = "1.2.840.113549.1.1.7"
MGF1_OID = "1.2.840.113549.1.1.8"
ID_DSA_OID = "1.2.840.10040.4.1"
RC2_OID = "1.2.840.113549.3.2"
DES_EDE3_WRAP_OID = "1.2.840.113549.1.9.16.3.6"
ZLIB_OID = "1.2.840.113549.1.9.16.3.8"
#: RFC 5940's RevocationInfoChoice format for an OCSP response carried in SignedData.
OCSP_RESPONSE_OID = "1.3.6.1.5.5.7.16.2"

#: The ways a signature is made (``SignatureAlgorithm.scheme``).
RSA_PKCS1V15, RSASSA_PSS, ECDSA, ED25519, ED448, DSA = (
    "rsa-pkcs1v15", "rsassa-pss", "ecdsa", "ed25519", "ed448", "dsa",
)
#: ML-DSA (FIPS 204, RFC 9881, RFC 9882): the scheme is the parameter set, since a key of
#: one set cannot make a signature of another.
ML_DSA = ("ml-dsa-44", "ml-dsa-65", "ml-dsa-87")


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signatureAlgorithm OID: our name for it, its scheme, and the hash it names (None:
    the signer's digestAlgorithm says, or EdDSA, which names none)."""

    oid: str
    name: str
    scheme: str
    hash: str | None


#: Signature OIDs we read, with the spellings seen in the wild: rsaEncryption and
#: ecPublicKey (as OpenSSL, NSS and some old clients write them) and the OIW OIDs.
SIGNATURE_ALGORITHMS: dict[str, SignatureAlgorithm] = {
    row[0]: SignatureAlgorithm(*row)
    for row in (
        (RSA_ENCRYPTION_OID, "rsa-pkcs1v15", RSA_PKCS1V15, None),
        ("1.2.840.113549.1.1.4", "md5-rsa", RSA_PKCS1V15, "md5"),
        ("1.2.840.113549.1.1.5", "sha1-rsa", RSA_PKCS1V15, "sha1"),
        ("1.2.840.113549.1.1.14", "sha224-rsa", RSA_PKCS1V15, "sha224"),
        ("1.2.840.113549.1.1.11", "sha256-rsa", RSA_PKCS1V15, "sha256"),
        ("1.2.840.113549.1.1.12", "sha384-rsa", RSA_PKCS1V15, "sha384"),
        ("1.2.840.113549.1.1.13", "sha512-rsa", RSA_PKCS1V15, "sha512"),
        ("1.3.14.3.2.3", "md5-rsa", RSA_PKCS1V15, "md5"),
        ("1.3.14.3.2.29", "sha1-rsa", RSA_PKCS1V15, "sha1"),
        ("1.2.840.113549.1.1.10", "rsassa-pss", RSASSA_PSS, None),
        (ID_DSA_OID, "dsa", DSA, None),
        ("1.2.840.10040.4.3", "dsa-sha1", DSA, "sha1"),
        ("1.3.14.3.2.27", "dsa-sha1", DSA, "sha1"),
        ("2.16.840.1.101.3.4.3.1", "dsa-sha224", DSA, "sha224"),
        ("2.16.840.1.101.3.4.3.2", "dsa-sha256", DSA, "sha256"),
        ("1.2.840.10045.2.1", "ec", ECDSA, None),
        ("1.2.840.10045.4.1", "ecdsa-sha1", ECDSA, "sha1"),
        ("1.2.840.10045.4.3.1", "ecdsa-sha224", ECDSA, "sha224"),
        ("1.2.840.10045.4.3.2", "ecdsa-sha256", ECDSA, "sha256"),
        ("1.2.840.10045.4.3.3", "ecdsa-sha384", ECDSA, "sha384"),
        ("1.2.840.10045.4.3.4", "ecdsa-sha512", ECDSA, "sha512"),
        ("1.3.101.112", "ed25519", ED25519, None),
        ("1.3.101.113", "ed448", ED448, None),
        ("2.16.840.1.101.3.4.3.17", "ml-dsa-44", ML_DSA[0], None),
        ("2.16.840.1.101.3.4.3.18", "ml-dsa-65", ML_DSA[1], None),
        ("2.16.840.1.101.3.4.3.19", "ml-dsa-87", ML_DSA[2], None),
    )
}


@dataclass(frozen=True)
class KdfScheme:
    """One key-agreement scheme: asn1crypto-style name, our name, the KDF and its hash."""

    oid: str
    asn1_name: str
    name: str
    kdf: str  # "x963" (ANSI X9.63) or "hkdf" (RFC 5869)
    hash_name: str


#: Key-agreement schemes we read (RFC 5753, RFC 8418), by family: the asn1crypto-style
#: name, the KDF, and the OID for each hash. We write the SHA-2 X9.63 ones for EC and
#: HKDF-SHA256 for X25519. Cofactor DH equals standard DH on the NIST prime curves
#: (cofactor 1), so we read those too.
_KDF_FAMILIES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("ecdh_{}kdf", "x963", {
        "sha1": "1.3.133.16.840.63.0.2", "sha224": "1.3.132.1.11.0",
        "sha256": "1.3.132.1.11.1", "sha384": "1.3.132.1.11.2", "sha512": "1.3.132.1.11.3",
    }),
    ("ecdh_cofactor_{}kdf", "x963", {
        "sha1": "1.3.133.16.840.63.0.3", "sha224": "1.3.132.1.14.0",
        "sha256": "1.3.132.1.14.1", "sha384": "1.3.132.1.14.2", "sha512": "1.3.132.1.14.3",
    }),
    ("ecdh_hkdf_{}", "hkdf", {
        "sha256": "1.2.840.113549.1.9.16.3.19", "sha384": "1.2.840.113549.1.9.16.3.20",
        "sha512": "1.2.840.113549.1.9.16.3.21",
    }),
)
#: asn1crypto-style name (``ecdh_sha256kdf``) -> scheme.
KDF_SCHEMES: dict[str, KdfScheme] = {
    name: KdfScheme(oid, name, name.replace("_", "-"), kdf, hash_name)
    for pattern, kdf, oids in _KDF_FAMILIES
    for hash_name, oid in oids.items()
    for name in (pattern.format(hash_name),)
}

#: Key wraps we unwrap with: OID, asn1crypto name, our name, KEK length in bytes.
#: AES key wrap (RFC 3394); 3DES wrap (RFC 3217) is read only (OpenSSL's ECDH with -des3).
_KEY_WRAP_ROWS = (
    ("2.16.840.1.101.3.4.1.5", "aes128_wrap", "aes128-wrap", 16),
    ("2.16.840.1.101.3.4.1.25", "aes192_wrap", "aes192-wrap", 24),
    ("2.16.840.1.101.3.4.1.45", "aes256_wrap", "aes256-wrap", 32),
    (DES_EDE3_WRAP_OID, "des_ede3_wrap", "des-ede3-wrap", 24),
)
#: asn1crypto name -> (our name, KEK length in bytes).
KEY_WRAPS: dict[str, tuple[str, int]] = {
    asn1_name: (name, length) for _oid, asn1_name, name, length in _KEY_WRAP_ROWS
}

@dataclass(frozen=True)
class MlKem:
    """An ML-KEM parameter set (FIPS 203, RFC 9935): its sizes and the key wrap RFC 9936
    pairs with it."""

    oid: str
    name: str
    ciphertext_size: int
    wrap: str  # asn1crypto name of the key wrap we write with this set


#: ML-KEM parameter sets by OID. ML-KEM-512 is named (to refuse it by name): cryptography
#: 50 does not implement it.
ML_KEMS: dict[str, MlKem] = {
    k.oid: k
    for k in (
        MlKem("2.16.840.1.101.3.4.4.1", "ml-kem-512", 768, "aes128_wrap"),
        MlKem("2.16.840.1.101.3.4.4.2", "ml-kem-768", 1088, "aes256_wrap"),
        MlKem("2.16.840.1.101.3.4.4.3", "ml-kem-1024", 1568, "aes256_wrap"),
    )
}
#: RFC 9629's OtherRecipientInfo type for a KEMRecipientInfo.
ID_ORI_KEM_OID = "1.2.840.113549.1.9.16.13.3"
#: RFC 8619 HKDF key-derivation algorithms (no parameters), by OID: the hash each uses.
HKDF_SHA256_OID = "1.2.840.113549.1.9.16.3.28"
HKDF_KEM_KDFS: dict[str, str] = {
    HKDF_SHA256_OID: "sha256",
    "1.2.840.113549.1.9.16.3.29": "sha384",
    "1.2.840.113549.1.9.16.3.30": "sha512",
}

#: Post-quantum algorithms we advertise in SMIMECapabilities after the ciphers and
#: RSAES-OAEP: the KEMs we decrypt with (RFC 9936 section 4; no parameters) and the
#: signatures we verify (RFC 8551 section 2.5.2 lets signature algorithms be listed too).
ADVERTISED_PQ = ("ml-kem-1024", "ml-kem-768", "ml-dsa-87", "ml-dsa-65", "ml-dsa-44")

#: CMS content types (RFC 5652 section 4 and 5) that the fast SignedData reader matches.
DATA_OID = "1.2.840.113549.1.7.1"
SIGNED_DATA_OID = "1.2.840.113549.1.7.2"

#: CMS attribute types (RFC 5652, RFC 8551, RFC 2634, RFC 5035, RFC 6211).
CONTENT_TYPE_OID = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_OID = "1.2.840.113549.1.9.4"
SIGNING_TIME_OID = "1.2.840.113549.1.9.5"
SMIME_CAPABILITIES_OID = "1.2.840.113549.1.9.15"
ENCRYPTION_KEY_PREFERENCE_OID = "1.2.840.113549.1.9.16.2.11"
#: The Microsoft twin of SMIMEEncryptionKeyPreference (Outlook writes both): a bare
#: IssuerAndSerialNumber, no CHOICE.
MS_ENCRYPTION_KEY_PREFERENCE_OID = "1.3.6.1.4.1.311.16.4"
ATTRIBUTE_NAMES: dict[str, str] = {
    CONTENT_TYPE_OID: "content-type",
    MESSAGE_DIGEST_OID: "message-digest",
    SIGNING_TIME_OID: "signing-time",
    "1.2.840.113549.1.9.6": "countersignature",
    SMIME_CAPABILITIES_OID: "smime-capabilities",
    "1.2.840.113549.1.9.16.2.1": "receipt-request",
    "1.2.840.113549.1.9.16.2.2": "security-label",
    "1.2.840.113549.1.9.16.2.3": "ml-expansion-history",
    "1.2.840.113549.1.9.16.2.4": "content-hints",
    "1.2.840.113549.1.9.16.2.9": "equivalent-labels",
    "1.2.840.113549.1.9.16.2.10": "content-reference",
    ENCRYPTION_KEY_PREFERENCE_OID: "encryption-key-preference",
    "1.2.840.113549.1.9.16.2.12": "signing-certificate",
    "1.2.840.113549.1.9.16.2.47": "signing-certificate-v2",
    "1.2.840.113549.1.9.16.2.14": "timestamp-token",
    "1.2.840.113549.1.9.52": "cms-algorithm-protection",
    MS_ENCRYPTION_KEY_PREFERENCE_OID: "ms-encryption-key-preference",
}

#: Algorithms we name but neither sign, agree keys nor wrap with.
_OTHER_NAMES: dict[str, str] = {
    RSAES_OAEP_OID: "rsa-oaep",
    MGF1_OID: "mgf1",
    "1.3.101.110": "x25519",
    ID_ORI_KEM_OID: "kem-recipient-info",
    **{oid: f"hkdf-{hash_name}" for oid, hash_name in HKDF_KEM_KDFS.items()},
    **{k.oid: k.name for k in ML_KEMS.values()},
    "2.16.840.1.101.3.4.3.32": "hash-ml-dsa-44-sha512",
    "2.16.840.1.101.3.4.3.33": "hash-ml-dsa-65-sha512",
    "2.16.840.1.101.3.4.3.34": "hash-ml-dsa-87-sha512",
    "2.16.840.1.101.3.4.1.8": "aes128-wrap-pad",
    "2.16.840.1.101.3.4.1.28": "aes192-wrap-pad",
    "2.16.840.1.101.3.4.1.48": "aes256-wrap-pad",
    "1.2.840.113549.1.9.16.3.7": "rc2-wrap",
    "1.2.840.113549.1.9.16.3.9": "pwri-kek",
    "2.16.840.1.101.3.4.1.26": "aes-192-gcm",
    RC2_OID: "rc2-cbc",
    ZLIB_OID: "zlib",
}

COMMON_NAME_OID = "2.5.4.3"
#: Distinguished-name attribute keys: RFC 4514 section 3's (cryptography writes the same).
NAME_KEYS: dict[str, str] = {
    COMMON_NAME_OID: "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: OpenSSL's keys for two more attributes mail certificates often carry.
READABLE_NAME_KEYS: dict[str, str] = {
    **NAME_KEYS, "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber",
}

#: Our name for every OID we know: digests, ciphers, signatures, key agreement, key wraps,
#: CMS attributes and the rest.
OID_NAMES: dict[str, str] = {
    **{d.oid: d.name for d in DIGESTS.values()},
    **{c.oid: c.name for c in CIPHERS.values()},
    **{s.oid: s.name for s in SIGNATURE_ALGORITHMS.values()},
    **{k.oid: k.name for k in KDF_SCHEMES.values()},
    **{oid: name for oid, _asn1_name, name, _length in _KEY_WRAP_ROWS},
    **ATTRIBUTE_NAMES,
    **_OTHER_NAMES,
}


def oid_name(oid: str) -> str:
    """Our short name for an OID, or the dotted OID itself when we have none."""
    return OID_NAMES.get(oid, oid)
