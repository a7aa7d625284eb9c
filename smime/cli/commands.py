"""The message commands: sign, encrypt, decrypt, verify, inspect."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Callable
from email.message import Message
from typing import Any, Literal

import smime
from smime import options
from smime.api import looks_like_address
from smime.core.cmsfile import detect_raw_cms, read_raw_cms
from smime.core.pkcs12 import looks_like_pkcs12
from smime.core.views import key_description
from smime.inspection import Node, certificate_node
from smime.validation.revocation import given_crls

from ._io import (
    STDIO,
    CLIError,
    json_text,
    printable,
    read_file,
    read_input,
    write_output,
)
from ._words import error_text, flag
from .identity import (
    add_identity_options,
    load_identity,
    load_pkcs12_input,
    optional_identity,
)
from .progress import Progress

__all__ = ["register"]

Subparsers = Any  # argparse's _SubParsersAction is private
UNAUTHENTICATED_WARNING = (
    "smime: warning: the content was encrypted with {cipher}, which does not detect "
    "tampering, and it is not signed: it may have been altered on the way"
)


def add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", default=STDIO, metavar="IN",
                        help="the message file (default: standard input)")


def add_in_form(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in-form", choices=options.WIRE_FORMATS, metavar="FORM",
                        help="smime (a MIME message), der or pem (a raw CMS file, as "
                        "openssl cms -inform); default: recognised from the input")


def add_out_form(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-form", choices=options.WIRE_FORMATS, default="smime",
                        metavar="FORM",
                        help="smime (a MIME message, default), der or pem (a raw CMS file of "
                        "the input's bytes as they are, as openssl cms -binary -outform)")


def is_raw_input(data: bytes, form: str | None) -> bool:
    """Whether the input is a raw CMS file; ``--in-form`` insists on one form."""
    found = detect_raw_cms(data)
    if form is None:
        return found is not None
    if form == "smime":
        if found is not None:
            raise CLIError(f"the input is a raw CMS file ({found.upper()}), not a MIME message: "
                           f"use --in-form {found}")
        return False
    read_raw_cms(data, "der" if form == "der" else "pem")  # ParseError: not that form
    return True


def content_bytes(message: Message, raw: bool) -> bytes:
    """What to write for content: the message, or for a raw CMS file whose content is not
    a MIME entity (a document) the content byte for byte, as openssl cms writes it."""
    if raw and not message.keys():
        payload = message.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload
    return message.as_bytes()


def add_output(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("-o", "--output", default=STDIO, metavar="OUT",
                        help=f"write {what} to OUT (default: standard output)")


def add_stream(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", action="store_true",
                        help="work in blocks, in memory independent of the message's size "
                        "(as openssl cms -stream; the CMS is written in BER with indefinite "
                        "lengths)")


def add_message_io(
    parser: argparse.ArgumentParser, what: str, *, form: Literal["in", "out"]
) -> None:
    """The options of a command that reads one message and writes another (sign, encrypt,
    decrypt): the wire form of the side that is CMS (``form``: "in" or "out"), --stream,
    IN and -o OUT, in that order in ``--help``."""
    (add_in_form if form == "in" else add_out_form)(parser)
    add_stream(parser)
    add_input(parser)
    add_output(parser, what)


def command(
    sub: Subparsers, name: str, summary: str, examples: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=summary + ".",
        epilog="example:\n" + examples.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    parser.set_defaults(func=run)
    return parser


# ---------------------------------------------------------------------------- sign


def run_sign(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    identity = load_identity(args)
    data = read_input(args.input, progress)
    progress.step("signing", len(data))
    signed = smime.sign(
        data, identity, detached=not args.opaque, digest=args.digest,
        signature_padding="pss" if args.pss else "pkcs1v15", format=args.out_form,
    )
    write_output(args.output, signed if isinstance(signed, bytes) else signed.as_bytes(),
                 progress)
    return 0


# ---------------------------------------------------------------------------- encrypt


def _open_store(path: str) -> smime.CertificateStore:
    if not os.path.isfile(path):
        raise CLIError(f"no certificate store at {path} (create one with smime certs import)")
    return smime.CertificateStore(path)


def run_encrypt(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    store = _open_store(args.store) if args.store else None
    recipients: list[Any] = []
    for value in args.recipient:
        if looks_like_address(value):
            if store is None:
                raise CLIError(
                    f"--recipient {value} is an address: add --store DB, a certificate store "
                    "that holds its certificate (or give a certificate file)"
                )
            recipients.append(value)
        else:
            recipients.extend(_certificates_of("--recipient", value))
    data = read_input(args.input, progress)
    progress.step("encrypting", len(data))
    sealed = smime.encrypt(
        data, recipients, cipher=args.cipher, key_transport=args.key_transport, store=store,
        format=args.out_form,
    )
    write_output(args.output, sealed if isinstance(sealed, bytes) else sealed.as_bytes(),
                 progress)
    return 0


# ---------------------------------------------------------------------------- decrypt


def is_signed(message: Message) -> bool:
    """Whether the entity is itself an S/MIME signature (so tampering would show)."""
    kind = message.get_content_type()
    if kind == "multipart/signed":
        return True
    if kind in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return str(message.get_param("smime-type", "")).lower() == "signed-data"
    return False


def run_decrypt(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    identity = load_identity(args)
    data = read_input(args.input, progress)
    raw = is_raw_input(data, args.in_form)
    progress.step("decrypting", len(data))
    opened = smime.decrypt(data, identity, require_authenticated=args.require_authenticated)
    write_output(args.output, content_bytes(opened, raw), progress, private=True)
    info = opened.decryption
    if not info.authenticated and not is_signed(opened):
        print(UNAUTHENTICATED_WARNING.format(cipher=info.cipher), file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- verify


def iso_time(text: str) -> dt.datetime:
    """An ISO 8601 time for --at; without a zone it means UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-03-01T09:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def verification_text(result: smime.VerificationResult) -> str:
    """The library's summary, each line made safe for a terminal."""
    return "\n".join(printable(line) for line in result.summary(word=flag).split("\n"))


def _crl_file(path: str) -> bytes:
    """A --crl file, read now: one that is not a CRL is an error naming it, never skipped."""
    data = read_file(path)
    try:
        given_crls([data])
    except smime.errors.ParseError as exc:
        reason = str(exc).removeprefix("crls[0] cannot be used: ")
        raise CLIError(f"--crl {path} cannot be used: {reason}") from None
    return data


#: What to give instead of a PKCS#12 file, per option that takes certificates.
_INSTEAD_OF_PKCS12 = {
    "--recipient": "give the recipient's certificate (PEM or DER), which "
                   "'openssl pkcs12 -in FILE -nokeys -clcerts' prints",
    "--trust": "give the root CA's certificate (PEM or DER), or 'system'",
    "--cert": "give it with --identity (the password options open it), or give the "
              "certificate alone (PEM or DER)",
    "--certfile": "give the certificates as PEM, DER or PKCS#7, which "
                  "'openssl pkcs12 -in FILE -nokeys' prints",
}


def _certificates_of(flag: str, path: str) -> list[Any]:
    """The certificates of a file given to ``flag`` (PEM bundle, DER, PKCS#7); an error
    names the option and the file, and a PKCS#12 file is called what it is."""
    data = read_file(path)
    if looks_like_pkcs12(data):
        raise CLIError(
            f"{flag} {path} is a PKCS#12 file (a private key with its certificate), not a "
            f"certificate file: {_INSTEAD_OF_PKCS12[flag]}"
        )
    try:
        return list(smime.load_certificates(data))
    except smime.errors.LoadError as exc:
        raise CLIError(f"{flag} {path}: {exc}") from None


def _certificate_file(path: str) -> list[Any]:
    """The certificates of a --certfile (PEM bundle, DER, PKCS#7); an error names the file."""
    return _certificates_of("--certfile", path)


#: ``--trust system``: the operating system's root bundle.
SYSTEM_TRUST = "system"


def trust_store(values: list[str]) -> smime.TrustStore:
    """The roots of every ``--trust``: files, folders, or ``system`` (the operating
    system's CA bundle, as ``TrustStore.from_system`` finds it; ``./system`` is a file)."""
    stores: list[smime.TrustStore] = []
    for value in values:
        if value == SYSTEM_TRUST:
            try:
                stores.append(smime.TrustStore.from_system())
            except smime.errors.LoadError as exc:
                raise CLIError(f"--trust system: {error_text(exc)}") from None
        elif not os.path.exists(value):
            raise CLIError(f"cannot read {value}: No such file or directory")
        elif os.path.isdir(value):
            stores.append(smime.TrustStore.from_pem(value))
        else:
            stores.append(smime.TrustStore.from_certificates(_certificates_of("--trust", value)))
    return smime.TrustStore.from_certificates(
        [cert for store in stores for cert in store.certificates]
    )


def run_verify(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    trust = trust_store(list(args.trust))
    crls = [_crl_file(path) for path in args.crl]
    certificates = [cert for path in args.certfile for cert in _certificate_file(path)]
    policy = smime.VerificationPolicy(allow_weak_algorithms=args.allow_weak_algorithms)
    content = read_file(args.content) if args.content else None
    data = read_input(args.input, progress)
    raw = is_raw_input(data, args.in_form)
    progress.step("verifying", len(data))
    result = smime.verify(
        data, trust, certificates=certificates, crls=crls, at=args.at,
        revocation=args.revocation, fetch=args.fetch, policy=policy, content=content,
    )
    progress.clear()
    if args.output is not None:
        write_output(args.output, content_bytes(result.content, raw), progress, private=True)
    report = json_text(result.to_dict()) if args.json else verification_text(result)
    print(report, file=sys.stderr if args.output == STDIO else sys.stdout)
    return 0 if result.valid else 1


# ---------------------------------------------------------------------------- inspect


def printable_tree(node: Node) -> Node:
    """The tree with every title, field and preview line escaped, so that no value can add
    or erase lines (a preview keeps its own line breaks, each line shown under a bar)."""
    return dataclasses.replace(
        node,
        title=printable(node.title),
        fields=tuple((printable(name), printable(value)) for name, value in node.fields),
        children=tuple(printable_tree(child) for child in node.children),
        preview="\n".join(printable(line) for line in node.preview.splitlines()),
    )


def _bare_certificates(data: bytes) -> list[Any] | None:
    """The certificates of input that is a certificate file (PEM or DER), else None (a
    message, raw CMS such as a .p7b...). A message starts with a header, never ``-----``."""
    first = data.lstrip()[:200].split(b"\n", 1)[0].rstrip()
    if first.startswith(b"Bag Attributes"):  # what 'openssl pkcs12 -nokeys' writes
        pass
    elif first.startswith(b"-----BEGIN"):
        if not first.endswith(b"CERTIFICATE-----"):
            return None
    elif not data.startswith(b"\x30") or detect_raw_cms(data) is not None:
        return None
    try:
        return list(smime.load_certificates(data))
    except smime.errors.LoadError:
        return None


def _certificate_tree(title: str, certs: list[Any], fields: tuple[tuple[str, str], ...] = (),
                      ) -> Node:
    return Node("file", title, fields, tuple(certificate_node(cert) for cert in certs))


def _key_file_tree(args: argparse.Namespace, data: bytes) -> Node | None:
    """The certificates of input that is a PKCS#12 or certificate file, else None."""
    if args.in_form is not None:
        return None
    if looks_like_pkcs12(data):
        # a key file: the password options open it (--identity is not needed with it)
        found = load_pkcs12_input(args, data)
        fields = (("key", key_description(found.certificate)),
                  ("chain", f"{len(found.chain)} certificate(s)"))
        return _certificate_tree("PKCS#12 identity", [found.certificate, *found.chain], fields)
    certs = _bare_certificates(data)
    if certs is None:
        return None
    return _certificate_tree(
        "certificate" if len(certs) == 1 else f"{len(certs)} certificates", certs
    )


def _you(args: argparse.Namespace) -> Any:
    """Who "you" is among the recipients: the identity the options name (which also
    decrypts), or with ``--cert`` alone just that certificate (no key, no password)."""
    if args.cert and not (args.key or args.identity):
        certs = _certificates_of("--cert", args.cert)  # a missing file: read_file says so
        if len(certs) != 1:
            raise CLIError(f"--cert {args.cert}: expected one certificate, found {len(certs)}")
        return certs[0]
    return optional_identity(args)


def run_inspect(args: argparse.Namespace) -> int:
    progress: Progress = args.progress
    data = read_input(args.input, progress)
    tree = _key_file_tree(args, data)
    identity = None
    if tree is None:
        identity = _you(args)
        is_raw_input(data, args.in_form)
        tree = smime.inspect(data, identity=identity, asn1=args.asn1)
    text = json_text(tree.to_dict()) if args.json else str(printable_tree(tree))
    # with a key the tree shows decrypted headers: private like the decrypted content
    write_output(args.output, (text + "\n").encode("utf-8"), progress,
                 private=isinstance(identity, smime.Identity))
    return 0


# ---------------------------------------------------------------------------- parsers


def register(sub: Subparsers) -> None:
    p = command(sub, "sign", "sign a message (multipart/signed, or opaque signed-data)", """
  smime sign --identity alice.p12 letter.eml -o signed.eml
  SMIME_PASSWORD=... smime sign --cert alice.pem --key alice.key --opaque < letter.eml
""", run_sign)
    add_identity_options(p)
    p.add_argument("--chain", action="append", default=[], metavar="PEM",
                   help="extra chain certificates to include (repeatable)")
    p.add_argument("--opaque", action="store_true",
                   help="opaque signed-data (application/pkcs7-mime) instead of multipart/signed")
    p.add_argument("--digest", default="sha256", choices=options.DIGESTS, help="default: sha256")
    p.add_argument("--pss", action="store_true", help="RSASSA-PSS signatures (RSA keys only)")
    add_message_io(p, "the signed message", form="out")

    p = command(sub, "encrypt", "encrypt a message for one or more recipients", """
  smime encrypt --recipient bob.pem --recipient alice.pem signed.eml -o sealed.eml
  smime encrypt --store contacts --recipient bob@example.com < signed.eml
""", run_encrypt)
    p.add_argument("--recipient", action="append", required=True, metavar="CERT",
                   help="a certificate file (PEM, DER, .p7c), or an address looked up in "
                   "--store (repeatable)")
    p.add_argument("--cipher", default="auto", choices=options.CIPHER_CHOICES,
                   help="default: auto (AES-256-GCM when every recipient announced it, else "
                   "AES-256-CBC)")
    p.add_argument("--key-transport", default="auto", choices=options.KEY_TRANSPORT_CHOICES,
                   help="RSA key transport (default: auto)")
    p.add_argument("--store", metavar="DB", help="a certificate store (see smime certs)")
    add_message_io(p, "the encrypted message", form="out")

    p = command(sub, "decrypt", "decrypt a message with your identity", """
  smime decrypt --identity bob.p12 --password-file ~/.smime-pass sealed.eml -o opened.eml
""", run_decrypt)
    add_identity_options(p)
    p.add_argument("--require-authenticated", action="store_true",
                   help="refuse content that may have been altered: encrypted without "
                   "integrity (AES-CBC) and not a signed message whose signature matches it")
    add_message_io(p, "the decrypted message", form="in")

    p = command(sub, "verify", "verify a signed message; exit status 0 when valid, 1 when not",
                """
  smime verify --trust roots.pem signed.eml
  smime verify --trust roots.pem --json -o content.eml signed.eml
  smime verify --trust roots.pem --in-form der --content contract.pdf contract.pdf.p7s
""", run_verify)
    p.add_argument("--trust", action="append", required=True, metavar="ROOTS",
                   help="trusted root certificates: a PEM bundle, DER file or folder, or "
                   "'system' for the operating system's CA bundle (repeatable)")
    p.add_argument("--certfile", action="append", default=[], metavar="CERTS",
                   help="certificates the message may lack: the signer's or intermediates "
                   "(PEM bundle, DER or PKCS#7; repeatable); they add no trust")
    p.add_argument("--crl", action="append", default=[], metavar="CRL",
                   help="a CRL file (PEM or DER) to check revocation against (repeatable)")
    p.add_argument("--allow-weak-algorithms", action="store_true",
                   help="accept SHA-1/MD5 signatures (old mail), reported as warnings")
    p.add_argument("--revocation", default="soft-fail", choices=options.REVOCATION_MODES,
                   help="hard-fail: unknown revocation status is a problem (default: soft-fail)")
    p.add_argument("--fetch", action="store_true",
                   help="download CRLs and OCSP answers the certificates point to")
    p.add_argument("--at", type=iso_time, metavar="ISO-TIME",
                   help="validate at this time instead of the signing time or now")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_in_form(p)
    p.add_argument("--content", metavar="FILE",
                   help="the signed content of a detached signature (a .p7s file), as "
                   "openssl cms -verify -content")
    add_stream(p)
    add_input(p)
    p.add_argument("-o", "--output", metavar="CONTENT",
                   help="write the signed content to CONTENT ('-': standard output, and the "
                   "report moves to standard error)")

    p = command(sub, "inspect", "show a message's MIME parts and S/MIME layers (no key needed), "
                "or the certificates of a certificate or PKCS#12 file", """
  smime inspect signed.eml
  smime inspect --json --identity bob.p12 sealed.eml
  smime inspect --cert bob.pem sealed.eml
  smime inspect --asn1 signed.eml
  smime inspect bob.pem
  smime inspect --password-env P12_PASSWORD bob.p12
""", run_inspect)
    add_in_form(p)
    add_input(p)
    p.add_argument("--json", action="store_true", help="print the tree as JSON")
    p.add_argument("--asn1", action="store_true",
                   help="add each CMS layer's ASN.1 structure (tags, lengths, OIDs)")
    add_identity_options(p, required=False)
    add_output(p, "the tree")
