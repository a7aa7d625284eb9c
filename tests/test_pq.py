"""Post-quantum S/MIME: ML-KEM recipients (RFC 9629, RFC 9936) and ML-DSA (RFC 9881, 9882).

The independent peer is published data (tests/data/pqc/README.md): the RFC appendices and
the Bouncy Castle and CryptoNext artifacts of the IETF PQC hackathon. The OpenSSL 3.0 and
Bouncy Castle 1.72 installed here predate ML-KEM and ML-DSA in CMS and cannot take part.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

import smime
from smime.algorithms import ID_ORI_KEM_OID, ML_KEMS
from smime.cms import _schema
from smime.cms._kem import _kek
from smime.cms._sigalgs import verifying_scheme
from smime.cms.enveloped import (
    RecipientSpec,
    create_enveloped_data,
    decrypt_enveloped_data,
    describe_recipients,
)
from smime.cms.signed import SignerSpec, create_signed_data, verify_signed_data
from smime.errors import (
    CertificateError,
    DecryptionError,
    LoadError,
    ParseError,
    UnsupportedError,
)
from smime.keys import Identity, load_certificates, load_identity
from smime.testing import PQ_USERS, issue_certificate, make_test_pki
from smime.testing import TestPKI as PKI

DATA = Path(__file__).parent / "data" / "pqc"
BC_PLAIN = b"Hello, World!"
CRYPTONEXT_PLAIN = (DATA / "cryptonext" / "expected_plaintext.txt").read_bytes()
KEM_OIDS = {k.name: k.oid for k in ML_KEMS.values()}


@pytest.fixture(scope="module")
def pq(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """PQ users under CAs that sign with ML-DSA-65, plus a classical RSA and EC user."""
    users = (*PQ_USERS, ("alice", "rsa-2048"), ("carol", "ec-p256"))
    return make_test_pki(tmp_path_factory.mktemp("pq"), users=users, ca_key_type="ml-dsa-65")


def _pem_der(path: Path) -> bytes:
    return bytes(pem.unarmor(path.read_bytes())[2])


# ---------------------------------------------------------------------------- published ML-KEM

KEM_ARTIFACTS = [
    ("bc", "ml-kem-768-2.16.840.1.101.3.4.4.2", "_priv.der", suffix, BC_PLAIN)
    for suffix in ("kemri_id-alg-hkdf-with-sha256", "kemri_id-alg-hkdf-with-sha256_ukm",
                   "kemri_auth_id-alg-hkdf-with-sha256", "kemri_auth_id-alg-hkdf-with-sha256_ukm")
] + [
    ("bc", "ml-kem-1024-2.16.840.1.101.3.4.4.3", "_priv.der", suffix, BC_PLAIN)
    for suffix in ("kemri_id-alg-hkdf-with-sha256", "kemri_id-alg-hkdf-with-sha256_ukm",
                   "kemri_auth_id-alg-hkdf-with-sha256", "kemri_auth_id-alg-hkdf-with-sha256_ukm")
] + [
    ("cryptonext", f"ML-KEM-{stem}", "_expandedkey_priv.der", suffix, CRYPTONEXT_PLAIN)
    for stem in ("768-2.16.840.1.101.3.4.4.2", "1024-2.16.840.1.101.3.4.4.3")
    for suffix in ("kemri_id-alg-hkdf-with-sha256", "kemri_id-alg-hkdf-with-sha512",
                   "kemri_ukm", "kemri_auth")
]


def _published_identity(provider: str, stem: str, key_suffix: str) -> Identity:
    folder = DATA / provider
    return load_identity(cert=folder / f"{stem}_ee.der", key=folder / f"{stem}{key_suffix}")


@pytest.mark.parametrize(("provider", "stem", "key_suffix", "suffix", "plain"), KEM_ARTIFACTS)
def test_published_kem_messages_decrypt(
    provider: str, stem: str, key_suffix: str, suffix: str, plain: bytes
) -> None:
    identity = _published_identity(provider, stem, key_suffix)
    der = (DATA / provider / f"{stem}_{suffix}.der").read_bytes()
    result = decrypt_enveloped_data(der, identity)
    assert result.content == plain
    assert result.key_management == ("ml-kem-768" if "768" in stem else "ml-kem-1024")
    assert result.authenticated == ("auth" in suffix)
    [summary] = describe_recipients(der)
    assert (summary.kind, summary.algorithm, summary.key_wrap) == (
        "kem", result.key_management, "aes256-wrap"
    )


def test_rfc9936_example_kdf_and_wrap() -> None:
    """RFC 9936's example is ML-KEM-512, which cryptography lacks: from the published shared
    secret our HKDF and CMSORIforKEMOtherInfo give the published KEK, which unwraps the
    published CEK, which decrypts the content."""
    folder = DATA / "rfc9936"
    text = {name: (folder / f"{name}.txt").read_text().strip()
            for name in ("shared_secret", "kek", "cek", "ori_info")}
    info = _schema.ContentInfo.load(_pem_der(folder / "ML-KEM-512.cms"))
    assert info["content_type"].native == "authenticated_enveloped_data"
    [ri] = info["content"]["recipient_infos"]
    assert ri.name == "ori" and ri.chosen["ori_type"].dotted == ID_ORI_KEM_OID
    kemri = ri.chosen["ori_value"]
    assert kemri["version"].native == "v0"
    assert kemri["kem"]["algorithm"].dotted == KEM_OIDS["ml-kem-512"]
    assert kemri["kdf"]["algorithm"].dotted == "1.2.840.113549.1.9.16.3.28"
    assert kemri["wrap"]["algorithm"].native == "aes128_wrap"
    assert kemri["kek_length"].native == 16 and len(kemri["kemct"].native) == 768
    other_info = _schema.CMSORIforKEMOtherInfo({"wrap": kemri["wrap"], "kek_length": 16})
    assert other_info.dump().hex().upper() == text["ori_info"]
    kek = _kek("sha256", bytes.fromhex(text["shared_secret"]), kemri["wrap"], 16, None)
    assert kek.hex().upper() == text["kek"]
    cek = aes_key_unwrap(kek, kemri["encrypted_key"].native)
    assert cek.hex().upper() == text["cek"]
    content = info["content"]
    eci = content["auth_encrypted_content_info"]
    nonce = eci["content_encryption_algorithm"]["parameters"]["aes_nonce"].native
    ciphertext = eci["encrypted_content"].native + content["mac"].native
    assert AESGCM(cek).decrypt(nonce, ciphertext, None) == (folder / "plaintext.txt").read_bytes()


@pytest.mark.parametrize("name", ["ML-KEM-512-seed.priv", "ML-KEM-512-both.priv",
                                  "ML-KEM-512-expanded.priv"])
def test_ml_kem_512_key_is_refused_by_name(name: str) -> None:
    folder = DATA / "rfc9936"
    with pytest.raises(UnsupportedError, match="ML-KEM-512"):
        load_identity(cert=folder / "ML-KEM-512.pem", key=folder / name)


def test_ml_kem_512_recipient_is_named(tmp_path: Path) -> None:
    der = (DATA / "bc" / "ml-kem-512-2.16.840.1.101.3.4.4.1_kemri_id-alg-hkdf-with-sha256.der")
    [summary] = describe_recipients(der.read_bytes())
    assert summary.algorithm == "ml-kem-512"
    cert = load_certificates(DATA / "bc" / "ml-kem-512-2.16.840.1.101.3.4.4.1_ee.der")[0]
    with pytest.raises(CertificateError, match="ML-KEM-512"):
        create_enveloped_data(b"x", [RecipientSpec(cert, check_usage=False)])


# ---------------------------------------------------------------------------- private keys


@pytest.mark.parametrize("level", ["44", "65", "87"])
@pytest.mark.parametrize("form", ["seed", "both"])
def test_rfc9881_keys_load_in_seed_and_both_forms(level: str, form: str) -> None:
    folder = DATA / "rfc9881"
    identity = load_identity(cert=folder / f"ML-DSA-{level}.crt",
                             key=folder / f"ML-DSA-{level}-{form}.priv")
    assert type(identity.key).__name__ == f"MLDSA{level}PrivateKey"


def test_expanded_only_key_is_refused_with_a_reason() -> None:
    folder = DATA / "rfc9881"
    with pytest.raises(LoadError, match=r"only the expanded key.*seed"):
        load_identity(cert=folder / "ML-DSA-44.crt", key=folder / "ML-DSA-44-expanded.priv")


@pytest.mark.parametrize(("name", "reason"), [
    ("bad-ML-DSA-44-1.priv", "do not belong together"),
    ("bad-ML-DSA-44-2.priv", "only the expanded key"),
    ("bad-ML-DSA-44-3.priv", "only the expanded key"),
])
def test_rfc9881_inconsistent_keys_are_refused(name: str, reason: str) -> None:
    folder = DATA / "rfc9881"
    with pytest.raises(LoadError, match=reason):
        load_identity(cert=folder / "ML-DSA-44.crt", key=folder / name)


def test_both_form_ml_kem_key_with_a_foreign_expanded_half_is_refused() -> None:
    """Bouncy Castle writes ML-KEM keys in the both form; pairing one's seed with the
    other's expanded key must fail the consistency check."""
    def both(stem: str) -> bytes:
        return (DATA / "bc" / f"{stem}_priv.der").read_bytes()

    good = both("ml-kem-768-2.16.840.1.101.3.4.4.2")
    seed_at = good.index(bytes([0x04, 0x40])) + 2
    other = bytearray(good)
    other[seed_at:seed_at + 64] = bytes(64)  # a different seed, same expanded key
    cert = DATA / "bc" / "ml-kem-768-2.16.840.1.101.3.4.4.2_ee.der"
    with pytest.raises(LoadError, match="do not belong together"):
        load_identity(cert=cert, key=bytes(other))


# ---------------------------------------------------------------------------- published ML-DSA


@pytest.mark.parametrize("level", ["44", "65", "87"])
def test_rfc9882_examples_verify_with_out_of_band_certificate(level: str) -> None:
    der = _pem_der(DATA / "rfc9882" / f"mldsa{level}-signed-attrs.pem")
    cert = load_certificates(DATA / "rfc9881" / f"ML-DSA-{level}.crt")
    [signer] = verify_signed_data(der, extra_certificates=cert).signers
    assert signer.verified and not signer.problems
    assert (signer.signature_algorithm, signer.digest_algorithm) == (f"ml-dsa-{level}", "sha512")
    [without] = verify_signed_data(der).signers  # the message carries no certificate
    assert not without.verified


@pytest.mark.parametrize("path", [
    *sorted((DATA / "bc").glob("ml-dsa-??-2.*_signed_attrs.der")),
    *sorted((DATA / "cryptonext").glob("ML-DSA-*_signed_attrs.der")),
], ids=lambda p: f"{p.parent.name}-{p.name[:9]}")
def test_published_ml_dsa_signed_data_verifies(path: Path) -> None:
    [signer] = verify_signed_data(path.read_bytes()).signers
    assert signer.verified and not signer.problems
    assert signer.signature_algorithm.startswith("ml-dsa-")


@pytest.mark.parametrize("path", [
    DATA / "bc" / "ml-dsa-44-with-sha512-2.16.840.1.101.3.4.3.32_signed_attrs.der",
    DATA / "cryptonext" / "HASH-ML-DSA-44-2.16.840.1.101.3.4.3.32_signed_attrs.der",
], ids=["bc", "cryptonext"])
def test_hash_ml_dsa_is_reported_unsupported(path: Path) -> None:
    """HashML-DSA is not RFC 9882's and RFC 9881 forbids it in PKIX: named, not verified."""
    [signer] = verify_signed_data(path.read_bytes()).signers
    assert not signer.verified
    assert signer.signature_algorithm == "hash-ml-dsa-44-sha512"
    assert [p.code.value for p in signer.problems] == ["unsupported_algorithm"]


def test_bc_ml_kem_certificate_chains_to_its_ml_dsa_trust_anchor() -> None:
    from smime.core.signatures import verify_signature

    anchor = load_certificates(DATA / "bc" / "ta.der")[0]
    ee = load_certificates(DATA / "bc" / "ml-kem-768-2.16.840.1.101.3.4.4.2_ee.der")[0]
    assert isinstance(anchor.public_key(), mldsa.MLDSA44PublicKey)
    algorithm = ee.signature_algorithm_oid.dotted_string
    from asn1crypto import algos
    identifier = algos.SignedDigestAlgorithm({"algorithm": algorithm})
    assert verify_signature(anchor.public_key(), identifier, ee.signature, ee.tbs_certificate_bytes)
    forged = bytearray(ee.signature)
    forged[100] ^= 1
    assert not verify_signature(anchor.public_key(), identifier, bytes(forged),
                                ee.tbs_certificate_bytes)


@pytest.mark.parametrize(("level", "digest", "ok"), [
    ("44", "sha256", True), ("44", "sha512", True), ("65", "sha256", False),
    ("65", "sha384", True), ("87", "sha384", False), ("87", "sha512", True),
])
def test_ml_dsa_digest_pairs(level: str, digest: str, ok: bool) -> None:
    """RFC 9882 section 3.3: a digest weaker than the parameter set is refused."""
    from asn1crypto import algos

    oid = {"44": "2.16.840.1.101.3.4.3.17", "65": "2.16.840.1.101.3.4.3.18",
           "87": "2.16.840.1.101.3.4.3.19"}[level]
    identifier = algos.SignedDigestAlgorithm({"algorithm": oid})
    if ok:
        assert verifying_scheme(identifier, digest).name == f"ml-dsa-{level}"
    else:
        with pytest.raises(UnsupportedError, match=f"ml-dsa-{level}"):
            verifying_scheme(identifier, digest)


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["kim", "kai"])
@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-128-gcm", "aes-256-gcm"])
def test_kem_round_trip(pq: PKI, name: str, cipher: Any) -> None:
    user = pq[name]
    der = create_enveloped_data(b"secret", [RecipientSpec(user.certificate)], cipher=cipher)
    result = decrypt_enveloped_data(der, user.identity)
    assert (result.content, result.cipher, result.key_management) == (
        b"secret", cipher, user.key_type
    )


def test_kem_recipient_named_by_subject_key_identifier(pq: PKI) -> None:
    user = pq["kim"]
    spec = RecipientSpec(user.certificate, identify_by="subject_key_identifier")
    der = create_enveloped_data(b"ski", [spec])
    assert decrypt_enveloped_data(der, user.identity).content == b"ski"
    assert describe_recipients(der)[0].ski is not None


def test_mixed_classical_and_pq_recipients_through_the_api(pq: PKI) -> None:
    names = ("kim", "kai", "alice", "carol")
    message = smime.encrypt(b"Subject: mixed\r\n\r\nfor all four\r\n",
                            [pq[n].certificate for n in names])
    raw = message.as_bytes()
    kinds = {}
    for name in names:
        result = smime.decrypt(raw, pq[name].identity)
        assert b"for all four" in result.as_bytes()
        kinds[name] = result.decryption.key_management
    assert kinds == {"kim": "ml-kem-768", "kai": "ml-kem-1024", "alice": "rsa-pkcs1v15",
                     "carol": "ecdh"}


def test_auto_cipher_is_gcm_for_kem_recipients_only(pq: PKI) -> None:
    only_pq = smime.encrypt(b"Subject: a\r\n\r\nb\r\n", pq["kim"].certificate)
    assert "authEnveloped-data" in only_pq["Content-Type"]
    mixed = smime.encrypt(b"Subject: a\r\n\r\nb\r\n", [pq["kim"].certificate,
                                                        pq["alice"].certificate])
    assert 'smime-type="enveloped-data"' in mixed["Content-Type"]


@pytest.mark.parametrize("name", ["dana", "dora", "dirk"])
def test_ml_dsa_sign_verify_with_ml_dsa_chain(pq: PKI, name: str) -> None:
    user = pq[name]
    message = f"From: {user.email}\r\nSubject: pq\r\n\r\nsigned\r\n".encode()
    signed = smime.sign(message, user.identity, digest="sha256")
    assert 'micalg="sha-512"' in signed["Content-Type"]
    result = smime.verify(signed.as_bytes(), smime.TrustStore([pq.root.certificate]))
    assert result.valid, result.problems
    other_root = make_test_pki(user.cert_path.parent / "other", users=(),
                               ca_key_type="ml-dsa-65").root
    refused = smime.verify(signed.as_bytes(), smime.TrustStore([other_root.certificate]))
    assert not refused.valid


@pytest.mark.parametrize("name", ["dana", "dora", "dirk"])
def test_ml_dsa_signed_data_structure(pq: PKI, name: str) -> None:
    user = pq[name]
    der = create_signed_data(b"content", [SignerSpec(user.identity, digest="sha256")],
                             detached=False)
    info = _schema.ContentInfo.load(der)
    [si] = info["content"]["signer_infos"]
    level = user.key_type.rsplit("-", 1)[1]
    oid = {"44": "17", "65": "18", "87": "19"}[level]
    assert si["signature_algorithm"]["algorithm"].dotted == f"2.16.840.1.101.3.4.3.{oid}"
    assert si["signature_algorithm"]["parameters"].native is None  # absent (RFC 9881)
    assert si["digest_algorithm"]["algorithm"].native == "sha512"
    assert len(si["signed_attrs"]) >= 2
    caps = next(a for a in si["signed_attrs"] if a["type"].native == "smime_capabilities")
    advertised = [c["capability_id"].dotted for c in caps["values"][0]]
    assert KEM_OIDS["ml-kem-768"] in advertised and KEM_OIDS["ml-kem-1024"] in advertised
    [signer] = verify_signed_data(der).signers
    assert signer.verified


def _kemri_of(der: bytes) -> tuple[Any, Any]:
    info = _schema.ContentInfo.load(der)
    kemris = [ri.chosen["ori_value"] for ri in info["content"]["recipient_infos"]
              if ri.name == "ori"]
    return info, kemris[0]


@pytest.mark.parametrize("name", ["kim", "kai"])
def test_kemri_structure_matches_the_published_ones(pq: PKI, name: str) -> None:
    """Field by field against Bouncy Castle's message to the same parameter set."""
    user = pq[name]
    ours_info, ours = _kemri_of(create_enveloped_data(b"x", [RecipientSpec(user.certificate)]))
    stem = {"kim": "ml-kem-768-2.16.840.1.101.3.4.4.2",
            "kai": "ml-kem-1024-2.16.840.1.101.3.4.4.3"}[name]
    bc_der = (DATA / "bc" / f"{stem}_kemri_id-alg-hkdf-with-sha256.der").read_bytes()
    bc_info, theirs = _kemri_of(bc_der)
    assert ours_info["content"]["version"].native == bc_info["content"]["version"].native == "v3"
    for field in ("version", "kem", "kdf", "kek_length", "wrap"):
        assert ours[field].dump() == theirs[field].dump(), field
    assert len(ours["kemct"].native) == len(theirs["kemct"].native) == ML_KEMS[
        KEM_OIDS[user.key_type]].ciphertext_size
    assert len(ours["encrypted_key"].native) == 40  # a 32-byte key, AES-wrapped
    assert ours["rid"].name == "issuer_and_serial_number"


def test_openssl_parses_our_kem_message(pq: PKI, tmp_path: Path) -> None:
    """OpenSSL 3.0 knows no KEMRecipientInfo, but its DER parser must walk the structure."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    path = tmp_path / "kem.der"
    path.write_bytes(create_enveloped_data(b"x", [RecipientSpec(pq["kim"].certificate)]))
    out = subprocess.run([openssl, "asn1parse", "-inform", "DER", "-in", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert ":1.2.840.113549.1.9.16.13.3" in out  # id-ori-kem
    assert ":1.2.840.113549.1.9.16.3.28" in out  # id-alg-hkdf-with-sha256
    assert "id-aes256-wrap" in out and ":2.16.840.1.101.3.4.4.2" in out


def test_pq_users_are_written_as_pem(pq: PKI) -> None:
    for name, key_type in PQ_USERS:
        user = pq[name]
        assert user.p12_path is None and user.key_type == key_type
        loaded = load_identity(cert=user.cert_path, key=user.key_path)
        assert loaded.certificate == user.certificate
    kem = pq["kim"].certificate
    assert isinstance(kem.public_key(), mlkem.MLKEM768PublicKey)
    assert isinstance(pq.root.key, mldsa.MLDSA65PrivateKey)


def test_inspect_names_kem_recipients(pq: PKI) -> None:
    raw = smime.encrypt(b"Subject: i\r\n\r\nx\r\n", pq["kai"].certificate).as_bytes()
    text = str(smime.inspect(raw).to_dict())
    assert "'kem'" in text and "ml-kem-1024" in text


# ---------------------------------------------------------------------------- hostile input


def _mutated(der: bytes, change: Callable[[Any], None]) -> bytes:
    info, kemri = _kemri_of(der)
    change(kemri)
    return bytes(info.dump(force=True))


def _set(field: str, value: Any) -> Callable[[Any], None]:
    def change(kemri: Any) -> None:
        kemri[field] = value
    return change


@pytest.fixture(scope="module")
def kem_message(pq: PKI) -> bytes:
    return create_enveloped_data(b"target", [RecipientSpec(pq["kim"].certificate)],
                                 cipher="aes-256-gcm")


HOSTILE_DECRYPTION = {
    "short ciphertext": lambda k: _set("kemct", k["kemct"].native[:-1])(k),
    "long ciphertext": lambda k: _set("kemct", k["kemct"].native + b"\0")(k),
    "flipped ciphertext": lambda k: _set("kemct", bytes([k["kemct"].native[0] ^ 1])
                                         + k["kemct"].native[1:])(k),
    "swapped KEM OID": lambda k: _set("kem", {"algorithm": KEM_OIDS["ml-kem-1024"]})(k),
    "wrapped key altered": lambda k: _set("encrypted_key", bytes(40))(k),
    "other KDF hash": lambda k: _set("kdf", {"algorithm": "1.2.840.113549.1.9.16.3.30"})(k),
}


@pytest.mark.parametrize("change", HOSTILE_DECRYPTION.values(), ids=HOSTILE_DECRYPTION.keys())
def test_hostile_kemri_gives_the_one_decryption_error(
    pq: PKI, kem_message: bytes, change: Callable[[Any], None]
) -> None:
    with pytest.raises(DecryptionError) as caught:
        decrypt_enveloped_data(_mutated(kem_message, change), pq["kim"].identity)
    with pytest.raises(DecryptionError) as wrong_key:
        decrypt_enveloped_data(kem_message, pq["kai"].identity)
    assert str(caught.value) == str(wrong_key.value)


@pytest.mark.parametrize(("change", "error"), [
    (_set("kek_length", 16), ParseError),
    (_set("version", "v1"), ParseError),
    (_set("kdf", {"algorithm": "1.2.840.113549.1.9.16.3.19"}), UnsupportedError),
    (_set("wrap", {"algorithm": "des_ede3_wrap"}), UnsupportedError),
    (_set("kem", {"algorithm": KEM_OIDS["ml-kem-512"]}), UnsupportedError),
])
def test_malformed_or_unsupported_kemri_is_refused(
    pq: PKI, kem_message: bytes, change: Callable[[Any], None], error: type[Exception]
) -> None:
    with pytest.raises(error):
        decrypt_enveloped_data(_mutated(kem_message, change), pq["kim"].identity)


def test_truncated_kem_message_is_a_parse_error(pq: PKI, kem_message: bytes) -> None:
    with pytest.raises(ParseError):
        decrypt_enveloped_data(kem_message[:-7], pq["kim"].identity)


def test_key_transport_naming_an_ml_kem_key_is_refused(pq: PKI, tmp_path: Path) -> None:
    """A KTRI whose rid names the ML-KEM certificate is not a way to that key."""
    kem_user = pq["kim"]
    rsa_twin = issue_certificate(pq.intermediate, kem_user.email, key_type="rsa-2048")
    der = create_enveloped_data(b"x", [RecipientSpec(rsa_twin.certificate)])
    info = _schema.ContentInfo.load(der)
    ktri = info["content"]["recipient_infos"][0].chosen
    from smime.keys import to_asn1_certificate

    cert = to_asn1_certificate(kem_user.certificate)
    ktri["rid"].chosen["serial_number"] = cert.serial_number
    with pytest.raises(UnsupportedError, match="KEMRecipientInfo"):
        decrypt_enveloped_data(bytes(info.dump(force=True)), kem_user.identity)


def test_ml_kem_certificate_without_key_encipherment_is_refused(pq: PKI) -> None:
    bad = issue_certificate(pq.intermediate, "kem@example.com", key_type="ml-kem-768",
                            key_usage=("key_agreement",))
    with pytest.raises(CertificateError, match="keyEncipherment"):
        create_enveloped_data(b"x", [RecipientSpec(bad.certificate)])


def test_streaming_encrypt_chooses_as_encrypt_does(pq: PKI, tmp_path: Path) -> None:
    """One rule for the cipher: ML-KEM recipients get AES-256-GCM from both APIs."""
    import smime.stream

    source = tmp_path / "in.eml"
    source.write_bytes(b"Subject: pq\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    streamed = tmp_path / "out.eml"
    smime.stream.encrypt(source, streamed, pq["kim"].certificate)
    in_memory = smime.encrypt(source.read_bytes(), pq["kim"].certificate).as_bytes()
    for wire in (streamed.read_bytes(), in_memory):
        assert b"smime-type=authEnveloped-data" in wire
    opened = tmp_path / "opened.eml"
    info = smime.stream.decrypt(streamed, opened, pq["kim"].identity)
    assert info.cipher == "aes-256-gcm" and b"hello" in opened.read_bytes()
