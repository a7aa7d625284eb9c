"""The signer's public key as cms._certs hands it over: any certificate key, or a Problem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

from smime.cms._certs import Cert, public_key
from smime.problems import Problem, ProblemCode


@pytest.fixture(scope="module")
def dh_certificate(tmp_path_factory: pytest.TempPathFactory, openssl: str) -> bytes:
    """DER of a CA-signed certificate for an X9.42 Diffie-Hellman key (one that cannot sign)."""
    folder: Path = tmp_path_factory.mktemp("dh")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=120,
                       cwd=folder)

    run("genpkey", "-genparam", "-algorithm", "DHX", "-pkeyopt", "dh_rfc5114:2", "-out", "p.pem")
    run("genpkey", "-paramfile", "p.pem", "-out", "dh.pem")
    run("pkey", "-in", "dh.pem", "-pubout", "-out", "dhpub.pem")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-subj", "/CN=ca", "-days", "2", "-out", "ca.pem")
    run("x509", "-new", "-force_pubkey", "dhpub.pem", "-subj", "/CN=dh", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-days", "2", "-outform", "DER", "-out", "dh.der")
    return (folder / "dh.der").read_bytes()


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_dh_key_read_through_asn1crypto_is_refused(dh_certificate: bytes) -> None:
    # crypto=None: the certificate as cryptography refused it, so the SPKI route is taken
    found = public_key(Cert(dh_certificate, None, from_message=True), [])
    assert isinstance(found, Problem)
    assert found.code is ProblemCode.UNSUPPORTED_ALGORITHM
    assert "Diffie-Hellman key does not sign" in found.message


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_dh_key_loaded_by_cryptography_is_handed_over(dh_certificate: bytes) -> None:
    # cryptography loads it (despite its CertificatePublicKeyTypes): key_mismatch names it
    found = public_key(Cert.from_der(dh_certificate, from_message=True), [])
    assert isinstance(found, dh.DHPublicKey)
    expected = x509.load_der_x509_certificate(dh_certificate).public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert found.public_bytes(serialization.Encoding.DER, spki) == \
        expected.public_bytes(serialization.Encoding.DER, spki)
