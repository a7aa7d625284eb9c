"""Results render themselves: ``summary()`` for people, ``to_dict()`` for programs.

The CLI prints exactly what the library renders (made safe for a terminal), so the two
cannot drift apart.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import NameOID
from test_cli import LETTER, run

import smime
from smime.cli._io import printable
from smime.core.names import name_text
from smime.testing import issue_certificate, make_ca

if TYPE_CHECKING:
    from smime.testing import TestPKI

SIGNER_KEYS = [
    "valid", "email_addresses", "subject", "issuer", "serial", "certificate", "signing_time",
    "digest_algorithm", "signature_algorithm", "intact", "signature_valid", "trusted",
    "chain", "identifier", "capabilities", "signed_attributes", "encryption_key_preference",
    "problems", "warnings",
]
EMAIL_ADDRESS = {NameOID.EMAIL_ADDRESS: "emailAddress"}
RESULT_KEYS = [
    "valid", "detached", "covers", "signers", "problems", "warnings", "unsigned_parts",
    "signed_headers", "headers", "certificates",
]


@pytest.fixture(scope="module")
def trust(pki: TestPKI) -> smime.TrustStore:
    return smime.TrustStore.from_certificates([pki.root.certificate])


def _plain(data: object) -> object:
    """``data`` after a JSON round trip: equal only when it was plain, JSON-safe data."""
    return json.loads(json.dumps(data))


def test_verification_to_dict_is_plain_data_with_the_documented_keys(
    pki: TestPKI, trust: smime.TrustStore
) -> None:
    alice = pki["alice"]
    result = smime.verify(smime.sign(LETTER, alice.identity), trust)
    data = result.to_dict()
    assert _plain(data) == data
    assert list(data) == RESULT_KEYS
    assert data["valid"] is True and data["covers"] is None and data["detached"] is True
    (signer,) = data["signers"]
    assert list(signer) == SIGNER_KEYS
    assert signer["email_addresses"] == ["alice@example.com"]
    assert signer["serial"] == format(alice.certificate.serial_number, "x")
    assert "emailAddress=alice@example.com" in signer["subject"]  # spelled out, not an OID
    assert signer["chain"][0] == signer["subject"] and len(signer["chain"]) == 3
    assert signer["signing_time"] == result.signers[0].signing_time.isoformat()  # type: ignore[union-attr]
    assert "aes-256-gcm" in signer["capabilities"]
    named = {"subject": signer["subject"], "issuer": signer["issuer"], "serial": signer["serial"]}
    assert [c for c in data["certificates"] if named.items() <= c.items()] == [
        signer["certificate"]]
    facts = signer["certificate"]
    assert facts["sha256_fingerprint"] == alice.certificate.fingerprint(SHA256()).hex()
    assert facts["not_after"] == alice.certificate.not_valid_after_utc.isoformat()
    assert facts["alternative_names"] == ["email:alice@example.com"]
    assert "digitalSignature" in facts["key_usage"]


def test_problems_render_as_code_and_message(pki: TestPKI, trust: smime.TrustStore) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    result = smime.verify(signed.replace(b"10:00", b"11:00"), trust)
    data = result.to_dict()
    assert data["valid"] is False
    assert data["problems"] == [{"code": p.code.value, "message": p.message}
                                for p in result.problems]
    assert "digest_mismatch" in {p["code"] for p in data["problems"]}
    assert data["signers"][0]["intact"] is False


def test_unwrap_to_dict_renders_every_layer(pki: TestPKI, trust: smime.TrustStore) -> None:
    bob = pki["bob"]
    signed = smime.sign(LETTER, pki["alice"].identity)
    sealed = smime.encrypt(smime.compress(signed), bob.certificate, cipher="aes-128-cbc")
    unwrapped = smime.unwrap(sealed, bob.identity, trust)
    data = unwrapped.to_dict()
    assert _plain(data) == data
    assert [layer["kind"] for layer in data["layers"]] == ["encrypted", "compressed", "signed"]
    encrypted, compressed, verified = data["layers"]
    assert encrypted["result"] == {"cipher": "aes-128-cbc", "authenticated": False,
                                   "key_management": "rsa-pkcs1v15", "content_type": "data"}
    assert compressed == {"kind": "compressed", "path": None, "result": None}
    assert verified["result"] == unwrapped.verifications[0].to_dict()
    assert data["valid"] is True and data["signed"] is True and data["encrypted"] is True

    certs = smime.unwrap(smime.export_certificates([bob.certificate])).to_dict()
    (layer,) = certs["layers"]
    assert layer["kind"] == "certs-only" and layer["path"] is None
    (cert,) = layer["result"]
    assert {"subject": bob.certificate.subject.rfc4514_string(EMAIL_ADDRESS),
            "issuer": pki.intermediate.certificate.subject.rfc4514_string(),
            "serial": format(bob.certificate.serial_number, "x"),
            }.items() <= cert.items()
    assert cert["email_addresses"] == ["bob@example.com"]


def test_summary_shows_certificate_chain_and_headers(pki: TestPKI, trust: smime.TrustStore) -> None:
    alice = pki["alice"]
    lines = smime.verify(smime.sign(LETTER, alice.identity), trust).summary().split("\n")
    assert lines[0] == "signature VALID"
    assert lines[1].startswith("  signer: alice@example.com (rsa-pkcs1v15 with sha256, ")
    subject = alice.certificate.subject.rfc4514_string(EMAIL_ADDRESS)
    assert lines[2] == f"    certificate: {subject} (serial {alice.certificate.serial_number:#x})"
    assert lines[3].startswith("    issued by: ") and "smime Test Intermediate CA" in lines[3]
    assert lines[4].startswith("  headers: unsigned")


def test_summary_keeps_each_value_on_its_line() -> None:
    """A certificate name with line breaks cannot add lines (a forged "signature VALID")."""
    forged = "x\nsignature VALID\r\u2028\x85"
    mallory = issue_certificate(make_ca("Outsider CA"), "mallory@example.com", common_name=forged)
    result = smime.verify(smime.sign(LETTER, mallory))
    summary = result.summary()
    assert summary.count("\n") == len(summary.splitlines()) - 1  # no other line breaks
    assert all(line.startswith(("signature NOT VALID", "  ")) for line in summary.splitlines())
    assert "CN=x\\0Asignature VALID\\0D\\E2\\80\\A8\\C2\\85" in summary
    # data keeps the name exactly, as RFC 4514 text (which writes these characters as hex)
    cn = name_text(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, forged)]))
    assert cn in result.to_dict()["signers"][0]["subject"]


def test_cli_verify_prints_what_the_library_renders(pki: TestPKI, trust: smime.TrustStore) -> None:
    signed = smime.sign(LETTER, pki["alice"].identity).as_bytes()
    result = smime.verify(signed, trust)
    text = run("verify", "--trust", pki.root_path, stdin=signed).stdout.decode()
    assert text == "\n".join(printable(line) for line in result.summary().split("\n")) + "\n"
    data = json.loads(run("verify", "--trust", pki.root_path, "--json", stdin=signed).stdout)
    assert data == result.to_dict()
