"""The signer's certificate and public key, as far as the message and the caller provide.

Certificates are taken as received (their original DER): a re-encoding might differ from
what the issuer signed. DSA keys may inherit p, q and g from the issuer (RFC 3279
section 2.3.2), which the cryptography library cannot load on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from .._cache import LRUCache
from ..algorithms import ID_DSA_OID, OCSP_RESPONSE_OID
from ..core.der import public_key_bits
from ..core.names import name_text
from ..keys import certificate_defect
from ..problems import Problem, ProblemCode
from ._schema import ContentInfo

__all__ = [
    "Cert",
    "Received",
    "SignerIdentifier",
    "find_certificate",
    "inherits_dsa_parameters",
    "public_key",
]


@dataclass(frozen=True)
class Received:
    """Pieces of a SignedData exactly as received, from a lazy parse of the input.

    The full parse (``load_content_info``) walks every value, which makes asn1crypto fill in
    DEFAULT fields and then re-encode what encloses them; these bytes are the originals.
    Signed attributes are given as the SET OF that was signed: the [0] IMPLICIT tag read as
    SET (0x31), and a BER indefinite length re-encoded as DER (RFC 5652 section 5.4).
    """

    signed_attributes: tuple[bytes | None, ...]  # per SignerInfo, None without attributes
    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    ocsp_responses: tuple[bytes, ...]

    @classmethod
    def read(cls, data: bytes) -> Received:
        return cls.of(ContentInfo.load(data, strict=False)["content"])

    @classmethod
    def of(cls, signed: asn1_cms.SignedData) -> Received:
        """From a SignedData loaded lazily and not yet walked (its encodings are original)."""
        attributes: list[bytes | None] = []
        for si in signed["signer_infos"]:
            attrs = si["signed_attrs"]
            attributes.append(
                None if isinstance(attrs, asn1_core.Void) else b"\x31" + attrs.dump()[1:]
            )
        certificates = [
            choice.chosen.dump() for choice in signed["certificates"] or ()
            if choice.name == "certificate"
        ]
        crls, ocsp = [], []
        for choice in signed["crls"] or ():
            if choice.name == "crl":
                crls.append(choice.chosen.dump())
            elif choice.chosen["other_rev_info_format"].dotted == OCSP_RESPONSE_OID:
                ocsp.append(choice.chosen["other_rev_info"].dump())
        return cls(tuple(attributes), tuple(certificates), tuple(crls), tuple(ocsp))


@dataclass(frozen=True)
class _Loaded:
    """What cryptography makes of one certificate's DER, read once: the same signers
    write again and again. ``key`` is None when cryptography cannot load the key alone."""

    crypto: x509.Certificate | None  # None when cryptography refuses it
    error: str | None = None
    serial: int = 0
    issuer: bytes = b""  # the issuer Name as cryptography encodes it
    key: CertificatePublicKeyTypes | None = None  # any kind: key_mismatch names a wrong one


@dataclass
class Cert:
    """A certificate both ways: asn1crypto for matching, cryptography for the caller.

    The asn1crypto form is loaded from ``der`` when first read: the common signer is
    matched and its key taken through ``loaded`` (cryptography's, cached) alone."""

    der: bytes
    crypto: x509.Certificate | None  # None when cryptography refuses it
    from_message: bool
    error: str | None = None
    loaded: _Loaded | None = None
    _asn1: asn1_x509.Certificate | None = None

    @property
    def asn1(self) -> asn1_x509.Certificate:
        if self._asn1 is None:
            self._asn1 = asn1_x509.Certificate.load(self.der)
        return self._asn1

    @classmethod
    def from_der(cls, der: bytes, *, from_message: bool) -> Cert:
        loaded = _LOADED.get_or_make(der, lambda: _load(der))
        return cls(der, loaded.crypto, from_message, error=loaded.error, loaded=loaded)

    @classmethod
    def checked(cls, der: bytes, crypto: x509.Certificate, from_message: bool) -> Cert:
        """A certificate whose extensions cannot be read is kept for matching only: it
        signs nothing and chains nothing (it fails closed)."""
        defect = certificate_defect(crypto)
        if defect is not None:
            return cls(der, None, from_message, error=defect)
        return cls(der, crypto, from_message)


@dataclass(frozen=True)
class SignerIdentifier:
    """How a SignerInfo names its certificate (RFC 5652 section 5.3): the issuer's Name (DER)
    and serial number, or a subject key identifier. Lets a caller look the certificate up
    elsewhere (a certificate store) when the message does not carry it."""

    issuer: bytes | None = None
    serial_number: int | None = None
    key_identifier: bytes | None = None

    @classmethod
    def read(cls, sid: asn1_cms.SignerIdentifier) -> SignerIdentifier:
        if sid.name == "issuer_and_serial_number":
            return cls(issuer=sid.chosen["issuer"].dump(),
                       serial_number=sid.chosen["serial_number"].native)
        return cls(key_identifier=bytes(sid.chosen.native))

    def matches(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is the certificate this names (names compared as RFC 5280 says)."""
        asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        if self.key_identifier is not None:
            return _key_identifier(asn1) == self.key_identifier
        if self.issuer is None or cert.serial_number != self.serial_number:
            return False
        return _same_name(asn1["tbs_certificate"]["issuer"], asn1_x509.Name.load(self.issuer))
#: Certificates as cryptography loaded them, by DER.
_LOADED: LRUCache[_Loaded] = LRUCache("cms.loaded_certificates", 512)


def _load(der: bytes) -> _Loaded:
    """The certificate, or why cryptography refuses it (extensions too: a certificate whose
    extensions cannot be read signs and chains nothing)."""
    try:
        crypto = x509.load_der_x509_certificate(der)
    except Exception as exc:  # ValueError, InvalidVersion...: whatever cryptography refuses
        return _Loaded(None, str(exc))
    defect = certificate_defect(crypto)
    if defect is not None:
        return _Loaded(None, defect)
    key: CertificatePublicKeyTypes | None = None
    if crypto.public_key_algorithm_oid.dotted_string != ID_DSA_OID:  # DSA may inherit p, q, g
        try:
            key = crypto.public_key()
        except (ValueError, UnsupportedAlgorithm):
            key = None  # the asn1crypto route in public_key() says why
    return _Loaded(crypto, None, crypto.serial_number, crypto.issuer.public_bytes(), key)


def find_certificate(sid: asn1_cms.SignerIdentifier, certs: list[Cert]) -> Cert | None:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        issuer_der = issuer.dump()
        for cert in certs:
            loaded = cert.loaded
            if loaded is not None and loaded.crypto is not None:  # no asn1crypto parse
                if loaded.serial != serial:
                    continue
                if loaded.issuer == issuer_der:
                    return cert
            tbs = cert.asn1["tbs_certificate"]
            if tbs["serial_number"].native == serial and _same_name(tbs["issuer"], issuer):
                return cert
        return None
    wanted = bytes(sid.chosen.native)
    for cert in certs:
        if _key_identifier(cert.asn1) == wanted:
            return cert
    return None


def _same_name(a: asn1_x509.Name, b: asn1_x509.Name) -> bool:
    """Identical encodings match at once; otherwise RFC 5280 comparison (slow: string prep)."""
    return bool(a.dump() == b.dump() or a == b)


def _key_identifier(cert: asn1_x509.Certificate) -> bytes:
    """The subjectKeyIdentifier, or RFC 5280's method 1 (SHA-1 of the key) when absent."""
    ski = cert.key_identifier
    if ski is not None:
        return bytes(ski)
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    h = hashes.Hash(hashes.SHA1())
    h.update(public_key_bits(spki.dump()))
    return h.finalize()


def inherits_dsa_parameters(cert: asn1_x509.Certificate) -> bool:
    algorithm = cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]
    return bool(
        algorithm["algorithm"].dotted == ID_DSA_OID
        and isinstance(algorithm["parameters"], (asn1_core.Void, asn1_core.Null))
    )


def public_key(found: Cert, certs: list[Cert]) -> CertificatePublicKeyTypes | Problem:
    """The signer's key, or why it cannot be had. DSA keys may inherit p, q, g (RFC 3279)."""
    if found.loaded is not None and found.loaded.key is not None:
        return found.loaded.key  # cryptography's; the asn1crypto route below explains failures
    crypto = found.crypto  # a certificate given as an object (extra certificates)
    if crypto is not None and crypto.public_key_algorithm_oid.dotted_string != ID_DSA_OID:
        try:
            return crypto.public_key()
        except (ValueError, UnsupportedAlgorithm):
            pass  # the asn1crypto route below says why
    if inherits_dsa_parameters(found.asn1):
        key = _inherited_dsa_key(found.asn1, certs)
        if key is not None:
            return key
        issuer = name_text(found.asn1["tbs_certificate"]["issuer"], readable=True)
        return Problem(ProblemCode.MISSING_CERTIFICATE,
                       "the signer's DSA key takes its parameters from its issuer's certificate "
                       f"({issuer}), which is neither in the message nor among the extra "
                       "certificates")
    spki = found.asn1["tbs_certificate"]["subject_public_key_info"]
    try:
        loaded = serialization.load_der_public_key(spki.dump())
    except (ValueError, UnsupportedAlgorithm) as exc:
        return Problem(ProblemCode.UNSUPPORTED_ALGORITHM,
                       f"the signer's public key cannot be used: {exc}")
    if isinstance(loaded, dh.DHPublicKey):  # loadable from an SPKI, but it does not sign
        return Problem(ProblemCode.UNSUPPORTED_ALGORITHM,
                       "the signer's public key cannot be used: a Diffie-Hellman key does not sign")
    return loaded


def _inherited_dsa_key(cert: asn1_x509.Certificate, certs: list[Cert]) -> dsa.DSAPublicKey | None:
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    issuer = cert["tbs_certificate"]["issuer"]
    for candidate in certs:
        ca_spki = candidate.asn1["tbs_certificate"]["subject_public_key_info"]
        params = ca_spki["algorithm"]["parameters"]
        if (candidate.asn1["tbs_certificate"]["subject"] == issuer
                and ca_spki["algorithm"]["algorithm"].dotted == ID_DSA_OID
                and isinstance(params, asn1_keys.DSAParams)):
            numbers = dsa.DSAParameterNumbers(
                params["p"].native, params["q"].native, params["g"].native
            )
            try:
                return dsa.DSAPublicNumbers(spki["public_key"].parsed.native, numbers).public_key()
            except (ValueError, UnsupportedAlgorithm):
                return None
    return None


