"""FileTransport: exact bytes in each format, and several processes writing at once."""

from __future__ import annotations

import logging
import mailbox
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from transport_servers import crlf, numbered_message, openssl_sign, openssl_verify, write_many

from smime.errors import InvalidOptionError, TransportError
from smime.transports import FileTransport, envelope

MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: bob@example.com\r\n"
    b"Bcc: eve@example.com\r\n"
    b"Subject: archived\r\n"
    b"\r\n"
    b"Line one.\r\n"
    b"Bcc: this line is body text and stays\r\n"
)
WIRE = MESSAGE.replace(b"Bcc: eve@example.com\r\n", b"")
FROM_LINE = MESSAGE + b"From the archive, with love.\r\n"


def _read(path: Path, format: str) -> list[bytes]:
    if format == "eml":
        return [p.read_bytes() for p in sorted(path.glob("*.eml"))]
    box: mailbox.Mailbox[Any]
    if format == "mbox":
        box = mailbox.mbox(path, create=False)
    else:
        box = mailbox.Maildir(path, create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


@pytest.mark.parametrize("format", ["eml", "maildir", "mbox"])
def test_each_format_stores_the_wire_bytes(tmp_path: Path, format: str) -> None:
    target = tmp_path / f"out.{format}"
    transport = FileTransport(target, format=format)
    result = transport.send(MESSAGE)
    transport.send(MESSAGE.replace(b"\r\n", b"\n"))
    assert _read(target, format) == [WIRE, WIRE]
    assert result.accepted == ("bob@example.com", "eve@example.com")
    assert result.transport == "file" and result.server_id
    if format != "mbox":
        assert Path(result.server_id).read_bytes() == WIRE
    if format == "eml":
        assert [p.name for p in target.iterdir() if not p.name.endswith(".eml")] == []


def test_mbox_from_line_carries_the_envelope_sender(tmp_path: Path) -> None:
    target = tmp_path / "box.mbox"
    FileTransport(target, format="mbox").send(MESSAGE, sender="bounces@example.com")
    box = mailbox.mbox(target)
    try:
        assert box[box.keys()[0]].get_from().startswith("bounces@example.com ")
    finally:
        box.close()
    assert target.read_bytes().startswith(b"From bounces@example.com ")


def test_mbox_quotes_from_lines_while_eml_and_maildir_do_not(tmp_path: Path) -> None:
    for format in ("eml", "maildir", "mbox"):
        FileTransport(tmp_path / format, format=format).send(FROM_LINE)
    quoted = FROM_LINE.replace(b"\nFrom the archive", b"\n>From the archive")
    assert _read(tmp_path / "mbox", "mbox") == [envelope(quoted).data]
    assert _read(tmp_path / "eml", "eml") == [envelope(FROM_LINE).data]
    assert _read(tmp_path / "maildir", "maildir") == [envelope(FROM_LINE).data]


def test_signed_message_survives_eml_and_maildir_but_mbox_quoting_breaks_it(
    openssl: str, pki: Any, tmp_path: Path
) -> None:
    signed = crlf(openssl_sign(openssl, pki, tmp_path))
    assert b"\r\nFrom the desk" in signed  # openssl does not protect "From " lines
    for format in ("eml", "maildir", "mbox"):
        FileTransport(tmp_path / format, format=format).send(signed)
    for format in ("eml", "maildir"):
        [stored] = _read(tmp_path / format, format)
        assert stored == signed
        openssl_verify(openssl, pki, stored, tmp_path)
    [stored] = _read(tmp_path / "mbox", "mbox")
    assert b"\r\n>From the desk" in stored
    with pytest.raises(AssertionError):
        openssl_verify(openssl, pki, stored, tmp_path)


def test_several_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    writers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers)
    processes = [context.Process(target=write_many, args=(str(tmp_path), w, count, start))
                 for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * writers
    expected = {numbered_message(w, n) for w in range(writers) for n in range(count)}
    for format in ("eml", "maildir", "mbox"):
        stored = _read(tmp_path / f"shared.{format}", format)
        assert len(stored) == writers * count, format
        assert set(stored) == expected, format


def _not_sent(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What was logged of failed sends: at INFO, as every transport logs one."""
    return [r.getMessage() for r in caplog.records if r.name == "smime.transports"
            and r.levelno == logging.INFO and r.getMessage().startswith("file: not sent: ")]


def test_a_held_mbox_lock_times_out_then_frees(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smime.transports")
    target = tmp_path / "locked.mbox"
    holder = mailbox.mbox(target)
    holder.lock()
    try:
        with pytest.raises(TransportError, match="stayed locked"):
            FileTransport(target, format="mbox", lock_timeout=0.2).send(MESSAGE)
    finally:
        holder.unlock()
        holder.close()
    [logged] = _not_sent(caplog)
    assert "TransportError" in logged and "stayed locked" in logged
    FileTransport(target, format="mbox").send(MESSAGE)
    assert _read(target, "mbox") == [WIRE]


def test_unknown_format_and_unwritable_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smime.transports")
    with pytest.raises(InvalidOptionError, match="maildir"):
        FileTransport(tmp_path, format="pst")
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(TransportError, match="cannot write"):
        FileTransport(blocker / "sub", format="eml").send(MESSAGE)
    [logged] = _not_sent(caplog)
    assert f"TransportError: cannot write to {blocker / 'sub'}" in logged


def test_messages_without_route_are_still_archived(tmp_path: Path) -> None:
    result = FileTransport(tmp_path).send(b"Subject: draft\r\n\r\nno addresses yet\r\n")
    assert result.accepted == ()
    assert _read(tmp_path, "eml") == [b"Subject: draft\r\n\r\nno addresses yet\r\n"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("format", ["eml", "maildir", "mbox"])
def test_mail_is_readable_by_its_owner_only(tmp_path: Path, format: str) -> None:
    target = tmp_path / "new-folder" / f"out.{format}"
    old_umask = os.umask(0o022)  # the common default, which leaves new files 0644
    try:
        result = FileTransport(target, format=format).send(MESSAGE)
    finally:
        os.umask(old_umask)
    written = target if format == "mbox" else Path(result.server_id)
    assert _mode(written) == 0o600
    folders = [target.parent] if format == "mbox" else [target.parent, target]
    if format == "maildir":
        folders += [target / "tmp", target / "new", target / "cur"]
    assert {folder: _mode(folder) for folder in folders} == dict.fromkeys(folders, 0o700)
    assert _read(target, format) == [WIRE]


@pytest.mark.parametrize("format", ["eml", "maildir", "mbox"])
def test_mode_keyword_sets_the_permissions(tmp_path: Path, format: str) -> None:
    target = tmp_path / f"shared.{format}"
    old_umask = os.umask(0o022)  # files get the mode given; folders made lose the umask
    try:
        result = FileTransport(target, format=format, mode=0o664).send(MESSAGE)
    finally:
        os.umask(old_umask)
    written = target if format == "mbox" else Path(result.server_id)
    assert _mode(written) == 0o664
    if format != "mbox":
        assert _mode(target) == 0o755


def test_an_existing_mbox_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "inbox.mbox"
    FileTransport(target, format="mbox").send(MESSAGE)
    target.chmod(0o640)
    FileTransport(target, format="mbox").send(MESSAGE)
    assert _mode(target) == 0o640
    assert _read(target, "mbox") == [WIRE, WIRE]


@pytest.mark.parametrize("mode", [0o1000, -1, "0600", True, 0.5])
def test_mode_must_be_permission_bits(tmp_path: Path, mode: object) -> None:
    with pytest.raises(InvalidOptionError, match="mode"):
        FileTransport(tmp_path, mode=mode)  # type: ignore[arg-type]
