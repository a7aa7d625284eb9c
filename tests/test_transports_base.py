"""The envelope (Bcc, line ends, sender and recipients), results, the mock and the helpers."""

from __future__ import annotations

import asyncio
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from smime.errors import (
    InvalidOptionError,
    ParseError,
    SMIMEError,
    TransportError,
    UsageError,
)
from smime.mime import message_bytes
from smime.transports import (
    AsyncSMTPTransport,
    Envelope,
    FileTransport,
    MissingExtraError,
    MockTransport,
    RecipientsRefusedError,
    SendResult,
    SMTPTransport,
    SparkPostTransport,
    Transport,
    asend,
    envelope,
    send,
)

MESSAGE = (
    b"Return-Path: <ignored@example.com>\r\n"
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>,\r\n"
    b"  \"Carol, C.\" <carol@example.com>\r\n"
    b"Cc: BOB@example.com, undisclosed-recipients:;\r\n"
    b"Bcc: Dave <dave@example.com>,\r\n"
    b"\tEve <eve@example.com>\r\n"
    b"Subject: quarterly\r\n"
    b"Message-ID: <q-1@example.com>\r\n"
    b"\r\n"
    b"Bcc: in the body this is just text\r\n"
)
WIRE = MESSAGE.replace(
    b"Bcc: Dave <dave@example.com>,\r\n\tEve <eve@example.com>\r\n", b"")


def test_envelope_defaults_strips_bcc_and_keeps_every_other_byte() -> None:
    sender, recipients, data = envelope(MESSAGE)
    assert sender == "alice@example.com"
    assert recipients == ("bob@example.com", "carol@example.com", "dave@example.com",
                          "eve@example.com")
    assert data == WIRE
    assert data.endswith(b"Bcc: in the body this is just text\r\n")


def test_sender_header_wins_and_overrides_apply() -> None:
    message = b"Sender: list@example.com\r\n" + MESSAGE
    assert envelope(message).sender == "list@example.com"
    env = envelope(MESSAGE, sender="Bounces <b@example.com>",
                   recipients=["x@example.com", "X@EXAMPLE.com", "Y <y@example.com>"])
    assert env == Envelope("b@example.com", ("x@example.com", "y@example.com"), WIRE)
    assert envelope(MESSAGE, recipients="z@example.com").recipients == ("z@example.com",)
    assert envelope(MESSAGE, sender="").sender == ""
    assert envelope(MESSAGE, sender="<>").sender == ""


def test_resent_block_routes_a_resent_message() -> None:
    resent = (b"Resent-From: desk@example.com\r\nResent-To: frank@example.com\r\n"
              b"Resent-Bcc: grace@example.com\r\n" + MESSAGE)
    sender, recipients, data = envelope(resent)
    assert sender == "desk@example.com"
    assert recipients == ("frank@example.com", "grace@example.com")
    assert data == b"Resent-From: desk@example.com\r\nResent-To: frank@example.com\r\n" + WIRE


def test_line_ends_become_crlf_and_the_message_ends_with_one() -> None:
    lf = WIRE.replace(b"\r\n", b"\n")
    assert envelope(lf).data == WIRE
    assert envelope(WIRE.replace(b"\r\n", b"\r")).data == WIRE
    assert envelope(WIRE[:-2]).data == WIRE
    mixed = b"From: a@example.com\nTo: b@example.com\r\n\r\nx\ry\n"
    assert envelope(mixed).data == b"From: a@example.com\r\nTo: b@example.com\r\n\r\nx\r\ny\r\n"


def test_str_and_message_inputs() -> None:
    assert envelope(WIRE.decode()).data == WIRE
    parsed = message_from_bytes(WIRE, policy=policy.default)
    assert envelope(parsed).data == WIRE
    built = EmailMessage()
    built["From"] = "alice@example.com"
    built["To"] = "bob@example.com"
    built["Bcc"] = "eve@example.com"
    built["Subject"] = "long " * 39 + "long"
    built.set_content("one\ntwo\n")
    env = envelope(built)
    assert env.recipients == ("bob@example.com", "eve@example.com")
    assert b"Bcc" not in env.data and b"\n" not in env.data.replace(b"\r\n", b"")
    assert env.data == message_bytes(built).replace(b"Bcc: eve@example.com\r\n", b"")
    assert env.data.endswith(b"\r\n\r\none\r\ntwo\r\n")


def test_malformed_or_unroutable_input_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="From"):
        envelope(b"To: bob@example.com\r\n\r\nhi\r\n")
    with pytest.raises(ParseError, match="To, Cc or Bcc"):
        envelope(b"From: alice@example.com\r\n\r\nhi\r\n")
    with pytest.raises(ParseError, match="control"):
        envelope(MESSAGE, recipients=["bob@example.com\r\nRCPT TO:<x@evil.example>"])
    with pytest.raises(ParseError, match="control"):
        envelope(MESSAGE, sender="a@example.com\r\nRCPT TO:<x@evil.example>")
    with pytest.raises(ParseError):
        envelope(MESSAGE, sender="a@example.com, b@example.com")
    with pytest.raises(ParseError, match="neither ASCII nor UTF-8"):
        envelope(b"From: a@example.com\r\nTo: caf\xe9@example.com\r\n\r\nhi\r\n")
    # a wrong type is the caller's error, not malformed input
    with pytest.raises(UsageError, match=r"a binary file object, not int"):
        envelope(42)  # type: ignore[arg-type]
    with pytest.raises(ParseError):
        envelope(MESSAGE, recipients=[])


def test_send_result_is_frozen_and_reports_status() -> None:
    result = SendResult(accepted=("a@example.com",), rejected={"b@example.com": (550, "no")})
    assert result.accepted == ("a@example.com",)
    with pytest.raises(AttributeError):
        result.accepted = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.rejected["c@example.com"] = (550, "no")  # type: ignore[index]
    assert not result
    with pytest.raises(RecipientsRefusedError) as info:
        result.raise_for_status()
    assert info.value.code == 550 and dict(info.value.rejected) == {"b@example.com": (550, "no")}
    assert isinstance(info.value, TransportError)
    fine = SendResult(accepted=("a@example.com",))
    assert fine.raise_for_status() is fine and fine.ok


def test_mock_transport_records_and_obeys_its_handler() -> None:
    mock = MockTransport()
    result = send(MESSAGE, mock)
    assert mock.sent == [envelope(MESSAGE)]
    assert result.accepted == envelope(MESSAGE).recipients
    assert result.message_id == "<q-1@example.com>" and result.transport == "mock"

    def refuse_eve(env: Envelope) -> SendResult:
        refused = {r: (550, "gone") for r in env.recipients if r == "eve@example.com"}
        kept = tuple(r for r in env.recipients if r not in refused)
        return SendResult(accepted=kept, rejected=refused)

    picky = MockTransport(refuse_eve)
    results = picky.send_many([MESSAGE, WIRE])
    assert [r.ok for r in results] == [False, True]
    assert len(picky.sent) == 2


def test_any_object_with_send_is_a_transport() -> None:
    class Printer:
        def __init__(self) -> None:
            self.seen: list[bytes] = []

        def send(self, message: Any, *, sender: str | None = None,
                 recipients: Any = None) -> SendResult:
            self.seen.append(envelope(message, sender, recipients).data)
            return SendResult(transport="printer")

    printer = Printer()
    assert isinstance(printer, Transport)
    assert isinstance(SMTPTransport("localhost"), Transport)
    assert send(MESSAGE, printer).transport == "printer"
    assert printer.seen == [WIRE]


def test_send_refuses_async_transports_and_asend_takes_both() -> None:
    with pytest.raises(InvalidOptionError, match="asend"):
        send(MESSAGE, AsyncSMTPTransport("localhost"))  # type: ignore[arg-type]
    mock = MockTransport()
    result = asyncio.run(asend(MESSAGE, mock, recipients=["z@example.com"]))
    assert result.accepted == ("z@example.com",)


def test_with_blocks_nest_and_open_once() -> None:
    events: list[str] = []

    class Counting(MockTransport):
        def open(self) -> None:
            events.append("open")

        def close(self) -> None:
            events.append("close")

    transport = Counting()
    with transport:
        with transport:
            transport.send_many([MESSAGE])
        assert transport.is_open
    assert events == ["open", "close"] and not transport.is_open


def test_missing_extras_name_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.setitem(sys.modules, "aiosmtplib", None)
    with pytest.raises(MissingExtraError, match=r"smime-sdk\[http\]") as info:
        SparkPostTransport("key").send(MESSAGE)
    assert isinstance(info.value, ImportError) and isinstance(info.value, SMIMEError)
    with pytest.raises(ImportError, match=r"smime-sdk\[async\]"):
        asyncio.run(AsyncSMTPTransport("localhost").send(MESSAGE))


def test_file_transport_is_a_transport_too(tmp_path: Any) -> None:
    assert isinstance(FileTransport(tmp_path), Transport)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "mail.example.com",
                                  "127.0.0.2", "localhost.example.com"])
def test_smtp_and_sparkpost_send_a_secret_in_clear_to_the_same_hosts_only(host: str) -> None:
    def allowed(make: Any) -> bool:
        try:
            make()
        except InvalidOptionError:
            return False
        return True

    url_host = f"[{host}]" if ":" in host else host
    smtp = allowed(lambda: SMTPTransport(host, starttls=False, username="a", password="pw"))
    api = allowed(lambda: SparkPostTransport("key", base_url=f"http://{url_host}:8025/api/v1"))
    assert smtp == api == (host in ("localhost", "127.0.0.1", "::1"))


_SECONDS = {
    "SMTPTransport.timeout": lambda v: SMTPTransport("mail.example.com", timeout=v),
    "AsyncSMTPTransport.timeout": lambda v: AsyncSMTPTransport("mail.example.com", timeout=v),
    "SparkPostTransport.timeout": lambda v: SparkPostTransport("key", timeout=v),
    "SparkPostTransport.backoff": lambda v: SparkPostTransport("key", backoff=v),
    "SparkPostTransport.max_backoff": lambda v: SparkPostTransport("key", max_backoff=v),
    "FileTransport.lock_timeout": lambda v: FileTransport("outbox", lock_timeout=v),
}


@pytest.mark.parametrize("where", sorted(_SECONDS))
@pytest.mark.parametrize("value", [-1, "30", None, True, float("nan"), float("inf")])
def test_a_wrong_number_of_seconds_is_refused_where_it_is_given(where: str, value: Any) -> None:
    """Not a ValueError or TypeError from the socket or the lock loop at the first send."""
    option = where.split(".")[1]
    with pytest.raises(InvalidOptionError, match=rf"^{option}= must be a number of seconds"):
        _SECONDS[where](value)


@pytest.mark.parametrize("where", sorted(_SECONDS))
def test_zero_seconds_is_refused_only_for_a_network_timeout(where: str) -> None:
    if where.endswith(".timeout"):
        with pytest.raises(InvalidOptionError, match="more than 0"):
            _SECONDS[where](0)
    else:
        assert getattr(_SECONDS[where](0), where.split(".")[1]) == 0
    assert getattr(_SECONDS[where](2.5), where.split(".")[1]) == 2.5


@pytest.mark.parametrize("value", [-1, "3", 1.5, True])
def test_max_retries_must_be_a_whole_number(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=r"^max_retries= must be a whole number"):
        SparkPostTransport("key", max_retries=value)
