"""smime.stream against real peers: openssl cms (-stream both ways) and NSS cmsutil."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from helpers import run

import smime
import smime.stream as stream
from smime.testing import TestPKI as PKI

pytestmark = pytest.mark.interop

SIZE = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def message(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few MB of mail: a base64 attachment, as large messages carry their data."""
    path = tmp_path_factory.mktemp("stream-interop") / "msg.eml"
    body = base64.encodebytes(os.urandom(SIZE * 3 // 4)).replace(b"\n", b"\r\n")
    path.write_bytes(
        b"From: alice@example.com\r\nTo: alice@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
    )
    return path


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream-interop") / "data.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _entity(message: Path) -> bytes:
    """What a reader of the message gets after decryption: its MIME entity."""
    return smime.mime.prepare_entity(message.read_bytes()).entity


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
def test_openssl_decrypts_our_stream(
    openssl: str, pki: PKI, message: Path, tmp_path: Path, cipher: str
) -> None:
    alice = pki["alice"]
    stream.encrypt(message, tmp_path / "enc.eml", alice.certificate, cipher=cipher)
    run(openssl, "cms", "-decrypt", "-in", tmp_path / "enc.eml", "-recip", alice.cert_path,
        "-inkey", alice.key_path, "-binary", "-out", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == _entity(message)


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
@pytest.mark.parametrize("form", ["SMIME", "DER", "PEM"])
def test_we_decrypt_openssl_stream(
    openssl: str, pki: PKI, payload: Path, tmp_path: Path, cipher: str, form: str
) -> None:
    carol = pki["carol"]  # EC: key agreement, as well as RSA below
    for user in (pki["alice"], carol):
        run(openssl, "cms", "-encrypt", "-stream", "-binary", f"-{cipher}", "-outform", form,
            "-in", payload, "-out", tmp_path / "enc", user.cert_path)
        raw = (tmp_path / "enc").read_bytes()
        if form == "DER":
            assert raw[1] == 0x80  # indefinite length: what -stream writes
        stream.decrypt(tmp_path / "enc", tmp_path / "out", user.identity)
        out = (tmp_path / "out").read_bytes()
        if form == "SMIME":  # a message: what smime.decrypt shows of it
            assert out == smime.decrypt(raw, user.identity).as_bytes()
        else:
            assert out == payload.read_bytes()


@pytest.mark.parametrize("detached", [True, False])
def test_openssl_verifies_our_streamed_signature(
    openssl: str, pki: PKI, message: Path, tmp_path: Path, detached: bool
) -> None:
    stream.sign(message, tmp_path / "signed.eml", pki["alice"].identity, detached=detached)
    run(openssl, "cms", "-verify", "-in", tmp_path / "signed.eml", "-CAfile", pki.root_path,
        "-purpose", "smimesign", "-out", tmp_path / "out")
    assert (tmp_path / "out").read_bytes().replace(b"\r\n", b"\n") == _entity(
        message).replace(b"\r\n", b"\n")


def test_openssl_verifies_our_p7s(openssl: str, pki: PKI, payload: Path, tmp_path: Path) -> None:
    stream.sign(payload, tmp_path / "data.p7s", pki["carol"].identity, format="der")
    run(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "data.p7s",
        "-content", payload, "-CAfile", pki.root_path, "-purpose", "any", "-out", os.devnull)


@pytest.mark.parametrize("detached", [True, False])
def test_we_verify_openssl_stream_signatures(
    openssl: str, pki: PKI, message: Path, tmp_path: Path, detached: bool
) -> None:
    alice = pki["alice"]
    trust = smime.TrustStore.from_pem(pki.root_path)
    run(openssl, "cms", "-sign", "-stream", "-in", message, "-signer", alice.cert_path,
        "-inkey", alice.key_path, "-certfile", pki.intermediate_path,
        "-out", tmp_path / "signed.eml",
        *(() if detached else ("-nodetach",)))
    result = stream.verify(tmp_path / "signed.eml", trust=trust)
    assert result.valid, result.problems
    assert result.detached == detached
    assert smime.verify((tmp_path / "signed.eml").read_bytes(), trust).valid


@pytest.mark.parametrize("form", ["DER", "PEM"])
def test_we_verify_openssl_p7s_with_content(
    openssl: str, pki: PKI, payload: Path, tmp_path: Path, form: str
) -> None:
    alice = pki["alice"]
    trust = smime.TrustStore.from_pem(pki.root_path)
    run(openssl, "cms", "-sign", "-stream", "-binary", "-outform", form, "-in", payload,
        "-signer", alice.cert_path, "-inkey", alice.key_path,
        "-certfile", pki.intermediate_path, "-out", tmp_path / "data.p7s")
    result = stream.verify(tmp_path / "data.p7s", trust=trust, content=payload)
    assert result.valid, result.problems
    # opaque, with the content inside: output gets it as it is
    run(openssl, "cms", "-sign", "-stream", "-binary", "-nodetach", "-outform", form,
        "-in", payload, "-signer", alice.cert_path, "-inkey", alice.key_path,
        "-certfile", pki.intermediate_path, "-out", tmp_path / "data.p7m")
    result = stream.verify(tmp_path / "data.p7m", trust=trust, output=tmp_path / "out")
    assert result.valid, result.problems
    assert (tmp_path / "out").read_bytes() == payload.read_bytes()


def test_nss_decrypts_our_streamed_cbc(
    cmsutil: str, pki: PKI, payload: Path, tmp_path: Path
) -> None:
    db = tmp_path / "nssdb"
    db.mkdir()
    certutil = shutil.which("certutil") or "certutil"
    pk12util = shutil.which("pk12util") or "pk12util"
    run(certutil, "-N", "-d", f"sql:{db}", "--empty-password")
    run(certutil, "-A", "-d", f"sql:{db}", "-n", "root", "-t", "CT,C,C", "-i", pki.root_path)
    run(certutil, "-A", "-d", f"sql:{db}", "-n", "intermediate", "-t", ",,",
        "-i", pki.intermediate_path)
    run(pk12util, "-i", pki["alice"].p12_path, "-d", f"sql:{db}", "-W", pki.password)
    stream.encrypt(payload, tmp_path / "enc.der", pki["alice"].certificate,
                   cipher="aes-256-cbc", format="der")
    run(cmsutil, "-D", "-d", f"sql:{db}", "-i", tmp_path / "enc.der", "-o", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == payload.read_bytes()


@pytest.mark.parametrize("size", [0, 15, 16, 1 << 20])
@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
def test_openssl_decrypts_any_length(
    openssl: str, pki: PKI, tmp_path: Path, size: int, cipher: str
) -> None:
    alice = pki["alice"]
    data = os.urandom(size)
    (tmp_path / "data").write_bytes(data)
    stream.encrypt(tmp_path / "data", tmp_path / "enc.der", alice.certificate, cipher=cipher,
                   format="der")
    run(openssl, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "enc.der",
        "-recip", alice.cert_path, "-inkey", alice.key_path, "-out", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    stream.decrypt(tmp_path / "enc.der", tmp_path / "ours", alice.identity)
    assert (tmp_path / "ours").read_bytes() == data
