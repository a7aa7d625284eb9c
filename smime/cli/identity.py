"""The identity a command acts as, and where the command line gets passwords.

Passwords never come from argv, where every user of the machine can read them in the
process list.

In order: ``--password-file FILE`` (its first line), ``--password-fd N`` (the first line
read from an open descriptor, as ``gpg`` takes it), ``--password-env NAME``, the
command's default variable (``SMIME_PASSWORD``, ``SMIME_SMTP_PASSWORD``), and last a
prompt that does not echo, when standard error is a terminal of its own (so a command in
a pipeline or under a test never waits for an answer nobody can give).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass

import smime
from smime.core.pkcs11 import is_pkcs11_uri

from ._io import CLIError, read_file

__all__ = [
    "Password",
    "add_identity_options",
    "add_password_options",
    "ask_password",
    "load_identity",
    "optional_identity",
    "password_from",
]


@dataclass(frozen=True)
class Password:
    """A password and where it came from, to name that source when it does not fit."""

    value: str | None
    source: str | None  # "--password-file", "--password-fd", "--password-env X", "X", None

    @property
    def implicit(self) -> bool:
        """From the default variable: it may be meant for other files."""
        return self.source is not None and not self.source.startswith("--")


def add_password_options(group: argparse._ArgumentGroup, *, env: str, what: str) -> None:
    sources = group.add_mutually_exclusive_group()
    sources.add_argument("--password-file", metavar="FILE",
                         help=f"read the {what} password from the first line of FILE "
                         f"(default: the {env} environment variable, else a prompt on a "
                         "terminal)")
    sources.add_argument("--password-fd", metavar="N", type=int,
                         help=f"read the {what} password from the first line of open file "
                         "descriptor N")
    sources.add_argument("--password-env", metavar="NAME",
                         help=f"read the {what} password from environment variable NAME")


def _first_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""


def _read_fd(fd: int) -> str:
    try:
        with open(fd, "rb", closefd=False) as stream:
            return _first_line(stream.readline())
    except OSError as exc:
        raise CLIError(f"--password-fd {fd}: cannot read it ({exc.strerror})") from None


def password_from(args: argparse.Namespace, env: str) -> Password:
    """The password the options or the environment give, or none."""
    file, fd, env_name = (getattr(args, f"password_{source}", None)
                          for source in ("file", "fd", "env"))
    if file is not None:
        return Password(_first_line(read_file(file, "read the password file")),
                        "--password-file")
    if fd is not None:
        return Password(_read_fd(fd), "--password-fd")
    if env_name is not None:
        value = os.environ.get(env_name)
        if value is None:
            raise CLIError(f"--password-env {env_name}: the variable is not set")
        return Password(value, f"--password-env {env_name}")
    value = os.environ.get(env)
    return Password(value, env) if value is not None else Password(None, None)


def ask_password(prompt: str) -> str | None:
    """Ask on the terminal without echo; None when nobody is there to answer."""
    if not sys.stderr.isatty():
        return None
    if os.name != "nt":  # getpass falls back to stdin, and its echo, without a tty
        try:
            os.close(os.open("/dev/tty", os.O_RDWR))
        except OSError:
            return None
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):
        raise CLIError("no password given") from None


def add_identity_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_argument_group(
        "identity", "a PKCS#12 file, a key on a PKCS#11 token (a pkcs11: URI), or a "
        "certificate and its private key" + ("" if required else " (optional)")
    )
    group.add_argument("--identity", metavar="P12",
                       help="PKCS#12 file (.p12/.pfx) with your certificate and key, or a "
                       "pkcs11: URI (RFC 7512) naming a key on a token")
    group.add_argument("--cert", metavar="PEM", help="your certificate (PEM or DER)")
    group.add_argument("--key", metavar="PEM",
                       help="your private key (PEM or DER), or a pkcs11: URI")
    group.add_argument("--pkcs11-module", metavar="SO",
                       help="the PKCS#11 library of the token, e.g. "
                       "/usr/lib/softhsm/libsofthsm2.so (default: the SMIME_PKCS11_MODULE "
                       "environment variable, else the URI's module-path)")
    add_password_options(group, env="SMIME_PASSWORD", what="PKCS#12, key or token PIN")


def optional_identity(args: argparse.Namespace) -> smime.Identity | None:
    """The identity when the options name one (``inspect`` can look deeper with it)."""
    if not (args.identity or args.cert or args.key):
        return None
    return load_identity(args)


def load_identity(args: argparse.Namespace) -> smime.Identity:
    """The identity the options name; asks for the password on a terminal when one is
    needed and none was given, and names the password's source when it does not fit."""
    chain = list(getattr(args, "chain", None) or []) or None
    if args.identity and (args.cert or args.key):
        raise CLIError("use either --identity, or --cert and --key, not both")
    if not args.identity and not (args.cert and args.key):
        if args.cert or args.key:
            raise CLIError("--cert and --key go together: give both")
        raise CLIError("an identity is needed: --identity P12, or --cert PEM --key PEM")
    for path in (args.identity, args.cert, args.key, *(chain or [])):
        if path is not None and not is_pkcs11_uri(path) and not os.path.exists(path):
            raise CLIError(f"cannot read {path}: No such file or directory")
    password = password_from(args, "SMIME_PASSWORD")
    try:
        return _load(args, password.value, chain)
    except smime.errors.PasswordError as exc:
        if exc.reason == "unencrypted" and password.implicit:
            return _load(args, None, chain)  # SMIME_PASSWORD may be meant for other files
        if exc.reason == "missing":
            asked = ask_password(_prompt(args))
            if asked is not None:
                return _load(args, asked, chain, asked=True)
        raise CLIError(_password_sentence(exc, password)) from None


def _token_uri(args: argparse.Namespace) -> str | None:
    """The pkcs11: URI given as --identity or --key, if one is."""
    for value in (args.identity, args.key):
        if value is not None and is_pkcs11_uri(value):
            return str(value)
    return None


def _prompt(args: argparse.Namespace) -> str:
    uri = _token_uri(args)
    if uri is not None:
        return f"PIN for {uri.split('?')[0]}: "
    return f"Password for {args.identity or args.key}: "


def _password_sentence(exc: smime.errors.PasswordError, password: Password) -> str:
    """What went wrong, in the command line's terms (flags and variables, not keywords)."""
    if exc.reason == "unencrypted":  # the library's sentence names its keyword: say ours
        return ("the private key is not encrypted, but a password was given "
                f"({password.source}): give none")
    if exc.reason == "missing":
        return (f"{exc} (no password given: use --password-file, --password-fd or "
                "--password-env, set SMIME_PASSWORD, or run on a terminal to be asked)")
    return f"{exc} (the password from {password.source or 'the prompt'})"


def _load(args: argparse.Namespace, password: str | None, chain: list[str] | None,
          *, asked: bool = False) -> smime.Identity:
    try:
        uri = _token_uri(args)
        if uri is not None:
            module = (getattr(args, "pkcs11_module", None)
                      or os.environ.get("SMIME_PKCS11_MODULE") or None)
            return smime.load_identity(uri, module=module, pin=password,
                                       certificate=args.cert, chain=chain)
        if args.identity:
            return smime.load_identity(args.identity, password=password, chain=chain)
        return smime.load_identity(cert=args.cert, key=args.key, password=password,
                                   chain=chain)
    except smime.errors.PasswordError as exc:
        if asked:
            raise CLIError(_password_sentence(exc, Password(password, None))) from None
        raise


def load_pkcs12_input(args: argparse.Namespace, data: bytes) -> smime.Identity:
    """The identity in PKCS#12 input (``smime inspect bob.p12``), opened with the password
    options, the environment or a prompt, as ``--identity`` is."""
    name = "the input" if args.input in (None, "-") else args.input
    password = password_from(args, "SMIME_PASSWORD")
    try:
        return smime.load_identity(data, password=password.value)
    except smime.errors.PasswordError as exc:
        if exc.reason == "missing":
            asked = ask_password(f"Password for {name}: ")
            if asked is not None:
                try:
                    return smime.load_identity(data, password=asked)
                except smime.errors.PasswordError as again:
                    raise CLIError(_password_sentence(again, Password(asked, None))) from None
        raise CLIError(_password_sentence(exc, password)) from None
