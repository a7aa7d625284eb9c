"""SparkPostTransport against a local server that answers like the Transmissions API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from transport_servers import Answer, SparkPostAPI, crlf, openssl_sign, openssl_verify

from smime.errors import InvalidOptionError, TransportError, UnsupportedError
from smime.transports import (
    AsyncSparkPostTransport,
    NetworkError,
    NetworkTimeoutError,
    SparkPostTransport,
    sparkpost,
)

KEY = "sk-test-0123"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Cc: carol@example.com\r\n"
    b"Subject: statement\r\n"
    b"Message-ID: <sp-1@example.com>\r\n"
    b"\r\n"
    b"Dear {{name}}, see http://example.com/statement\r\n"
)


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff delays instead of waiting them out."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(sparkpost, "_sleep", slept.append)
    monkeypatch.setattr(sparkpost, "_asleep", asleep)
    return slept


def _transport(api: SparkPostAPI, key: str = KEY, **kw: Any) -> SparkPostTransport:
    return SparkPostTransport(key, base_url=api.url, **kw)


def test_request_is_what_the_api_expects() -> None:
    with SparkPostAPI() as api:
        result = _transport(api).send(MESSAGE)
    [request] = api.requests
    assert request.method == "POST" and request.path == "/api/v1/transmissions"
    assert request.headers["Authorization"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == {"options", "recipients", "content"}
    assert body["options"] == {
        "open_tracking": False, "click_tracking": False, "perform_substitutions": False,
        "transactional": True,
    }
    assert body["recipients"] == [{"address": {"email": "bob@example.com"}},
                                  {"address": {"email": "carol@example.com"}}]
    assert body["content"] == {"email_rfc822": MESSAGE.decode()}
    assert result.accepted == ("bob@example.com", "carol@example.com")
    assert result.server_id == "117100001"
    assert result.message_id == "<sp-1@example.com>"
    assert result.transport == "sparkpost" and result.ok


def test_bcc_recipients_overrides_and_return_path() -> None:
    with_bcc = MESSAGE.replace(b"Cc: carol@example.com\r\n",
                               b"Cc: carol@example.com\r\nBcc: dave@example.com\r\n")
    with SparkPostAPI() as api:
        transport = _transport(api, transactional=False, options={"ip_pool": "signed"})
        transport.send(with_bcc)
        transport.send(MESSAGE, sender="bounce@mail.example.com", recipients="zed@example.com")
    first, second = (r.json() for r in api.requests)
    assert [r["address"]["email"] for r in first["recipients"]] == [
        "bob@example.com", "carol@example.com", "dave@example.com"]
    assert first["content"]["email_rfc822"] == MESSAGE.decode()
    assert "return_path" not in first
    assert first["options"]["transactional"] is False
    assert first["options"]["ip_pool"] == "signed"
    assert second["recipients"] == [{"address": {"email": "zed@example.com"}}]
    assert second["return_path"] == "bounce@mail.example.com"


def test_signed_message_goes_unchanged_and_verifies(
    openssl: str, pki: Any, tmp_path: Path
) -> None:
    signed = crlf(openssl_sign(openssl, pki, tmp_path))
    with SparkPostAPI() as api:
        _transport(api).send(signed)
    rfc822 = api.requests[0].json()["content"]["email_rfc822"]
    assert rfc822.encode() == signed
    content = openssl_verify(openssl, pki, rfc822.encode(), tmp_path)
    assert b"{{not_a_template}}" in content


def test_api_error_body_becomes_a_transport_error() -> None:
    error = {"errors": [{"message": "Message generation rejected", "code": "1902",
                         "description": "recipient address suppressed due to policy"}]}
    with SparkPostAPI([(400, error, {})]) as api, pytest.raises(TransportError) as info:
        _transport(api).send(MESSAGE)
    assert info.value.status == 400 and info.value.code == "1902"
    assert info.value.text == ("Message generation rejected: "
                               "recipient address suppressed due to policy")
    assert "1902" in str(info.value) and "suppressed" in str(info.value)
    assert len(api.requests) == 1


def test_wrong_api_key_is_401_and_the_key_is_never_echoed() -> None:
    secret = "sk-live-wrong-SECRET-42"
    with SparkPostAPI() as api:
        transport = _transport(api, key=secret)
        with pytest.raises(TransportError) as info:
            transport.send(MESSAGE)
    assert info.value.status == 401
    assert "API key" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(transport)
    assert api.requests[0].headers["Authorization"] == secret
    assert len(api.requests) == 1


def test_429_is_retried_honouring_retry_after(no_sleeping: list[float]) -> None:
    busy: Answer = (429, {"errors": [{"message": "Too many requests"}]}, {"Retry-After": "2"})
    with SparkPostAPI([busy, None]) as api:
        result = _transport(api).send(MESSAGE)
    assert result.ok and result.server_id == "117100002"
    assert len(api.requests) == 2
    assert no_sleeping == [2.0]
    assert api.requests[0].body == api.requests[1].body


def test_503_forever_gives_up_after_bounded_retries(no_sleeping: list[float]) -> None:
    down: Answer = (503, "<html>Service Unavailable</html>", {})
    with SparkPostAPI([down]) as api, pytest.raises(TransportError) as info:
        _transport(api, max_retries=3, backoff=0.5, jitter=False).send(MESSAGE)
    assert info.value.status == 503
    assert len(api.requests) == 4
    assert no_sleeping == [0.5, 1.0, 2.0]


def test_retry_after_beyond_max_backoff_is_not_waited_for(no_sleeping: list[float]) -> None:
    busy: Answer = (429, {"errors": [{"message": "Too many requests"}]}, {"Retry-After": "3600"})
    with SparkPostAPI([busy]) as api, pytest.raises(TransportError, match="after 3600") as info:
        _transport(api).send(MESSAGE)
    assert info.value.status == 429 and no_sleeping == [] and len(api.requests) == 1


def test_connection_refused_is_retried_then_an_error(no_sleeping: list[float]) -> None:
    with SparkPostAPI() as api:
        url = api.url
    with pytest.raises(TransportError, match="did not reach SparkPost"):
        SparkPostTransport(KEY, base_url=url, max_retries=2, jitter=False).send(MESSAGE)
    assert no_sleeping == [0.5, 1.0]


def test_partial_rejection_is_reported_unconfirmed() -> None:
    partial: Answer = (200, {"results": {"total_rejected_recipients": 1,
                                 "total_accepted_recipients": 1, "id": "99"}}, {})
    with SparkPostAPI([partial]) as api:
        result = _transport(api).send(MESSAGE)
    assert not result.ok and result.accepted == ()
    assert result.unconfirmed == ("bob@example.com", "carol@example.com")
    assert "accepted 1 and rejected 1" in (result.reply or "")
    with pytest.raises(TransportError):
        result.raise_for_status()


def test_a_users_client_is_used_and_left_open() -> None:
    with SparkPostAPI() as api, httpx.Client() as client:
        transport = SparkPostTransport(KEY, base_url=api.url, client=client)
        with transport:
            transport.send(MESSAGE)
            transport.send(MESSAGE)
        assert not client.is_closed
    assert len(api.requests) == 2


def test_options_that_rewrite_content_are_refused() -> None:
    for key in ("open_tracking", "click_tracking", "perform_substitutions"):
        with pytest.raises(InvalidOptionError, match=key):
            SparkPostTransport(KEY, options={key: True})
    with pytest.raises(InvalidOptionError, match="https"):
        SparkPostTransport(KEY, base_url="http://api.sparkpost.com/api/v1")
    with pytest.raises(InvalidOptionError):
        SparkPostTransport(KEY, base_url="https://x.example/api/v1", eu=True)
    with pytest.raises(InvalidOptionError):
        SparkPostTransport("")


def test_endpoints() -> None:
    assert SparkPostTransport(KEY).url == "https://api.sparkpost.com/api/v1/transmissions"
    assert SparkPostTransport(KEY, eu=True).url == (
        "https://api.eu.sparkpost.com/api/v1/transmissions")


def test_non_utf8_bytes_cannot_travel_as_json() -> None:
    with SparkPostAPI() as api, pytest.raises(UnsupportedError, match="UTF-8"):
        _transport(api).send(MESSAGE + b"caf\xe9\r\n")
    assert api.requests == []


def test_async_twin(no_sleeping: list[float]) -> None:
    busy: Answer = (502, {"errors": [{"message": "Bad gateway"}]}, {})

    async def main(url: str) -> None:
        async with AsyncSparkPostTransport(KEY, base_url=url, jitter=False) as transport:
            result = await transport.send(MESSAGE)
            assert result.ok and result.accepted == ("bob@example.com", "carol@example.com")

    with SparkPostAPI([busy, None]) as api:
        asyncio.run(main(api.url))
    assert len(api.requests) == 2 and no_sleeping == [0.5]
    body = json.loads(api.requests[1].body)
    assert body["content"]["email_rfc822"] == MESSAGE.decode()
    assert api.requests[1].headers["Authorization"] == KEY


# --- no answer: one rule for both shells -------------------------------------------------------

SHELLS = [SparkPostTransport, AsyncSparkPostTransport]


def _outcome(cls: type, url: str, **kw: Any) -> Any:
    """One send with ``cls`` (synchronous or asyncio): its SendResult or TransportError."""
    try:
        result = cls(KEY, base_url=url, **kw).send(MESSAGE)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except TransportError as exc:
        return exc


@pytest.mark.parametrize("cls", SHELLS)
def test_unreachable_is_retried_then_a_network_error_safe_to_send_again(
    cls: type, no_sleeping: list[float]
) -> None:
    with SparkPostAPI() as api:
        url = api.url
    error = _outcome(cls, url, max_retries=2, jitter=False)
    assert type(error) is NetworkError and not error.maybe_sent
    assert "did not reach SparkPost" in str(error)
    assert no_sleeping == [0.5, 1.0]


@pytest.mark.parametrize("cls", SHELLS)
def test_a_hang_up_after_the_request_may_have_sent_and_is_not_retried(
    cls: type, no_sleeping: list[float]
) -> None:
    with SparkPostAPI() as api:
        api.hang_up = True
        error = _outcome(cls, api.url)
    assert type(error) is NetworkError and error.maybe_sent
    assert "may exist" in str(error)
    assert len(api.requests) == 1 and no_sleeping == []


@pytest.mark.parametrize("cls", SHELLS)
def test_no_answer_in_time_is_a_timeout_that_may_have_sent(
    cls: type, no_sleeping: list[float]
) -> None:
    with SparkPostAPI() as api:
        api.delay = 2
        error = _outcome(cls, api.url, timeout=0.3)
    assert type(error) is NetworkTimeoutError and error.maybe_sent
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert len(api.requests) == 1 and no_sleeping == []


@pytest.mark.parametrize("cls", SHELLS)
def test_both_shells_retry_alike(cls: type, no_sleeping: list[float]) -> None:
    busy: Answer = (429, {"errors": [{"message": "Too many requests"}]}, {"Retry-After": "2"})
    down: Answer = (503, "<html>Service Unavailable</html>", {})
    with SparkPostAPI([busy, down, None]) as api:
        result = _outcome(cls, api.url, jitter=False)
    assert result.ok and result.server_id == "117100003"
    assert no_sleeping == [2.0, 1.0]
    assert len({r.body for r in api.requests}) == 1
