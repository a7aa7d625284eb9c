"""Recipients of enveloped data: who may open it, and RSA key transport (RFC 5652 6.2.1).

A :class:`RecipientSpec` names a certificate and how to reach it. Certificates whose key
cannot encrypt, or may not (key usage, validity), are refused with ``CertificateError``
before anything is written. Key agreement (EC, X25519) lives in ``_kari``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..algorithms import DIGESTS, ID_ORI_KEM_OID, oid_name
from ..core.certs import check_can_receive, subject_key_identifier
from ..core.names import certificate_label, name_text
from ..errors import CertificateError, UnsupportedError
from ..keys import CertificateLike, to_asn1_certificate, to_certificate
from ..options import IDENTIFY_BY, KEY_TRANSPORTS, IdentifyBy, KeyTransportName, check_option
from . import _schema

__all__ = [
    "IDENTIFY_BY",
    "Matcher",
    "RecipientSpec",
    "RecipientSummary",
    "build_ktri",
    "check_recipient_certificate",
    "ktri_padding",
    "open_ktri",
    "recipient_id",
    "summarize",
]

@dataclass(frozen=True)
class RecipientSpec:
    """One recipient: a certificate, the RSA padding for it, and how to name it in the message.

    ``key_transport`` applies to RSA certificates only (EC and X25519 use key agreement).
    ``check_usage=False`` skips the key-usage, extended-key-usage and validity-period
    checks, never the check that the key can encrypt at all.
    """

    certificate: x509.Certificate
    key_transport: KeyTransportName = "rsa-oaep"
    identify_by: IdentifyBy = "issuer_and_serial"
    check_usage: bool = True

    def __post_init__(self) -> None:
        cert: CertificateLike = self.certificate
        object.__setattr__(self, "certificate", to_certificate(cert))
        check_option("key_transport", self.key_transport, KEY_TRANSPORTS)
        check_option("identify_by", self.identify_by, IDENTIFY_BY)


@dataclass(frozen=True)
class RecipientSummary:
    """What a RecipientInfo says without any key: for inspection and error messages.

    ``kind``: key_transport | key_agreement | kem | kek | password | other. ``identifier``:
    the issuer DN and serial (hex), or the subject key identifier (hex). ``algorithm``: the
    key transport or key agreement scheme or KEM (``rsa-oaep``, ``ecdh-sha256kdf``,
    ``ml-kem-768``...); ``key_wrap``: the key-wrap algorithm of key agreement, KEM and KEK
    recipients.
    """

    kind: str
    identifier: str
    algorithm: str
    issuer: str | None = None
    serial: int | None = None
    ski: str | None = None
    key_wrap: str | None = None


# ---------------------------------------------------------------------------- certificates


def check_recipient_certificate(cert: x509.Certificate, check_usage: bool = True) -> str:
    """The key-management kind for ``cert`` ("rsa", "ecdh", "x25519"), or CertificateError.

    The rule is :func:`smime.core.certs.receive_problem`, the one the certificate store asks.
    """
    return check_can_receive(cert, check_usage=check_usage)


def recipient_id(spec: RecipientSpec) -> tuple[str, object]:
    """(choice name, value) naming the recipient's certificate in the message."""
    if spec.identify_by == "subject_key_identifier":
        ski = subject_key_identifier(spec.certificate)
        if ski is None:
            raise CertificateError(
                f"certificate {certificate_label(spec.certificate)} has no subject key "
                "identifier: use identify_by='issuer_and_serial'"
            )
        return "subject_key_identifier", ski
    a = to_asn1_certificate(spec.certificate)
    return "issuer_and_serial_number", cms.IssuerAndSerialNumber(
        {"issuer": a.issuer, "serial_number": a.serial_number}
    )


@dataclass(frozen=True)
class Matcher:
    """The decrypting identity's certificate, as recipient identifiers name it."""

    issuer: asn1_x509.Name
    serial: int
    ski: bytes | None

    @classmethod
    def of(cls, cert: x509.Certificate) -> Matcher:
        a = to_asn1_certificate(cert)
        return cls(a.issuer, a.serial_number, subject_key_identifier(cert))

    def named_by(
        self, choice: cms.RecipientIdentifier | cms.KeyAgreementRecipientIdentifier
    ) -> bool:
        value = choice.chosen
        try:
            if choice.name == "issuer_and_serial_number":
                return bool(
                    value["serial_number"].native == self.serial and value["issuer"] == self.issuer
                )
        except ValueError:  # asn1crypto's name comparison rejects prohibited characters
            return False
        if choice.name == "r_key_id":  # asn1crypto defines two RecipientKeyIdentifier classes
            value = value["subject_key_identifier"]
        return self.ski is not None and value.native == self.ski


# ---------------------------------------------------------------------------- key transport


def build_ktri(spec: RecipientSpec, cek: bytes) -> cms.RecipientInfo:
    key = spec.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    choice, value = recipient_id(spec)
    if spec.key_transport == "rsa-oaep":
        pad: padding.AsymmetricPadding = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        algorithm = {
            "algorithm": "rsaes_oaep",
            "parameters": {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            },
        }
    else:
        pad, algorithm = padding.PKCS1v15(), {"algorithm": "rsaes_pkcs1v15"}
    return _schema.RecipientInfo(
        name="ktri",
        value={
            "version": "v0" if choice == "issuer_and_serial_number" else "v2",
            "rid": cms.RecipientIdentifier(name=choice, value=value),
            "key_encryption_algorithm": algorithm,
            "encrypted_key": key.encrypt(cek, pad),
        },
    )


def ktri_padding(ktri: cms.KeyTransRecipientInfo) -> tuple[str, padding.AsymmetricPadding]:
    """Our name and cryptography's padding for a KTRI's algorithm; UnsupportedError if unknown."""
    alg = ktri["key_encryption_algorithm"]
    name = alg["algorithm"].native
    if name == "rsaes_pkcs1v15":
        return "rsa-pkcs1v15", padding.PKCS1v15()
    if name == "rsaes_oaep":
        params = alg["parameters"]
        digest = _hash(params["hash_algorithm"])
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise UnsupportedError(f"unsupported OAEP mask generation {mgf['algorithm'].dotted}")
        mgf_hash = _hash(mgf["parameters"])
        label = params["p_source_algorithm"]["parameters"].native
        if label is not None and not isinstance(label, bytes):
            raise UnsupportedError("unsupported OAEP label source")
        return "rsa-oaep", padding.OAEP(padding.MGF1(mgf_hash), digest, label or None)
    raise UnsupportedError(
        f"unsupported key transport algorithm {alg['algorithm'].dotted} "
        f"({oid_name(alg['algorithm'].dotted)})"
    )


_OAEP_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")


def _hash(identifier: object) -> hashes.HashAlgorithm:
    """The hash an OAEP AlgorithmIdentifier names (SHA-1 and SHA-2 only)."""
    if not isinstance(identifier, algos.DigestAlgorithm):
        raise UnsupportedError("unsupported OAEP parameters: no hash algorithm named")
    oid = identifier["algorithm"].dotted
    for name in _OAEP_HASHES:
        if DIGESTS[name].oid == oid:
            return DIGESTS[name].hash()
    raise UnsupportedError(f"unsupported OAEP hash {oid} ({oid_name(oid)})")


def open_ktri(
    ktri: cms.KeyTransRecipientInfo, key: rsa.RSAPrivateKey, key_length: int
) -> tuple[bytes, bool]:
    """The content key, and whether it is genuine.

    Any failure (bad padding, wrong length) yields a random key of the right length instead,
    so the caller goes on to decrypt the content as if nothing happened: a padding failure
    must not be told apart from a content failure (Bleichenbacher). With OpenSSL 3.2+ the
    PKCS#1 v1.5 decryption already returns a pseudo-random message on bad padding (implicit
    rejection); the length check catches that too.
    """
    _name, pad = ktri_padding(ktri)
    try:
        cek = key.decrypt(ktri["encrypted_key"].native, pad)
    except ValueError:
        cek = b""
    if len(cek) != key_length:
        return os.urandom(key_length), False
    return cek, True


# ---------------------------------------------------------------------------- inspection


def _identify(
    choice: cms.RecipientIdentifier | cms.KeyAgreementRecipientIdentifier,
) -> tuple[str, str | None, int | None, str | None]:
    """(identifier text, issuer, serial, ski hex) for a recipient identifier."""
    value = choice.chosen
    if choice.name == "issuer_and_serial_number":
        issuer = name_text(value["issuer"])
        serial = int(value["serial_number"].native)
        return f"{issuer} serial {serial:x}", issuer, serial, None
    if choice.name == "r_key_id":
        value = value["subject_key_identifier"]
    ski = bytes(value.native)
    return f"subject key identifier {ski.hex()}", None, None, ski.hex()


def summarize(ri: cms.RecipientInfo) -> list[RecipientSummary]:
    """One summary per recipient key (a KARI can serve several)."""
    info = ri.chosen
    if ri.name == "ktri":
        text, issuer, serial, ski = _identify(info["rid"])
        oid = info["key_encryption_algorithm"]["algorithm"].dotted
        return [RecipientSummary("key_transport", text, oid_name(oid), issuer, serial, ski)]
    if ri.name == "kari":
        alg = info["key_encryption_algorithm"]
        scheme = oid_name(alg["algorithm"].dotted)
        wrap = _wrap_name(alg)
        out = []
        for rek in info["recipient_encrypted_keys"]:
            text, issuer, serial, ski = _identify(rek["rid"])
            out.append(RecipientSummary("key_agreement", text, scheme, issuer, serial, ski, wrap))
        return out
    if ri.name == "kekri":
        kid = info["kekid"]["key_identifier"].native
        alg = oid_name(info["key_encryption_algorithm"]["algorithm"].dotted)
        return [RecipientSummary("kek", f"key identifier {kid.hex()}", alg, key_wrap=alg)]
    if ri.name == "pwri":
        alg = oid_name(info["key_encryption_algorithm"]["algorithm"].dotted)
        return [RecipientSummary("password", "password", alg)]
    oid = info["ori_type"].dotted
    if oid == ID_ORI_KEM_OID:
        kemri = info["ori_value"]
        text, issuer, serial, ski = _identify(kemri["rid"])
        kem = oid_name(kemri["kem"]["algorithm"].dotted)
        wrap = oid_name(kemri["wrap"]["algorithm"].dotted)
        return [RecipientSummary("kem", text, kem, issuer, serial, ski, wrap)]
    return [RecipientSummary("other", f"other recipient info {oid}", oid)]


def _wrap_name(alg: cms.KeyEncryptionAlgorithm) -> str | None:
    params = alg["parameters"]
    if isinstance(params, cms.KeyEncryptionAlgorithm):
        return oid_name(params["algorithm"].dotted)
    return None
