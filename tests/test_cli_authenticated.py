"""``smime decrypt --require-authenticated``: unauthenticated content is refused, not written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from test_cli import LETTER, expect_error, run

import smime

if TYPE_CHECKING:
    from smime.testing import TestPKI


def test_require_authenticated_refuses_unsigned_cbc(pki: TestPKI, tmp_path: Path) -> None:
    bob = pki["bob"]
    key = ("--cert", bob.cert_path, "--key", bob.key_path)
    cbc = smime.encrypt(LETTER, bob.certificate, cipher="aes-256-cbc").as_bytes()
    opened = tmp_path / "opened.eml"
    line = expect_error(
        run("decrypt", *key, "--require-authenticated", "-o", opened, stdin=cbc, status=2),
        "(--require-authenticated)", "EFAIL",
    )
    assert "integrity" in line
    assert not opened.exists()

    # the same message without the flag: written, with the warning
    proc = run("decrypt", *key, stdin=cbc)
    assert b"the meeting is at 10:00" in proc.stdout
    assert proc.stderr.decode().startswith("smime: warning:")

    # AES-GCM, and CBC around a signed message, pass
    gcm = smime.encrypt(LETTER, bob.certificate, cipher="aes-256-gcm").as_bytes()
    proc = run("decrypt", *key, "--require-authenticated", stdin=gcm)
    assert b"the meeting is at 10:00" in proc.stdout and proc.stderr == b""
    signed = smime.sign(LETTER, pki["alice"].identity)
    sealed = smime.encrypt(signed, bob.certificate, cipher="aes-256-cbc").as_bytes()
    proc = run("decrypt", *key, "--require-authenticated", stdin=sealed)
    assert proc.stdout.startswith(b"From:") and proc.stderr == b""
    trust = smime.TrustStore.from_certificates([pki.root.certificate])
    assert smime.verify(proc.stdout, trust).valid
