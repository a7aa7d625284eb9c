"""``smime certs``: a store of correspondents' certificates, fed by signed mail."""

from __future__ import annotations

import argparse
import os

from cryptography import x509

import smime
from smime.core.names import subject_text
from smime.store import StoredCertificate

from ._io import STDIO, CLIError, printable, read_input, write_output
from .commands import Subparsers, command, trust_store, verification_text
from .progress import Progress

__all__ = ["register"]


def _harvest_signed(
    data: bytes, args: argparse.Namespace, store: smime.CertificateStore
) -> int | None:
    """Import what a signed message carries, validated against --trust; None when ``data``
    is not a signed message. Status 1 when the signature or any certificate was refused."""
    trust = (trust_store(list(args.trust)) if args.trust
             else smime.TrustStore.from_certificates([]))
    try:
        result = smime.verify(data, trust)
    except smime.errors.ParseError:
        return None
    if not result.signers:
        return None
    if not args.trust:
        raise CLIError("importing from a signed message needs --trust ROOTS to verify it "
                       "first; nothing was imported")
    if not result.valid:
        print(verification_text(result))
        print("not imported: the signature is not valid")
        return 1
    harvested = store.harvest(result, trust=trust)
    for kept in harvested.stored:
        _say(f"imported {', '.join(kept.addresses)}: {_describe(kept.certificate)} "
             f"({_role(kept)}, from a valid signature)")
    for refused in harvested.rejected:
        what = _describe(refused.certificate) if refused.certificate is not None else "?"
        _say(f"not imported: {what}: {refused.message} [{refused.reason.value}]")
    return 1 if harvested.rejected else 0


def _role(kept: StoredCertificate) -> str:
    if kept.role == "encryption":
        return "the encryption certificate the signer prefers"
    if not kept.can_encrypt:
        return "signer certificate, signing only: never encrypted to"
    return "signer certificate" + (", preferred for encryption" if kept.preferred else "")


def _say(text: str) -> None:
    """Print a line naming certificates from mail: control characters shown escaped, so a
    crafted name cannot rewrite the terminal."""
    print(printable(text))


def run_import(args: argparse.Namespace, store: smime.CertificateStore) -> int:
    progress: Progress = args.progress
    data = read_input(args.file, progress)
    status = _harvest_signed(data, args, store)
    if status is not None:
        return status
    for cert in smime.load_certificates(data):
        store.add(cert)
        print(f"imported {_describe(cert)}")
    return 0


def _describe(cert: x509.Certificate) -> str:
    subject = printable(subject_text(cert, readable=True))
    return f"{subject} (serial {cert.serial_number:#x}, until {cert.not_valid_after_utc:%Y-%m-%d})"


def run_list(args: argparse.Namespace, store: smime.CertificateStore) -> int:
    for email in store.emails():
        print(printable(email))
        for cert in store.certificates(email):
            print(f"  {_describe(cert)}")
        capabilities = store.capabilities(email)
        if capabilities:
            print(printable(f"  reads: {', '.join(capabilities)}"))
    return 0


def run_export(args: argparse.Namespace, store: smime.CertificateStore) -> int:
    pem = store.export_pem(args.email)
    if not pem:
        raise CLIError(f"the store has no certificate for {args.email}" if args.email
                       else "the store is empty")
    write_output(args.output, pem, args.progress)
    return 0


def run_certs(args: argparse.Namespace) -> int:
    if args.action != "import" and not os.path.isfile(args.store):
        raise CLIError(f"no certificate store at {args.store}")
    actions = {"import": run_import, "list": run_list, "export": run_export}
    with smime.CertificateStore(args.store) as store:
        return actions[args.action](args, store)


def register(sub: Subparsers) -> None:
    p = command(sub, "certs", "keep correspondents' certificates for encrypting to addresses", """
  smime certs --store contacts import --trust roots.pem signed-by-bob.eml
  smime certs --store contacts import bob.pem
  smime certs --store contacts list
  smime certs --store contacts export bob@example.com -o bob.pem
""", run_certs)
    p.add_argument("--store", required=True, metavar="DB",
                   help="the store (an SQLite file, created by the first import)")
    actions = p.add_subparsers(title="actions", dest="action", metavar="ACTION")
    actions.required = True
    imp = actions.add_parser(
        "import", allow_abbrev=False,
        help="add a certificate file, or the signer of a signed message (verified)",
        description="Add certificates (PEM, DER, .p7c: you vouch for them) or the signer "
        "of a signed message. A signed message is verified against --trust first, and each "
        "certificate it carries is kept only if it chains to --trust, is valid now and "
        "names the signer's address (the one to encrypt to must also allow encryption); "
        "every refused certificate is listed with the reason, and the status is then 1.",
    )
    imp.add_argument("file", nargs="?", default=STDIO, metavar="FILE_OR_SIGNED_MSG",
                     help="default: standard input")
    imp.add_argument("--trust", action="append", default=[], metavar="ROOTS",
                     help="trusted roots for verifying a signed message and validating the "
                     "certificates it carries: a file, folder or 'system' (repeatable; required "
                     "for signed mail)")
    actions.add_parser("list", help="list the stored certificates", allow_abbrev=False)
    exp = actions.add_parser("export", help="write certificates as PEM", allow_abbrev=False)
    exp.add_argument("email", nargs="?", metavar="EMAIL",
                     help="only this correspondent's certificate (default: all)")
    exp.add_argument("-o", "--output", default=STDIO, metavar="OUT",
                     help="default: standard output")
