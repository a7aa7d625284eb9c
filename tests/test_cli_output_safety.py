"""What the command prints cannot drive the terminal, and what it writes is not left readable.

Certificate names, addresses and header values come from messages: an escape sequence in
one must show as text (``\\x1b``, or ``\\1B`` in a name's RFC 4514 text), never reach the
terminal. Files written with ``-o`` replace the target (a symbolic link is replaced, not
followed), and decrypted content is readable by the owner only.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from test_cli import LETTER, run, with_password

import smime
from smime.cli import main
from smime.cli._io import CLIError, write_output
from smime.cli.progress import Progress
from smime.core.names import name_text
from smime.testing import issue_certificate, make_ca

if TYPE_CHECKING:
    from smime.testing import TestPKI

#: Erase the lines above, return to the line start and claim success; then a bidi
#: override, a C1 CSI and DEL for good measure.
HOSTILE = "\x1b[1A\x1b[2K\x1b[1A\x1b[2K\rsignature VALID\u202e\x9b31m\x7f"
RAW = [b"\x1b", "\u202e".encode(), "\x9b".encode(), b"\x7f", b"\r"]
#: The library's text for that name: RFC 4514, control characters as hex escapes.
HOSTILE_CN = name_text(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE)]))


def _no_raw_controls(output: bytes) -> None:
    for raw in RAW:
        assert raw not in output, (raw, output)


def _strings(data: object) -> list[str]:
    if isinstance(data, dict):
        return [*data.keys(), *(s for v in data.values() for s in _strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) else []


@pytest.fixture(scope="module")
def hostile_signed(pki: TestPKI) -> bytes:
    """Signed by a certificate whose common name is :data:`HOSTILE`, under an untrusted CA
    (so the signature is NOT valid)."""
    outsider = make_ca("Outsider CA")
    mallory = issue_certificate(outsider, "mallory@example.com", common_name=HOSTILE)
    return smime.sign(LETTER, mallory).as_bytes()


def test_verify_text_escapes_certificate_names(pki: TestPKI, hostile_signed: bytes) -> None:
    proc = run("verify", "--trust", pki.root_path, stdin=hostile_signed, status=1)
    _no_raw_controls(proc.stdout + proc.stderr)
    report = proc.stdout.decode()
    assert report.startswith("signature NOT VALID")
    assert "CN=\\1B[1A\\1B[2K" in report and "\\u202e" in report and "\\C2\\9B" in report
    # every line of the report is one line of the report: nothing in the name adds one
    assert all(line.startswith(("signature", "  ")) for line in report.splitlines())


def test_verify_json_escapes_what_json_leaves_raw(pki: TestPKI, hostile_signed: bytes) -> None:
    proc = run("verify", "--trust", pki.root_path, "--json", stdin=hostile_signed, status=1)
    _no_raw_controls(proc.stdout)
    data = json.loads(proc.stdout)
    assert HOSTILE_CN in data["signers"][0]["subject"]  # the same text, only written safely


def test_verify_report_on_stderr_is_escaped(pki: TestPKI, hostile_signed: bytes) -> None:
    proc = run("verify", "--trust", pki.root_path, "-o", "-", stdin=hostile_signed, status=1)
    _no_raw_controls(proc.stderr)
    assert "signature NOT VALID" in proc.stderr.decode()


def test_inspect_escapes_names_and_headers(hostile_signed: bytes) -> None:
    proc = run("inspect", stdin=hostile_signed)
    _no_raw_controls(proc.stdout)
    assert "CN=\\1B[1A\\1B[2K" in proc.stdout.decode()  # the signer's name
    tree = run("inspect", "--json", stdin=hostile_signed)
    _no_raw_controls(tree.stdout)
    assert any(HOSTILE_CN in value for value in _strings(json.loads(tree.stdout)))

    plain = LETTER.replace(b"Subject: Meeting", b"Subject: Meeting \x1b[2J\xe2\x80\xae\r")
    proc = run("inspect", stdin=plain)
    _no_raw_controls(proc.stdout)
    assert "Meeting \\x1b[2J\\u202e" in proc.stdout.decode()


def test_error_lines_are_escaped(tmp_path: Path) -> None:
    missing = tmp_path / "roots\x1b[2K\u202e.pem"
    proc = run("verify", "--trust", missing, stdin=LETTER, status=2)
    _no_raw_controls(proc.stderr)
    assert "\\x1b[2K\\u202e" in proc.stderr.decode()


class RefusingServer:
    """An aiosmtpd handler whose refusal carries an escape sequence."""

    async def handle_RCPT(self, server: object, session: object, envelope: Any,
                          address: str, options: object) -> str:
        if address.startswith("eve"):
            return "550 5.1.1 \x1b[1A\x1b[2K\x9b no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        return "250 2.0.0 Ok: queued \x1b]0;owned\x07"


def test_send_escapes_what_the_server_says() -> None:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = controller_module.Controller(RefusingServer(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        proc = run("send", "--smtp", f"127.0.0.1:{port}", "--no-starttls",
                   "--to", "bob@example.com", "--to", "eve@example.com", stdin=LETTER,
                   status=3)  # partly refused
    finally:
        controller.stop()
    _no_raw_controls(proc.stdout + proc.stderr)
    assert b"\x07" not in proc.stdout + proc.stderr
    assert "eve@example.com was refused" in proc.stderr.decode()
    assert "\\x1b[1A" in proc.stderr.decode()


def test_lone_surrogates_do_not_crash_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 reach the CLI as lone surrogates: shown escaped, no crash."""
    assert main(["verify", "--trust", str(tmp_path / "\udcff.pem"), "-"]) == 2
    err = capsys.readouterr().err
    assert "\\udcff" in err and "internal error" not in err


# ---------------------------------------------------------------------------- -o files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="module")
def sealed(pki: TestPKI) -> bytes:
    return smime.encrypt(LETTER, pki["bob"].certificate, cipher="aes-256-gcm").as_bytes()


def test_decrypt_replaces_a_symlink_instead_of_following_it(
    pki: TestPKI, sealed: bytes, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"do not touch\n")
    link = tmp_path / "opened.eml"
    link.symlink_to(victim)
    run("decrypt", "--identity", pki["bob"].p12_path, "-o", link, stdin=sealed,
        env=with_password(pki))
    assert victim.read_bytes() == b"do not touch\n"
    assert not link.is_symlink()
    assert b"the meeting is at 10:00" in link.read_bytes()
    assert _mode(link) == 0o600


def test_decrypt_over_a_readable_file_leaves_it_private(
    pki: TestPKI, sealed: bytes, tmp_path: Path
) -> None:
    target = tmp_path / "opened.eml"
    target.write_bytes(b"old\n")
    target.chmod(0o644)
    run("decrypt", "--identity", pki["bob"].p12_path, "-o", target, stdin=sealed,
        env=with_password(pki))
    assert b"the meeting is at 10:00" in target.read_bytes()
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opened.eml"]  # no temp file left


def test_verify_content_output_is_private(pki: TestPKI, tmp_path: Path) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    content = tmp_path / "content.eml"
    content.write_bytes(b"")
    content.chmod(0o644)
    run("verify", "--trust", pki.root_path, "-o", content, stdin=signed)
    assert b"the meeting is at 10:00" in content.read_bytes()
    assert _mode(content) == 0o600


def test_other_outputs_follow_the_umask(pki: TestPKI, tmp_path: Path) -> None:
    target = tmp_path / "sealed.eml"
    run("encrypt", "--recipient", pki["bob"].cert_path, "-o", target, stdin=LETTER)
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(target) == 0o666 & ~umask


def test_a_failed_write_leaves_the_target_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "opened.eml"
    target.write_bytes(b"previous\n")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CLIError, match=r"cannot write .*No space left"):
        write_output(str(target), b"secret plaintext", Progress(), private=True)
    assert target.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opened.eml"]


def test_output_to_a_device_or_descriptor_is_written_in_place(
    pki: TestPKI, sealed: bytes, tmp_path: Path
) -> None:
    run("decrypt", "--identity", pki["bob"].p12_path, "-o", os.devnull, stdin=sealed,
        env=with_password(pki))
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    proc = run("decrypt", "--identity", pki["bob"].p12_path, "-o", "/dev/stdout",
               stdin=sealed, env=with_password(pki))
    assert b"the meeting is at 10:00" in proc.stdout


def test_output_to_a_directory_is_an_error(pki: TestPKI, sealed: bytes, tmp_path: Path) -> None:
    proc = run("decrypt", "--identity", pki["bob"].p12_path, "-o", tmp_path, stdin=sealed,
               env=with_password(pki), status=2)
    assert "it is a directory" in proc.stderr.decode()
    assert list(tmp_path.iterdir()) == []
