"""Every public result and value type converts to plain data: ``json.dumps(x.to_dict())``.

The walk finds the classes itself (``__all__`` of the package and of its public modules),
so a new public type without ``to_dict()``, or without an instance here to try it on, fails.
No output carries key material (a secret canary: the private keys' own bytes and numbers).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import PLAIN

import smime
import smime.batch
from smime import transports
from smime.directory import DirectoryLookup, LDAPDirectory
from smime.testing import TestPKI

MODULES = (
    "smime", "smime.results", "smime.inspection", "smime.keys", "smime.testing",
    "smime.validation", "smime.store", "smime.transports", "smime.limits", "smime.problems",
    "smime.directory", "smime.batch",
)
#: Public classes that are not values: they act (transports send, protocols describe).
NOT_VALUES = {
    "AsyncBaseTransport", "AsyncSMTPTransport", "AsyncSparkPostTransport", "BaseTransport",
    "FileTransport", "MockTransport", "SMTPTransport", "SparkPostTransport",
}


def public_value_classes() -> Iterator[type]:
    seen: set[type] = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            value = getattr(module, attr)
            if not inspect.isclass(value) or value in seen:
                continue
            seen.add(value)
            if (issubclass(value, (BaseException, Warning, enum.Enum))
                    or getattr(value, "_is_protocol", False) or value.__name__ in NOT_VALUES):
                continue
            yield value


@pytest.fixture(scope="module")
def examples(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One instance of every public value class, made the way users get them."""
    trust = smime.TrustStore.from_certificates([pki.root.certificate])
    alice, bob = pki["alice"], pki["bob"]
    signed = smime.sign(PLAIN, alice.identity)
    sealed = smime.encrypt(signed, bob.certificate)
    verified = smime.verify(signed, trust)
    unwrapped = smime.unwrap(sealed, bob.identity, trust)
    decrypted = smime.decrypt(sealed, bob.identity)
    store = smime.CertificateStore(tmp_path_factory.mktemp("store") / "certs.db")
    harvest = store.harvest(verified)
    sent = transports.MockTransport().send(PLAIN)
    chain = smime.validation.validate_certificate(
        alice.certificate, trust=trust, intermediates=alice.identity.chain)
    return {
        "CertificateStore": store,
        "DecryptedMessage": decrypted,
        "DecryptionInfo": decrypted.decryption,
        "HarvestResult": harvest,
        "StoredCertificate": harvest.stored[0],
        "RejectedCertificate": smime.store.RejectedCertificate(
            None, "signer", smime.store.HarvestReason.UNTRUSTED, "no root vouches for it"),
        "Identity": alice.identity,
        "Layer": unwrapped.layers[0],
        "Limits": smime.Limits(),
        "Problem": smime.Problem(smime.ProblemCode.UNTRUSTED, "no root vouches for it"),
        "SignerResult": verified.signers[0],
        "TrustStore": trust,
        "UnwrapResult": unwrapped,
        "VerificationPolicy": smime.VerificationPolicy(),
        "VerificationResult": verified,
        "Node": smime.inspect(sealed, bob.identity, asn1=True),
        "TestPKI": pki,
        "TestUser": alice,
        "CacheInfo": next(iter(smime.cache_info().values())),
        "ChainResult": chain,
        "RevocationStatus": smime.validation.RevocationStatus("unknown", detail="no data"),
        "ValidationContext": verified.verified_with,
        "Envelope": transports.envelope(PLAIN),
        "SendResult": sent,
        "ProtectedPart": smime.ProtectedPart("2", "application/pkcs7-mime", "readme.txt.p7m",
                                             encrypted=True, content=decrypted),
        "LDAPDirectory": LDAPDirectory("ldaps://directory.example.com", "dc=example,dc=com",
                                       trust=trust, bind_dn="cn=reader", password="s3cret"),
        "DirectoryLookup": DirectoryLookup("alice@example.com", (alice.certificate,), ()),
        "BatchItem": smime.batch.verify([signed, b"garbage"], trust)[0],
    }


def test_every_public_value_class_has_to_dict(examples: dict[str, Any]) -> None:
    classes = list(public_value_classes())
    assert len(classes) >= 20  # the walk found the package's classes
    missing = [c.__name__ for c in classes if not callable(getattr(c, "to_dict", None))]
    assert missing == []
    untried = [c.__name__ for c in classes if c.__name__ not in examples]
    assert untried == []  # each class found has an instance below


@pytest.mark.parametrize("name", sorted(c.__name__ for c in public_value_classes()))
def test_to_dict_is_json_safe(examples: dict[str, Any], name: str) -> None:
    value = examples[name]
    assert type(value).__name__ == name
    data = value.to_dict()
    assert isinstance(data, dict)
    assert json.loads(json.dumps(data)) == data  # plain: str, int, float, bool, None, lists


def test_certificate_facts_and_times(examples: dict[str, Any], pki: TestPKI) -> None:
    identity = examples["Identity"].to_dict()
    cert = pki["alice"].certificate
    assert identity["certificate"]["not_before"] == cert.not_valid_before_utc.isoformat()
    assert identity["certificate"]["email_addresses"] == ["alice@example.com"]
    assert identity["key"] == "RSA 2048" and len(identity["chain"]) == 2
    assert examples["TrustStore"].to_dict()["certificates"][0]["subject"].startswith(
        "CN=smime Test Root CA,")
    assert examples["Limits"].to_dict()["max_parts"] == smime.Limits().max_parts
    store = examples["CertificateStore"].to_dict()
    assert [a["email"] for a in store["addresses"]] == ["alice@example.com"]
    chain = examples["ChainResult"].to_dict()
    assert chain["trusted"] is True and len(chain["chain"]) == 3


def _secrets(key: Any) -> list[str]:
    """What a leaked key would look like in JSON: its DER in hex and base64, and for RSA
    its private exponent and primes in decimal and hex."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    found = [der.hex(), der[-64:].hex(), base64.b64encode(der[-48:]).decode()]
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        for number in (numbers.d, numbers.p, numbers.q):
            found += [str(number), format(number, "x")]
    return found


def test_no_key_material_in_any_to_dict(examples: dict[str, Any], pki: TestPKI) -> None:
    keys = [pki.root.key, pki.intermediate.key,
            *(user.identity.key for user in pki.users.values())]
    canaries = [secret for key in keys for secret in _secrets(key)]
    for name, value in examples.items():
        text = json.dumps(value.to_dict()).lower()
        leaked = [c for c in canaries if c.lower() in text]
        assert leaked == [], name


def test_to_dict_of_a_closed_store(tmp_path: Path) -> None:
    store = smime.CertificateStore(tmp_path / "c.db")
    store.close()
    assert store.to_dict() == {"path": str(tmp_path / "c.db"), "open": False, "addresses": []}


def test_policy_to_dict_names_every_field() -> None:
    policy = smime.VerificationPolicy(validate_at="now", allow_weak_algorithms=True)
    data = policy.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(policy)}
    assert data["validate_at"] == "now" and data["allow_weak_algorithms"] is True


def test_a_directory_shows_its_settings_but_never_its_bind_password(
        examples: dict[str, Any]) -> None:
    data = examples["LDAPDirectory"].to_dict()
    assert data["bind_dn"] == "cn=reader" and data["tls"] is True
    assert "s3cret" not in json.dumps(data)
