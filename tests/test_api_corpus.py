"""Messages made by other implementations (../shared/corpus), through the public API.

What the corpus README says must verify, verifies; must decrypt, decrypts; must fail, fails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import CORPUS
from helpers import body_text

import smime
from smime.problems import ProblemCode

pytestmark = pytest.mark.corpus

LENIENT = smime.VerificationPolicy(require_sender_match=False)
#: SHA-1 mail in the corpus verifies when the caller opts in (``allow_weak_algorithms``).
WEAK_OK = smime.VerificationPolicy(allow_weak_algorithms=True)
LENIENT_WEAK_OK = smime.VerificationPolicy(require_sender_match=False, allow_weak_algorithms=True)


@pytest.fixture(scope="module")
def tb(corpus) -> Path:
    return corpus / "thunderbird-nss"


@pytest.fixture(scope="module")
def tb_trust(tb):
    return smime.TrustStore.from_pem(tb / "mailnews" / "TestCA.pem")


@pytest.fixture(scope="module")
def bob(tb):
    return smime.load_identity(tb / "mailnews" / "Bob.p12", password="nss")


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


MAILNEWS = CORPUS / "thunderbird-nss" / "mailnews"
SIGNED = [
    n
    for n in (
        _names(MAILNEWS, "alice.dsig.*.multipart.eml")
        + _names(MAILNEWS, "alice.sig.*.opaque.eml")
        + _names(MAILNEWS, "alice.html.sig.*.opaque.eml")
    )
]
DOUBLE = _names(MAILNEWS, "alice.plain.*.dave.*.eml")
ENCRYPTED = _names(MAILNEWS, "*.env*.eml")
BAD = _names(MAILNEWS, "*.bad.eml") + _names(MAILNEWS, "*.mismatch-econtent.eml")


@pytest.mark.parametrize("name", SIGNED or ["(corpus absent)"])
def test_thunderbird_signed_verify(tb, tb_trust, name):
    data = (tb / "mailnews" / name).read_bytes()
    result = smime.verify(data, trust=tb_trust)
    if ".SHA1." in name:
        # SHA-1 is not valid by default (as in Thunderbird since 115); it is intact, and
        # the opt-in makes it valid with the weakness kept as a warning.
        assert not result.valid and result.codes == {ProblemCode.WEAK_ALGORITHM}
        assert result.signers[0].intact and result.signers[0].signature_valid
        assert "allow_weak_algorithms=True" in str(result.problems[0])
        result = smime.verify(data, trust=tb_trust, policy=WEAK_OK)
        assert ProblemCode.WEAK_ALGORITHM in {w.code for w in result.warnings}
    assert result.valid, result.summary()
    assert result.signers[0].email_addresses == ("alice@example.com",)
    assert result.content.get_content_type() in (
        "text/plain",
        "text/html",
        "multipart/alternative",
        "multipart/mixed",
    )


def _sha1_needs_opt_in(name: str, opened: smime.UnwrapResult) -> None:
    """A SHA-1 signature layer is intact but not valid by default, for that reason alone."""
    if ".SHA1." not in name or not opened.verifications:
        return
    assert not opened.valid
    for check in opened.verifications:
        assert all(s.intact and s.signature_valid for s in check.signers), check.summary()
        assert check.codes == {ProblemCode.WEAK_ALGORITHM}, check.summary()


@pytest.mark.parametrize("name", DOUBLE or ["(corpus absent)"])
def test_thunderbird_double_signed_unwrap(tb, tb_trust, name):
    data = (tb / "mailnews" / name).read_bytes()
    _sha1_needs_opt_in(name, smime.unwrap(data, trust=tb_trust, policy=LENIENT))
    opened = smime.unwrap(data, trust=tb_trust, policy=LENIENT_WEAK_OK)
    kinds = [layer.kind for layer in opened.layers]
    assert kinds == ["signed", "signed"], kinds
    signers = [v.signers[0].email_addresses[0] for v in opened.verifications]
    assert signers == ["dave@example.com", "alice@example.com"]
    assert opened.valid, [v.summary() for v in opened.verifications]


@pytest.mark.parametrize("name", BAD or ["(corpus absent)"])
def test_thunderbird_tampered_fail(tb, tb_trust, name):
    try:
        result = smime.verify((tb / "mailnews" / name).read_bytes(), trust=tb_trust)
    except smime.errors.ParseError:
        return
    assert not result.valid
    assert not all(s.intact for s in result.signers) or result.codes & {ProblemCode.MALFORMED}


@pytest.mark.parametrize("name", ENCRYPTED or ["(corpus absent)"])
def test_thunderbird_encrypted_decrypt_then_verify(tb, tb_trust, bob, name):
    data = (tb / "mailnews" / name).read_bytes()
    _sha1_needs_opt_in(name, smime.unwrap(data, identity=bob, trust=tb_trust, policy=LENIENT))
    opened = smime.unwrap(data, identity=bob, trust=tb_trust, policy=LENIENT_WEAK_OK)
    kinds = [layer.kind for layer in opened.layers]
    assert "encrypted" in kinds
    assert opened.content.get_content_type().startswith(("text/", "multipart/"))
    if len(kinds) > 1:
        assert opened.valid, [v.summary() for v in opened.verifications]


def test_thunderbird_future_signing_time(tb, tb_trust):
    """Made in January 2026 with a signing time hours ahead of its Date header; that time
    has passed, so like OpenSSL we verify it (our own future-time check is in
    test_api_sign_verify)."""
    result = smime.verify(
        (tb / "mailnews" / "alice.future.dsig.SHA256.multipart.eml").read_bytes(), trust=tb_trust
    )
    assert result.valid, result.summary()


def test_thunderbird_browser_messages(tb):
    folder = tb / "browser"
    trust = smime.TrustStore.from_pem(folder / "TestCA.pem")
    bob = smime.load_identity(folder / "Bob.p12", password="nss")
    assert smime.verify((folder / "alice.sig.SHA256.opaque.eml").read_bytes(), trust=trust).valid
    for name in ("alice.sig.SHA256.opaque.env.eml", "alice.dsig.SHA256.multipart.env.eml",
                 "alice.html.sig.SHA256.opaque.env.eml"):
        opened = smime.unwrap((folder / name).read_bytes(), identity=bob, trust=trust)
        assert [layer.kind for layer in opened.layers] == ["encrypted", "signed"], name
        assert opened.valid, name
    # This HTML sample carries an Alice certificate from another TestCA generation with the
    # same name: OpenSSL says "certificate signature failure", and so do we.
    check = smime.verify((folder / "alice.html.sig.SHA256.opaque.eml").read_bytes(), trust=trust)
    assert check.signers[0].intact and check.signers[0].signature_valid
    assert not check.valid and ProblemCode.INVALID_CHAIN in check.codes
    # A mailing list wrapped Alice's signed mail in multipart/mixed with its own unsigned
    # header and footer parts: only the inner part is signed, and we say which. The message
    # as a whole is not valid; the signed part alone is, when asked for (part=).
    for name, covers, unsigned in (
        ("alice.dsig.SHA256.multipart.in.mixed.eml", "1", ("2",)),
        ("alice.dsig.SHA256.multipart.in.mixed.with.header.eml", "2", ("1", "3")),
    ):
        raw = (folder / name).read_bytes()
        mixed = smime.verify(raw, trust=trust)
        assert (mixed.covers, mixed.unsigned_parts) == (covers, unsigned), name
        assert not mixed.valid and mixed.codes == {ProblemCode.PARTIAL_SIGNATURE}, name
        assert mixed.signers[0].valid, name
        assert smime.verify(raw, trust=trust, part=covers).valid, name


def test_rfc4134_mime_examples(corpus):
    folder = corpus / "rfc4134"
    carl = smime.TrustStore.from_pem(folder / "CarlRSASelf.cer")
    when = dt.datetime(2005, 6, 1, tzinfo=dt.timezone.utc)
    for name in ("4.8.eml", "4.9.eml"):
        result = smime.verify((folder / name).read_bytes(), trust=carl, at=when, policy=LENIENT)
        (signer,) = result.signers
        assert signer.intact and signer.signature_valid, name
        assert "This is some sample content." in body_text(result.content)
    bob = smime.load_identity(
        cert=folder / "BobRSASignByCarl.cer", key=folder / "BobPrivRSAEncrypt.pri"
    )
    opened = smime.decrypt((folder / "5.3.eml").read_bytes(), bob)
    assert "This is some sample content." in opened.as_string()
    assert opened.decryption.cipher == "des-ede3-cbc"
    alice = smime.load_identity(
        cert=folder / "AliceRSASignByCarl.cer", key=folder / "AlicePrivRSASign.pri"
    )
    with pytest.raises(smime.errors.DecryptionError):
        smime.decrypt((folder / "5.3.eml").read_bytes(), alice)


def test_mimekit_thunderbird_2013_signature(corpus):
    folder = corpus / "mimekit-smime"
    data = (folder / "thunderbird-signed.txt").read_bytes()
    startcom = smime.TrustStore.from_pem(folder / "StartComCertificationAuthority.crt")
    # SHA-1: not valid by default, whatever else holds
    weak = smime.verify(data, trust=startcom, policy=LENIENT)
    assert not weak.valid and weak.codes == {ProblemCode.WEAK_ALGORITHM}, weak.summary()
    # valid when it was signed (2013) for a reader who opts in, with SHA-1 reported
    then = smime.verify(data, trust=startcom, policy=LENIENT_WEAK_OK)
    (signer,) = then.signers
    assert signer.intact and signer.signature_valid
    assert then.valid, then.summary()
    assert ProblemCode.WEAK_ALGORITHM in {w.code for w in then.warnings}
    # judged today the chain has expired; and nobody trusts StartCom by default any more
    now = smime.VerificationPolicy(validate_at="now", require_sender_match=False)
    today = smime.verify(data, trust=startcom, policy=now)
    assert not today.valid and ProblemCode.EXPIRED in today.codes
    assert not smime.verify(data, trust=smime.TrustStore(), policy=LENIENT).valid


PKITS = CORPUS / "nist-pkits"
PKITS_CASES = sorted(
    p.name
    for p in (PKITS / "smime").glob("Signed*.eml")
    if p.name.startswith(("SignedValid", "SignedInvalid"))
)


@pytest.fixture(scope="module")
def pkits(corpus):
    folder = corpus / "nist-pkits"
    trust = smime.TrustStore.from_pem(folder / "certs" / "TrustAnchorRootCertificate.crt")
    crls = [p.read_bytes() for p in sorted((folder / "crls").glob("*.crl"))]
    return folder, trust, crls


#: Where we differ from PKITS's verdict, and why (checked, not skipped).
PKITS_DIFFERENT = {
    # cryptography cannot load a DSA key whose parameters are inherited from the issuer
    # (RFC 3279 2.3.2), so the signature cannot be checked: reported, not valid.
    "SignedValidDSAParameterInheritanceTest5.eml": ProblemCode.UNSUPPORTED_ALGORITHM,
    # the UID CA certificate embedded in this .eml was re-encoded when the suite was
    # turned into S/MIME; its signature no longer verifies (PKITS's own file does).
    "SignedValidNameChainingUIDsTest6.eml": ProblemCode.INVALID_CHAIN,
}
#: Valid paths whose message is signed with DSA and SHA-1: not valid by default for that
#: reason alone, valid with ``allow_weak_algorithms=True``.
PKITS_SHA1 = {"SignedValidDSASignaturesTest4.eml"}


@pytest.mark.parametrize("name", PKITS_CASES or ["(corpus absent)"])
def test_nist_pkits(pkits, name):
    folder, trust, crls = pkits
    data = (folder / "smime" / name).read_bytes()
    at = dt.datetime(2015, 1, 1, tzinfo=dt.timezone.utc)
    result = smime.verify(data, trust=trust, crls=crls, at=at, revocation="hard-fail",
                          policy=LENIENT)
    if name in PKITS_SHA1:
        assert not result.valid and result.codes == {ProblemCode.WEAK_ALGORITHM}, name
        result = smime.verify(data, trust=trust, crls=crls, at=at, revocation="hard-fail",
                              policy=LENIENT_WEAK_OK)
    if name in PKITS_DIFFERENT:
        assert not result.valid and PKITS_DIFFERENT[name] in result.codes, result.summary()
        return
    assert all(s.intact and s.signature_valid for s in result.signers), result.summary()
    expected = name.startswith("SignedValid")
    assert result.valid is expected, result.summary()
