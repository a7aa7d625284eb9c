"""Pickling arguments for another process, for :mod:`smime.batch` and :mod:`smime.aio`.

The library's own values pickle themselves; a certificate given as a ``cryptography``
object (a recipient, ``certificates=``) does not, so this pickler sends it as its DER. It
is this pickler's own rule: nothing is registered globally.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from cryptography import x509

from .core.pickling import certificate_der, load_certificate
from .errors import UsageError

__all__ = ["dumps"]


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, x509.Certificate):
            return load_certificate, (certificate_der(obj),)
        return NotImplemented


def dumps(value: Any, what: str) -> bytes:
    """``value`` pickled; a UsageError naming ``what`` when it cannot be."""
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
