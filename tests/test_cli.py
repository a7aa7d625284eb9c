"""The ``smime`` command, run as users run it: the installed console script, in a subprocess.

Every run checks that standard error never holds a traceback. The helpers here are shared
by the other ``test_cli_*`` modules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

import smime
from smime.cli import build_parser, main

if TYPE_CHECKING:
    from smime.testing import TestPKI

SECRET_VARIABLES = ("SMIME_PASSWORD", "SMIME_SMTP_PASSWORD", "SPARKPOST_API_KEY", "SMIME_DEBUG")
MODULE = [sys.executable, "-m", "smime"]
COMMANDS = ("sign", "encrypt", "decrypt", "verify", "inspect", "send", "demo", "certs")
LETTER = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: Meeting\r\n"
    b"Message-ID: <meeting-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b"the meeting is at 10:00 in room 4.\r\n"
)


def console_script() -> list[str]:
    """The installed ``smime`` next to this interpreter, else ``python -m smime``."""
    found = shutil.which("smime", path=str(Path(sys.executable).parent))
    return [found] if found else MODULE


SMIME = console_script()


def run(
    *args: object,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    status: int | None = 0,
    command: Sequence[str] = SMIME,
) -> subprocess.CompletedProcess[bytes]:
    """Run the command with a clean environment (no secrets unless ``env`` gives them)."""
    environment = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    environment.update(env or {})
    proc = subprocess.run(
        [*command, *(str(a) for a in args)], input=stdin, capture_output=True,
        env=environment, timeout=120, check=False,
    )
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    if status is not None:
        assert proc.returncode == status, f"exit {proc.returncode}, stderr: {err}"
    return proc


def expect_error(proc: subprocess.CompletedProcess[bytes], *fragments: str) -> str:
    """Status 2 and exactly one line on standard error, naming the problem."""
    assert proc.returncode == 2, proc
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smime: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def with_password(pki: TestPKI) -> dict[str, str]:
    return {"SMIME_PASSWORD": pki.password}


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "letter.eml"
    path.write_bytes(LETTER)
    return path


def revoking_crl(
    pki: TestPKI, serial: int, *, next_update: dt.timedelta = dt.timedelta(days=1)
) -> bytes:
    """A PEM CRL from the intermediate CA that revoked ``serial`` an hour ago."""
    now = dt.datetime.now(dt.timezone.utc)
    issuer = pki.intermediate
    revoked = (x509.RevokedCertificateBuilder().serial_number(serial)
               .revocation_date(now - dt.timedelta(hours=1)).build())
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + next_update)
        .add_revoked_certificate(revoked)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return crl.public_bytes(serialization.Encoding.PEM)


def trust(pki: TestPKI) -> smime.TrustStore:
    return smime.TrustStore.from_certificates([pki.root.certificate])


# ---------------------------------------------------------------------------- sign / verify


def test_sign_file_to_file_then_verify(pki: TestPKI, letter: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.eml"
    proc = run("sign", "--identity", pki["alice"].p12_path, letter, "-o", signed,
               env=with_password(pki))
    assert proc.stdout == b""
    assert b"multipart/signed" in signed.read_bytes()
    assert smime.verify(signed.read_bytes(), trust(pki)).valid

    content = tmp_path / "content.eml"
    proc = run("verify", "--trust", pki.root_path, signed, "-o", content)
    report = proc.stdout.decode()
    assert report.startswith("signature VALID")
    assert "alice@example.com" in report and "sha256" in report
    assert "smime Test Intermediate CA" in report  # the chain is shown
    assert b"the meeting is at 10:00" in content.read_bytes()


def test_sign_stdin_to_stdout_opaque_with_cert_and_key(pki: TestPKI) -> None:
    alice = pki["alice"]
    proc = run("sign", "--cert", alice.cert_path, "--key", alice.key_path, "--opaque",
               "--chain", pki.intermediate_path, "--digest", "sha384", stdin=LETTER,
               env=with_password(pki))  # a password set for other files does not get in the way
    assert b"smime-type=signed-data" in proc.stdout
    result = smime.verify(proc.stdout, trust(pki))
    assert result.valid and result.signers[0].digest_algorithm == "sha384"

    # -o - puts the content on standard output and moves the report to standard error
    checked = run("verify", "--trust", pki.root_path, "-o", "-", stdin=proc.stdout)
    assert b"the meeting is at 10:00" in checked.stdout
    assert checked.stderr.decode().startswith("signature VALID")


def test_password_file_and_pss(pki: TestPKI, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text(pki.password + "\n")
    proc = run("sign", "--identity", pki["alice"].p12_path, "--password-file", secret, "--pss",
               stdin=LETTER)
    signer = smime.verify(proc.stdout, trust(pki)).signers[0]
    assert signer.valid and signer.signature_algorithm == "rsassa-pss"


def test_verify_tampered_exits_1_with_reasons(pki: TestPKI) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    tampered = signed.replace(b"10:00", b"11:00")
    assert tampered != signed
    proc = run("verify", "--trust", pki.root_path, stdin=tampered, status=1)
    report = proc.stdout.decode()
    assert report.startswith("signature NOT VALID") and "problem:" in report
    assert proc.stderr == b""

    proc = run("verify", "--trust", pki.root_path, "--json", stdin=tampered, status=1)
    data = json.loads(proc.stdout)
    assert data["valid"] is False
    assert "digest_mismatch" in {p["code"] for p in data["problems"]}
    assert data["signers"][0]["email_addresses"] == ["alice@example.com"]


def test_verify_untrusted_root_crl_and_at(pki: TestPKI, tmp_path: Path) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    # alice's own certificate is no trust anchor for her chain
    proc = run("verify", "--trust", pki["bob"].cert_path, "--json", stdin=signed, status=1)
    assert "untrusted" in {p["code"] for p in json.loads(proc.stdout)["problems"]}
    # a CRL given with --crl revokes
    crl = tmp_path / "intermediate.crl"
    crl.write_bytes(revoking_crl(pki, pki["alice"].certificate.serial_number))
    proc = run("verify", "--trust", pki.root_path, "--crl", crl, "--json", stdin=signed, status=1)
    assert "revoked" in {p["code"] for p in json.loads(proc.stdout)["problems"]}
    # before the test PKI existed, nothing was valid yet
    proc = run("verify", "--trust", pki.root_path, "--at", "2001-01-01T00:00:00Z", "--json",
               stdin=signed, status=1)
    assert json.loads(proc.stdout)["valid"] is False


def test_verify_with_an_unusable_crl_file(pki: TestPKI, tmp_path: Path) -> None:
    """A --crl file that is no CRL is an input error; an expired one makes the status unknown."""
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    junk = tmp_path / "junk.crl"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    expect_error(run("verify", "--trust", pki.root_path, "--crl", junk, stdin=signed, status=2),
                 f"--crl {junk} cannot be used", "malformed")
    stale = tmp_path / "stale.crl"
    stale.write_bytes(revoking_crl(pki, 1, next_update=dt.timedelta(minutes=-30)))
    proc = run("verify", "--trust", pki.root_path, "--crl", stale, "--json", stdin=signed,
               status=1)
    assert "revocation_unknown" in {p["code"] for p in json.loads(proc.stdout)["problems"]}


# ---------------------------------------------------------------------------- encrypt / decrypt


def test_encrypt_decrypt_round_trip_warns_when_unauthenticated(
    pki: TestPKI, letter: Path, tmp_path: Path
) -> None:
    sealed = tmp_path / "sealed.eml"
    run("encrypt", "--recipient", pki["bob"].cert_path, "--recipient", pki["alice"].cert_path,
        "--cipher", "aes-256-cbc", letter, "-o", sealed)
    assert b"smime-type=enveloped-data" in sealed.read_bytes()
    opened = tmp_path / "opened.eml"
    proc = run("decrypt", "--identity", pki["bob"].p12_path, sealed, "-o", opened,
               env=with_password(pki))
    assert b"the meeting is at 10:00" in opened.read_bytes()
    assert opened.stat().st_mode & 0o077 == 0  # decrypted content is private
    warning = proc.stderr.decode()
    assert warning.startswith("smime: warning:") and "aes-256-cbc" in warning


def test_encrypt_gcm_and_signed_content_do_not_warn(pki: TestPKI) -> None:
    sealed = run("encrypt", "--recipient", pki["bob"].cert_path, "--cipher", "aes-256-gcm",
                 stdin=LETTER).stdout
    assert b"authEnveloped-data" in sealed
    proc = run("decrypt", "--cert", pki["bob"].cert_path, "--key", pki["bob"].key_path,
               stdin=sealed)
    assert b"the meeting is at 10:00" in proc.stdout and proc.stderr == b""

    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    sealed = run("encrypt", "--recipient", pki["bob"].cert_path, "--key-transport", "rsa-oaep",
                 stdin=signed).stdout
    proc = run("decrypt", "--cert", pki["bob"].cert_path, "--key", pki["bob"].key_path,
               stdin=sealed)
    assert proc.stderr == b""
    # what decrypt wrote still verifies: the signed bytes came through unchanged
    assert run("verify", "--trust", pki.root_path, stdin=proc.stdout).stdout.startswith(
        b"signature VALID")


# ---------------------------------------------------------------------------- errors: status 2


def test_input_errors_exit_2_with_one_line(pki: TestPKI, tmp_path: Path) -> None:
    bob_p12 = pki["bob"].p12_path
    sealed = smime.encrypt(LETTER, pki["bob"].certificate).as_bytes()
    expect_error(run("decrypt", "--identity", bob_p12, stdin=sealed,
                     env={"SMIME_PASSWORD": "wrong"}, status=2), "password")
    expect_error(run("decrypt", "--identity", bob_p12, stdin=sealed, status=2),
                 "SMIME_PASSWORD", "--password-file")
    expect_error(run("decrypt", "--identity", pki["alice"].p12_path, stdin=sealed,
                     env=with_password(pki), status=2), "decryption failed")
    expect_error(run("verify", "--trust", pki.root_path, tmp_path / "nope.eml", status=2),
                 "nope.eml", "No such file")
    expect_error(run("verify", "--trust", pki.root_path, stdin=os.urandom(3000), status=2))
    expect_error(run("sign", "--identity", bob_p12, env=with_password(pki), status=2), "empty")
    expect_error(run("encrypt", "--recipient", "nobody@example.com", stdin=LETTER, status=2),
                 "nobody@example.com", "--store")


def call(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``main`` in this process (for checks that need no subprocess): status, out, err."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, usage errors
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smime: error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _out, err = call(capsys, "sign", "--digest", "md5")
    assert status == 2 and "invalid choice" in err
    assert call(capsys, "frobnicate")[0] == 2
    status, _out, err = call(capsys, "sign", "--cert", "x.pem")
    assert status == 2
    one_error_line(err, "--key")
    status, _out, err = call(capsys, "encrypt", "--recipient", tmp_path / "missing.pem")
    assert status == 2
    one_error_line(err, "missing.pem", "No such file")
    status, _out, err = call(capsys, "verify", "--trust", "root.pem", "--at", "yesterday")
    assert status == 2 and "ISO 8601" in err


# ---------------------------------------------------------------------------- inspect


def test_inspect_text_and_json(pki: TestPKI, letter: Path) -> None:
    sealed = smime.encrypt(smime.sign(LETTER, pki["alice"].identity),
                           pki["bob"].certificate).as_bytes()
    text = run("inspect", stdin=sealed).stdout.decode()
    assert "enveloped" in text.lower() and "bob" in text.lower()
    tree = json.loads(run("inspect", "--json", stdin=sealed).stdout)
    assert tree["children"] or tree["fields"]
    deep = run("inspect", "--identity", pki["bob"].p12_path, stdin=sealed,
               env=with_password(pki)).stdout.decode()
    assert "alice@example.com" in deep  # the signer inside the encrypted layer
    assert "10:00" not in text


# ---------------------------------------------------------------------------- certs


def test_certs_import_list_export_and_encrypt_to_address(pki: TestPKI, tmp_path: Path) -> None:
    store = tmp_path / "contacts"
    signed_by_bob = smime.sign(
        LETTER.replace(b"Alice <alice@", b"Bob <bob@", 1), pki["bob"].identity
    ).as_bytes()
    expect_error(run("certs", "--store", store, "import", stdin=signed_by_bob, status=2),
                 "--trust")
    proc = run("certs", "--store", store, "import", "--trust", pki.root_path,
               stdin=signed_by_bob)
    assert "bob@example.com" in proc.stdout.decode()
    assert "bob@example.com" in run("certs", "--store", store, "list").stdout.decode()
    pem = run("certs", "--store", store, "export", "bob@example.com").stdout
    assert smime.load_certificates(pem) == [pki["bob"].certificate]

    sealed = run("encrypt", "--store", store, "--recipient", "bob@example.com",
                 stdin=LETTER).stdout
    assert b"the meeting" in bytes(smime.decrypt(sealed, pki["bob"].identity).as_bytes())
    expect_error(run("encrypt", "--store", store, "--recipient", "carol@example.com",
                     stdin=LETTER, status=2), "carol@example.com")


def test_certs_import_rejects_an_invalid_signature(pki: TestPKI, tmp_path: Path) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes().replace(b"10:00", b"11:00")
    proc = run("certs", "--store", tmp_path / "s", "import", "--trust", pki.root_path,
               stdin=signed, status=1)
    assert "not imported" in proc.stdout.decode()


# ---------------------------------------------------------------------------- demo, entry points


def test_demo_walks_through_every_step(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    out = run("demo", "--keep", keep).stdout.decode()
    lines = out.splitlines()
    steps = [line for line in lines if line[:1].isdigit()]
    assert len(steps) >= 7 and all(" ok: " in line for line in steps), out
    assert "NOT VALID" in steps[-1]  # the tampered copy fails, as it should
    assert lines[-1].startswith("all ")
    assert (keep / "root.pem").is_file() and (keep / "signed.eml").is_file()


@pytest.mark.parametrize("command", [SMIME, MODULE], ids=["console-script", "python-m"])
def test_entry_points(command: list[str], pki: TestPKI) -> None:
    assert run("--version", command=command).stdout.decode().strip() == (
        f"smime {smime.__version__}")
    signed = run("sign", "--identity", pki["alice"].p12_path, stdin=LETTER,
                 env=with_password(pki), command=command).stdout
    assert run("verify", "--trust", pki.root_path, stdin=signed, command=command).returncode == 0
    assert "example:" in run("sign", "--help", command=command).stdout.decode()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert f"smime {name}" in text.split("example:", 1)[1]


def test_top_level_help_lists_commands() -> None:
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text


def test_keyboard_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("smime.cli.demo.walk_through", lambda *a, **k: interrupted(a))
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == ""


def test_unexpected_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise TypeError("boom")

    monkeypatch.delenv("SMIME_DEBUG", raising=False)
    monkeypatch.setattr("smime.cli.demo.walk_through", broken)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("smime: error: internal error (TypeError: boom)")
