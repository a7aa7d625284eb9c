"""Signatures whose certificates travel out of band: ``certificates=``, ``store=``,
``smime verify --certfile``; and what is said when a signer's certificate is nowhere.

gpgsm signs without certificates by default, and ``openssl cms -sign -nocerts`` can too:
such mail must verify once the reader supplies the certificate, and until then the
problem must say how to supply it, never that the signature was checked.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import smime
from smime.cli._words import flag
from smime.cms import SignerIdentifier
from smime.cms.signed import SignerSpec, create_signed_data
from smime.errors import LoadError, UsageError
from smime.problems import ProblemCode

if TYPE_CHECKING:
    from smime.testing import TestPKI

ENTITY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSigned without certificates.\r\n"


def strip_certificates(der: bytes) -> bytes:
    """The SignedData without its certificates field (as gpgsm --include-certs 0 writes)."""
    info = asn1_cms.ContentInfo.load(der)
    info["content"]["certificates"] = None
    return info.dump(force=True)  # type: ignore[no-any-return]


def multipart_signed(entity: bytes, der: bytes, sender: str = "alice@example.com") -> bytes:
    b64 = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        f"From: {sender}\r\nTo: bob@example.com\r\nSubject: out of band\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        'micalg=sha-256; boundary="b1"\r\n\r\n--b1\r\n'
    ).encode() + entity + (
        b"\r\n--b1\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    ) + b64 + b"--b1--\r\n"


def bare_message(pki: TestPKI, identify_by: str = "issuer_and_serial") -> bytes:
    der = create_signed_data(ENTITY, [SignerSpec(pki["alice"].identity,  # type: ignore[arg-type]
                                                 identify_by=identify_by)])
    return multipart_signed(ENTITY, strip_certificates(der))



def test_missing_certificate_says_how_to_supply_it(pki: TestPKI, trust: smime.TrustStore) -> None:
    result = smime.verify(bare_message(pki), trust)
    (signer,) = result.signers
    assert not result.valid and result.codes == {ProblemCode.MISSING_CERTIFICATE}
    assert signer.certificate is None and not signer.signature_valid
    text = str(result.problems[0])
    for how in ("certificates=", "store="):
        assert how in text, text
    assert "--certfile" in result.problems[0].worded(flag)  # the command line's words
    assert "was not checked" in text and "signature was checked" not in text
    assert all("was checked" not in str(p) for p in (*result.problems, *result.warnings))


@pytest.mark.parametrize("form", ["objects", "paths", "pem-bundle"])
def test_certificates_keyword_supplies_signer_and_intermediate(
    pki: TestPKI, trust: smime.TrustStore, form: str
) -> None:
    given: object = {
        "objects": [pki["alice"].certificate, pki.intermediate.certificate],
        "paths": [pki["alice"].cert_path, pki.intermediate_path],
        "pem-bundle": pki["alice"].cert_path.read_bytes() + pki.intermediate_path.read_bytes(),
    }[form]
    result = smime.verify(bare_message(pki), trust, certificates=given)  # type: ignore[arg-type]
    assert result.valid, result.summary()
    assert result.signers[0].certificate == pki["alice"].certificate
    assert result.signers[0].chain[-1] == pki.root.certificate
    assert result.certificates == ()  # the message itself still carries none


def test_given_signer_without_its_intermediate_is_untrusted(
    pki: TestPKI, trust: smime.TrustStore
) -> None:
    result = smime.verify(bare_message(pki), trust, certificates=[pki["alice"].certificate])
    (signer,) = result.signers
    assert signer.intact and signer.signature_valid  # the math is checked now
    assert result.codes == {ProblemCode.UNTRUSTED}


def test_given_certificates_add_no_trust(pki: TestPKI) -> None:
    result = smime.verify(bare_message(pki), smime.TrustStore(),
                          certificates=[pki["alice"].certificate, pki.intermediate.certificate,
                                        pki.root.certificate])
    assert not result.valid and ProblemCode.UNTRUSTED in result.codes


@pytest.mark.parametrize("identify_by", ["issuer_and_serial", "subject_key_identifier"])
def test_store_is_searched_for_the_signer(
    pki: TestPKI, trust: smime.TrustStore, tmp_path: Path, identify_by: str
) -> None:
    message = bare_message(pki, identify_by)
    with smime.CertificateStore(tmp_path / "certs.db") as store:
        store.add(pki["bob"].certificate)
        missing = smime.verify(message, trust, store=store,
                               certificates=[pki.intermediate.certificate])
        assert missing.codes == {ProblemCode.MISSING_CERTIFICATE}
        store.add(pki["alice"].certificate, emails=["someone-else@example.com"])
        result = smime.verify(message, trust, store=store,
                              certificates=[pki.intermediate.certificate])
        assert result.valid, result.summary()
        assert result.signers[0].certificate == pki["alice"].certificate


def test_store_signer_certificates_matches_by_identifier(pki: TestPKI, tmp_path: Path) -> None:
    alice = pki["alice"].certificate
    ski = alice.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    with smime.CertificateStore(tmp_path / "certs.db") as store:
        store.add(alice)
        store.add(pki["bob"].certificate)
        by_serial = SignerIdentifier(issuer=alice.issuer.public_bytes(),
                                     serial_number=alice.serial_number)
        assert store.signer_certificates(by_serial) == (alice,)
        assert store.signer_certificates(SignerIdentifier(key_identifier=ski)) == (alice,)
        other = SignerIdentifier(issuer=alice.issuer.public_bytes(),
                                 serial_number=alice.serial_number + 1)
        assert store.signer_certificates(other) == ()
        with pytest.raises(UsageError):
            store.signer_certificates("alice@example.com")  # type: ignore[arg-type]


def test_unwrap_takes_certificates_and_store(
    pki: TestPKI, trust: smime.TrustStore, tmp_path: Path
) -> None:
    message = bare_message(pki)
    opened = smime.unwrap(message, trust=trust,
                          certificates=[pki["alice"].cert_path, pki.intermediate_path])
    assert opened.valid, [v.summary() for v in opened.verifications]
    with smime.CertificateStore(tmp_path / "certs.db") as store:
        store.add(pki["alice"].certificate)
        opened = smime.unwrap(message, trust=trust, store=store,
                              certificates=[pki.intermediate.certificate])
        assert opened.valid
    assert not smime.unwrap(message, trust=trust).valid


def test_bad_certificates_and_store_arguments(pki: TestPKI, trust: smime.TrustStore) -> None:
    with pytest.raises(LoadError, match="certificates="):
        smime.verify(bare_message(pki), trust, certificates=[b"garbage"])
    with pytest.raises(UsageError, match="store"):
        smime.verify(bare_message(pki), trust, store="certs.db")  # type: ignore[arg-type]


def test_cli_certfile(pki: TestPKI, tmp_path: Path) -> None:
    message = tmp_path / "bare.eml"
    message.write_bytes(bare_message(pki))
    base = [sys.executable, "-m", "smime", "verify", "--trust", str(pki.root_path)]
    without = subprocess.run([*base, str(message)], capture_output=True, timeout=120,
                             check=False)
    assert without.returncode == 1 and b"--certfile" in without.stdout
    with_certs = subprocess.run(
        [*base, "--certfile", str(pki["alice"].cert_path), "--certfile",
         str(pki.intermediate_path), str(message)],
        capture_output=True, timeout=120, check=False,
    )
    assert with_certs.returncode == 0, with_certs.stdout + with_certs.stderr
    assert b"signature VALID" in with_certs.stdout


# ---------------------------------------------------------------------------- peers


def _run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None,
         stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, env=env, input=stdin,
                          timeout=120, check=False)
    assert done.returncode == 0, (done.args, done.stderr.decode(errors="replace"))
    return done


@pytest.mark.interop
def test_openssl_nocerts_message(openssl: str, pki: TestPKI, trust: smime.TrustStore,
                                 tmp_path: Path) -> None:
    content = tmp_path / "content.txt"
    content.write_bytes(ENTITY)
    out = tmp_path / "nocerts.eml"
    _run(openssl, "cms", "-sign", "-nocerts", "-md", "sha256", "-in", content,
         "-signer", pki["alice"].cert_path, "-inkey", pki["alice"].key_path, "-out", out)
    data = b"From: alice@example.com\r\n" + out.read_bytes()
    assert smime.verify(data, trust).codes == {ProblemCode.MISSING_CERTIFICATE}
    result = smime.verify(data, trust, certificates=[pki["alice"].cert_path,
                                                     pki.intermediate_path])
    assert result.valid, result.summary()


@pytest.fixture
def gpgsm_signer(gpgsm: str, pki: TestPKI, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private GNUPGHOME holding alice's key (see ../shared/INTEROP.md for the quirks)."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpgsm.conf").write_text("disable-crl-checks\n")
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    env = {**os.environ, "GNUPGHOME": str(home)}
    fingerprint = pki.root.certificate.fingerprint(hashes.SHA1()).hex(":").upper()
    (home / "trustlist.txt").write_text(f"{fingerprint} S relax\n")
    _run(gpgsm, "--batch", "--import", pki.root_path, pki.intermediate_path, env=env)
    assert pki["alice"].legacy_p12_path is not None
    _run(gpgsm, "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0", "--import",
         pki["alice"].legacy_p12_path, env=env, stdin=pki.password.encode() + b"\n")
    try:
        yield env
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run([gpgconf, "--kill", "gpg-agent"], env=env, capture_output=True,
                           timeout=60, check=False)


@pytest.mark.interop
def test_gpgsm_signature_without_certificates(gpgsm: str, gpgsm_signer: dict[str, str],
                                              pki: TestPKI, trust: smime.TrustStore,
                                              tmp_path: Path) -> None:
    content = tmp_path / "content.mime"
    content.write_bytes(ENTITY)
    sig = tmp_path / "gpgsm.p7s"
    fpr = pki["alice"].certificate.fingerprint(hashes.SHA1()).hex().upper()
    _run(gpgsm, "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
         "--include-certs", "0", "-u", fpr, "--detach-sign", "-o", sig, content,
         env=gpgsm_signer, stdin=pki.password.encode() + b"\n")
    der = sig.read_bytes()
    assert not asn1_cms.ContentInfo.load(der)["content"]["certificates"]  # truly cert-less
    message = multipart_signed(ENTITY, der)
    bare = smime.verify(message, trust)
    assert bare.codes == {ProblemCode.MISSING_CERTIFICATE}
    assert "was not checked" in str(bare.problems[0])
    result = smime.verify(message, trust, certificates=[pki["alice"].certificate,
                                                        pki.intermediate.certificate])
    assert result.valid, result.summary()
    tampered = smime.verify(message.replace(b"Signed without", b"Signed WITHOUT"), trust,
                            certificates=[pki["alice"].certificate, pki.intermediate.certificate])
    assert not tampered.valid and ProblemCode.DIGEST_MISMATCH in tampered.codes


def test_decrypt_require_authenticated_takes_certificates(pki: TestPKI) -> None:
    """CBC content that is a cert-less signed message is vouched for once the signer's
    certificate is given, and refused (one message for every cause) until then."""
    sealed = smime.encrypt(bare_message(pki), [pki["bob"].certificate],
                           cipher="aes-256-cbc").as_bytes()
    bob = pki["bob"].identity
    with pytest.raises(smime.errors.DecryptionError, match="require_authenticated"):
        smime.decrypt(sealed, bob, require_authenticated=True)
    opened = smime.decrypt(sealed, bob, require_authenticated=True,
                           certificates=[pki["alice"].certificate])
    assert not opened.decryption.authenticated  # CBC; the signature inside vouches for it
    assert opened.get_content_type() == "multipart/signed"


def test_streaming_verify_takes_certificates(
    pki: TestPKI, trust: smime.TrustStore, tmp_path: Path
) -> None:
    import smime.stream

    source = tmp_path / "bare.eml"
    source.write_bytes(bare_message(pki))
    missing = smime.stream.verify(source, trust=trust)
    assert missing.codes == {ProblemCode.MISSING_CERTIFICATE}
    found = smime.stream.verify(
        source, trust=trust, certificates=[pki["alice"].certificate, pki.intermediate_path]
    )
    assert found.valid, found.summary()
    assert found.signers[0].certificate == pki["alice"].certificate


@pytest.mark.parametrize("form", ["multipart", "opaque-der"])
def test_streaming_verify_searches_the_store(
    pki: TestPKI, trust: smime.TrustStore, tmp_path: Path, form: str
) -> None:
    """``store=`` is a keyword of verify in every form (one keyword list)."""
    import smime.stream

    source = tmp_path / "bare.eml"
    if form == "multipart":
        source.write_bytes(bare_message(pki))
    else:  # a raw .p7m whose content is read as it streams, then checked by its digests
        spec = SignerSpec(pki["alice"].identity)  # type: ignore[arg-type]
        source.write_bytes(strip_certificates(create_signed_data(ENTITY, [spec], detached=False)))
    with smime.CertificateStore(tmp_path / "certs.db") as store:
        missing = smime.stream.verify(source, trust=trust, store=store,
                                      certificates=[pki.intermediate.certificate])
        assert missing.codes == {ProblemCode.MISSING_CERTIFICATE}
        store.add(pki["alice"].certificate)
        found = smime.stream.verify(source, trust=trust, store=store,
                                    certificates=[pki.intermediate.certificate])
    assert found.valid, found.summary()
    assert found.signers[0].certificate == pki["alice"].certificate


def test_streaming_decrypt_require_authenticated_takes_certificates(
    pki: TestPKI, tmp_path: Path
) -> None:
    import smime.stream

    source, out = tmp_path / "sealed.eml", tmp_path / "out.eml"
    source.write_bytes(smime.encrypt(bare_message(pki), [pki["bob"].certificate],
                                     cipher="aes-256-cbc").as_bytes())
    bob = pki["bob"].identity
    with pytest.raises(smime.errors.DecryptionError, match="require_authenticated"):
        smime.stream.decrypt(source, out, bob, require_authenticated=True)
    assert not out.exists()
    info = smime.stream.decrypt(source, out, bob, require_authenticated=True,
                                certificates=[pki["alice"].certificate])
    assert not info.authenticated  # CBC; the signature inside vouches for it
    assert b"multipart/signed" in out.read_bytes()[:400]


@pytest.mark.parametrize("operation", ["sign", "verify", "decrypt"])
def test_a_misspelt_keyword_names_the_closest_one(pki: TestPKI, operation: str) -> None:
    import smime.stream

    alice = pki["alice"].identity
    calls = {
        "sign": lambda: smime.sign(ENTITY, alice, digets="sha256"),
        "verify": lambda: smime.stream.verify(io.BytesIO(ENTITY), revokation="off"),
        "decrypt": lambda: smime.decrypt(ENTITY, alice, require_authentication=True),
    }
    with pytest.raises(UsageError, match="did you mean") as caught:
        calls[operation]()
    assert isinstance(caught.value, TypeError)  # as Python's own unexpected keyword
    assert f"{operation}()" in str(caught.value)
