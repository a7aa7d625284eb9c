"""The command line on what people have at hand: ``--trust system``, a PKCS#12 file where a
certificate belongs (said in words), and ``smime inspect`` on certificates and PKCS#12."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_cli import LETTER, expect_error, run

import smime
from smime.testing import TestPKI


@pytest.fixture
def signed(pki: TestPKI, tmp_path: Path) -> Path:
    path = tmp_path / "signed.eml"
    path.write_bytes(smime.sign(LETTER, pki["alice"].identity).as_bytes())
    return path


def test_trust_system_reads_the_system_bundle(pki: TestPKI, signed: Path, tmp_path: Path) -> None:
    """SSL_CERT_FILE names the bundle OpenSSL reads first: here, one that holds the root."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root_path.read_bytes())
    trusted = run("verify", "--trust", "system", signed, env={"SSL_CERT_FILE": str(bundle)})
    assert b"valid" in trusted.stdout.lower()
    # a system bundle without the root: the same message is not trusted (exit status 1)
    other = tmp_path / "other.pem"
    other.write_bytes(
        smime.testing.make_ca("Other root").certificate.public_bytes(serialization.Encoding.PEM)
    )
    run("verify", "--trust", "system", signed, env={"SSL_CERT_FILE": str(other)}, status=1)
    # and merged with a file
    run("verify", "--trust", "system", "--trust", pki.root_path, signed,
        env={"SSL_CERT_FILE": str(other)})


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["encrypt", "--recipient", "{p12}"], "--recipient {p12} is a PKCS#12 file"),
        (["verify", "--trust", "{p12}"], "--trust {p12} is a PKCS#12 file"),
        (["verify", "--trust", "{root}", "--certfile", "{p12}"],
         "--certfile {p12} is a PKCS#12 file"),
    ],
)
def test_a_pkcs12_file_where_certificates_belong_is_named(
    pki: TestPKI, signed: Path, command: list[str], words: str
) -> None:
    p12 = pki["bob"].p12_path
    names = {"p12": str(p12), "root": str(pki.root_path)}
    proc = run(*(arg.format(**names) for arg in command), signed, status=2)
    line = expect_error(proc, words.format(**names), "not a certificate file", "give the")
    assert "ParseError" not in line and "UnexpectedTag" not in line


def test_the_library_says_the_same(pki: TestPKI) -> None:
    p12 = pki["bob"].p12_path
    assert p12 is not None
    with pytest.raises(smime.errors.LoadError, match="this is a PKCS#12 file"):
        smime.load_certificates(p12)
    for value in (p12, str(p12)):
        with pytest.raises(smime.errors.LoadError, match=r"bob\.p12: this is a PKCS#12 file"):
            smime.encrypt(LETTER, value)
        with pytest.raises(smime.errors.LoadError, match=r"bob\.p12: this is a PKCS#12 file"):
            smime.verify(LETTER, trust=value)
    with pytest.raises(smime.errors.LoadError, match=r"load it with smime\.load_identity"):
        smime.encrypt(LETTER, p12.read_bytes())


def _facts(tree: dict[str, object]) -> list[dict[str, object]]:
    children = tree["children"]
    assert isinstance(children, list)
    return children


@pytest.mark.parametrize("form", ["PEM", "DER", "chain", "openssl pkcs12 -nokeys"])
def test_inspect_shows_a_bare_certificate(
    pki: TestPKI, tmp_path: Path, openssl: str, form: str
) -> None:
    user = pki["carol"]
    path = tmp_path / "cert"
    if form == "PEM":
        path = user.cert_path
    elif form == "DER":
        path.write_bytes(user.certificate.public_bytes(serialization.Encoding.DER))
    elif form == "chain":
        path = pki.folder / "chain.pem"
    else:
        assert user.p12_path is not None
        subprocess.run([openssl, "pkcs12", "-in", str(user.p12_path), "-passin",
                        f"pass:{pki.password}", "-nokeys", "-clcerts", "-out", str(path)],
                       check=True, capture_output=True, timeout=60)
    tree = json.loads(run("inspect", "--json", path).stdout)
    certs = _facts(tree)
    expected = ([pki.intermediate.certificate, pki.root.certificate] if form == "chain"
                else [user.certificate])
    assert len(certs) == len(expected)
    for node, cert in zip(certs, expected, strict=True):
        fields = node["fields"]
        assert isinstance(fields, dict)
        fingerprint = cert.fingerprint(smime.testing.hashes.SHA256()).hex(":")
        assert fields["SHA-256 fingerprint"] == fingerprint
    text = run("inspect", path).stdout.decode()
    assert "SHA-256 fingerprint" in text and "valid:" in text


def test_inspect_opens_a_pkcs12_with_the_password_options(pki: TestPKI, tmp_path: Path) -> None:
    user = pki["alice"]
    assert user.p12_path is not None
    secret = tmp_path / "password.txt"
    secret.write_text(pki.password + "\n")
    tree = json.loads(run("inspect", "--json", "--password-file", secret, user.p12_path).stdout)
    assert tree["title"] == "PKCS#12 identity"
    titles = [node["title"] for node in _facts(tree)]
    assert "alice@example.com" in titles[0] and len(titles) == 3
    by_env = run("inspect", "--password-env", "P", user.p12_path, env={"P": pki.password})
    assert b"alice@example.com" in by_env.stdout
    # without a password (and no terminal to ask on) or with a wrong one: one sentence
    expect_error(run("inspect", user.p12_path, status=2), "it needs a password",
                 "--password-file")
    expect_error(run("inspect", "--password-env", "P", user.p12_path, env={"P": "wrong"},
                     status=2), "wrong password", "--password-env P")


def test_inspect_still_reads_messages(pki: TestPKI, signed: Path) -> None:
    tree = json.loads(run("inspect", "--json", signed).stdout)
    assert tree["title"].startswith("multipart/signed")
