"""Stable codes for what can be wrong with a signature, and the sentence that explains it.

Codes are part of the API: programs branch on ``problem.code``, people read ``str(problem)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Problem", "ProblemCode"]


class ProblemCode(str, enum.Enum):
    """Why a signature or signer is not (fully) valid."""

    NO_SIGNERS = "no_signers"
    BAD_SIGNATURE = "bad_signature"
    DIGEST_MISMATCH = "digest_mismatch"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    MISSING_CERTIFICATE = "missing_certificate"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    KEY_USAGE = "key_usage"
    EXTENDED_KEY_USAGE = "extended_key_usage"
    SENDER_MISMATCH = "sender_mismatch"
    NO_SENDER = "no_sender"
    WEAK_ALGORITHM = "weak_algorithm"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    INVALID_CHAIN = "invalid_chain"
    SIGNING_TIME_INVALID = "signing_time_invalid"
    MALFORMED = "malformed"
    UNAUTHENTICATED_CONTENT = "unauthenticated_content"  # unwrap: CBC, no valid signature inside
    HEADER_MISMATCH = "header_mismatch"
    PARTIAL_SIGNATURE = "partial_signature"


@dataclass(frozen=True)
class Problem:
    """One reason for distrust: a stable ``code`` and a ``message`` for people."""

    code: ProblemCode
    message: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``: plain data for JSON."""
        return {"code": self.code.value, "message": self.message}
