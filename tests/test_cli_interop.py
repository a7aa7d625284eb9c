"""What ``smime`` writes, OpenSSL reads; what OpenSSL writes, ``smime verify`` accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_cli import LETTER, run

if TYPE_CHECKING:
    from smime.testing import TestPKI


pytestmark = pytest.mark.interop


def _openssl(openssl: str, *args: object) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([openssl, "cms", *(str(a) for a in args)], capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def test_openssl_verifies_what_smime_sign_wrote(
    pki: TestPKI, openssl: str, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.eml"
    run("sign", "--identity", pki["alice"].p12_path, "-o", signed, stdin=LETTER,
        env={"SMIME_PASSWORD": pki.password})
    content = tmp_path / "content.eml"
    _openssl(openssl, "-verify", "-in", signed, "-CAfile", pki.root_path,
             "-certfile", pki.intermediate_path, "-purpose", "smimesign", "-out", content)
    assert b"the meeting is at 10:00" in content.read_bytes()


def test_openssl_decrypts_what_smime_encrypt_wrote(
    pki: TestPKI, openssl: str, tmp_path: Path
) -> None:
    sealed = tmp_path / "sealed.eml"
    run("encrypt", "--recipient", pki["bob"].cert_path, "-o", sealed, stdin=LETTER)
    proc = _openssl(openssl, "-decrypt", "-in", sealed, "-inkey", pki["bob"].key_path,
                    "-recip", pki["bob"].cert_path)
    assert b"the meeting is at 10:00" in proc.stdout


def test_smime_verify_accepts_what_openssl_signed(
    pki: TestPKI, openssl: str, tmp_path: Path
) -> None:
    letter = tmp_path / "letter.eml"
    letter.write_bytes(LETTER)
    signed = tmp_path / "signed.eml"
    alice = pki["alice"]
    _openssl(openssl, "-sign", "-md", "sha256", "-binary", "-in", letter,
             "-signer", alice.cert_path, "-inkey", alice.key_path,
             "-certfile", pki.intermediate_path, "-out", signed)
    proc = run("verify", "--trust", pki.root_path, signed)
    assert proc.stdout.decode().startswith("signature VALID")
    assert "alice@example.com" in proc.stdout.decode()
