"""CMS (RFC 5652) structures on asn1crypto, with cryptography doing the arithmetic.

This layer takes and returns bytes and value objects; it knows nothing of MIME.
"""

from . import _oids  # noqa: F401  (registers the OIDs asn1crypto lacks, before any parse)
