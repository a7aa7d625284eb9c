"""The message commands in streaming mode: the input read and the output written in
blocks through :mod:`smime.stream`, so a message of any size runs in constant memory.

Not wired into the parser here: ``run_streaming(args)`` takes the namespace the sign,
encrypt, decrypt and verify parsers already make (``input``, ``output``, ``progress`` and
each command's options), plus ``command`` (the command's name) and, when the parser has
them, ``out_form`` (``smime``/``der``/``pem``) and ``content`` (a detached signature's
content file). Standard input and output are ``-``; progress goes to the terminal from
the stream's progress callback.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from email.parser import BytesHeaderParser
from typing import IO, Any

import smime
import smime.stream

from ._io import STDIO, CLIError, json_text, read_file
from .commands import UNAUTHENTICATED_WARNING, is_signed, verification_text
from .identity import load_identity
from .progress import Progress

__all__ = ["run_streaming"]


def _size(source: str) -> int | None:
    """The input's size when it is a regular file (for a percentage), else None."""
    try:
        info = os.stat(source) if source != STDIO else os.fstat(sys.stdin.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _source(path: str) -> str | IO[bytes]:
    return sys.stdin.buffer if path == STDIO else path


def _target(path: str) -> str | IO[bytes]:
    return sys.stdout.buffer if path == STDIO else path


def _recipients(args: argparse.Namespace) -> tuple[list[Any], smime.CertificateStore | None]:
    store = None
    if getattr(args, "store", None):
        if not os.path.isfile(args.store):
            raise CLIError(f"no certificate store at {args.store} "
                           "(create one with smime certs import)")
        store = smime.CertificateStore(args.store)
    recipients: list[Any] = []
    for value in args.recipient:
        if smime.api.looks_like_address(value):
            if store is None:
                raise CLIError(f"--recipient {value} is an address: add --store DB, a "
                               "certificate store that holds its certificate")
            recipients.append(value)
        else:
            recipients.extend(smime.load_certificates(read_file(value)))
    return recipients, store


def _signed_output(path: str) -> bool:
    """Whether the decrypted message written to ``path`` is itself signed (so tampering
    would show); unknown, so not, on standard output."""
    if path == STDIO:
        return False
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    return is_signed(BytesHeaderParser().parsebytes(head))


def run_streaming(args: argparse.Namespace) -> int:
    """Run ``args.command`` (sign, encrypt, decrypt or verify) in blocks."""
    progress: Progress = args.progress
    total = _size(args.input)

    def report(done: int) -> None:
        progress.update("reading", done, total)

    src = _source(args.input)
    form: smime.stream.OutputFormat = getattr(args, "out_form", None) or "smime"
    try:
        if args.command == "sign":
            smime.stream.sign(
                src, _target(args.output), load_identity(args), detached=not args.opaque,
                digest=args.digest, signature_padding="pss" if args.pss else "pkcs1v15",
                format=form, progress=report,
            )
        elif args.command == "encrypt":
            recipients, store = _recipients(args)
            smime.stream.encrypt(
                src, _target(args.output), recipients, cipher=args.cipher,
                key_transport=args.key_transport, store=store, format=form, progress=report,
            )
        elif args.command == "decrypt":
            info = smime.stream.decrypt(
                src, _target(args.output), load_identity(args),
                require_authenticated=args.require_authenticated, progress=report,
            )
            if not info.authenticated and not _signed_output(args.output):
                progress.clear()
                print(UNAUTHENTICATED_WARNING.format(cipher=info.cipher), file=sys.stderr)
        elif args.command == "verify":
            return _verify(args, src, report)
        else:
            raise CLIError(f"{args.command} has no streaming mode")
    finally:
        progress.clear()
    return 0


def _verify(args: argparse.Namespace, src: str | IO[bytes], report: Any) -> int:
    for path in args.trust:
        if not os.path.exists(path):
            raise CLIError(f"cannot read {path}: No such file or directory")
    output = args.output  # None: the content is not wanted
    result = smime.stream.verify(
        src, trust=smime.TrustStore.from_pem(list(args.trust)),
        content=getattr(args, "content", None),
        output=None if output is None else _target(output),
        crls=[read_file(path) for path in args.crl], at=args.at,
        revocation=args.revocation, fetch=args.fetch, progress=report,
    )
    args.progress.clear()
    text = json_text(result.to_dict()) if args.json else verification_text(result)
    print(text, file=sys.stderr if output == STDIO else sys.stdout)
    return 0 if result.valid else 1
