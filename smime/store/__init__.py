"""Correspondents' certificates and capabilities, harvested from signed mail (SQLite).

Its own layer, above ``smime.validation`` (every certificate it keeps is validated with
the library's path validation) and below the MIME, transport and API layers. It reads
verification results through the :class:`SignedResult` protocol, so it needs nothing
from the layers above it.
"""

from __future__ import annotations

from ._match import KeyPreference
from .source import CertificateSource, check_source
from .store import *  # noqa: F403  (the layer's face: store.py's public names)
from .store import __all__ as _store_names

__all__ = [*_store_names, "CertificateSource", "KeyPreference", "check_source"]
