"""Tampered and hostile input: not valid with a named problem, or ParseError; nothing else."""

from __future__ import annotations

import base64
import re

import pytest
from helpers import PLAIN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smime
from smime.errors import SMIMEError
from smime.problems import ProblemCode


@pytest.fixture(scope="module")
def trust(pki):
    return smime.TrustStore.from_pem(pki.root_path)


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
    return wire[: match.start(1)], base64.b64decode(match.group(1)), wire[match.end(1):]


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


def test_signed_attribute_changed(detached, trust, pki):
    before, der, after = _signature_der(detached)
    # the signing time is a UTCTime inside the signed attributes: change its seconds digit
    pos = der.find(b"\x17\x0d")
    assert pos > 0
    digit = pos + 2 + 11
    changed = der[:digit] + bytes([ord("0") + (der[digit] - ord("0") + 1) % 10]) + der[digit + 1 :]
    result = smime.verify(_rewrap(before, changed, after), trust=trust)
    assert not result.valid
    assert ProblemCode.BAD_SIGNATURE in result.codes


def test_swapped_certificate(pki, trust):
    """A message signed by alice whose certificate was replaced by bob's does not verify."""
    signed = smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    before, der, after = _signature_der(signed)
    from cryptography.hazmat.primitives.serialization import Encoding

    alice = pki["alice"].certificate.public_bytes(Encoding.DER)
    bob = pki["bob"].certificate.public_bytes(Encoding.DER)
    assert alice in der
    # same issuer and serial lookup fails once the certificate is bob's: either missing or bad
    swapped = der.replace(alice, bob)
    try:
        result = smime.verify(_rewrap(before, swapped, after), trust=trust)
    except SMIMEError:
        pytest.fail("a swapped certificate must give a result, not an exception")
    assert not result.valid
    assert result.codes & {ProblemCode.BAD_SIGNATURE, ProblemCode.MISSING_CERTIFICATE}


def test_opaque_content_changed(opaque, trust):
    before, der, after = _signature_der(opaque)
    pos = der.find(b"Balance: 1,234.56")
    assert pos > 0
    changed = der[:pos] + b"Balance: 9,234.56" + der[pos + 17 :]
    result = smime.verify(_rewrap(before, changed, after), trust=trust)
    assert not result.valid and ProblemCode.DIGEST_MISMATCH in result.codes


def test_deep_nesting_is_refused_fast(trust):
    depth = 2000
    parts = [b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth)]
    hostile = b"From: x@example.com\r\n" + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    with pytest.raises(SMIMEError):
        smime.verify(hostile, trust=trust)


def test_huge_declared_length_is_refused(detached, trust):
    before, der, after = _signature_der(detached)
    hostile = b"\x30\x84\x7f\xff\xff\xff" + der[4:]
    with pytest.raises(smime.errors.ParseError):
        smime.verify(_rewrap(before, hostile, after), trust=trust)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
        # a change in a part nobody signs (outer headers, preamble, base64 line breaks) is fine
        assert result.content is not None
