"""Real servers on 127.0.0.1 for the transport tests, and openssl-made signed mail.

An aiosmtpd SMTP server that records envelopes and exact DATA bytes and counts
connections; a raw socket server that misbehaves (hangs up, never answers); a fake
SparkPost API on http.server; a TLS server certificate from the test PKI's helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smime.testing import make_ca

HOST = "127.0.0.1"


# --- signed mail made by openssl (independent of smime.sign) -----------------------------

CONTENT = (
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"From the desk of Alice: the figures are attached.\r\n"
    b".a line that starts with a dot\r\n"
    b"{{not_a_template}}\r\n"
    b"Regards\r\n"
)

OUTER = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Cc: carol@example.com\r\n"
    b"Subject: Signed figures\r\n"
    b"Message-ID: <signed-1@example.com>\r\n"
)


def openssl_sign(openssl: str, pki: Any, folder: Path) -> bytes:
    """A detached multipart/signed message from ``openssl cms -sign``, outer headers first."""
    content = folder / "content.txt"
    content.write_bytes(CONTENT)
    user = pki["alice"]
    done = subprocess.run(
        [openssl, "cms", "-sign", "-in", str(content), "-signer", str(user.cert_path),
         "-inkey", str(user.key_path), "-certfile", str(pki.intermediate_path), "-crlfeol"],
        capture_output=True, timeout=60, check=True,
    )
    return OUTER + done.stdout


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def openssl_verify(openssl: str, pki: Any, message: bytes, folder: Path) -> bytes:
    """The signed content if ``openssl cms -verify`` accepts ``message``; else AssertionError."""
    path = folder / "to-verify.eml"
    path.write_bytes(message)
    done = subprocess.run(
        [openssl, "cms", "-verify", "-in", str(path), "-CAfile", str(pki.root_path),
         "-purpose", "smimesign"],
        capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


# --- TLS -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    root_path: Path
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def make_tls(folder: Path, *, dns_names: tuple[str, ...] = ("localhost",)) -> TLSFiles:
    """A throwaway TLS root and a server certificate for 127.0.0.1 and ``dns_names``
    (none: a certificate for the IP address alone, named by it)."""
    root = make_ca("Transport Test TLS Root", key_type="ec-p256")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(
            NameOID.COMMON_NAME, dns_names[0] if dns_names else HOST)]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            *names, x509.IPAddress(ipaddress.ip_address(HOST)),
        ]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = serialization.Encoding.PEM
    root_path = folder / "tls-root.pem"
    root_path.write_bytes(root.certificate.public_bytes(pem))
    chain_path = folder / "tls-server.pem"
    chain_path.write_bytes(cert.public_bytes(pem))
    key_path = folder / "tls-server.key"
    key_path.write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain_path, key_path)
    client = ssl.create_default_context(cafile=str(root_path))
    return TLSFiles(root_path, server, client)


# --- SMTP: aiosmtpd --------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]


@dataclass
class RecordingHandler:
    """Records each message; refuses the addresses in ``refuse`` (550 as recipient, 553 as
    sender)."""

    refuse: set[str] = field(default_factory=set)
    reply: str = "250 2.0.0 Ok: queued as Q1234"
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if address in self.refuse:
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.received.append(Received(
            str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content,
            list(envelope.mail_options),
        ))
        return self.reply


@dataclass
class DroppingHandler(RecordingHandler):
    """A RecordingHandler that misbehaves at ``drop``, for the next ``times`` connections:

    - "connect": hangs up as soon as the client connects (no greeting);
    - "mail": hangs up on MAIL, without a reply;
    - "data": takes the whole message (and records it), then hangs up before the reply;
    - "421": answers MAIL with 421 (service closing);
    - "slow-data": takes the whole message, then waits ``delay`` seconds before replying.

    Arm it once the server runs: aiosmtpd's start-up probe must get through.
    """

    drop: str | None = None
    times: int = 1
    delay: float = 2.0

    def misbehaves(self, server: SMTP, at: str) -> bool:
        """True (and the connection closed, unless the fault is a reply) when it is time."""
        if self.drop != at or self.times <= 0:
            return False
        self.times -= 1
        if at in ("connect", "mail", "data"):
            assert server.transport is not None
            server.transport.close()
        return True

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.misbehaves(server, "421"):
            return "421 4.3.2 Service shutting down"
        if self.misbehaves(server, "mail"):
            return "250 2.1.0 never sent: the connection is closed"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.misbehaves(server, "slow-data"):
            await asyncio.sleep(self.delay)
        self.misbehaves(server, "data")
        return reply


class _SMTP(SMTP):
    """aiosmtpd's server, letting a DroppingHandler hang up as soon as a client connects."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(self.event_handler, DroppingHandler):
            self.event_handler.misbehaves(self, "connect")


class _Controller(Controller):
    """aiosmtpd's Controller on an ephemeral port, counting connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        smtp = _SMTP(self.handler, **self.SMTP_kwargs)
        self.sessions.append(smtp)
        return smtp

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def hang_up_all(self) -> None:
        """Close every open connection from the server side, and wait until it is closed."""
        async def close() -> None:
            for smtp in self.sessions:
                if smtp.transport is not None:
                    smtp.transport.close()
            await asyncio.sleep(0.01)
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)


def password_checker(login: str, password: str) -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
              auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == login.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return check


@contextmanager
def smtp_server(handler: RecordingHandler, **kwargs: Any) -> Iterator[_Controller]:
    """aiosmtpd on 127.0.0.1; ``kwargs`` go to Controller / aiosmtpd.smtp.SMTP."""
    controller = _Controller(handler, hostname=HOST, port=0, **kwargs)
    controller.start()
    controller.sessions.clear()  # the start-up probe is no client's connection
    try:
        yield controller
    finally:
        controller.stop()


# --- SMTP: a misbehaving raw server ----------------------------------------------------------


class RawSMTPServer:
    """``mode``: "hangup" (greets, then closes), "data" (closes in the middle of DATA),
    "silent" (accepts and never says a word)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawSMTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        if self.mode == "silent":
            self._stop.wait(10)
            return
        conn.sendall(b"220 raw.test ESMTP\r\n")
        if self.mode == "hangup":
            return
        stream = conn.makefile("rb")
        for line in stream:
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-raw.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                stream.readline()
                return
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


# --- SparkPost -------------------------------------------------------------------------------


@dataclass
class APIRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any, dict[str, str]]


class SparkPostAPI:
    """Answers ``POST /api/v1/transmissions`` like SparkPost, from a script of answers.

    ``answers`` are used in order, the last one repeating; ``None`` means the real API's
    success answer. A wrong ``Authorization`` header gets 401 whatever the script says.
    """

    def __init__(
        self, answers: list[Answer | None] | None = None, api_key: str = "sk-test-0123"
    ) -> None:
        self.answers = list(answers or [None])
        self.api_key = api_key
        self.requests: list[APIRequest] = []
        self.hang_up = False  # read the request, then close without an answer
        self.delay = 0.0  # seconds to wait before answering
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                api.requests.append(APIRequest("POST", self.path, dict(self.headers), body))
                if api.hang_up:
                    self.close_connection = True
                    return
                time.sleep(api.delay)
                status, payload, headers = api._answer(self.path, self.headers, body)
                raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                with contextlib.suppress(ConnectionError):  # a client that timed out left
                    self.end_headers()
                    self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/api/v1"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def _answer(self, path: str, headers: Any, body: bytes) -> Answer:
        if path != "/api/v1/transmissions":
            return 404, {"errors": [{"message": "Not found"}]}, {}
        if headers.get("Authorization") != self.api_key:
            return 401, {"errors": [{"message": "Unauthorized."}]}, {}
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        answer = self.answers[index]
        if answer is not None:
            return answer
        count = len(json.loads(body)["recipients"])
        return 200, {"results": {"total_rejected_recipients": 0,
                                 "total_accepted_recipients": count,
                                 "id": f"1171{len(self.requests):05d}"}}, {}

    def __enter__(self) -> SparkPostAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


# --- FileTransport across processes -----------------------------------------------------------


def numbered_message(writer: int, number: int) -> bytes:
    return (
        f"From: writer{writer}@example.com\r\n"
        f"To: archive@example.com\r\n"
        f"Subject: message {writer}-{number}\r\n"
        f"Message-ID: <{writer}.{number}@example.com>\r\n"
        f"\r\n"
        f"Body of message {writer}-{number}.\r\n" + "x" * (number * 37 % 900) + "\r\n"
    ).encode()


def write_many(folder: str, writer: int, count: int, start: Any) -> None:
    """Child-process entry point: once every writer is ready (``start``, a Barrier), write
    ``count`` numbered messages into ``folder``/shared.{eml,maildir,mbox}, interleaved."""
    from smime.transports import FileTransport

    transports = [FileTransport(Path(folder) / f"shared.{format}", format=format)
                  for format in ("eml", "maildir", "mbox")]
    start.wait(60)
    for number in range(count):
        for transport in transports:
            transport.send(numbered_message(writer, number))
