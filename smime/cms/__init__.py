"""CMS (RFC 5652) structures on asn1crypto, with cryptography doing the arithmetic.

This layer takes and returns bytes and value objects; it knows nothing of MIME.
"""
