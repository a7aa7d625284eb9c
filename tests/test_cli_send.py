"""``smime send`` moves the exact bytes: to files, and to an SMTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_cli import LETTER, call, expect_error, one_error_line, run

import smime
from smime.cli.send import host_and_port

if TYPE_CHECKING:
    from smime.testing import TestPKI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Sink:
    """An aiosmtpd handler that keeps every envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as 4711"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Sink]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    sink = Sink()
    port = _free_port()
    controller = controller_module.Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def signed(pki: TestPKI) -> bytes:
    return smime.sign(LETTER, pki["alice"].identity).as_bytes()


def test_send_file_writes_the_exact_bytes(signed: bytes, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    source = tmp_path / "signed.eml"
    source.write_bytes(signed)
    proc = run("send", "--file", outbox, source)
    assert "bob@example.com" in proc.stdout.decode()
    files = [p for p in outbox.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == signed


def test_send_smtp_delivers_byte_identical_data(
    signed: bytes, smtp_server: tuple[int, Sink]
) -> None:
    port, sink = smtp_server
    proc = run("send", "--smtp", f"127.0.0.1:{port}", "--no-starttls", stdin=signed)
    assert "bob@example.com" in proc.stdout.decode()
    (envelope,) = sink.envelopes
    assert envelope.mail_from == "alice@example.com"
    assert envelope.rcpt_tos == ["bob@example.com"]
    assert envelope.original_content == signed

    run("send", "--smtp", f"127.0.0.1:{port}", "--no-starttls", "--from", "robot@example.com",
        "--to", "carol@example.com", "--to", "dave@example.com", stdin=signed)
    assert sink.envelopes[1].mail_from == "robot@example.com"
    assert sink.envelopes[1].rcpt_tos == ["carol@example.com", "dave@example.com"]
    assert sink.envelopes[1].original_content == signed


def test_unreachable_server_exits_2(signed: bytes) -> None:
    closed = _free_port()
    expect_error(run("send", "--smtp", f"127.0.0.1:{closed}", "--no-starttls", "--timeout", "5",
                     stdin=signed, status=2), f"127.0.0.1:{closed}")


@pytest.mark.parametrize(("args", "fragment"), [
    (("--smtp", "127.0.0.1:25", "--user", "alice"), "SMIME_SMTP_PASSWORD"),
    (("--sparkpost",), "SPARKPOST_API_KEY"),
    (("--smtp", "127.0.0.1:notaport"), "port"),
    (("--smtp", "[::1"), "IPV6"),
    (("--file", "out", "--eu"), "--sparkpost"),
])
def test_send_usage_errors_exit_2(
    args: tuple[str, ...], fragment: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SMIME_SMTP_PASSWORD", "SPARKPOST_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    status, _out, err = call(capsys, "send", *args)
    assert status == 2
    one_error_line(err, fragment)


@pytest.mark.parametrize(("value", "expected"), [
    ("mail.example.com", ("mail.example.com", 587)),
    ("mail.example.com:25", ("mail.example.com", 25)),
    ("[2001:db8::1]:2525", ("2001:db8::1", 2525)),
    ("[::1]", ("::1", 587)),
])
def test_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert host_and_port(value, 587) == expected


def test_send_sparkpost_posts_the_exact_message(signed: bytes, tmp_path: Path) -> None:
    """Against a local server answering like SparkPost's API: the message goes out as
    content.email_rfc822 unchanged, with tracking off and the key from the environment."""
    from transport_servers import SparkPostAPI

    with SparkPostAPI() as api:
        proc = run("send", "--sparkpost", "--sparkpost-url", api.url, stdin=signed,
                   env={"SPARKPOST_API_KEY": api.api_key})
        assert "bob@example.com" in proc.stdout.decode()
        (request,) = api.requests
        body = request.json()
        assert body["content"]["email_rfc822"].encode() == signed
        assert body["options"]["open_tracking"] is False
        assert body["options"]["click_tracking"] is False
        assert [r["address"]["email"] for r in body["recipients"]] == ["bob@example.com"]
        assert request.headers["Authorization"] == api.api_key
        refused = run("send", "--sparkpost", "--sparkpost-url", api.url, stdin=signed,
                      env={"SPARKPOST_API_KEY": "wrong"}, status=2)
        expect_error(refused, "401")
        assert "wrong" not in refused.stderr.decode()


def test_partly_refused_send_exits_3_and_names_who(signed: bytes) -> None:
    """Documented in docs/reference/cli.md: 3 when the message went out to some
    recipients but others were refused."""
    from transport_servers import RecordingHandler, smtp_server

    handler = RecordingHandler(refuse={"dave@example.com"})
    with smtp_server(handler) as server:
        proc = run("send", "--smtp", f"127.0.0.1:{server.port}", "--no-starttls",
                   "--to", "carol@example.com", "--to", "dave@example.com", stdin=signed,
                   status=3)
    assert "sent to carol@example.com" in proc.stdout.decode()
    assert "dave@example.com was refused: 550" in proc.stderr.decode()
    assert [r.rcpt_tos for r in handler.received] == [["carol@example.com"]]


@pytest.mark.parametrize("form", ["eml", "mbox", "maildir"])
def test_file_outcome_says_where_it_went(signed: bytes, tmp_path: Path, form: str) -> None:
    target = tmp_path / f"out-{form}"
    proc = run("send", "--file", target, "--format", form, stdin=signed)
    line = proc.stdout.decode().strip()
    assert str(target) in line and "recipients in its headers: bob@example.com" in line
    assert "nobody" not in line and "(0)" not in line
