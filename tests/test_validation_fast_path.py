"""The Rust fast path gives pyhanko's verdict, word for word, or stands aside.

Every NIST PKITS signer is validated twice, once with the fast path and once with pyhanko
alone, without revocation data (where the fast path may answer) and with (where it must
not); the two results must be equal. Likewise every signed message of the corpus.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_validation_pkits import signer_and_certificates

import smime
from smime.errors import LoadError, SMIMEError
from smime.testing import TestPKI, issue_certificate, make_ca
from smime.validation import (
    TrustStore,
    VerificationPolicy,
    clear_validation_cache,
    validate_certificate,
)
from smime.validation import chain as chain_module

AT = dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc)
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_validation_cache()
    yield
    clear_validation_cache()


@pytest.fixture()
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per validation, whether the Rust verifier answered."""
    calls: list[bool] = []
    real = chain_module.rust_path

    def recording(*args: Any, **kwargs: Any) -> Any:
        path = real(*args, **kwargs)
        calls.append(path is not None)
        return path

    monkeypatch.setattr(chain_module, "rust_path", recording)
    return calls


def _both(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any]) -> tuple[Any, Any]:
    """``run()`` with the fast path, then with pyhanko alone."""
    fast = run()
    clear_validation_cache()
    with monkeypatch.context() as patch:
        patch.setattr(chain_module, "rust_path", lambda *args, **kwargs: None)
        slow = run()
    return fast, slow


@pytest.mark.corpus
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_pkits_verdicts_are_the_same_either_way(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    folder = corpus / "nist-pkits"
    trust = TrustStore.from_pem(folder / "certs" / "TrustAnchorRootCertificate.crt")
    crls = tuple(p.read_bytes() for p in sorted((folder / "crls").glob("*.crl")))
    cases = sorted((folder / "smime").glob("Signed*.eml"))
    assert len(cases) > 180
    compared = 0
    for path in cases:
        signer, certificates = signer_and_certificates(path)
        for revocation, given in (("off", ()), ("soft-fail", ()), ("hard-fail", ()),
                                  ("hard-fail", crls)):
            for weak in (False, True):
                run = functools.partial(
                    validate_certificate, signer, trust=trust, intermediates=certificates,
                    crls=given, at=AT, revocation=revocation, use_cache=False,
                    policy=VerificationPolicy(allow_weak_algorithms=weak))
                try:
                    fast, slow = _both(monkeypatch, run)
                except LoadError:
                    continue  # the DSA parameter inheritance case: refused either way
                assert fast == slow, (path.name, revocation, weak)
                compared += 1
    assert compared > 1400
    answered = sum(fast_calls)
    assert answered > 100, "the fast path never answered: the comparison proves nothing"


def _corpus_messages(corpus: Path) -> list[Path]:
    found = []
    for path in sorted(corpus.rglob("*.eml")):
        if "nist-pkits" in path.parts:
            continue
        data = path.read_bytes()
        if b"pkcs7-signature" in data or b"signed-data" in data:
            found.append(path)
    return found


def _outcome(result: smime.VerificationResult) -> tuple[Any, ...]:
    return (result.valid, result.problems, result.warnings,
            tuple((s.trusted, s.chain, s.problems, s.warnings) for s in result.signers))


@pytest.mark.corpus
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_corpus_verdicts_are_the_same_either_way(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = _corpus_messages(corpus)
    assert len(messages) > 20
    anchors: list[x509.Certificate] = []
    for pem in corpus.rglob("*.pem"):
        try:
            anchors.extend(smime.load_certificates(pem))
        except SMIMEError:
            continue
    trusts = (TrustStore.from_certificates([]), TrustStore.from_certificates(anchors))
    compared = 0
    for path in messages:
        for trust in trusts:
            def run(path: Path = path, trust: TrustStore = trust) -> Any:
                try:
                    return _outcome(smime.verify(path.read_bytes(), trust=trust))
                except SMIMEError as exc:
                    return type(exc)
            fast, slow = _both(monkeypatch, run)
            assert fast == slow, path
            compared += 1
    assert compared > 40


# ----------------------------------------------------------------------------- made here


def test_an_ordinary_chain_is_answered_by_the_fast_path(
    pki: TestPKI, fast_calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = TrustStore.from_certificates([pki.root.certificate])
    fast, slow = _both(monkeypatch, lambda: validate_certificate(
        pki["alice"].certificate, trust=trust, intermediates=[pki.intermediate.certificate],
        at=NOW))
    assert fast_calls == [True]
    assert fast.valid and fast.chain == slow.chain and fast == slow


@pytest.mark.parametrize("case", ["no intermediate", "small key", "crl given",
                                  "client auth only", "renewed issuer", "signer is an anchor",
                                  "name constraints"])
def test_what_rust_does_not_judge_like_pyhanko_goes_to_pyhanko(
    case: str, fast_calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_ca("Fast Root", key_type="ec-p256")
    inter = make_ca("Fast Intermediate", issuer=root, path_length=0,
                    key_type="rsa-1024" if case == "small key" else "ec-p256")
    kwargs: dict[str, Any] = {}
    user = issue_certificate(inter, "fast@example.com", key_type="ec-p256").certificate
    intermediates = [inter.certificate]
    anchors = [root.certificate]
    if case == "no intermediate":
        intermediates = []
    elif case == "crl given":
        kwargs["crls"] = [x509.CertificateRevocationListBuilder()
                          .issuer_name(inter.certificate.subject)
                          .last_update(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
                          .next_update(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
                          .sign(inter.key, hashes.SHA256())]  # type: ignore[arg-type]
    elif case == "client auth only":
        user = issue_certificate(inter, "fast@example.com", key_type="ec-p256",
                                 extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH]).certificate
    elif case == "renewed issuer":  # the same CA key in a second certificate: two paths
        intermediates.append(_renewed(inter.certificate, root))
    elif case == "signer is an anchor":
        anchors.append(user)
    elif case == "name constraints":
        user = _with_extension(user, inter, x509.NameConstraints(
            permitted_subtrees=[x509.RFC822Name("example.com")], excluded_subtrees=None))
    trust = TrustStore.from_certificates(anchors)
    fast, slow = _both(monkeypatch, lambda: validate_certificate(
        user, trust=trust, intermediates=intermediates, at=NOW, **kwargs))
    assert fast == slow
    assert not any(fast_calls)


@pytest.mark.parametrize("case", ["other issuer of the same name", "intermediate trusted too"])
def test_the_same_answer_where_the_fast_path_may_answer(
    case: str, fast_calls: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_ca("Fast Root", key_type="ec-p256")
    inter = make_ca("Fast Intermediate", issuer=root, key_type="ec-p256", path_length=0)
    user = issue_certificate(inter, "fast@example.com", key_type="ec-p256").certificate
    intermediates = [inter.certificate]
    anchors = [root.certificate]
    if case == "other issuer of the same name":  # another key: it cannot have signed
        twin = make_ca("Fast Intermediate", issuer=root, key_type="ec-p256", path_length=0)
        intermediates.insert(0, twin.certificate)
    else:
        anchors.append(inter.certificate)
    trust = TrustStore.from_certificates(anchors)
    fast, slow = _both(monkeypatch, lambda: validate_certificate(
        user, trust=trust, intermediates=intermediates, at=NOW))
    assert fast_calls == [True]
    assert fast.valid and fast == slow


def _renewed(cert: x509.Certificate, issuer: Any) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
               .not_valid_before(cert.not_valid_before_utc - dt.timedelta(days=1))
               .not_valid_after(cert.not_valid_after_utc + dt.timedelta(days=1)))
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(issuer.key, hashes.SHA256())


def _with_extension(cert: x509.Certificate, issuer: Any,
                    extra: x509.ExtensionType) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(cert.serial_number)  # type: ignore[arg-type]
               .not_valid_before(cert.not_valid_before_utc)
               .not_valid_after(cert.not_valid_after_utc))
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(extra, critical=True)
    return builder.sign(issuer.key, hashes.SHA256())


def test_the_rust_store_is_cached_and_cleared(pki: TestPKI) -> None:
    smime.clear_caches()
    trust = TrustStore.from_certificates([pki.root.certificate])
    for _ in range(2):
        validate_certificate(pki["carol"].certificate, trust=trust,
                             intermediates=[pki.intermediate.certificate], use_cache=False)
    assert smime.cache_info()["validation.rust_stores"].size == 1
    assert smime.cache_info()["validation.rust_stores"].misses == 1  # made once, then reused
    smime.clear_caches()
    assert smime.cache_info()["validation.rust_stores"].size == 0
