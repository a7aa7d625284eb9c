"""Pickling for values that hold ``cryptography`` objects, which do not pickle themselves.

A process pool, Dask or Ray moves arguments and results between processes by pickling
them. Certificates, CRLs and OCSP responses travel as their DER here, read-only mappings
as dicts: :func:`reduce_fields` swaps each for a stand-in whose own ``__reduce__`` is the
call that rebuilds it, so the unpickled value holds real ``cryptography`` objects again.
Private keys are :class:`~smime.keys.Identity`'s business (it says what a pickle carries).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import fields
from types import MappingProxyType
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from .._cache import LRUCache
from ..errors import UsageError

__all__ = ["certificate_der", "dumps", "load_certificate", "reduce_attributes", "reduce_fields"]

_T = TypeVar("_T")
_DER = serialization.Encoding.DER


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(_DER)


def load_certificate(der: bytes) -> x509.Certificate:
    """A certificate from the DER a pickle carries (it parsed once already, where it came
    from, and was checked there)."""
    return x509.load_der_x509_certificate(der)


def _load_crl(der: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(der)


def _load_ocsp(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def _read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


class _Portable:
    """Stands in for an object that does not pickle: it pickles as the call that remakes it."""

    __slots__ = ("data", "make")

    def __init__(self, make: Callable[[Any], Any], data: Any) -> None:
        self.make = make
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return self.make, (self.data,)


#: One stand-in per certificate: a result names its signer's certificate three times or
#: more (signer, chain, the message's certificates), and pickle writes an object it has
#: already written as a reference, so the DER travels, and is parsed, once. Keyed by
#: ``id()`` (hashing a certificate hashes its DER); the entry holds the certificate, so
#: the id cannot pass to another object while the entry lives.
_STAND_INS: LRUCache[tuple[x509.Certificate, _Portable]] = LRUCache("pickling.certificates", 256)
#: Field values that need no look inside.
_PLAIN = frozenset({str, bytes, int, bool, float, type(None)})


def _stand_in(cert: x509.Certificate) -> _Portable:
    entry = _STAND_INS.get(id(cert))
    if entry is None or entry[0] is not cert:
        entry = (cert, _Portable(load_certificate, certificate_der(cert)))
        _STAND_INS.put(id(cert), entry)
    return entry[1]


def _portable(value: Any) -> Any:
    """``value`` with every certificate, CRL, OCSP response and read-only mapping in it
    (looking inside tuples and lists) replaced by a stand-in."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple or kind is list:  # not a NamedTuple: it would not take one argument
        return kind([_portable(item) for item in value])
    if isinstance(value, x509.Certificate):
        return _stand_in(value)
    if isinstance(value, x509.CertificateRevocationList):
        return _Portable(_load_crl, value.public_bytes(_DER))
    if isinstance(value, ocsp.OCSPResponse):
        return _Portable(_load_ocsp, value.public_bytes(_DER))
    if isinstance(value, MappingProxyType):
        return _Portable(_read_only, {k: _portable(v) for k, v in value.items()})
    return value


def _restored(value: Any) -> Any:
    """The objects back in place of stand-ins: a pickle has already made them, but
    ``copy.copy`` hands over what :func:`reduce_fields` returned as it is."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is _Portable:
        return value.make(_restored(value.data))
    if kind is tuple or kind is list:
        return kind([_restored(item) for item in value])
    if kind is dict:
        return {k: _restored(v) for k, v in value.items()}
    return value


def reduce_fields(obj: Any) -> tuple[Callable[[type[_T], dict[str, Any]], _T], tuple[Any, ...]]:
    """``__reduce__`` for a dataclass: its fields, made portable, set again on load without
    calling ``__init__`` (as pickle does for any object); caches outside the fields stay
    behind and are rebuilt on demand."""
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(item.name for item in fields(obj))
    return _rebuild, (type(obj), {name: _portable(getattr(obj, name)) for name in names})


def reduce_attributes(obj: Any) -> tuple[Callable[[type[_T], dict[str, Any]], _T], tuple[Any, ...]]:
    """``__reduce__`` for a plain class whose instance attributes are all settings
    (no connection, lock or cache): :func:`reduce_fields` over ``vars(obj)``."""
    return _rebuild, (type(obj), {name: _portable(value) for name, value in vars(obj).items()})


#: Field names per dataclass (``dataclasses.fields`` builds a tuple on every call).
_FIELDS: dict[type, tuple[str, ...]] = {}


def _rebuild(cls: type[_T], state: dict[str, Any]) -> _T:
    obj = cls.__new__(cls)
    for name, value in state.items():
        object.__setattr__(obj, name, _restored(value))
    return obj


class _Pickler(pickle.Pickler):
    """Sends a bare ``cryptography`` certificate (a recipient, ``certificates=``) as its
    DER: this pickler's own rule, nothing registered globally."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, x509.Certificate):
            return load_certificate, (certificate_der(obj),)
        return NotImplemented


def dumps(value: Any, what: str) -> bytes:
    """``value`` pickled for another process (:mod:`smime.batch`, :mod:`smime.aio`); a
    UsageError naming ``what`` when it cannot be."""
    out = io.BytesIO()
    try:
        _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        return out.getvalue()
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{what} cannot travel to another process ({exc}); pass values that pickle "
            "(bytes or paths for messages, not open files), or use executor=None or a "
            "ThreadPoolExecutor"
        ) from exc
