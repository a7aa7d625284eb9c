"""The two constants every module of the MIME layer shares."""

from __future__ import annotations

import email.policy

__all__ = ["MAX_DEPTH", "POLICY"]

#: Deepest nesting of multipart and message parts we accept (real mail stays below 10).
MAX_DEPTH = 50
#: The policy of every message we return: CRLF, and headers read from a source are written
#: back exactly (``refold_source="none"``), so ``as_bytes()`` gives the wire form.
POLICY = email.policy.SMTP.clone(refold_source="none")
