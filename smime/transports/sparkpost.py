"""Sending through the SparkPost Transmissions API (``httpx``, the optional ``http`` extra).

The finished message goes unchanged as ``content.email_rfc822``. Three SparkPost
features rewrite content and would break a signature, so they are always off and asking
for them is an error: open tracking (adds a pixel to the HTML part), click tracking
(rewrites links) and substitution (expands ``{{...}}`` in headers and the first text and
HTML parts of RFC 822 content).

Retries: 429 and 5xx answers, and connection failures before the request left, are
retried with exponential backoff (``Retry-After`` honoured). A timeout while waiting for
the answer is not retried: the transmission may exist, and a retry could send twice
(``NetworkError.maybe_sent``).
The API key goes only into the ``Authorization`` header: never into logs, ``repr`` or
exception text.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar
from urllib.parse import urlsplit

from .._log import transports as _LOG
from ..errors import InvalidOptionError, Option, TransportError, UnsupportedError
from ..options import check_count, check_seconds
from ._steps import arun, run
from .base import (
    AsyncBaseTransport,
    BaseTransport,
    NetworkError,
    NetworkTimeoutError,
    Prepared,
    SendResult,
    is_loopback,
    optional_module,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_BASE_URL", "EU_BASE_URL", "AsyncSparkPostTransport", "SparkPostTransport"]

DEFAULT_BASE_URL = "https://api.sparkpost.com/api/v1"
EU_BASE_URL = "https://api.eu.sparkpost.com/api/v1"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_FORCED_OFF = ("open_tracking", "click_tracking", "perform_substitutions")
_sleep = time.sleep
_Client = TypeVar("_Client")
_asleep = asyncio.sleep


def _httpx() -> ModuleType:
    return optional_module("httpx", "http", "SparkPostTransport")


@dataclass(frozen=True)
class _Post:
    """POST this body to the Transmissions API; answered by the response (or what the
    client raised)."""

    body: bytes = field(repr=False)


@dataclass(frozen=True)
class _Pause:
    """Wait before the next attempt."""

    seconds: float


_Steps: TypeAlias = Generator["_Post | _Pause", "httpx.Response | None", SendResult]


class _SparkPost(Generic[_Client]):
    """Request building, answer parsing and the retry policy, without I/O, shared by both
    transports: :meth:`_steps` yields what to do and the shells do it."""

    name: ClassVar[str] = "sparkpost"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        eu: bool = False,
        transactional: bool = True,
        timeout: float = 30,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30,
        jitter: bool = True,
        return_path: str | None = None,
        options: Mapping[str, Any] | None = None,
        client: _Client | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key or not api_key.isprintable():
            raise InvalidOptionError("api_key must be a non-empty printable string")
        if base_url is not None and eu:
            raise InvalidOptionError.naming(
                "give either ", Option("base_url=..."), " or ", Option("eu=True"), ", not both")
        url = (base_url or (EU_BASE_URL if eu else DEFAULT_BASE_URL)).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and is_loopback(parts.hostname or "")
        ):
            raise InvalidOptionError(
                f"base_url must be an https:// URL (http:// only for a local test server): {url}"
            )
        for key in _FORCED_OFF:
            if (options or {}).get(key):
                raise InvalidOptionError(
                    f"options[{key!r}] must stay false: SparkPost would rewrite the message "
                    "and break its signature"
                )
        check_seconds("timeout", timeout)
        check_seconds("backoff", backoff, zero=True)
        check_seconds("max_backoff", max_backoff, zero=True)
        check_count("max_retries", max_retries, least=0)
        self._api_key = api_key
        self.base_url = url
        self.transactional = transactional
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.return_path = return_path
        self.options = dict(options or {})
        self._client = client
        self._own: _Client | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def url(self) -> str:
        return f"{self.base_url}/transmissions"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": self._api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _body(self, prepared: Prepared) -> bytes:
        env = prepared.envelope
        try:
            rfc822 = env.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedError(
                "SparkPost takes the message as a JSON string, so its bytes must be UTF-8; "
                "encode 8-bit parts as quoted-printable or base64"
            ) from exc
        options = {**self.options, "transactional": self.transactional}
        options.update(dict.fromkeys(_FORCED_OFF, False))
        payload: dict[str, Any] = {
            "options": options,
            "recipients": [{"address": {"email": r}} for r in env.recipients],
            "content": {"email_rfc822": rfc822},
        }
        return_path = self.return_path or (env.sender if prepared.explicit_sender else None)
        if return_path:
            payload["return_path"] = return_path
        return json.dumps(payload).encode("ascii")

    def _steps(self, prepared: Prepared) -> _Steps:
        """Post, retrying refused connections, 429 and 5xx with backoff; the result."""
        httpx = _httpx()
        body = self._body(prepared)
        attempt = 0
        while True:
            _LOG.debug("sparkpost: posting %d bytes to %s (attempt %d)", len(body), self.url,
                       attempt + 1)
            try:
                response = yield _Post(body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt >= self.max_retries:
                    raise _lost(exc, f"{_NOT_SENT} at {self.base_url}: {exc}", False) from exc
                response = None
            except httpx.HTTPError as exc:
                raise _lost(exc, _MAYBE_SENT.format(type(exc).__name__), True) from exc
            if response is not None and (
                response.status_code not in _RETRY_STATUS or attempt >= self.max_retries
            ):
                return self._result(prepared, response)
            wait = self._delay(attempt, response)
            _LOG.info("sparkpost: answer %s; retrying in %.1f s (retry %d of %d)",
                      "none (cannot connect)" if response is None else response.status_code,
                      wait, attempt + 1, self.max_retries)
            yield _Pause(wait)
            attempt += 1

    def _client_or_own(self) -> _Client | None:
        """The client to use: the caller's, else the one a ``with`` block opened."""
        return self._client if self._client is not None else self._own

    def _session(self, make: Callable[..., Any]) -> Any:
        """A context manager giving the client for one send: the caller's or the ``with``
        block's (left open), else a new one from ``make`` (closed after the send)."""
        client = self._client_or_own()
        return nullcontext(client) if client is not None else make(timeout=self.timeout)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based)."""
        wait = min(self.max_backoff, self.backoff * 2.0**attempt)
        if self.jitter:
            wait *= 0.5 + random.random() / 2
        header = response.headers.get("retry-after") if response is not None else None
        asked = _retry_after_seconds(header) if header else None
        if response is not None and asked is not None:
            if asked > self.max_backoff:
                raise _error(response, f" (it asks to retry after {asked:.0f} s)")
            wait = asked
        return wait

    def _result(self, prepared: Prepared, response: httpx.Response) -> SendResult:
        if response.status_code >= 300:
            raise _error(response)
        try:
            results = response.json()["results"]
            accepted = int(results.get("total_accepted_recipients", 0))
            rejected = int(results.get("total_rejected_recipients", 0))
            ident = results.get("id")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TransportError(
                f"SparkPost answered {response.status_code} with an unexpected body: "
                f"{response.text[:200]!r}", status=response.status_code,
            ) from exc
        recipients = prepared.envelope.recipients
        reply = f"SparkPost accepted {accepted} and rejected {rejected} recipient(s)"
        if accepted == 0 and rejected:
            raise TransportError(reply, status=response.status_code, text=reply)
        return SendResult(
            accepted=recipients if not rejected else (),
            unconfirmed=recipients if rejected else (),
            message_id=prepared.message_id,
            server_id=str(ident) if ident is not None else None,
            reply=reply,
            transport=self.name,
        )


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _error(response: httpx.Response, extra: str = "") -> TransportError:
    """A TransportError from SparkPost's ``{"errors": [{message, code, description}]}``."""
    status = response.status_code
    code: str | None = None
    text = response.text[:200]
    try:
        errors = response.json()["errors"]
        first = errors[0]
        code = str(first["code"]) if first.get("code") is not None else None
        text = "; ".join(
            ": ".join(str(e[k]) for k in ("message", "description") if e.get(k)) for e in errors
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        pass
    hint = ""
    if status in (401, 403):
        hint = " (check the API key and that it may use Transmissions: Read/Write)"
    described = f" code {code}:" if code else ":"
    return TransportError(
        f"SparkPost answered {status}{described} {text}{hint}{extra}",
        status=status, code=code, text=text,
    )


_NOT_SENT = "the request did not reach SparkPost"
_MAYBE_SENT = ("no complete answer from SparkPost ({}); the transmission may exist, "
               "so it is not retried")


def _lost(exc: Exception, message: str, maybe_sent: bool) -> NetworkError:
    """The NetworkError for a request that got no answer (a timeout is its own kind)."""
    kind = NetworkTimeoutError if isinstance(exc, _httpx().TimeoutException) else NetworkError
    return kind(message, maybe_sent=maybe_sent)


class SparkPostTransport(_SparkPost["httpx.Client"], BaseTransport):
    """Send through SparkPost: ``POST {base_url}/transmissions``.

    ``eu=True`` uses the EU endpoint. ``client`` may be an ``httpx.Client`` of your own
    (proxies, tests); it is used as is (its timeout too) and never closed by us.
    ``return_path`` (a verified bounce domain) sets the envelope sender; so does an
    explicit ``send(sender=...)``. ``options`` adds transmission options (``ip_pool``,
    ``sandbox``...). Send ASCII or UTF-8 messages only (S/MIME output always is).
    """

    def open(self) -> None:
        if self._client_or_own() is None:
            self._own = _httpx().Client(timeout=self.timeout)

    def close(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            own.close()

    def _deliver(self, prepared: Prepared) -> SendResult:
        with self._session(_httpx().Client) as client:
            return run(self._steps(prepared), lambda step: self._do(step, client))

    def _do(self, step: _Post | _Pause, client: httpx.Client) -> httpx.Response | Exception | None:
        if isinstance(step, _Pause):
            _sleep(step.seconds)
            return None
        try:
            return client.post(self.url, content=step.body, headers=self._headers())
        except Exception as exc:  # handed to the core, which knows which ones to retry
            return exc


class AsyncSparkPostTransport(_SparkPost["httpx.AsyncClient"], AsyncBaseTransport):
    """The asyncio twin of :class:`SparkPostTransport` (``client``: an ``httpx.AsyncClient``)."""

    async def open(self) -> None:
        if self._client_or_own() is None:
            self._own = _httpx().AsyncClient(timeout=self.timeout)

    async def aclose(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            await own.aclose()

    async def _deliver(self, prepared: Prepared) -> SendResult:
        async with self._session(_httpx().AsyncClient) as client:
            return await arun(self._steps(prepared), lambda step: self._do(step, client))

    async def _do(
        self, step: _Post | _Pause, client: httpx.AsyncClient
    ) -> httpx.Response | Exception | None:
        if isinstance(step, _Pause):
            await _asleep(step.seconds)
            return None
        try:
            return await client.post(self.url, content=step.body, headers=self._headers())
        except Exception as exc:  # handed to the core, which knows which ones to retry
            return exc
