"""Private keys that stay on a PKCS#11 token (smart card, HSM, SoftHSM2), named by RFC 7512 URIs.

The key classes implement ``cryptography``'s private-key interfaces (``RSAPrivateKey``,
``EllipticCurvePrivateKey``), so every layer above signs and decrypts with them as with a
key from a file, and the private key never leaves the token: each ``sign``, ``decrypt`` and
``exchange`` is one PKCS#11 call. Hashing is done here (C-backed, the data never crosses
the token's slow interface), the token gets the digest: CKM_RSA_PKCS over a DigestInfo,
CKM_RSA_PKCS_PSS, CKM_ECDSA. Decryption is CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP, ECDH is
CKM_ECDH1_DERIVE into a session-only secret that is read back and destroyed.

python-pkcs11 is the binding (Cython over the C API, typed, maintained). It initialises a
module with ``C_Initialize(NULL)``, which by PKCS#11 section 5.4 promises the module that
no two threads call it at once (SoftHSM2 then runs without its own locks), so every call
into one module goes through one lock here; a pool gives each thread its own session, so
the operation state of two threads never mixes. A session that fails because the token was
reset or logged out (CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, ...) is dropped,
the pool logs in again on a fresh session and the operation is retried once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar
from urllib.parse import unquote_to_bytes

from asn1crypto import core as asn1core
from asn1crypto import keys as asn1keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.utils import Buffer

from ..errors import LoadError, PasswordError, TokenError, UnsupportedError, UsageError

__all__ = [
    "PKCS11URI",
    "TokenECPrivateKey",
    "TokenError",
    "TokenRSAPrivateKey",
    "is_pkcs11_uri",
    "open_token_key",
    "parse_pkcs11_uri",
]

_T = TypeVar("_T")
_Public = TypeVar("_Public", rsa.RSAPublicKey, ec.EllipticCurvePublicKey)

#: What to install when python-pkcs11 is missing.
EXTRA_HINT = "pip install 'smime-sdk[pkcs11]'"


# ---------------------------------------------------------------------------- RFC 7512 URIs

_PATH_ATTRIBUTES = frozenset({
    "token", "manufacturer", "serial", "model", "library-manufacturer",
    "library-description", "library-version", "object", "type", "id",
    "slot-description", "slot-manufacturer", "slot-id",
})
_QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
_SECRET_QUERY = frozenset({"pin-value"})


@dataclass(frozen=True)
class PKCS11URI:
    """A parsed ``pkcs11:`` URI: path attributes (what to match) and query attributes
    (how to get there). Values are percent-decoded; ``id`` stays bytes, the rest is text."""

    path: dict[str, str | bytes] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def text(self, *, secret: bool = False) -> str:
        """The URI again, without ``pin-value`` unless ``secret``: what messages and
        pickles may carry."""
        parts = ";".join(f"{name}={_quote(value)}" for name, value in self.path.items())
        query = "&".join(f"{name}={_quote(value)}" for name, value in self.query.items()
                         if secret or name not in _SECRET_QUERY)
        return f"pkcs11:{parts}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return f"PKCS11URI({self.text()!r})"


def _quote(value: str | bytes) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]@!$'()*+,/"
    if isinstance(value, bytes):  # an id: every byte encoded, as p11tool prints it
        return "".join(f"%{b:02x}" for b in raw)
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in raw)


def is_pkcs11_uri(value: object) -> bool:
    """Whether ``value`` is text naming a key on a token (``pkcs11:...``)."""
    return isinstance(value, str) and value[:7].lower() == "pkcs11:"


def parse_pkcs11_uri(text: str) -> PKCS11URI:
    """Parse an RFC 7512 URI; UsageError for anything that is not one, or an attribute
    this library does not know (RFC 7512 section 2.3: it must not be ignored)."""
    if not is_pkcs11_uri(text):
        raise UsageError(f"not a PKCS#11 URI (it must start with 'pkcs11:'): {text[:40]!r}")
    body = text[7:]
    path_part, _sep, query_part = body.partition("?")
    path: dict[str, str | bytes] = {}
    query: dict[str, str] = {}
    for chunk, allowed, out, sep in ((path_part, _PATH_ATTRIBUTES, path, ";"),
                                     (query_part, _QUERY_ATTRIBUTES, query, "&")):
        for item in filter(None, chunk.split(sep)):
            name, eq, raw = item.partition("=")
            name = name.strip().lower()
            if not eq:
                raise UsageError(f"PKCS#11 URI attribute {name!r} has no value (name=value)")
            if name not in allowed:
                where = "path" if out is path else "query"
                raise UsageError(
                    f"unknown PKCS#11 URI {where} attribute {name!r}; known: "
                    + ", ".join(sorted(allowed))
                )
            if name in out:
                raise UsageError(f"PKCS#11 URI attribute {name!r} is given twice")
            value = unquote_to_bytes(raw)
            if name == "id":  # a path attribute (no query one has this name), kept as bytes
                path[name] = value
                continue
            try:
                out[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"PKCS#11 URI attribute {name!r} is not UTF-8") from None
    kind = path.get("type")
    if kind is not None and kind != "private":
        raise UsageError(
            f"the PKCS#11 URI names type={kind!r}: a private key (type=private) is needed"
        )
    return PKCS11URI(path, query)


# ---------------------------------------------------------------------------- the binding


def _binding() -> Any:
    """python-pkcs11, imported on first use; a LoadError naming the extra without it."""
    try:
        import pkcs11
    except ImportError:
        raise LoadError(
            f"PKCS#11 keys need the python-pkcs11 package: {EXTRA_HINT}"
        ) from None
    return pkcs11


_CALL_LOCKS: dict[str, threading.RLock] = {}
_CALL_LOCKS_GUARD = threading.Lock()
#: SHA-256 of the PIN this process logged in with, per (module, slot, token label).
_LOGINS: dict[tuple[str, int, str], bytes] = {}


def _call_lock(module: str) -> threading.RLock:
    """The one lock for calls into ``module`` (see the module docstring)."""
    with _CALL_LOCKS_GUARD:  # by the file, however its path is spelt (symlinks)
        return _CALL_LOCKS.setdefault(os.path.realpath(module), threading.RLock())


def _library(module: str) -> Any:
    """The loaded, initialised module (python-pkcs11 keeps one per path)."""
    p11 = _binding()
    try:
        return p11.lib(module)
    except (p11.PKCS11Error, OSError) as exc:
        raise LoadError(f"cannot load the PKCS#11 module {module}: {exc}") from None


def _reset_errors(p11: Any) -> tuple[type[BaseException], ...]:
    """The errors after which a fresh, logged-in session may succeed."""
    return (p11.SessionHandleInvalid, p11.SessionClosed, p11.UserNotLoggedIn,
            p11.ObjectHandleInvalid, p11.KeyHandleInvalid, p11.DeviceRemoved,
            p11.TokenNotPresent, p11.SessionCount)


def _not_initialised(exc: BaseException) -> bool:
    return "not initialized" in str(exc)


# ---------------------------------------------------------------------------- PINs


@dataclass(frozen=True)
class _Pin:
    """The PIN and whether it can be read again (a pin-source file) in another process."""

    value: str | None
    source: str | None  # the URI's pin-source, when the PIN came from there


def _pin_text(pin: str | bytes | bytearray | None) -> str | None:
    if pin is None or isinstance(pin, str):
        return pin
    if isinstance(pin, (bytes, bytearray)):
        try:
            return bytes(pin).decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("the PIN must be UTF-8 text") from None
    raise UsageError.wrong_type("pin", pin, "str, bytes or None")


def _read_pin_source(source: str) -> str:
    """The first line of the file a ``pin-source`` names (``file:/path`` or a path)."""
    path = source[5:] if source.startswith("file:") else source
    if path.startswith("//"):  # file:///path
        path = path[2:]
    if source.startswith("|"):
        raise UsageError("pin-source commands (|command) are not run; name a file")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read the PIN file {path!r}: {exc.strerror or exc}") from None
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""


def _pin_for(uri: PKCS11URI, pin: str | bytes | None) -> _Pin:
    """``pin=`` first, then the URI's pin-value, then its pin-source."""
    given = _pin_text(pin)
    if given is not None:
        return _Pin(given, None)
    if "pin-value" in uri.query:
        return _Pin(uri.query["pin-value"], None)
    source = uri.query.get("pin-source")
    if source is not None:
        return _Pin(_read_pin_source(source), source)
    return _Pin(None, None)


# ---------------------------------------------------------------------------- token sessions


def _matches(uri: PKCS11URI, slot: Any, token: Any) -> bool:
    """Whether a slot's token fits the URI's token and slot attributes."""
    serial = token.serial.decode("ascii", "replace") if isinstance(token.serial, bytes) \
        else str(token.serial)
    have = {
        "token": token.label, "manufacturer": token.manufacturer_id, "serial": serial,
        "model": token.model, "slot-description": slot.slot_description,
        "slot-manufacturer": slot.manufacturer_id, "slot-id": str(slot.slot_id),
    }
    return all(uri.path[name] == value.strip() for name, value in have.items()
               if name in uri.path)


class _Pool:
    """The sessions of one key: opened on demand, one per thread at a time, logged in once,
    dropped and reopened after a token reset."""

    def __init__(self, uri: PKCS11URI, module: str, pin: _Pin, *, size: int = 8) -> None:
        self.uri, self.module, self.pin = uri, module, pin
        self.size = size
        self.p11 = _binding()
        self.resets = _reset_errors(self.p11)
        self.lock = _call_lock(module)
        self.cond = threading.Condition()
        self.idle: list[tuple[Any, Any]] = []  # (session, key object)
        self.opened = 0
        self.generation = 0
        self.need_login = True
        self.token: Any = None
        self.key_attrs: dict[Any, Any] = {}  # CLASS, ID, LABEL of the key found at load

    def companion(self, object_class: Any) -> dict[Any, Any] | None:
        """The template of an object stored with the key (a public key, a certificate):
        ``object_class`` with the key's CKA_ID, else its label; None when it has neither."""
        p11 = self.p11
        for name in (p11.Attribute.ID, p11.Attribute.LABEL):
            if self.key_attrs.get(name):
                return {p11.Attribute.CLASS: object_class, name: self.key_attrs[name]}
        return None

    # -- finding the token and the key

    def find_token(self) -> Any:
        lib = _library(self.module)
        found = []
        version = ".".join(str(part) for part in lib.library_version)
        have = {"library-manufacturer": lib.manufacturer_id,
                "library-description": lib.library_description, "library-version": version}
        wrong_library = any(self.uri.path[name] != value.strip()
                            for name, value in have.items() if name in self.uri.path)
        for slot in [] if wrong_library else lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except (self.p11.TokenNotPresent, self.p11.TokenNotRecognised):
                continue
            if _matches(self.uri, slot, token):
                found.append(token)
        if not found:
            raise LoadError(f"no token matches {self.uri.text()} in {self.module}")
        if len(found) > 1:
            labels = ", ".join(repr(t.label) for t in found)
            raise LoadError(f"{len(found)} tokens match {self.uri.text()} ({labels}): "
                            "name one with token=, serial= or slot-id=")
        return found[0]

    def _login_pin(self, token: Any) -> Any:
        """What to log in with: the PIN, the PIN pad, or None when no login is needed."""
        flags = token.flags
        if not flags & self.p11.TokenFlag.LOGIN_REQUIRED:
            return None
        if flags & self.p11.TokenFlag.USER_PIN_LOCKED:
            raise LoadError(f"the user PIN of token {token.label!r} is locked")
        if self.pin.value is not None:
            return self.pin.value
        if flags & self.p11.TokenFlag.PROTECTED_AUTHENTICATION_PATH:
            return self.p11.PROTECTED_AUTH
        raise PasswordError(
            f"token {token.label!r} needs a PIN: pass pin=, or pin-source= in the URI",
            reason="missing",
        )

    def _open_session(self) -> Any:
        """A session, logged in when this generation has no logged-in session yet. Runs
        under the call lock."""
        p11 = self.p11
        if self.token is None:
            self.token = self.find_token()
        token = self.token
        if not self.need_login:
            return token.open()
        pin = self._login_pin(token)
        if pin is None:
            session = token.open()
        else:
            try:
                session = token.open(user_pin=pin)
            except p11.UserAlreadyLoggedIn:  # the login is the module's, not the session's
                self._check_known_pin(token, pin)
                session = token.open()
            except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
                raise PasswordError(f"wrong PIN for token {token.label!r}",
                                    reason="wrong") from exc
            except p11.PinLocked as exc:
                raise LoadError(f"the user PIN of token {token.label!r} is locked") from exc
            except p11.PinExpired as exc:
                raise LoadError(f"the user PIN of token {token.label!r} has expired; "
                                "change it with the token's tools") from exc
        if isinstance(pin, str):
            with _CALL_LOCKS_GUARD:
                _LOGINS[self._login_key(token)] = hashlib.sha256(pin.encode()).digest()
        self.need_login = False
        return session

    def _login_key(self, token: Any) -> tuple[str, int, str]:
        return self.module, token.slot.slot_id, token.label

    def _check_known_pin(self, token: Any, pin: Any) -> None:
        """The token is logged in already, so PKCS#11 cannot check this PIN; when this
        process logged in with another PIN, this one is wrong (as C_Login would have said)."""
        with _CALL_LOCKS_GUARD:
            known = _LOGINS.get(self._login_key(token))
        if known is not None and isinstance(pin, str) and not hmac.compare_digest(
                known, hashlib.sha256(pin.encode()).digest()):
            raise PasswordError(f"wrong PIN for token {token.label!r}", reason="wrong")

    def find_key(self, session: Any) -> Any:
        """The private key the URI (at load) or the recorded attributes (later) name."""
        p11 = self.p11
        attrs = dict(self.key_attrs) or {p11.Attribute.CLASS: p11.ObjectClass.PRIVATE_KEY}
        if not self.key_attrs:
            if "object" in self.uri.path:
                attrs[p11.Attribute.LABEL] = self.uri.path["object"]
            if "id" in self.uri.path:
                attrs[p11.Attribute.ID] = self.uri.path["id"]
        keys = list(session.get_objects(attrs))
        if len(keys) != 1:
            what = "no private key" if not keys else f"{len(keys)} private keys"
            hint = ("" if keys else " (is the PIN right, and does object= or id= name it?)")
            if len(keys) > 1:
                hint = ": name one with object= or id="
            raise LoadError(f"{what} on the token match {self.uri.text()}{hint}")
        key = keys[0]
        if not self.key_attrs:
            self.key_attrs = {p11.Attribute.CLASS: p11.ObjectClass.PRIVATE_KEY}
            for name in (p11.Attribute.ID, p11.Attribute.LABEL):
                try:
                    self.key_attrs[name] = key[name]
                except p11.PKCS11Error:
                    continue
        return key

    # -- the pool

    def _acquire(self) -> tuple[Any, Any, int]:
        with self.cond:
            while True:
                if self.idle:
                    session, key = self.idle.pop()
                    return session, key, self.generation
                if self.opened < self.size:
                    self.opened += 1
                    generation = self.generation
                    break
                self.cond.wait()
        try:
            with self.lock:
                _library(self.module)  # initialises it again after a C_Finalize
                session = self._open_session()
                key = self.find_key(session)
        except self.p11.SessionCount:
            with self.cond:  # the token allows fewer sessions: wait for one of ours
                self.opened -= 1
                if self.opened == 0:
                    raise TokenError(f"the token behind {self.uri.text()} opens no "
                                     "more sessions") from None
                self.size = self.opened
                self.cond.notify()
            return self._acquire()
        except BaseException:
            with self.cond:
                self.opened -= 1
                self.cond.notify()
            raise
        return session, key, generation

    def _release(self, session: Any, key: Any, generation: int) -> None:
        with self.cond:
            if generation == self.generation:
                self.idle.append((session, key))
            else:
                self.opened -= 1
            self.cond.notify()

    def _invalidate(self, generation: int) -> None:
        """Forget every session of this generation: after a reset their handles mean
        nothing (or another session's), so they are dropped, not closed."""
        with self.cond:
            self.opened -= 1
            if generation == self.generation:
                self.generation += 1
                self.opened -= len(self.idle)
                self.idle.clear()
                self.need_login = True
                self.token = None
            self.cond.notify_all()

    def run(self, operation: Callable[[Any], _T], failed: Callable[[Exception], Exception]
            ) -> _T:
        """``operation(key object)`` on a pooled session; retried once on a fresh session
        after a reset; other token errors become ``failed(exc)``."""
        for attempt in (1, 2):
            try:
                session, key, generation = self._acquire()
            except self.p11.PKCS11Error as exc:  # no session: the token is gone or busy
                if attempt == 1 and (isinstance(exc, self.resets) or _not_initialised(exc)):
                    with self.cond:
                        self.need_login, self.token = True, None
                    continue
                raise TokenError(
                    f"cannot open a session on the token behind {self.uri.text()}: "
                    f"{_named(exc)}") from exc
            try:
                with self.lock:
                    result = operation(key)
            except self.p11.PKCS11Error as exc:
                if isinstance(exc, self.resets) or _not_initialised(exc):
                    self._invalidate(generation)
                    if attempt == 1:
                        continue
                    raise TokenError(
                        f"the token behind {self.uri.text()} failed twice: {_named(exc)}"
                    ) from exc
                self._release(session, key, generation)
                raise failed(exc) from exc
            except BaseException:
                self._release(session, key, generation)
                raise
            self._release(session, key, generation)
            return result
        raise AssertionError("unreachable")  # pragma: no cover


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}{f' ({exc})' if str(exc) else ''}"


# ---------------------------------------------------------------------------- hashing


_MECHANISM_HASHES = {  # our hash name -> (CKM_ digest, CKG_MGF1_)
    "sha1": ("SHA_1", "SHA1"), "sha224": ("SHA224", "SHA224"), "sha256": ("SHA256", "SHA256"),
    "sha384": ("SHA384", "SHA384"), "sha512": ("SHA512", "SHA512"),
}
#: DER DigestInfo prefixes of RFC 8017 section 9.2, note 1.
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def _digest(data: bytes, algorithm: hashes.HashAlgorithm | utils.Prehashed) -> tuple[bytes, str]:
    """The digest to hand the token, and its hash name; the data is hashed here."""
    if isinstance(algorithm, utils.Prehashed):
        name = algorithm._algorithm.name  # the public name of a Prehashed's hash
        if len(data) != algorithm.digest_size:
            raise ValueError("the prehashed digest has the wrong length")
        digest = bytes(data)
    else:
        name = algorithm.name
        digest = b"" if name not in _MECHANISM_HASHES else hashlib.new(name, bytes(data)).digest()
    if name not in _MECHANISM_HASHES:
        raise UnsupportedError(f"a PKCS#11 key signs with SHA-1 or SHA-2, not {name}")
    return digest, name


def _mgf_hash(mgf: padding.MGF) -> str:
    if not isinstance(mgf, padding.MGF1):
        raise UnsupportedError("only MGF1 is supported with a PKCS#11 key")
    name: str = mgf._algorithm.name  # MGF1 keeps its hash there (no public accessor)
    if name not in _MECHANISM_HASHES:
        raise UnsupportedError(f"MGF1 with {name} is not supported with a PKCS#11 key")
    return name


def _not_exportable() -> NoReturn:
    raise UnsupportedError(
        "the private key stays on its PKCS#11 token: it cannot be exported or read"
    )


# ---------------------------------------------------------------------------- the keys


_Key = TypeVar("_Key")


class _TokenKeyMixin(Generic[_Public]):
    """What both key types share: the pool, the public key read once, pickling by URI,
    no export."""

    _public: _Public

    def __init__(self, pool: _Pool, public: _Public) -> None:
        self._pool = pool
        self._public = public

    def __copy__(self: _Key) -> _Key:
        return self  # a handle on the token's key: nothing to copy

    def __deepcopy__(self: _Key, memo: dict[int, object]) -> _Key:
        return self

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> _Public:
        return self._public

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._pool.uri.text()}>"

    def private_bytes(self, encoding: serialization.Encoding,
                      format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption,
                      ) -> bytes:
        _not_exportable()

    def __reduce__(self) -> tuple[Callable[[str, str], PrivateKeyTypes], tuple[str, str]]:
        """Pickled as its URI and module; the other process opens the token again and
        reads the PIN from the URI's pin-source. A PIN given any other way is not written
        into the pickle."""
        pool = self._pool
        if pool.pin.value is not None and pool.pin.source is None:
            raise UsageError(
                f"a key on a PKCS#11 token ({pool.uri.text()}) was opened with a PIN given "
                "directly, which is not written into a pickle: name a PIN file in the URI "
                "(pin-source=/path) that the other process can read, and load it from that"
            )
        return _reopen, (pool.uri.text(), pool.module)

    def _refused(self, exc: Exception, what: str) -> Exception | None:
        """UnsupportedError when the token does not do ``what`` with these parameters."""
        p11 = self._pool.p11
        if isinstance(exc, (p11.ArgumentsBad, p11.MechanismInvalid,
                            p11.MechanismParamInvalid, p11.FunctionNotSupported)):
            return UnsupportedError(f"the PKCS#11 token does not do {what} ({_named(exc)})")
        return None

    def _sign_raw(self, mechanism: str, payload: bytes, param: Any = None,
                  what: str = "") -> bytes:
        p11 = self._pool.p11
        mech = getattr(p11.Mechanism, mechanism)

        def failed(exc: Exception) -> Exception:
            return self._refused(exc, what or mechanism) or TokenError(
                f"the token refused to sign: {_named(exc)}")

        signature: bytes = self._pool.run(
            lambda key: key.sign(payload, mechanism=mech, mechanism_param=param), failed)
        return signature


class TokenRSAPrivateKey(_TokenKeyMixin[rsa.RSAPublicKey], rsa.RSAPrivateKey):
    """An RSA key on a token: PKCS#1 v1.5 and PSS signatures, v1.5 and OAEP decryption."""

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _not_exportable()

    def sign(self, data: Buffer, padding: padding.AsymmetricPadding,
             algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo) -> bytes:
        if isinstance(algorithm, utils.NoDigestInfo):  # the caller built the DigestInfo
            if not isinstance(padding, _padding.PKCS1v15):
                raise UnsupportedError("NoDigestInfo goes with PKCS#1 v1.5 padding only")
            return self._sign_raw("RSA_PKCS", bytes(data))
        digest, name = _digest(bytes(data), algorithm)
        p11 = self._pool.p11
        if isinstance(padding, _padding.PKCS1v15):
            return self._sign_raw("RSA_PKCS", _DIGEST_INFO[name] + digest,
                                  what=f"RSA PKCS#1 v1.5 signatures with {name}")
        if isinstance(padding, _padding.PSS):
            salt = self._salt_length(padding, len(digest))
            hash_mech, _mgf = _MECHANISM_HASHES[name]
            _h, mgf = _MECHANISM_HASHES[_mgf_hash(padding.mgf)]
            return self._sign_raw(
                "RSA_PKCS_PSS", digest,
                (getattr(p11.Mechanism, hash_mech), getattr(p11.MGF, mgf), salt),
                what=f"RSA-PSS signatures with {name}",
            )
        raise UnsupportedError(f"RSA padding {padding.name} is not supported with a PKCS#11 key")

    def _salt_length(self, pss: padding.PSS, hash_size: int) -> int:
        salt = pss._salt_length  # PSS exposes no public accessor for it
        if isinstance(salt, int):
            return salt
        if salt is _padding.PSS.MAX_LENGTH:
            return (self.key_size + 7) // 8 - hash_size - 2
        if salt is _padding.PSS.DIGEST_LENGTH:
            return hash_size
        raise UnsupportedError("PSS salt length AUTO is for verifying, not signing")

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        """The plaintext; ValueError for every failure of the ciphertext or its padding, as
        cryptography raises, so the CMS layer treats them alike (Bleichenbacher)."""
        p11 = self._pool.p11
        if isinstance(padding, _padding.PKCS1v15):
            mech, param, what = p11.Mechanism.RSA_PKCS, None, "RSA PKCS#1 v1.5 decryption"
        elif isinstance(padding, _padding.OAEP):
            name = padding.algorithm.name
            if name not in _MECHANISM_HASHES:
                raise UnsupportedError(f"OAEP with {name} is not supported with a PKCS#11 key")
            hash_mech, _m = _MECHANISM_HASHES[name]
            _h, mgf = _MECHANISM_HASHES[_mgf_hash(padding.mgf)]
            label = padding._label or None  # OAEP exposes no public accessor for it
            mech = p11.Mechanism.RSA_PKCS_OAEP
            param = (getattr(p11.Mechanism, hash_mech), getattr(p11.MGF, mgf), label)
            what = (f"RSA-OAEP decryption with {name} (SoftHSM2 2.6 does OAEP with SHA-1 "
                    "only)")
        else:
            raise UnsupportedError(
                f"RSA padding {padding.name} is not supported with a PKCS#11 key"
            )
        plain: bytes = self._pool.run(
            lambda key: key.decrypt(bytes(ciphertext), mechanism=mech, mechanism_param=param),
            lambda exc: self._refused(exc, what) or _decryption_failed(exc),
        )
        return plain


def _decryption_failed(exc: Exception) -> Exception:
    return ValueError("Decryption failed")


class TokenECPrivateKey(_TokenKeyMixin[ec.EllipticCurvePublicKey], ec.EllipticCurvePrivateKey):
    """An EC key on a token: ECDSA signatures and ECDH (CKM_ECDH1_DERIVE)."""

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _not_exportable()

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
             ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedError("an EC key on a token signs with ECDSA only")
        if signature_algorithm.deterministic_signing:
            raise UnsupportedError("deterministic ECDSA (RFC 6979) is not done by tokens")
        digest, _name = _digest(bytes(data), signature_algorithm.algorithm)
        raw = self._sign_raw("ECDSA", digest)
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                          int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey
                 ) -> bytes:
        """The ECDH shared secret, computed on the token; ValueError for a peer key on
        another curve or one the token refuses, as cryptography raises."""
        if not isinstance(algorithm, ec.ECDH):
            raise UnsupportedError("an EC key on a token does ECDH key agreement only")
        if not isinstance(peer_public_key, ec.EllipticCurvePublicKey) or \
                peer_public_key.curve.name != self.curve.name:
            raise ValueError("the peer public key is not on the key's curve")
        point = peer_public_key.public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
        p11 = self._pool.p11
        size = (self.curve.key_size + 7) // 8

        def derive(key: Any) -> bytes:
            if not hasattr(key, "derive_key"):  # python-pkcs11 adds it when CKA_DERIVE is set
                raise UnsupportedError(
                    f"the token key {self._pool.uri.text()} does not allow key derivation "
                    "(CKA_DERIVE is false), so it cannot agree ECDH keys: set CKA_DERIVE")
            secret = key.derive_key(
                p11.KeyType.GENERIC_SECRET, size * 8,
                mechanism=p11.Mechanism.ECDH1_DERIVE,
                mechanism_param=(p11.KDF.NULL, None, point),
                template={p11.Attribute.SENSITIVE: False, p11.Attribute.EXTRACTABLE: True,
                          p11.Attribute.TOKEN: False},
            )
            try:
                value: bytes = secret[p11.Attribute.VALUE]
            finally:
                secret.destroy()
            return value

        shared: bytes = self._pool.run(
            derive, lambda exc: UnsupportedError(
                f"the PKCS#11 token does not do ECDH (CKM_ECDH1_DERIVE): {_named(exc)}")
            if isinstance(exc, (p11.MechanismInvalid, p11.FunctionNotSupported))
            else _decryption_failed(exc))
        return shared


# the argument named `padding` in the sign/decrypt signatures shadows the module
_padding = padding


# ---------------------------------------------------------------------------- opening


def _public_from_token(pool: _Pool, session: Any, key: Any) -> rsa.RSAPublicKey | \
        ec.EllipticCurvePublicKey | None:
    """The public key as the token keeps it: on the private key (RSA), else on the public
    key object with the same CKA_ID; None when the token has neither."""
    p11 = pool.p11
    kind = key.key_type
    if kind == p11.KeyType.RSA:
        try:
            n = int.from_bytes(key[p11.Attribute.MODULUS], "big")
            e = int.from_bytes(key[p11.Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        except (p11.PKCS11Error, ValueError):
            pass
    attrs = pool.companion(p11.ObjectClass.PUBLIC_KEY)
    if attrs is None:
        return None
    found = list(session.get_objects(attrs))
    if len(found) != 1:
        return None
    try:
        if kind == p11.KeyType.RSA:
            return rsa.RSAPublicNumbers(
                int.from_bytes(found[0][p11.Attribute.PUBLIC_EXPONENT], "big"),
                int.from_bytes(found[0][p11.Attribute.MODULUS], "big"),
            ).public_key()
        if kind == p11.KeyType.EC:
            curve = _curve(key[p11.Attribute.EC_PARAMS])
            point = _unwrap_octet_string(found[0][p11.Attribute.EC_POINT])
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except (p11.PKCS11Error, ValueError, UnsupportedError):
        return None
    return None


def _unwrap_octet_string(value: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40); a few tokens store the raw point."""
    try:
        inner = asn1core.OctetString.load(value, strict=True).native
    except ValueError:
        return value
    return inner if inner and inner[0] in (2, 3, 4) else value


def _curve(ec_params: bytes) -> ec.EllipticCurve:
    """The named curve of a CKA_EC_PARAMS (ECParameters, RFC 3279)."""
    try:
        params = asn1keys.ECDomainParameters.load(ec_params, strict=True)
        kind = params.name
        oid = params.chosen.dotted if kind == "named" else ""
    except ValueError:
        raise UnsupportedError("the token's EC key has unreadable curve parameters") from None
    if kind != "named":
        raise UnsupportedError("the token's EC key has explicit curve parameters; a named "
                               "curve is needed")
    try:
        return ec.get_curve_for_oid(x509.ObjectIdentifier(oid))()
    except LookupError:
        raise UnsupportedError(
            f"the token's EC key is on an unsupported curve {oid}") from None


def _token_certificates(pool: _Pool, session: Any) -> list[x509.Certificate]:
    """The certificates stored with the key (same CKA_ID, else the same label)."""
    p11 = pool.p11
    attrs = pool.companion(p11.ObjectClass.CERTIFICATE)
    if attrs is None:
        return []
    out = []
    for obj in session.get_objects(attrs):
        try:
            out.append(x509.load_der_x509_certificate(obj[p11.Attribute.VALUE]))
        except (p11.PKCS11Error, ValueError):
            continue
    return out


def _proves(key: TokenRSAPrivateKey | TokenECPrivateKey) -> bool:
    """Whether the token key signs what its assumed public key verifies (when the token
    does not show its public key, the certificate's is tried this way)."""
    challenge = os.urandom(32)
    try:
        if isinstance(key, TokenRSAPrivateKey):
            key.public_key().verify(key.sign(challenge, padding.PKCS1v15(), hashes.SHA256()),
                                    challenge, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.public_key().verify(key.sign(challenge, ec.ECDSA(hashes.SHA256())),
                                    challenge, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, TokenError, ValueError):
        return False
    return True


def open_token_key(
    uri: str | PKCS11URI,
    *,
    module: str | os.PathLike[str] | None = None,
    pin: str | bytes | None = None,
    certificates: Sequence[x509.Certificate] = (),
) -> tuple[TokenRSAPrivateKey | TokenECPrivateKey, list[x509.Certificate]]:
    """The key a ``pkcs11:`` URI names, and the certificates that may be its own: those
    given first, then those on the token with the key's CKA_ID.

    ``module`` (the PKCS#11 library) wins over the URI's module-path. The PIN is ``pin``,
    else the URI's pin-value, else the first line of its pin-source file.
    """
    parsed = uri if isinstance(uri, PKCS11URI) else parse_pkcs11_uri(uri)
    path = os.fspath(module) if module is not None else parsed.query.get("module-path")
    if not path:
        hint = (" (module-name is not looked up: give its path)"
                if "module-name" in parsed.query else "")
        raise UsageError("a PKCS#11 module is needed: pass module= (the library, e.g. "
                         f"/usr/lib/softhsm/libsofthsm2.so) or module-path= in the URI{hint}")
    pool = _Pool(parsed, path, _pin_for(parsed, pin))
    p11 = pool.p11
    with pool.lock:
        try:
            session = pool._open_session()
            key = pool.find_key(session)
            kind = key.key_type
            public = _public_from_token(pool, session, key)
            on_token = _token_certificates(pool, session)
        except p11.PKCS11Error as exc:
            raise LoadError(f"the token behind {parsed.text()} failed: {_named(exc)}") from exc
    with pool.cond:
        pool.opened = 1
        pool.idle.append((session, key))
    found = [*certificates, *on_token]
    maker: Any
    wanted: type
    if kind == p11.KeyType.RSA:
        maker, wanted = TokenRSAPrivateKey, rsa.RSAPublicKey
    elif kind == p11.KeyType.EC:
        maker, wanted = TokenECPrivateKey, ec.EllipticCurvePublicKey
    else:
        raise UnsupportedError(f"the token key is of type {_named_kind(kind)}: RSA and EC "
                               "keys are supported")
    if public is not None:
        return maker(pool, public), found
    for cert in found:  # the token hides its public key: try each certificate's
        candidate = cert.public_key()
        if isinstance(candidate, wanted):
            token_key: TokenRSAPrivateKey | TokenECPrivateKey = maker(pool, candidate)
            if _proves(token_key):
                return token_key, found
    raise LoadError(f"the token does not show the public key of {parsed.text()}, and no "
                    "certificate given or on the token belongs to it: pass certificate=")


def _named_kind(kind: Any) -> str:
    return getattr(kind, "name", str(kind))


_REOPENED: dict[tuple[str, str], PrivateKeyTypes] = {}
_REOPENED_GUARD = threading.Lock()


def _reopen(uri: str, module: str) -> PrivateKeyTypes:
    """Unpickling: the key again, once per process (its pool is shared by every
    identity unpickled from the same URI)."""
    with _REOPENED_GUARD:
        key = _REOPENED.get((uri, module))
        if key is None:
            key, _certs = open_token_key(uri, module=module)
            _REOPENED[(uri, module)] = key
        return key
