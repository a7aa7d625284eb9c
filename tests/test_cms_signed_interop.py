"""SignedData DER against the real peers: OpenSSL, NSS (Thunderbird's engine) and gpgsm."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes

from smime.cms.signed import SignerSpec, create_signed_data, verify_signed_data
from smime.problems import ProblemCode

if TYPE_CHECKING:
    from smime.testing import TestPKI

pytestmark = pytest.mark.interop

CONTENT = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
           b"Hello from the interop tests.\r\nSecond line.\r\n")


def run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, env=env, input=stdin,
                          timeout=60, check=False)


def must(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert result.returncode == 0, (result.args, result.stderr.decode(errors="replace"))
    return result


@pytest.fixture
def content_file(tmp_path: Path) -> Path:
    path = tmp_path / "content.mime"
    path.write_bytes(CONTENT)
    return path


# ---------------------------------------------------------------------------- openssl


OURS = [
    ("alice", {}),
    ("alice", {"padding": "pss", "digest": "sha384"}),
    ("bob", {"digest": "sha512"}),
    ("bob", {"padding": "pss", "digest": "sha256"}),
    ("carol", {}),
    ("dave", {"digest": "sha384", "identify_by": "subject_key_identifier"}),
    ("frank", {"digest": "sha512"}),
    ("alice", {"signed_attributes": False}),
    ("carol", {"signed_attributes": False}),
]


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "nodetach"])
@pytest.mark.parametrize(("user", "options"), OURS, ids=[f"{u}-{o}" for u, o in OURS])
def test_openssl_verifies_ours(openssl: str, pki: TestPKI, tmp_path: Path, content_file: Path,
                               user: str, options: dict[str, str], detached: bool) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki[user].identity, **options)],  # type: ignore[arg-type]
                             detached=detached)
    sig = tmp_path / "ours.p7s"
    sig.write_bytes(der)
    out = tmp_path / "out"
    extra: list[str | Path] = ["-content", content_file] if detached else []
    must(run(openssl, "cms", "-verify", "-inform", "DER", "-binary", "-in", sig, *extra,
             "-CAfile", pki.root_path, "-certfile", pki.intermediate_path,
             "-purpose", "smimesign", "-out", out))
    assert out.read_bytes() == CONTENT
    if detached:  # and a changed content is refused
        content_file.write_bytes(CONTENT.replace(b"Hello", b"Jello"))
        result = run(openssl, "cms", "-verify", "-inform", "DER", "-binary", "-in", sig,
                     "-content", content_file, "-CAfile", pki.root_path, "-out", out)
        assert result.returncode != 0


def test_openssl_verifies_two_signers(openssl: str, pki: TestPKI, tmp_path: Path) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity),
                                       SignerSpec(pki["frank"].identity, digest="sha512")],
                             detached=False)
    (tmp_path / "two.p7m").write_bytes(der)
    must(run(openssl, "cms", "-verify", "-inform", "DER", "-binary", "-in", tmp_path / "two.p7m",
             "-CAfile", pki.root_path, "-purpose", "smimesign", "-out", tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == CONTENT


THEIRS = [
    ("alice", "sha256", []),
    ("alice", "sha384", ["-keyopt", "rsa_padding_mode:pss"]),
    ("bob", "sha512", []),
    ("bob", "sha256", ["-keyopt", "rsa_padding_mode:pss"]),
    ("carol", "sha256", []),
    ("dave", "sha384", []),
    ("frank", "sha512", []),
]


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "nodetach"])
@pytest.mark.parametrize(("user", "md", "options"), THEIRS,
                         ids=[f"{u}-{m}-{'pss' if o else 'default'}" for u, m, o in THEIRS])
def test_we_verify_openssl(openssl: str, pki: TestPKI, tmp_path: Path, content_file: Path,
                           user: str, md: str, options: list[str], detached: bool) -> None:
    out = tmp_path / "theirs.p7s"
    must(run(openssl, "cms", "-sign", "-binary", "-md", md, "-in", content_file,
             "-signer", pki[user].cert_path, "-inkey", pki[user].key_path, *options,
             *([] if detached else ["-nodetach"]), "-outform", "DER", "-out", out))
    info = verify_signed_data(out.read_bytes(), CONTENT if detached else None)
    assert info.detached is detached
    assert info.content == (None if detached else CONTENT)
    (signer,) = info.signers
    assert signer.intact and signer.signature_valid and signer.problems == ()
    assert signer.digest_algorithm == md
    assert signer.certificate == pki[user].certificate
    if options:
        assert signer.signature_algorithm == "rsassa-pss"
    assert "aes-256-cbc" in signer.capabilities  # OpenSSL advertises its ciphers
    tampered = verify_signed_data(out.read_bytes(), CONTENT + b" ") if detached else None
    if tampered is not None:
        assert {p.code for p in tampered.signers[0].problems} == {ProblemCode.DIGEST_MISMATCH}


def test_we_verify_openssl_sha1_but_flag_it(openssl: str, pki: TestPKI, tmp_path: Path,
                                            content_file: Path) -> None:
    out = tmp_path / "sha1.p7s"
    must(run(openssl, "cms", "-sign", "-binary", "-md", "sha1", "-in", content_file,
             "-signer", pki["alice"].cert_path, "-inkey", pki["alice"].key_path,
             "-outform", "DER", "-out", out))
    (signer,) = verify_signed_data(out.read_bytes(), CONTENT).signers
    assert signer.intact and signer.signature_valid
    assert [p.code for p in signer.problems] == [ProblemCode.WEAK_ALGORITHM]
    assert "SHA-1" in str(signer.problems[0])


def test_we_verify_openssl_without_attributes(openssl: str, pki: TestPKI, tmp_path: Path,
                                              content_file: Path) -> None:
    out = tmp_path / "noattr.p7s"
    must(run(openssl, "cms", "-sign", "-binary", "-noattr", "-md", "sha256", "-in", content_file,
             "-signer", pki["carol"].cert_path, "-inkey", pki["carol"].key_path,
             "-outform", "DER", "-out", out))
    (signer,) = verify_signed_data(out.read_bytes(), CONTENT).signers
    assert signer.signed_attributes == () and signer.verified


def test_openssl_reads_our_ed25519_structure(openssl: str, pki: TestPKI, tmp_path: Path) -> None:
    """OpenSSL 3.0 cannot verify Ed25519 CMS (INTEROP.md); it must still read RFC 8419's
    structure: id-Ed25519 without parameters, SHA-512 digest."""
    der = create_signed_data(CONTENT, [SignerSpec(pki["erin"].identity)], detached=False)
    (tmp_path / "ed.p7m").write_bytes(der)
    printed = must(run(openssl, "cms", "-cmsout", "-print", "-inform", "DER",
                       "-in", tmp_path / "ed.p7m")).stdout.decode()
    signer_part = printed[printed.index("signerInfos:"):]
    assert re.search(r"digestAlgorithm:\s*algorithm: sha512 .*\s*parameter: <ABSENT>",
                     signer_part)
    assert re.search(r"signatureAlgorithm:\s*algorithm: ED25519 \(1\.3\.101\.112\)\s*"
                     r"parameter: <ABSENT>", signer_part)


# ---------------------------------------------------------------------------- NSS


@pytest.fixture(scope="module")
def nss_db(cmsutil: str, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("nss")
    db = f"sql:{folder}"
    must(run("certutil", "-N", "-d", db, "--empty-password"))
    must(run("certutil", "-A", "-d", db, "-n", "root", "-t", "CT,C,C", "-i", pki.root_path))
    must(run("certutil", "-A", "-d", db, "-n", "intermediate", "-t", ",,",
             "-i", pki.intermediate_path))
    assert pki["alice"].p12_path is not None
    must(run("pk12util", "-i", pki["alice"].p12_path, "-d", db, "-W", pki.password))
    return db


def test_nss_verifies_ours(cmsutil: str, nss_db: str, pki: TestPKI, tmp_path: Path,
                           content_file: Path) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)])
    (tmp_path / "ours.p7s").write_bytes(der)
    # cmsutil exits 0 whatever the verdict: the status line is what counts.
    good = run(cmsutil, "-D", "-d", nss_db, "-i", tmp_path / "ours.p7s", "-c", content_file,
               "-n", "-h", "1")
    assert b"signer0.status=GoodSignature" in good.stdout + good.stderr
    content_file.write_bytes(CONTENT + b"tampered")
    bad = run(cmsutil, "-D", "-d", nss_db, "-i", tmp_path / "ours.p7s", "-c", content_file,
              "-n", "-h", "1")
    assert b"signer0.status=DigestMismatch" in bad.stdout + bad.stderr


def test_we_verify_nss(cmsutil: str, nss_db: str, pki: TestPKI, tmp_path: Path,
                       content_file: Path) -> None:
    out = tmp_path / "nss.p7m"
    must(run(cmsutil, "-S", "-N", "alice", "-H", "SHA256", "-G", "-P", "-d", nss_db,
             "-i", content_file, "-o", out))
    info = verify_signed_data(out.read_bytes())
    assert info.content == CONTENT
    (signer,) = info.signers
    assert signer.verified and signer.problems == ()
    assert signer.certificate == pki["alice"].certificate
    assert signer.signing_time is not None and "aes-256-cbc" in signer.capabilities
    # NSS names the signer's own certificate as the one to encrypt to (-P).
    assert signer.encryption_key_preference is not None
    assert signer.encryption_key_preference.matches(pki["alice"].certificate)


# ---------------------------------------------------------------------------- gpgsm


@pytest.fixture
def gnupg_home(gpgsm: str, pki: TestPKI, tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpgsm.conf").write_text("disable-crl-checks\n")
    env = {**os.environ, "GNUPGHOME": str(home)}
    fingerprint = pki.root.certificate.fingerprint(hashes.SHA1()).hex(":").upper()
    (home / "trustlist.txt").write_text(f"{fingerprint} S relax\n")
    must(run(gpgsm, "--batch", "--import", pki.root_path, pki.intermediate_path, env=env))
    try:
        yield env
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            run(gpgconf, "--kill", "gpg-agent", env=env)


def test_gpgsm_verifies_ours(gpgsm: str, gnupg_home: dict[str, str], pki: TestPKI,
                             tmp_path: Path, content_file: Path) -> None:
    der = create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)])
    (tmp_path / "ours.p7s").write_bytes(der)
    result = must(run(gpgsm, "--batch", "--status-fd", "1", "--verify", tmp_path / "ours.p7s",
                      content_file, env=gnupg_home))
    status = result.stdout.decode()
    assert "[GNUPG:] GOODSIG" in status and "[GNUPG:] VALIDSIG" in status
    content_file.write_bytes(CONTENT.replace(b"Hello", b"Jello"))
    bad = run(gpgsm, "--batch", "--status-fd", "1", "--verify", tmp_path / "ours.p7s",
              content_file, env=gnupg_home)
    assert bad.returncode != 0 and "[GNUPG:] BADSIG" in bad.stdout.decode()
