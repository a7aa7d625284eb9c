"""Every public value type pickles and comes back equal, alone and through a process pool.

A process pool, Dask or Ray moves arguments, results and errors between processes by
pickling them; cryptography's certificates and keys do not pickle themselves. The walk
over the public modules fails when a public class is added without an entry here: each
class either has realistic examples (``EXAMPLES``) or a reason it is not a value
(``NOT_VALUES``).
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import pickle
import pkgutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

import smime
import smime.batch
from smime import algorithms
from smime.directory import DirectoryLookup, LDAPDirectory
from smime.errors import (
    CertificateError,
    DecryptionError,
    InvalidOptionError,
    LimitExceededError,
    LoadError,
    MissingKeyError,
    Option,
    ParseError,
    PasswordError,
    SMIMEError,
    SMIMEWarning,
    StoreError,
    TokenError,
    TransportError,
    UnsupportedError,
    UsageError,
    VerificationError,
)
from smime.inspection import Node
from smime.keys import Identity
from smime.mime import WireMessage
from smime.problems import Problem, ProblemCode
from smime.results import (
    DecryptedMessage,
    DecryptionInfo,
    Layer,
    ProtectedPart,
    SignerResult,
    UnwrapResult,
    VerificationResult,
)
from smime.store import (
    CertificateStore,
    HarvestReason,
    HarvestResult,
    RejectedCertificate,
    StoredCertificate,
)
from smime.testing import PQ_USERS, TestPKI, TestUser, make_test_pki
from smime.transports import (
    Envelope,
    MissingExtraError,
    NetworkError,
    NetworkTimeoutError,
    RecipientsRefusedError,
    SendResult,
)
from smime.validation import (
    CacheInfo,
    ChainResult,
    RevocationStatus,
    TrustStore,
    ValidationContext,
    VerificationPolicy,
    validate_certificate,
)

MESSAGE = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: statement\r\n"
           b"Content-Type: text/plain\r\n\r\nYour statement for November.\r\n")
LATER = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365 * 30)


def letter(sender: Identity) -> bytes:
    """MESSAGE from the identity's own address, so that its signature binds."""
    return MESSAGE.replace(b"alice@example.com", sender.email_addresses[0].encode())


def round_trip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


# ----------------------------------------------------------------------------- examples


@dataclass
class World:
    """Realistic values, made once: identities of every key type, real results."""

    pki: TestPKI
    pq: TestPKI
    trust: TrustStore
    pq_trust: TrustStore
    signed: bytes
    verified: VerificationResult
    untrusted: VerificationResult
    decrypted: DecryptedMessage
    unwrapped: UnwrapResult
    certs_only: UnwrapResult
    compressed: UnwrapResult
    store: CertificateStore
    harvest: HarvestResult
    refused: HarvestResult
    crl: bytes
    ocsp: bytes


@pytest.fixture(scope="module")
def world(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> World:
    pq = make_test_pki(tmp_path_factory.mktemp("pq"), users=PQ_USERS, ca_key_type="ml-dsa-65")
    trust = TrustStore.from_pem(pki.root_path)
    alice, carol = pki["alice"].identity, pki["carol"].identity
    signed = smime.sign(MESSAGE, alice).as_bytes()
    verified = smime.verify(signed, trust=trust)
    assert verified.valid
    sealed = smime.encrypt(smime.sign(MESSAGE, alice), [carol.certificate])
    store = CertificateStore(tmp_path_factory.mktemp("store") / "certs.db")
    return World(
        pki=pki, pq=pq, trust=trust, pq_trust=TrustStore.from_pem(pq.root_path),
        signed=signed, verified=verified,
        untrusted=smime.verify(signed, trust=TrustStore()),
        decrypted=smime.decrypt(sealed, carol),
        unwrapped=smime.unwrap(sealed, identity=carol, trust=trust),
        certs_only=smime.unwrap(smime.export_certificates([alice.certificate,
                                                           carol.certificate])),
        compressed=smime.unwrap(smime.compress(MESSAGE)),
        store=store, harvest=store.harvest(verified),
        refused=store.harvest(verified, at=LATER),
        crl=pki.issue_crl([pki["bob"]]),
        ocsp=pki.issue_ocsp_response(pki["alice"], status="good"),
    )


def _errors(w: World) -> dict[type, list[Any]]:
    return {
        SMIMEError: [SMIMEError("any failure")],
        ParseError: [ParseError("truncated DER")],
        LimitExceededError: [LimitExceededError("too many parts", limit="max_parts")],
        UnsupportedError: [UnsupportedError("RC2 is not supported")],
        InvalidOptionError: [InvalidOptionError("cipher must be one of ...")],
        UsageError: [UsageError.wrong_type("message", 3, "bytes")],
        DecryptionError: [DecryptionError(), DecryptionError("custom")],
        MissingKeyError: [MissingKeyError()],
        VerificationError: [_caught(w.untrusted.raise_for_status)],
        CertificateError: [CertificateError("no email address")],
        LoadError: [LoadError("not a key")],
        PasswordError: [PasswordError("wrong password", reason="wrong"),
                        PasswordError("needs a password", reason="missing")],
        StoreError: [StoreError("locked")],
        TokenError: [TokenError("the token did not answer")],
        Option: [Option("starttls=False")],
        TransportError: [TransportError("refused", code=554, text="no relay", status=None)],
        MissingExtraError: [MissingExtraError("install smime-sdk[sparkpost]")],
        RecipientsRefusedError: [RecipientsRefusedError(
            "refused", {"eve@example.com": (550, "no such user")})],
        NetworkError: [NetworkError("connection reset", maybe_sent=True)],
        NetworkTimeoutError: [NetworkTimeoutError("timed out", maybe_sent=False)],
        SMIMEWarning: [SMIMEWarning("skipped a certificate")],
    }


def _caught(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except SMIMEError as exc:
        return exc
    raise AssertionError("expected an error")


def _values(w: World) -> dict[type, list[Any]]:
    pki, pq = w.pki, w.pq
    identities = [pki[n].identity for n in ("alice", "carol", "erin", "grace")] + [
        pq[n].identity for n in ("dana", "dora", "dirk", "kim", "kai")] + [pki.intermediate]
    chain = validate_certificate(pki["alice"].certificate, trust=w.trust,
                                 intermediates=[pki.intermediate.certificate])
    return {
        Identity: identities,
        TrustStore: [w.trust, w.pq_trust, TrustStore(), w.trust.merged(w.pq_trust)],
        VerificationPolicy: [VerificationPolicy(),
                             VerificationPolicy(validate_at="both", allow_weak_algorithms=True)],
        smime.Limits: [smime.Limits(), smime.Limits(max_parts=5, max_signers=2)],
        Problem: [Problem(ProblemCode.UNTRUSTED, "no trust anchor")],
        ProblemCode: list(ProblemCode),
        VerificationResult: [w.verified, w.untrusted, smime.verify(
            smime.sign(letter(pq["dora"].identity), pq["dora"].identity, detached=False),
            trust=w.pq_trust)],
        SignerResult: [*w.verified.signers, *w.untrusted.signers],
        DecryptionInfo: [w.decrypted.decryption],
        DecryptedMessage: [w.decrypted, smime.decrypt(
            smime.encrypt(MESSAGE, pq["kim"].certificate), pq["kim"].identity)],
        Layer: [*w.unwrapped.layers, *w.certs_only.layers, *w.compressed.layers],
        UnwrapResult: [w.unwrapped, w.certs_only, w.compressed],
        ProtectedPart: [ProtectedPart("1", "text/plain"), ProtectedPart(
            "2", "application/pkcs7-mime", "readme.txt.p7m", encrypted=True,
            content=w.decrypted)],
        Node: [smime.inspect(w.signed)],
        CertificateStore: [w.store],
        HarvestResult: [w.harvest, w.refused],
        StoredCertificate: list(w.harvest.stored),
        RejectedCertificate: list(w.refused.rejected),
        HarvestReason: list(HarvestReason),
        TestPKI: [pki, pq],
        TestUser: [pki["alice"], pq["dora"]],
        ChainResult: [chain],
        RevocationStatus: [RevocationStatus("revoked", "crl", dt.datetime(2026, 1, 2,
                                            tzinfo=dt.timezone.utc), "key_compromise")],
        ValidationContext: [w.verified.verified_with, ValidationContext(
            w.trust, crls=(x509.load_der_x509_crl(w.crl), w.crl),
            ocsp_responses=(ocsp.load_der_ocsp_response(w.ocsp),), revocation="hard-fail")],
        CacheInfo: list(smime.cache_info().values())[:3],
        SendResult: [SendResult(accepted=("bob@example.com",),
                                rejected={"eve@example.com": (550, "no such user")},
                                message_id="<1@example.com>", transport="smtp")],
        Envelope: [Envelope("alice@example.com", ("bob@example.com",), MESSAGE)],
        LDAPDirectory: [LDAPDirectory("ldaps://directory.example.com", "dc=example,dc=com"),
                        LDAPDirectory("ldap://127.0.0.1:3389", "o=test", trust=w.trust,
                                      intermediates=[pki.intermediate.certificate],
                                      allow_plaintext=True, starttls=False,
                                      bind_dn="cn=reader", password="secret")],
        DirectoryLookup: [DirectoryLookup("alice@example.com", (pki["alice"].certificate,),
                                          tuple(w.refused.rejected))],
        algorithms.Cipher: list(algorithms.CIPHERS.values()),
        algorithms.Digest: list(algorithms.DIGESTS.values()),
        algorithms.KdfScheme: list(algorithms.KDF_SCHEMES.values())[:3],
        algorithms.MlKem: list(algorithms.ML_KEMS.values()),
        algorithms.SignatureAlgorithm: list(algorithms.SIGNATURE_ALGORITHMS.values())[:5],
        smime.batch.BatchItem: [smime.batch.BatchItem(0, w.verified),
                                smime.batch.BatchItem(1, b"\x30\x03\x02\x01\x01")],
        **_errors(w),
    }


#: Public classes whose instances are not values to move between processes.
NOT_VALUES = {
    "BaseTransport": "a transport: its connection or HTTP client belongs to one process",
    "AsyncBaseTransport": "a transport: its connection belongs to one process and loop",
    "SMTPTransport": "a transport: make it in the process that sends",
    "AsyncSMTPTransport": "a transport: make it in the process (and loop) that sends",
    "SparkPostTransport": "a transport: its HTTP client belongs to one process",
    "AsyncSparkPostTransport": "a transport: its HTTP client belongs to one process and loop",
    "FileTransport": "a transport (writes files): make it in the process that sends",
    "MockTransport": "a transport that records what this process sent",
    "StableCode": "an enum base with no members; its subclasses' members are checked",
}
#: Subpackages that are layers inside the library, not its public face.
INTERNAL = {"api", "cli", "cms", "core", "mime"}


def public_classes() -> dict[str, type]:
    """Every class named in ``__all__`` of ``smime`` and of its public submodules."""
    modules = [smime] + [
        importlib.import_module(f"smime.{info.name}")
        for info in pkgutil.iter_modules(smime.__path__)
        if not info.name.startswith("_") and info.name not in INTERNAL
    ]
    found: dict[str, type] = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if isinstance(value, type) and not getattr(value, "_is_protocol", False):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_public_class_has_examples_or_a_reason(world: World) -> None:
    covered = set(_values(world))
    missing = sorted(name for name, cls in public_classes().items()
                     if cls not in covered and cls.__name__ not in NOT_VALUES)
    assert missing == [], f"add pickle support and examples to tests/test_pickle.py: {missing}"
    assert len(public_classes()) > 40  # the walk found the modules


def test_the_walk_sees_the_public_modules() -> None:
    names = {cls.__name__ for cls in public_classes().values()}
    assert {"Identity", "TrustStore", "VerificationResult", "CertificateStore", "TestPKI",
            "PasswordError", "SendResult", "Node", "Limits"} <= names


# ----------------------------------------------------------------------------- equality


def same(copied: Any, original: Any) -> bool:
    """Equality, but for a message (compared by its bytes and added attributes: an
    EmailMessage is mutable and compares by identity) and an exception (by type, args and
    attributes: exceptions compare by identity)."""
    if type(copied) is not type(original):
        return False
    if isinstance(original, Message):
        extra = {k: v for k, v in vars(original).items() if not k.startswith("_")
                 and k not in ("policy", "preamble", "epilogue", "defects")}
        return copied.as_bytes() == original.as_bytes() and all(
            getattr(copied, k) == v for k, v in extra.items())
    if isinstance(original, BaseException):
        return (copied.args == original.args and str(copied) == str(original)
                and vars(copied) == vars(original))
    return bool(copied == original)


def test_every_example_round_trips_equal(world: World) -> None:
    for cls, values in _values(world).items():
        assert values, cls
        for value in values:
            assert isinstance(value, cls)
            for protocol in (2, pickle.HIGHEST_PROTOCOL):
                copied = pickle.loads(pickle.dumps(value, protocol=protocol))
                assert same(copied, value), (cls, value)


def test_value_types_compare_equal_with_plain_equals(world: World) -> None:
    values = _values(world)
    for cls in (Identity, TrustStore, VerificationResult, SignerResult, UnwrapResult, Layer,
                CertificateStore, HarvestResult, StoredCertificate, RejectedCertificate,
                TestPKI, TestUser, ChainResult, ValidationContext, SendResult):
        for value in values[cls]:
            copied = round_trip(value)
            assert copied == value
            assert not copied != value  # noqa: SIM202 - __ne__ is tested too
            if cls is not TestPKI:  # its users are a dict
                assert hash(copied) == hash(value)


def test_a_result_is_unequal_to_a_different_one(world: World) -> None:
    assert round_trip(world.verified) != world.untrusted
    assert round_trip(world.pki["alice"].identity) != world.pki["carol"].identity
    assert round_trip(world.trust) != world.pq_trust


# ----------------------------------------------------------------------------- contents


def test_the_unpickled_identity_holds_working_objects(world: World) -> None:
    for name in ("alice", "carol", "erin"):
        identity = round_trip(world.pki[name].identity)
        assert isinstance(identity.certificate, x509.Certificate)
        assert identity.chain == world.pki[name].identity.chain
        assert smime.verify(smime.sign(letter(identity), identity), trust=world.trust).valid
    dora = round_trip(world.pq["dora"].identity)
    assert smime.verify(smime.sign(letter(dora), dora), trust=world.pq_trust).valid
    kim = round_trip(world.pq["kim"].identity)
    sealed = smime.encrypt(MESSAGE, world.pq["kim"].certificate)
    assert smime.decrypt(sealed, kim).as_bytes().endswith(b"November.\r\n")


def test_a_pickled_identity_carries_its_private_key_unencrypted(world: World) -> None:
    identity = world.pki["alice"].identity
    pkcs8 = identity.key.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    assert pkcs8 in pickle.dumps(identity)  # what docs/reference/pickling.md warns about


class HardwareKey(ec.EllipticCurvePrivateKey):
    """A key whose private half never leaves its device (as a PKCS#11 key's)."""

    def __init__(self, inner: ec.EllipticCurvePrivateKey) -> None:
        self._inner = inner

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        return self._inner.exchange(algorithm, peer_public_key)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._inner.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._inner.curve

    @property
    def key_size(self) -> int:
        return self._inner.key_size

    def sign(self, data: bytes | bytearray | memoryview,
             signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        return self._inner.sign(data, signature_algorithm)

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise TypeError("the key cannot leave the token")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TypeError("the key cannot leave the token")

    def __copy__(self) -> HardwareKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> HardwareKey:
        return self


def test_an_identity_whose_key_cannot_leave_its_device_says_what_to_do(world: World) -> None:
    carol = world.pki["carol"].identity
    assert isinstance(carol.key, ec.EllipticCurvePrivateKey)
    token = Identity(carol.certificate, HardwareKey(carol.key), carol.chain)
    with pytest.raises(UsageError, match=r"cannot be pickled.*load the identity in the worker"):
        pickle.dumps(token)
    with pytest.raises(TypeError):  # what pickle's callers expect of an unpicklable value
        pickle.dumps([token])


def test_the_result_holds_real_certificates_and_messages(world: World) -> None:
    result = round_trip(world.verified)
    signer = result.signers[0]
    assert isinstance(signer.certificate, x509.Certificate)
    assert all(isinstance(c, x509.Certificate) for c in (*signer.chain, *result.certificates))
    assert signer.certificate == world.pki["alice"].certificate
    assert isinstance(result.content, EmailMessage)
    assert result.content["Subject"] == "statement"
    assert result.verified_with == world.verified.verified_with
    assert result.summary() == world.verified.summary()
    assert result.to_dict() == world.verified.to_dict()
    assert round_trip(world.untrusted).codes == world.untrusted.codes


def test_copy_gives_real_certificates_too(world: World) -> None:
    for result in (copy.copy(world.verified), copy.deepcopy(world.verified)):
        assert result == world.verified
        assert isinstance(result.signers[0].certificate, x509.Certificate)
    assert copy.copy(world.unwrapped.layers[-1]) == world.unwrapped.layers[-1]
    identity = world.pki["alice"].identity
    assert copy.copy(identity) is identity and copy.deepcopy(identity) is identity
    assert copy.deepcopy(world.trust) is world.trust


def test_a_decrypted_message_keeps_how_it_was_protected(world: World) -> None:
    message = round_trip(world.decrypted)
    assert isinstance(message, DecryptedMessage)
    assert message.decryption == world.decrypted.decryption
    assert message.authenticated is world.decrypted.authenticated
    assert message.as_bytes() == world.decrypted.as_bytes()


def test_a_lazy_message_pickles_as_its_bytes_parsed_or_not_or_modified() -> None:
    fresh = WireMessage(MESSAGE)
    assert not round_trip(fresh).parsed
    assert round_trip(fresh).as_bytes() == MESSAGE
    parsed = WireMessage(MESSAGE)
    assert parsed["Subject"] == "statement" and parsed.parsed
    assert round_trip(parsed).as_bytes() == MESSAGE
    assert len(pickle.dumps(parsed)) == len(pickle.dumps(fresh))  # no parsed tree shipped
    changed = WireMessage(MESSAGE)
    changed.replace_header("Subject", "changed")
    copied = round_trip(changed)
    assert copied["Subject"] == "changed" and copied.as_bytes() == changed.as_bytes()


def test_a_pickle_carries_each_certificate_once(world: World) -> None:
    result = round_trip(world.verified)
    signer = result.signers[0]
    assert signer.certificate is signer.chain[0]  # one object again, from one DER
    assert {id(c) for c in result.certificates} <= {id(c) for c in signer.chain}
    der = world.pki["alice"].certificate.public_bytes(serialization.Encoding.DER)
    assert pickle.dumps(world.verified).count(der) == 1


def test_unpickled_trust_stores_are_shared(world: World) -> None:
    first, second = round_trip(world.trust), round_trip(world.verified).verified_with.trust
    assert first is second and first == world.trust
    smime.clear_caches()
    assert round_trip(world.trust) is not first


def test_caches_stay_behind(world: World) -> None:
    store = TrustStore.from_pem(world.pki.root_path)
    cold = pickle.dumps(store)
    store.asn1_certificates()
    store.subject_keys()
    store.validity_instants()
    assert pickle.dumps(store) == cold


def test_errors_keep_their_attributes(world: World) -> None:
    refused = round_trip(RecipientsRefusedError("refused", {"eve@example.com": (550, "no")}))
    assert dict(refused.rejected) == {"eve@example.com": (550, "no")}
    with pytest.raises(TypeError):
        refused.rejected["x"] = (1, "")  # still read-only
    assert (refused.code, refused.text) == (550, "no")
    assert round_trip(PasswordError("wrong", reason="wrong")).reason == "wrong"
    assert round_trip(NetworkError("reset", maybe_sent=True)).maybe_sent is True
    assert round_trip(LimitExceededError("too many", limit="max_parts")).limit == "max_parts"
    capped = _caught(lambda: smime.Limits(max_parts=1).check("max_parts", 5, "parts"))
    assert isinstance(capped, LimitExceededError)
    assert round_trip(capped).parts == capped.parts != ()  # the CLI words its option from them
    error = round_trip(_caught(world.untrusted.raise_for_status))
    assert isinstance(error, VerificationError) and error.result == world.untrusted
    noted = UsageError("bad")
    noted.statement = 7  # type: ignore[attr-defined]  # a caller's own mark
    assert round_trip(noted).statement == 7


# ----------------------------------------------------------------------------- the store


def test_a_store_pickles_as_its_path_and_reopens(world: World, tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "shared.db")
    clone = round_trip(store)
    assert clone == store and clone.path == (tmp_path / "shared.db").absolute()
    clone.harvest(world.verified)  # written through the clone's own connection
    assert store.find("alice@example.com") == world.pki["alice"].certificate
    store.close()
    assert clone.emails() == ("alice@example.com",)  # the clone's connection is its own
    clone.close()


def test_a_relative_store_path_survives_a_change_of_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = pickle.dumps(CertificateStore("relative.db"))
    monkeypatch.chdir(tmp_path.parent)
    assert pickle.loads(data).path == tmp_path / "relative.db"


def test_an_in_memory_store_refuses_to_pickle() -> None:
    with CertificateStore(":memory:") as store, pytest.raises(UsageError, match="file path"):
        pickle.dumps(store)


# ----------------------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2) as executor:
        yield executor


def _verify_strictly(signed: bytes, trust: TrustStore) -> VerificationResult:
    return smime.verify(signed, trust=trust).raise_for_status()


def _raise(error: BaseException) -> None:
    raise error


def test_verify_in_a_worker_returns_an_equal_result(
    world: World, pool: ProcessPoolExecutor
) -> None:
    result = pool.submit(smime.verify, world.signed, trust=world.trust).result(timeout=120)
    assert result == smime.verify(world.signed, trust=world.trust)
    assert result.valid and isinstance(result.signers[0].certificate, x509.Certificate)


def test_identities_of_every_key_type_sign_in_workers(
    world: World, pool: ProcessPoolExecutor
) -> None:
    signers = [(world.pki[n].identity, world.trust) for n in ("alice", "carol", "erin")]
    signers.append((world.pq["dora"].identity, world.pq_trust))
    futures = [pool.submit(smime.sign, letter(identity), identity) for identity, _ in signers]
    for future, (identity, trust) in zip(futures, signers, strict=True):
        result = smime.verify(future.result(timeout=120), trust=trust)
        assert result.valid and result.signers[0].certificate == identity.certificate


def test_decrypt_and_unwrap_in_workers(world: World, pool: ProcessPoolExecutor) -> None:
    carol = world.pki["carol"].identity
    sealed = smime.encrypt(smime.sign(MESSAGE, world.pki["alice"].identity), carol.certificate)
    decrypted = pool.submit(smime.decrypt, sealed, carol).result(timeout=120)
    assert isinstance(decrypted, DecryptedMessage)
    assert decrypted.as_bytes() == smime.decrypt(sealed, carol).as_bytes()
    unwrapped = pool.submit(smime.unwrap, sealed, identity=carol, trust=world.trust)
    assert unwrapped.result(timeout=120) == smime.unwrap(sealed, identity=carol,
                                                         trust=world.trust)


def test_a_store_is_reopened_in_the_worker(world: World, pool: ProcessPoolExecutor,
                                           tmp_path: Path) -> None:
    with CertificateStore(tmp_path / "workers.db") as store:
        store.harvest(world.verified)
        sealed = pool.submit(smime.encrypt, MESSAGE, "alice@example.com", store=store)
        opened = smime.decrypt(sealed.result(timeout=120), world.pki["alice"].identity)
    assert opened.as_bytes().endswith(b"November.\r\n")


def test_a_worker_error_comes_back_as_that_error(world: World, pool: ProcessPoolExecutor) -> None:
    wrong = pool.submit(smime.load_identity, world.pki["alice"].p12_path, password="nope")
    with pytest.raises(PasswordError) as raised:
        wrong.result(timeout=120)
    assert raised.value.reason == "wrong"
    untrusted = pool.submit(_verify_strictly, world.signed, TrustStore())
    with pytest.raises(VerificationError) as failed:
        untrusted.result(timeout=120)
    assert failed.value.result == world.untrusted
    assert ProblemCode.UNTRUSTED in failed.value.result.codes  # type: ignore[attr-defined]
    refused = pool.submit(_raise, RecipientsRefusedError("refused", {"eve@x.org": (550, "no")}))
    with pytest.raises(RecipientsRefusedError) as sent:
        refused.result(timeout=120)
    assert dict(sent.value.rejected) == {"eve@x.org": (550, "no")}
