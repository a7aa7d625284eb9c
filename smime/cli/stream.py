"""The message commands in streaming mode: the input read and the output written in
blocks through :mod:`smime.stream`, so a message of any size runs in constant memory.

``smime sign|encrypt|decrypt|verify --stream`` run here: ``run_streaming(args)`` takes
the namespace the parsers make (``command``, ``input``, ``output``, ``progress`` and each
command's options; ``out_form``, ``in_form`` and ``content`` where the parser has them).
Standard input and output are ``-``; progress goes to standard error from the stream's
progress callback, only when it is a terminal the output is not written to.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from typing import IO, Any, cast

import smime
import smime.stream
from smime.core.cmsfile import detect_raw_cms

from ._io import STDIO, CLIError, _is_stream, json_text, read_file
from .commands import (
    UNAUTHENTICATED_WARNING,
    _certificate_file,
    _crl_file,
    is_signed,
    verification_text,
)
from .identity import load_identity
from .progress import Progress, shares_terminal

__all__ = ["run_streaming"]


def _size(source: str) -> int | None:
    """The input's size when it is a regular file (for a percentage), else None."""
    try:
        info = os.stat(source) if source != STDIO else os.fstat(sys.stdin.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class _Peeked:
    """A binary input whose first bytes were read ahead (to tell its form), read again."""

    def __init__(self, file: IO[bytes], head: bytes) -> None:
        self._file = file
        self._head = head

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._file.read(n)
        head, self._head = self._head, b""
        return head

    def seekable(self) -> bool:
        return False


def _raw_form(head: bytes) -> str | None:
    """The form of a raw CMS file by its start, as smime.stream tells it (BER with
    indefinite lengths too), or None for a MIME message."""
    found = detect_raw_cms(head)
    if found is None and head[:1] == b"\x30":
        return "der"
    if found is None and head.lstrip()[:10] == b"-----BEGIN":
        return "pem"
    return found


#: Enough of the input to tell a raw CMS file (DER or PEM) from a MIME message.
_PEEK = 1 << 12


def _source(args: argparse.Namespace, stack: contextlib.ExitStack) -> IO[bytes]:
    """The input, opened here (errors name the file); ``--in-form`` checked on its start."""
    if args.input == STDIO:
        if sys.stdin.isatty():
            print("smime: reading the message from standard input (end with Ctrl-D)",
                  file=sys.stderr)
        file: IO[bytes] = sys.stdin.buffer
    else:
        try:
            file = stack.enter_context(open(args.input, "rb"))  # noqa: SIM115
        except IsADirectoryError:
            raise CLIError(f"cannot read {args.input}: it is a directory") from None
        except OSError as exc:
            raise CLIError(f"cannot read {args.input}: {exc.strerror or exc}") from None
    form = getattr(args, "in_form", None)
    if form is None:
        return file
    seekable = file.seekable()
    start = file.tell() if seekable else 0
    head = file.read(_PEEK)
    found = _raw_form(head)
    if (found or "smime") != form:
        what = "a MIME message" if found is None else f"a raw CMS file ({found.upper()})"
        raise CLIError(f"the input is {what}, not --in-form {form}"
                       + ("" if found is None else f": use --in-form {found}"))
    if seekable:
        file.seek(start)  # read again from there (a multipart/signed may need it twice)
        return file
    return cast("IO[bytes]", _Peeked(file, head))


@contextlib.contextmanager
def _target(path: str, *, private: bool) -> Iterator[str | IO[bytes]]:
    """Where the output goes: standard output, a terminal, pipe or device written in place,
    else the path (smime.stream writes a file beside it and renames it into place); a new
    file that is not ``private`` gets the usual mode (0666 less the umask)."""
    if path == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        in_place = _is_stream(path)
    except IsADirectoryError:
        raise CLIError(f"cannot write {path}: it is a directory") from None
    if in_place:
        with open(os.open(path, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
            yield handle
        return
    yield path
    if not private and os.path.isfile(path):
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(path, 0o666 & ~mask)


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
    would show); unknown, so not, on standard output, a pipe or a device."""
    if path == STDIO or not os.path.isfile(path):  # a pipe or device: not to be read back
        return False
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    return is_signed(BytesHeaderParser().parsebytes(head))


def run_streaming(args: argparse.Namespace) -> int:
    """Run ``args.command`` (sign, encrypt, decrypt or verify) in blocks."""
    progress: Progress = args.progress
    if args.output == STDIO and shares_terminal(progress.stream, sys.stdout):
        progress.enabled = False  # the output itself goes to that screen
    total = _size(args.input)

    def report(done: int) -> None:
        progress.update("reading", done, total)

    form: smime.stream.OutputFormat = getattr(args, "out_form", None) or "smime"
    with contextlib.ExitStack() as stack:
        try:
            return _run(args, stack, form, report)
        finally:
            progress.clear()


def _run(args: argparse.Namespace, stack: contextlib.ExitStack,
         form: smime.stream.OutputFormat, report: Any) -> int:
    if args.command == "sign":
        identity = load_identity(args)
        src = _source(args, stack)
        with _target(args.output, private=False) as dst:
            smime.stream.sign(
                src, dst, identity, detached=not args.opaque,
                digest=args.digest, signature_padding="pss" if args.pss else "pkcs1v15",
                format=form, progress=report,
            )
    elif args.command == "encrypt":
        recipients, store = _recipients(args)
        src = _source(args, stack)
        with _target(args.output, private=False) as dst:
            smime.stream.encrypt(
                src, dst, recipients, cipher=args.cipher,
                key_transport=args.key_transport, store=store, format=form, progress=report,
            )
    elif args.command == "decrypt":
        identity = load_identity(args)
        src = _source(args, stack)
        with _target(args.output, private=True) as dst:
            info = smime.stream.decrypt(
                src, dst, identity,
                require_authenticated=args.require_authenticated, progress=report,
            )
        if not info.authenticated and not _signed_output(args.output):
            args.progress.clear()
            print(UNAUTHENTICATED_WARNING.format(cipher=info.cipher), file=sys.stderr)
    elif args.command == "verify":
        return _verify(args, stack, report)
    else:
        raise CLIError(f"{args.command} has no streaming mode")
    return 0


def _verify(args: argparse.Namespace, stack: contextlib.ExitStack, report: Any) -> int:
    for path in args.trust:
        if not os.path.exists(path):
            raise CLIError(f"cannot read {path}: No such file or directory")
    trust = smime.TrustStore.from_pem(list(args.trust))
    crls = [_crl_file(path) for path in args.crl]
    certificates = [cert for path in getattr(args, "certfile", []) for cert in
                    _certificate_file(path)]
    policy = smime.VerificationPolicy(
        allow_weak_algorithms=getattr(args, "allow_weak_algorithms", False))
    content = getattr(args, "content", None)
    if content is not None and not os.path.isfile(content):
        read_file(content)  # the sentence for a missing or unreadable file
    src = _source(args, stack)
    output = args.output  # None: the content is not wanted
    dst = None if output is None else stack.enter_context(_target(output, private=True))
    result = smime.stream.verify(
        src, trust=trust, content=content, output=dst, crls=crls, certificates=certificates,
        policy=policy, at=args.at, revocation=args.revocation, fetch=args.fetch,
        progress=report,
    )
    args.progress.clear()
    text = json_text(result.to_dict()) if args.json else verification_text(result)
    print(text, file=sys.stderr if output == STDIO else sys.stdout)
    return 0 if result.valid else 1
