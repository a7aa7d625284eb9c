"""PKCS#12 files that ``cryptography`` refuses whole for one certificate it cannot parse.

Java's keytool stores DSA certificates whose signature AlgorithmIdentifier carries
parameters; cryptography's strict parser rejects them, and with them the whole file, so a
user with the right password heard "wrong password". OpenSSL and Java open such files.
Here the file is read bag by bag (asn1crypto for the structure, cryptography for every
primitive): the MAC is checked with the password first (RFC 7292 appendix B key
derivation), PBES2-encrypted contents are decrypted, and a certificate that cannot be
parsed is skipped and named, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import cms as asn1_cms
from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..errors import LoadError, PasswordError, UnsupportedError
from .names import name_text

__all__ = ["PKCS12Contents", "looks_like_pkcs12", "read_pkcs12_bags"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_CIPHERS = {"aes128_cbc": (algorithms.AES, 16), "aes192_cbc": (algorithms.AES, 24),
            "aes256_cbc": (algorithms.AES, 32)}


#: Iteration counts beyond these make a hostile file cost minutes (the MAC key derivation
#: runs one hash call per iteration in Python; PBKDF2 runs in C). Real files use 2,048
#: (OpenSSL) to 600,000.
MAX_MAC_ITERATIONS = 1_000_000
MAX_PBKDF2_ITERATIONS = 10_000_000


def _check_iterations(count: object, most: int, what: str) -> None:
    if not isinstance(count, int) or not 0 < count <= most:
        raise LoadError(f"the PKCS#12 file asks for {count} {what} iterations "
                        f"(at most {most:,} are read)")


@dataclass(frozen=True)
class PKCS12Contents:
    """What a PKCS#12 file holds that could be read, and what was skipped (and why)."""

    keys: tuple[object, ...]
    certificates: tuple[x509.Certificate, ...]
    skipped: tuple[str, ...]


def _kdf(password: bytes | None, salt: bytes, iterations: int, size: int, name: str) -> bytes:
    """RFC 7292 appendix B.2 with ID 3 (the MAC key)."""
    v = hashlib.new(name).block_size
    secret = b"" if password is None else password.decode("utf-8").encode("utf-16-be") + b"\0\0"

    def fill(data: bytes) -> bytes:
        if not data:
            return b""
        length = v * ((len(data) + v - 1) // v)
        return (data * (length // len(data) + 1))[:length]

    d, i = bytes([3]) * v, bytearray(fill(salt) + fill(secret))
    out = b""
    while len(out) < size:
        a = d + bytes(i)
        for _ in range(iterations):
            a = hashlib.new(name, a).digest()
        out += a
        b = int.from_bytes(fill(a)[:v], "big") + 1
        for start in range(0, len(i), v):
            block = (int.from_bytes(i[start : start + v], "big") + b) % (1 << (8 * v))
            i[start : start + v] = block.to_bytes(v, "big")
    return out[:size]


def _check_mac(pfx: asn1_pkcs12.Pfx, content: bytes, password: bytes | None) -> None:
    try:
        mac_data = pfx["mac_data"]
        if mac_data.native is None:
            return
        name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
        salt, iterations = mac_data["mac_salt"].native, mac_data["iterations"].native
        digest = mac_data["mac"]["digest"].native
    except Exception as exc:  # asn1crypto's ValueError, TypeError...
        raise LoadError(f"not a PKCS#12 file: its MAC data is malformed: {exc}") from None
    if name not in _HASHES:
        raise UnsupportedError(f"the PKCS#12 file's MAC uses {name}, which we cannot check")
    _check_iterations(iterations, MAX_MAC_ITERATIONS, "MAC")
    size = hashlib.new(name).digest_size
    key = _kdf(password, salt, iterations, size, name)
    expected = hmac.new(key, content, name).digest()
    if not hmac.compare_digest(expected, digest):
        raise PasswordError("cannot open the PKCS#12 file: wrong password", reason="wrong")


def _decrypt(info: asn1_cms.EncryptedContentInfo, password: bytes | None) -> bytes:
    algorithm = info["content_encryption_algorithm"]
    if algorithm["algorithm"].native != "pbes2":
        raise UnsupportedError(
            f"the PKCS#12 file encrypts with {algorithm['algorithm'].native}; only PBES2 "
            "files are read certificate by certificate"
        )
    params = algorithm["parameters"]
    kdf = params["key_derivation_func"]["parameters"]
    scheme = params["encryption_scheme"]
    cipher = _CIPHERS.get(scheme["algorithm"].native)
    prf = kdf["prf"]["algorithm"].native.removeprefix("hmac_with_")
    if cipher is None or prf not in _HASHES:
        raise UnsupportedError(f"unsupported PBES2 scheme in the PKCS#12 file: "
                               f"{scheme['algorithm'].native} with {prf}")
    iterations = kdf["iteration_count"].native
    _check_iterations(iterations, MAX_PBKDF2_ITERATIONS, "PBKDF2")
    key = PBKDF2HMAC(_HASHES[prf](), cipher[1], kdf["salt"].native,
                     iterations).derive(password or b"")
    decryptor = Cipher(cipher[0](key), modes.CBC(scheme["parameters"].native)).decryptor()
    padded = decryptor.update(info["encrypted_content"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _certificate(value: asn1_x509.Certificate, skipped: list[str]) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(value.dump())
    except ValueError:
        try:
            label = name_text(value.subject)
        except Exception:  # not even asn1crypto reads its name
            label = "(unreadable name)"
        skipped.append(f"certificate {label}, which is not strict X.509 DER")
        return None


def looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` is a PKCS#12 file (a PFX: version 3, data or signed-data inside),
    so that a refusal can say so rather than report the DER a certificate parser met."""
    if not data or data[0] != 0x30:
        return False
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return bool(pfx["version"].native == "v3"
                    and pfx["auth_safe"]["content_type"].native in ("data", "signed_data"))
    except Exception:  # asn1crypto's ValueError, TypeError...: not one
        return False


def read_pkcs12_bags(data: bytes, password: bytes | None) -> PKCS12Contents:
    """Every key and readable certificate of a PKCS#12 file, after checking its MAC.

    :class:`PasswordError` when the MAC does not match the password; :class:`LoadError`
    when the file is not PKCS#12; :class:`UnsupportedError` for legacy encryption schemes.
    """
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        content = pfx["auth_safe"]["content"].native
        safes = asn1_pkcs12.AuthenticatedSafe.load(content)
        infos = list(safes)
    except Exception as exc:  # asn1crypto's ValueError, TypeError...
        raise LoadError(f"not a PKCS#12 file: {exc}") from None
    _check_mac(pfx, content, password)
    keys: list[object] = []
    certs: list[x509.Certificate] = []
    skipped: list[str] = []
    try:
        for info in infos:
            kind = info["content_type"].native
            if kind == "data":
                raw = info["content"].native
            elif kind == "encrypted_data":
                raw = _decrypt(info["content"]["encrypted_content_info"], password)
            else:
                continue
            for bag in asn1_pkcs12.SafeContents.load(raw):
                bag_id, value = bag["bag_id"].native, bag["bag_value"]
                if bag_id in ("pkcs8_shrouded_key_bag", "key_bag"):
                    secret = password if bag_id == "pkcs8_shrouded_key_bag" else None
                    der = value.untag().dump()
                    try:
                        keys.append(serialization.load_der_private_key(der, secret))
                    except (ValueError, TypeError, UnsupportedAlgorithm):
                        skipped.append("a private key of a type or form we cannot read")
                elif bag_id == "cert_bag" and value["cert_id"].native == "x509":
                    cert = _certificate(value["cert_value"].parsed, skipped)
                    if cert is not None:
                        certs.append(cert)
    except (UnsupportedError, PasswordError):
        raise
    except Exception as exc:  # damaged bags: asn1crypto, padding or key loading errors
        raise LoadError(f"cannot read the PKCS#12 file: {exc}") from None
    return PKCS12Contents(tuple(keys), tuple(certs), tuple(skipped))
