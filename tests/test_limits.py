"""smime.Limits: hostile input is refused at a documented cap, and the work below a cap grows
linearly (issue 9: compressed-data bombs, thousands of signers, recipients, parts, headers).

No test measures time: each builds input just over a cap and expects LimitExceededError
naming it, or counts the work done (decryptions, comparisons, header parses, bytes held).
"""

from __future__ import annotations

import base64
import email.headerregistry
import pickle
import tracemalloc
import zlib
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from helpers import PLAIN

import smime
from smime import mime
from smime.cms import _content
from smime.cms.compressed import create_compressed_data, decompress_data
from smime.cms.enveloped import RecipientSpec, create_enveloped_data, decrypt_enveloped_data
from smime.errors import InvalidOptionError, LimitExceededError, ParseError
from smime.limits import DEFAULT_LIMITS, RATIO_FLOOR, Limits, current_limits
from smime.problems import Problem
from smime.testing import TestPKI as PKI
from smime.testing import issue_certificate

MIB = 1024 * 1024


def _p7m(der: bytes, smime_type: str) -> bytes:
    return (
        b"From: alice@example.com\r\nTo: bob@example.com\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/pkcs7-mime; smime-type=" + smime_type.encode()
        + b"; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(der).replace(b"\n", b"\r\n")
    )


_HEADER = b"Content-Type: application/octet-stream\r\n\r\n"


def _set_of(items: list[bytes]) -> bytes:
    """A DER SET OF ``items`` (already encoded), built directly: asn1crypto's forced
    re-encoding takes minutes for a thousand elements."""
    body = b"".join(items)
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8 or 1, "big")
    length = size if len(body) < 0x80 else bytes([0x80 | len(size)]) + size
    return b"\x31" + length + body


def _zeros_message(size: int) -> bytes:
    """A compressed-data message whose content is ``size`` zeros after a header."""
    return _p7m(create_compressed_data(_HEADER + bytes(size)), "compressed-data")


# ---------------------------------------------------------------------------- the value


def test_limits_are_checked_and_documented_defaults() -> None:
    assert Limits() == DEFAULT_LIMITS == current_limits()
    assert DEFAULT_LIMITS.max_decompressed_size == 64 * MIB
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(InvalidOptionError, match="max_parts"):
            Limits(max_parts=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match=r"smime\.Limits"):
        smime.verify(PLAIN, limits={"max_parts": 3})  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(Limits(max_parts=3))) == Limits(max_parts=3)


def test_limits_hold_for_one_call_only() -> None:
    tight = Limits(max_headers=3)
    with pytest.raises(LimitExceededError, match="max_headers=3"):
        smime.inspect(PLAIN, limits=tight)
    assert current_limits() is DEFAULT_LIMITS
    assert smime.inspect(PLAIN).field("subject") == "Quarterly statement"


def test_limit_error_is_a_parse_error_that_names_the_cap_and_pickles() -> None:
    exc = Limits(max_parts=3).exceeded("max_parts", "a multipart has too many parts")
    assert isinstance(exc, ParseError) and exc.limit == "max_parts"
    assert "max_parts=3" in str(exc) and "smime.Limits(max_parts=" in str(exc)
    again = pickle.loads(pickle.dumps(exc))
    assert isinstance(again, LimitExceededError)
    assert (again.limit, str(again)) == ("max_parts", str(exc))


# ---------------------------------------------------------------------------- compressed data


def test_a_bomb_is_refused_after_little_work() -> None:
    """40 MiB of zeros in ~40 kB: the ratio cap stops inflation near 100 times the input,
    so far less than the content is ever held (the old code inflated all of it)."""
    der = create_compressed_data(bytes(40 * MIB))
    assert len(der) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError) as caught:
            decompress_data(der)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.limit == "max_compression_ratio"
    assert peak < 3 * 100 * len(der) + 4 * MIB


def test_absolute_cap_and_ratio_floor() -> None:
    small = create_compressed_data(bytes(RATIO_FLOOR))  # ratio ~1000:1, but under the floor
    assert decompress_data(small) == bytes(RATIO_FLOOR)
    noise = zlib.compress(bytes(range(256)) * 4096)  # 1 MiB at a modest ratio
    der = create_compressed_data(bytes(range(256)) * 4096)
    assert len(noise) and decompress_data(der, limits=Limits(max_decompressed_size=MIB)) == (
        bytes(range(256)) * 4096
    )
    with pytest.raises(LimitExceededError) as caught:
        decompress_data(der, limits=Limits(max_decompressed_size=MIB - 1))
    assert caught.value.limit == "max_decompressed_size"


def test_unwrap_and_inspect_refuse_a_bomb_and_the_caps_can_be_raised() -> None:
    message = _zeros_message(4 * MIB)  # ~4 kB compressed: 1000:1, beyond the 1 MiB floor
    with pytest.raises(LimitExceededError, match="max_compression_ratio"):
        smime.unwrap(message)
    tree = smime.inspect(message)
    (layer,) = tree.find("compressed-data")
    assert layer.field("uncompressed size") is None
    assert any("max_compression_ratio" in n.title for n in layer.find("error"))
    roomy = Limits(max_compression_ratio=2000)
    opened = smime.unwrap(message, limits=roomy)
    assert [layer.kind for layer in opened.layers] == ["compressed"]
    assert len(opened.content.get_payload(decode=True)) == 4 * MIB
    (layer,) = smime.inspect(message, limits=roomy).find("compressed-data")
    assert layer.field("uncompressed size") == f"{len(_HEADER) + 4 * MIB} bytes"


# ---------------------------------------------------------------------------- signers


def _signed_with_signers(pki: PKI, count: int) -> bytes:
    """One real SignerInfo copied ``count`` times, each naming a certificate the message
    lacks (a distinct serial), so every signer has a distinct problem."""
    signed = smime.sign(PLAIN, pki["alice"].identity, detached=False).as_bytes()
    part = mime.find_smime_part(signed)
    assert part is not None
    info = asn1_cms.ContentInfo.load(part.der)
    original = info["content"]["signer_infos"][0]
    issuer = original["sid"].chosen["issuer"]
    infos = []
    for i in range(count):
        copy = asn1_cms.SignerInfo.load(original.dump())
        copy["sid"] = asn1_cms.SignerIdentifier(
            name="issuer_and_serial_number", value={"issuer": issuer, "serial_number": 10**6 + i}
        )
        infos.append(copy.dump())
    info["content"]["signer_infos"] = asn1_cms.SignerInfos.load(_set_of(infos))
    return _p7m(info.dump(), "signed-data")


def test_too_many_signers_is_refused(pki: PKI) -> None:
    message = _signed_with_signers(pki, DEFAULT_LIMITS.max_signers + 1)
    for check in (smime.verify, smime.unwrap):
        with pytest.raises(LimitExceededError) as caught:
            check(message)
        assert caught.value.limit == "max_signers"
    assert smime.inspect(message).find("error")


def test_signer_problems_are_merged_in_linear_time(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each signer's problems join the result once; the old check compared every problem
    with every one before it (quadratic: 21 s for 5,000 signers)."""
    count = DEFAULT_LIMITS.max_signers
    message = _signed_with_signers(pki, count)
    compared = [0]
    plain_eq = Problem.__eq__

    def counting_eq(self: Problem, other: object) -> Any:
        compared[0] += 1
        return plain_eq(self, other)

    monkeypatch.setattr(Problem, "__eq__", counting_eq)
    result = smime.verify(message)
    monkeypatch.undo()
    assert len(result.signers) == count and not result.valid
    assert len(result.problems) == count  # each signer lacks a different certificate
    assert compared[0] < 10 * count


# ---------------------------------------------------------------------------- recipients


def _with_recipients(der: bytes, count: int) -> bytes:
    """``der``'s first RecipientInfo repeated ``count`` times."""
    info = asn1_cms.ContentInfo.load(der)
    first = info["content"]["recipient_infos"][0].dump()
    info["content"]["recipient_infos"] = asn1_cms.RecipientInfos.load(_set_of([first] * count))
    return bytes(info.dump())


def test_too_many_recipients_is_refused(pki: PKI) -> None:
    der = create_enveloped_data(PLAIN, [RecipientSpec(pki["alice"].certificate)])
    message = _p7m(_with_recipients(der, DEFAULT_LIMITS.max_recipients + 1), "enveloped-data")
    with pytest.raises(LimitExceededError) as caught:
        smime.decrypt(message, pki["alice"].identity)
    assert caught.value.limit == "max_recipients"
    assert any("max_recipients" in n.title for n in smime.inspect(message).find("error"))
    at_cap = _p7m(_with_recipients(der, 40), "enveloped-data")
    limits = Limits(max_recipients=40)
    assert smime.decrypt(at_cap, pki["alice"].identity, limits=limits).as_bytes() == PLAIN
    with pytest.raises(LimitExceededError):
        smime.decrypt(at_cap, pki["alice"].identity, limits=Limits(max_recipients=39))


def test_key_agreement_keys_count_each(pki: PKI) -> None:
    der = create_enveloped_data(PLAIN, [RecipientSpec(pki["carol"].certificate)])
    info = asn1_cms.ContentInfo.load(der)
    kari = info["content"]["recipient_infos"][0].chosen
    first = kari["recipient_encrypted_keys"][0]
    kari["recipient_encrypted_keys"] = [first] * 5
    many = bytes(info.dump(force=True))  # (small: forcing the re-encoding is quick here)
    assert decrypt_enveloped_data(many, pki["carol"].identity).content == PLAIN
    with smime.limits.applied(Limits(max_recipients=4)), pytest.raises(LimitExceededError):
        decrypt_enveloped_data(many, pki["carol"].identity)


def test_trying_every_recipient_decrypts_the_content_about_once(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No recipient names the key (a renewed certificate): every RSA key transport is
    tried. Each try used to decrypt all the content (recipients x size); now a CBC try
    costs one block, and the content is decrypted in full about once."""
    alice = pki["alice"].identity
    renewed = issue_certificate(pki.intermediate, "alice@example.com", key=alice.key)
    content = PLAIN + bytes(MIB)
    specs = [RecipientSpec(pki["bob"].certificate)] * 19 + [RecipientSpec(alice.certificate)]
    info = asn1_cms.ContentInfo.load(create_enveloped_data(content, specs))
    ours = [ri.dump() for ri in info["content"]["recipient_infos"] if ri.chosen["rid"].chosen[
        "serial_number"].native == alice.certificate.serial_number]
    others = [ri.dump() for ri in info["content"]["recipient_infos"] if ri.dump() not in ours]
    assert len(ours) == 1 and len(others) == 19
    info["content"]["recipient_infos"] = asn1_cms.RecipientInfos.load(_set_of(others + ours))
    der = info.dump()  # our key transport last: tried after the 19 others
    full = [0]
    plain_decrypt = _content.decrypt

    def counting(cipher: Any, key: bytes, data: Any, tag: Any, aad: Any) -> bytes | None:
        if len(data) >= len(content):
            full[0] += 1
        return plain_decrypt(cipher, key, data, tag, aad)

    monkeypatch.setattr(_content, "decrypt", counting)
    assert decrypt_enveloped_data(der, renewed).content == content
    assert 1 <= full[0] <= 5  # a wrong key passes the one-block check 1 time in ~256


# ---------------------------------------------------------------------------- MIME parts


def _parts(count: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return (
        b"From: a@example.com\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body + b"--b--\r\n"
    )


def _signed_around(content: bytes, pki: PKI) -> bytes:
    """A multipart/signed holding ``content`` and a (real) signature over other content."""
    signed = smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    part = mime.find_smime_part(signed)
    assert part is not None
    signature = base64.encodebytes(part.der).replace(b"\n", b"\r\n")
    return (
        b"From: alice@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; "
        b'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s"\r\n\r\n'
        b"--s\r\n" + content + b"\r\n--s\r\nContent-Type: application/pkcs7-signature\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + signature + b"--s--\r\n"
    )


def test_too_many_parts_is_refused(pki: PKI) -> None:
    cap = DEFAULT_LIMITS.max_parts
    flat = _parts(cap + 1)
    branch = _parts(cap // 10).split(b"\r\n", 2)[2]  # a multipart of cap/10 parts
    nested = (
        b"Content-Type: multipart/mixed; boundary=n\r\n\r\n"
        + b"".join(b"--n\r\n" + branch for _ in range(10))
        + b"--n--\r\n"
    )  # no multipart holds more than cap/10 parts, but all of them are over the cap
    for operation, message in [
        (smime.inspect, flat),
        (smime.unwrap, flat),
        (smime.verify, _signed_around(flat.split(b"\r\n", 2)[2], pki)),
        (smime.inspect, nested),
        (smime.verify, _signed_around(nested, pki)),
        (smime.unwrap, _signed_around(nested, pki)),
    ]:
        with pytest.raises(LimitExceededError) as caught:
            operation(message)
        assert caught.value.limit == "max_parts"
    assert not smime.verify(_signed_around(_parts(cap // 2).split(b"\r\n", 2)[2], pki))


def test_parts_at_the_cap_are_read_and_the_cap_can_change(pki: PKI) -> None:
    message = _parts(DEFAULT_LIMITS.max_parts - 1)  # with the multipart itself: the cap
    assert len(mime.to_message(message).get_payload()) == DEFAULT_LIMITS.max_parts - 1
    signed = smime.sign(_parts(20), pki["alice"].identity)
    assert len(smime.verify(signed).content.get_payload()) == 20
    with pytest.raises(LimitExceededError, match="max_parts=20"):
        smime.verify(signed, limits=Limits(max_parts=20)).content.get_payload()


# ---------------------------------------------------------------------------- headers


def test_header_caps(pki: PKI) -> None:
    many = b"".join(b"X-N: %d\r\n" % i for i in range(DEFAULT_LIMITS.max_headers)) + PLAIN
    with pytest.raises(LimitExceededError) as caught:
        smime.inspect(many)
    assert caught.value.limit == "max_headers"
    long = b"X-Long: " + b"a" * (DEFAULT_LIMITS.max_header_size - 8) + b"\r\n" + PLAIN
    signed = long + smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    for operation in (smime.inspect, smime.verify, smime.unwrap):
        with pytest.raises(LimitExceededError) as caught:
            operation(signed)
        assert caught.value.limit == "max_header_size"
    folded = b"X-Long: " + b"a\r\n " * 3000 + b"\r\n" + PLAIN  # 12 kB over folded lines
    assert smime.inspect(folded).field("subject") == "Quarterly statement"
    with pytest.raises(LimitExceededError, match="max_header_size=10000"):
        smime.inspect(folded, limits=Limits(max_header_size=10_000))


def test_inspect_reads_long_address_lists_without_the_header_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The email package parses a structured header in time quadratic in its length
    (2.8 s for 8,000 From addresses); inspect shows headers as they came instead."""
    addresses = ", ".join(f"user{i}@example.com" for i in range(3000)).encode()
    assert len(addresses) < DEFAULT_LIMITS.max_header_size
    message = b"From: " + addresses + b"\r\n" + PLAIN.split(b"\r\n", 1)[1]
    parsed: list[str] = []
    plain_call = email.headerregistry.HeaderRegistry.__call__

    def counting(self: Any, name: str, value: str) -> Any:
        parsed.append(name.lower())
        return plain_call(self, name, value)

    monkeypatch.setattr(email.headerregistry.HeaderRegistry, "__call__", counting)
    tree = smime.inspect(message)
    assert (tree.field("from") or "").startswith("user0@example.com, user1@example.com")
    assert (tree.field("from") or "").endswith("user2999@example.com")
    assert "from" not in parsed  # (parsing builds the tree with the Content-Type only)
