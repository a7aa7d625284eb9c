"""The ``smime`` command (also ``python -m smime``), built on the public API only.

Exit status: 0 success (for ``verify``: valid), 1 a signature is not valid, 2 a usage or
input error, reported in one line on standard error, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import smime

from . import certs, commands, demo, send
from ._io import CLIError, printable
from ._words import error_text
from .progress import Progress

__all__ = ["build_parser", "main"]

USAGE_ERROR = 2
INTERRUPTED = 130

EPILOG = """\
examples:
  smime sign --identity alice.p12 letter.eml | smime encrypt --recipient bob.pem -o sealed.eml
  smime decrypt --identity bob.p12 sealed.eml | smime verify --trust roots.pem
  smime demo

Passwords come from --password-file FILE, --password-fd N, --password-env NAME or
SMIME_PASSWORD (the SMTP password: SMIME_SMTP_PASSWORD), else a prompt on a terminal; the
SparkPost key from SPARKPOST_API_KEY: never from the command line.
Exit status: 0 success (verify: valid), 1 signature not valid, 2 usage or input error,
3 send: some recipients refused or not confirmed.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smime",
        description="Sign, encrypt, decrypt, verify, inspect and send S/MIME email.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"smime {smime.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    sub.required = True
    commands.register(sub)
    send.register(sub)
    demo.register(sub)
    certs.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(error_text(exc).split())
    return text or type(exc).__name__


def _fail(message: str, progress: Progress | None) -> int:
    if progress is not None:
        progress.clear()
    print(f"smime: error: {printable(message)}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    progress: Progress | None = None
    try:
        args = build_parser().parse_args(argv)
        progress = args.progress = Progress()
        if getattr(args, "stream", False):
            from .stream import run_streaming  # smime.stream only when asked for

            return run_streaming(args)
        status: int = args.func(args)
        return status
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``smime inspect big.eml | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return USAGE_ERROR
    except (CLIError, smime.errors.SMIMEError) as exc:
        return _fail(_one_line(exc), progress)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or _one_line(exc)}{where}", progress)
    except Exception as exc:  # a bug: still one line, with a way to see the details
        if os.environ.get("SMIME_DEBUG") == "1":
            raise
        return _fail(
            f"internal error ({type(exc).__name__}: {_one_line(exc)}); "
            "run with SMIME_DEBUG=1 for a traceback and please report it",
            progress,
        )
