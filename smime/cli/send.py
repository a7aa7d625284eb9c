"""``smime send``: hand a finished message to SMTP, SparkPost or files, byte for byte."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from smime import transports

from ._io import CLIError, printable, read_input
from .commands import Subparsers, add_input, command
from .identity import add_password_options, ask_password, password_from
from .progress import Progress

__all__ = ["PARTLY_SENT", "register"]

#: Exit status when some recipients were refused or not confirmed (others were sent to).
PARTLY_SENT = 3

def host_and_port(value: str, default: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise CLIError(f"--smtp {value}: expected HOST, HOST:PORT or [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise CLIError(f"--smtp {value}: the host is missing")
    if not port_text:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CLIError(f"--smtp {value}: {port_text!r} is not a port number")
    return host, int(port_text)


def _transport(args: argparse.Namespace) -> Any:
    if args.smtp:
        host, port = host_and_port(args.smtp, 465 if args.ssl else 587)
        starttls = (not args.ssl) if args.starttls is None else args.starttls
        if args.ssl and starttls:
            raise CLIError("--ssl and --starttls exclude each other")
        password = password_from(args, "SMIME_SMTP_PASSWORD").value
        if args.user and password is None:
            password = ask_password(f"SMTP password for {args.user} at {host}: ")
        if args.user and password is None:
            raise CLIError(
                "--user needs a password: use --password-file, --password-fd or "
                "--password-env, set SMIME_SMTP_PASSWORD, or run on a terminal to be asked"
            )
        return transports.SMTPTransport(
            host, port, starttls=starttls, ssl=args.ssl, username=args.user,
            password=password if args.user else None, timeout=args.timeout,
        )
    if args.sparkpost:
        key = os.environ.get("SPARKPOST_API_KEY")
        if not key:
            raise CLIError("--sparkpost needs the API key in the SPARKPOST_API_KEY variable")
        return transports.SparkPostTransport(
            key, base_url=args.sparkpost_url, eu=args.eu, timeout=args.timeout
        )
    return transports.FileTransport(args.file, format=args.format)


def run_send(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    if (args.eu or args.sparkpost_url) and not args.sparkpost:
        raise CLIError("--eu and --sparkpost-url go with --sparkpost")
    transport = _transport(args)
    data = read_input(args.input, progress)
    progress.step("sending", len(data))
    result = transport.send(data, sender=args.sender, recipients=args.to or None)
    progress.clear()
    print(printable(_outcome(args, result)))
    for address, (code, text) in result.rejected.items():
        print(printable(f"smime: warning: {address} was refused: {code} {text}"),
              file=sys.stderr)
    if result.unconfirmed:
        print(printable(f"smime: warning: not confirmed for {', '.join(result.unconfirmed)}: "
                        f"{result.reply}"), file=sys.stderr)
    return 0 if result.ok else PARTLY_SENT


def _outcome(args: argparse.Namespace, result: transports.SendResult) -> str:
    """One line: where the message went, in the terms of the transport used."""
    to = ", ".join(result.accepted)
    if args.file:
        where = {"mbox": f"appended to the mbox {args.file} (key {result.server_id})",
                 "maildir": f"delivered to the Maildir {args.file} as {result.server_id}"}.get(
            args.format, f"written to {result.server_id or args.file}")
        return f"{where}; recipients in its headers: {to or 'none'}"
    return f"sent to {to or 'nobody'}" + (f" ({result.server_id})" if result.server_id else "")


def register(sub: Subparsers) -> None:
    p = command(sub, "send", "send a finished message unchanged (SMTP, SparkPost or files)", """
  SMIME_SMTP_PASSWORD=... smime send --smtp smtp.example.com:587 --user alice sealed.eml
  SPARKPOST_API_KEY=... smime send --sparkpost --eu signed.eml
  smime send --file outbox --format maildir signed.eml
""", run_send)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--smtp", metavar="HOST[:PORT]",
                     help="an SMTP server (port default: 587, or 465 with --ssl)")
    how.add_argument("--sparkpost", action="store_true",
                     help="SparkPost's API (key from SPARKPOST_API_KEY)")
    how.add_argument("--file", metavar="PATH",
                     help="write to files instead: a folder of .eml, an mbox or a Maildir")
    smtp = p.add_argument_group("SMTP and SparkPost")
    smtp.add_argument("--starttls", action=argparse.BooleanOptionalAction, default=None,
                      help="upgrade the connection with STARTTLS (default: on, unless --ssl)")
    smtp.add_argument("--ssl", action="store_true", help="implicit TLS (SMTPS, port 465)")
    smtp.add_argument("--user", metavar="USER",
                      help="log in as USER (password: see below)")
    add_password_options(smtp, env="SMIME_SMTP_PASSWORD", what="SMTP")
    smtp.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                      help="network timeout (default: 30)")
    p.add_argument("--eu", action="store_true", help="SparkPost's EU region")
    p.add_argument("--sparkpost-url", metavar="URL",
                   help="SparkPost API base URL (default: the US API, or the EU one with --eu)")
    p.add_argument("--format", default="eml", choices=("eml", "mbox", "maildir"),
                   help="with --file (default: eml, one file per message in a folder)")
    p.add_argument("--from", dest="sender", metavar="ADDR",
                   help="envelope sender (default: the message's From)")
    p.add_argument("--to", action="append", default=[], metavar="ADDR",
                   help="envelope recipient, repeatable (default: the message's To, Cc, Bcc)")
    add_input(p)
