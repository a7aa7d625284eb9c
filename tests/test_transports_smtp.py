"""SMTPTransport and AsyncSMTPTransport against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transport_servers import (
    OUTER,
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
    RecipientsRefusedError,
    SMTPTransport,
    envelope,
)

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


FAILURES = [("hangup", "closed the connection"), ("data", "closed the connection"),
            ("silent", "did not answer within 0.5 s")]


@pytest.mark.parametrize(("mode", "says"), FAILURES)
def test_a_server_that_hangs_up_or_says_nothing_is_an_error_not_a_hang(
    mode: str, says: str
) -> None:
    with RawSMTPServer(mode) as server:
        transport = SMTPTransport("127.0.0.1", server.port, starttls=False, timeout=0.5)
        with pytest.raises(TransportError, match=says):
            transport.send(PLAIN)
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


@pytest.mark.parametrize(("mode", "says"), FAILURES)
def test_async_server_that_hangs_up_or_says_nothing(mode: str, says: str) -> None:
    with RawSMTPServer(mode) as server:
        transport = AsyncSMTPTransport("127.0.0.1", server.port, starttls=False, timeout=0.5)
        with pytest.raises(TransportError, match=says):
            asyncio.run(transport.send(PLAIN))
        assert server.connections == 1


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
