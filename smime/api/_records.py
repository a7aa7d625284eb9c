"""The log records of the receiving operations: verdicts, never content (see ``smime._log``).

Kept apart from the operations so that each of them gains one line: the call.
"""

from __future__ import annotations

import logging

from .._log import api as _LOG
from ..core.names import certificate_label
from ..problems import Problem, ProblemCode
from ..results import DecryptionInfo, VerificationResult


def _codes(problems: tuple[Problem, ...]) -> str:
    return ", ".join(dict.fromkeys(p.code.value for p in problems)) or "none"


def verified(result: VerificationResult) -> None:
    """INFO the verdict and its problem codes, DEBUG each signer, WARNING weak algorithms
    accepted because the policy allows them."""
    if _LOG.isEnabledFor(logging.INFO):
        _LOG.info("verify: valid %s, %d signer(s), problems: %s; warnings: %s", result.valid,
                  len(result.signers), _codes(result.problems), _codes(result.warnings))
    if _LOG.isEnabledFor(logging.DEBUG):
        for signer in result.signers:
            _LOG.debug(
                "verify: signer %s, digest %s, signature %s, intact %s, trusted %s, "
                "chain of %d", certificate_label(signer.certificate) if signer.certificate
                else "(certificate not found)", signer.digest_algorithm, signer.signature_algorithm,
                signer.intact, signer.trusted, len(signer.chain))
    if any(p.code == ProblemCode.WEAK_ALGORITHM for p in result.warnings):
        _LOG.warning("verify: a weak algorithm was accepted because the policy allows it "
                     "(allow_weak_algorithms=True): such a signature proves little")


def decrypted(info: DecryptionInfo, *, vouched: bool) -> None:
    """INFO what opened the content; WARNING when nothing protects its integrity
    (``vouched``: a signature over the whole content was already checked)."""
    _LOG.info("decrypt: cipher %s, key management %s, authenticated %s", info.cipher,
              info.key_management, info.authenticated)
    if not info.authenticated and not vouched:
        _LOG.warning("decrypt: the content was encrypted with %s, which does not detect "
                     "tampering: unless a valid signature inside covers it, it may have been "
                     "altered on the way (EFAIL)", info.cipher)
