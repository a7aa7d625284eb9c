"""``smime demo``: the whole round trip on a throwaway PKI, one line per step.

It doubles as a smoke test of an installation: the exit status is 0 only when every step
(including the ones meant to fail) turned out as expected.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

import smime
from smime.testing import make_test_pki

from ._io import printable
from ._words import flag
from .commands import Subparsers, command

__all__ = ["register", "run_demo"]

USERS = (("alice", "rsa-2048"), ("bob", "rsa-2048"))
BODY = "Hello Bob,\n\nthe meeting is at 10:00 in room 4.\n\nAlice\n"


class Steps:
    """Numbered lines: what was done, whether it went as expected, what came out."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.failed = 0

    def report(self, title: str, ok: bool, detail: str) -> bool:
        self.count += 1
        self.failed += not ok
        print(f"{self.count}. {title:<34} {'ok' if ok else 'FAILED'}: {printable(detail)}",
              file=self.out)
        return ok


def _letter() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alice@example.com"
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Meeting"
    msg.set_content(BODY)
    return msg


def _verdict(result: smime.VerificationResult) -> str:
    if result.valid and result.signers:
        signer = result.signers[0]
        who = ", ".join(signer.email_addresses) or signer.subject
        algorithms = f"{signer.signature_algorithm} with {signer.digest_algorithm}"
        return f"VALID, signed by {who} ({algorithms})"
    return "NOT VALID: " + ("; ".join(p.worded(flag) for p in result.problems)
                            or "no valid signer")


def _save(keep: Path | None, name: str, data: bytes) -> None:
    if keep is not None:
        (keep / name).write_bytes(data)


def walk_through(folder: Path, out: TextIO, *, keep: bool) -> int:
    steps = Steps(out)
    saved = folder if keep else None
    try:
        pki = make_test_pki(folder, users=USERS)
    except (smime.errors.SMIMEError, OSError, ValueError) as exc:
        steps.report("make a test CA, alice and bob", False, str(exc))
        return 1
    alice, bob = pki["alice"], pki["bob"]
    steps.report("make a test CA, alice and bob", True,
                 f"root and intermediate CA, {alice.email}, {bob.email}")
    trust = smime.TrustStore.from_certificates([pki.root.certificate])
    try:
        letter = _letter()
        _save(saved, "letter.eml", letter.as_bytes())
        signed = smime.sign(letter, alice.identity).as_bytes()
        _save(saved, "signed.eml", signed)
        steps.report("alice signs a letter to bob", True,
                     f"multipart/signed with sha256, {len(signed)} bytes")

        result = smime.verify(signed, trust)
        steps.report("verify alice's signature", result.valid, _verdict(result))

        sealed = smime.encrypt(signed, [bob.certificate]).as_bytes()
        _save(saved, "sealed.eml", sealed)
        steps.report("encrypt the signed letter for bob", True,
                     f"application/pkcs7-mime, {len(sealed)} bytes")

        opened = smime.decrypt(sealed, bob.identity)
        _save(saved, "opened.eml", opened.as_bytes())
        info = opened.decryption
        steps.report("bob decrypts it", True,
                     f"{info.cipher}, key by {info.key_management}")

        try:
            smime.decrypt(sealed, alice.identity)
            steps.report("alice cannot decrypt it", False, "she could, though she is no recipient")
        except smime.errors.DecryptionError:
            steps.report("alice cannot decrypt it", True, "refused: she is not a recipient")

        inner = smime.verify(opened, trust)
        steps.report("verify the signature inside", inner.valid, _verdict(inner))

        tampered = signed.replace(b"10:00", b"11:00", 1)
        _save(saved, "tampered.eml", tampered)
        forged = smime.verify(tampered, trust)
        steps.report("change 10:00 to 11:00 and verify", tampered != signed and not forged.valid,
                     _verdict(forged))
    except smime.errors.SMIMEError as exc:
        steps.report("(the next step)", False, f"stopped: {exc}")
    if keep:
        print(f"files kept in {folder}; try: smime verify --trust {pki.root_path} "
              f"{folder / 'signed.eml'}", file=out)
    if steps.failed:
        print(f"{steps.failed} of {steps.count} steps did NOT go as expected", file=out)
        return 1
    print(f"all {steps.count} steps went as expected", file=out)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
        return walk_through(folder, sys.stdout, keep=True)
    with tempfile.TemporaryDirectory(prefix="smime-demo-") as tmp:
        return walk_through(Path(tmp), sys.stdout, keep=False)


def register(sub: Subparsers) -> None:
    p = command(sub, "demo", "sign, verify, encrypt and decrypt with a throwaway test PKI", """
  smime demo
  smime demo --keep /tmp/smime-demo    # keep the keys and messages to try other commands
""", run_demo)
    p.add_argument("--keep", metavar="DIR",
                   help="make the PKI and messages in DIR and keep them (default: a temporary "
                   "folder, deleted afterwards)")
