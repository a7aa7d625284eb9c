"""Identities (certificate + private key + chain) and certificate loaders.

Users hold ``cryptography`` objects; the CMS layer works on asn1crypto structures. The
helpers here convert between the two and accept every reasonable input: objects, PEM or
DER bytes, PEM text and file paths.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ._cache import LRUCache
from .core.certs import email_addresses
from .core.der import children as der_children
from .core.der import read as der_read
from .core.names import certificate_label, subject_text
from .core.pickling import certificate_der, load_certificate
from .core.pkcs11 import TokenECPrivateKey, TokenRSAPrivateKey, is_pkcs11_uri, open_token_key
from .core.pkcs12 import looks_like_pkcs12, read_pkcs12_bags
from .core.pqkeys import seed_form
from .core.views import card_html, certificate_dict, certificate_facts, key_description
from .errors import LoadError, ParseError, PasswordError, SMIMEWarning, UsageError
from .problems import plain_reason

__all__ = [
    "CertificateLike",
    "Identity",
    "PrivateKey",
    "certificate_defect",
    "certificate_emails",
    "check_identity",
    "load_certificates",
    "load_identity",
    "to_asn1_certificate",
    "to_certificate",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | x25519.X25519PrivateKey
    | mlkem.MLKEM768PrivateKey
    | mlkem.MLKEM1024PrivateKey
    | mldsa.MLDSA44PrivateKey
    | mldsa.MLDSA65PrivateKey
    | mldsa.MLDSA87PrivateKey
)
_PRIVATE_KEY_TYPES = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
    x25519.X25519PrivateKey, mlkem.MLKEM768PrivateKey, mlkem.MLKEM1024PrivateKey,
    mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey, mldsa.MLDSA87PrivateKey,
)
Source: TypeAlias = str | bytes | bytearray | memoryview | os.PathLike[str]
CertificateLike: TypeAlias = (
    x509.Certificate | asn1_x509.Certificate | bytes | str | os.PathLike[str]
)


@dataclass(frozen=True)
class Identity:
    """A certificate, its private key, and the chain certificates sent along with it."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "certificate", to_certificate(self.certificate))
        object.__setattr__(self, "chain", tuple(to_certificate(c) for c in self.chain))
        if not _key_matches(self.key, self.certificate):
            raise LoadError(
                "the private key does not belong to the certificate "
                f"{certificate_label(self.certificate)}"
            )

    # Pickling: for process pools, Dask, Ray. The key travels as unencrypted PKCS#8 DER, so
    # a pickled Identity is as secret as an unencrypted key file (docs/reference/pickling.md).

    def __reduce__(self) -> tuple[Any, ...]:
        key: bytes | PrivateKey = self.key  # a token key pickles as its URI and module
        if not isinstance(self.key, (TokenRSAPrivateKey, TokenECPrivateKey)):
            key = self._exported_key()
        return _unpickle_identity, (
            type(self), certificate_der(self.certificate), key,
            tuple(certificate_der(c) for c in self.chain),
        )

    def _exported_key(self) -> bytes:
        try:
            return self.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        except Exception as exc:  # a hardware (HSM, smart card) key never leaves its device
            raise UsageError(
                f"this Identity cannot be pickled: its private key ({type(self.key).__name__}) "
                "cannot be exported; load the identity in the worker instead (for instance "
                "smime.load_identity(...) in the executor's initializer) and send only what "
                "names it, such as a file path"
            ) from exc

    def __eq__(self, other: object) -> bool:
        """Same certificate and chain; the key is then the same (it must be the
        certificate's), though cryptography's key objects compare by identity."""
        if not isinstance(other, Identity):
            return NotImplemented
        return (self.certificate, self.chain) == (other.certificate, other.chain)

    def __hash__(self) -> int:
        return hash((self.certificate, self.chain))

    def __copy__(self) -> Identity:
        return self  # immutable: no need to export and reload the key

    def __deepcopy__(self, memo: dict[int, Any]) -> Identity:
        return self

    @property
    def email_addresses(self) -> tuple[str, ...]:
        return certificate_emails(self.certificate)

    def __repr__(self) -> str:
        return (f"Identity({certificate_label(self.certificate, short=True)}, "
                f"{key_description(self.certificate)}, chain of {len(self.chain)})")

    def _repr_html_(self) -> str:
        chain = "".join(
            card_html("chain", subject_text(cert), certificate_facts(cert)[1:], opened=False)
            for cert in self.chain
        )
        return card_html("identity", certificate_label(self.certificate, short=True),
                         certificate_facts(self.certificate), chain)

    def to_dict(self) -> dict[str, Any]:
        """Public facts only, JSON-safe: ``certificate`` and ``chain`` (each
        :func:`~smime.core.views.certificate_dict`), ``email_addresses`` and ``key`` (the
        key's kind and size, as ``"RSA 2048"``). Nothing of the private key."""
        return {
            "certificate": certificate_dict(self.certificate),
            "chain": [certificate_dict(c) for c in self.chain],
            "email_addresses": list(self.email_addresses),
            "key": key_description(self.certificate),
        }


def _unpickle_identity(
    cls: type[Identity], cert: bytes, key: bytes | PrivateKey, chain: tuple[bytes, ...]
) -> Identity:
    """The Identity a pickle carries. Its RSA key's consistency was checked where it was
    loaded; checking again costs 0.1-0.5 s a key here, in every worker."""
    if not isinstance(key, bytes):
        return cls(load_certificate(cert), key, tuple(load_certificate(c) for c in chain))
    private_key = serialization.load_der_private_key(
        key, None, unsafe_skip_rsa_key_validation=True
    )
    return cls(load_certificate(cert), _private_key_object(private_key),
               tuple(load_certificate(c) for c in chain))


def check_identity(value: object, what: str = "identity") -> Identity:
    """``value`` when it is an :class:`Identity`, else :class:`~smime.errors.UsageError`."""
    if isinstance(value, (str, bytes, bytearray, memoryview, os.PathLike)):
        shown = os.fsdecode(value) if isinstance(value, (str, os.PathLike)) else "bob.p12"
        if len(shown) > 80 or "\n" in shown:
            shown = "bob.p12"
        raise UsageError(
            f"{what} must be an Identity: load the key file first with "
            f"smime.load_identity({shown!r}, password=...), not {type(value).__name__}"
        )
    if not isinstance(value, Identity):
        raise UsageError.wrong_type(what, value, "an Identity (from smime.load_identity)")
    return value


# ---------------------------------------------------------------------------- reading input


def _read(source: object, what: str) -> bytes:
    """Bytes of ``source``: bytes as they are, text that looks like PEM, else a file path;
    anything else (a caller's set or generator of certificates) is a UsageError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode("ascii", "replace")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise LoadError(
                f"cannot read {what} file {str(path)!r}: {exc.strerror or exc}"
            ) from exc
    raise UsageError.wrong_type(f"the {what}", source, "bytes, PEM text or a path")


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, str):
        return password.encode("utf-8")
    if isinstance(password, (bytes, bytearray, memoryview)):
        return bytes(password)
    raise UsageError.wrong_type("password", password, "str, bytes or None")


# ---------------------------------------------------------------------------- certificates


def to_certificate(value: CertificateLike) -> x509.Certificate:
    """A ``cryptography`` certificate from an object, PEM/DER bytes, PEM text or a path."""
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, asn1_x509.Certificate):
        return _der_to_certificate(value.dump())
    certs = load_certificates(value)
    if len(certs) != 1:
        raise LoadError(f"expected one certificate, found {len(certs)}")
    return certs[0]


def to_asn1_certificate(value: CertificateLike) -> asn1_x509.Certificate:
    """The asn1crypto form, which the CMS layer embeds in structures."""
    if isinstance(value, asn1_x509.Certificate):
        return value
    der = to_certificate(value).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def _der_to_certificate(der: bytes) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # ValueError, and cryptography's InvalidVersion which is not one
        raise LoadError(f"not a valid X.509 certificate: {plain_reason(str(exc))}") from exc
    defect = certificate_defect(cert)
    if defect is not None:
        raise LoadError(f"not a valid X.509 certificate: {defect}")
    return cert


def certificate_defect(cert: x509.Certificate) -> str | None:
    """Why the certificate's extensions cannot be read (a duplicated extension, bad DER in
    one), or None. cryptography parses them on first use, so a certificate that loaded can
    still fail later, far from where it came in; checking here lets that fail closed."""
    try:
        cert.extensions  # noqa: B018 - parsing them is the check (cryptography keeps the result)
    except Exception as exc:  # DuplicateExtension (no ValueError), ValueError...
        return plain_reason(str(exc)) or type(exc).__name__
    return None


def load_certificates(source: Source | Iterable[CertificateLike]) -> list[x509.Certificate]:
    """Certificates from a PEM bundle, a DER certificate, or PKCS#7 certs-only (.p7b/.p7c).

    ``source`` is bytes, PEM text, a path, or a list of any of these (and certificate objects).
    """
    if isinstance(source, (list, tuple)):
        out: list[x509.Certificate] = []
        for item in source:
            if isinstance(item, (x509.Certificate, asn1_x509.Certificate)):
                out.append(to_certificate(item))
            else:
                out.extend(load_certificates(item))
        return out
    data = _read(source, "certificate")
    if asn1_pem.detect(data):
        return _certificates_from_pem(data)
    try:
        return _certificates_from_der(data)
    except LoadError as exc:
        if isinstance(source, (str, os.PathLike)) and str(exc) == PKCS12_NOT_CERTIFICATES:
            raise LoadError(f"{os.fsdecode(source)}: {exc}") from None
        raise


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block as (label, DER); damaged armour or base64 is a LoadError."""
    try:
        return [(kind, der) for kind, _headers, der in asn1_pem.unarmor(data, multiple=True)]
    except (ValueError, TypeError) as exc:  # binascii.Error, UnicodeDecodeError included
        raise LoadError(f"malformed PEM: {exc}") from exc


def _certificates_from_pem(data: bytes) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for kind, der in _pem_blocks(data):
        if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            certs.append(_der_to_certificate(der))
        elif kind in ("PKCS7", "CMS"):
            certs.extend(_certificates_from_der(der))
    if not certs:
        raise LoadError("no certificate found in the PEM data")
    return certs


def _certificates_from_der(der: bytes) -> list[x509.Certificate]:
    if not der or der[0] != 0x30:
        raise LoadError("unknown certificate format: neither PEM nor DER")
    try:
        info = asn1_cms.ContentInfo.load(der)
        if info["content_type"].native == "signed_data":
            signed = info["content"]
            return [
                _der_to_certificate(choice.chosen.dump())
                for choice in signed["certificates"] or []
                if choice.name == "certificate"
            ]
    except (ValueError, TypeError, KeyError):
        pass
    try:
        return [_der_to_certificate(der)]
    except LoadError:
        if looks_like_pkcs12(der):
            raise LoadError(PKCS12_NOT_CERTIFICATES) from None
        raise


#: A PKCS#12 file where certificates were expected: what it is, and what to do instead.
PKCS12_NOT_CERTIFICATES = (
    "this is a PKCS#12 file (.p12/.pfx: a private key with its certificate), not a "
    "certificate file: load it with smime.load_identity(path, password=...) and use its "
    ".certificate, or give the certificate as PEM or DER"
)


def certificate_emails(cert: CertificateLike) -> tuple[str, ...]:
    """Email addresses a certificate names: rfc822Name SANs, then subject emailAddress."""
    c = to_certificate(cert)
    return _EMAILS.get_or_make(c, lambda: email_addresses(c))


#: The addresses of each certificate seen (every verified message reports its signer's).
_EMAILS: LRUCache[tuple[str, ...]] = LRUCache("keys.certificate_emails", 512)


# ---------------------------------------------------------------------------- identities


def _public_bytes(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    try:
        return _public_bytes(key.public_key()) == _public_bytes(cert.public_key())
    except Exception:  # malformed or unsupported public key in the certificate
        return False


#: The key forms read (for the refusal that says what a file is not).
_KEY_FORMS = "PKCS#8, PKCS#1 (RSA) or SEC1 (EC), as PEM or DER"


def _private_key_object(key: object) -> PrivateKey:
    """A cryptography private key object as it is, if it is of a type S/MIME uses here."""
    if not isinstance(key, _PRIVATE_KEY_TYPES):
        raise LoadError(
            f"unsupported private key type {type(key).__name__}: RSA, EC, Ed25519, X25519, "
            "ML-KEM and ML-DSA keys are supported"
        )
    return key


def _readable_pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The PEM blocks of ``data``, none when its armour is damaged (the loader says why)."""
    try:
        return _pem_blocks(data)
    except LoadError:
        return []


def _relabelled(blocks: list[tuple[str, bytes]]) -> bytes | None:
    """The DER of a lone ``BEGIN PRIVATE KEY`` block, for a key in another form under that
    label (Go and OpenSSL read a PKCS#1 RSA key there; load_der_private_key reads it too).
    None when the block is PKCS#8-shaped (its second element an AlgorithmIdentifier): the
    loader already judged it, and judging a damaged RSA key again costs as much again."""
    ders = [der for kind, der in blocks if kind == "PRIVATE KEY"]
    if len(ders) != 1:
        return None
    try:
        top = der_read(ders[0], 0, len(ders[0]), "private key")
        inner = der_children(ders[0], top, "private key")
    except ParseError:
        return None
    if len(inner) > 1 and inner[1].constructed:
        return None
    return ders[0]


def _short_reason(exc: Exception) -> str:
    """cryptography's detail without its generic guesses (format? password? curve?)."""
    text = str(exc)
    _head, found, detail = text.partition("Details: ")
    return plain_reason(detail if found else text).strip() or type(exc).__name__


def _damaged_rsa(ders: list[bytes]) -> bool:
    """An unencrypted RSA key whose CRT numbers disagree, found with a few
    multiplications: OpenSSL's own check would also refuse it, after primality tests that
    take a second or more on a damaged 4096-bit key."""
    if len(ders) != 1:
        return False
    try:
        try:
            info = asn1_keys.PrivateKeyInfo.load(ders[0])
            if info["private_key_algorithm"]["algorithm"].native != "rsa":
                return False
            numbers = info["private_key"].parsed
        except ValueError:
            numbers = asn1_keys.RSAPrivateKey.load(ders[0])
        n, d, p, q, dp, dq, qi = (numbers[name].native for name in (
            "modulus", "private_exponent", "prime1", "prime2", "exponent1", "exponent2",
            "coefficient"))
        if min(p, q) < 2:
            return True
        return bool(n != p * q or dp != d % (p - 1) or dq != d % (q - 1) or qi * q % p != 1)
    except (ValueError, TypeError, KeyError):
        return False  # not an RSA key in these forms: the loader judges it


def _load_private_key(data: bytes, password: bytes | None) -> PrivateKey:
    pem = b"-----BEGIN" in data
    blocks = _readable_pem_blocks(data) if pem else []
    if blocks:
        labels = [kind for kind, _der in blocks]
        if not any("PRIVATE KEY" in label for label in labels):
            found = ", ".join(dict.fromkeys(labels))
            raise LoadError(f"the PEM data holds no private key (it holds {found})")
    loader = (
        serialization.load_pem_private_key
        if pem
        else serialization.load_der_private_key
    )
    if password is None and _damaged_rsa([der for _kind, der in blocks] if pem else [data]):
        raise LoadError("cannot read the private key: it is a damaged RSA key (its numbers "
                        "do not belong together)")
    if password is None:
        seeded = seed_form(data)  # ML-KEM/ML-DSA in the expanded or both forms
        if seeded is not None:
            data, loader = seeded, serialization.load_der_private_key
    try:
        key = loader(data, password)
    except TypeError as exc:
        if password is None:
            raise PasswordError(
                "the private key is encrypted: a password is needed", reason="missing"
            ) from exc
        raise PasswordError(
            "the private key is not encrypted: pass password=None", reason="unencrypted"
        ) from exc
    except ValueError as exc:
        der = _relabelled(blocks)
        if der is not None:
            return _load_private_key(der, password)
        if password is not None:
            raise PasswordError(
                "cannot decrypt the private key: wrong password?", reason="wrong"
            ) from exc
        raise LoadError(
            f"cannot read the private key: the data is not a private key in {_KEY_FORMS}"
            f" ({_short_reason(exc)})"
        ) from exc
    except Exception as exc:  # UnsupportedAlgorithm
        raise LoadError(f"unsupported private key: {exc}") from exc
    return _private_key_object(key)


def _identity_from_pkcs12(data: bytes, password: bytes | None) -> Identity:
    try:
        with warnings.catch_warnings():  # BER-encoded files (older tools) load fine
            warnings.filterwarnings("ignore", message=".*falling back to parsing as BER")
            p12 = pkcs12.load_pkcs12(data, password)
        keys: tuple[object, ...] = () if p12.key is None else (p12.key,)
        certs = ([p12.cert.certificate] if p12.cert else []) + [
            c.certificate for c in p12.additional_certs
        ]
    except ValueError as exc:
        keys, certs = _pkcs12_by_bags(data, password, exc)
    except Exception as exc:  # UnsupportedAlgorithm for exotic PBEs
        raise LoadError(f"cannot open the PKCS#12 file: {exc}") from exc
    if not keys:
        raise LoadError("the PKCS#12 file holds no private key")
    for key in keys:
        if not isinstance(key, PrivateKey):
            continue
        for i, cert in enumerate(certs):
            if _key_matches(key, cert):
                chain = tuple(c for j, c in enumerate(certs) if j != i)
                return Identity(cert, key, chain)
    raise LoadError("the PKCS#12 file holds no certificate for its private key")


def _pkcs12_by_bags(
    data: bytes, password: bytes | None, refused: ValueError
) -> tuple[tuple[object, ...], list[x509.Certificate]]:
    """cryptography refused the whole file: read it bag by bag, skipping (with a warning)
    the certificates it cannot parse, as OpenSSL and Java do."""
    missing = password is None
    try:
        contents = read_pkcs12_bags(data, password)
    except PasswordError:
        if missing:
            raise PasswordError(
                "cannot open the PKCS#12 file: it needs a password", reason="missing"
            ) from refused
        raise PasswordError(
            "cannot open the PKCS#12 file: wrong password", reason="wrong"
        ) from refused
    except LoadError as exc:  # not PasswordError: caught above
        if str(exc).startswith("not a PKCS#12 file"):
            raise LoadError(
                "not a PKCS#12 file, nor PEM: a .p12/.pfx file, or PEM holding the key "
                "and certificate, is needed"
            ) from refused
        raise _pkcs12_password_error(missing) from refused
    for note in contents.skipped:
        warnings.warn(f"skipped {note} in the PKCS#12 file", SMIMEWarning, stacklevel=5)
    return contents.keys, list(contents.certificates)


def _pkcs12_password_error(missing: bool) -> PasswordError:
    """A PKCS#12 file whose content did not decrypt: the password, or damage."""
    if missing:
        return PasswordError(
            "cannot open the PKCS#12 file: it needs a password, or is damaged",
            reason="missing",
        )
    return PasswordError(
        "cannot open the PKCS#12 file: wrong password, or the file is damaged", reason="wrong"
    )


def load_identity(
    source: Source | pkcs12.PKCS12KeyAndCertificates | None = None,
    password: str | bytes | None = None,
    *,
    cert: CertificateLike | None = None,
    key: Source | PrivateKey | None = None,
    chain: Sequence[CertificateLike] | CertificateLike | None = None,
    module: str | os.PathLike[str] | None = None,
    pin: str | bytes | None = None,
    certificate: CertificateLike | None = None,
) -> Identity:
    """Load a signing/decryption identity.

    ``load_identity("alice.p12", password="secret")`` reads PKCS#12;
    ``load_identity(cert="alice.pem", key="alice.key", chain=["ca.pem"])`` reads PEM/DER
    files or bytes (encrypted keys take ``password``). A PEM file holding both the key and
    certificate can be passed as ``source``. Objects work too: ``cert=`` a certificate
    object with ``key=`` its cryptography private key, or ``source=`` what cryptography's
    ``pkcs12.load_pkcs12`` returned.

    ``load_identity("pkcs11:token=HR;object=alice", module="/usr/lib/softhsm/libsofthsm2.so",
    pin="1234")`` uses a key on a PKCS#11 token (RFC 7512 URI): the key never leaves it;
    the certificate is the token's (same CKA_ID), or ``certificate=`` (a path or object).
    The PIN is ``pin`` (or ``password``), else the URI's pin-value or pin-source.
    """
    extra: list[x509.Certificate] = []
    if chain is not None:
        items = chain if isinstance(chain, (list, tuple)) else [chain]
        extra = load_certificates(list(items))
    if is_pkcs11_uri(source):
        if key is not None:
            raise UsageError("a PKCS#11 URI names the key: pass no key=")
        return _identity_from_token(str(source), module, pin if pin is not None else password,
                                    certificate if certificate is not None else cert, extra)
    if module is not None or pin is not None or certificate is not None:
        raise UsageError("module=, pin= and certificate= go with a pkcs11: URI as the source")
    pw = _password_bytes(password)
    if source is not None:
        if cert is not None or key is not None:
            raise UsageError("pass either a PKCS#12/PEM source or cert= and key=, not both")
        if isinstance(source, pkcs12.PKCS12KeyAndCertificates):
            identity = _identity_from_loaded_pkcs12(source)
            return Identity(identity.certificate, identity.key, identity.chain + tuple(extra))
        data = _read(source, "identity")
        if asn1_pem.detect(data):
            identity = _identity_from_pem(data, pw)
        else:
            identity = _identity_from_pkcs12(data, pw)
        return Identity(identity.certificate, identity.key, identity.chain + tuple(extra))
    if cert is None or key is None:
        raise UsageError("load_identity needs a PKCS#12 file, or both cert= and key=")
    certs = load_certificates([cert])
    if isinstance(key, (str, bytes, bytearray, memoryview, os.PathLike)):
        private_key = _load_private_key(_read(key, "private key"), pw)
    elif hasattr(key, "public_key"):
        private_key = _private_key_object(key)  # a cryptography key object
    else:
        raise UsageError.wrong_type(
            "the private key", key,
            "a cryptography private key, PEM/DER bytes, PEM text or a path",
        )
    return _match(private_key, certs, extra)


def _identity_from_token(
    uri: str,
    module: str | os.PathLike[str] | None,
    pin: str | bytes | None,
    certificate: CertificateLike | None,
    extra: list[x509.Certificate],
) -> Identity:
    """The identity of a key on a PKCS#11 token, with its certificate from the token or
    ``certificate``."""
    given = load_certificates([certificate]) if certificate is not None else []
    key, certs = open_token_key(uri, module=module, pin=pin, certificates=given)
    if not certs:
        raise LoadError(f"the token holds no certificate for the key {uri.split('?')[0]}: "
                        "pass certificate= (a path or object)")
    return _match(key, certs, extra)


def _identity_from_loaded_pkcs12(p12: pkcs12.PKCS12KeyAndCertificates) -> Identity:
    """An identity from what ``cryptography``'s ``pkcs12.load_pkcs12`` returned."""
    if p12.key is None:
        raise LoadError("the PKCS#12 data holds no private key")
    certs = ([p12.cert.certificate] if p12.cert else []) + [
        c.certificate for c in p12.additional_certs
    ]
    return _match(_private_key_object(p12.key), certs, [])


def _identity_from_pem(data: bytes, password: bytes | None) -> Identity:
    key_blocks = [(kind, der) for kind, der in _pem_blocks(data) if "PRIVATE KEY" in kind]
    if not key_blocks:
        raise LoadError("the PEM data holds no private key")
    key = _load_private_key(data, password)
    return _match(key, _certificates_from_pem(data), [])


def _match(
    key: PrivateKey, certs: list[x509.Certificate], extra: list[x509.Certificate]
) -> Identity:
    for i, cert in enumerate(certs):
        if _key_matches(key, cert):
            others = [c for j, c in enumerate(certs) if j != i]
            return Identity(cert, key, tuple(others + extra))
    if certs:
        raise LoadError("the private key does not belong to the certificate "
                        f"{certificate_label(certs[0])}")
    raise LoadError("no certificate given for the private key")
