"""CompressedData (RFC 3274) and, alongside it, certs-only SignedData (.p7c).

No installed peer writes or reads compressed-data: OpenSSL 3.0 here is built without
zlib ("unsupported compression algorithm"), NSS and gpgsm have no such command. The
asn1crypto corpus sample (made by OpenSSL with zlib) stands in for the peer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import warnings
import zlib
from pathlib import Path

import pytest
from asn1crypto import cms, pem
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from smime.cms.certs import create_certs_only, read_certs_only
from smime.cms.compressed import (
    create_compressed_data,
    decompress_data,
    read_compressed_data,
)
from smime.errors import InvalidOptionError, ParseError, UnsupportedError
from smime.testing import TestPKI as PKI


def _compressed(raw: bytes, algorithm: str = "zlib") -> bytes:
    data = cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": algorithm},
            "encap_content_info": {"content_type": "data", "content": raw},
        }
    )
    return bytes(cms.ContentInfo({"content_type": "compressed_data", "content": data}).dump())


def _ca_certificate() -> x509.Certificate:
    """A small self-signed certificate, made at import for the module-level fuzz samples."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "fuzz")])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_round_trip() -> None:
    text = b"Content-Type: text/plain\r\n\r\n" + b"compress me, please. " * 500
    der = create_compressed_data(text)
    assert len(der) < len(text) // 10
    assert decompress_data(der) == text
    info = cms.ContentInfo.load(der)
    assert info["content_type"].native == "compressed_data"
    assert (
        info["content"]["compression_algorithm"]["algorithm"].dotted == "1.2.840.113549.1.9.16.3.8"
    )
    assert zlib.decompress(info["content"]["encap_content_info"]["content"].native) == text
    assert decompress_data(create_compressed_data(b"")) == b""
    noise = os.urandom(300_000)
    assert decompress_data(create_compressed_data(noise)) == noise


def test_inner_content_type() -> None:
    der = create_compressed_data(b"\x30\x00", content_type="signed_data")
    assert read_compressed_data(der).content_type == "signed_data"
    assert read_compressed_data(create_compressed_data(b"x")).content_type == "data"


@pytest.mark.corpus
def test_asn1crypto_sample(corpus: Path) -> None:
    der = (corpus / "asn1crypto" / "cms-compressed.der").read_bytes()
    expected = b"This is the message to encapsulate in PKCS#7/CMS\n"
    assert decompress_data(der) == expected
    _kind, _headers, from_pem = pem.unarmor(
        (corpus / "asn1crypto" / "cms-compressed.pem").read_bytes()
    )
    assert decompress_data(from_pem) == expected


def test_bomb_is_refused() -> None:
    bomb = _compressed(zlib.compress(bytes(64 * 1024 * 1024), 9))
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="limit of 1048576 bytes"):
        decompress_data(bomb, max_size=1024 * 1024)
    exact = create_compressed_data(bytes(4096))
    assert decompress_data(exact, max_size=4096) == bytes(4096)
    with pytest.raises(ParseError, match="limit"):
        decompress_data(exact, max_size=4095)


def test_malformed() -> None:
    stream = zlib.compress(b"some text that compresses " * 40)
    with pytest.raises(ParseError, match="truncated"):
        decompress_data(_compressed(stream[: len(stream) // 2]))
    with pytest.raises(ParseError, match="compressed-data"):
        decompress_data(_compressed(b"\x00not zlib at all"))
    with pytest.raises(UnsupportedError, match=r"1\.2\.3\.4"):
        decompress_data(_compressed(stream, algorithm="1.2.3.4"))
    with pytest.raises(ParseError, match="expected compressed-data"):
        decompress_data(cms.ContentInfo({"content_type": "data", "content": b"x"}).dump())
    for junk in (
        b"",
        b"\x30\x05\x06",
        b"garbage",
        b"\x30\x0b\x06\x09" + bytes.fromhex("2a864886f70d010910"),
    ):
        with pytest.raises(ParseError):
            decompress_data(junk)
    no_content = cms.ContentInfo({"content_type": "compressed_data"}).dump()
    with pytest.raises(ParseError, match="no content"):
        decompress_data(no_content)
    with pytest.raises(InvalidOptionError):
        create_compressed_data("text")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- certs-only


def test_certs_only_round_trip(pki: PKI) -> None:
    certs = [pki["alice"].certificate, pki.intermediate.certificate, pki.root.certificate]
    der = create_certs_only(certs)
    assert set(read_certs_only(der)) == set(certs)
    signed = cms.ContentInfo.load(der)["content"]
    assert (
        signed["signer_infos"].native == []
        and signed["encap_content_info"]["content"].native is None
    )
    with pytest.raises(InvalidOptionError):
        create_certs_only([])
    with pytest.raises(InvalidOptionError):
        create_certs_only([b"not a certificate"])


@pytest.mark.interop
def test_openssl_reads_our_certs_only(openssl: str, pki: PKI, tmp_path: Path) -> None:
    certs = [pki["bob"].certificate, pki["carol"].certificate]
    path = tmp_path / "smime.p7c"
    path.write_bytes(create_certs_only(certs))
    done = subprocess.run(
        [openssl, "pkcs7", "-inform", "DER", "-in", str(path), "-print_certs"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    pems = [c.public_bytes(serialization.Encoding.PEM) for c in certs]
    assert all(p in done.stdout for p in pems)
    crl2pkcs7 = subprocess.run(
        [
            openssl,
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            str(pki["alice"].cert_path),
            "-outform",
            "DER",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert read_certs_only(crl2pkcs7.stdout) == [pki["alice"].certificate]


@pytest.mark.corpus
def test_certs_only_corpus(corpus: Path) -> None:
    amazon = read_certs_only((corpus / "pyca-cryptography" / "amazon-roots.der").read_bytes())
    assert [c.subject.rfc4514_string() for c in amazon] == [
        "CN=Amazon Root CA 3,O=Amazon,C=US",
        "CN=Amazon Root CA 2,O=Amazon,C=US",
    ]
    degenerate = read_certs_only((corpus / "rfc4134" / "4.11.bin").read_bytes())
    assert sorted(c.subject.rfc4514_string() for c in degenerate) == ["CN=AliceDSS", "CN=CarlDSS"]
    mozilla = (corpus / "asn1crypto" / "mozilla-generated-by-openssl.pkcs7.der").read_bytes()
    assert len(read_certs_only(mozilla)) == 2


def test_certs_only_malformed() -> None:
    with pytest.raises(ParseError, match="certs-only"):
        read_certs_only(create_compressed_data(b"x"))
    for junk in (b"", b"\x30\x80", b"\x04\x01x"):
        with pytest.raises(ParseError):
            read_certs_only(junk)


@settings(max_examples=300, deadline=None)
@given(
    which=st.sampled_from(["compressed", "certs"]),
    position=st.integers(0, 10_000),
    value=st.integers(1, 255),
    truncate=st.booleans(),
)
def test_mutations_fail_cleanly(which: str, position: int, value: int, truncate: bool) -> None:
    der = _SAMPLES[which]
    data = bytearray(der)
    position %= len(data)
    if truncate:
        del data[position:]
    else:
        data[position] ^= value
    with contextlib.suppress(ParseError, UnsupportedError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about a mutated negative serial
        (decompress_data if which == "compressed" else read_certs_only)(bytes(data))


_SAMPLES = {
    "compressed": create_compressed_data(b"Content-Type: text/plain\r\n\r\n" + b"zip " * 200),
    "certs": create_certs_only([_ca_certificate()]),
}
