"""The keyword lists of the operations, each written once.

``smime.sign``, ``smime.stream.sign``, ``smime.batch.sign`` and ``smime.aio.sign`` take the
same signing keywords, and so on for the other operations. Each list is a ``TypedDict``
here, taken as ``**options: Unpack[SignOptions]``, so a type checker checks every keyword
of every variant (``digest="sha1"`` is an error in a batch too), with its default beside
it in one table. :func:`spelled_out` writes the keywords into each function's signature,
so ``help()``, ``inspect.signature`` and the reference show them one by one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ForwardRef, Literal, TypeAlias, TypedDict, TypeVar, cast

from cryptography import x509

from ..errors import UsageError
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


_T = TypeVar("_T", bound=Mapping[str, Any])
_F = TypeVar("_F", bound=Callable[..., Any])


def settled(operation: str, options: _T, defaults: _T) -> _T:
    """``options`` with every keyword not given at its default; a keyword the operation
    does not take is a :class:`~smime.errors.UsageError` (a ``TypeError``, as Python's own),
    naming the closest one it does take."""
    unknown = options.keys() - defaults.keys()
    if unknown:
        name = min(unknown)
        close = difflib.get_close_matches(name, list(defaults), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{operation}() got an unexpected keyword argument {name!r}{hint}")
    return cast(_T, {**defaults, **options})


def _annotation(hint: object) -> object:
    return hint.__forward_arg__ if isinstance(hint, ForwardRef) else hint


def spelled_out(
    options: type, defaults: Mapping[str, object], *, before: str | None = None
) -> Callable[[_F], _F]:
    """Show the keywords of ``options`` (one of the TypedDicts above) in the decorated
    function's signature, with their ``defaults``, in place of its ``**options`` (before
    the keyword ``before`` when one is named, so the variant's own keywords come last)."""

    def decorate(function: _F) -> _F:
        signature = inspect.signature(function)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = [p.name for p in own]
        at = names.index(before) if before in names else len(own)
        spelled = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name],
                              annotation=_annotation(hint))
            for name, hint in options.__annotations__.items()
        ]
        function.__dict__["__signature__"] = signature.replace(
            parameters=[*own[:at], *spelled, *own[at:]]
        )
        return function

    return decorate
