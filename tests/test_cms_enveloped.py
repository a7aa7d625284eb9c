"""EnvelopedData / AuthEnvelopedData: round trips, refusals, uniform failures, fuzzing."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tracemalloc
from collections.abc import Callable

import pytest
from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smime.cms._schema import ContentInfo, GcmParams
from smime.cms.enveloped import (
    DecryptedData,
    RecipientSpec,
    create_enveloped_data,
    decrypt_enveloped_data,
    describe_enveloped_data,
    describe_recipients,
)
from smime.errors import (
    CertificateError,
    DecryptionError,
    InvalidOptionError,
    ParseError,
    UnsupportedError,
)
from smime.keys import Identity, to_asn1_certificate
from smime.testing import TestPKI as PKI
from smime.testing import issue_certificate

CIPHERS = ("aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm")
#: (user, key_transport, expected key_management)
RECIPIENTS = (
    ("alice", "rsa-oaep", "rsa-oaep"),
    ("alice", "rsa-pkcs1v15", "rsa-pkcs1v15"),
    ("bob", "rsa-oaep", "rsa-oaep"),
    ("carol", "rsa-oaep", "ecdh"),
    ("dave", "rsa-oaep", "ecdh"),
    ("frank", "rsa-oaep", "ecdh"),
    ("grace", "rsa-oaep", "x25519"),
)
CONTENT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, enveloped world.\r\n"
ALLOWED = (DecryptionError, ParseError, UnsupportedError)


def _spec(pki: PKI, user: str, **kw: str) -> RecipientSpec:
    return RecipientSpec(pki[user].certificate, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize(("user", "transport", "management"), RECIPIENTS)
def test_round_trip(pki: PKI, cipher: str, user: str, transport: str, management: str) -> None:
    der = create_enveloped_data(CONTENT, [_spec(pki, user, key_transport=transport)], cipher=cipher)
    out = decrypt_enveloped_data(der, pki[user].identity)
    gcm = cipher.endswith("gcm")
    assert out == DecryptedData(CONTENT, "data", cipher, gcm, management)
    kind = "authenticated_enveloped_data" if gcm else "enveloped_data"
    assert cms.ContentInfo.load(der)["content_type"].native == kind
    # Our framing of the ciphertext is exactly what asn1crypto would encode.
    assert cms.ContentInfo.load(der).dump(force=True) == der


@pytest.mark.parametrize("user", ["alice", "carol", "grace"])
def test_subject_key_identifier(pki: PKI, user: str) -> None:
    der = create_enveloped_data(
        CONTENT, [_spec(pki, user, identify_by="subject_key_identifier")], cipher="aes-256-gcm"
    )
    (summary,) = describe_recipients(der)
    extensions = pki[user].certificate.extensions
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert summary.ski == ski.hex() and summary.issuer is None
    assert decrypt_enveloped_data(der, pki[user].identity).content == CONTENT


def test_mixed_recipients_each_decrypt(pki: PKI) -> None:
    users = ["alice", "bob", "carol", "dave", "frank", "grace"]
    specs = [
        _spec(pki, "alice", key_transport="rsa-pkcs1v15"),
        _spec(pki, "bob", identify_by="subject_key_identifier"),
        *(_spec(pki, u) for u in users[2:]),
    ]
    for cipher in ("aes-256-cbc", "aes-128-gcm"):
        der = create_enveloped_data(CONTENT, specs, cipher=cipher)
        summary = describe_enveloped_data(der)
        assert summary.cipher == cipher and summary.authenticated == cipher.endswith("gcm")
        assert [r.kind for r in summary.recipients] == ["key_transport"] * 2 + ["key_agreement"] * 4
        for user in users:
            assert decrypt_enveloped_data(der, pki[user].identity).content == CONTENT, user
    # EnvelopedData version 2 as soon as a recipient is not a v0 KTRI (RFC 5652 6.1).
    assert cms.ContentInfo.load(der)["content"]["version"].native == "v0"
    cbc = create_enveloped_data(CONTENT, specs, cipher="aes-256-cbc")
    assert cms.ContentInfo.load(cbc)["content"]["version"].native == "v2"
    only_rsa = create_enveloped_data(CONTENT, [_spec(pki, "alice")])
    assert cms.ContentInfo.load(only_rsa)["content"]["version"].native == "v0"


def test_describe(pki: PKI) -> None:
    der = create_enveloped_data(CONTENT, [_spec(pki, "alice"), _spec(pki, "dave")])
    summary = describe_enveloped_data(der)
    assert summary.content_type == "enveloped_data"
    assert summary.inner_content_type == "data"
    assert summary.encrypted_size == (len(CONTENT) // 16 + 1) * 16
    alice, dave = summary.recipients
    assert alice.algorithm == "rsa-oaep"
    assert alice.serial == pki["alice"].certificate.serial_number
    assert alice.issuer is not None and "smime Test Intermediate CA" in alice.issuer
    assert f"{alice.serial:x}" in alice.identifier
    assert (dave.algorithm, dave.key_wrap) == ("ecdh-sha384kdf", "aes256-wrap")
    carol = describe_recipients(create_enveloped_data(CONTENT, [_spec(pki, "carol")]))[0]
    assert (carol.algorithm, carol.key_wrap) == ("ecdh-sha256kdf", "aes128-wrap")
    grace = describe_recipients(create_enveloped_data(CONTENT, [_spec(pki, "grace")]))[0]
    assert (grace.algorithm, grace.key_wrap) == ("ecdh-hkdf-sha256", "aes256-wrap")


def test_wire_details(pki: PKI) -> None:
    gcm = ContentInfo.load(  # ours: asn1crypto's own does not read GCM parameters
        create_enveloped_data(CONTENT, [_spec(pki, "alice")], cipher="aes-256-gcm")
    )
    aed = gcm["content"]
    params = aed["auth_encrypted_content_info"]["content_encryption_algorithm"]["parameters"]
    assert len(params["aes_nonce"].native) == 12 and params["aes_icvlen"].native == 16
    assert len(aed["mac"].native) == 16 and aed["auth_attrs"].native is None
    ktri = aed["recipient_infos"][0].chosen
    oaep = ktri["key_encryption_algorithm"]
    assert oaep["algorithm"].native == "rsaes_oaep"
    # RSAES-OAEP-params written out, not left to the SHA-1 defaults (RFC 4055).
    assert b"\xa0" in oaep["parameters"].dump() and b"\xa1" in oaep["parameters"].dump()
    assert oaep["parameters"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert oaep["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    kari = cms.ContentInfo.load(create_enveloped_data(CONTENT, [_spec(pki, "frank")]))["content"][
        "recipient_infos"
    ][0].chosen
    assert kari["version"].native == "v3" and kari["ukm"].native is None
    assert kari["originator"].name == "originator_key"
    assert kari["originator"].chosen["algorithm"]["parameters"].native is None
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.3"


def test_large_content_not_block_aligned(pki: PKI) -> None:
    content = os.urandom(1024 * 1024 + 7)
    for cipher in ("aes-256-cbc", "aes-256-gcm"):
        der = create_enveloped_data(content, [_spec(pki, "carol")], cipher=cipher)
        assert decrypt_enveloped_data(der, pki["carol"].identity).content == content
    empty = create_enveloped_data(b"", [_spec(pki, "alice")], cipher="aes-128-cbc")
    assert decrypt_enveloped_data(empty, pki["alice"].identity).content == b""


def test_memory_stays_within_three_copies(pki: PKI) -> None:
    size = 8 * 1024 * 1024
    content = os.urandom(size)
    spec = [_spec(pki, "alice")]
    for cipher in ("aes-256-gcm", "aes-256-cbc"):
        tracemalloc.start()
        try:
            der = create_enveloped_data(content, spec, cipher=cipher)
            encrypt_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = decrypt_enveloped_data(der, pki["alice"].identity)
            decrypt_peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert out.content == content
        # Beyond the caller's input: the ciphertext and the output, nothing per nesting level.
        assert encrypt_peak < 2.2 * size, (cipher, encrypt_peak / size)
        assert decrypt_peak < 2.2 * size, (cipher, decrypt_peak / size)


# ---------------------------------------------------------------------------- refusals


def test_option_validation(pki: PKI) -> None:
    with pytest.raises(InvalidOptionError, match="aes-256-gcm"):
        create_enveloped_data(CONTENT, [_spec(pki, "alice")], cipher="des-ede3-cbc")
    with pytest.raises(InvalidOptionError, match="rsa-oaep"):
        _spec(pki, "alice", key_transport="rsa-pss")
    with pytest.raises(InvalidOptionError, match="issuer_and_serial"):
        _spec(pki, "alice", identify_by="email")
    with pytest.raises(InvalidOptionError, match="at least one"):
        create_enveloped_data(CONTENT, [])


def test_ed25519_cannot_receive(pki: PKI) -> None:
    for check in (True, False):
        with pytest.raises(CertificateError, match="Erin") as err:
            create_enveloped_data(
                CONTENT, [RecipientSpec(pki["erin"].certificate, check_usage=check)]
            )
        assert "Ed25519" in str(err.value)


@pytest.mark.parametrize(
    ("user", "usage", "missing"),
    [
        ("alice", ("digital_signature",), "keyEncipherment"),
        ("carol", ("digital_signature", "key_encipherment"), "keyAgreement"),
        ("grace", ("key_encipherment",), "keyAgreement"),
    ],
)
def test_key_usage_refused(pki: PKI, user: str, usage: tuple[str, ...], missing: str) -> None:
    limited = issue_certificate(
        pki.intermediate,
        f"limited-{user}@example.com",
        key=pki[user].identity.key,
        key_usage=usage,
        common_name=f"Limited {user}",
    )
    with pytest.raises(CertificateError, match=missing) as err:
        create_enveloped_data(CONTENT, [RecipientSpec(limited.certificate)])
    assert f"Limited {user}" in str(err.value)
    der = create_enveloped_data(CONTENT, [RecipientSpec(limited.certificate, check_usage=False)])
    assert decrypt_enveloped_data(der, limited).content == CONTENT


def test_validity_refused(pki: PKI) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    key = pki["alice"].identity.key
    expired = issue_certificate(
        pki.intermediate,
        "old@example.com",
        key=key,
        common_name="Old Alice",
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=1),
    )
    future = issue_certificate(
        pki.intermediate,
        "new@example.com",
        key=key,
        common_name="Future Alice",
        not_before=now + dt.timedelta(days=3),
        not_after=now + dt.timedelta(days=400),
    )
    with pytest.raises(CertificateError, match=r"Old Alice.*expired"):
        create_enveloped_data(CONTENT, [RecipientSpec(expired.certificate)])
    with pytest.raises(CertificateError, match=r"Future Alice.*not valid before"):
        create_enveloped_data(CONTENT, [RecipientSpec(future.certificate)])
    # One bad certificate among good ones refuses the whole message.
    with pytest.raises(CertificateError):
        create_enveloped_data(CONTENT, [_spec(pki, "bob"), RecipientSpec(expired.certificate)])
    der = create_enveloped_data(CONTENT, [RecipientSpec(expired.certificate, check_usage=False)])
    assert decrypt_enveloped_data(der, expired).content == CONTENT


# ---------------------------------------------------------------------------- failures


def _fails(der: bytes, identity: Identity) -> None:
    """Decryption fails with the one message every key or integrity failure shares."""
    with pytest.raises(DecryptionError) as err:
        decrypt_enveloped_data(der, identity)
    assert str(err.value) == DecryptionError.MESSAGE


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
def test_wrong_identity(pki: PKI, cipher: str) -> None:
    to_alice = create_enveloped_data(CONTENT, [_spec(pki, "alice")], cipher=cipher)
    to_carol = create_enveloped_data(CONTENT, [_spec(pki, "carol")], cipher=cipher)
    to_grace = create_enveloped_data(CONTENT, [_spec(pki, "grace")], cipher=cipher)
    for der, user in [
        (to_alice, "bob"),
        (to_alice, "carol"),
        (to_carol, "dave"),
        (to_carol, "alice"),
        (to_grace, "carol"),
        (to_alice, "erin"),
    ]:
        _fails(der, pki[user].identity)


def test_reissued_certificate_found_by_trying_key_transport(pki: PKI) -> None:
    """No recipient names our certificate: every RSA key transport is tried with our key."""
    again = issue_certificate(
        pki.intermediate, "alice@example.com", key=pki["alice"].identity.key, common_name="Alice 2"
    )
    for transport in ("rsa-oaep", "rsa-pkcs1v15"):
        der = create_enveloped_data(
            CONTENT, [_spec(pki, "bob"), _spec(pki, "alice", key_transport=transport)]
        )
        assert decrypt_enveloped_data(der, again).content == CONTENT


def _mutate_ktri(der: bytes, change: Callable[[cms.KeyTransRecipientInfo], None]) -> bytes:
    info = cms.ContentInfo.load(der)
    change(info["content"]["recipient_infos"][0].chosen)
    return bytes(info.dump(force=True))


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep"])
def test_bad_key_transport_looks_like_bad_content(pki: PKI, transport: str) -> None:
    """A padding failure must raise exactly what a content failure raises (no oracle)."""
    der = create_enveloped_data(CONTENT, [_spec(pki, "alice", key_transport=transport)])
    alice = pki["alice"].identity
    public = pki["alice"].certificate.public_key()

    def garbage(ktri: cms.KeyTransRecipientInfo) -> None:
        ktri["encrypted_key"] = os.urandom(256)

    def short_key(ktri: cms.KeyTransRecipientInfo) -> None:  # well padded, wrong length
        ktri["encrypted_key"] = public.encrypt(os.urandom(5), padding.PKCS1v15())  # type: ignore[union-attr]

    for change in (garbage, short_key):
        _fails(_mutate_ktri(der, change), alice)


def test_tampering(pki: PKI) -> None:
    alice = pki["alice"].identity
    gcm = bytearray(create_enveloped_data(CONTENT, [_spec(pki, "alice")], cipher="aes-256-gcm"))
    tag_at = len(gcm) - 16  # the mac OCTET STRING (tag, length 16) closes the message
    assert gcm[tag_at - 2 : tag_at] == b"\x04\x10"
    for index in (tag_at, tag_at + 15, tag_at - 3, tag_at - 2 - len(CONTENT)):
        bad = bytearray(gcm)
        bad[index] ^= 0x01
        _fails(bytes(bad), alice)
    cbc = bytearray(create_enveloped_data(CONTENT, [_spec(pki, "carol")], cipher="aes-128-cbc"))
    assert len(CONTENT) % 16 == 4  # so the last plaintext byte is the padding byte 12
    cbc[-17] ^= 0xFF  # CBC: this flips the last plaintext byte to 0xF3, never valid padding
    _fails(bytes(cbc), pki["carol"].identity)


def test_malformed_input() -> None:
    for junk in (b"", b"\x00", b"\x30", b"\x30\x03\x02\x01", b"not DER at all"):
        with pytest.raises(ParseError):
            decrypt_enveloped_data(junk, None)  # type: ignore[arg-type]
    with pytest.raises(ParseError):
        describe_enveloped_data("text")  # type: ignore[arg-type]
    # A length field of 2**62 must fail at once, without trying to read that much.
    absurd = b"\x30\x88" + (2**62).to_bytes(8, "big") + b"\x06\x09" + bytes(9)
    with pytest.raises(ParseError, match="claims"):
        describe_enveloped_data(absurd)
    with pytest.raises(ParseError, match="deeper"):
        describe_enveloped_data(b"\x30\x80" * 200 + b"\x00\x00" * 200)
    signed = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    with pytest.raises(ParseError, match="enveloped"):
        describe_enveloped_data(signed)


def test_patched_length_and_trailing_data(pki: PKI) -> None:
    der = create_enveloped_data(CONTENT, [_spec(pki, "alice")])
    with pytest.raises(ParseError, match="trailing"):
        describe_enveloped_data(der + b"\x00")
    with pytest.raises(ParseError):
        describe_enveloped_data(der[:-1])
    patched = bytearray(der)
    patched[3] = 0xFF  # the outer SEQUENCE now claims more than there is
    with pytest.raises(ParseError):
        describe_enveloped_data(bytes(patched))


def test_unknown_algorithms_are_named(pki: PKI) -> None:
    der = create_enveloped_data(CONTENT, [_spec(pki, "alice")])
    info = cms.ContentInfo.load(der)
    eci = info["content"]["encrypted_content_info"]
    eci["content_encryption_algorithm"] = {"algorithm": "1.2.3.4.5", "parameters": core.Null()}
    with pytest.raises(UnsupportedError, match=r"1\.2\.3\.4\.5"):
        decrypt_enveloped_data(info.dump(force=True), pki["alice"].identity)
    assert describe_enveloped_data(info.dump(force=True)).cipher == "1.2.3.4.5"

    def odd_transport(ktri: cms.KeyTransRecipientInfo) -> None:
        ktri["key_encryption_algorithm"] = {"algorithm": "1.2.3.9"}

    with pytest.raises(UnsupportedError, match=r"1\.2\.3\.9"):
        decrypt_enveloped_data(_mutate_ktri(der, odd_transport), pki["alice"].identity)


def test_missing_encrypted_content(pki: PKI) -> None:
    info = cms.ContentInfo.load(create_enveloped_data(CONTENT, [_spec(pki, "alice")]))
    del info["content"]["encrypted_content_info"]["encrypted_content"]
    der = info.dump(force=True)
    assert describe_enveloped_data(der).encrypted_size is None
    with pytest.raises(ParseError, match="no encryptedContent"):
        decrypt_enveloped_data(der, pki["alice"].identity)


def test_ber_constructed_octet_string(pki: PKI) -> None:
    """Indefinite lengths and a chunked encryptedContent (what streaming encoders write)."""
    der = create_enveloped_data(CONTENT, [_spec(pki, "alice")])
    info = cms.ContentInfo.load(der)
    eci = info["content"]["encrypted_content_info"]
    ciphertext = eci["encrypted_content"].native
    head = eci["content_type"].dump() + eci["content_encryption_algorithm"].dump()
    chunks = b"".join(
        core.OctetString(ciphertext[i : i + 16]).dump() for i in range(0, len(ciphertext), 16)
    )
    eci_ber = b"\x30\x80" + head + b"\xa0\x80" + chunks + b"\x00\x00" + b"\x00\x00"
    ed = info["content"]
    body = ed["version"].dump() + ed["recipient_infos"].dump() + eci_ber
    ber = b"\x30\x80" + info["content_type"].dump() + b"\xa0\x80\x30\x80" + body + b"\x00\x00" * 3
    assert decrypt_enveloped_data(ber, pki["alice"].identity).content == CONTENT


def test_auth_attributes_are_authenticated(pki: PKI) -> None:
    """RFC 5083: authAttrs are MACed as a SET OF; we read them though we never write them."""
    key, nonce = os.urandom(32), os.urandom(12)
    attrs = cms.CMSAttributes([{"type": "content_type", "values": ["data"]}])
    aad = attrs.dump()
    sealed = AESGCM(key).encrypt(nonce, CONTENT, aad)
    public = pki["alice"].certificate.public_key()
    ri = cms.RecipientInfo(
        name="ktri",
        value={
            "version": "v0",
            "rid": cms.RecipientIdentifier(
                name="issuer_and_serial_number",
                value={
                    "issuer": to_asn1_certificate(pki["alice"].certificate).issuer,
                    "serial_number": pki["alice"].certificate.serial_number,
                },
            ),
            "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
            "encrypted_key": public.encrypt(key, padding.PKCS1v15()),  # type: ignore[union-attr]
        },
    )

    def message(auth: cms.CMSAttributes) -> bytes:
        aed = cms.AuthEnvelopedData(
            {
                "version": "v0",
                "recipient_infos": [ri],
                "auth_encrypted_content_info": {
                    "content_type": "data",
                    "content_encryption_algorithm": {
                        "algorithm": "aes256_gcm",
                        "parameters": GcmParams({"aes_nonce": nonce, "aes_icvlen": 16}),
                    },
                    "encrypted_content": sealed[:-16],
                },
                "auth_attrs": auth,
                "mac": sealed[-16:],
            }
        )
        return bytes(
            cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": aed}).dump()
        )

    out = decrypt_enveloped_data(message(attrs), pki["alice"].identity)
    assert out.content == CONTENT and out.authenticated
    other = cms.CMSAttributes([{"type": "content_type", "values": ["signed_data"]}])
    _fails(message(other), pki["alice"].identity)


# ---------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def samples(pki: PKI) -> dict[str, tuple[bytes, Identity]]:
    return {
        cipher + "/" + user: (
            create_enveloped_data(
                CONTENT, [_spec(pki, user, key_transport="rsa-pkcs1v15")], cipher=cipher
            ),
            pki[user].identity,
        )
        for cipher in ("aes-128-cbc", "aes-256-gcm")
        for user in ("alice", "carol")
    }


_mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(
        ["aes-128-cbc/alice", "aes-128-cbc/carol", "aes-256-gcm/alice", "aes-256-gcm/carol"]
    ),
    mutation=_mutations,
)
def test_mutations_fail_cleanly(
    samples: dict[str, tuple[bytes, Identity]], which: str, mutation: tuple[str, int, int]
) -> None:
    der, identity = samples[which]
    op, position, value = mutation
    data = bytearray(der)
    position %= len(data)
    if op == "flip":
        data[position] ^= value
    elif op == "truncate":
        del data[position:]
    else:
        data.insert(position, value)
    with contextlib.suppress(*ALLOWED):
        describe_enveloped_data(bytes(data))
    try:
        out = decrypt_enveloped_data(bytes(data), identity)
    except ALLOWED as exc:
        if isinstance(exc, DecryptionError):
            assert str(exc) == DecryptionError.MESSAGE
        return
    if which.startswith("aes-256-gcm"):
        # Unauthenticated fields (version, content type...) may change; the content may not.
        assert out.content == CONTENT
