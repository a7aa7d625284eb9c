"""NIST PKITS (S/MIME form): path validation of the signer of every SignedValid*/Invalid*.

The corpus README: validate with certs/TrustAnchorRootCertificate.crt and every CRL in
crls/, at a time inside 2010-2030; SignedValid* must validate, SignedInvalid* must not.
We use revocation "hard-fail" (PKITS expects a missing or unusable CRL to fail the path)
and the default careful-mail-client policy. The signer and the message's certificates
are taken from the CMS with asn1crypto here, so this test depends on no other layer.
"""

from __future__ import annotations

import datetime as dt
import email
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms

from smime.errors import LoadError
from smime.problems import ProblemCode
from smime.validation import ChainResult, TrustStore, VerificationPolicy, validate_certificate

pytestmark = pytest.mark.corpus

AT = dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc)


def _cases() -> list[str]:
    """The case names, read at collection time (the `corpus` fixture skips when absent)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    folder = Path(os.environ.get("SMIME_CORPUS", default)) / "nist-pkits" / "smime"
    names = sorted(p.stem for p in folder.glob("Signed*.eml")) if folder.is_dir() else []
    return [n for n in names if n.startswith(("SignedValid", "SignedInvalid"))]


#: Cases where our answer differs from PKITS's "expected", and why. Each is still tested,
#: for the answer we do give.
DISAGREE = {
    "SignedValidDSAParameterInheritanceTest5": (
        "the signer's DSA key inherits its parameters from the CA certificate; cryptography "
        "cannot load such a key, so the certificate is refused with LoadError"
    ),
    "SignedValidNameChainingUIDsTest6": (
        "the copy of 'UID CA' embedded in the message is not PKITS's UIDCACert.crt: its "
        "subjectUniqueID was re-encoded (unused bits 5 -> 0) by whoever converted PKITS to "
        "S/MIME, so its signature does not verify; with the original certificate it validates"
    ),
}
#: DSA-1024 with SHA-1: a careful mail client refuses it by default (WEAK_ALGORITHM); PKITS's
#: verdict is checked again with allow_weak_algorithms=True.
WEAK_BY_POLICY = {"SignedValidDSASignaturesTest4", "SignedInvalidDSASignatureTest6"}
#: For invalid cases whose name says what is wrong, the problem we must report.
REASONS = (
    ("crlsignature", ProblemCode.REVOCATION_UNKNOWN),
    ("crlnextupdate", ProblemCode.REVOCATION_UNKNOWN),
    ("unknowncrl", ProblemCode.REVOCATION_UNKNOWN),
    ("revoked", ProblemCode.REVOKED),
    ("notafter", ProblemCode.EXPIRED),
    ("notbefore", ProblemCode.NOT_YET_VALID),
    ("nameconstraints", ProblemCode.INVALID_CHAIN),
    ("polic", ProblemCode.INVALID_CHAIN),
    ("pathlenconstraint", ProblemCode.INVALID_CHAIN),
    ("signaturetest", ProblemCode.INVALID_CHAIN),
)


@dataclass(frozen=True)
class Pkits:
    folder: Path
    trust: TrustStore
    crls: tuple[bytes, ...]


@pytest.fixture(scope="module")
def pkits(corpus: Path) -> Pkits:
    folder = corpus / "nist-pkits"
    trust = TrustStore.from_pem(folder / "certs" / "TrustAnchorRootCertificate.crt")
    crls = tuple(p.read_bytes() for p in sorted((folder / "crls").glob("*.crl")))
    assert len(crls) > 100
    return Pkits(folder, trust, crls)


def signer_and_certificates(path: Path) -> tuple[bytes, list[bytes]]:
    message = email.message_from_bytes(path.read_bytes())
    signature = next(
        part.get_payload(decode=True) for part in message.walk()
        if part.get_content_type() in ("application/pkcs7-signature",
                                       "application/x-pkcs7-signature")
    )
    assert isinstance(signature, bytes)
    signed = asn1_cms.ContentInfo.load(signature)["content"]
    certs = [c.chosen for c in signed["certificates"]]
    sid = signed["signer_infos"][0]["sid"].chosen
    signer = next(c for c in certs if c.issuer == sid["issuer"]
                  and c.serial_number == sid["serial_number"].native)
    return signer.dump(), [c.dump() for c in certs if c is not signer]


DEFAULT = VerificationPolicy(allow_weak_algorithms=False)  # a strict client


def _validate(pkits: Pkits, name: str, policy: VerificationPolicy = DEFAULT,
              revocation: str = "hard-fail") -> ChainResult:
    signer, certificates = signer_and_certificates(pkits.folder / "smime" / f"{name}.eml")
    return validate_certificate(
        signer, trust=pkits.trust, intermediates=certificates, crls=pkits.crls, at=AT,
        revocation=revocation, policy=policy, use_cache=False,
    )


def _says(result: ChainResult) -> list[str]:
    return [str(p) for p in result.problems]


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("name", _cases())
def test_pkits_case(name: str, pkits: Pkits) -> None:
    expected_valid = name.startswith("SignedValid")
    if name == "SignedValidDSAParameterInheritanceTest5":
        with pytest.raises(LoadError):
            _validate(pkits, name)
        return
    result = _validate(pkits, name)
    if name == "SignedValidNameChainingUIDsTest6":
        assert [p.code for p in result.problems] == [ProblemCode.INVALID_CHAIN], _says(result)
        signer, _ = signer_and_certificates(pkits.folder / "smime" / f"{name}.eml")
        original = (pkits.folder / "certs" / "UIDCACert.crt").read_bytes()
        fixed = validate_certificate(signer, trust=pkits.trust, intermediates=[original],
                                     crls=pkits.crls, at=AT, revocation="hard-fail")
        assert fixed.valid, _says(fixed)
        return
    if name in WEAK_BY_POLICY:
        assert ProblemCode.WEAK_ALGORITHM in {p.code for p in result.problems}, _says(result)
        result = _validate(pkits, name, VerificationPolicy(allow_weak_algorithms=True))
    assert result.valid is expected_valid, _says(result)
    if not expected_valid:
        assert result.problems and not result.trusted
        wanted = next((code for key, code in REASONS if key in name.lower()), None)
        if wanted is not None:
            assert wanted in {p.code for p in result.problems}, _says(result)


def test_every_listed_case_is_covered(corpus: Path) -> None:
    cases = _cases()
    assert len(cases) > 180
    assert set(cases) >= set(DISAGREE) | WEAK_BY_POLICY


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_revocation_mode_decides_a_missing_crl(pkits: Pkits) -> None:
    """PKITS 4.4.1 (file without the Invalid prefix): the CA published no CRL. Hard-fail
    rejects it, soft-fail accepts it; a listed revocation (4.4.3) fails in both modes."""
    hard = _validate(pkits, "SignedMissingCRLTest1")
    assert [p.code for p in hard.problems] == [ProblemCode.REVOCATION_UNKNOWN], _says(hard)
    soft = _validate(pkits, "SignedMissingCRLTest1", revocation="soft-fail")
    assert soft.valid and not soft.revocation_checked
    revoked = _validate(pkits, "SignedInvalidRevokedEETest3", revocation="soft-fail")
    assert [p.code for p in revoked.problems] == [ProblemCode.REVOKED]
    assert "key compromise" in str(revoked.problems[0])
