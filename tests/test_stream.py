"""smime.stream: the same results as the in-memory API, committed only when good, in
memory independent of the message's size."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import smime
import smime.stream as stream
from smime.errors import DecryptionError, ParseError, UsageError
from smime.problems import ProblemCode
from smime.stream._io import BLOCK
from smime.testing import TestPKI as PKI

REPO = Path(__file__).resolve().parent.parent


def big_message(path: Path, size: int) -> Path:
    """A message of about ``size`` bytes: a base64 attachment, written in blocks."""
    block = base64.encodebytes(os.urandom(57 * 16384)).replace(b"\n", b"\r\n")
    with path.open("wb") as out:
        out.write(b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: big\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
                  b"\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
                  b"--XYZ\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n")
        written = 0
        while written < size:
            out.write(block)
            written += len(block)
        out.write(b"--XYZ--\r\n")
    return path


@pytest.fixture(scope="module")
def message(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_message(tmp_path_factory.mktemp("stream") / "msg.eml", 3 * 1024 * 1024)



# ---------------------------------------------------------------------------- encrypt


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
@pytest.mark.parametrize("user", ["alice", "carol"])
def test_streamed_encryption_decrypts_as_in_memory(
    pki: PKI, message: Path, tmp_path: Path, cipher: str, user: str
) -> None:
    identity = pki[user].identity
    stream.encrypt(message, tmp_path / "enc.eml", identity.certificate, cipher=cipher)
    wire = (tmp_path / "enc.eml").read_bytes()
    assert wire.index(b"smime-type=") < wire.index(b"\r\n\r\n")
    assert b"MIAGCSqGSIb3DQEHA6CA" in wire or b"MIAGCyqGSIb3DQEJEAEXoIA" in wire  # BER, indefinite
    expected = smime.decrypt(message.read_bytes() and wire, identity)
    info = stream.decrypt(tmp_path / "enc.eml", tmp_path / "dec.eml", identity)
    assert (tmp_path / "dec.eml").read_bytes() == expected.as_bytes()
    assert info == expected.decryption
    in_memory = smime.encrypt(message.read_bytes(), identity.certificate, cipher=cipher)
    assert (tmp_path / "dec.eml").read_bytes() == smime.decrypt(
        in_memory.as_bytes(), identity).as_bytes()
    # and the in-memory message, read by the streaming reader, gives the same bytes
    out = io.BytesIO()
    stream.decrypt(io.BytesIO(in_memory.as_bytes()), out, identity)
    assert out.getvalue() == expected.as_bytes()


def test_encrypt_headers_as_in_memory(pki: PKI, message: Path, tmp_path: Path) -> None:
    cert = pki["alice"].certificate
    stream.encrypt(message, tmp_path / "enc.eml", cert, cipher="aes-256-gcm")
    ours = (tmp_path / "enc.eml").read_bytes()
    theirs = smime.encrypt(message.read_bytes(), cert, cipher="aes-256-gcm").as_bytes()
    assert ours.split(b"\r\n\r\n")[0] == theirs.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("form", ["der", "pem"])
def test_raw_cms_round_trip_keeps_the_bytes(pki: PKI, tmp_path: Path, form: str) -> None:
    data = os.urandom(300_001)  # binary: not a message at all
    (tmp_path / "data.bin").write_bytes(data)
    identity = pki["bob"].identity
    stream.encrypt(tmp_path / "data.bin", tmp_path / "data.p7m", identity.certificate,
                   format=form)  # type: ignore[arg-type]
    raw = (tmp_path / "data.p7m").read_bytes()
    assert raw.startswith(b"\x30\x80" if form == "der" else b"-----BEGIN CMS-----\n")
    stream.decrypt(tmp_path / "data.p7m", tmp_path / "out.bin", identity)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_file_objects_and_unseekable_input(pki: PKI, message: Path) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(buffer), 65536))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    identity = pki["alice"].identity
    encrypted = io.BytesIO()
    stream.encrypt(Pipe(message.read_bytes()), encrypted, identity.certificate)
    plain = io.BytesIO()
    stream.decrypt(Pipe(encrypted.getvalue()), plain, identity)
    assert plain.getvalue() == smime.decrypt(encrypted.getvalue(), identity).as_bytes()


def test_progress_hears_of_every_block(pki: PKI, message: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    stream.encrypt(message, tmp_path / "e.eml", pki["alice"].certificate, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == message.stat().st_size


# ---------------------------------------------------------------------------- commit rule


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "aes-256-cbc"])
def test_tampered_or_truncated_input_leaves_dst_untouched(
    pki: PKI, message: Path, tmp_path: Path, cipher: str
) -> None:
    identity = pki["alice"].identity
    stream.encrypt(message, tmp_path / "enc.p7m", identity.certificate, cipher=cipher,
                   format="der")
    der = (tmp_path / "enc.p7m").read_bytes()
    if cipher.endswith("gcm"):
        # the tag is the last OCTET STRING before the six end-of-contents octets
        tag_at = len(der) - 6 - 16
        bad = der[:tag_at] + bytes([der[tag_at] ^ 1]) + der[tag_at + 1 :]
    else:
        bad = der[: len(der) // 2]  # cut in the middle of the ciphertext
    (tmp_path / "bad.p7m").write_bytes(bad)
    dst = tmp_path / "out" / "plain.bin"
    dst.parent.mkdir()
    dst.write_bytes(b"what was there before")
    with pytest.raises(DecryptionError):
        stream.decrypt(tmp_path / "bad.p7m", dst, identity)
    assert dst.read_bytes() == b"what was there before"
    assert _leftovers(dst.parent) == []
    sink = io.BytesIO()
    with pytest.raises(DecryptionError):
        stream.decrypt(io.BytesIO(bad), sink, identity)
    assert sink.getvalue() == b""


def test_truncated_cbc_at_a_block_boundary(pki: PKI, tmp_path: Path) -> None:
    """Cut after whole segments: the framing may look complete up to there, the padding
    is then checked on the wrong block, or the end-of-contents is missing."""
    identity = pki["alice"].identity
    data = os.urandom(3 * (1 << 20))
    (tmp_path / "d").write_bytes(data)
    stream.encrypt(tmp_path / "d", tmp_path / "e", identity.certificate, cipher="aes-256-cbc",
                   format="der")
    der = (tmp_path / "e").read_bytes()
    first = der.index(b"\x04\x83" + BLOCK.to_bytes(3, "big"))  # the first segment's header
    for cut in (first + 5 + BLOCK, len(der) - 10):
        sink = io.BytesIO()
        with pytest.raises(DecryptionError):
            stream.decrypt(io.BytesIO(der[:cut]), sink, identity)
        assert sink.getvalue() == b""


def test_require_authenticated(pki: PKI, message: Path, tmp_path: Path) -> None:
    alice = pki["alice"].identity
    stream.encrypt(message, tmp_path / "cbc.eml", alice.certificate, cipher="aes-256-cbc")
    with pytest.raises(DecryptionError, match="require_authenticated"):
        stream.decrypt(tmp_path / "cbc.eml", tmp_path / "out.eml", alice,
                       require_authenticated=True)
    assert not (tmp_path / "out.eml").exists() and _leftovers(tmp_path) == []
    stream.sign(message, tmp_path / "signed.eml", alice)
    stream.encrypt(tmp_path / "signed.eml", tmp_path / "both.eml", alice.certificate,
                   cipher="aes-256-cbc")
    info = stream.decrypt(tmp_path / "both.eml", tmp_path / "out.eml", alice,
                          require_authenticated=True)
    assert not info.authenticated
    assert smime.verify((tmp_path / "out.eml").read_bytes(),
                        smime.TrustStore.from_pem(pki.root_path)).valid


# ---------------------------------------------------------------------------- sign/verify


@pytest.mark.parametrize("detached", [True, False])
@pytest.mark.parametrize("user", ["alice", "carol", "erin"])
def test_streamed_signature_verifies_both_ways(
    pki: PKI, message: Path, tmp_path: Path, trust: smime.TrustStore, detached: bool,
    user: str,
) -> None:
    stream.sign(message, tmp_path / "s.eml", pki[user].identity, detached=detached)
    wire = (tmp_path / "s.eml").read_bytes()
    in_memory = smime.verify(wire, trust)
    shown = io.BytesIO()
    result = stream.verify(tmp_path / "s.eml", trust=trust, output=shown)
    # the message is From alice: the others' signatures hold, but do not bind the sender
    expected = set() if user == "alice" else {ProblemCode.SENDER_MISMATCH}
    assert in_memory.codes == result.codes == expected, result.problems
    assert all(s.intact and s.signature_valid and s.trusted for s in result.signers)
    assert result.detached == detached
    assert shown.getvalue() == in_memory.content.as_bytes()
    assert [s.certificate for s in result.signers] == [pki[user].identity.certificate]


def test_detached_signature_is_the_in_memory_wire_form(pki: PKI, message: Path,
                                                       tmp_path: Path) -> None:
    stream.sign(message, tmp_path / "s.eml", pki["alice"].identity)
    ours = (tmp_path / "s.eml").read_bytes()
    theirs = smime.sign(message.read_bytes(), pki["alice"].identity).as_bytes()
    # the same but for the random boundary and the signature (signing time, nonce)
    assert len(ours) == len(theirs)
    assert ours[: ours.index(b"boundary=")] == theirs[: theirs.index(b"boundary=")]
    ours_body = ours.split(b"\r\n\r\n", 2)[2]
    theirs_body = theirs.split(b"\r\n\r\n", 2)[2]
    assert ours_body[: len(ours_body) // 2] == theirs_body[: len(ours_body) // 2]


@pytest.mark.parametrize("detached", [True, False])
def test_tampered_signed_content_is_a_result_not_an_error(
    pki: PKI, message: Path, tmp_path: Path, trust: smime.TrustStore, detached: bool
) -> None:
    stream.sign(message, tmp_path / "s.eml", pki["alice"].identity, detached=detached)
    wire = bytearray((tmp_path / "s.eml").read_bytes())
    if detached:
        at = wire.index(b"See the attachment.")
        wire[at] = ord("Z")
    else:
        at = len(wire) // 2
        wire[at] = ord("A") if wire[at] != ord("A") else ord("B")
    result = stream.verify(io.BytesIO(bytes(wire)), trust=trust)
    assert not result.valid
    assert ProblemCode.DIGEST_MISMATCH in result.codes or ProblemCode.BAD_SIGNATURE in result.codes


def test_detached_p7s_with_content(pki: PKI, tmp_path: Path, trust: smime.TrustStore) -> None:
    data = os.urandom(2_000_000)
    (tmp_path / "data.bin").write_bytes(data)
    stream.sign(tmp_path / "data.bin", tmp_path / "data.p7s", pki["alice"].identity,
                format="der")
    result = stream.verify(tmp_path / "data.p7s", trust=trust, content=tmp_path / "data.bin")
    assert result.valid, result.problems
    (tmp_path / "other.bin").write_bytes(data[:-1] + b"x")
    result = stream.verify(tmp_path / "data.p7s", trust=trust, content=tmp_path / "other.bin")
    assert ProblemCode.DIGEST_MISMATCH in result.codes
    with pytest.raises(ParseError, match="content="):
        stream.verify(tmp_path / "data.p7s", trust=trust)


def test_eight_bit_bodies(pki: PKI, tmp_path: Path, trust: smime.TrustStore) -> None:
    small = (b"From: alice@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Gr\xc3\xbc\xc3\x9fe\r\n")
    (tmp_path / "small.eml").write_bytes(small)
    stream.sign(tmp_path / "small.eml", tmp_path / "s.eml", pki["alice"].identity)
    result = stream.verify(tmp_path / "s.eml", trust=trust)
    assert result.valid, result.problems
    ours = (tmp_path / "s.eml").read_bytes()
    theirs = smime.sign(small, pki["alice"].identity).as_bytes()
    assert len(ours) == len(theirs)  # canonicalised in memory by smime.sign's own code
    # 8-bit text found only after some output was written: started over, in memory
    late = (b"From: alice@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + b"line of text\r\n" * 300_000 + b"Gr\xc3\xbc\xc3\x9fe\r\n")
    (tmp_path / "late.eml").write_bytes(late)
    stream.encrypt(tmp_path / "late.eml", tmp_path / "e.eml", pki["alice"].certificate)
    shown = smime.decrypt((tmp_path / "e.eml").read_bytes(), pki["alice"].identity)
    assert shown.as_bytes() == smime.decrypt(
        smime.encrypt(late, pki["alice"].certificate).as_bytes(), pki["alice"].identity
    ).as_bytes()
    assert b"Content-Transfer-Encoding" in shown.as_bytes().split(b"\r\n\r\n")[0]
    with (tmp_path / "large.eml").open("wb") as out:
        out.write(b"Content-Type: application/octet-stream\r\n\r\n")
        for _ in range(17):
            out.write(os.urandom(1 << 20))
    with pytest.raises(UsageError, match="7-bit"):
        stream.sign(tmp_path / "large.eml", tmp_path / "l.eml", pki["alice"].identity)
    assert not (tmp_path / "l.eml").exists() and _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("data", [
    b"", b"\x30\x80\x06\x09", b"-----BEGIN CMS-----\nMIAG\n", b"garbage without headers",
    b"Content-Type: text/plain\r\n\r\nnot encrypted\r\n", b"\x30\x03\x02\x01\x00",
])
def test_garbage_is_a_parse_error(pki: PKI, data: bytes) -> None:
    sink = io.BytesIO()
    with pytest.raises(ParseError):
        stream.decrypt(io.BytesIO(data), sink, pki["alice"].identity)
    assert sink.getvalue() == b""
    with pytest.raises(ParseError):
        stream.verify(io.BytesIO(data))


def test_wrong_arguments_are_usage_errors(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        stream.decrypt(42, io.BytesIO(), pki["alice"].identity)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        stream.decrypt(tmp_path / "missing.eml", io.BytesIO(), pki["alice"].identity)
    with pytest.raises(smime.errors.InvalidOptionError):
        stream.encrypt(io.BytesIO(b"x"), io.BytesIO(), pki["alice"].certificate,
                       format="xml")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- memory

_RSS_CHILD = textwrap.dedent("""
    import json, sys, smime, smime.stream as stream
    folder, pki_dir = sys.argv[1], sys.argv[2]
    alice = smime.load_identity(pki_dir + "/alice.p12", password="secret")
    trust = smime.TrustStore.from_pem(pki_dir + "/root.pem")

    def rss(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise LookupError(field)

    def peak(run):
        open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
        base = rss("VmRSS")
        run()
        return rss("VmHWM") - base

    m = folder + "/msg.eml"
    out = {}
    out["encrypt-gcm"] = peak(lambda: stream.encrypt(m, folder + "/g", alice.certificate,
                                                     cipher="aes-256-gcm"))
    out["decrypt-gcm"] = peak(lambda: stream.decrypt(folder + "/g", folder + "/p", alice))
    out["encrypt-cbc"] = peak(lambda: stream.encrypt(m, folder + "/c", alice.certificate,
                                                     cipher="aes-256-cbc"))
    out["decrypt-cbc"] = peak(lambda: stream.decrypt(folder + "/c", folder + "/p", alice))
    out["sign-detached"] = peak(lambda: stream.sign(m, folder + "/d", alice))
    out["verify-detached"] = peak(lambda: stream.verify(folder + "/d", trust=trust))
    out["sign-opaque"] = peak(lambda: stream.sign(m, folder + "/o", alice, detached=False))
    out["verify-opaque"] = peak(lambda: stream.verify(folder + "/o", trust=trust,
                                                      output=folder + "/p"))
    print(json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_peak_memory_is_independent_of_size(pki: PKI, tmp_path: Path) -> None:
    """200 MB through every operation, each in the same child process, its peak RSS
    above what the process held before: far below the message, within 64 MiB."""
    size = 200 * 1024 * 1024
    big_message(tmp_path / "msg.eml", size)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(tmp_path), str(pki.root_path.parent)],
        capture_output=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    peaks = json.loads(done.stdout)
    assert set(peaks) == {"encrypt-gcm", "decrypt-gcm", "encrypt-cbc", "decrypt-cbc",
                          "sign-detached", "verify-detached", "sign-opaque", "verify-opaque"}
    for name, value in peaks.items():
        assert value < 64 * 1024 * 1024, (name, value / 1024 / 1024)


def test_micalg_naming_another_digest(pki: PKI, message: Path, tmp_path: Path,
                                      trust: smime.TrustStore) -> None:
    stream.sign(message, tmp_path / "s.eml", pki["alice"].identity, digest="sha512")
    wire = (tmp_path / "s.eml").read_bytes()
    assert b"micalg=sha-512" in wire
    (tmp_path / "m.eml").write_bytes(wire.replace(b"micalg=sha-512", b"micalg=sha-256", 1))
    result = stream.verify(tmp_path / "m.eml", trust=trust)  # a file: read again
    assert result.valid, result.problems

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    result = stream.verify(Pipe((tmp_path / "m.eml").read_bytes()), trust=trust)
    assert not result.valid
    assert any("micalg" in w.message for w in result.warnings)


def test_gcm_plaintext_is_not_judged_before_its_tag(pki: PKI) -> None:
    """Decrypted content that cannot be shown (here: too many header parameters) must not
    say so before the GCM tag is checked: a tampered message gets the DecryptionError
    every tampered message gets, never an error that tells something of its plaintext."""
    from smime.cms import RecipientSpec, create_enveloped_data

    alice = pki["alice"].identity
    content = b"Content-Type: text/plain" + b"; a=b" * 200 + b"\r\n\r\nbody\r\n"
    der = create_enveloped_data(content, [RecipientSpec(alice.certificate)],
                                cipher="aes-256-gcm")
    good = smime.mime.build_pkcs7_mime(der, smime_type="authEnveloped-data").as_bytes()
    with pytest.raises(ParseError, match="parameters"):  # authenticated: then it may say so
        stream.decrypt(io.BytesIO(good), io.BytesIO(), alice)
    tampered = der[:-1] + bytes([der[-1] ^ 1])  # the tag's last byte
    bad = smime.mime.build_pkcs7_mime(tampered, smime_type="authEnveloped-data").as_bytes()
    sink = io.BytesIO()
    with pytest.raises(DecryptionError):
        stream.decrypt(io.BytesIO(bad), sink, alice)
    assert sink.getvalue() == b""
