"""Tampered and hostile input: not valid with a named problem, or ParseError; nothing else."""

from __future__ import annotations

import base64
import contextlib
import re

import pytest
from helpers import PLAIN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smime
from smime.errors import SMIMEError
from smime.problems import ProblemCode


@pytest.fixture(scope="module")
def detached(pki) -> bytes:
    return smime.sign(PLAIN, pki["alice"].identity).as_bytes()


@pytest.fixture(scope="module")
def opaque(pki) -> bytes:
    return smime.sign(PLAIN, pki["alice"].identity, detached=False).as_bytes()


def _signature_der(wire: bytes) -> tuple[bytes, bytes, bytes]:
    """(before, der, after) around the base64 block of the last part."""
    match = re.search(rb"\r\n\r\n((?:[A-Za-z0-9+/=]+\r\n)+)(?:\r\n)?(--[^\r\n]*--\r\n)?$", wire)
    assert match, "no base64 block found"
    return wire[: match.start(1)], base64.b64decode(match.group(1)), wire[match.end(1) :]


def _rewrap(before: bytes, der: bytes, after: bytes) -> bytes:
    b64 = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return before + b64 + after


def test_one_body_byte_changed(detached, trust):
    tampered = detached.replace(b"Balance: 1,234.56", b"Balance: 9,234.56")
    assert tampered != detached
    result = smime.verify(tampered, trust=trust)
    assert not result.valid
    assert ProblemCode.DIGEST_MISMATCH in result.codes
    assert not result.signers[0].intact


def test_signature_byte_changed(detached, trust):
    before, der, after = _signature_der(detached)
    # the RSA signature value is the last 256 bytes of the SignerInfo, at the end of the DER
    flipped = der[:-10] + bytes([der[-10] ^ 0x01]) + der[-9:]
    result = smime.verify(_rewrap(before, flipped, after), trust=trust)
    assert not result.valid
    assert ProblemCode.BAD_SIGNATURE in result.codes
    assert result.signers[0].intact and not result.signers[0].signature_valid


SIGNING_TIME_OID = bytes.fromhex("06092a864886f70d010905")


def test_signed_attribute_changed(detached, trust):
    before, der, after = _signature_der(detached)
    # the signingTime attribute: OID, SET, UTCTime "YYMMDDhhmmssZ": change the seconds digit
    pos = der.find(SIGNING_TIME_OID)
    assert pos > 0
    time_at = der.index(b"\x17\x0d", pos)
    digit = time_at + 2 + 11
    changed = der[:digit] + bytes([ord("0") + (der[digit] - ord("0") + 1) % 10]) + der[digit + 1 :]
    result = smime.verify(_rewrap(before, changed, after), trust=trust)
    assert not result.valid
    assert ProblemCode.BAD_SIGNATURE in result.codes
    assert result.signers[0].intact and not result.signers[0].signature_valid


def _forged_twin(pki):
    """A certificate with alice's issuer and serial but another key, signed by the real CA:
    what a swapped certificate looks like when the attacker controls a CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    real = pki["alice"].certificate
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        if not isinstance(ext.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(pki.intermediate.key, hashes.SHA256())


def test_swapped_certificate(pki, trust):
    from asn1crypto import cms
    from cryptography.hazmat.primitives.serialization import Encoding

    signed = smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    before, der, after = _signature_der(signed)
    info = cms.ContentInfo.load(der)
    twin = _forged_twin(pki).public_bytes(Encoding.DER)
    alice = pki["alice"].certificate.public_bytes(Encoding.DER)
    certs = [c.dump() for c in info["content"]["certificates"]]
    assert alice in certs
    info["content"]["certificates"] = [
        cms.CertificateChoices.load(twin if c == alice else c) for c in certs
    ]
    result = smime.verify(_rewrap(before, info.dump(force=True), after), trust=trust)
    assert not result.valid
    assert ProblemCode.BAD_SIGNATURE in result.codes
    assert not result.signers[0].signature_valid


def test_opaque_content_changed(opaque, trust):
    before, der, after = _signature_der(opaque)
    pos = der.find(b"Balance: 1,234.56")
    assert pos > 0
    changed = der[:pos] + b"Balance: 9,234.56" + der[pos + 17 :]
    result = smime.verify(_rewrap(before, changed, after), trust=trust)
    assert not result.valid and ProblemCode.DIGEST_MISMATCH in result.codes


def test_deep_nesting_is_refused_fast(trust):
    depth = 2000
    parts = [
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    ]
    hostile = (
        b"From: x@example.com\r\n" + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    )
    with pytest.raises(SMIMEError):
        smime.verify(hostile, trust=trust)


def test_huge_declared_length_is_refused(detached, trust):
    before, der, after = _signature_der(detached)
    hostile = b"\x30\x84\x7f\xff\xff\xff" + der[4:]
    with pytest.raises(smime.errors.ParseError):
        smime.verify(_rewrap(before, hostile, after), trust=trust)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_messages_give_a_result_or_parse_error(detached, opaque, trust, data):
    wire = data.draw(st.sampled_from([detached, opaque]))
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    pos = data.draw(st.integers(0, len(wire) - 1))
    if kind == "flip":
        mutated = wire[:pos] + bytes([wire[pos] ^ data.draw(st.integers(1, 255))]) + wire[pos + 1 :]
    elif kind == "truncate":
        mutated = wire[:pos]
    elif kind == "insert":
        mutated = wire[:pos] + data.draw(st.binary(min_size=1, max_size=8)) + wire[pos:]
    else:
        mutated = wire[:pos] + wire[pos + data.draw(st.integers(1, 64)) :]
    try:
        result = smime.verify(mutated, trust=trust)
    except smime.errors.ParseError:
        return
    except smime.errors.UnsupportedError:
        return
    if mutated != wire and result.valid:
        # A change nobody signs (outer headers, preamble, base64 line breaks) is fine, but
        # what a valid result shows must be exactly what was signed.
        original = smime.verify(wire, trust=trust).content
        assert result.content.get_payload(decode=True) == original.get_payload(decode=True)
        assert result.content.get_content_type() == original.get_content_type()


@pytest.fixture(scope="module")
def sealed(pki) -> bytes:
    recipients = [pki["bob"].certificate, pki["carol"].certificate]
    return smime.encrypt(smime.sign(PLAIN, pki["alice"].identity), recipients).as_bytes()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_encrypted_messages_fail_cleanly(pki, trust, sealed, detached, data):
    """decrypt, unwrap and inspect raise only smime.errors on damaged input (found by fuzzing:
    malformed certificate extensions, damaged headers)."""
    wire = data.draw(st.sampled_from([sealed, detached]))
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(mutated) - 1))
        mutated[pos] ^= data.draw(st.integers(1, 255))
    for operation in (
        lambda: smime.decrypt(bytes(mutated), pki["bob"].identity),
        lambda: smime.unwrap(bytes(mutated), identity=pki["bob"].identity, trust=trust),
        lambda: smime.inspect(bytes(mutated), identity=pki["bob"].identity),
    ):
        with contextlib.suppress(SMIMEError):  # anything else fails the test
            operation()
