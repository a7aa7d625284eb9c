"""SignedData made by other projects, read in place from ../shared/corpus (DER level only).

The corpus README's table is shifted for two RFC 4134 files; the RFC itself says:
4.6 = "Multiple Signers" (Alice and Diane, DSA, no attributes) and 4.10 = "SignedData with
Attributes" (unknown OID, contentHints, securityLabel, ... : one signer).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509

from smime.cms.signed import SignedDataInfo, SignerCheck, verify_signed_data
from smime.problems import ProblemCode

pytestmark = pytest.mark.corpus

SAMPLE = b"This is some sample content."


def read(corpus: Path, name: str) -> bytes:
    return (corpus / name).read_bytes()


def verified(info: SignedDataInfo) -> list[SignerCheck]:
    for signer in info.signers:
        assert signer.intact and signer.signature_valid, (signer.identifier, signer.problems)
    return list(info.signers)


def weak_only(signer: SignerCheck) -> bool:
    return {p.code for p in signer.problems} <= {ProblemCode.WEAK_ALGORITHM}


# ---------------------------------------------------------------------------- RFC 4134


@pytest.mark.parametrize(("name", "algorithm", "signers"), [
    ("4.1.bin", "dsa", 1),
    ("4.2.bin", "rsa-pkcs1v15", 1),
    ("4.4.bin", "dsa", 1),
    ("4.5.bin", "rsa-pkcs1v15", 1),
    ("4.7.bin", "dsa", 1),
    ("4.10.bin", "dsa", 1),
])
def test_rfc4134_signatures_verify(corpus: Path, name: str, algorithm: str, signers: int) -> None:
    info = verify_signed_data(read(corpus, f"rfc4134/{name}"))
    assert info.content == SAMPLE and not info.detached
    found = verified(info)
    assert len(found) == signers
    for signer in found:
        assert signer.signature_algorithm == algorithm
        assert signer.digest_algorithm == "sha1"
        # SHA-1 is read, but never silently: it is reported as weak.
        assert [p.code for p in signer.problems] == [ProblemCode.WEAK_ALGORITHM]
        assert signer.certificate is not None


def test_rfc4134_countersigned_and_attributes(corpus: Path) -> None:
    (signer,) = verify_signed_data(read(corpus, "rfc4134/4.4.bin")).signers
    assert "countersignature" in signer.unsigned_attributes
    assert {"content-type", "signing-time", "message-digest"} <= set(signer.signed_attributes)
    (ski,) = verify_signed_data(read(corpus, "rfc4134/4.7.bin")).signers
    assert ski.identifier.startswith("subject key identifier ")


def test_rfc4134_unknown_and_ess_attributes_do_not_stop_us(corpus: Path) -> None:
    """4.10 carries an unknown OID, securityLabel, mlExpansionHistory ... with [0] tags that
    asn1crypto cannot parse generically: they are listed, and the signature still checks."""
    (signer,) = verify_signed_data(read(corpus, "rfc4134/4.10.bin")).signers
    assert {"1.2.5555", "content-hints", "security-label", "ml-expansion-history",
            "equivalent-labels", "content-reference", "encryption-key-preference",
            "smime-capabilities"} <= set(signer.signed_attributes)
    assert signer.encryption_key_preference is not None
    assert signer.capabilities
    assert weak_only(signer)


def test_rfc4134_detached(corpus: Path) -> None:
    der = read(corpus, "rfc4134/4.3.bin")
    info = verify_signed_data(der, read(corpus, "rfc4134/ExContent.bin"))
    assert info.detached and info.content is None
    assert weak_only(verified(info)[0])
    (signer,) = verify_signed_data(der, SAMPLE + b"!").signers
    assert not signer.intact and not signer.signature_valid  # no attributes: the signature
    assert ProblemCode.BAD_SIGNATURE in {p.code for p in signer.problems}  # covers the content


def test_rfc4134_certs_only_has_no_signers(corpus: Path) -> None:
    info = verify_signed_data(read(corpus, "rfc4134/4.11.bin"))
    assert info.signers == ()
    assert len(info.certificates) == 2 and len(info.crls) == 1


def test_rfc4134_multiple_signers_needs_carl_for_diane(corpus: Path) -> None:
    """Why `openssl cms -verify` rejects 4.6 ("content verify error"), and what we report.

    Alice's signature is fine. Diane's DSA certificate (serial 0xD2) carries no DSA
    parameters: RFC 3279 section 2.3.2 lets it inherit p, q and g from its issuer, Carl,
    whose certificate the message does not include. Without them no one can check her
    signature (OpenSSL cannot either); the cryptography library even refuses to load such a
    certificate. We report exactly that, and verify her signature once Carl's certificate
    is handed over in ``extra_certificates``.
    """
    der = read(corpus, "rfc4134/4.6.bin")
    alice, diane = verify_signed_data(der).signers
    assert alice.verified and weak_only(alice)
    assert not diane.signature_valid and diane.certificate is None
    codes = {p.code for p in diane.problems}
    assert ProblemCode.MISSING_CERTIFICATE in codes
    assert any("inherits parameters" in str(p) or "takes its parameters" in str(p)
               for p in diane.problems)
    carl = x509.load_der_x509_certificate(read(corpus, "rfc4134/CarlDSSSelf.cer"))
    alice, diane = verify_signed_data(der, extra_certificates=[carl]).signers
    assert alice.verified and diane.verified
    assert ProblemCode.MISSING_CERTIFICATE not in {p.code for p in diane.problems}


# ---------------------------------------------------------------------------- Bouncy Castle


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encapsulated", [False, True], ids=["detached", "encapsulated"])
def test_bouncycastle_pss(corpus: Path, digest: str, encapsulated: bool) -> None:
    data = read(corpus, "bouncycastle-cms-sigs/PSSSignData.data")
    name = f"PSSSignData{digest.upper()}{'Enc' if encapsulated else ''}.sig"
    info = verify_signed_data(read(corpus, f"bouncycastle-cms-sigs/{name}"),
                              None if encapsulated else data)
    (signer,) = verified(info)
    assert signer.signature_algorithm == "rsassa-pss" and signer.digest_algorithm == digest
    assert weak_only(signer) and (signer.problems != ()) == (digest == "sha1")
    assert info.content == (data if encapsulated else None)


def test_bouncycastle_countersignature(corpus: Path) -> None:
    info = verify_signed_data(read(corpus, "bouncycastle-cms-sigs/counterSig.p7m"))
    (signer,) = verified(info)
    assert "countersignature" in signer.unsigned_attributes
    assert info.content == b"aaa"


def test_bouncycastle_digest_parameters_absent(corpus: Path) -> None:
    """SHA-256 without NULL parameters, also inside the RSA DigestInfo (RFC 4055 allows the
    absent form; OpenSSL 3.0 refuses the signature, we accept it)."""
    info = verify_signed_data(read(corpus, "bouncycastle-cms-sigs/rawsha256nonull.p7m"))
    (signer,) = verified(info)
    assert signer.digest_algorithm == "sha256" and signer.problems == ()


def test_microsoft_pkcs7_content_is_parsed(corpus: Path) -> None:
    """Authenticode: PKCS#7 content that is not an OCTET STRING, and Microsoft attributes
    with [0] tags. The digest covers the content octets (PKCS#7 section 9.3)."""
    info = verify_signed_data(read(corpus, "bouncycastle-cms-sigs/SignedMSPkcs7.sig"))
    assert info.content_type == "1.3.6.1.4.1.311.2.1.4"
    (signer,) = verified(info)
    assert signer.digest_algorithm == "md5"
    assert [p.code for p in signer.problems] == [ProblemCode.WEAK_ALGORITHM]


# ---------------------------------------------------------------------------- NSS (Thunderbird)


def _multipart_parts(raw: bytes) -> tuple[bytes, bytes]:
    """(first part as signed, DER of the smime.p7s part) of a multipart/signed message."""
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    delimiter = b"\r\n--" + boundary
    parts = raw.split(delimiter)
    signed = parts[1].split(b"\r\n", 1)[1]
    body = parts[2].split(b"\r\n\r\n", 1)[1]
    return signed, base64.b64decode(body)


@pytest.mark.parametrize("digest", ["SHA1", "SHA256", "SHA384", "SHA512"])
def test_nss_detached_signature(corpus: Path, digest: str) -> None:
    folder = corpus / "thunderbird-nss/mailnews"
    der = (folder / f"alice.mime.dsig.{digest}").read_bytes()
    assert der[:2] == b"\x30\x80"  # NSS writes BER with indefinite lengths
    info = verify_signed_data(der, (folder / "alice.mime").read_bytes())
    (signer,) = verified(info)
    assert signer.digest_algorithm == digest.lower()
    assert weak_only(signer)


@pytest.mark.parametrize("digest", ["SHA256", "SHA512"])
def test_nss_mismatching_econtent_fails(corpus: Path, digest: str) -> None:
    """A detached signature that also carries a (different) eContent must not verify."""
    name = f"alice.dsig.{digest}.multipart.mismatch-econtent.eml"
    raw = read(corpus, f"thunderbird-nss/mailnews/{name}")
    signed, der = _multipart_parts(raw)
    info = verify_signed_data(der, signed)
    assert info.content is not None and info.content != signed
    (signer,) = info.signers
    assert not signer.intact
    assert any(p.code is ProblemCode.MALFORMED and "differs from the detached content" in str(p)
               for p in signer.problems)


@pytest.mark.parametrize("digest", ["SHA256", "SHA512"])
def test_nss_good_and_altered_multipart(corpus: Path, digest: str) -> None:
    folder = corpus / "thunderbird-nss/mailnews"
    signed, der = _multipart_parts((folder / f"alice.dsig.{digest}.multipart.eml").read_bytes())
    assert verified(verify_signed_data(der, signed))
    signed, der = _multipart_parts((folder / f"alice.dsig.{digest}.multipart.bad.eml").read_bytes())
    (signer,) = verify_signed_data(der, signed).signers
    assert not signer.intact
    assert ProblemCode.DIGEST_MISMATCH in {p.code for p in signer.problems}


# ---------------------------------------------------------------------------- asn1crypto


def test_ber_indefinite_length_is_read(corpus: Path) -> None:
    """asn1crypto's BER fixture: read in full (its signature does not match its content;
    OpenSSL says the same), so the verdict is a digest mismatch, not a parse error."""
    info = verify_signed_data(read(corpus, "asn1crypto/cms-signed-indefinite-length.der"))
    assert info.content is not None and len(info.content) == 57310
    (signer,) = info.signers
    assert {p.code for p in signer.problems} == {ProblemCode.DIGEST_MISMATCH}


@pytest.mark.parametrize("name", ["cms-signed.der", "pkcs7-signed.der"])
def test_asn1crypto_signed_fixtures(corpus: Path, name: str) -> None:
    assert verified(verify_signed_data(read(corpus, f"asn1crypto/{name}")))
