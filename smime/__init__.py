"""smime: S/MIME for Python (public API being assembled)."""

from .__about__ import __version__

__all__ = ["__version__"]
