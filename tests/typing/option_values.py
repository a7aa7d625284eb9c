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


def batches(messages: list[bytes], alice: smime.Identity) -> None:
    import smime.batch
    import smime.stream

    smime.batch.sign(messages, alice, digest="sha512", chunksize=8)
    smime.batch.sign(messages, alice, digest="md5")  # wrong
    smime.batch.imap_encrypt(messages, alice.certificate, cipher="aes-999")  # wrong
    smime.batch.verify(messages, None, revocaton="off")  # wrong
    smime.batch.unwrap(messages, alice, in_flight="many")  # wrong
    smime.stream.sign("in.eml", "out.eml", alice, digest="sha1")  # wrong
    smime.stream.verify("in.eml", revocation="off", store=None)
    smime.stream.decrypt("in.eml", "out.eml", alice, require_authenticated=1)  # wrong


async def coroutines(message: bytes, alice: smime.Identity) -> None:
    import smime.aio

    await smime.aio.sign(message, alice, format="der", digest="sha384")
    await smime.aio.encrypt(message, alice.certificate, key_transport="rsa")  # wrong
    await smime.aio.verify(message, None, fetch="yes")  # wrong
