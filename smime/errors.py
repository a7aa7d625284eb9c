"""One exception hierarchy for everything the library raises.

Every public function turns what its dependencies raise (asn1crypto, cryptography, the
``email`` package) into one of these, so callers catch :class:`SMIMEError` and nothing
else. The classes say whose fault a failure was: the input (``ParseError``), the library's
reach (``UnsupportedError``), the keys (``DecryptionError``, ``LoadError``), a certificate
(``CertificateError``), the signature (``VerificationError``), the certificate store's
file (``StoreError``), the network (``TransportError``) or the call itself
(``UsageError``: an argument of a type the function does not take).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any, Literal, TypeVar

__all__ = [
    "CertificateError",
    "DecryptionError",
    "InvalidOptionError",
    "LimitExceededError",
    "LoadError",
    "MissingKeyError",
    "Option",
    "ParseError",
    "PasswordError",
    "SMIMEError",
    "SMIMEWarning",
    "StoreError",
    "TokenError",
    "TransportError",
    "UnsupportedError",
    "UsageError",
    "VerificationError",
    "worded",
]


class Option(str):
    """An option as the API spells it (``starttls=False``), where a sentence names it as
    the way out. The sentence keeps it apart, so that the command line can say its flag
    (``--no-starttls``) from the same words: see :meth:`SMIMEError.worded`."""

    __slots__ = ()


def worded(parts: Iterable[str], word: Callable[[Option], str] | None = None) -> str:
    """The sentence of ``parts``, each :class:`Option` in it spelled by ``word`` (as the
    API spells it when None)."""
    return "".join(word(p) if word is not None and isinstance(p, Option) else p for p in parts)


_E = TypeVar("_E", bound="SMIMEError")


class SMIMEError(Exception):
    """Root of every exception the library raises on purpose."""

    parts: tuple[str, ...] = ()
    """The message in pieces when it names options (:class:`Option`), else empty."""

    @classmethod
    def naming(cls: type[_E], *parts: str, **details: object) -> _E:
        """The error whose message is ``parts`` joined, options among them (``"...
        (", Option("starttls=False"), " allows it)"``); ``details`` go to the class."""
        error = cls(worded(parts), **details)
        error.parts = parts
        return error

    def worded(self, word: Callable[[Option], str]) -> str:
        """The message with each option it names spelled by ``word`` (the command line
        passes its flags); ``str(self)`` when it names none."""
        return worded(self.parts, word) if self.parts else str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles with its attributes (``reason``, ``code``, ``result``...), without
        calling ``__init__`` again: a process pool sends errors back by pickling them, and
        Exception's own pickling calls ``cls(*args)``, which fails for keyword-only
        arguments. A read-only mapping (``rejected``) travels as a dict."""
        state = dict(self.__dict__)
        frozen = tuple(name for name, value in state.items()
                       if isinstance(value, MappingProxyType))
        for name in frozen:
            state[name] = dict(state[name])
        return _unpickle_error, (type(self), self.args, state, frozen)


def _unpickle_error(
    cls: type[SMIMEError], args: tuple[Any, ...], state: dict[str, Any], frozen: tuple[str, ...]
) -> SMIMEError:
    error = cls.__new__(cls, *args)  # BaseException.__new__ keeps args, as __init__ would
    error.__dict__.update(state)
    for name in frozen:
        error.__dict__[name] = MappingProxyType(error.__dict__[name])
    return error


class SMIMEWarning(UserWarning):
    """Something was read leniently and a user may want to know (a certificate skipped)."""


class ParseError(SMIMEError, ValueError):
    """The input is not well-formed MIME, DER/BER or PEM (truncated, garbage, too deep)."""


class LimitExceededError(ParseError):
    """The input asks for more work than a cap of :class:`smime.Limits` allows.

    ``limit`` names the cap (``"max_parts"``...); the message says how to raise it.
    """

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class UnsupportedError(SMIMEError):
    """A valid structure or algorithm that this library does not implement (named in the text)."""


class InvalidOptionError(UnsupportedError, ValueError):
    """An option value outside the allowed set (the message names the allowed values)."""


class UsageError(SMIMEError, TypeError):
    """An argument of a type the function does not take (``None`` where a value is needed,
    an ``int`` for a message); the message names the types it takes.

    A ``TypeError`` too, as Python raises for a wrong call: it is the caller's mistake,
    found before any input is read.
    """

    @classmethod
    def wrong_type(cls, what: str, value: object, accepted: str) -> UsageError:
        """The one sentence for a wrong argument: ``{what} must be {accepted}, not int``."""
        got = "None" if value is None else type(value).__name__
        return cls(f"{what} must be {accepted}, not {got}")


class DecryptionError(SMIMEError):
    """The message could not be decrypted with the given identity.

    One message for every key or integrity failure (no matching recipient, wrong key, bad
    padding, bad authentication tag), so that errors do not tell an attacker which step failed.
    """

    MESSAGE = "decryption failed: no recipient info for this key, a wrong key, or damaged content"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.MESSAGE)


class MissingKeyError(DecryptionError):
    """The message is encrypted and no identity was given to open it (``unwrap`` without
    ``identity=``): ask for the key and call again. Raised before any key is tried, so it
    tells nothing about the keys; a ``DecryptionError``, since the message was not decrypted.
    """


class VerificationError(SMIMEError):
    """A signature did not verify (raised only by ``VerificationResult.raise_for_status``)."""

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result


class CertificateError(SMIMEError):
    """A certificate cannot be used for what was asked (key usage, validity, missing email)."""


class LoadError(SMIMEError):
    """Keys or certificates could not be loaded (wrong password, unknown format, key mismatch)."""


class PasswordError(LoadError):
    """The password does not fit the key file: one is ``"missing"``, it is ``"wrong"``, or
    one was given for a key stored ``"unencrypted"`` (``reason``), so that a caller can ask
    again or say which source of passwords to change."""

    def __init__(self, message: str, *, reason: Literal["missing", "wrong", "unencrypted"]):
        super().__init__(message)
        self.reason = reason


class StoreError(SMIMEError):
    """The certificate store's SQLite file failed: it cannot be opened, is not a database or
    is damaged, stayed locked past the timeout, or the store was closed."""


class TokenError(SMIMEError):
    """A PKCS#11 token failed an operation, or could not be reached (after one retry)."""


class TransportError(SMIMEError):
    """Sending failed, or a directory could not be searched; ``code`` and ``text`` carry the
    server's answer when there was one."""

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        text: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.text = text
        self.status = status
