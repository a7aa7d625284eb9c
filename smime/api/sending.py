"""The sending side: sign, encrypt, compress, export certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from email.message import EmailMessage, Message
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .. import algorithms, mime
from ..cms import (
    RecipientSpec,
    SignerSpec,
    content_kind,
    create_certs_only,
    create_compressed_data,
    create_enveloped_data,
    create_signed_data,
    read_certs_only,
)
from ..errors import ParseError, UsageError
from ..keys import Identity, Source
from ..keys import load_certificates as _load_certificate_files
from ..options import (
    IDENTIFY_BY,
    CipherChoice,
    DigestName,
    IdentifyBy,
    KeyTransportChoice,
    SignaturePadding,
)
from ._input import MessageInput, RecipientInput, identities, recipient_certificates

if TYPE_CHECKING:
    from ..store import CertificateStore

__all__ = ["compress", "encrypt", "export_certificates", "load_certificates", "sign"]



def _entity_input(message: MessageInput) -> bytes | str | Message:
    """What prepare_entity takes; bytes stay bytes, so plain mail skips the email parser."""
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    if isinstance(message, mime.WireMessage) and not message.parsed:
        return message.as_bytes()  # what we built: its bytes, without parsing it
    return message


def _micalg(specs: Sequence[SignerSpec]) -> str:
    names: list[str] = []
    for spec in specs:
        digest = (
            "sha512" if isinstance(spec.identity.key, ed25519.Ed25519PrivateKey) else spec.digest
        )
        micalg = algorithms.DIGESTS[digest].micalg
        if micalg not in names:
            names.append(micalg)
    return ",".join(names)


def sign(
    message: MessageInput,
    signers: Identity | Sequence[Identity],
    *,
    detached: bool = True,
    digest: DigestName = "sha256",
    signature_padding: SignaturePadding = "pkcs1v15",
    include_chain: bool = True,
    identify_by: IdentifyBy = "issuer_and_serial",
    signed_attributes: bool = True,
    encryption_certificate: x509.Certificate | None = None,
    signing_time: dt.datetime | None = None,
) -> EmailMessage:
    """Sign ``message`` (RFC 8551): multipart/signed when ``detached``, else opaque signed-data.

    The content is put in canonical, 7-bit-safe form first, so relays cannot break the
    signature; outer headers (From, To, Subject, ...) stay outside. Several identities
    make one SignedData with several signers. Ed25519 signers always digest with SHA-512
    (RFC 8419).
    """
    algorithms.check_option("digest", digest, algorithms.SIGNING_DIGESTS)
    algorithms.check_option("signature_padding", signature_padding, algorithms.SIGNATURE_PADDINGS)
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    specs = [
        SignerSpec(
            identity=identity,
            digest=digest,
            padding=signature_padding
            if isinstance(identity.key, rsa.RSAPrivateKey)
            else "pkcs1v15",
            identify_by=identify_by,
            include_chain=include_chain,
            signed_attributes=signed_attributes,
            encryption_certificate=encryption_certificate,
        )
        for identity in identities(signers)
    ]
    if signature_padding == "pss" and not any(
        isinstance(s.identity.key, rsa.RSAPrivateKey) for s in specs
    ):
        algorithms.check_option(
            "signature_padding (for non-RSA keys)", signature_padding, ("pkcs1v15",)
        )
    prepared = mime.prepare_entity(_entity_input(message))
    der = create_signed_data(prepared.entity, specs, detached=detached, signing_time=signing_time)
    if detached:
        return mime.build_multipart_signed(
            prepared.entity, der, micalg=_micalg(specs), outer_headers=prepared.outer_headers
        )
    return mime.build_pkcs7_mime(
        der, smime_type="signed-data", outer_headers=prepared.outer_headers
    )


def _supports(caps: Sequence[str] | None, name: str) -> bool:
    return caps is not None and name in caps


def _capabilities_for(
    cert: x509.Certificate,
    address: str | None,
    capabilities: Sequence[str] | Mapping[str, Sequence[str]] | None,
    store: CertificateStore | None,
) -> tuple[str, ...] | None:
    """What a recipient is known to support: given by the caller, or harvested in the store."""
    from ..keys import certificate_emails

    addresses = [address] if address else list(certificate_emails(cert))
    if isinstance(capabilities, Mapping):
        for a in addresses:
            if a in capabilities:
                return tuple(capabilities[a])
    elif capabilities is not None:
        return tuple(capabilities)
    if store is not None:
        for a in addresses:
            found = store.capabilities(a)
            if found:
                return found
    return None


def encrypt(
    message: MessageInput,
    recipients: RecipientInput | Sequence[RecipientInput],
    *,
    cipher: CipherChoice = "auto",
    key_transport: KeyTransportChoice = "auto",
    identify_by: IdentifyBy = "issuer_and_serial",
    capabilities: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    store: CertificateStore | None = None,
    check_usage: bool = True,
) -> EmailMessage:
    """Encrypt ``message`` for every recipient (certificates, PEM/DER, paths, or addresses).

    ``cipher="auto"`` picks AES-256-GCM (AuthEnvelopedData) only when every recipient is
    known to support it — from ``capabilities`` or the SMIMECapabilities harvested in
    ``store`` — and AES-256-CBC otherwise, because Outlook and Thunderbird on NSS 3.87
    cannot open authEnveloped-data (RFC 8551 §2.7.1: use what the recipient announced).
    ``key_transport="auto"`` likewise uses RSA-OAEP only for RSA recipients who announced
    it, else PKCS#1 v1.5, the one every client reads. Addresses are resolved through
    ``store`` (a :class:`~smime.CertificateStore`).
    """
    algorithms.check_option("cipher", cipher, ("auto", *algorithms.WRITABLE_CIPHERS))
    algorithms.check_option("key_transport", key_transport, ("auto", *algorithms.KEY_TRANSPORTS))
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    found = recipient_certificates(recipients, store)
    known = [_capabilities_for(cert, address, capabilities, store) for cert, address in found]
    if cipher == "auto":
        cipher = "aes-256-gcm" if all(_supports(c, "aes-256-gcm") for c in known) else "aes-256-cbc"
    specs = []
    for (cert, _address), caps in zip(found, known, strict=False):
        transport = key_transport
        if transport == "auto":
            transport = "rsa-oaep" if _supports(caps, "rsa-oaep") else "rsa-pkcs1v15"
        specs.append(
            RecipientSpec(
                certificate=cert,
                key_transport=transport,
                identify_by=identify_by,
                check_usage=check_usage,
            )
        )
    prepared = mime.prepare_entity(_entity_input(message))
    headers = prepared.outer_headers
    der = create_enveloped_data(prepared.entity, specs, cipher=cipher)
    del prepared  # a large message: let the plaintext go before base64 doubles the size
    smime_type = (
        "authEnveloped-data" if algorithms.CIPHERS[cipher].authenticated else "enveloped-data"
    )
    return mime.build_pkcs7_mime(der, smime_type=smime_type, outer_headers=headers)


def compress(message: MessageInput) -> EmailMessage:
    """Wrap ``message`` in RFC 3274 compressed-data (zlib)."""
    prepared = mime.prepare_entity(_entity_input(message))
    der = create_compressed_data(prepared.entity)
    return mime.build_pkcs7_mime(
        der,
        smime_type="compressed-data",
        outer_headers=prepared.outer_headers,
        filename="smime.p7z",
    )


def export_certificates(
    certificates: Sequence[x509.Certificate] | x509.Certificate,
    *,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A certs-only message (``smime.p7c``): how a certificate travels by mail."""
    if isinstance(certificates, x509.Certificate):
        certs = [certificates]
    elif isinstance(certificates, (list, tuple)):
        certs = list(certificates)
    else:
        raise UsageError.wrong_type(
            "certificates", certificates, "an x509.Certificate or a list of certificates"
        )
    loaded = _load_certificate_files(certs)
    der = create_certs_only(loaded)
    return mime.build_pkcs7_mime(
        der,
        smime_type="certs-only",
        outer_headers=tuple((headers or {}).items()),
        filename="smime.p7c",
    )


def load_certificates(source: Source | Sequence[object] | MessageInput) -> list[x509.Certificate]:
    """Certificates from PEM, DER, PKCS#7 certs-only (.p7b/.p7c), or a certs-only message."""
    if isinstance(source, (bytes, bytearray, memoryview, str)) or hasattr(source, "__fspath__"):
        data = source
        if not isinstance(source, (bytes, bytearray, memoryview)) and "-----BEGIN" not in str(
            source
        ):
            try:
                data = Path(source).read_bytes()  # read once; the loader below takes the bytes
            except OSError:
                data = source  # the loader names the file it cannot read
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            if _is_mime(data):
                return _certificates_from_message(data)
        return _load_certificate_files(data)
    if hasattr(source, "get_content_type"):
        return _certificates_from_message(source)  # type: ignore[arg-type]
    return _load_certificate_files(source)


def _is_mime(data: bytes) -> bool:
    head = data[:4096].lower()
    return b"content-type:" in head and b"pkcs7" in head


def _certificates_from_message(message: MessageInput) -> list[x509.Certificate]:
    part = mime.find_smime_part(message)
    if part is None or part.der is None:
        raise ParseError("no PKCS#7 certificates found in the message")
    kind = content_kind(part.der)
    if kind.layer != "signed":
        raise ParseError(f"expected a certs-only (signed-data) message, found {kind.name}")
    return read_certs_only(part.der)
