"""Verdicts a reader can act on: every policy switch gives a coherent result, validity is
judged at the time the policy names (and says which), SHA-1 needs an opt-in, unreadable
revocation data is an error, and no sentence carries a dependency's debug notation."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_api_certificates import bare_message

import smime
from smime.errors import ParseError
from smime.problems import ProblemCode, plain_reason
from smime.testing import issue_certificate, make_ca

if TYPE_CHECKING:
    from smime.testing import TestPKI

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)
TEXT = b"Subject: verdicts\r\nContent-Type: text/plain\r\n\r\nWhat policy says.\r\n"


def letter(sender: str) -> bytes:
    return f"From: {sender}\r\nTo: bob@example.com\r\n".encode() + TEXT


@dataclass(frozen=True)
class Case:
    """A signed message, the trust to judge it with, and when each policy must accept it."""

    message: bytes
    trust: smime.TrustStore
    valid_when: str  # a condition on the policy, read by ``expected``


def expected(case: Case, policy: smime.VerificationPolicy) -> bool:
    return {
        "always": True,
        "never": False,
        "no anchor needed": not policy.require_trusted_chain,
        "no sender match": not policy.require_sender_match,
        "no eku check": not policy.require_email_protection_eku,
        "no key usage check": not policy.check_key_usage,
        "judged now": policy.validate_at == "now",
        "judged at signing": policy.validate_at == "signing_time",
    }[case.valid_when]


@pytest.fixture(scope="module")
def cases(pki: TestPKI) -> dict[str, Case]:
    trust = smime.TrustStore.from_pem(pki.root_path)
    root = make_ca("Old Root", not_before=NOW - 2000 * DAY, not_after=NOW + 2000 * DAY)
    inter = make_ca("Old Intermediate", issuer=root, path_length=0,
                    not_before=NOW - 2000 * DAY, not_after=NOW + 2000 * DAY)
    old_trust = smime.TrustStore([root.certificate])
    alice = pki["alice"].identity

    def issued(**options: object) -> smime.Identity:
        return issue_certificate(pki.intermediate, "alice@example.com",  # type: ignore[arg-type]
                                 key=alice.key, **options)

    def old(not_before: dt.datetime, not_after: dt.datetime) -> smime.Identity:
        return issue_certificate(inter, "alice@example.com", key=alice.key,
                                 not_before=not_before, not_after=not_after)

    def signed(identity: smime.Identity, sender: str = "alice@example.com",
               when: dt.datetime | None = None) -> bytes:
        return smime.sign(letter(sender), identity, signing_time=when).as_bytes()

    return {
        "good": Case(signed(alice), trust, "always"),
        "untrusted": Case(signed(alice), smime.TrustStore(), "no anchor needed"),
        "sender": Case(signed(alice, "mallory@example.com"), trust, "no sender match"),
        "eku": Case(signed(issued(extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH])),
                    trust, "no eku check"),
        "key usage": Case(signed(issued(key_usage=["key_encipherment"])), trust,
                          "no key usage check"),
        # signed 30 days before the certificate's notBefore: not valid when it signed
        "early": Case(signed(old(NOW - DAY, NOW + 300 * DAY), when=NOW - 30 * DAY),
                      old_trust, "judged now"),
        # signed while valid, expired since
        "expired": Case(signed(old(NOW - 400 * DAY, NOW - 30 * DAY), when=NOW - 100 * DAY),
                        old_trust, "judged at signing"),
        "missing": Case(bare_message(pki), trust, "never"),
    }


SWITCHES = ("require_trusted_chain", "check_key_usage", "require_email_protection_eku",
            "require_sender_match", "allow_sender_header", "allow_weak_algorithms")
#: Every combination of the switches, each with one of the three validation times in turn
#: (so every time meets both values of every switch): 64 policies, not 192.
POLICIES = [
    smime.VerificationPolicy(**dict(zip(SWITCHES, flags, strict=True)),  # type: ignore[arg-type]
                             validate_at=("signing_time", "now", "both")[index % 3])
    for index, flags in enumerate(itertools.product((True, False), repeat=len(SWITCHES)))
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: "-".join(
    [s for s in SWITCHES if getattr(p, s)] + [p.validate_at]))
def test_every_policy_gives_a_coherent_verdict(cases: dict[str, Case],
                                               policy: smime.VerificationPolicy) -> None:
    for name, case in cases.items():
        result = smime.verify(case.message, case.trust, policy=policy)
        assert result.valid is expected(case, policy), (name, result.summary())
        # valid exactly when nothing is wrong; not valid always says why
        assert result.valid is (not result.problems), (name, result.summary())
        for signer in result.signers:
            assert signer.valid is (not signer.problems), (name, signer)
            if signer.valid:
                assert signer.trusted and signer.intact and signer.signature_valid


def test_waived_anchor_is_kept_as_a_warning(cases: dict[str, Case]) -> None:
    case = cases["untrusted"]
    result = smime.verify(case.message, case.trust,
                          policy=smime.VerificationPolicy(require_trusted_chain=False))
    assert result.valid
    assert ProblemCode.UNTRUSTED in {w.code for w in result.warnings}
    assert "require_trusted_chain=False" in str(result.warnings[0])


# ---------------------------------------------------------------------------- time


def test_signature_before_not_before_is_not_yet_valid(cases: dict[str, Case]) -> None:
    case = cases["early"]
    result = smime.verify(case.message, case.trust)
    assert result.codes == {ProblemCode.NOT_YET_VALID}, result.summary()
    text = str(result.problems[0])
    assert "not valid until" in text and "judged at the signing time" in text
    assert "expired" not in text
    both = smime.verify(case.message, case.trust,
                        policy=smime.VerificationPolicy(validate_at="both"))
    assert both.codes == {ProblemCode.NOT_YET_VALID}


def test_expired_now_says_it_was_judged_now(cases: dict[str, Case]) -> None:
    case = cases["expired"]
    now = smime.verify(case.message, case.trust,
                       policy=smime.VerificationPolicy(validate_at="now"))
    assert now.codes == {ProblemCode.EXPIRED}
    assert "judged at the current time" in str(now.problems[0])
    at = NOW - 10 * DAY
    given = smime.verify(case.message, case.trust, at=at)
    assert given.codes == {ProblemCode.EXPIRED}
    assert f"at={at.isoformat()}" in str(given.problems[0])


# ---------------------------------------------------------------------------- weak


@pytest.mark.interop
def test_sha1_is_not_valid_without_the_opt_in(openssl: str, pki: TestPKI,
                                             tmp_path: Path) -> None:
    content = tmp_path / "content.txt"
    content.write_bytes(TEXT)
    out = tmp_path / "sha1.eml"
    subprocess.run([openssl, "cms", "-sign", "-md", "sha1", "-in", str(content),
                    "-signer", str(pki["alice"].cert_path), "-inkey", str(pki["alice"].key_path),
                    "-certfile", str(pki.intermediate_path), "-out", str(out)],
                   check=True, capture_output=True, timeout=60)
    message = b"From: alice@example.com\r\n" + out.read_bytes()
    trust = smime.TrustStore.from_pem(pki.root_path)
    default = smime.verify(message, trust)
    (signer,) = default.signers
    assert signer.intact and signer.signature_valid
    assert not default.valid and default.codes == {ProblemCode.WEAK_ALGORITHM}
    assert "allow_weak_algorithms=True" in str(default.problems[0])
    opted = smime.verify(message, trust,
                         policy=smime.VerificationPolicy(allow_weak_algorithms=True))
    assert opted.valid and {w.code for w in opted.warnings} == {ProblemCode.WEAK_ALGORITHM}
    # the command line: not valid (exit 1) unless --allow-weak-algorithms
    base = [sys.executable, "-m", "smime", "verify", "--trust", str(pki.root_path)]
    out.write_bytes(message)
    plain = subprocess.run([*base, str(out)], capture_output=True, timeout=120, check=False)
    assert plain.returncode == 1 and b"allow-weak-algorithms" in plain.stdout
    allowed = subprocess.run([*base, "--allow-weak-algorithms", str(out)], capture_output=True,
                             timeout=120, check=False)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_default_policy_rejects_weak_algorithms() -> None:
    assert smime.VerificationPolicy().allow_weak_algorithms is False


# ---------------------------------------------------------------------------- revocation data


@pytest.mark.parametrize("keyword", ["crls", "ocsp_responses"])
def test_unreadable_revocation_data_is_a_parse_error(pki: TestPKI, keyword: str) -> None:
    message = smime.sign(letter("alice@example.com"), pki["alice"].identity).as_bytes()
    trust = smime.TrustStore.from_pem(pki.root_path)
    with pytest.raises(ParseError) as caught:
        smime.verify(message, trust, **{keyword: [b"garbage"]})  # type: ignore[arg-type]
    text = str(caught.value)
    assert f"{keyword}[0]" in text and not DEBUG.search(text), text


def test_cli_garbage_crl_is_an_error_naming_the_file(pki: TestPKI, tmp_path: Path) -> None:
    message = tmp_path / "signed.eml"
    message.write_bytes(smime.sign(letter("alice@example.com"), pki["alice"].identity).as_bytes())
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"garbage")
    done = subprocess.run([sys.executable, "-m", "smime", "verify", "--trust", str(pki.root_path),
                           "--crl", str(garbage), str(message)],
                          capture_output=True, timeout=120, check=False)
    err = done.stderr.decode()
    assert done.returncode == 2 and b"VALID" not in done.stdout
    assert f"--crl {garbage}" in err and not DEBUG.search(err), err


# ---------------------------------------------------------------------------- debug text

#: A dependency's debug notation (Rust ``Debug``: ``Name { field: ...``) or a Python repr.
DEBUG = re.compile(r"\b[A-Z]\w* \{ \w+: |ParseError|Traceback|<class '")


def _resigned_with_subject(cert: x509.Certificate, issuer: smime.Identity, value: bytes) -> bytes:
    """``cert`` with a subject CN UTF8String holding ``value`` (not UTF-8), signed again."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    atv = b"\x06\x03\x55\x04\x03\x0c" + bytes([len(value)]) + value
    atv = b"\x30" + bytes([len(atv)]) + atv
    rdn = b"\x31" + bytes([len(atv)]) + atv
    tbs["subject"] = asn1_x509.Name.load(b"\x30" + bytes([len(rdn)]) + rdn)
    signature = issuer.key.sign(tbs.dump(), padding.PKCS1v15(),  # type: ignore[union-attr,call-arg]
                                hashes.SHA256())
    return asn1_x509.Certificate({  # type: ignore[no-any-return]
        "tbs_certificate": tbs, "signature_algorithm": parsed["signature_algorithm"],
        "signature_value": signature,
    }).dump()


def test_latin1_subject_gives_a_sentence_not_parser_debug_text(pki: TestPKI) -> None:
    """As gpgsm's 2002 test certificate: a Latin-1 name where UTF-8 belongs."""
    alice = pki["alice"].identity
    der = _resigned_with_subject(alice.certificate, pki.intermediate, "Müller".encode("latin-1"))
    cert = x509.load_der_x509_certificate(der)
    identity = smime.Identity(cert, alice.key, chain=(pki.intermediate.certificate,))
    message = smime.sign(letter("alice@example.com"), identity).as_bytes()
    result = smime.verify(message, smime.TrustStore.from_pem(pki.root_path))
    assert not result.valid
    texts = [str(p) for p in (*result.problems, *result.warnings)]
    assert texts and not any(DEBUG.search(t) for t in texts), texts
    assert any("invalid value in the subject" in t for t in texts), texts


def test_plain_reason_words() -> None:
    raw = 'error parsing asn1 value: ParseError { kind: InvalidValue, location: ["subject"] }'
    assert plain_reason(raw) == "malformed DER (an invalid value in the subject)"
    nested = ("x: ParseError { kind: UnexpectedTag { actual: Tag { value: 16 } }, "
              'location: ["Certificate::tbs_cert"] } (end)')
    assert plain_reason(nested) == "x: malformed DER (an unexpected element in the tbs cert) (end)"
    assert plain_reason("nothing to change") == "nothing to change"
    assert str(smime.problems.Problem(ProblemCode.MALFORMED, raw)) == plain_reason(raw)


@pytest.mark.corpus
def test_corpus_problem_sentences_carry_no_debug_text(corpus: Path) -> None:
    """Every message of the corpus that parses: no problem or warning sentence carries a
    dependency's debug notation."""
    folders = ["thunderbird-nss", "mimekit-smime", "rfc4134", "nist-pkits/smime"]
    seen = 0
    for folder in folders:
        for path in sorted((corpus / folder).rglob("*.eml")):
            try:
                opened = smime.unwrap(path.read_bytes(), trust=smime.TrustStore(),
                                      revocation="off")
            except smime.errors.SMIMEError as exc:
                assert not DEBUG.search(str(exc)), (path.name, str(exc))
                continue
            for check in opened.verifications:
                seen += 1
                for problem in (*check.problems, *check.warnings):
                    assert not DEBUG.search(str(problem)), (path.name, str(problem))
    assert seen > 100
