"""Every option vocabulary, once: a ``Literal`` type per option and the tuple of its values.

The API's signatures and checks, the CLI's choices and the docs all read these, so
``mypy --strict`` rejects ``digest="sha1"`` or ``cipher="aes-999"`` in user code and the
CLI cannot offer a choice the API refuses (or miss one it takes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, TypeVar, get_args

from .errors import InvalidOptionError, UsageError

if TYPE_CHECKING:
    from concurrent.futures import Executor

__all__ = [
    "CIPHERS",
    "CIPHER_CHOICES",
    "DIGESTS",
    "IDENTIFY_BY",
    "KEY_TRANSPORTS",
    "KEY_TRANSPORT_CHOICES",
    "REVOCATION_MODES",
    "SIGNATURE_PADDINGS",
    "VALIDATE_AT",
    "WIRE_FORMATS",
    "CipherChoice",
    "CipherName",
    "DigestName",
    "IdentifyBy",
    "KeyTransportChoice",
    "KeyTransportName",
    "RevocationMode",
    "SignaturePadding",
    "ValidateAt",
    "WireFormat",
    "check_items",
    "check_option",
]

#: Digests we sign with (SHA-1 and MD5 are read, never written).
DigestName = Literal["sha256", "sha384", "sha512"]
#: Content ciphers ``encrypt`` writes (3DES and RC2 are read, never written).
CipherName = Literal["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm"]
CipherChoice = Literal["auto", CipherName]
KeyTransportName = Literal["rsa-oaep", "rsa-pkcs1v15"]
KeyTransportChoice = Literal["auto", KeyTransportName]
SignaturePadding = Literal["pkcs1v15", "pss"]
#: How a signer or recipient is named in CMS (RFC 5652 SignerIdentifier, RecipientIdentifier).
IdentifyBy = Literal["issuer_and_serial", "subject_key_identifier"]
RevocationMode = Literal["soft-fail", "hard-fail", "off"]
#: When a signer's chain must be valid: at the signing time, now, or both.
ValidateAt = Literal["signing_time", "now", "both"]
#: How a CMS structure travels: an S/MIME message, or a raw CMS file in DER or PEM
#: (``openssl cms -outform``/``-inform``).
WireFormat = Literal["smime", "der", "pem"]

_Value = TypeVar("_Value", bound=str)
_Item = TypeVar("_Item")

DIGESTS: tuple[DigestName, ...] = get_args(DigestName)
CIPHERS: tuple[CipherName, ...] = get_args(CipherName)
CIPHER_CHOICES: tuple[CipherChoice, ...] = get_args(CipherChoice)
KEY_TRANSPORTS: tuple[KeyTransportName, ...] = get_args(KeyTransportName)
KEY_TRANSPORT_CHOICES: tuple[KeyTransportChoice, ...] = get_args(KeyTransportChoice)
SIGNATURE_PADDINGS: tuple[SignaturePadding, ...] = get_args(SignaturePadding)
IDENTIFY_BY: tuple[IdentifyBy, ...] = get_args(IdentifyBy)
REVOCATION_MODES: tuple[RevocationMode, ...] = get_args(RevocationMode)
VALIDATE_AT: tuple[ValidateAt, ...] = get_args(ValidateAt)
WIRE_FORMATS: tuple[WireFormat, ...] = get_args(WireFormat)


def check_items(option: str, items: Iterable[object], kind: type[_Item]) -> list[_Item]:
    """``items`` as a list: at least one, each a ``kind`` (else InvalidOptionError saying so)."""
    checked: list[_Item] = []
    for value in items:
        if not isinstance(value, kind):
            raise InvalidOptionError(
                f"{option}: expected {kind.__name__} objects, got {type(value).__name__}"
            )
        checked.append(value)
    if not checked:
        raise InvalidOptionError(f"{option}: at least one {kind.__name__} is needed")
    return checked


def check_option(option: str, value: object, allowed: Iterable[_Value]) -> _Value:
    """Return ``value`` if it is one of ``allowed``, else raise naming the allowed values.

    Checked at run time too: callers without a type checker pass any string.
    """
    values = tuple(allowed)
    if not isinstance(value, str) or value not in values:
        raise InvalidOptionError(
            f"{option}={value!r} is not supported; use one of: {', '.join(values)}"
        )
    return value


def check_count(option: str, value: object, *, least: int = 1) -> int:
    """``value`` if it is a whole number ``least`` or more, else InvalidOptionError (a
    ``bool`` is not a count, nor is ``2.5``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidOptionError(
            f"{option}= must be a whole number, {least} or more: {value!r}"
        )
    return value


def check_executor(executor: object) -> Executor | None:
    """``executor=`` of ``smime.batch`` and ``smime.aio``: None, or a concurrent.futures
    Executor; anything else is a UsageError naming what it may be."""
    from concurrent.futures import Executor  # only callers with an executor pay for it

    if not isinstance(executor, (Executor, type(None))):
        raise UsageError.wrong_type(
            "executor", executor, "a concurrent.futures.Executor (thread or process pool, "
            "dask.distributed.Client.get_executor()) or None"
        )
    return executor


def check_seconds(option: str, value: object, *, zero: bool = False) -> float:
    """``value`` if it is a finite number of seconds above 0 (or 0 too, with ``zero``),
    else InvalidOptionError: said where it is given, not as a TypeError from a socket."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0 or (value == 0 and not zero)):
        least = "0 or more" if zero else "more than 0"
        raise InvalidOptionError(f"{option}= must be a number of seconds, {least}: {value!r}")
    return value
