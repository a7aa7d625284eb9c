"""Bouncy Castle 1.72 as a peer, both ways: AES-GCM AuthEnvelopedData, RSA-OAEP, ECDH,
RSASSA-PSS and ECDSA — what NSS 3.87 and gpgsm 2.2 here cannot read.

Signatures go through S/MIME messages (bcmail's SMIMESignedGenerator and SMIMESigned);
encryption through DER CMS (bcmail 1.72 has no AuthEnveloped S/MIME classes), which we
take from and wrap into application/pkcs7-mime ourselves. Each direction is one JVM run
(``tests/bc/SmimePeer.java``, batch mode): starting Java costs about half a second.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from helpers import body_text

import smime
from smime.cms.enveloped import decrypt_enveloped_data
from smime.mime.compose import build_pkcs7_mime
from smime.testing import TestPKI as PKI

pytestmark = pytest.mark.interop

BODY = "Hello from the Bouncy Castle interop tests.\nSecond line, with ümlauts.\n"
CONTENT = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + BODY.replace("\n", "\r\n").encode())

OIDS = {
    "rsa-pss": "1.2.840.113549.1.1.10",
    "ecdsa-sha256": "1.2.840.10045.4.3.2",
    "ecdsa-sha384": "1.2.840.10045.4.3.3",
    "ecdsa-sha512": "1.2.840.10045.4.3.4",
    "rsa-sha256": "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption: what we write for v1.5
    "rsa-oaep": "1.2.840.113549.1.1.7",
    "rsa-pkcs1v15": "1.2.840.113549.1.1.1",
    "aes-128-cbc": "2.16.840.1.101.3.4.1.2",
    "aes-256-cbc": "2.16.840.1.101.3.4.1.42",
    "aes-128-gcm": "2.16.840.1.101.3.4.1.6",
    "aes-256-gcm": "2.16.840.1.101.3.4.1.46",
    "ecdh-secp256r1": "1.3.132.1.11.1",  # dhSinglePass-stdDH-sha256kdf-scheme
    "ecdh-secp384r1": "1.3.132.1.11.2",  # ... sha384kdf
    "ecdh-secp521r1": "1.3.132.1.11.3",  # ... sha512kdf
}
CURVES = {"carol": "secp256r1", "dave": "secp384r1", "frank": "secp521r1"}

#: (user, key transport, cipher); EC users use ECDH whatever the key transport says
ENCRYPTION = [
    ("alice", "rsa-oaep", "aes-256-gcm"),
    ("alice", "rsa-oaep", "aes-128-cbc"),
    ("alice", "rsa-pkcs1v15", "aes-128-gcm"),
    ("alice", "rsa-pkcs1v15", "aes-256-cbc"),
    ("bob", "rsa-oaep", "aes-256-cbc"),
    ("carol", "ecdh", "aes-128-gcm"),
    ("carol", "ecdh", "aes-256-cbc"),
    ("dave", "ecdh", "aes-256-gcm"),
    ("dave", "ecdh", "aes-128-cbc"),
    ("frank", "ecdh", "aes-256-gcm"),
]
X25519 = ("grace", "ecdh", "aes-256-cbc")
#: (user, padding, digest, detached)
SIGNING = [
    ("alice", "pss", "sha256", True),
    ("alice", "pss", "sha512", False),
    ("bob", "pss", "sha384", True),
    ("alice", "pkcs1v15", "sha256", True),
    ("bob", "pkcs1v15", "sha256", False),
    ("carol", "ecdsa", "sha256", True),
    ("dave", "ecdsa", "sha384", False),
    ("frank", "ecdsa", "sha512", True),
]


def _id(case: tuple[object, ...]) -> str:
    return "-".join(str(c) if not isinstance(c, bool) else ("detached" if c else "opaque")
                    for c in case)


@dataclass(frozen=True)
class Peer:
    """Runs batches of SmimePeer operations in one JVM; one answer line per operation."""

    java: str
    classpath: str
    folder: Path
    pki: PKI

    def run(self, operations: list[list[str | Path]]) -> list[str]:
        batch = self.folder / f"batch-{len(list(self.folder.glob('batch-*')))}.txt"
        batch.write_text("\n".join("\t".join(map(str, op)) for op in operations) + "\n")
        done = subprocess.run(
            # C1 only and the serial GC: a third less CPU for a short batch
            [self.java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", self.classpath,
             "SmimePeer", "batch", str(batch)],
            capture_output=True, timeout=180, check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        lines = done.stdout.decode().splitlines()
        assert len(lines) == len(operations), done.stdout.decode() + done.stderr.decode()
        return lines

    def key(self, user: str) -> Path:
        path = self.folder / f"{user}.pk8"
        if not path.exists():
            path.write_bytes(self.pki[user].identity.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        return path

    def cert(self, user: str) -> Path:
        path = self.folder / f"{user}.der"
        if not path.exists():
            cert = {"root": self.pki.root, "intermediate": self.pki.intermediate}.get(user)
            der = (cert.certificate if cert else self.pki[user].certificate).public_bytes(
                serialization.Encoding.DER)
            path.write_bytes(der)
        return path


@pytest.fixture(scope="module")
def peer(bc_peer: tuple[str, str], pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Peer:
    return Peer(*bc_peer, tmp_path_factory.mktemp("bc"), pki)


def _message(sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{sender}@example.com"
    msg["To"] = "someone@example.com"
    msg["Subject"] = "Bouncy Castle interop"
    msg.set_content(BODY)
    return msg


def _payload(msg: EmailMessage) -> bytes:
    data = msg.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


@dataclass(frozen=True)
class Answers:
    """BC's answer line and output file for every (operation, case) of the one batch."""

    results: dict[tuple[str, tuple[object, ...]], tuple[str, bytes]]
    expected: dict[tuple[str, str, str], bytes]

    def __getitem__(self, key: tuple[str, tuple[object, ...]]) -> tuple[str, bytes]:
        return self.results[key]


#: where each operation writes its output, by argument position
OUTPUT_ARG = {"decrypt": 4, "verify": 3, "encrypt": 5, "sign": 7}


@pytest.fixture(scope="module")
def bc(peer: Peer) -> Answers:
    """All four directions in one JVM run: BC reads ours, and writes its own for us to read."""
    content = peer.folder / "content.mime"
    content.write_bytes(CONTENT)
    decrypt_ops, expected = _decrypt_ours(peer)
    groups = [
        ("decrypt", [*ENCRYPTION, X25519], decrypt_ops),
        ("verify", SIGNING, _verify_ours(peer)),
        ("encrypt", ENCRYPTION, _encrypt_theirs(peer, content)),
        ("sign", SIGNING, _sign_theirs(peer, content)),
    ]
    ops = [op for _, _, group in groups for op in group]
    answers = iter(peer.run(ops))
    results = {}
    for name, cases, group in groups:
        for case, op in zip(cases, group, strict=True):
            answer = next(answers)
            output = Path(op[OUTPUT_ARG[name]])
            results[name, case] = (answer, output.read_bytes() if answer.startswith("OK") else b"")
    return Answers(results, expected)


# ------------------------------------------------------------------ smime writes, BC reads


Ops = list[list[str | Path]]


def _decrypt_ours(peer: Peer) -> tuple[Ops, dict[tuple[str, str, str], bytes]]:
    """BC decrypts what we encrypt; the second item is what we encrypted."""
    ops: Ops = []
    expected = {}
    for user, transport, cipher in ENCRYPTION:
        kt = "auto" if transport == "ecdh" else transport
        sealed = smime.encrypt(_message("alice"), peer.pki[user].certificate, cipher=cipher,
                               key_transport=kt)
        der = _payload(sealed)
        expected[(user, transport, cipher)] = decrypt_enveloped_data(
            der, peer.pki[user].identity).content
        src = peer.folder / f"ours-{_id((user, transport, cipher))}.der"
        src.write_bytes(der)
        ops.append(["decrypt", peer.key(user), peer.cert(user), src, src.with_suffix(".out")])
    x25519 = peer.folder / "ours-grace-x25519.der"
    x25519.write_bytes(_payload(smime.encrypt(_message("alice"), peer.pki["grace"].certificate,
                                              cipher=X25519[2])))
    ops.append(["decrypt", peer.key("grace"), peer.cert("grace"), x25519, "/dev/null"])
    return ops, expected


@pytest.mark.parametrize("case", ENCRYPTION, ids=_id)
def test_bc_decrypts_ours(case: tuple[str, str, str], bc: Answers) -> None:
    user, transport, cipher = case
    answer, plaintext = bc["decrypt", case]
    ours = bc.expected[case]
    assert answer.startswith("OK"), answer
    kind = "authEnvelopedData" if cipher.endswith("gcm") else "envelopedData"
    assert answer.split()[1] == kind
    assert f"content={OIDS[cipher]}" in answer
    key_alg = OIDS[f"ecdh-{CURVES[user]}"] if transport == "ecdh" else OIDS[transport]
    assert f"keyenc={key_alg}" in answer
    assert plaintext == ours and BODY.split("\n")[0].encode() in plaintext


def test_bc_cannot_read_our_x25519(bc: Answers) -> None:
    """A peer fact, pinned so that docs/interop.md is revisited when it changes: BC 1.72
    has no HKDF key agreement schemes (RFC 8418 X25519 with HKDF-SHA256, what we write)."""
    answer, _ = bc["decrypt", X25519]
    assert answer.startswith("ERR") and "1.2.840.113549.1.9.16.3.19" in answer, answer


def _verify_ours(peer: Peer) -> Ops:
    """BC verifies what we sign and writes out the content it says was signed."""
    ops: Ops = []
    for user, padding, digest, detached in SIGNING:
        kw = {"signature_padding": padding} if padding in ("pss", "pkcs1v15") else {}
        signed = smime.sign(_message(user), peer.pki[user].identity, digest=digest,
                            detached=detached, **kw)
        src = peer.folder / f"ours-{_id((user, padding, digest, detached))}.eml"
        src.write_bytes(signed.as_bytes())
        ops.append(["verify", peer.cert("root"), src, src.with_suffix(".content")])
    return ops


@pytest.mark.parametrize("case", SIGNING, ids=_id)
def test_bc_verifies_ours(case: tuple[str, str, str, bool], bc: Answers) -> None:
    user, padding, digest, _ = case
    answer, content = bc["verify", case]
    assert answer.startswith("OK"), answer
    expected = OIDS[{"pss": "rsa-pss", "pkcs1v15": f"rsa-{digest}"}.get(padding, f"ecdsa-{digest}")]
    assert f"sigalg={expected} " in answer
    assert f",CN={user.capitalize()}_(" in answer
    assert BODY.split("\n")[0].encode() in content


# ------------------------------------------------------------------ BC writes, smime reads


def _encrypt_theirs(peer: Peer, content: Path) -> Ops:
    """BC encrypts CONTENT for each ENCRYPTION case (DER CMS)."""
    ops: Ops = []
    for user, transport, cipher in ENCRYPTION:
        kt = "rsa" if transport == "rsa-pkcs1v15" else transport
        out = peer.folder / f"bc-{_id((user, transport, cipher))}.der"
        ops.append(["encrypt", cipher, kt, peer.cert(user), content, out])
    return ops


@pytest.mark.parametrize("case", ENCRYPTION, ids=_id)
def test_we_decrypt_bc(case: tuple[str, str, str], bc: Answers, peer: Peer) -> None:
    user, transport, cipher = case
    answer, der = bc["encrypt", case]
    assert answer.startswith("OK"), answer
    smime_type = "authEnveloped-data" if cipher.endswith("gcm") else "enveloped-data"
    wrapped = build_pkcs7_mime(der, smime_type=smime_type,
                               outer_headers=[("From", "bc@example.com")])
    opened = smime.decrypt(wrapped.as_bytes(), peer.pki[user].identity)
    assert opened.as_bytes().endswith(CONTENT)  # after the outer headers copied inside
    assert opened["From"] == "bc@example.com"
    assert opened.decryption.cipher == cipher
    assert opened.decryption.authenticated is cipher.endswith("gcm")
    assert transport.split("-")[-1] in opened.decryption.key_management.replace("_", "-")


def _sign_theirs(peer: Peer, content: Path) -> Ops:
    """BC signs CONTENT for each SIGNING case (an S/MIME message, via bcmail)."""
    ops: Ops = []
    for user, padding, digest, detached in SIGNING:
        alg = {"pss": f"rsa-pss-{digest}", "pkcs1v15": f"rsa-{digest}"}.get(
            padding, f"ecdsa-{digest}")
        out = peer.folder / f"bc-{_id((user, padding, digest, detached))}.eml"
        ops.append(["sign", alg, "detached" if detached else "opaque", peer.key(user),
                    peer.cert(user), peer.cert("intermediate"), content, out,
                    f"{user}@example.com", "someone@example.com"])
    return ops


@pytest.mark.parametrize("case", SIGNING, ids=_id)
def test_we_verify_bc(case: tuple[str, str, str, bool], bc: Answers, peer: Peer) -> None:
    user, padding, digest, detached = case
    answer, message = bc["sign", case]
    assert answer.startswith("OK"), answer
    result = smime.verify(message, trust=smime.TrustStore.from_pem(peer.pki.root_path))
    assert result.valid, result.summary()
    assert result.detached is detached
    (signer,) = result.signers
    assert signer.email_addresses == (f"{user}@example.com",)
    assert signer.digest_algorithm == digest
    expected = {"pss": "pss", "pkcs1v15": "rsa"}.get(padding, "ecdsa")
    assert expected in signer.signature_algorithm.lower().replace("-", "")
    assert body_text(result.content).replace("\r\n", "\n") == BODY


def test_tampered_bc_signature_is_refused(bc: Answers, peer: Peer) -> None:
    """The verify cases above can fail: one changed content byte makes BC's signature invalid."""
    _, message = bc["sign", ("carol", "ecdsa", "sha256", True)]
    tampered = message.replace(b"Second line", b"Second lime", 1)
    assert tampered != message
    result = smime.verify(tampered, trust=smime.TrustStore.from_pem(peer.pki.root_path))
    assert not result.valid
