"""The CLI's streaming mode (smime/cli/stream.py), driven with the namespace its parsers make."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

import smime
from smime.cli.progress import Progress
from smime.cli.stream import run_streaming
from smime.testing import TestPKI as PKI


def _args(command: str, **values: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "command": command, "progress": Progress(), "identity": None, "cert": None,
        "key": None, "password_file": None, "chain": [], "opaque": False, "digest": "sha256",
        "pss": False, "cipher": "auto", "key_transport": "auto", "store": None,
        "require_authenticated": False, "trust": [], "crl": [], "at": None,
        "revocation": "soft-fail", "fetch": False, "json": False, "output": None,
    }
    base.update(values)
    return argparse.Namespace(**base)


@pytest.mark.parametrize("opaque", [False, True])
def test_sign_verify_encrypt_decrypt(
    pki: PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], opaque: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMIME_PASSWORD", pki.password)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\n"
                    + b"line\r\n" * 100_000)
    alice = str(pki["alice"].p12_path)
    assert run_streaming(_args("sign", input=str(msg), output=str(tmp_path / "s.eml"),
                               identity=alice, opaque=opaque)) == 0
    assert run_streaming(_args("verify", input=str(tmp_path / "s.eml"),
                               trust=[str(pki.root_path)], output=str(tmp_path / "c"))) == 0
    assert "valid" in capsys.readouterr().out.lower()
    assert run_streaming(_args("encrypt", input=str(tmp_path / "s.eml"),
                               output=str(tmp_path / "e.eml"),
                               recipient=[str(pki["alice"].cert_path)])) == 0
    assert run_streaming(_args("decrypt", input=str(tmp_path / "e.eml"),
                               output=str(tmp_path / "d.eml"), identity=alice,
                               require_authenticated=True)) == 0
    assert capsys.readouterr().err == ""  # signed inside: no warning
    assert smime.verify((tmp_path / "d.eml").read_bytes(),
                        smime.TrustStore.from_pem(pki.root_path)).valid
    assert oct(os.stat(tmp_path / "d.eml").st_mode & 0o777) == "0o600"


def test_unsigned_cbc_warns(pki: PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMIME_PASSWORD", pki.password)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    run_streaming(_args("encrypt", input=str(msg), output=str(tmp_path / "e.eml"),
                        recipient=[str(pki["alice"].cert_path)], cipher="aes-256-cbc"))
    run_streaming(_args("decrypt", input=str(tmp_path / "e.eml"),
                        output=str(tmp_path / "d.eml"), identity=str(pki["alice"].p12_path)))
    assert "does not detect tampering" in capsys.readouterr().err
