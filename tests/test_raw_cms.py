"""Raw CMS files (DER/PEM .p7m and detached .p7s), both ways with OpenSSL, API and CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PLAIN, run

import smime
from smime.cli import main
from smime.core.cmsfile import detect_raw_cms, read_raw_cms, to_pem
from smime.errors import InvalidOptionError, ParseError
from smime.testing import TestPKI as PKI

#: A document, not a message: binary, lone LFs and CRs that no line-end rule may touch.
DOCUMENT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n\x00\xff binary\r\nlone cr\rend\n" * 50
FORMS = [("der", "DER"), ("pem", "PEM")]


@pytest.fixture()
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.pdf"
    path.write_bytes(DOCUMENT)
    return path


def _trust(pki: PKI) -> smime.TrustStore:
    return smime.TrustStore.from_pem(str(pki.root_path))


def _openssl_sign(openssl: str, pki: PKI, src: Path, out: Path, flag: str, *extra: str) -> None:
    user = pki["alice"]
    run(openssl, "cms", "-sign", "-binary", "-in", src, "-signer", user.cert_path,
        "-inkey", user.key_path, "-certfile", pki.intermediate_path, "-outform", flag,
        "-out", out, *extra)


@pytest.mark.parametrize(("form", "flag"), FORMS)
@pytest.mark.parametrize("cipher", ["-aes-256-gcm", "-aes256"])
def test_openssl_p7m_decrypts_byte_for_byte(
    openssl: str, pki: PKI, doc: Path, tmp_path: Path, form: str, flag: str, cipher: str
) -> None:
    out = tmp_path / f"doc.p7m.{form}"
    run(openssl, "cms", "-encrypt", "-binary", cipher, "-in", doc, "-outform", flag,
        "-out", out, pki["alice"].cert_path)
    data = out.read_bytes()
    assert detect_raw_cms(data) == form
    opened = smime.decrypt(data, pki["alice"].identity)
    assert opened.get_payload(decode=True) == DOCUMENT
    assert opened.decryption.authenticated == (cipher == "-aes-256-gcm")
    unwrapped = smime.unwrap(data, identity=pki["alice"].identity)
    assert [layer.kind for layer in unwrapped.layers] == ["encrypted"]
    assert unwrapped.content.get_payload(decode=True) == DOCUMENT


@pytest.mark.parametrize(("form", "flag"), FORMS)
def test_openssl_detached_p7s_verifies_with_its_content(
    openssl: str, pki: PKI, doc: Path, tmp_path: Path, form: str, flag: str
) -> None:
    p7s = tmp_path / f"doc.p7s.{form}"
    _openssl_sign(openssl, pki, doc, p7s, flag)
    result = smime.verify(p7s.read_bytes(), _trust(pki), content=DOCUMENT)
    assert result.valid, result.problems
    assert result.detached
    assert result.content.get_payload(decode=True) == DOCUMENT
    forged = smime.verify(p7s.read_bytes(), _trust(pki), content=DOCUMENT + b"x")
    assert not forged.valid
    assert not forged.signers[0].intact


@pytest.mark.parametrize(("form", "flag"), FORMS)
def test_openssl_opaque_p7m_verifies_and_gives_the_content(
    openssl: str, pki: PKI, doc: Path, tmp_path: Path, form: str, flag: str
) -> None:
    p7m = tmp_path / f"doc.p7m.{form}"
    _openssl_sign(openssl, pki, doc, p7m, flag, "-nodetach")
    result = smime.verify(p7m.read_bytes(), _trust(pki))
    assert result.valid, result.problems
    assert result.content.get_payload(decode=True) == DOCUMENT
    tree = smime.inspect(p7m.read_bytes())
    assert tree.title == f"raw CMS file ({flag})"
    assert "SignedData" in str(tree)


def test_signed_content_with_a_from_is_still_bound_to_it(pki: PKI) -> None:
    """A raw file names no sender; signed content that does is checked against it."""
    letter = PLAIN.replace(b"alice@example.com", b"mallory@example.com")
    der = smime.sign(letter, pki["alice"].identity, detached=False, format="der")
    result = smime.verify(der, _trust(pki))
    assert not result.valid
    assert any(p.code == "sender_mismatch" for p in result.problems), result.problems


@pytest.mark.parametrize(("form", "flag"), FORMS)
def test_our_raw_output_opens_with_openssl(
    openssl: str, pki: PKI, doc: Path, tmp_path: Path, form: str, flag: str
) -> None:
    user = pki["alice"]
    sealed = smime.encrypt(DOCUMENT, user.certificate, cipher="aes-256-gcm", format=form)
    assert isinstance(sealed, bytes) and detect_raw_cms(sealed) == form
    (tmp_path / "sealed").write_bytes(sealed)
    done = run(openssl, "cms", "-decrypt", "-binary", "-inform", flag, "-in",
               tmp_path / "sealed", "-recip", user.cert_path, "-inkey", user.key_path)
    assert done.stdout == DOCUMENT
    for detached in (True, False):
        signed = smime.sign(DOCUMENT, user.identity, detached=detached, format=form)
        (tmp_path / "signed").write_bytes(signed)
        content = ["-content", str(doc)] if detached else []
        done = run(openssl, "cms", "-verify", "-binary", "-inform", flag, "-in",
                   tmp_path / "signed", *content, "-CAfile", pki.root_path,
                   "-purpose", "any")
        assert done.stdout == DOCUMENT
        again = smime.verify(signed, _trust(pki), content=DOCUMENT if detached else None)
        assert again.valid, again.problems


@pytest.mark.parametrize("form", ["der", "pem"])
def test_compressed_raw_round_trip(form: str) -> None:
    packed = smime.compress(DOCUMENT, format=form)
    assert detect_raw_cms(packed) == form
    opened = smime.unwrap(packed)
    assert [layer.kind for layer in opened.layers] == ["compressed"]
    assert opened.content.get_payload(decode=True) == DOCUMENT


def test_smime_form_is_unchanged_by_default(pki: PKI) -> None:
    sealed = smime.encrypt(PLAIN, pki["alice"].certificate)
    assert sealed.get_content_type() == "application/pkcs7-mime"
    assert detect_raw_cms(sealed.as_bytes()) is None


def test_format_is_checked(pki: PKI) -> None:
    with pytest.raises(InvalidOptionError, match=r"format='p7m'.*smime, der, pem"):
        smime.encrypt(PLAIN, pki["alice"].certificate, format="p7m")  # type: ignore[call-overload]


def test_malformed_raw_cms_is_a_parse_error(pki: PKI) -> None:
    der = smime.encrypt(DOCUMENT, pki["alice"].certificate, format="der")
    with pytest.raises(ParseError):
        smime.decrypt(der[: len(der) // 2], pki["alice"].identity)
    pem = to_pem(der)
    with pytest.raises(ParseError, match="no -----END CMS----- line"):
        smime.decrypt(pem[:-20], pki["alice"].identity)
    with pytest.raises(ParseError, match="malformed base64 in the PEM CMS file"):
        smime.decrypt(pem.replace(b"\n", b"\n*", 1), pki["alice"].identity)
    with pytest.raises(ParseError, match="not a signed message"):
        smime.verify(der, _trust(pki))
    with pytest.raises(ParseError, match="not a PEM CMS file"):
        read_raw_cms(der, "pem")
    with pytest.raises(ParseError, match="not a DER CMS file"):
        read_raw_cms(pem, "der")


def test_content_goes_with_a_detached_signature_only(pki: PKI) -> None:
    opaque = smime.sign(DOCUMENT, pki["alice"].identity, detached=False, format="der")
    with pytest.raises(InvalidOptionError, match="content="):
        smime.verify(opaque, _trust(pki), content=DOCUMENT)
    signed = smime.sign(PLAIN, pki["alice"].identity)
    with pytest.raises(InvalidOptionError, match="content="):
        smime.verify(signed, _trust(pki), content=DOCUMENT)


def test_a_message_is_never_taken_for_raw_cms() -> None:
    assert detect_raw_cms(PLAIN) is None
    assert detect_raw_cms(b"0: a header named zero\r\n\r\nbody") is None
    assert detect_raw_cms(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") is None


# ---------------------------------------------------------------------------- CLI


def _cli(*args: object) -> int:
    return main([str(a) for a in args])


def _identity_args(pki: PKI) -> list[object]:
    user = pki["alice"]
    return ["--cert", user.cert_path, "--key", user.key_path]


@pytest.mark.parametrize(("form", "flag"), FORMS)
def test_cli_reads_and_writes_raw_cms(
    openssl: str, pki: PKI, doc: Path, tmp_path: Path, form: str, flag: str
) -> None:
    user = pki["alice"]
    sealed, opened = tmp_path / "sealed", tmp_path / "opened"
    assert _cli("encrypt", "--recipient", user.cert_path, "--cipher", "aes-256-gcm",
                "--out-form", form, doc, "-o", sealed) == 0
    done = run(openssl, "cms", "-decrypt", "-binary", "-inform", flag, "-in", sealed,
               "-recip", user.cert_path, "-inkey", user.key_path)
    assert done.stdout == DOCUMENT
    assert _cli("decrypt", *_identity_args(pki), "--in-form", form, sealed, "-o", opened) == 0
    assert opened.read_bytes() == DOCUMENT

    p7s, content = tmp_path / "doc.p7s", tmp_path / "content"
    _openssl_sign(openssl, pki, doc, p7s, flag)
    assert _cli("verify", "--trust", pki.root_path, "--in-form", form, "--content", doc,
                p7s, "-o", content) == 0
    assert content.read_bytes() == DOCUMENT
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(DOCUMENT + b"x")
    assert _cli("verify", "--trust", pki.root_path, "--content", tampered, p7s) == 1

    ours = tmp_path / "ours.p7s"
    assert _cli("sign", *_identity_args(pki), "--chain", pki.intermediate_path,
                "--out-form", form, doc, "-o", ours) == 0
    run(openssl, "cms", "-verify", "-binary", "-inform", flag, "-in", ours, "-content", doc,
        "-CAfile", pki.root_path, "-purpose", "any")


def test_cli_in_form_must_match_the_input(
    pki: PKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    der = tmp_path / "sealed.p7m"
    der.write_bytes(smime.encrypt(DOCUMENT, pki["alice"].certificate, format="der"))
    assert _cli("decrypt", *_identity_args(pki), "--in-form", "pem", der) == 2
    assert "not a PEM CMS file" in capsys.readouterr().err
    assert _cli("decrypt", *_identity_args(pki), "--in-form", "smime", der) == 2
    assert "use --in-form der" in capsys.readouterr().err
    assert _cli("inspect", "--in-form", "der", der) == 0
    assert "raw CMS file (DER)" in capsys.readouterr().out
