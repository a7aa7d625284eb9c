"""Small helpers the API-level tests share: plain messages, running openssl, trust stores."""

from __future__ import annotations

import subprocess
from email.message import EmailMessage
from pathlib import Path

PLAIN = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: Quarterly statement\r\n"
    b"Date: Sun, 29 Nov 2026 08:00:00 +0000\r\n"
    b"Message-ID: <statement-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"Your statement is attached.\r\n"
    b"Balance: 1,234.56 EUR\r\n"
)


def plain_message(
    sender: str = "alice@example.com", body: str = "Hello Bob,\nsee you.\n"
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Hello"
    msg.set_content(body)
    return msg


def run(
    *cmd: str | Path, input: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, timeout=120)
    if check and done.returncode != 0:
        command = " ".join(map(str, cmd))
        stderr = done.stderr.decode(errors="replace")
        raise AssertionError(f"{command} exited {done.returncode}: {stderr}")
    return done


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain", "html")) if msg.is_multipart() else msg
    assert part is not None
    return str(part.get_content())


def tlv(tag: int, *parts: bytes) -> bytes:
    """One definite-length DER element."""
    body = b"".join(parts)
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    size = (len(body).bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + len(body).to_bytes(size, "big") + body
