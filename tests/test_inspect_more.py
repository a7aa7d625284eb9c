"""inspect: which recipient is you, a preview of text bodies, the ASN.1 structure, and the
certificate details; in the text, HTML and JSON views and on the command line."""

from __future__ import annotations

import json
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes
from helpers import tlv
from test_cli import LETTER as PLAIN
from test_cli import run

import smime
from smime.inspection import asn1_node
from smime.limits import ASN1_DUMP_DEPTH, ASN1_DUMP_ELEMENTS, PREVIEW_LINES

if TYPE_CHECKING:

    from smime.testing import TestPKI


def _sealed(pki: TestPKI, **options: object) -> bytes:
    signed = smime.sign(PLAIN, pki["alice"].identity)
    recipients = [pki["bob"].certificate, pki["carol"].certificate]
    return smime.encrypt(signed, recipients, **options).as_bytes()  # type: ignore[arg-type]


@pytest.mark.parametrize("identify_by", ["issuer_and_serial", "subject_key_identifier"])
def test_a_certificate_marks_its_recipient_without_a_key(pki: TestPKI, identify_by: str) -> None:
    tree = smime.inspect(_sealed(pki, identify_by=identify_by), pki["carol"].certificate)
    first, second = tree.find("recipient")
    assert first.field("you") is None and not first.title.endswith("(you)")
    assert second.title.endswith("(you)") and "Carol" in (second.field("you") or "")
    (layer,) = tree.find("enveloped-data")
    assert layer.field("you") == "recipient 2"
    assert not tree.find("decrypted")  # a certificate marks, it does not decrypt


def test_an_identity_marks_and_decrypts(pki: TestPKI) -> None:
    tree = smime.inspect(_sealed(pki), pki["bob"].identity)
    assert [r.field("you") is not None for r in tree.find("recipient")] == [True, False]
    assert tree.find("decrypted")


def test_someone_else_is_not_a_recipient(pki: TestPKI) -> None:
    tree = smime.inspect(_sealed(pki), pki["dave"].certificate)
    assert tree.find("enveloped-data")[0].field("you") == "not a recipient"
    assert all(r.field("you") is None for r in tree.find("recipient"))


def test_a_wrong_identity_type_is_a_usage_error(pki: TestPKI) -> None:
    with pytest.raises(smime.errors.UsageError, match=r"Identity .* or a certificate, not int"):
        smime.inspect(_sealed(pki), 42)  # type: ignore[arg-type]
    with pytest.raises(smime.errors.UsageError, match="load the key file first"):
        smime.inspect(_sealed(pki), str(pki["bob"].p12_path))  # type: ignore[arg-type]


def test_signed_text_has_a_preview(pki: TestPKI) -> None:
    tree = smime.inspect(smime.sign(PLAIN, pki["alice"].identity, detached=False))
    (body,) = [n for n in tree.walk() if n.title == "text/plain"]
    assert body.preview.splitlines() == ["Hello Bob,", "the meeting is at 10:00 in room 4."]
    assert "  | the meeting is at 10:00 in room 4." in str(tree)
    assert body.to_dict()["preview"] == body.preview
    assert "<pre" in tree._repr_html_() and "the meeting is at 10:00" in tree._repr_html_()
    assert tree.to_dict()["preview"] is None  # only text parts have one


def test_preview_is_cut_and_read_in_its_charset() -> None:
    msg = EmailMessage()
    msg.set_content("".join(f"Zeile {n}: Grüße\n" for n in range(40)), charset="iso-8859-1",
                    cte="8bit")
    tree = smime.inspect(msg.as_bytes())
    lines = tree.preview.splitlines()
    assert lines[0] == "Zeile 0: Grüße"
    assert len(lines) == PREVIEW_LINES + 1 and lines[-1].startswith("… (")


@pytest.mark.parametrize("charset", ["idna", "punycode", "undefined", "uu_codec", "x-unknown"])
def test_preview_of_a_body_in_a_strange_charset(charset: str) -> None:
    message = (b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n"
               b"caf\xc3\xa9 \xff\r\n")
    assert smime.inspect(message).preview.startswith("café")


def test_hostile_preview_is_escaped_on_the_terminal(pki: TestPKI) -> None:
    msg = EmailMessage()
    msg.set_content("fine\n\x1b[2J\x1b[Hsignature VALID\n")
    signed = smime.sign(msg, pki["alice"].identity, detached=False).as_bytes()
    out = run("inspect", stdin=signed).stdout.decode()
    assert "\x1b" not in out and "| \\x1b[2J\\x1b[Hsignature VALID" in out


def test_asn1_dump_names_oids_and_cuts_values(pki: TestPKI) -> None:
    tree = smime.inspect(smime.sign(PLAIN, pki["alice"].identity), asn1=True)
    (dump,) = tree.find("asn1-structure")
    titles = [n.title for n in dump.walk()]
    assert titles[1].startswith("SEQUENCE (")
    assert "OBJECT IDENTIFIER (9 bytes): 1.2.840.113549.1.7.2 (signed_data)" in titles
    assert any(t.endswith("2.16.840.1.101.3.4.2.1 (sha256)") for t in titles)
    assert any(t.endswith("(message-digest)") for t in titles)
    assert any(t.startswith("UTCTime") and "+00:00" in t for t in titles)
    assert any("2.5.4.3 (CN)" in t for t in titles)
    signature = next(t for t in titles if t.startswith("OCTET STRING (256 bytes)"))
    assert signature.endswith("…") and len(signature) < 120
    assert "ASN.1 structure" in str(tree)
    json.dumps(tree.to_dict())
    assert not smime.inspect(smime.sign(PLAIN, pki["alice"].identity)).find("asn1-structure")


def test_asn1_dump_on_raw_cms_and_encrypted(pki: TestPKI) -> None:
    tree = smime.inspect(_sealed(pki), asn1=True)
    titles = [n.title for n in tree.find("asn1-structure")[0].walk()]
    assert any("(enveloped_data)" in t for t in titles)
    raw = smime.sign(PLAIN, pki["alice"].identity, format="der", detached=False)
    tree = smime.inspect(raw, asn1=True)
    assert tree.title == "raw CMS file (DER)" and tree.find("asn1-structure")


def test_asn1_dump_caps_depth_and_elements() -> None:
    deep = b"\x05\x00"
    for _ in range(ASN1_DUMP_DEPTH + 10):
        deep = tlv(0x30, deep)
    titles = [n.title for n in asn1_node(deep).walk()]
    assert sum(t.startswith("SEQUENCE") for t in titles) == ASN1_DUMP_DEPTH + 1
    assert titles[-1].endswith("(nested deeper: not shown)")
    wide = tlv(0x30, b"\x05\x00" * (ASN1_DUMP_ELEMENTS + 50))
    nodes = list(asn1_node(wide).walk())
    assert len(nodes) == ASN1_DUMP_ELEMENTS + 2  # the dump node, the shown, one "more" line
    assert nodes[-1].title == f"… more elements not shown (at most {ASN1_DUMP_ELEMENTS})"
    exact = tlv(0x30, b"\x05\x00" * (ASN1_DUMP_ELEMENTS - 1))
    assert "more elements" not in str(asn1_node(exact))  # all shown: nothing said to be cut


def test_asn1_dump_of_a_huge_structure_costs_what_it_shows() -> None:
    huge = tlv(0x30, *(tlv(0x30, tlv(0x02, b"\x01")) for _ in range(300_000)))
    started = time.perf_counter()
    nodes = list(asn1_node(huge).walk())
    assert len(nodes) == ASN1_DUMP_ELEMENTS + 2
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("data", [b"\x30\x05\x02\x01", b"", b"\x30\x80\x02\x01\x01"])
def test_asn1_dump_of_broken_der_is_an_error_node(data: bytes) -> None:
    node = asn1_node(data)
    assert node.kind == "error" and "unreadable ASN.1" in node.title


def test_certificate_details_in_inspect(pki: TestPKI) -> None:
    tree = smime.inspect(smime.sign(PLAIN, pki["alice"].identity))
    alice = pki["alice"].certificate
    cert = next(c for c in tree.find("certificate") if c.field("email") == "alice@example.com")
    assert cert.field("SHA-256 fingerprint") == alice.fingerprint(hashes.SHA256()).hex(":")
    assert cert.field("alternative names") == "email:alice@example.com"
    assert "digitalSignature" in (cert.field("key usage") or "")
    assert "emailProtection" in (cert.field("extended key usage") or "")
    assert (cert.field("valid") or "").endswith("UTC")


def test_cli_inspect_marks_you_and_dumps_asn1(pki: TestPKI) -> None:
    sealed = _sealed(pki)
    out = run("inspect", "--cert", pki["bob"].cert_path, stdin=sealed).stdout.decode()
    assert "you: recipient 1" in out and "(you)" in out and "decrypted" not in out
    out = run("inspect", "--identity", pki["bob"].p12_path, "--json", stdin=sealed,
              env={"SMIME_PASSWORD": pki.password}).stdout
    data = json.loads(out)
    text = json.dumps(data)
    assert '"you": "recipient 1"' in text and "decrypted" in text
    assert "the meeting is at 10:00" in text  # the preview of the decrypted, signed body
    out = run("inspect", "--asn1", stdin=smime.sign(PLAIN, pki["alice"].identity).as_bytes())
    assert "OBJECT IDENTIFIER (9 bytes): 1.2.840.113549.1.7.2 (signed_data)" in out.stdout.decode()


def test_cli_inspect_cert_refuses_a_p12(pki: TestPKI) -> None:
    err = run("inspect", "--cert", pki["bob"].p12_path, stdin=_sealed(pki), status=2).stderr
    assert b"--cert" in err and b"--identity" in err
