"""The DER fast path of SignedData verification answers as the asn1crypto path does, or
stands aside.

Each input is verified twice, once as the library runs and once with the fast path turned
off; the two results (or errors) must be equal. Inputs: the SignedData this library
writes in every form, the same with their content tampered and bytes mutated at random,
and every signed message of the shared corpus.
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import smime
from smime.cms import signed as signed_module
from smime.cms.signed import SignerSpec, create_signed_data, verify_signed_data
from smime.errors import SMIMEError
from smime.problems import ProblemCode
from smime.testing import TestPKI

CONTENT = b"Content-Type: text/plain\r\n\r\nhello, fast path\r\n"
WHEN = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture()
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per verification, whether the fast path gave the answer."""
    calls: list[bool] = []
    real = signed_module.check_signers

    def recording(*args: Any) -> Any:
        checks = real(*args)
        calls.append(checks is not None)
        return checks

    monkeypatch.setattr(signed_module, "check_signers", recording)
    return calls


def _outcome(run: Callable[[], Any]) -> Any:
    try:
        return run()
    except SMIMEError as exc:
        return type(exc), str(exc)


def _both(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any]) -> tuple[Any, Any]:
    """``run()`` as the library runs, then with the fast path turned off."""
    smime.clear_caches()
    fast = _outcome(run)
    with monkeypatch.context() as patch:
        patch.setattr(signed_module, "read_shape", lambda der: None)
        smime.clear_caches()
        slow = _outcome(run)
    return fast, slow


def _made(pki: TestPKI) -> Iterator[tuple[str, bytes, bytes | None, tuple[x509.Certificate, ...]]]:
    """(name, DER, detached content, extra certificates) of every form we write."""
    alice, carol, erin = (pki[u].identity for u in ("alice", "carol", "erin"))
    specs: dict[str, list[SignerSpec]] = {
        "rsa": [SignerSpec(alice)],
        "rsa-sha384": [SignerSpec(alice, digest="sha384")],
        "rsa-sha512-pss": [SignerSpec(alice, digest="sha512", padding="pss")],
        "rsa-ski": [SignerSpec(alice, identify_by="subject_key_identifier")],
        "rsa-no-attributes": [SignerSpec(alice, signed_attributes=False)],
        "rsa-no-chain": [SignerSpec(alice, include_chain=False)],
        "rsa-key-preference": [SignerSpec(alice, encryption_certificate=carol.certificate)],
        "ecdsa": [SignerSpec(carol, digest="sha384")],
        "ed25519": [SignerSpec(erin)],
        "two-signers": [SignerSpec(alice), SignerSpec(carol)],
    }
    for name, spec in specs.items():
        for detached in (True, False):
            der = create_signed_data(CONTENT, spec, detached=detached, signing_time=WHEN)
            content = CONTENT if detached else None
            yield f"{name} detached={detached}", der, content, ()
            yield f"{name} tampered", der, CONTENT + b"!", ()
            if not detached:
                yield f"{name} content also given", der, CONTENT, ()
    bare = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)],
                              signing_time=WHEN)
    yield "certificate given", bare, CONTENT, (alice.certificate,)
    no_certs = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)],
                                  signing_time=WHEN)
    yield "signer certificate given", _without_certificates(no_certs), CONTENT, (
        alice.certificate, pki.intermediate.certificate)
    yield "signer certificate missing", _without_certificates(no_certs), CONTENT, ()
    yield "detached, no content", bare, None, ()
    yield "garbage", b"\x30\x03\x02\x01\x01", CONTENT, ()
    yield "trailing bytes", bare + b"\x00", CONTENT, ()


def _without_certificates(der: bytes) -> bytes:
    from asn1crypto import cms as asn1_cms

    info = asn1_cms.ContentInfo.load(der)
    info["content"]["certificates"] = None
    return bytes(info.dump(force=True))


def test_the_same_answer_for_every_form_we_write(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    answered = 0
    for name, der, content, extra in _made(pki):
        before = len(fast_calls)
        fast, slow = _both(monkeypatch, lambda d=der, c=content, e=extra: verify_signed_data(
            d, c, extra_certificates=e))
        assert fast == slow, name
        answered += any(fast_calls[before:])
    assert answered >= 12, "the fast path hardly answered: the comparison proves little"


def test_the_fast_path_answers_only_for_clean_signers(
    pki: TestPKI, fast_calls: list[bool]
) -> None:
    """Clean signers of the common forms are its; every problem is the full path's."""
    alice = pki["alice"].identity
    der = create_signed_data(CONTENT, [SignerSpec(alice)], signing_time=WHEN)
    info = verify_signed_data(der, CONTENT)
    assert fast_calls == [True]
    assert info.signers[0].verified and info.signers[0].signing_time == WHEN
    assert info.signers[0].capabilities and info.certificates
    tampered = verify_signed_data(der, CONTENT + b"!")
    assert fast_calls[1:] == [False]
    assert {p.code for p in tampered.signers[0].problems} == {ProblemCode.DIGEST_MISMATCH}
    missing = create_signed_data(CONTENT, [SignerSpec(alice, include_chain=False)],
                                 signing_time=WHEN)
    missing = _without_certificates(missing)
    assert {p.code for p in verify_signed_data(missing, CONTENT).signers[0].problems} == {
        ProblemCode.MISSING_CERTIFICATE}
    assert fast_calls[2:] == [False]


@pytest.mark.interop
@pytest.mark.parametrize("digest", ["sha1", "sha256"])
@pytest.mark.parametrize("flags", [[], ["-nodetach"], ["-noattr"], ["-nocerts"]])
def test_the_same_answer_for_openssl_signatures(
    openssl: str, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    fast_calls: list[bool], digest: str, flags: list[str],
) -> None:
    """Another writer's DER; SHA-1 (weak: a problem) is the full path's to word."""
    content = tmp_path / "content.txt"
    content.write_bytes(CONTENT)
    out = tmp_path / "signed.der"
    subprocess.run([openssl, "cms", "-sign", "-binary", "-outform", "DER", "-md", digest,
                    "-in", str(content), "-signer", str(pki["alice"].cert_path),
                    "-inkey", str(pki["alice"].key_path), "-certfile", str(pki.intermediate_path),
                    "-out", str(out), *flags], check=True, capture_output=True, timeout=60)
    der = out.read_bytes()
    given = None if "-nodetach" in flags else CONTENT
    fast, slow = _both(monkeypatch, lambda: verify_signed_data(der, given))
    assert fast == slow
    clean = digest == "sha256" and not {"-noattr", "-nocerts"} & set(flags)
    assert (fast_calls == [True]) == clean  # the fast path answers only when all is well


def _mutants(der: bytes, rng: random.Random, count: int) -> Iterator[bytes]:
    """Bytes changed, dropped or doubled anywhere: most break the signature, some (in the
    certificates, version, digest algorithm set) do not, and some break the framing."""
    for _ in range(count):
        data = bytearray(der)
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(data))
            choice = rng.randrange(3)
            if choice == 0:
                data[at] = rng.randrange(256)
            elif choice == 1:
                del data[at]
            else:
                data[at:at] = data[at : at + rng.randrange(1, 4)]
        yield bytes(data)


def test_the_same_answer_for_mutated_input(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    rng = random.Random(5652)
    alice, carol = pki["alice"].identity, pki["carol"].identity
    sources = [
        (create_signed_data(CONTENT, [SignerSpec(alice)], signing_time=WHEN), CONTENT),
        (create_signed_data(CONTENT, [SignerSpec(carol, identify_by="subject_key_identifier")],
                            detached=False, signing_time=WHEN), None),
    ]
    for der, content in sources:
        for mutant in _mutants(der, rng, 400):
            fast, slow = _both(monkeypatch, lambda m=mutant, c=content: verify_signed_data(m, c))
            assert fast == slow, mutant.hex()
    assert sum(fast_calls) >= 20, "no mutant kept a clean signer: the comparison proves little"


def _corpus_messages(corpus: Path) -> list[Path]:
    return [p for p in sorted(corpus.rglob("*.eml"))
            if "nist-pkits" not in p.parts
            and (b"pkcs7-signature" in (data := p.read_bytes()) or b"signed-data" in data)]


def _verdict(result: smime.VerificationResult) -> tuple[Any, ...]:
    content = None if result.content is None else result.content.as_bytes()
    return (result.valid, result.problems, result.warnings, content,
            tuple((s.trusted, s.chain, s.problems, s.warnings, s.certificate, s.signing_time,
                   s.digest_algorithm, s.signature_algorithm, s.capabilities)
                  for s in result.signers))


@pytest.mark.corpus
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_the_same_answer_for_the_corpus(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    messages = _corpus_messages(corpus)
    assert len(messages) > 20
    trust = smime.TrustStore.from_certificates([])
    for path in messages:
        fast, slow = _both(monkeypatch, lambda p=path: _verdict(
            smime.verify(p.read_bytes(), trust=trust)))
        assert fast == slow, path
    assert sum(fast_calls) > 10, "the fast path never answered for the corpus"


def test_a_certificate_with_the_signer_serial_from_another_issuer(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Certificates are matched by issuer and serial as the full path matches them."""
    alice = pki["alice"].identity
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Twin Serial")])
    twin = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(alice.certificate.serial_number)
            .not_valid_before(WHEN - dt.timedelta(days=1))
            .not_valid_after(WHEN + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    der = create_signed_data(CONTENT, [SignerSpec(alice)], extra_certificates=[twin],
                             signing_time=WHEN)
    for extra in ((), (twin,)):
        fast, slow = _both(monkeypatch, lambda e=extra: verify_signed_data(
            der, CONTENT, extra_certificates=e))
        assert fast == slow
        assert fast.signers[0].certificate == alice.certificate and fast.signers[0].verified
