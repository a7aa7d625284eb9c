"""validate_certificate: paths, time, key usage, weak algorithms, the cache, event loops."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from smime.errors import InvalidOptionError
from smime.keys import Identity
from smime.problems import ProblemCode
from smime.testing import TestPKI as PKI
from smime.testing import issue_certificate, make_ca
from smime.validation import (
    ChainResult,
    TrustStore,
    VerificationPolicy,
    clear_validation_cache,
    validate_certificate,
    validate_certificate_async,
    validation_cache_info,
    validation_times,
)
from smime.validation import chain as chain_module

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def codes(result: ChainResult) -> set[ProblemCode]:
    return {p.code for p in result.problems}


@pytest.fixture(scope="module")
def old_ca() -> tuple[Identity, Identity]:
    """An EC root and intermediate valid since three years ago (for past signing times)."""
    root = make_ca("Old Root", key_type="ec-p256", not_before=NOW - 1100 * DAY)
    inter = make_ca("Old Intermediate", issuer=root, key_type="ec-p256",
                    not_before=NOW - 1100 * DAY, path_length=0)
    return root, inter


@pytest.fixture()
def trust(pki: PKI) -> TrustStore:
    return TrustStore.from_certificates([pki.root.certificate])


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_validation_cache()
    yield
    clear_validation_cache()


# ----------------------------------------------------------------------------- paths


def test_valid_chain_through_given_intermediate(pki: PKI, trust: TrustStore) -> None:
    alice = pki["alice"].certificate
    result = validate_certificate(alice, trust=trust, intermediates=[pki.intermediate.certificate])
    assert result.valid and result.trusted and bool(result)
    assert result.problems == ()
    assert result.chain == (alice, pki.intermediate.certificate, pki.root.certificate)


def test_missing_intermediate_is_untrusted_with_a_sentence(pki: PKI, trust: TrustStore) -> None:
    result = validate_certificate(pki["alice"].certificate, trust=trust)
    assert not result.trusted and codes(result) == {ProblemCode.UNTRUSTED}
    assert "smime Test Intermediate CA" in str(result.problems[0])
    assert result.chain == (pki["alice"].certificate,)


def test_untrusted_root(pki: PKI) -> None:
    other_root = make_ca("Somebody Else's Root", key_type="ec-p256")
    store = TrustStore([other_root.certificate])
    result = validate_certificate(pki["carol"].certificate, trust=store,
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.UNTRUSTED} and not result.trusted
    assert result.chain == (pki["carol"].certificate, pki.intermediate.certificate)
    assert "issuer of 'smime Test Intermediate CA'" in str(result.problems[0])
    # a message that carries its own root: the chain reaches it, and it is still not trusted
    result = validate_certificate(pki["carol"].certificate, trust=store,
                                  intermediates=[pki.intermediate.certificate,
                                                 pki.root.certificate])
    assert codes(result) == {ProblemCode.UNTRUSTED}
    assert result.chain[-1] == pki.root.certificate
    assert "self-signed and not in the trust store" in str(result.problems[0])


def test_empty_trust_store(pki: PKI) -> None:
    result = validate_certificate(pki["bob"].certificate, trust=TrustStore(),
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.UNTRUSTED}
    assert "trust store is empty" in str(result.problems[0])


def test_require_trusted_chain_false_reports_no_untrusted_problem(pki: PKI) -> None:
    policy = VerificationPolicy(require_trusted_chain=False)
    result = validate_certificate(pki["bob"].certificate, trust=TrustStore(), policy=policy)
    assert result.problems == () and not result.trusted


def test_pinned_intermediate_as_anchor(pki: PKI) -> None:
    result = validate_certificate(pki["dave"].certificate,
                                  trust=TrustStore([pki.intermediate.certificate]))
    assert result.valid and result.chain[-1] == pki.intermediate.certificate


def test_trust_may_be_a_plain_list(pki: PKI) -> None:
    result = validate_certificate(pki["frank"].certificate, trust=[pki.root.certificate],
                                  intermediates=[pki.intermediate.certificate])
    assert result.valid


def test_unknown_revocation_mode_is_rejected(pki: PKI, trust: TrustStore) -> None:
    with pytest.raises(InvalidOptionError, match="hard-fail"):
        validate_certificate(pki["alice"].certificate, trust=trust, revocation="strict")


# ----------------------------------------------------------------------------- time


def test_expired_signer(pki: PKI, trust: TrustStore) -> None:
    old = issue_certificate(pki.intermediate, "old@example.com", key_type="ec-p256",
                            not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    result = validate_certificate(old.certificate, trust=trust,
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.EXPIRED} and not result.trusted
    text = str(result.problems[0])
    assert "signer's certificate" in text and "expired on" in text


def test_not_yet_valid_signer(pki: PKI, trust: TrustStore) -> None:
    future = issue_certificate(pki.intermediate, "future@example.com", key_type="ec-p256",
                               not_before=NOW + 10 * DAY)
    result = validate_certificate(future.certificate, trust=trust,
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.NOT_YET_VALID}


def test_expired_and_untrusted_reports_both(pki: PKI) -> None:
    old = issue_certificate(pki.intermediate, "old@example.com", key_type="ec-p256",
                            not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    result = validate_certificate(old.certificate, trust=TrustStore())
    assert codes(result) == {ProblemCode.EXPIRED, ProblemCode.UNTRUSTED}


def test_valid_at_signing_time_but_expired_now(old_ca: tuple[Identity, Identity]) -> None:
    root, inter = old_ca
    user = issue_certificate(inter, "past@example.com", key_type="ec-p256",
                             not_before=NOW - 400 * DAY, not_after=NOW - 30 * DAY)
    signed_at = NOW - 100 * DAY
    store = TrustStore([root.certificate])
    then = validate_certificate(user.certificate, trust=store, intermediates=[inter.certificate],
                                at=signed_at)
    now = validate_certificate(user.certificate, trust=store, intermediates=[inter.certificate])
    assert then.valid and then.at == signed_at
    assert codes(now) == {ProblemCode.EXPIRED}


def test_validation_times_follow_the_policy(old_ca: tuple[Identity, Identity]) -> None:
    _root, inter = old_ca
    cert = issue_certificate(inter, "t@example.com", key_type="ec-p256",
                             not_before=NOW - 400 * DAY, not_after=NOW + 400 * DAY).certificate
    signed = NOW - 100 * DAY
    assert validation_times(cert, signed, now=NOW) == (signed,)
    assert validation_times(cert, signed, VerificationPolicy(validate_at="now"), now=NOW) == (NOW,)
    both = VerificationPolicy(validate_at="both")
    assert validation_times(cert, signed, both, now=NOW) == (signed, NOW)
    # a claimed time outside the certificate's validity is judged as claimed (the answer
    # is then not_yet_valid or expired at that time, not a verdict about today)
    assert validation_times(cert, NOW - 900 * DAY, now=NOW) == (NOW - 900 * DAY,)
    assert validation_times(cert, None, both, now=NOW) == (NOW,)
    with pytest.raises(InvalidOptionError):
        VerificationPolicy(validate_at="yesterday")


# ----------------------------------------------------------------------------- usage


def test_missing_email_protection_eku(pki: PKI, trust: TrustStore) -> None:
    tls = issue_certificate(pki.intermediate, "tls@example.com", key_type="ec-p256",
                            extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    result = validate_certificate(tls.certificate, trust=trust,
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.EXTENDED_KEY_USAGE}
    assert result.trusted  # the chain is fine; the purpose is not
    assert "TLS client authentication" in str(result.problems[0])
    relaxed = VerificationPolicy(require_email_protection_eku=False)
    assert validate_certificate(tls.certificate, trust=trust, policy=relaxed,
                                intermediates=[pki.intermediate.certificate]).valid


def test_no_eku_extension_is_acceptable(pki: PKI, trust: TrustStore) -> None:
    plain = issue_certificate(pki.intermediate, "plain@example.com", key_type="ec-p256",
                              extended_key_usage=None)
    assert validate_certificate(plain.certificate, trust=trust,
                                intermediates=[pki.intermediate.certificate]).valid


def test_key_encipherment_only_may_not_sign(pki: PKI, trust: TrustStore) -> None:
    enc = issue_certificate(pki.intermediate, "enc@example.com", key=pki["alice"].identity.key,
                            key_usage=["key_encipherment"])
    result = validate_certificate(enc.certificate, trust=trust,
                                  intermediates=[pki.intermediate.certificate])
    assert codes(result) == {ProblemCode.KEY_USAGE}
    assert "keyEncipherment" in str(result.problems[0])
    relaxed = VerificationPolicy(check_key_usage=False)
    assert validate_certificate(enc.certificate, trust=trust, policy=relaxed,
                                intermediates=[pki.intermediate.certificate]).valid


def test_non_repudiation_alone_may_sign(pki: PKI, trust: TrustStore) -> None:
    nr = issue_certificate(pki.intermediate, "nr@example.com", key_type="ec-p256",
                           key_usage=["content_commitment"])
    assert validate_certificate(nr.certificate, trust=trust,
                                intermediates=[pki.intermediate.certificate]).valid


# ----------------------------------------------------------------------------- algorithms


def _resigned_with_sha1(cert: x509.Certificate, issuer: Identity) -> x509.Certificate:
    """The same certificate signed with SHA-1 by its RSA CA (cryptography refuses to make
    one, so the TBS is rewritten with asn1crypto and signed as raw bytes)."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    algorithm = asn1_algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    tbs["signature"] = algorithm
    key = issuer.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA1())
    resigned = asn1_x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature,
    })
    return x509.load_der_x509_certificate(resigned.dump())


STRICT = VerificationPolicy(allow_weak_algorithms=False)


def test_sha1_signed_certificate_is_weak_unless_allowed(pki: PKI, trust: TrustStore) -> None:
    cert = _resigned_with_sha1(
        issue_certificate(pki.intermediate, "sha1@example.com", key_type="ec-p256").certificate,
        pki.intermediate,
    )
    result = validate_certificate(cert, trust=trust, intermediates=[pki.intermediate.certificate],
                                  policy=STRICT)
    assert codes(result) == {ProblemCode.WEAK_ALGORITHM} and not result.trusted
    allowed = VerificationPolicy(allow_weak_algorithms=True)
    assert validate_certificate(cert, trust=trust, policy=allowed,
                                intermediates=[pki.intermediate.certificate]).valid


def test_small_rsa_ca_key_is_weak_unless_allowed(pki: PKI) -> None:
    root = make_ca("Small Key Root", key_type="rsa-1024")
    user = issue_certificate(root, "small@example.com", key_type="ec-p256")
    result = validate_certificate(user.certificate, trust=[root.certificate], policy=STRICT)
    assert codes(result) == {ProblemCode.WEAK_ALGORITHM}
    assert "1024" in str(result.problems[0])
    assert validate_certificate(user.certificate, trust=[root.certificate],
                                policy=VerificationPolicy(allow_weak_algorithms=True)).valid


# ----------------------------------------------------------------------------- cache


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how often path validation actually runs (the Rust verifier or pyhanko)."""
    calls: list[int] = []
    real = chain_module._finish_safely

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(chain_module, "_finish_safely", counting)
    return calls


def test_cache_returns_same_result_without_revalidating(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    kwargs: dict[str, Any] = {"trust": trust, "intermediates": [pki.intermediate.certificate]}
    first = validate_certificate(pki["alice"].certificate, **kwargs)
    for _ in range(20):
        again = validate_certificate(pki["alice"].certificate, **kwargs)
    assert len(counted) == 1
    assert again.chain == first.chain and again.problems == first.problems
    assert again.trusted == first.trusted
    info = validation_cache_info()
    assert info.hits == 20 and info.size == 1
    # an equal trust store built separately shares the cache entry
    validate_certificate(pki["alice"].certificate, trust=TrustStore([pki.root.certificate]),
                         intermediates=[pki.intermediate.certificate])
    assert len(counted) == 1


def test_cache_key_separates_what_can_change_the_outcome(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    alice = pki["alice"].certificate
    inter = [pki.intermediate.certificate]
    validate_certificate(alice, trust=trust, intermediates=inter)
    validate_certificate(alice, trust=trust)  # other intermediates
    validate_certificate(alice, trust=TrustStore(), intermediates=inter)  # other trust
    validate_certificate(alice, trust=trust, intermediates=inter, revocation="hard-fail")
    validate_certificate(alice, trust=trust, intermediates=inter,
                         policy=VerificationPolicy(check_key_usage=False))
    validate_certificate(alice, trust=trust, intermediates=inter, at=NOW + 2 * DAY)  # a hit
    validate_certificate(alice, trust=trust, intermediates=inter,
                         at=alice.not_valid_after_utc + DAY)  # past the window
    validate_certificate(alice, trust=trust, intermediates=inter, use_cache=False)
    assert len(counted) == 7


def test_cache_never_spans_a_validity_boundary(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    ends = (NOW + 5 * DAY).replace(second=30)
    cert = issue_certificate(pki.intermediate, "edge@example.com", key_type="ec-p256",
                             not_after=ends).certificate
    before = ends - dt.timedelta(seconds=20)  # same minute as notAfter
    after = ends + dt.timedelta(seconds=20)
    first = validate_certificate(cert, trust=trust, at=before,
                                 intermediates=[pki.intermediate.certificate])
    second = validate_certificate(cert, trust=trust, at=after,
                                  intermediates=[pki.intermediate.certificate])
    assert first.valid and codes(second) == {ProblemCode.EXPIRED}
    assert len(counted) == 2


def test_new_validation_times_inside_the_window_are_hits(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    """Mail brings a new signing time with every message: a chain already validated
    answers for any time inside its validity window, without path validation."""
    alice = pki["alice"].certificate
    inter = [pki.intermediate.certificate]
    first = validate_certificate(alice, trust=trust, intermediates=inter, at=NOW)
    for minutes in range(1, 200, 7):
        at = NOW + dt.timedelta(minutes=minutes, seconds=minutes)
        again = validate_certificate(alice, trust=trust, intermediates=inter, at=at)
        assert again.at == at and again.valid and again.chain == first.chain
    assert len(counted) == 1
    assert validation_cache_info().size == 1


def test_a_hit_equals_a_fresh_validation(pki: PKI, trust: TrustStore) -> None:
    alice = pki["alice"].certificate
    inter = [pki.intermediate.certificate]
    validate_certificate(alice, trust=trust, intermediates=inter, at=NOW)
    for at in (NOW + 3 * DAY, NOW + dt.timedelta(hours=5), alice.not_valid_after_utc + DAY):
        cached = validate_certificate(alice, trust=trust, intermediates=inter, at=at)
        fresh = validate_certificate(alice, trust=trust, intermediates=inter, at=at,
                                     use_cache=False)
        assert cached == fresh


def test_results_with_problems_are_kept_for_their_minute_only(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    """An expired chain's sentence names the validation time: a later minute recomputes."""
    alice = pki["alice"].certificate
    inter = [pki.intermediate.certificate]
    late = alice.not_valid_after_utc.replace(second=0) + 3 * DAY
    first = validate_certificate(alice, trust=trust, intermediates=inter, at=late)
    same_minute = validate_certificate(alice, trust=trust, intermediates=inter,
                                       at=late + dt.timedelta(seconds=30))
    next_hour = validate_certificate(alice, trust=trust, intermediates=inter,
                                     at=late + dt.timedelta(hours=1))
    assert codes(first) == codes(next_hour) == {ProblemCode.EXPIRED}
    assert same_minute.problems == first.problems
    assert next_hour.problems != first.problems  # another validation time in the sentence
    assert len(counted) == 2


def test_the_window_ends_where_revocation_data_changes_state(
    pki: PKI, trust: TrustStore, counted: list[int]
) -> None:
    """A revocation date (or a CRL's nextUpdate) between two times splits the window."""
    cert = issue_certificate(pki.intermediate, "revoked@example.com",
                             key_type="ec-p256").certificate
    when = NOW + DAY
    crl = (
        x509.CertificateRevocationListBuilder().issuer_name(pki.intermediate.certificate.subject)
        .last_update(NOW - DAY).next_update(NOW + 10 * DAY)
        .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                 .serial_number(cert.serial_number).revocation_date(when).build())
        .sign(pki.intermediate.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    kwargs: dict[str, Any] = {"trust": trust, "intermediates": [pki.intermediate.certificate],
                              "crls": [crl]}
    before = validate_certificate(cert, at=NOW, **kwargs)
    still = validate_certificate(cert, at=when - dt.timedelta(hours=1), **kwargs)
    after = validate_certificate(cert, at=when + dt.timedelta(hours=1), **kwargs)
    stale = validate_certificate(cert, at=NOW + 11 * DAY, **kwargs)
    assert before.valid and still.valid and len(counted) == 3
    assert codes(after) == {ProblemCode.REVOKED}
    fresh = validate_certificate(cert, at=NOW + 11 * DAY, use_cache=False, **kwargs)
    assert stale == fresh


# ----------------------------------------------------------------------------- event loops


def test_works_inside_a_running_event_loop(pki: PKI, trust: TrustStore) -> None:
    async def main() -> tuple[ChainResult, ChainResult]:
        synchronous = validate_certificate(pki["carol"].certificate, trust=trust,
                                           intermediates=[pki.intermediate.certificate],
                                           use_cache=False)
        awaited = await validate_certificate_async(
            pki["carol"].certificate, trust=trust, intermediates=[pki.intermediate.certificate],
            use_cache=False,
        )
        return synchronous, awaited

    synchronous, awaited = asyncio.run(main())
    assert synchronous.valid and awaited.valid
    assert synchronous.chain == awaited.chain


def test_concurrent_validations_in_one_loop(pki: PKI, trust: TrustStore) -> None:
    async def main() -> list[ChainResult]:
        return list(await asyncio.gather(*(
            validate_certificate_async(pki[name].certificate, trust=trust, use_cache=False,
                                       intermediates=[pki.intermediate.certificate])
            for name in ("alice", "bob", "carol", "dave")
        )))

    assert all(r.valid for r in asyncio.run(main()))
