"""The MIME layer against real S/MIME: OpenSSL's messages and the corpus of other projects.

OpenSSL checks a detached signature over the exact bytes of the first part, so "openssl
verifies our ``signed_content`` in binary mode" proves we extract exactly those bytes.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from smime.mime import (
    SMIMEPart,
    build_multipart_signed,
    build_pkcs7_mime,
    find_smime_part,
    prepare_entity,
    to_message,
)
from smime.testing import TestPKI as PKI

CONTENT = (
    b"Content-Type: text/plain; charset=us-ascii\n\n"
    b"Hello from openssl.  \nFrom the second line\n\ttabbed\n"
)


@dataclass(frozen=True)
class OpenSSL:
    exe: str
    pki: PKI
    folder: Path

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [self.exe, "cms", *map(str, args)], capture_output=True, timeout=60, check=False
        )
        if check and done.returncode:
            raise AssertionError(done.stderr.decode(errors="replace"))
        return done

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def sign_args(self) -> list[str | Path]:
        alice = self.pki["alice"]
        return [
            "-signer", alice.cert_path, "-inkey", alice.key_path,
            "-certfile", self.pki.intermediate_path, "-md", "sha256",
        ]  # fmt: skip

    def verifies(self, der: bytes, content: bytes) -> bool:
        """OpenSSL's verdict on a detached signature over ``content`` taken as binary."""
        done = self.run(
            "-verify", "-binary", "-inform", "DER", "-in", self.write("v.der", der),
            "-content", self.write("v.bin", content), "-CAfile", self.pki.root_path,
            "-out", self.folder / "v.out", check=False,
        )  # fmt: skip
        return done.returncode == 0


@pytest.fixture(scope="module")
def ossl(openssl: str, pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> OpenSSL:
    tool = OpenSSL(openssl, pki, tmp_path_factory.mktemp("mime-openssl"))
    source = tool.write("content.txt", CONTENT)
    alice = pki["alice"]
    tool.run("-sign", "-in", source, *tool.sign_args(), "-out", tool.folder / "det.eml")
    tool.run(
        "-sign", "-in", source, *tool.sign_args(), "-crlfeol", "-out", tool.folder / "det-crlf.eml"
    )
    crlf = tool.write("content-crlf.txt", CONTENT.replace(b"\n", b"\r\n"))
    tool.run("-sign", "-binary", "-in", crlf, *tool.sign_args(), "-out", tool.folder / "bin.eml")
    tool.run(
        "-sign", "-nodetach", "-in", source, *tool.sign_args(), "-out", tool.folder / "opq.eml"
    )
    for cipher in ("aes-256-cbc", "aes-256-gcm"):
        tool.run(
            "-encrypt", f"-{cipher}", "-in", source, "-out", tool.folder / f"{cipher}.eml",
            alice.cert_path,
        )  # fmt: skip
    return tool


def _found(data: bytes) -> SMIMEPart:
    part = find_smime_part(data)
    assert part is not None
    return part


@pytest.mark.interop
@pytest.mark.parametrize("name", ["det.eml", "det-crlf.eml", "bin.eml"])
def test_openssl_detached_signature(ossl: OpenSSL, name: str) -> None:
    path = ossl.folder / name
    part = _found(path.read_bytes())
    assert (part.kind, part.micalg, part.protocol, part.path) == (
        "multipart/signed",
        "sha-256",
        "application/pkcs7-signature",
        "",
    )
    assert part.signed_content is not None
    out = ossl.folder / "out.txt"
    ossl.run("-verify", "-in", path, "-CAfile", ossl.pki.root_path, "-out", out)
    assert out.read_bytes() == part.signed_content
    assert ossl.verifies(part.der, part.signed_content)
    assert not ossl.verifies(part.der, part.signed_content.replace(b"Hello", b"Jello"))


@pytest.mark.interop
def test_message_converted_to_lf_by_a_unix_mailer_still_yields_the_signed_bytes(
    ossl: OpenSSL,
) -> None:
    original = _found((ossl.folder / "det-crlf.eml").read_bytes())
    converted = _found((ossl.folder / "det-crlf.eml").read_bytes().replace(b"\r\n", b"\n"))
    assert converted.signed_content == original.signed_content
    assert converted.signed_content is not None
    assert ossl.verifies(converted.der, converted.signed_content)


@pytest.mark.interop
def test_openssl_opaque_and_encrypted(ossl: OpenSSL) -> None:
    opaque = _found((ossl.folder / "opq.eml").read_bytes())
    assert (opaque.kind, opaque.smime_type, opaque.signed_content) == (
        "application/pkcs7-mime",
        "signed-data",
        None,
    )
    der = ossl.write("opq.der", opaque.der)
    ossl.run("-verify", "-inform", "DER", "-in", der, "-CAfile", ossl.pki.root_path)
    alice = ossl.pki["alice"]
    for cipher, smime_type in (
        ("aes-256-cbc", "enveloped-data"),
        ("aes-256-gcm", "authenveloped-data"),
    ):
        part = _found((ossl.folder / f"{cipher}.eml").read_bytes())
        assert (part.kind, part.smime_type) == ("application/pkcs7-mime", smime_type)
        done = ossl.run(
            "-decrypt", "-inform", "DER", "-in", ossl.write("e.der", part.der),
            "-recip", alice.cert_path, "-inkey", alice.key_path,
        )  # fmt: skip
        assert done.stdout == CONTENT.replace(b"\n", b"\r\n")


RISKY = (
    "From: Alice <alice@example.com>\nTo: bob@example.com\nSubject: Grüße, Bob\n"
    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    "Grüße  \nFrom here on\n" + "lang " * 250 + "\n"
).encode()


@pytest.mark.interop
def test_openssl_verifies_our_multipart_signed_also_after_reparsing(ossl: OpenSSL) -> None:
    prepared = prepare_entity(RISKY)
    sig = ossl.folder / "ours.p7s"
    ossl.run(
        "-sign", "-binary", "-in", ossl.write("entity.bin", prepared.entity), *ossl.sign_args(),
        "-outform", "DER", "-out", sig,
    )  # fmt: skip
    msg = build_multipart_signed(
        prepared.entity, sig.read_bytes(), micalg="sha-256", outer_headers=prepared.outer_headers
    )
    out = ossl.folder / "ours.out"
    for variant in (msg.as_bytes(), to_message(msg.as_bytes()).as_string().encode()):
        path = ossl.write("ours.eml", variant)
        ossl.run("-verify", "-in", path, "-CAfile", ossl.pki.root_path, "-out", out)
        assert out.read_bytes() == prepared.entity


@pytest.mark.interop
def test_openssl_reads_our_pkcs7_mime(ossl: OpenSSL) -> None:
    prepared = prepare_entity(RISKY)
    entity = ossl.write("entity.bin", prepared.entity)
    alice = ossl.pki["alice"]
    der = ossl.folder / "ours.der"
    ossl.run("-encrypt", "-binary", "-aes-256-cbc", "-in", entity, "-outform", "DER", "-out", der,
             alice.cert_path)  # fmt: skip
    wrapped = build_pkcs7_mime(
        der.read_bytes(), smime_type="enveloped-data", outer_headers=prepared.outer_headers
    )
    done = ossl.run("-decrypt", "-in", ossl.write("ours.eml", wrapped.as_bytes()),
                    "-recip", alice.cert_path, "-inkey", alice.key_path)  # fmt: skip
    assert done.stdout == prepared.entity
    ossl.run("-sign", "-nodetach", "-binary", "-in", entity, *ossl.sign_args(), "-outform", "DER",
             "-out", der)  # fmt: skip
    wrapped = build_pkcs7_mime(der.read_bytes(), smime_type="signed-data")
    done = ossl.run("-verify", "-in", ossl.write("ours.eml", wrapped.as_bytes()),
                    "-CAfile", ossl.pki.root_path)  # fmt: skip
    assert done.stdout == prepared.entity


# ---------------------------------------------------------------- the corpus


def _expected(name: str) -> tuple[str, str | None]:
    """Outermost layer from a Thunderbird corpus file name (the last layer named is outermost)."""
    layers = re.findall(r"(env|multipart|opaque)", name.split(".eml")[0])
    last = layers[-1]
    if last == "multipart":
        return "multipart/signed", None
    return "application/pkcs7-mime", "enveloped-data" if last == "env" else "signed-data"


@pytest.mark.corpus
def test_thunderbird_mailnews_messages(corpus: Path) -> None:
    files = sorted((corpus / "thunderbird-nss" / "mailnews").glob("*.eml"))
    assert len(files) == 66
    for path in files:
        part = _found(path.read_bytes())
        assert (part.kind, part.smime_type, part.path) == (*_expected(path.name), ""), path.name
        if part.kind == "multipart/signed":
            sha = re.findall(r"SHA(\d+)", path.name)[-1]
            assert part.micalg == ("sha-1" if sha == "1" else f"sha-{sha}"), path.name
        assert {"From", "To", "Subject", "Date"} <= {name for name, _ in part.outer_headers}


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "kind", "path"),
    [
        ("alice.dsig.SHA256.multipart.in.mixed.eml", "multipart/signed", "1"),
        ("alice.dsig.SHA256.multipart.in.mixed.with.header.eml", "multipart/signed", "2"),
        ("multipart-alternative.eml", "application/pkcs7-mime", "1"),
        ("nested-sigs.eml", "multipart/signed", ""),
        ("alice.env.eml", "application/pkcs7-mime", ""),
        ("alice.sig.SHA256.opaque.env.eml", "application/pkcs7-mime", ""),
    ],
)
def test_thunderbird_browser_messages(corpus: Path, name: str, kind: str, path: str) -> None:
    part = _found((corpus / "thunderbird-nss" / "browser" / name).read_bytes())
    assert (part.kind, part.path) == (kind, path)


@pytest.mark.corpus
def test_smime_around_pgp(corpus: Path) -> None:
    folder = corpus / "thunderbird-nss" / "openpgp-mixed"
    assert find_smime_part((folder / "inner-smime-sig-in-pgp-encrypted.eml").read_bytes()) is None
    for path in folder.glob("outer-smime-*.eml"):
        part = _found(path.read_bytes())
        assert (part.kind, part.path) == ("multipart/signed", "")


@pytest.mark.corpus
@pytest.mark.interop
@pytest.mark.parametrize(
    "name",
    [
        "mailnews/alice.dsig.SHA256.multipart.eml",
        "mailnews/alice.plain.dsig.SHA512.multipart.dave.dsig.SHA512.multipart.eml",
        "browser/alice.dsig.SHA256.multipart.in.mixed.with.header.eml",
    ],
)
def test_signed_content_from_the_corpus_verifies_in_openssl(
    corpus: Path, ossl: OpenSSL, name: str
) -> None:
    folder = corpus / "thunderbird-nss"
    part = _found((folder / name).read_bytes())
    assert part.signed_content is not None
    for content, ok in ((part.signed_content, 0), (part.signed_content + b"\r\n", 1)):
        done = ossl.run(
            "-verify", "-binary", "-inform", "DER", "-in", ossl.write("c.der", part.der),
            "-content", ossl.write("c.bin", content), "-CAfile", folder / "mailnews" / "TestCA.pem",
            check=False,
        )  # fmt: skip
        assert bool(done.returncode) == bool(ok), done.stderr


@pytest.mark.corpus
def test_other_corpora(corpus: Path) -> None:
    nist = sorted((corpus / "nist-pkits" / "smime").glob("*.eml"))
    assert len(nist) == 224
    for path in nist:
        part = _found(path.read_bytes())
        assert (part.kind, part.path) == ("multipart/signed", ""), path.name
        assert part.signed_content and part.signed_content.startswith(b"Content-Type: text/plain")
    rfc = corpus / "rfc4134"
    detached = _found((rfc / "4.8.eml").read_bytes())
    assert (detached.kind, detached.micalg) == ("multipart/signed", "SHA1")
    assert _found((rfc / "4.9.eml").read_bytes()).smime_type == "signed-data"
    assert _found((rfc / "5.3.eml").read_bytes()).smime_type == "enveloped-data"
    thunderbird_2013 = _found((corpus / "mimekit-smime" / "thunderbird-signed.txt").read_bytes())
    assert (thunderbird_2013.kind, thunderbird_2013.micalg) == ("multipart/signed", "sha1")


@pytest.mark.corpus
def test_received_signed_messages_survive_being_wrapped_again(corpus: Path) -> None:
    """Encrypting (or forwarding) a signed message from anyone keeps its signed bytes."""
    files = [*corpus.glob("**/*.eml"), corpus / "mimekit-smime" / "thunderbird-signed.txt"]
    checked = 0
    for path in sorted(files):
        data = path.read_bytes()
        original = find_smime_part(data)
        if original is None or original.kind != "multipart/signed":
            continue
        for again in (
            find_smime_part(prepare_entity(data).entity),
            find_smime_part(to_message(data)),
        ):
            assert again is not None, path.name
            assert (again.signed_content, again.der, again.path) == (
                original.signed_content,
                original.der,
                original.path,
            ), path.name
        checked += 1
    assert checked > 250
