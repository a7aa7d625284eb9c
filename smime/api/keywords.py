"""The keyword lists of the operations, each written once.

``smime.sign``, ``smime.stream.sign``, ``smime.batch.sign`` and ``smime.aio.sign`` take the
same signing keywords, and so on for the other operations. Each list is a ``TypedDict``
here, taken as ``**options: Unpack[SignOptions]``, so a type checker checks every keyword
of every variant (``digest="sha1"`` is an error in a batch too), with its default beside
it in one table. ``smime.core.keywords.spelled_out`` writes the keywords into each
function's signature, so ``help()``, ``inspect.signature`` and the reference show them
one by one, and ``settled`` reads them (re-exported here for the operations).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict

from cryptography import x509

from ..core.keywords import settled, spelled_out
from ..keys import CertificateLike, Source
from ..limits import Limits
from ..options import (
    CipherChoice,
    DigestName,
    IdentifyBy,
    KeyTransportChoice,
    RevocationMode,
    SignaturePadding,
    WireFormat,
)
from ..validation import VerificationPolicy

if TYPE_CHECKING:
    from .. import mime
    from ..store import CertificateSource

__all__ = [
    "CertificatesInput",
    "CheckOptions",
    "DecryptOptions",
    "EncryptCall",
    "EncryptOptions",
    "FormatOption",
    "HeaderConfidentiality",
    "SignCall",
    "SignOptions",
    "UnwrapOptions",
    "VerifyOptions",
    "settled",
    "spelled_out",
]

#: What ``header_confidentiality=`` takes: a policy's name or the policy itself.
HeaderConfidentiality: TypeAlias = (
    'Literal["hcp_baseline", "hcp_no_confidentiality"] | mime.HeaderPolicy'
)
#: What ``certificates=`` takes: anything :func:`smime.load_certificates` reads.
CertificatesInput: TypeAlias = "Source | Iterable[CertificateLike] | None"


class SignOptions(TypedDict, total=False):
    """The keywords of :func:`smime.sign` (and of its streaming, batch and asyncio forms)."""

    detached: bool
    digest: DigestName
    signature_padding: SignaturePadding
    include_chain: bool
    identify_by: IdentifyBy
    signed_attributes: bool
    encryption_certificate: x509.Certificate | None
    signing_time: dt.datetime | None
    protect_headers: bool
    header_confidentiality: HeaderConfidentiality | None
    legacy_display: bool


class EncryptOptions(TypedDict, total=False):
    """The keywords of :func:`smime.encrypt` (and its other forms)."""

    cipher: CipherChoice
    key_transport: KeyTransportChoice
    identify_by: IdentifyBy
    capabilities: Sequence[str] | Mapping[str, Sequence[str]] | None
    store: CertificateSource | None
    check_usage: bool
    protect_headers: bool
    header_confidentiality: HeaderConfidentiality
    legacy_display: bool


class FormatOption(TypedDict, total=False):
    """What the sending operations write: an S/MIME message, or the raw CMS file."""

    format: WireFormat


class SignCall(SignOptions, FormatOption, total=False):
    """:func:`smime.sign`'s keywords with ``format`` (which its overloads take apart)."""


class EncryptCall(EncryptOptions, FormatOption, total=False):
    """:func:`smime.encrypt`'s keywords with ``format``."""


class DecryptOptions(TypedDict, total=False):
    """The keywords of :func:`smime.decrypt` (and its other forms)."""

    require_authenticated: bool
    certificates: CertificatesInput
    limits: Limits | None


class CheckOptions(TypedDict, total=False):
    """How signatures are judged: the keywords :func:`smime.verify`, :func:`smime.unwrap`
    and ``smime.stream.verify`` share."""

    certificates: CertificatesInput
    store: CertificateSource | None
    crls: Iterable[bytes | str] | None
    ocsp_responses: Iterable[bytes] | None
    at: dt.datetime | None
    revocation: RevocationMode
    fetch: bool
    policy: VerificationPolicy | None
    limits: Limits | None


class VerifyOptions(CheckOptions, total=False):
    """The keywords of :func:`smime.verify` (and its batch and asyncio forms)."""

    part: str | None
    content: bytes | bytearray | memoryview | None


class UnwrapOptions(CheckOptions, total=False):
    """The keywords of :func:`smime.unwrap` (and its batch and asyncio forms)."""

    require_authenticated: bool
    part: str | None


#: Each list's defaults, the one place they are written.
SIGN_DEFAULTS: SignOptions = {
    "detached": True,
    "digest": "sha256",
    "signature_padding": "pkcs1v15",
    "include_chain": True,
    "identify_by": "issuer_and_serial",
    "signed_attributes": True,
    "encryption_certificate": None,
    "signing_time": None,
    "protect_headers": False,
    "header_confidentiality": None,
    "legacy_display": True,
}
ENCRYPT_DEFAULTS: EncryptOptions = {
    "cipher": "auto",
    "key_transport": "auto",
    "identify_by": "issuer_and_serial",
    "capabilities": None,
    "store": None,
    "check_usage": True,
    "protect_headers": False,
    "header_confidentiality": "hcp_baseline",
    "legacy_display": True,
}
SIGN_CALL_DEFAULTS: SignCall = {**SIGN_DEFAULTS, "format": "smime"}
ENCRYPT_CALL_DEFAULTS: EncryptCall = {**ENCRYPT_DEFAULTS, "format": "smime"}
DECRYPT_DEFAULTS: DecryptOptions = {
    "require_authenticated": False,
    "certificates": None,
    "limits": None,
}
CHECK_DEFAULTS: CheckOptions = {
    "certificates": None,
    "store": None,
    "crls": None,
    "ocsp_responses": None,
    "at": None,
    "revocation": "soft-fail",
    "fetch": False,
    "policy": None,
    "limits": None,
}
VERIFY_DEFAULTS: VerifyOptions = {**CHECK_DEFAULTS, "part": None, "content": None}
UNWRAP_DEFAULTS: UnwrapOptions = {**CHECK_DEFAULTS, "require_authenticated": False, "part": None}
