"""SMTPTransport and AsyncSMTPTransport against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transport_servers import (
    OUTER,
    DroppingHandler,
    RawSMTPServer,
    RecordingHandler,
    TLSFiles,
    crlf,
    make_tls,
    openssl_sign,
    openssl_verify,
    password_checker,
    smtp_server,
)

from smime.errors import InvalidOptionError, TransportError
from smime.transports import (
    AsyncSMTPTransport,
    NetworkError,
    NetworkTimeoutError,
    RecipientsRefusedError,
    SMTPTransport,
    _smtp,
    envelope,
)
from smime.transports._steps import run
from smime.transports.base import prepare

PLAIN = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>, dave@example.com\r\n"
    b"Bcc: Eve <eve@example.com>\r\n"
    b"Subject: plain\r\n"
    b"Message-ID: <plain-1@example.com>\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
    b".\r\n"
    b"..two dots\r\n"
)
NO_BCC = PLAIN.replace(b"Bcc: Eve <eve@example.com>\r\n", b"")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def signed(openssl: str, pki: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An openssl-signed message, CRLF throughout, with a Bcc line; it verifies as is."""
    folder = tmp_path_factory.mktemp("signed")
    message = crlf(openssl_sign(openssl, pki, folder)).replace(
        OUTER, OUTER + b"Bcc: dave@example.com\r\n")
    openssl_verify(openssl, pki, message, folder)
    return message


@pytest.fixture()
def handler() -> RecordingHandler:
    return RecordingHandler(refuse={"nobody@example.com"})


@pytest.fixture()
def plain_server(handler: RecordingHandler) -> Iterator[Any]:
    with smtp_server(handler) as controller:
        yield controller


def _plain(port: int, **kw: Any) -> SMTPTransport:
    return SMTPTransport("127.0.0.1", port, starttls=False, timeout=5, **kw)


def test_plain_smtp_delivers_exact_bytes_without_bcc(
    plain_server: Any, handler: RecordingHandler
) -> None:
    result = _plain(plain_server.port).send(PLAIN)
    [got] = handler.received
    assert got.data == NO_BCC
    assert got.mail_from == "alice@example.com"
    assert got.rcpt_tos == ["bob@example.com", "dave@example.com", "eve@example.com"]
    assert result.accepted == ("bob@example.com", "dave@example.com", "eve@example.com")
    assert result.ok and not result.rejected
    assert result.message_id == "<plain-1@example.com>"
    assert result.server_id == "Q1234"
    assert result.reply == "250 2.0.0 Ok: queued as Q1234"
    assert result.transport == "smtp"


def test_overrides_and_lone_lf_normalised(plain_server: Any, handler: RecordingHandler) -> None:
    lf_message = NO_BCC.replace(b"\r\n", b"\n")
    _plain(plain_server.port).send(
        lf_message, sender="bounces@example.com", recipients=["Zed <zed@example.com>"])
    [got] = handler.received
    assert got.data == NO_BCC
    assert b"\n" not in got.data.replace(b"\r\n", b"")
    assert (got.mail_from, got.rcpt_tos) == ("bounces@example.com", ["zed@example.com"])


def test_signed_message_arrives_byte_identical_and_verifies(
    plain_server: Any, handler: RecordingHandler, signed: bytes, openssl: str, pki: Any,
    tmp_path: Path,
) -> None:
    result = _plain(plain_server.port).send(signed)
    [got] = handler.received
    assert got.data == envelope(signed).data
    assert got.data == signed.replace(b"Bcc: dave@example.com\r\n", b"")
    assert b"Bcc" not in got.data
    assert got.rcpt_tos == ["bob@example.com", "carol@example.com", "dave@example.com"]
    assert result.accepted == tuple(got.rcpt_tos)
    content = openssl_verify(openssl, pki, got.data, tmp_path)
    assert b"From the desk of Alice" in content


def test_openssl_lf_output_is_made_crlf_and_still_verifies(
    plain_server: Any, handler: RecordingHandler, openssl: str, pki: Any, tmp_path: Path
) -> None:
    mixed = openssl_sign(openssl, pki, tmp_path)
    assert b"\r\n" in mixed and crlf(mixed) != mixed  # openssl's output mixes LF and CRLF
    _plain(plain_server.port).send(mixed)
    [got] = handler.received
    assert got.data == crlf(mixed)
    openssl_verify(openssl, pki, got.data, tmp_path)


def test_one_refused_recipient_is_reported_not_raised(
    plain_server: Any, handler: RecordingHandler
) -> None:
    result = _plain(plain_server.port).send(
        NO_BCC, recipients=["bob@example.com", "nobody@example.com"])
    assert result.accepted == ("bob@example.com",)
    code, text = result.rejected["nobody@example.com"]
    assert code == 550 and "no such user" in text
    assert not result.ok
    with pytest.raises(RecipientsRefusedError) as info:
        result.raise_for_status()
    assert info.value.code == 550
    assert handler.received[0].rcpt_tos == ["bob@example.com"]


def test_all_recipients_refused_raises_and_the_connection_stays_usable(
    plain_server: Any, handler: RecordingHandler
) -> None:
    with _plain(plain_server.port) as transport:
        with pytest.raises(RecipientsRefusedError) as info:
            transport.send(NO_BCC, recipients=["nobody@example.com"])
        assert info.value.code == 550
        assert set(info.value.rejected) == {"nobody@example.com"}
        assert transport.send(NO_BCC).ok
    assert len(handler.received) == 1
    assert plain_server.connections == 1


def test_send_many_and_with_block_reuse_one_connection(
    plain_server: Any, handler: RecordingHandler
) -> None:
    messages = [NO_BCC.replace(b"plain-1", f"plain-{i}".encode()) for i in range(5)]
    transport = _plain(plain_server.port)
    results = transport.send_many(messages)
    assert [r.message_id for r in results] == [f"<plain-{i}@example.com>" for i in range(5)]
    assert [r.data for r in handler.received] == messages
    assert plain_server.connections == 1
    with transport:
        transport.send(messages[0])
        transport.send(messages[1])
    assert plain_server.connections == 2
    transport.send(messages[0])
    transport.send(messages[1])
    assert plain_server.connections == 4


def test_reconnects_when_the_server_dropped_a_kept_connection(
    plain_server: Any, handler: RecordingHandler
) -> None:
    with _plain(plain_server.port) as transport:
        transport.send(NO_BCC)
        plain_server.hang_up_all()
        assert transport.send(NO_BCC).ok
    assert len(handler.received) == 2
    assert plain_server.connections == 2


def test_starttls_with_the_test_pki_certificate(tls: TLSFiles, handler: RecordingHandler) -> None:
    with smtp_server(handler, tls_context=tls.server_context, require_starttls=True) as server:
        transport = SMTPTransport("127.0.0.1", server.port, timeout=5,
                                  ssl_context=tls.client_context)
        assert transport.send(PLAIN).ok
        assert handler.received[0].data == NO_BCC
        with pytest.raises(TransportError, match="certificate verification failed"):
            SMTPTransport("127.0.0.1", server.port, timeout=5).send(PLAIN)


def test_starttls_is_required_unless_switched_off(
    plain_server: Any, handler: RecordingHandler
) -> None:
    with pytest.raises(TransportError, match="does not offer STARTTLS"):
        SMTPTransport("127.0.0.1", plain_server.port, timeout=5).send(PLAIN)
    assert handler.received == []


def test_implicit_tls(tls: TLSFiles, handler: RecordingHandler) -> None:
    with smtp_server(handler, ssl_context=tls.server_context) as server:
        transport = SMTPTransport("127.0.0.1", server.port, ssl=True, timeout=5,
                                  ssl_context=tls.client_context)
        assert transport.send(PLAIN).accepted == (
            "bob@example.com", "dave@example.com", "eve@example.com")
        assert handler.received[0].data == NO_BCC


def test_auth_over_starttls(tls: TLSFiles, handler: RecordingHandler) -> None:
    with smtp_server(handler, tls_context=tls.server_context, auth_required=True,
                     authenticator=password_checker("alice", "s3cret")) as server:
        good = SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                             password="s3cret", ssl_context=tls.client_context)
        assert good.send(PLAIN).ok
        bad = SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                            password="wrong-password", ssl_context=tls.client_context)
        with pytest.raises(TransportError) as info:
            bad.send(PLAIN)
        assert info.value.code == 535
        assert "wrong-password" not in str(info.value) and "wrong-password" not in repr(bad)
        anonymous = SMTPTransport("127.0.0.1", server.port, timeout=5,
                                  ssl_context=tls.client_context)
        with pytest.raises(TransportError) as info:
            anonymous.send(PLAIN)
        assert info.value.code == 530
    assert len(handler.received) == 1


FAILURES = [
    ("hangup", "closed the connection", NetworkError, False),
    # closed after one line of the message: the client had written it all and cannot
    # know how much the server read, so it may have been sent
    ("data", "closed the connection", NetworkError, True),
    ("silent", "did not answer within 0.5 s", NetworkTimeoutError, False),
]


@pytest.mark.parametrize("cls", [SMTPTransport, AsyncSMTPTransport])
@pytest.mark.parametrize(("mode", "says", "kind", "maybe_sent"), FAILURES)
def test_a_server_that_hangs_up_or_says_nothing_is_an_error_not_a_hang(
    cls: type, mode: str, says: str, kind: type, maybe_sent: bool
) -> None:
    with RawSMTPServer(mode) as server:
        transport = cls("127.0.0.1", server.port, starttls=False, timeout=0.5)
        with pytest.raises(TransportError, match=says) as info:
            result = transport.send(PLAIN)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        assert type(info.value) is kind and info.value.maybe_sent is maybe_sent
        assert server.connections == 1


def test_nobody_listening_is_a_transport_error() -> None:
    with RawSMTPServer("hangup") as server:
        port = server.port
    with pytest.raises(TransportError, match=r"127\.0\.0\.1"):
        SMTPTransport("127.0.0.1", port, starttls=False, timeout=2).send(PLAIN)


def test_non_ascii_addresses_use_smtputf8(plain_server: Any, handler: RecordingHandler) -> None:
    message = NO_BCC.replace(b"dave@example.com", "jürgen@exämple.de".encode())
    _plain(plain_server.port).send(message)
    [got] = handler.received
    assert "SMTPUTF8" in got.mail_options
    assert got.rcpt_tos[-1] == "jürgen@exämple.de"
    assert got.data == message


def test_eight_bit_body_is_announced(plain_server: Any, handler: RecordingHandler) -> None:
    message = NO_BCC + "Grüße, Zoë\r\n".encode()
    _plain(plain_server.port).send(message)
    [got] = handler.received
    assert "BODY=8BITMIME" in got.mail_options and "SMTPUTF8" not in got.mail_options
    assert got.data == message


def test_refused_sender_is_an_error_and_the_connection_stays_usable(
    plain_server: Any, handler: RecordingHandler
) -> None:
    with _plain(plain_server.port) as transport:
        with pytest.raises(TransportError, match="refused the sender") as info:
            transport.send(NO_BCC, sender="nobody@example.com")
        assert info.value.code == 553 and "not owned" in (info.value.text or "")
        assert transport.send(NO_BCC).ok
    assert plain_server.connections == 1 and len(handler.received) == 1


# --- the asyncio twin -------------------------------------------------------------------------


def test_async_plain_send_many_and_refusals(plain_server: Any, handler: RecordingHandler) -> None:
    async def main() -> None:
        transport = AsyncSMTPTransport("127.0.0.1", plain_server.port, starttls=False, timeout=5)
        result = await transport.send(PLAIN)
        assert result.accepted == ("bob@example.com", "dave@example.com", "eve@example.com")
        assert result.server_id == "Q1234"
        partial = await transport.send(NO_BCC, recipients=["bob@example.com",
                                                           "nobody@example.com"])
        assert partial.accepted == ("bob@example.com",)
        assert partial.rejected["nobody@example.com"][0] == 550
        with pytest.raises(RecipientsRefusedError):
            await transport.send(NO_BCC, recipients=["nobody@example.com"])
        with pytest.raises(TransportError) as info:
            await transport.send(NO_BCC, sender="nobody@example.com")
        assert info.value.code == 553
        before = plain_server.connections
        results = await transport.send_many([NO_BCC, NO_BCC, NO_BCC])
        assert all(r.ok for r in results)
        assert plain_server.connections == before + 1
        async with transport:
            await transport.send(NO_BCC)
            plain_server.hang_up_all()
            assert (await transport.send(NO_BCC)).ok
        assert plain_server.connections == before + 3

    asyncio.run(main())
    assert [r.data for r in handler.received] == [NO_BCC] * 7


def test_async_starttls_auth_and_signed_bytes(
    tls: TLSFiles, handler: RecordingHandler, signed: bytes, openssl: str, pki: Any,
    tmp_path: Path,
) -> None:
    async def main(port: int) -> None:
        transport = AsyncSMTPTransport("127.0.0.1", port, timeout=5, username="alice",
                                       password="s3cret", ssl_context=tls.client_context)
        assert (await transport.send(signed)).ok
        bad = AsyncSMTPTransport("127.0.0.1", port, timeout=5, username="alice",
                                 password="nope", ssl_context=tls.client_context)
        with pytest.raises(TransportError) as info:
            await bad.send(signed)
        assert info.value.code == 535
        with pytest.raises(TransportError, match="certificate verification failed"):
            await AsyncSMTPTransport("127.0.0.1", port, timeout=5).send(signed)

    with smtp_server(handler, tls_context=tls.server_context, auth_required=True,
                     authenticator=password_checker("alice", "s3cret")) as server:
        asyncio.run(main(server.port))
    [got] = handler.received
    assert got.data == envelope(signed).data
    openssl_verify(openssl, pki, got.data, tmp_path)


def test_async_implicit_tls_and_missing_starttls(
    tls: TLSFiles, handler: RecordingHandler, plain_server: Any
) -> None:
    async def main(port: int) -> None:
        transport = AsyncSMTPTransport("127.0.0.1", port, ssl=True, timeout=5,
                                       ssl_context=tls.client_context)
        assert (await transport.send(PLAIN)).ok
        with pytest.raises(TransportError, match="does not offer STARTTLS"):
            await AsyncSMTPTransport("127.0.0.1", plain_server.port, timeout=5).send(PLAIN)

    with smtp_server(handler, ssl_context=tls.server_context) as server:
        asyncio.run(main(server.port))
    assert [r.data for r in handler.received] == [NO_BCC]


def test_a_password_is_never_sent_in_clear_to_another_host() -> None:
    for cls in (SMTPTransport, AsyncSMTPTransport):
        with pytest.raises(InvalidOptionError, match="in clear"):
            cls("mail.example.com", starttls=False, username="alice", password="pw")
        with pytest.raises(InvalidOptionError, match="username"):
            cls("mail.example.com", password="pw")
        cls("127.0.0.1", starttls=False, username="alice", password="pw")  # a local relay


def test_default_ports_follow_the_tls_mode() -> None:
    assert SMTPTransport("mail.example.com").port == 587
    assert SMTPTransport("mail.example.com", ssl=True).port == 465
    assert AsyncSMTPTransport("mail.example.com", ssl=True).port == 465
    assert SMTPTransport("mail.example.com", 2525).port == 2525


# --- one rule for a lost connection, the same in both shells ----------------------------------

SHELLS = [SMTPTransport, AsyncSMTPTransport]


def _outcomes(cls: type, port: int, sends: int, before: Any = None, transport: Any = None,
              **kw: Any) -> list[Any]:
    """Send NO_BCC ``sends`` times over one kept connection (a ``with`` block) with
    ``cls``; each send's SendResult or TransportError. ``before(i)`` runs before send i."""
    if transport is None:
        transport = cls("127.0.0.1", port, starttls=False, **{"timeout": 5, **kw})
    outcomes: list[Any] = []

    def note(send: Any) -> None:
        try:
            outcomes.append(send())
        except TransportError as exc:
            outcomes.append(exc)

    if cls is SMTPTransport:
        with transport:
            for i in range(sends):
                if before is not None:
                    before(i)
                note(lambda: transport.send(NO_BCC))
        return outcomes

    async def main() -> None:
        async with transport:
            for i in range(sends):
                if before is not None:
                    before(i)
                try:
                    outcomes.append(await transport.send(NO_BCC))
                except TransportError as exc:
                    outcomes.append(exc)

    asyncio.run(main())
    return outcomes


def _one_send(cls: type, port: int, transport: Any = None, **kw: Any) -> Any:
    """One send outside a ``with`` block: its SendResult or TransportError."""
    if transport is None:
        transport = cls("127.0.0.1", port, starttls=False, **{"timeout": 5, **kw})
    try:
        result = transport.send(NO_BCC)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except TransportError as exc:
        return exc


@pytest.mark.parametrize(("drop", "maybe_sent", "delivered"), [
    ("connect", False, 0),  # before the greeting
    ("mail", False, 0),  # the transaction had begun, the message not sent
    ("data", True, 1),  # the whole message and its final dot went out; no reply came
])
def test_a_dropped_connection_is_reported_alike_by_both_shells(
    drop: str, maybe_sent: bool, delivered: int
) -> None:
    seen = []
    for cls in SHELLS:
        handler = DroppingHandler(drop=None)
        with smtp_server(handler) as server:
            handler.drop = drop
            error = _one_send(cls, server.port)
            assert isinstance(error, NetworkError), (cls.__name__, error)
            seen.append((type(error), error.maybe_sent, server.connections,
                         len(handler.received)))
            assert ("may have been delivered" in str(error)) is maybe_sent
    assert seen[0] == seen[1], seen
    assert seen[0] == (NetworkError, maybe_sent, 1, delivered)  # and never sent twice


@pytest.mark.parametrize("cls", SHELLS)
def test_after_the_final_dot_a_lost_reply_is_not_resent_and_the_next_send_reconnects(
    cls: type
) -> None:
    handler = DroppingHandler()
    with smtp_server(handler) as server:
        def arm(i: int) -> None:
            handler.drop = "data" if i == 1 else None

        first, lost, third = _outcomes(cls, server.port, 3, arm)
    assert first.ok and third.ok
    assert isinstance(lost, NetworkError) and lost.maybe_sent
    assert len(handler.received) == 3  # the server did get the "lost" one, once
    assert server.connections == 2


@pytest.mark.parametrize("how", ["idle", "mail", "421"])
@pytest.mark.parametrize("cls", SHELLS)
def test_a_kept_connection_the_server_gave_up_is_reopened_transparently(
    cls: type, how: str
) -> None:
    """Closed while idle, closed on this message's MAIL, or 421 to MAIL: nothing of the
    message was sent yet, so it goes over a fresh connection without an error."""
    handler = DroppingHandler()
    with smtp_server(handler) as server:
        def between(i: int) -> None:
            if i == 1 and how == "idle":
                server.hang_up_all()
            elif i == 1:
                handler.drop = how

        outcomes = _outcomes(cls, server.port, 2, between)
    assert [getattr(o, "ok", o) for o in outcomes] == [True, True]
    assert [r.data for r in handler.received] == [NO_BCC, NO_BCC]
    assert server.connections == 2


@pytest.mark.parametrize("cls", SHELLS)
def test_a_reply_that_never_comes_after_the_final_dot_is_a_timeout_that_may_have_sent(
    cls: type
) -> None:
    handler = DroppingHandler(delay=3)
    with smtp_server(handler) as server:
        handler.drop = "slow-data"
        error = _one_send(cls, server.port, timeout=0.5)
    assert isinstance(error, NetworkTimeoutError) and error.maybe_sent
    assert "did not answer within 0.5 s" in str(error)
    assert len(handler.received) == 1


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt or a cancellation in the middle of a step."""


@pytest.mark.parametrize("cls", SHELLS)
def test_an_interrupted_send_leaves_no_half_used_connection(
    cls: type, plain_server: Any, handler: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted with DATA accepted and the message not yet written: the connection is
    dropped, not kept half-way through a transaction, and the next send opens anew."""
    transport = cls("127.0.0.1", plain_server.port, starttls=False, timeout=5)
    perform = transport._perform
    interrupts = [Interrupted()]

    def interrupting(step: Any, *args: Any) -> Any:
        if isinstance(step, _smtp.Write) and interrupts:
            raise interrupts.pop()
        return perform(step, *args)

    monkeypatch.setattr(transport, "_perform", interrupting)

    with pytest.raises(Interrupted):
        _one_send(cls, plain_server.port, transport=transport)
    assert transport._conn is None  # dropped, not kept half-way through DATA
    results = _outcomes(cls, plain_server.port, 2, transport=transport)
    assert [r.ok for r in results] == [True, True]
    assert [r.data for r in handler.received] == [NO_BCC, NO_BCC]
    assert plain_server.connections == 2


@pytest.mark.parametrize("cls", SHELLS)
def test_nobody_listening_is_a_network_error_safe_to_retry(cls: type) -> None:
    with RawSMTPServer("hangup") as server:
        port = server.port
    error = _one_send(cls, port, timeout=2)
    assert type(error) is NetworkError and not error.maybe_sent


# --- the conversation itself, without sockets (the core both shells run) ----------------------

EHLO = "test.example\nSIZE 10240000\nSTARTTLS\nAUTH PLAIN LOGIN\n8BITMIME"
USUAL = {"CONNECT": 220, "EHLO": 250, "HELO": 250, "STARTTLS": 220, "AUTH": 235, "MAIL": 250,
         "RCPT": 250, "DATA": 354, "END": 250, "RSET": 250, "QUIT": 221}


class ScriptedServer:
    """Answers the core's steps like a server would; ``script`` overrides the usual reply
    code of a step, in turn, with a code or a Fault (no reply at all)."""

    def __init__(self, script: dict[str, list[Any]] | None = None, ehlo: str = EHLO) -> None:
        self.script = {name: list(answers) for name, answers in (script or {}).items()}
        self.ehlo = ehlo
        self.log: list[str] = []
        self.written = b""

    def __call__(self, step: Any) -> Any:
        if isinstance(step, _smtp.Command):
            name = step.line.split(b" ")[0].decode()
        elif isinstance(step, _smtp.Hello):
            name = "EHLO" if step.esmtp else "HELO"
        else:
            name = {"Connect": "CONNECT", "StartTLS": "STARTTLS", "Login": "AUTH",
                    "Read": "END", "Write": "WRITE", "Close": "CLOSE"}[type(step).__name__]
        self.log.append(name)
        if isinstance(step, _smtp.Write):
            self.written += step.data
        if name in ("WRITE", "CLOSE"):
            return None
        answer = self.script[name].pop(0) if self.script.get(name) else USUAL[name]
        if isinstance(answer, _smtp.Fault):
            return answer
        return _smtp.Reply(answer, self.ehlo if name == "EHLO" else "ok")


def _core(**kw: Any) -> _smtp.SMTPCore:
    return _smtp.SMTPCore("mail.example.com", **kw)


def _converse(core: _smtp.SMTPCore, server: ScriptedServer, message: bytes = NO_BCC,
              *, alive: bool = False, keep: bool = False) -> Any:
    steps = core._send_steps(prepare(message), alive=alive, keep=keep)
    try:
        return run(steps, server)
    except TransportError as exc:
        return exc


def _gone() -> _smtp.Fault:
    return _smtp.Fault("closed", "Connection unexpectedly closed", ConnectionResetError())


def test_core_runs_the_whole_conversation_and_dot_stuffs() -> None:
    server = ScriptedServer()
    result = _converse(_core(username="alice", password="pw"), server)
    assert result.ok and result.accepted == ("bob@example.com", "dave@example.com")
    assert server.log == [
        "CLOSE", "CONNECT", "EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT",
        "DATA", "WRITE", "END", "QUIT", "CLOSE",
    ]
    assert server.written == NO_BCC.replace(b"\r\n.", b"\r\n..") + b".\r\n"


@pytest.mark.parametrize(("script", "ehlo", "says", "code", "then"), [
    ({"CONNECT": [554]}, EHLO, "answered 554", 554, "CLOSE"),
    ({"EHLO": [502]}, EHLO, "does not offer STARTTLS", None, "CLOSE"),  # HELO: no extensions
    ({"EHLO": [502], "HELO": [501]}, EHLO, "answered 501", 501, "CLOSE"),
    ({"STARTTLS": [454]}, EHLO, "refused STARTTLS: 454", 454, "CLOSE"),
    ({}, "test.example\nSTARTTLS", "does not offer AUTH", None, "CLOSE"),
    ({"AUTH": [535]}, EHLO, "refused the login of 'alice': 535", 535, "CLOSE"),
    ({"DATA": [554]}, EHLO, "did not take the message: 554", 554, "RSET"),
    ({"END": [552]}, EHLO, "did not take the message: 552", 552, "RSET"),
])
def test_core_refusals_become_transport_errors(
    script: dict[str, list[Any]], ehlo: str, says: str, code: int | None, then: str
) -> None:
    server = ScriptedServer(script, ehlo)
    error = _converse(_core(username="alice", password="pw"), server, keep=True)
    assert type(error) is TransportError and says in str(error) and error.code == code
    assert server.log[-1] == then
    assert "WRITE" not in server.log or "END" in script


@pytest.mark.parametrize("reset", [421, "fault"])
def test_core_a_failed_reset_closes_the_connection_it_would_have_kept(reset: Any) -> None:
    server = ScriptedServer({"MAIL": [553], "RSET": [_gone() if reset == "fault" else reset]})
    error = _converse(_core(starttls=False), server, keep=True)
    assert error.code == 553 and server.log[-2:] == ["RSET", "CLOSE"]


def test_core_non_ascii_addresses_need_smtputf8() -> None:
    server = ScriptedServer(ehlo="test.example\n8BITMIME")
    message = NO_BCC.replace(b"dave@example.com", "jürgen@exämple.de".encode())
    error = _converse(_core(starttls=False), server, message, keep=True)
    assert type(error) is TransportError and "SMTPUTF8" in str(error)
    assert "MAIL" not in server.log


def test_core_a_library_that_gives_up_is_a_transport_error_not_a_network_one() -> None:
    gave_up = _smtp.Fault("protocol", "No suitable authentication method found.",
                          smtplib.SMTPException())
    server = ScriptedServer({"AUTH": [gave_up]})
    error = _converse(_core(username="alice", password="pw"), server)
    assert type(error) is TransportError
    assert "cannot talk to" in str(error) and "No suitable authentication" in str(error)
    assert server.log[-1] == "CLOSE"


@pytest.mark.parametrize(("where", "maybe_sent"), [
    ("EHLO", False), ("MAIL", False), ("RCPT", False), ("DATA", False), ("END", True),
])
def test_core_a_lost_connection_says_whether_the_message_may_have_gone(
    where: str, maybe_sent: bool
) -> None:
    server = ScriptedServer({where: [_gone()]})
    error = _converse(_core(starttls=False), server, keep=True)
    assert type(error) is NetworkError and error.maybe_sent is maybe_sent
    assert isinstance(error.__cause__, ConnectionResetError)
    assert server.log[-1] == "CLOSE" and server.log.count("CONNECT") == 1


@pytest.mark.parametrize("answer", [421, "fault"])
def test_core_a_kept_connection_dead_at_mail_is_replaced_once(answer: Any) -> None:
    first = _gone() if answer == "fault" else answer
    server = ScriptedServer({"MAIL": [first]})
    result = _converse(_core(starttls=False), server, alive=True, keep=True)
    assert result.ok
    assert server.log[:4] == ["MAIL", "CLOSE", "CONNECT", "EHLO"]
    server = ScriptedServer({"MAIL": [first, first]})
    error = _converse(_core(starttls=False), server, alive=True, keep=True)
    assert isinstance(error, TransportError) and server.log.count("CONNECT") == 1


def test_core_on_a_fresh_connection_421_is_a_refusal_not_a_retry() -> None:
    server = ScriptedServer({"MAIL": [421]})
    error = _converse(_core(starttls=False), server, keep=True)
    assert error.code == 421 and server.log.count("CONNECT") == 1


@pytest.mark.parametrize(("exc", "kind"), [
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls-verify"),
    (ssl.SSLError(1, "wrong version number"), "tls"),
    (TimeoutError("timed out"), "timeout"),
    (ConnectionRefusedError(111, "refused"), "network"),
    (OSError("no route"), "network"),
    (smtplib.SMTPServerDisconnected("gone"), "closed"),
    (smtplib.SMTPNotSupportedError("no AUTH"), "protocol"),
])
def test_fault_kinds(exc: BaseException, kind: str) -> None:
    made = _smtp.fault(exc, closed=smtplib.SMTPServerDisconnected,
                       library=smtplib.SMTPException)
    assert made.kind == kind and made.cause is exc and not made.maybe_sent


def test_fault_kind_looks_through_what_a_library_wrapped() -> None:
    try:
        try:
            raise TimeoutError("timed out")
        except TimeoutError:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed") from None
    except smtplib.SMTPServerDisconnected as exc:
        wrapped = exc
    wrapped.__cause__ = ssl.SSLCertVerificationError(1, "verify failed")
    assert _smtp.fault(wrapped, closed=smtplib.SMTPServerDisconnected,
                       library=smtplib.SMTPException).kind == "tls-verify"
    wrapped.__cause__ = TimeoutError("timed out")
    assert _smtp.fault(wrapped, closed=smtplib.SMTPServerDisconnected,
                       library=smtplib.SMTPException).kind == "timeout"
