"""What "verified" means: the checks a careful mail client makes, as one frozen value.

The defaults follow Bouncy Castle's ``SignedMailValidator``: a trusted chain, a signing key
usage, the emailProtection purpose, the sender's address in the certificate, validation at
the signing time, and no SHA-1/MD5.

About ``validate_at="signing_time"``: the signingTime attribute is written by the signer, so
it is a claim, not a proof. It lets mail signed while a certificate was valid stay valid
after the certificate expires, which is what mail readers expect. It does not protect
against someone holding a stolen key, who can write any time: revocation entries whose
reason is a key or CA compromise therefore revoke whatever signing time is claimed. A
claimed time outside the certificate's validity is judged as claimed: before notBefore the
certificate was ``not_yet_valid`` when it signed, after notAfter it had ``expired``. Use
``"both"`` to require validity at the claimed time and today, or ``"now"`` to ignore the
claim.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from ..core.times import utc
from ..options import VALIDATE_AT, ValidateAt, check_option

__all__ = [
    "DEFAULT_POLICY",
    "VALIDATE_AT",
    "VerificationPolicy",
    "validation_times",
]



@dataclass(frozen=True)
class VerificationPolicy:
    """The checks that decide whether a signature counts as verified."""

    require_trusted_chain: bool = True  # False: a signer no root vouches for may count; the
    # API then keeps the missing anchor as an UNTRUSTED warning
    check_key_usage: bool = True  # keyUsage must allow digitalSignature or nonRepudiation
    require_email_protection_eku: bool = True  # an EKU extension must allow emailProtection
    require_sender_match: bool = True  # every From address must be named in the certificate
    validate_at: ValidateAt = "signing_time"
    allow_weak_algorithms: bool = False  # SHA-1, MD5 (& SHA-224) signatures and chains are
    # WEAK_ALGORITHM problems; True accepts them for old mail and reports them as warnings.
    allow_sender_header: bool = False  # True: a signer named in Sender (sending on behalf of
    # the From addresses, RFC 5322 §3.6.2) also binds; by default only From counts.

    def __post_init__(self) -> None:
        check_option("validate_at", self.validate_at, VALIDATE_AT)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, JSON-safe: each field by its name."""
        return dataclasses.asdict(self)


DEFAULT_POLICY = VerificationPolicy()


def validation_times(
    cert: x509.Certificate,
    signing_time: dt.datetime | None,
    policy: VerificationPolicy = DEFAULT_POLICY,
    *,
    now: dt.datetime | None = None,
) -> tuple[dt.datetime, ...]:
    """The moments at which a signer's chain must validate under ``policy``.

    The claimed signing time is taken as claimed, even outside the certificate's validity
    (then the answer is ``not_yet_valid`` or ``expired`` at that time, which names the real
    fault); without one, "now" stands in for it. ``cert`` no longer changes the answer; it
    stays for the callers that pass it.
    """
    current = utc(now) if now is not None else dt.datetime.now(dt.timezone.utc)
    claimed = utc(signing_time) if signing_time is not None else current
    if policy.validate_at == "now":
        return (current,)
    if policy.validate_at == "signing_time" or claimed == current:
        return (claimed,)
    return (claimed, current)
