"""Keys on a PKCS#11 token, with a real SoftHSM2: tokens initialised here, keys imported
and generated on the token; signing, decryption and ECDH on the token, checked by OpenSSL;
the private key never readable; threads, token resets, pickling and the CLI."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import _missing, require_tool
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from helpers import PLAIN, body_text, run

import smime
import smime.stream
from smime.core.pkcs11 import (
    TokenECPrivateKey,
    TokenRSAPrivateKey,
    open_token_key,
    parse_pkcs11_uri,
)
from smime.errors import PasswordError, UnsupportedError, UsageError
from smime.testing import issue_certificate

try:
    import pkcs11
except ImportError:  # the token tests skip (fail in CI); the URI tests run
    pkcs11 = None

pytestmark = pytest.mark.interop

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
           "/usr/lib64/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so")
LABEL, PIN, SO_PIN = "smime-test", "1234", "87654321"
ROOT = Path(__file__).resolve().parents[1]


class Token:
    """The SoftHSM2 token of this module: its module, URIs of each key, and the users."""

    def __init__(self, module: str, folder: Path, pki: smime.testing.TestPKI) -> None:
        self.module, self.folder, self.pki = module, folder, pki
        self.identities: dict[str, smime.Identity] = {}

    def uri(self, name: str, extra: str = "") -> str:
        return f"pkcs11:token={LABEL};object={name}{extra}"

    def load(self, name: str, **kwargs: object) -> smime.Identity:
        return smime.load_identity(self.uri(name), module=self.module, pin=PIN, **kwargs)


def _module() -> str:
    for path in MODULES:
        if os.path.exists(path):
            return path
    _missing("SoftHSM2 (Debian softhsm2) is not installed", "SMIME_REQUIRE_PEERS")
    raise AssertionError("unreachable")


def _write_certificate(session, cert, label: str, key_id: bytes) -> None:
    from pkcs11 import Attribute, CertificateType, ObjectClass

    session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
    })


@pytest.fixture(scope="module")
def token(pki, tmp_path_factory: pytest.TempPathFactory) -> Token:
    """A token with alice's RSA and carol's EC P-256 keys imported (certificates beside
    them), and an RSA and an EC key generated on the token, certified by the test CA."""
    if pkcs11 is None:
        _missing("python-pkcs11 (the pkcs11 extra) is not installed", "SMIME_REQUIRE_PEERS")
    module = _module()
    util = require_tool("softhsm2-util")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    run(util, "--init-token", "--free", "--label", LABEL, "--so-pin", SO_PIN, "--pin", PIN)
    for name, key_id in (("alice", "01"), ("carol", "02")):
        run(util, "--import", pki[name].key_path, "--token", LABEL, "--label", name,
            "--id", key_id, "--pin", PIN)
    pkcs11.unload(module)  # a module loaded earlier in this process read another config
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    made = Token(module, folder, pki)
    tok = pkcs11.lib(module).get_token(token_label=LABEL)
    with tok.open(rw=True, user_pin=PIN) as session:
        for name, key_id in (("alice", b"\x01"), ("carol", b"\x02")):
            _write_certificate(session, pki[name].certificate, name, key_id)
        carol = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="carol")
        carol[Attribute.DERIVE] = True  # softhsm2-util imports keys without it (ECDH needs it)
        session.generate_keypair(KeyType.RSA, 2048, label="made-rsa", id=b"\x03", store=True)
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True)
        params.generate_keypair(label="made-ec", id=b"\x04", store=True)
    for name, key_id in (("made-rsa", b"\x03"), ("made-ec", b"\x04")):
        key, certs = open_token_key(made.uri(name), module=module, pin=PIN)
        assert certs == []  # no certificate yet: the public key came from the token
        issued = issue_certificate(pki.intermediate, f"{name}@example.com", key=key)
        assert issued.key is key  # the CA signed the token's public key; no key left the token
        (folder / f"{name}.pem").write_bytes(
            issued.certificate.public_bytes(serialization.Encoding.PEM))
        if name == "made-rsa":  # the EC one stays off the token: certificate= gives it
            with tok.open(rw=True) as session:  # the login is the module's: key's pool holds it
                _write_certificate(session, issued.certificate, name, key_id)
    yield made
    pkcs11.unload(module)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def letter_from(name: str) -> bytes:
    """The test letter, From the signer (carol's and the made keys' addresses differ)."""
    return PLAIN.replace(b"Alice <alice@example.com>", f"<{name}@example.com>".encode())


def identity(token: Token, name: str) -> smime.Identity:
    if name not in token.identities:
        extra = {"certificate": token.folder / "made-ec.pem"} if name == "made-ec" else {}
        token.identities[name] = token.load(name, chain=[token.pki.intermediate_path], **extra)
    return token.identities[name]


RSA_KEYS = ("alice", "made-rsa")
EC_KEYS = ("carol", "made-ec")



# ---------------------------------------------------------------------------- URIs


def test_uris_are_parsed_as_rfc_7512_says() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=My%20Token;object=sig%3bkey;id=%01%A0;type=private"
                           "?pin-value=12%2634&module-path=/usr/lib/x.so")
    assert uri.path == {"token": "My Token", "object": "sig;key", "id": b"\x01\xa0",
                        "type": "private"}
    assert uri.query == {"pin-value": "12&34", "module-path": "/usr/lib/x.so"}
    assert "pin-value" not in uri.text() and "12" not in uri.text().split("?")[0]
    assert parse_pkcs11_uri(uri.text(secret=True)) == uri


@pytest.mark.parametrize(("text", "fragment"), [
    ("pkcs11:token=a;colour=blue", "unknown PKCS#11 URI path attribute 'colour'"),
    ("pkcs11:token=a;token=b", "given twice"),
    ("pkcs11:object=a;type=cert", "type='cert'"),
    ("pkcs11:object=a?pin=1", "unknown PKCS#11 URI query attribute 'pin'"),
    ("pkcs11:object", "has no value"),
])
def test_bad_uris_are_refused_by_name(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        parse_pkcs11_uri(text)


def test_without_python_pkcs11_the_error_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pkcs11", None)  # as if it were not installed
    with pytest.raises(smime.errors.LoadError, match=r"smime-sdk\[pkcs11\]"):
        smime.load_identity("pkcs11:token=x;object=y", module="/no/such.so", pin="1")


def test_module_pin_and_certificate_need_a_uri(pki) -> None:
    with pytest.raises(UsageError, match="pkcs11: URI"):
        smime.load_identity(pki.folder / "alice.p12", password="secret", module="/x.so")


def test_a_uri_without_a_module_says_how_to_name_one() -> None:
    with pytest.raises(UsageError, match="module="):
        smime.load_identity("pkcs11:token=x;object=y", pin="1")


# ---------------------------------------------------------------------------- the keys


@pytest.mark.parametrize("name", RSA_KEYS + EC_KEYS)
def test_the_private_key_cannot_leave_the_token(token: Token, name: str) -> None:
    from pkcs11 import Attribute, ObjectClass

    held = identity(token, name).key  # logged in: a session opened now sees private objects
    with pkcs11.lib(token.module).get_token(token_label=LABEL).open() as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=name)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.PRIVATE_EXPONENT if name in RSA_KEYS else Attribute.VALUE]
    assert isinstance(held, (TokenRSAPrivateKey, TokenECPrivateKey))
    with pytest.raises(UnsupportedError, match="stays on its PKCS#11 token"):
        held.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    with pytest.raises(UnsupportedError, match="stays on its PKCS#11 token"):
        held.private_numbers()
    assert copy.copy(held) is held and copy.deepcopy(held) is held  # a handle: nothing copied


@pytest.mark.parametrize("name", RSA_KEYS)
@pytest.mark.parametrize("scheme", ["pkcs1v15", "pss"])
@pytest.mark.parametrize("hash_", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_rsa_signatures_verify_with_the_public_key(token, name, scheme, hash_) -> None:
    key = identity(token, name).key
    pad = (padding.PKCS1v15() if scheme == "pkcs1v15" else
           padding.PSS(mgf=padding.MGF1(hash_), salt_length=padding.PSS.DIGEST_LENGTH))
    data = b"to be signed " * 100
    key.public_key().verify(key.sign(data, pad, hash_), data, pad, hash_)
    digest = hashes.Hash(hash_)
    digest.update(data)
    prehashed = key.sign(digest.finalize(), pad, utils.Prehashed(hash_))
    key.public_key().verify(prehashed, data, pad, hash_)


@pytest.mark.parametrize("name", EC_KEYS)
def test_ecdsa_signatures_verify_with_the_public_key(token, name) -> None:
    key = identity(token, name).key
    for hash_ in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        signature = key.sign(b"data", ec.ECDSA(hash_))
        key.public_key().verify(signature, b"data", ec.ECDSA(hash_))


def oaep_or_refused(decrypt, expected: bytes) -> None:
    """RSA-OAEP with SHA-256 decrypts, or the token says plainly it does not do it (SoftHSM2
    2.6 does OAEP with SHA-1 only): never a wrong result or a raw error."""
    try:
        assert decrypt() == expected
    except UnsupportedError as exc:
        assert "RSA-OAEP decryption with sha256" in str(exc)


def oaep(hash_: hashes.HashAlgorithm) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hash_), algorithm=hash_, label=None)


@pytest.mark.parametrize("name", RSA_KEYS)
def test_rsa_decryption_on_the_token(token, name) -> None:
    key = identity(token, name).key
    for pad in (padding.PKCS1v15(), oaep(hashes.SHA1())):
        assert key.decrypt(key.public_key().encrypt(b"secret", pad), pad) == b"secret"
        with pytest.raises(ValueError):  # as cryptography's keys: one error for bad padding
            key.decrypt(b"\x00" * (key.key_size // 8), pad)
    sealed = key.public_key().encrypt(b"secret", oaep(hashes.SHA256()))
    oaep_or_refused(lambda: key.decrypt(sealed, oaep(hashes.SHA256())), b"secret")


@pytest.mark.parametrize("name", EC_KEYS)
def test_ecdh_on_the_token_agrees_with_the_peer(token, name) -> None:
    key = identity(token, name).key
    peer = ec.generate_private_key(ec.SECP256R1())
    assert key.exchange(ec.ECDH(), peer.public_key()) == peer.exchange(ec.ECDH(),
                                                                       key.public_key())
    with pytest.raises(ValueError):
        key.exchange(ec.ECDH(), ec.generate_private_key(ec.SECP384R1()).public_key())


# ---------------------------------------------------------------------------- S/MIME, OpenSSL


@pytest.mark.parametrize(("name", "scheme"), [
    ("alice", "pkcs1v15"), ("alice", "pss"), ("made-rsa", "pkcs1v15"), ("made-rsa", "pss"),
    ("carol", "pkcs1v15"), ("made-ec", "pkcs1v15"),
])
def test_openssl_verifies_what_a_token_key_signs(token, openssl, trust, tmp_path, name,
                                                 scheme) -> None:
    signed = smime.sign(letter_from(name), identity(token, name), signature_padding=scheme)
    result = smime.verify(signed, trust=trust)
    assert result.valid, result.problems
    path = tmp_path / "signed.eml"
    path.write_bytes(signed.as_bytes())
    out = tmp_path / "out"
    run(openssl, "cms", "-verify", "-in", path, "-CAfile", token.pki.root_path,
        "-purpose", "smimesign", "-out", out)
    assert b"Balance: 1,234.56 EUR" in out.read_bytes()


@pytest.mark.parametrize(("name", "options"), [
    ("alice", ["-aes256"]),
    ("alice", ["-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha1"]),
    ("made-rsa", ["-aes128"]),
    ("made-rsa", ["-aes256", "-keyopt", "rsa_padding_mode:oaep"]),
    ("carol", ["-aes256"]),
    ("made-ec", ["-aes-256-gcm"]),
])
def test_a_token_key_decrypts_what_openssl_encrypts(token, openssl, tmp_path, name,
                                                    options) -> None:
    me = identity(token, name)
    cert = tmp_path / "recipient.pem"
    cert.write_bytes(me.certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "content").write_bytes(b"Content-Type: text/plain\r\n\r\nFor the token.\r\n")
    args = [*options[:1], "-recip", cert, *options[1:]]
    sealed = run(openssl, "cms", "-encrypt", "-in", tmp_path / "content", "-binary",
                 "-subject", "sealed", *args).stdout
    opened = smime.decrypt(sealed, me)
    assert body_text(opened).strip() == "For the token."


@pytest.fixture(scope="module")
def openssl_engine(token, openssl) -> dict[str, str]:
    """The environment for ``openssl -engine pkcs11`` (libengine-pkcs11-openssl) on the
    token's module: OpenSSL then reads the same RFC 7512 URIs."""
    engines = subprocess.run([openssl, "version", "-e"], capture_output=True, text=True,
                             check=True).stdout.split('"')[1]
    if not os.path.exists(os.path.join(engines, "pkcs11.so")):
        _missing("OpenSSL's pkcs11 engine (libengine-pkcs11-openssl) is not installed",
                 "SMIME_REQUIRE_PEERS")
    conf = token.folder / "openssl.cnf"
    conf.write_text("openssl_conf = init\n[init]\nengines = engines\n[engines]\n"
                    "pkcs11 = pkcs11\n[pkcs11]\nengine_id = pkcs11\n"
                    f"MODULE_PATH = {token.module}\ninit = 0\n")
    return {**os.environ, "OPENSSL_CONF": str(conf)}


def test_openssl_signs_with_the_same_uri_and_we_verify(token, openssl, openssl_engine, trust,
                                                        tmp_path) -> None:
    """OpenSSL's pkcs11 engine finds the key by the URI smime takes: one convention."""
    (tmp_path / "letter.eml").write_bytes(PLAIN)
    done = subprocess.run(
        [openssl, "cms", "-sign", "-engine", "pkcs11", "-keyform", "engine",
         "-inkey", token.uri("alice", f";type=private?pin-value={PIN}"),
         "-signer", str(token.pki["alice"].cert_path), "-certfile",
         str(token.pki.intermediate_path), "-in", str(tmp_path / "letter.eml")],
        capture_output=True, timeout=120, env=openssl_engine,
    )
    assert done.returncode == 0, done.stderr.decode()
    result = smime.verify(done.stdout, trust=trust)
    assert result.valid, result.problems
    assert result.signers[0].certificate == token.pki["alice"].certificate


def test_openssl_decrypts_with_the_token_key_what_we_encrypt(token, openssl, openssl_engine,
                                                              tmp_path) -> None:
    sealed = smime.encrypt(PLAIN, [token.pki["alice"].certificate], key_transport="rsa-pkcs1v15")
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    done = subprocess.run(
        [openssl, "cms", "-decrypt", "-engine", "pkcs11", "-keyform", "engine",
         "-inkey", token.uri("alice", f";type=private?pin-value={PIN}"),
         "-recip", str(token.pki["alice"].cert_path), "-in", str(tmp_path / "sealed.eml")],
        capture_output=True, timeout=120, env=openssl_engine,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Balance: 1,234.56 EUR" in done.stdout


@pytest.mark.parametrize("name", RSA_KEYS + EC_KEYS)
def test_a_token_key_decrypts_what_we_encrypt(token, name) -> None:
    me = identity(token, name)
    transport = "rsa-pkcs1v15" if name in RSA_KEYS else "rsa-oaep"  # ignored for EC
    sealed = smime.encrypt(PLAIN, [me.certificate], key_transport=transport)
    assert b"Balance: 1,234.56 EUR" in smime.decrypt(sealed, me).as_bytes()


@pytest.mark.parametrize("name", RSA_KEYS)
def test_our_default_rsa_oaep_sha256_decrypts_or_is_refused_plainly(token, name) -> None:
    me = identity(token, name)
    sealed = smime.encrypt(PLAIN, [me.certificate])  # RSA-OAEP with SHA-256
    oaep_or_refused(lambda: b"Balance: 1,234.56 EUR" in smime.decrypt(sealed, me).as_bytes(),
                    True)


def test_the_wrong_token_key_cannot_decrypt(token) -> None:
    sealed = smime.encrypt(PLAIN, [identity(token, "made-rsa").certificate],
                           key_transport="rsa-pkcs1v15")
    with pytest.raises(smime.errors.DecryptionError):
        smime.decrypt(sealed, identity(token, "alice"))


@pytest.mark.parametrize("name", ["made-rsa", "made-ec"])
def test_streaming_sign_and_decrypt_with_a_token_key(token, trust, tmp_path, name) -> None:
    me = identity(token, name)
    (tmp_path / "in.eml").write_bytes(letter_from(name))
    smime.stream.sign(tmp_path / "in.eml", tmp_path / "signed.eml", me)
    assert smime.verify((tmp_path / "signed.eml").read_bytes(), trust=trust).valid
    sealed = smime.encrypt(letter_from(name), [me.certificate], key_transport="rsa-pkcs1v15")
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    smime.stream.decrypt(tmp_path / "sealed.eml", tmp_path / "out.eml", me)
    assert b"Balance: 1,234.56 EUR" in (tmp_path / "out.eml").read_bytes()


# ---------------------------------------------------------------------------- PINs, errors


def test_a_wrong_pin_is_a_password_error(token) -> None:
    with pytest.raises(PasswordError, match="wrong PIN") as caught:
        smime.load_identity(token.uri("alice"), module=token.module, pin="0000")
    assert caught.value.reason == "wrong"


def test_no_pin_is_a_password_error_saying_so(token) -> None:
    with pytest.raises(PasswordError, match="needs a PIN") as caught:
        smime.load_identity(token.uri("alice"), module=token.module)
    assert caught.value.reason == "missing"


def test_the_pin_from_the_uri_value_or_source(token, tmp_path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    for uri in (token.uri("alice", f"?pin-source=file:{pin_file}"),
                token.uri("alice", f"?pin-value={PIN}&module-path={token.module}")):
        loaded = smime.load_identity(uri, module=token.module)
        assert loaded.certificate == token.pki["alice"].certificate


def test_an_unknown_object_or_token_is_a_load_error(token) -> None:
    with pytest.raises(smime.errors.LoadError, match="no private key"):
        smime.load_identity(token.uri("nobody"), module=token.module, pin=PIN)
    with pytest.raises(smime.errors.LoadError, match="no token matches"):
        smime.load_identity("pkcs11:token=absent;object=alice", module=token.module, pin=PIN)
    with pytest.raises(smime.errors.LoadError, match="no token matches"):
        smime.load_identity(token.uri("alice", ";library-manufacturer=Other"),
                            module=token.module, pin=PIN)
    found = smime.load_identity(token.uri("alice", ";library-manufacturer=SoftHSM"),
                                module=token.module, pin=PIN)
    assert found.certificate == token.pki["alice"].certificate
    with pytest.raises(smime.errors.LoadError, match=r"4 private keys .* name one"):
        smime.load_identity(f"pkcs11:token={LABEL}", module=token.module, pin=PIN)
    by_id = smime.load_identity(f"pkcs11:token={LABEL};id=%03", module=token.module, pin=PIN)
    assert by_id.certificate == identity(token, "made-rsa").certificate


def test_a_certificate_of_another_key_is_refused(token) -> None:
    with pytest.raises(smime.errors.LoadError, match="does not belong"):
        token.load("made-ec", certificate=token.pki["carol"].cert_path)


def test_a_key_with_no_certificate_anywhere_says_pass_certificate(token) -> None:
    with pytest.raises(smime.errors.LoadError, match="certificate="):
        token.load("made-ec")


# ---------------------------------------------------------------------------- threads, resets


def test_eight_threads_sign_with_one_identity(token, trust) -> None:
    me = identity(token, "alice")
    results: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(smime.verify(smime.sign(PLAIN, me), trust=trust).valid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [True] * 40
    assert me.key._pool.opened <= me.key._pool.size


def test_signing_goes_on_after_a_token_reset(token, trust) -> None:
    me = token.load("carol", chain=[token.pki.intermediate_path])  # its own pool
    letter = letter_from("carol")
    assert smime.verify(smime.sign(letter, me), trust=trust).valid
    pkcs11.lib(token.module).reinitialize()  # C_Finalize + C_Initialize: sessions, login gone
    assert smime.verify(smime.sign(letter, me), trust=trust).valid
    generation = me.key._pool.generation
    assert generation == 1  # the pool saw the reset and logged in again


def test_decryption_goes_on_after_the_sessions_are_closed(token) -> None:
    me = token.load("alice")
    sealed = smime.encrypt(PLAIN, [me.certificate])
    for session, _key in me.key._pool.idle:
        session.close()  # logs out (the login is the token's, not the session's) and closes
    assert b"Balance" in smime.decrypt(sealed, me).as_bytes()


# ---------------------------------------------------------------------------- pickling


def test_pickling_with_a_pin_source_reopens_the_token(token, tmp_path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN)
    uri = token.uri("alice", f"?pin-source={pin_file}")
    me = smime.load_identity(uri, module=token.module)
    data = pickle.dumps(me.key)
    assert PIN.encode() not in data.replace(str(pin_file).encode(), b"")
    script = (
        "import pickle, sys\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "from cryptography.hazmat.primitives.asymmetric import padding\n"
        "key = pickle.loads(sys.stdin.buffer.read())\n"
        "sig = key.sign(b'x', padding.PKCS1v15(), hashes.SHA256())\n"
        "key.public_key().verify(sig, b'x', padding.PKCS1v15(), hashes.SHA256())\n"
        "print(type(key).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "TokenRSAPrivateKey"


def test_an_identity_with_a_token_key_pickles_by_uri(token, tmp_path) -> None:
    """The whole Identity: its certificate and chain as they are, its key as URI + module."""
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN)
    me = smime.load_identity(token.uri("carol", f"?pin-source={pin_file}"), module=token.module,
                             chain=[token.pki.intermediate_path])
    data = pickle.dumps(me)
    script = (
        "import pickle, sys, smime\n"
        "me = pickle.loads(sys.stdin.buffer.read())\n"
        f"trust = smime.TrustStore.from_pem({str(token.pki.root_path)!r})\n"
        f"signed = smime.sign({letter_from('carol')!r}, me)\n"
        "print(smime.verify(signed, trust=trust).valid, type(me.key).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["True", "TokenECPrivateKey"]


def test_pickling_with_a_pin_given_directly_is_refused(token) -> None:
    with pytest.raises(UsageError, match="pin-source"):
        pickle.dumps(identity(token, "alice").key)


# ---------------------------------------------------------------------------- CLI


def test_the_cli_signs_with_a_token_uri(token, openssl, tmp_path) -> None:
    (tmp_path / "msg.eml").write_bytes(PLAIN)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SMIME_PKCS11_MODULE": token.module,
           "TOKEN_PIN": PIN}
    env.pop("SMIME_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "smime", "sign", "--identity", token.uri("alice"),
         "--chain", str(token.pki.intermediate_path), "--password-env", "TOKEN_PIN",
         str(tmp_path / "msg.eml")],
        capture_output=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    (tmp_path / "signed.eml").write_bytes(done.stdout)
    out = tmp_path / "out"
    run(openssl, "cms", "-verify", "-in", tmp_path / "signed.eml", "-CAfile",
        token.pki.root_path, "-out", out)
    assert b"Balance: 1,234.56 EUR" in out.read_bytes()
    wrong = subprocess.run(
        [sys.executable, "-m", "smime", "sign", "--identity", token.uri("alice"),
         "--pkcs11-module", token.module, str(tmp_path / "msg.eml")],
        capture_output=True, timeout=120, env={**env, "TOKEN_PIN": "", "SMIME_PASSWORD": "9"},
    )
    assert wrong.returncode != 0
    assert "wrong PIN" in wrong.stderr.decode() and "Traceback" not in wrong.stderr.decode()
    env.pop("SMIME_PKCS11_MODULE")
    missing = subprocess.run(
        [sys.executable, "-m", "smime", "sign", "--identity", token.uri("alice"),
         "--pkcs11-module", token.module, str(tmp_path / "msg.eml")],
        capture_output=True, timeout=120, env=env,
    )
    assert missing.returncode == 2
    assert "needs a PIN" in missing.stderr.decode() and "--password-file" in \
        missing.stderr.decode()


def test_the_cli_decrypts_with_a_token_key_and_a_certificate_file(token, tmp_path) -> None:
    cert = token.folder / "made-ec.pem"
    sealed = smime.encrypt(letter_from("made-ec"), [cert.read_bytes()])
    (tmp_path / "sealed.eml").write_bytes(sealed.as_bytes())
    (tmp_path / "pin").write_text(PIN + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SMIME_PKCS11_MODULE": token.module}
    env.pop("SMIME_PASSWORD", None)
    done = subprocess.run(
        [sys.executable, "-m", "smime", "decrypt", "--key", token.uri("made-ec"),
         "--cert", str(cert), "--password-file", str(tmp_path / "pin"),
         str(tmp_path / "sealed.eml")],
        capture_output=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Balance: 1,234.56 EUR" in done.stdout


def test_rsa_and_ec_key_types_are_what_the_cms_layer_expects(token) -> None:
    assert isinstance(identity(token, "alice").key, rsa.RSAPrivateKey)
    assert isinstance(identity(token, "carol").key, ec.EllipticCurvePrivateKey)
    assert identity(token, "made-rsa").key.key_size == 2048
    assert identity(token, "made-ec").key.curve.name == "secp256r1"
