"""Wrong argument types get one clear error everywhere: ``UsageError``, naming what is taken.

``UsageError`` is an ``SMIMEError`` (``except SMIMEError`` still catches everything) and a
``TypeError`` (what Python raises for a wrong call). It is raised at the entry, before the
input is read, never an AttributeError or "'int' object is not iterable" from deep inside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import smime
from smime.errors import DecryptionError, MissingKeyError, SMIMEError, UsageError
from smime.testing import issue_certificate, make_ca
from smime.transports import MockTransport

LETTER = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: x\r\n\r\nhello\r\n"
CA = make_ca("Arguments CA")
ALICE = issue_certificate(CA, "alice@example.com")
SIGNED = smime.sign(LETTER, ALICE).as_bytes()
SEALED = smime.encrypt(LETTER, ALICE.certificate).as_bytes()
PATH = Path("letter.eml")

MESSAGE = "the message must be bytes, str (the message text), an email.message.Message, a path"
IDENTITY = "identity must be an Identity"
TRUST = "trust must be a TrustStore"
CERTIFICATE = "the certificate must be bytes, PEM text or a path"

Call = Callable[[Any], object]
CASES: list[tuple[str, Call, list[object], str]] = [
    ("sign(message)", lambda v: smime.sign(v, ALICE), [123, None, {}, 1.5, [1]], MESSAGE),
    ("sign(signers)", lambda v: smime.sign(LETTER, v), [123, None, {}, PATH, "alice"],
     "signers must be an Identity (from smime.load_identity) or a list of them"),
    ("sign([signer])", lambda v: smime.sign(LETTER, [v]), [123, None, ALICE.certificate],
     "each signer must be an Identity"),
    ("encrypt(message)", lambda v: smime.encrypt(v, ALICE.certificate), [123, None, {}],
     MESSAGE),
    ("encrypt(recipients)", lambda v: smime.encrypt(LETTER, v), [123, None, {}, 1.5, [1]],
     "each recipient must be a certificate"),
    ("compress(message)", lambda v: smime.compress(v), [123, None, {}], MESSAGE),
    ("decrypt(message)", lambda v: smime.decrypt(v, ALICE), [123, None, {}], MESSAGE),
    ("decrypt(identity)", lambda v: smime.decrypt(SEALED, v), [123, None, {}, PATH, [ALICE]],
     IDENTITY),
    ("decrypt(garbage, identity)", lambda v: smime.decrypt(b"\x00garbage", v), [None],
     IDENTITY),  # the call is checked before the input is read
    ("verify(message)", lambda v: smime.verify(v), [123, None, {}], MESSAGE),
    ("verify(trust)", lambda v: smime.verify(SIGNED, v), [123, {}, [1], [1.5, CA.certificate]],
     TRUST),
    ("verify(at=)", lambda v: smime.verify(SIGNED, at=v), ["2026-01-01", 0],
     "at must be a datetime or None"),
    ("verify(policy=)", lambda v: smime.verify(SIGNED, policy=v), [{}, "strict"],
     "policy must be a VerificationPolicy or None"),
    ("unwrap(message)", lambda v: smime.unwrap(v), [123, None, {}], MESSAGE),
    ("unwrap(identity)", lambda v: smime.unwrap(SEALED, v), [123, {}, PATH], IDENTITY),
    ("unwrap(trust)", lambda v: smime.unwrap(SIGNED, None, v), [123, {}, [None]],
     TRUST),
    ("export_certificates", lambda v: smime.export_certificates(v), [123, None, {}, PATH],
     "certificates must be an x509.Certificate or a list of certificates"),
    ("export_certificates([...])", lambda v: smime.export_certificates([v]), [123, None],
     CERTIFICATE),
    ("inspect(message)", lambda v: smime.inspect(v), [123, None, {}, 1.5], MESSAGE),
    ("inspect(identity)", lambda v: smime.inspect(SEALED, v), [123, {}, PATH], IDENTITY),
    ("load_identity(source)", lambda v: smime.load_identity(v), [123, {}, 1.5, [1]],
     "the identity must be bytes, PEM text or a path"),
    ("load_identity(password)", lambda v: smime.load_identity(b"x", v), [123, 1.5, {}],
     "password must be str, bytes or None"),
    ("load_identity(cert=, key=)", lambda v: smime.load_identity(cert=v, key=b"x"), [123, {}],
     CERTIFICATE),
    ("load_certificates", lambda v: smime.load_certificates(v), [123, None, {}, 1.5, [1]],
     CERTIFICATE),
    ("TrustStore.from_pem", lambda v: smime.TrustStore.from_pem(v), [123, None], CERTIFICATE),
    ("send(message)", lambda v: smime.send(v, MockTransport()), [123, None, {}], MESSAGE),
    ("send(transport)", lambda v: smime.send(LETTER, v), [123, None, {}, PATH],
     "transport must be a transport: an object with a send("),
    ("asend(transport)", lambda v: asyncio.run(smime.asend(LETTER, v)), [123, None],
     "transport must be a transport: an object with a send("),
]


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


@pytest.mark.parametrize(
    ("call", "value", "words"),
    [
        pytest.param(call, value, words, id=f"{name}-{_type_name(value)}")
        for name, call, values, words in CASES
        for value in values
    ],
)
def test_a_wrong_argument_type_is_a_usage_error_naming_what_is_taken(
    call: Call, value: object, words: str
) -> None:
    with pytest.raises(UsageError) as caught:
        call(value)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, SMIMEError)
    text = str(caught.value)
    assert words in text
    # it names the type it got: the argument's, or that of the list item it cannot take
    items = value[:1] if isinstance(value, list) else []
    offenders = {_type_name(value), *map(_type_name, items)}
    assert text.rpartition(", not ")[2] in offenders, text


def test_calls_without_what_they_need_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="sign needs at least one identity"):
        smime.sign(LETTER, [])
    with pytest.raises(UsageError, match="encrypt needs at least one recipient"):
        smime.encrypt(LETTER, [])
    with pytest.raises(UsageError, match=r"both cert= and key="):
        smime.load_identity()


def test_unwrap_without_a_key_says_so_with_its_own_class() -> None:
    """An encrypted message and no identity: MissingKeyError, still a DecryptionError."""
    with pytest.raises(MissingKeyError, match="unwrap needs identity=") as caught:
        smime.unwrap(SEALED)
    assert isinstance(caught.value, DecryptionError)
    # with a key that does not fit it is the one opaque DecryptionError, not MissingKeyError
    other = issue_certificate(CA, "other@example.com")
    with pytest.raises(DecryptionError) as wrong:
        smime.unwrap(SEALED, other)
    assert not isinstance(wrong.value, MissingKeyError)
    assert str(wrong.value) == DecryptionError.MESSAGE
