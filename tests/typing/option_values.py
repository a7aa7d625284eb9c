"""User code that mypy --strict must reject at exactly the lines marked ``# wrong``.

Checked by tests/test_quality.py; never imported or run.
"""

from __future__ import annotations

import smime


def sends(message: bytes, alice: smime.Identity) -> None:
    smime.sign(message, alice, digest="sha384")
    smime.sign(message, alice, digest="sha1")  # wrong
    smime.sign(message, alice, signature_padding="oaep")  # wrong
    smime.encrypt(message, alice.certificate, cipher="aes-192-cbc")
    smime.encrypt(message, alice.certificate, cipher="aes-999")  # wrong
    smime.encrypt(message, alice.certificate, key_transport="rsa")  # wrong
    smime.verify(message, revocation="hard-fail")
    smime.verify(message, revocation="strict")  # wrong
    smime.VerificationPolicy(validate_at="yesterday")  # wrong
