"""User code that mypy --strict must reject at exactly the lines marked ``# wrong``.

Checked by tests/test_store_layer.py; never imported or run.
"""

from __future__ import annotations

import smime


def harvests(message: bytes, store: smime.CertificateStore, trust: smime.TrustStore) -> None:
    result = smime.verify(message, trust=trust)
    store.harvest(result)
    store.harvest(smime.unwrap(message, trust=trust).verifications[0])
    store.harvest(smime.unwrap(message, trust=trust))  # wrong
    store.harvest(message)  # wrong


def encrypts(message: bytes, store: smime.CertificateStore) -> None:
    smime.encrypt(message, "bob@example.com", store=store)
    smime.encrypt(message, "bob@example.com", store=None)
    smime.encrypt(message, "bob@example.com", store="contacts.sqlite")  # wrong
