"""Key files other tools open: a PKCS#12 from Java's keytool that also holds a DSA
certificate cryptography cannot parse (OpenSSL and Java open it), read bag by bag."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

import smime
from smime.core.pkcs12 import read_pkcs12_bags
from smime.errors import LoadError, PasswordError, SMIMEWarning

PASSWORD = "changeit-4711"


@pytest.fixture(scope="module")
def keytool_p12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alice's RSA key and certificate, plus a trusted DSA certificate, as keytool writes."""
    keytool = require_tool("keytool")
    folder = tmp_path_factory.mktemp("keytool")
    store = folder / "alice.p12"

    def run(*args: str) -> None:
        subprocess.run([keytool, *args], check=True, capture_output=True, timeout=120)

    common = ("-storetype", "PKCS12", "-storepass", PASSWORD, "-keypass", PASSWORD)
    run("-genkeypair", "-alias", "alice", "-keyalg", "RSA", "-keysize", "2048", "-validity",
        "30", "-dname", "CN=Alice,EMAILADDRESS=alice@example.com", "-keystore", str(store),
        *common)
    run("-genkeypair", "-alias", "old", "-keyalg", "DSA", "-keysize", "2048", "-validity",
        "30", "-dname", "CN=Old DSA", "-keystore", str(folder / "dsa.p12"), *common)
    run("-exportcert", "-alias", "old", "-keystore", str(folder / "dsa.p12"), "-storepass",
        PASSWORD, "-file", str(folder / "dsa.cer"))
    run("-importcert", "-noprompt", "-alias", "old-ca", "-file", str(folder / "dsa.cer"),
        "-keystore", str(store), "-storetype", "PKCS12", "-storepass", PASSWORD)
    return store


def test_cryptography_alone_refuses_the_file(keytool_p12: Path) -> None:
    """The reason this module exists: if cryptography learns to read it, this tells us."""
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(keytool_p12.read_bytes(), PASSWORD.encode())


def test_the_identity_loads_and_the_certificate_is_named(keytool_p12: Path) -> None:
    with pytest.warns(SMIMEWarning, match="skipped certificate CN=Old DSA"):
        alice = smime.load_identity(keytool_p12, password=PASSWORD)
    assert alice.email_addresses == ("alice@example.com",)
    assert alice.chain == ()


def test_openssl_agrees_on_the_key(keytool_p12: Path) -> None:
    openssl = require_tool("openssl")
    pem = subprocess.run(
        [openssl, "pkcs12", "-in", str(keytool_p12), "-passin", f"pass:{PASSWORD}",
         "-nokeys", "-clcerts"],
        check=True, capture_output=True, timeout=60,
    ).stdout
    with pytest.warns(SMIMEWarning):
        alice = smime.load_identity(keytool_p12, password=PASSWORD)
    assert x509.load_pem_x509_certificate(pem) == alice.certificate


def test_a_wrong_password_is_still_wrong(keytool_p12: Path) -> None:
    with pytest.raises(PasswordError) as caught:
        smime.load_identity(keytool_p12, password="not-it")
    assert caught.value.reason == "wrong"
    with pytest.raises(PasswordError) as caught:
        smime.load_identity(keytool_p12)
    assert caught.value.reason == "missing"


def test_the_mac_is_checked_before_anything_is_decrypted(keytool_p12: Path) -> None:
    with pytest.raises(PasswordError, match="wrong password"):
        read_pkcs12_bags(keytool_p12.read_bytes(), b"not-it")
    contents = read_pkcs12_bags(keytool_p12.read_bytes(), PASSWORD.encode())
    assert len(contents.keys) == 1 and len(contents.certificates) == 1
    assert contents.skipped == ("certificate CN=Old DSA, which is not strict X.509 DER",)


def test_a_tampered_file_fails_its_mac(keytool_p12: Path) -> None:
    data = bytearray(keytool_p12.read_bytes())
    data[len(data) // 2] ^= 1
    with pytest.raises((PasswordError, LoadError)):
        read_pkcs12_bags(bytes(data), PASSWORD.encode())


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x03", b"not pkcs12 at all"])
def test_garbage_is_a_load_error(data: bytes) -> None:
    with pytest.raises(LoadError):
        read_pkcs12_bags(data, b"x")


def test_our_own_files_read_the_same_way(pki: smime.testing.TestPKI) -> None:
    """The bag reader agrees with cryptography on a file cryptography reads."""
    user = pki["alice"]
    assert user.p12_path is not None
    contents = read_pkcs12_bags(user.p12_path.read_bytes(), pki.password.encode())
    assert user.certificate in contents.certificates
    assert contents.skipped == ()


def test_a_hostile_iteration_count_is_refused_not_run(keytool_p12: Path) -> None:
    """The MAC's key derivation is a Python loop: a file asking for billions of rounds is
    refused at once rather than left to run for hours."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    pfx = asn1_pkcs12.Pfx.load(keytool_p12.read_bytes())
    pfx["mac_data"]["iterations"] = 2**31 - 1
    with pytest.raises(LoadError, match="iterations"):
        read_pkcs12_bags(pfx.dump(force=True), PASSWORD.encode())


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1"])
def test_a_damaged_rsa_key_is_refused_before_openssl_tests_its_primes(form: str) -> None:
    """One wrong CRT number (as a bit flip leaves it) is refused at once, with a sentence;
    OpenSSL's own check took a second or more on such a 4096-bit key (the fuzzer's find)."""
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)
    numbers = key.private_numbers()
    damaged = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1 ^ 2, numbers.iqmp,
        numbers.public_numbers,
    )
    fmt = s.PrivateFormat.PKCS8 if form == "pkcs8" else s.PrivateFormat.TraditionalOpenSSL
    enc = s.Encoding.PEM
    data = damaged.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        enc, fmt, s.NoEncryption())
    with pytest.raises(LoadError, match="damaged RSA key"):
        smime.load_identity(data)
    good = key.private_bytes(enc, fmt, s.NoEncryption())
    with pytest.raises(LoadError) as caught:  # a bare key has no certificate; it loads
        smime.load_identity(good)
    assert "damaged" not in str(caught.value)
