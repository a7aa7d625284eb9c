"""Seed inputs for the fuzzing harness, and the mutator that the engines share.

Seeds are made at run time, the same recipe every run: messages from a
``smime.testing.make_test_pki`` PKI (signed, opaque, PSS, ECDSA, Ed25519, encrypted
GCM/CBC/OAEP/ECDH/X25519, compressed, certs-only, nested) encrypted to the harness's
fixed-key identities, plus whatever ``../shared/corpus`` holds, read in place. Nothing
from the corpus is copied into the repository.
"""

from __future__ import annotations

import base64
import os
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

import smime
from smime.keys import Identity
from smime.testing import TestPKI, issue_certificate

from .keys import ec_key, rsa_key, x25519_key

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SMIME_CORPUS", REPO.parent / "shared" / "corpus"))
PASSWORD = "secret"
MAX_SEED = 256 * 1024  # corpus files larger than this are not seeds (libFuzzer's -max_len)

KINDS = ("messages", "certificates", "identities")


@dataclass(frozen=True)
class Context:
    """What the targets need besides the input: a trust store and the fixed-key identities."""

    pki: TestPKI
    identities: tuple[Identity, ...]  # RSA-2048, EC P-256, X25519: same keys every run
    trust: smime.TrustStore
    password: str = PASSWORD

    @property
    def identity(self) -> Identity:
        """The RSA identity: the one ``unwrap`` gets."""
        return self.identities[0]


def make_context(pki: TestPKI) -> Context:
    """The harness context on ``pki``: fuzz@example.com with fixed RSA, EC and X25519 keys."""
    identities = tuple(
        issue_certificate(pki.intermediate, f"fuzz-{name}@example.com", key=key)
        for name, key in (
            ("rsa", rsa_key("smime-fuzz-rsa")),
            ("ec", ec_key("smime-fuzz-ec", ec.SECP256R1())),
            ("x25519", x25519_key("smime-fuzz-x25519")),
        )
    )
    return Context(pki, identities, smime.TrustStore.from_pem(pki.root_path))


def _plain(sender: str = "alice") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{sender.capitalize()} Example <{sender}@example.com>"
    msg["To"] = "fuzz-rsa@example.com, =?utf-8?q?B=C3=B6b?= <bob@example.com>"
    msg["Subject"] = "Quarterly (draft) statement – ünïcode"
    msg["Date"] = "Sun, 29 Nov 2026 08:00:00 +0000"
    msg["Message-ID"] = "<seed-1@example.com>"
    msg.set_content("Hello,\nthe statement is attached.\n-- \nAlice\n")
    msg.add_alternative("<p>Hello, the <b>statement</b> is attached.</p>", subtype="html")
    msg.add_attachment(bytes(range(256)), maintype="application", subtype="octet-stream",
                       filename="statement.bin")
    return msg


def _bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes()


def generated_messages(ctx: Context) -> list[tuple[str, bytes]]:
    """Every kind of message the library writes, encrypted ones to the fixed-key identities."""
    alice, carol, erin = (ctx.pki[u].identity for u in ("alice", "carol", "erin"))
    rsa_id, ec_id, x_id = ctx.identities
    plain, from_carol, from_erin = _plain(), _plain("carol"), _plain("erin")
    ski = "subject_key_identifier"
    signed = smime.sign(plain, alice)
    seeds = {
        "plain": plain,
        "signed-rsa": signed,
        "signed-opaque": smime.sign(plain, alice, detached=False),
        "signed-pss": smime.sign(plain, alice, signature_padding="pss", digest="sha512"),
        "signed-ecdsa": smime.sign(from_carol, carol, digest="sha384"),
        "signed-ed25519": smime.sign(from_erin, erin),
        "signed-two-signers": smime.sign(plain, [alice, carol], detached=False),
        "signed-enc-pref": smime.sign(plain, alice, encryption_certificate=rsa_id.certificate),
        "encrypted-gcm": smime.encrypt(plain, rsa_id.certificate, cipher="aes-256-gcm",
                                       identify_by=ski),
        "encrypted-cbc": smime.encrypt(plain, rsa_id.certificate, cipher="aes-128-cbc"),
        "encrypted-oaep": smime.encrypt(plain, rsa_id.certificate, cipher="aes-256-cbc",
                                        key_transport="rsa-oaep", identify_by=ski),
        "encrypted-ecdh": smime.encrypt(plain, ec_id.certificate, cipher="aes-128-gcm"),
        "encrypted-x25519": smime.encrypt(plain, x_id.certificate, cipher="aes-256-cbc"),
        "encrypted-three": smime.encrypt(plain, [c.certificate for c in ctx.identities],
                                         cipher="aes-256-gcm", identify_by=ski),
        "compressed": smime.compress(plain),
        "certs-only": smime.export_certificates(
            [alice.certificate, ctx.pki.intermediate.certificate, ctx.pki.root.certificate]
        ),
        "nested-sign-encrypt": smime.encrypt(signed, rsa_id.certificate, cipher="aes-256-gcm"),
        "nested-compress-sign-encrypt": smime.encrypt(
            smime.sign(smime.compress(from_carol), carol, detached=False), ec_id.certificate,
            cipher="aes-256-cbc",
        ),
        "nested-sign-encrypt-sign": smime.sign(
            smime.encrypt(signed, rsa_id.certificate, cipher="aes-128-gcm"), carol
        ),
    }
    mixed = EmailMessage()
    mixed["From"] = "alice@example.com"
    mixed["Subject"] = "forwarded"
    mixed.set_content("see the attached signed message")
    mixed.add_attachment(signed)
    seeds["mixed-with-signed-part"] = mixed
    return [(name, _bytes(msg)) for name, msg in seeds.items()]


def _pem(identity: Identity) -> bytes:
    return identity.certificate.public_bytes(serialization.Encoding.PEM)


def generated_certificates(ctx: Context) -> list[tuple[str, bytes]]:
    """PEM, DER, PEM bundle, PKCS#7 certs-only DER and a certs-only message."""
    alice = ctx.pki["alice"].identity
    chain = _pem(alice) + _pem(ctx.pki.intermediate) + _pem(ctx.pki.root)
    message = smime.export_certificates([alice.certificate, ctx.pki.intermediate.certificate])
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return [
        ("pem", _pem(alice)),
        ("der", alice.certificate.public_bytes(serialization.Encoding.DER)),
        ("pem-bundle", chain),
        ("p7c-der", payload),
        ("certs-only-message", _bytes(message)),
        ("ed25519-pem", _pem(ctx.pki["erin"].identity)),
    ]


def _p12(identity: Identity, rounds: int | None, legacy: bool = False) -> bytes:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if rounds is not None:
        builder = builder.kdf_rounds(rounds)
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        builder = builder.hmac_hash(hashes.SHA1())
    return pkcs12.serialize_key_and_certificates(
        b"fuzz", identity.key, identity.certificate,  # type: ignore[arg-type]
        list(identity.chain) or None, builder.build(PASSWORD.encode()),
    )


def generated_identities(ctx: Context) -> list[tuple[str, bytes]]:
    """PKCS#12 (few KDF rounds, so each run is quick), PEM key+certificate, encrypted PEM."""
    rsa_id, ec_id, _ = ctx.identities
    key_pem = ec_id.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted_pem = rsa_id.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    unprotected = pkcs12.serialize_key_and_certificates(
        b"fuzz", ec_id.key, ec_id.certificate, None, serialization.NoEncryption()  # type: ignore[arg-type]
    )
    return [
        ("p12-rsa", _p12(rsa_id, 1)),
        ("p12-ec-legacy", _p12(ec_id, 1, legacy=True)),
        ("p12-unprotected", unprotected),
        ("pem-key-and-cert", key_pem + _pem(ec_id)),
        ("pem-encrypted-key-and-cert", encrypted_pem + _pem(rsa_id)),
    ]


def _wrap_der(der: bytes) -> bytes:
    """A bare DER/BER CMS file as an application/pkcs7-mime message, so MIME readers see it."""
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; name=smime.p7m\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )


def corpus_seeds(kind: str, folder: Path = CORPUS) -> Iterator[tuple[str, bytes]]:
    """Files from the shared corpus that suit ``kind`` (read in place; nothing when absent)."""
    if not folder.is_dir():
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        suffix = path.suffix.lower()
        if not data or len(data) > MAX_SEED or suffix == ".md":
            continue
        head = data[:4096].lower()
        is_mime = b"content-type:" in head
        if suffix == ".txt" and not is_mime:
            continue
        name = f"corpus:{path.relative_to(folder)}"
        is_p12 = suffix in (".p12", ".pfx")
        if kind == "messages":
            if is_mime:
                yield name, data
            elif data[:1] == b"\x30" and not is_p12:
                yield name, _wrap_der(data)
        elif (kind == "certificates" and not is_p12 and (
            b"-----begin" in head or data[:1] == b"\x30" or is_mime
        )) or (kind == "identities" and (is_p12 or b"private key-----" in head)):
            yield name, data


def seeds(kind: str, ctx: Context, *, corpus: bool = True) -> list[tuple[str, bytes]]:
    """The generated seeds of ``kind``, then the corpus's."""
    made = {
        "messages": generated_messages,
        "certificates": generated_certificates,
        "identities": generated_identities,
    }[kind](ctx)
    return made + (list(corpus_seeds(kind)) if corpus else [])


# ------------------------------------------------------------------------------ mutation

#: tokens the mutator inserts: MIME syntax the parsers branch on, and DER tag/length bytes
TOKENS: tuple[bytes, ...] = (
    b"\r\n", b"\r\n\r\n", b"\n", b"(", b")", b"((((((((", b"\\", b'"', b"<", b">", b",",
    b"=?utf-8?b?", b"=?iso-8859-1?q?", b"?=", b"=\r\n", b"\x00", b"\xff", b"\xc3\xa9",
    b"\xed\xa0\x80", b"\x1b[2J", b"Content-Type: ", b"multipart/mixed; boundary=", b"--",
    b"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=",
    b"application/pkcs7-mime; smime-type=", b"enveloped-data", b"authEnveloped-data",
    b"signed-data", b"compressed-data", b"certs-only", b"Content-Transfer-Encoding: base64",
    b"quoted-printable", b"From: ", b"Sender: ", b"charset=", b"utf-7", b"*0*=", b"filename*=",
    b"\x30\x80", b"\x00\x00", b"\x30\x84\xff\xff\xff\xff", b"\x04\x82\xff\xff", b"\x06\x09",
    b"\xa0\x80", b"\x02\x01\x00", b"\x02\x81\x00", b"\x31\x00", b"\x05\x00", b"\x17\x0d",
    b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n",
    b"-----BEGIN PKCS7-----\n", b"-----BEGIN PRIVATE KEY-----\n",
)

_B64_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}\r?")


def base64_blocks(data: bytes) -> list[tuple[int, int]]:
    """Where base64 bodies are in a message: mutating what they decode to reaches the DER parsers.

    Runs of at least two lines of base64 alphabet (linear time: one match per line).
    """
    blocks: list[tuple[int, int]] = []
    start = pos = 0
    lines = 0
    for line in data.split(b"\n"):
        end = pos + len(line) + 1
        if len(line) >= 4 and _B64_LINE.fullmatch(line):
            if lines == 0:
                start = pos
            lines += 1
        else:
            if lines >= 2:
                blocks.append((start, pos))
            lines = 0
        pos = end
    if lines >= 2:
        blocks.append((start, min(pos, len(data))))
    return blocks


def _mutate_once(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    n = len(data)
    pos = rng.randrange(n + 1)
    op = rng.randrange(12)
    if op == 0 and n:  # flip a bit
        i = min(pos, n - 1)
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
    if op == 1 and n:  # an interesting byte value
        i = min(pos, n - 1)
        return data[:i] + bytes([rng.choice((0, 1, 0x7F, 0x80, 0x81, 0xFF))]) + data[i + 1 :]
    if op == 2:  # a token
        return data[:pos] + rng.choice(TOKENS) + data[pos:]
    if op == 3 and n:  # delete a range
        end = min(n, pos + rng.choice((1, 2, 4, 16, 64, 512)))
        return data[:pos] + data[end:]
    if op == 4 and n:  # repeat a range: depth, width and size
        start = rng.randrange(n)
        chunk = data[start : start + rng.choice((1, 2, 8, 40, 200))]
        return data[:pos] + chunk * rng.choice((2, 3, 10, 100, 1000)) + data[pos:]
    if op == 5 and n:  # truncate
        return data[:pos]
    if op == 6 and pool:  # splice another seed in
        other = rng.choice(pool)
        if other:
            start = rng.randrange(len(other))
            return data[:pos] + other[start : start + rng.randrange(1, 4096)] + data[pos:]
    if op == 7:  # random bytes
        return data[:pos] + rng.randbytes(rng.choice((1, 4, 32))) + data[pos:]
    if op == 8 and n > 1:  # a DER length byte: indefinite, long form, off by one
        i = min(pos, n - 2)
        tag = data.find(b"\x30", i)
        if tag >= 0 and tag + 1 < n:
            new = rng.choice((b"\x80", b"\x84\x7f\xff\xff\xff", bytes([(data[tag + 1] + 1) & 0xFF]),
                              bytes([(data[tag + 1] - 1) & 0xFF]), b"\x00"))
            return data[: tag + 1] + new + data[tag + 2 :]
    if op == 9 and n:  # swap two ranges
        a, b = sorted((rng.randrange(n), rng.randrange(n)))
        size = min(rng.choice((1, 8, 64)), b - a)
        first, second = data[a : a + size], data[b : b + size]
        return data[:a] + second + data[a + size : b] + first + data[b + size :]
    if op == 10 and n:  # a line break in the middle of things (header folding, boundaries)
        return data[:pos] + rng.choice((b"\r\n ", b"\r\n\t", b"\r\n--", b"\n\n")) + data[pos:]
    if op == 11:  # deep nesting: comments, quotes, groups, encoded words (recursion limits)
        depth = rng.choice((50, 500, 3000))
        left, right = rng.choice(((b"(", b")"), (b'"\\', b'"'), (b"a:", b";"), (b"<", b">"),
                                  (b"=?utf-8?q?(", b")?= ")))
        return data[:pos] + left * depth + right * depth + data[pos:]
    return data + rng.choice(TOKENS)


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes] = (), *,
           max_size: int = 1 << 20) -> bytes:
    """One to four mutations of ``data``; half the time inside a base64 body, re-encoded."""
    blocks = base64_blocks(data)
    if blocks and rng.random() < 0.5:
        start, end = rng.choice(blocks)
        try:
            inner = base64.b64decode(data[start:end], validate=False)
        except ValueError:
            inner = b""
        if inner:
            for _ in range(rng.randint(1, 4)):
                inner = _mutate_once(inner, rng, ())
            body = base64.encodebytes(inner[:max_size]).replace(b"\n", b"\r\n")
            return (data[:start] + body + data[end:])[:max_size]
    for _ in range(rng.randint(1, 4)):
        data = _mutate_once(data, rng, pool)
    return data[:max_size]
