"""S/MIME for messages too large to hold: sign, encrypt, decrypt and verify from a source
to a destination (paths or binary files) in blocks, in memory independent of their size.

The same keywords, defaults and wire form as :func:`smime.sign`, :func:`smime.encrypt`,
:func:`smime.decrypt` and :func:`smime.verify`; the CMS is written in BER with indefinite
lengths, as ``openssl cms -stream`` writes it, and read in any form OpenSSL, Outlook or
Java write. Raw CMS files (DER or PEM ``.p7m``, a detached ``.p7s`` with ``content=``)
are read too, and written with ``format="der"`` or ``"pem"``. See
``docs/guides/streaming.md`` for when output is committed.
"""

from ._ops import OutputFormat, decrypt, encrypt, sign, verify

__all__ = ["OutputFormat", "decrypt", "encrypt", "sign", "verify"]
