"""The sending side: sign, encrypt, compress, export certificates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage, Message
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, rsa

from .. import algorithms, cms, mime
from .._log import Lazy
from .._log import api as _LOG
from ..core.cmsfile import to_pem
from ..core.names import certificate_label
from ..errors import ParseError, UsageError
from ..keys import Identity, Source
from ..keys import load_certificates as _load_certificate_files
from ..options import IDENTIFY_BY, WIRE_FORMATS, CipherName, WireFormat, check_option
from . import keywords
from ._input import MessageInput, RecipientInput, identities, recipient_certificates

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..store import CertificateSource

__all__ = ["compress", "encrypt", "export_certificates", "load_certificates", "sign"]



def _entity_input(message: MessageInput) -> bytes | str | Message:
    """What prepare_entity takes; bytes stay bytes, so plain mail skips the email parser.
    A path or file object is read here (:func:`smime.mime.input_bytes`, the one rule)."""
    if isinstance(message, mime.WireMessage) and not message.parsed:
        return message.as_bytes()  # what we built: its bytes, without parsing it
    if isinstance(message, (str, bytes, Message)):
        return message
    return mime.input_bytes(message)


#: Keys that sign with SHA-512 whatever digest was asked for (RFC 8419, RFC 9882).
_SHA512_ONLY = (ed25519.Ed25519PrivateKey, mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey,
                mldsa.MLDSA87PrivateKey)
def _raw_content(message: MessageInput, format: WireFormat) -> bytes | None:
    """For ``format="der"``/``"pem"``: the bytes to protect, exactly as given (as ``openssl
    cms -binary`` takes a file); None for an S/MIME message (the canonical entity)."""
    check_option("format", format, WIRE_FORMATS)
    return None if format == "smime" else mime.input_bytes(message)


def _raw_output(der: bytes, format: WireFormat) -> bytes:
    return to_pem(der) if format == "pem" else der


def micalg(specs: Sequence[cms.SignerSpec]) -> str:
    """The multipart/signed micalg parameter for these signers."""
    names: list[str] = []
    for spec in specs:
        digest = (
            "sha512" if isinstance(spec.identity.key, _SHA512_ONLY) else spec.digest
        )
        micalg = algorithms.DIGESTS[digest].micalg
        if micalg not in names:
            names.append(micalg)
    return ",".join(names)


@overload
def sign(
    message: MessageInput,
    signers: Identity | Sequence[Identity],
    *,
    format: Literal["smime"] = ...,
    **options: Unpack[keywords.SignOptions],
) -> EmailMessage: ...


@overload
def sign(
    message: MessageInput,
    signers: Identity | Sequence[Identity],
    *,
    format: Literal["der", "pem"],
    **options: Unpack[keywords.SignOptions],
) -> bytes: ...


@keywords.spelled_out(keywords.SignOptions, keywords.SIGN_DEFAULTS, before="format")
def sign(
    message: MessageInput,
    signers: Identity | Sequence[Identity],
    *,
    format: WireFormat = "smime",
    **options: Unpack[keywords.SignOptions],
) -> EmailMessage | bytes:
    """Sign ``message`` (RFC 8551): multipart/signed when ``detached``, else opaque signed-data.

    The content is put in canonical, 7-bit-safe form first, so relays cannot break the
    signature; outer headers (From, To, Subject, ...) stay outside. Several identities
    make one SignedData with several signers. Ed25519 signers always digest with SHA-512
    (RFC 8419).

    ``format="der"`` or ``"pem"`` returns a raw CMS file instead (``.p7s`` when detached,
    ``.p7m`` when not, as ``openssl cms -sign -binary -outform`` writes them) over the
    message's bytes exactly as given: no canonical form, no headers kept outside.

    ``protect_headers=True`` (RFC 9788) signs the header section too: From, To, Subject,
    Date and the rest are copied into the signed part, marked ``hp="clear"``, so a reader
    can tell when someone changed the copies outside. To encrypt the result next with
    hidden headers, give the ``header_confidentiality`` policy here (as for
    :func:`encrypt`): the signed part is then marked ``hp="cipher"``, its ``HP-Outer``
    fields record what the policy shows outside, and the outer headers follow it already.
    """
    o = keywords.settled("sign", options, keywords.SIGN_DEFAULTS)
    raw = _raw_content(message, format)
    protection = header_protection(format, o, signing=True)
    specs = signer_specs(signers, o)
    _LOG.info("sign: %d signer(s), digest %s, detached %s, format %s",
              len(specs), o["digest"], o["detached"], format)
    detached, signing_time = o["detached"], o["signing_time"]
    if raw is not None:
        der = cms.create_signed_data(raw, specs, detached=detached, signing_time=signing_time)
        return _raw_output(der, format)
    prepared = mime.prepare_entity(_entity_input(message))
    if protection is not None:
        hp, policy = protection
        prepared = mime.protect_entity(
            prepared, hp=hp, policy=policy, legacy_display=o["legacy_display"]
        )
    der = cms.create_signed_data(
        prepared.entity, specs, detached=detached, signing_time=signing_time
    )
    if detached:
        return mime.build_multipart_signed(
            prepared.entity, der, micalg=micalg(specs), outer_headers=prepared.outer_headers
        )
    return mime.build_pkcs7_mime(
        der, smime_type="signed-data", outer_headers=prepared.outer_headers
    )


def header_protection(
    form: str, options: keywords.SignOptions | keywords.EncryptOptions, *, signing: bool
) -> tuple[Literal["clear", "cipher"], mime.HeaderPolicy | None] | None:
    """What RFC 9788 header protection the (settled) keywords of :func:`sign` or
    :func:`encrypt` ask for, in memory or streamed: None, or the ``hp`` marking and the
    confidentiality policy. A combination that makes no sense is a UsageError, and a bad
    policy name an error, before any input is read."""
    protect, confidentiality = options["protect_headers"], options["header_confidentiality"]
    if protect and form != "smime":
        raise UsageError("protect_headers=True needs format='smime' (a raw CMS file has "
                         "no header section)")
    if signing and confidentiality is not None and not protect:
        raise UsageError("header_confidentiality= goes with protect_headers=True")
    if not protect:
        return None
    if signing and confidentiality is None:
        return "clear", None
    return "cipher", mime.header_policy(confidentiality)


def _supports(caps: Sequence[str] | None, name: str) -> bool:
    return caps is not None and name in caps


def _is_kem(cert: x509.Certificate) -> bool:
    """Whether ``cert`` holds an ML-KEM key: every client that reads KEMRecipientInfo
    (RFC 9629) reads AES-GCM authEnveloped-data too, so "auto" need not fall back to CBC."""
    try:
        return isinstance(cert.public_key(), (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey))
    except Exception:  # a key type cryptography does not know: encrypt() refuses it later
        return False


def _capabilities_for(
    cert: x509.Certificate,
    address: str | None,
    capabilities: Sequence[str] | Mapping[str, Sequence[str]] | None,
    store: CertificateSource | None,
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


def signer_specs(
    signers: Identity | Sequence[Identity], options: keywords.SignOptions
) -> list[cms.SignerSpec]:
    """The SignerSpecs :func:`sign` (and ``smime.stream.sign``) make from their keywords
    (keywords.settled: every one present)."""
    digest, signature_padding = options["digest"], options["signature_padding"]
    identify_by = options["identify_by"]
    algorithms.check_option("digest", digest, algorithms.SIGNING_DIGESTS)
    algorithms.check_option("signature_padding", signature_padding, algorithms.SIGNATURE_PADDINGS)
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    specs = [
        cms.SignerSpec(
            identity=identity,
            digest=digest,
            padding=signature_padding if isinstance(identity.key, rsa.RSAPrivateKey)
            else "pkcs1v15",
            identify_by=identify_by,
            include_chain=options["include_chain"],
            signed_attributes=options["signed_attributes"],
            encryption_certificate=options["encryption_certificate"],
        )
        for identity in identities(signers)
    ]
    if signature_padding == "pss" and not any(
        isinstance(s.identity.key, rsa.RSAPrivateKey) for s in specs
    ):
        algorithms.check_option(
            "signature_padding (for non-RSA keys)", signature_padding, ("pkcs1v15",)
        )
    return specs


def recipient_specs(
    recipients: RecipientInput | Sequence[RecipientInput], options: keywords.EncryptOptions
) -> tuple[list[cms.RecipientSpec], CipherName]:
    """(RecipientSpecs, cipher) as :func:`encrypt` (and ``smime.stream.encrypt``) choose
    them from their (keywords.settled) keywords, ``"auto"`` resolved."""
    cipher, key_transport = options["cipher"], options["key_transport"]
    identify_by, store = options["identify_by"], options["store"]
    capabilities = options["capabilities"]
    algorithms.check_option("cipher", cipher, ("auto", *algorithms.WRITABLE_CIPHERS))
    algorithms.check_option("key_transport", key_transport, ("auto", *algorithms.KEY_TRANSPORTS))
    algorithms.check_option("identify_by", identify_by, IDENTIFY_BY)
    found = recipient_certificates(recipients, store)
    known = [_capabilities_for(cert, address, capabilities, store) for cert, address in found]
    chosen: CipherName
    if cipher == "auto":
        chosen = "aes-256-gcm" if all(
            _supports(c, "aes-256-gcm") or (c is None and _is_kem(cert))
            for c, (cert, _address) in zip(known, found, strict=True)
        ) else "aes-256-cbc"
        _LOG.info("encrypt: cipher %s by the auto rule: %s", chosen,
                  "every recipient announced it (or holds an ML-KEM key)"
                  if chosen == "aes-256-gcm"
                  else "not every recipient is known to read AES-256-GCM (authEnveloped-data)")
    else:
        chosen = check_option("cipher", cipher, algorithms.WRITABLE_CIPHERS)
    specs = []
    for (cert, _address), caps in zip(found, known, strict=False):
        transport = key_transport
        if transport == "auto":
            transport = "rsa-oaep" if _supports(caps, "rsa-oaep") else "rsa-pkcs1v15"
            _LOG.debug("encrypt: for %s the auto rule picks %s for RSA key transport: %s",
                       Lazy(certificate_label, cert), transport, "rsa-oaep announced"
                       if transport == "rsa-oaep" else "capabilities unknown" if caps is None
                       else "rsa-oaep not announced")
        specs.append(cms.RecipientSpec(certificate=cert, key_transport=transport,
                                   identify_by=identify_by, check_usage=options["check_usage"]))
    return specs, chosen


@overload
def encrypt(
    message: MessageInput,
    recipients: RecipientInput | Sequence[RecipientInput],
    *,
    format: Literal["smime"] = ...,
    **options: Unpack[keywords.EncryptOptions],
) -> EmailMessage: ...


@overload
def encrypt(
    message: MessageInput,
    recipients: RecipientInput | Sequence[RecipientInput],
    *,
    format: Literal["der", "pem"],
    **options: Unpack[keywords.EncryptOptions],
) -> bytes: ...


@keywords.spelled_out(keywords.EncryptOptions, keywords.ENCRYPT_DEFAULTS, before="format")
def encrypt(
    message: MessageInput,
    recipients: RecipientInput | Sequence[RecipientInput],
    *,
    format: WireFormat = "smime",
    **options: Unpack[keywords.EncryptOptions],
) -> EmailMessage | bytes:
    """Encrypt ``message`` for every recipient (certificates, PEM/DER, paths, or addresses).

    ``cipher="auto"`` picks AES-256-GCM (AuthEnvelopedData) only when every recipient is
    known to support it — from ``capabilities`` or the SMIMECapabilities harvested in
    ``store`` — and AES-256-CBC otherwise, because Outlook and Thunderbird on NSS 3.87
    cannot open authEnveloped-data (RFC 8551 §2.7.1: use what the recipient announced);
    recipients with ML-KEM certificates count as announcing AES-256-GCM, since every client
    that reads their KEMRecipientInfo reads authEnveloped-data.
    ``key_transport="auto"`` likewise uses RSA-OAEP only for RSA recipients who announced
    it, else PKCS#1 v1.5, the one every client reads. Addresses are resolved through
    ``store`` (a :class:`~smime.CertificateStore`, an LDAP directory, any
    :class:`smime.store.CertificateSource`).

    ``format="der"`` or ``"pem"`` returns a raw CMS ``.p7m`` file instead (as ``openssl
    cms -encrypt -binary -outform`` writes it) of the message's bytes exactly as given.

    ``protect_headers=True`` (RFC 9788) encrypts the header section with the content
    (``hp="cipher"``); ``header_confidentiality`` decides what stays readable outside:
    ``"hcp_baseline"`` (Subject becomes ``[...]``, Keywords and Comments are left out,
    From, To, Cc, Date and Message-ID stay for delivery and threading),
    ``"hcp_no_confidentiality"``, or a callable ``(name, value) -> value or None``.
    ``HP-Outer`` fields inside record what was shown; ``legacy_display`` adds a text part
    repeating hidden fields for clients without header protection. A message signed with
    ``sign(..., protect_headers=True, header_confidentiality=...)`` is encrypted as it is:
    its signed part already carries the protected headers.
    """
    o = keywords.settled("encrypt", options, keywords.ENCRYPT_DEFAULTS)
    raw = _raw_content(message, format)
    protection = header_protection(format, o, signing=False)
    policy = None if protection is None else protection[1]
    specs, chosen = recipient_specs(recipients, o)
    if raw is not None:
        return _raw_output(cms.create_enveloped_data(raw, specs, cipher=chosen), format)
    prepared = mime.prepare_entity(_entity_input(message))
    if policy is not None:
        prepared = _protected_for_encryption(prepared, policy,
                                             legacy_display=o["legacy_display"])
    # The ciphertext is made block by block while base64 writes it: the message out is the
    # one large allocation (the entity is a view of the input where it was canonical).
    der = cms.enveloped_data_chunks(prepared.chunks, specs, cipher=chosen)
    smime_type = (
        "authEnveloped-data" if algorithms.CIPHERS[chosen].authenticated else "enveloped-data"
    )
    return mime.build_pkcs7_mime(der, smime_type=smime_type, outer_headers=prepared.outer_headers)


def _protected_for_encryption(
    prepared: mime.PreparedEntity, policy: mime.HeaderPolicy, *, legacy_display: bool
) -> mime.PreparedEntity:
    """The entity with its header section inside (``hp="cipher"``), or, for a message
    already signed with protected headers, the signed entity as it is."""
    head = bytes(prepared.chunks[0][:4096]).lower()
    signed = head.startswith(b"content-type: multipart/signed") or (
        b"application/pkcs7-mime" in head or b"application/x-pkcs7-mime" in head)
    if not signed:
        return mime.protect_entity(
            prepared, hp="cipher", policy=policy, legacy_display=legacy_display
        )
    hp = mime.carried_hp(prepared.entity)
    if hp == "cipher" or (hp == "clear" and policy is mime.HCP_NAMES["hcp_no_confidentiality"]):
        return prepared  # its outer headers already follow the signer's policy
    raise UsageError(
        "protect_headers=True: this message is already signed, and its signature "
        + ("covers headers marked hp=\"clear\" (nothing hidden)" if hp == "clear"
           else "does not cover its headers")
        + "; sign it with protect_headers=True, header_confidentiality=... so that the "
        "signed part carries the headers and HP-Outer fields, then encrypt that"
    )


@overload
def compress(message: MessageInput, *, format: Literal["smime"] = ...) -> EmailMessage: ...


@overload
def compress(message: MessageInput, *, format: Literal["der", "pem"]) -> bytes: ...


def compress(message: MessageInput, *, format: WireFormat = "smime") -> EmailMessage | bytes:
    """Wrap ``message`` in RFC 3274 compressed-data (zlib); ``format`` as for :func:`sign`."""
    raw = _raw_content(message, format)
    if raw is not None:
        return _raw_output(cms.create_compressed_data(raw), format)
    prepared = mime.prepare_entity(_entity_input(message))
    der = cms.create_compressed_data(prepared.entity)
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
    der = cms.create_certs_only(loaded)
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
    if isinstance(source, Message):
        return _certificates_from_message(source)
    return _load_certificate_files(source)


def _is_mime(data: bytes) -> bool:
    head = data[:4096].lower()
    return b"content-type:" in head and b"pkcs7" in head


def _certificates_from_message(message: MessageInput) -> list[x509.Certificate]:
    part = mime.find_smime_part(message)
    if part is None or part.der is None:
        raise ParseError("no PKCS#7 certificates found in the message")
    kind = cms.content_kind(part.der)
    if kind.layer != "signed":
        raise ParseError(f"expected a certs-only (signed-data) message, found {kind.name}")
    return cms.read_certs_only(part.der)
