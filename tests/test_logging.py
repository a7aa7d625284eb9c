"""The ``smime`` loggers: what each operation records, at which level, and what never is.

Records are library etiquette (a NullHandler, nothing on the root logger) and must never
carry key material, passwords or message content: a secret canary runs through every
operation at DEBUG and must appear in no record.
"""

from __future__ import annotations

import ast
import base64
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from transport_servers import (
    Answer,
    RecordingHandler,
    SparkPostAPI,
    TLSFiles,
    make_tls,
    password_checker,
    smtp_server,
)

import smime
from smime import _log
from smime._cache import LRUCache
from smime.errors import DecryptionError, TransportError
from smime.testing import TestPKI, make_test_pki
from smime.transports import FileTransport, SMTPTransport, SparkPostTransport, sparkpost

SMIME = Path(smime.__file__).parent
CANARY = "CANARY-7f3a9c51e2"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.com>\r\n"
    b"Subject: quarterly figures\r\n"
    b"\r\n"
    b"The vault code is " + CANARY.encode() + b".\r\n"
)


@pytest.fixture()
def caplog_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="smime")
    smime.clear_caches()
    yield caplog


def _records(caplog: pytest.LogCaptureFixture, name: str,
             level: int | None = None) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == name and (level is None or r.levelno == level)]


def _messages(caplog: pytest.LogCaptureFixture, name: str, level: int | None = None) -> str:
    return "\n".join(r.getMessage() for r in _records(caplog, name, level))


def _trust(pki: TestPKI) -> smime.TrustStore:
    return smime.TrustStore.from_certificates([pki.root.certificate])


# --- etiquette -----------------------------------------------------------------------------


def test_the_package_logger_has_a_null_handler_and_leaves_the_root_alone() -> None:
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("smime").handlers)
    for layer in (_log.api, _log.cms, _log.validation, _log.transports, _log.cache,
                  _log.store, _log.keys):
        assert layer.name.startswith("smime.") and layer.parent is logging.getLogger("smime")
    code = ("import logging, smime, smime.api, smime.transports, smime.store; "
            "root = logging.getLogger(); print(len(root.handlers), root.level)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(SMIME.parent)})
    assert out.stdout.split() == ["0", str(logging.WARNING)]
    assert out.stderr == ""


def _log_calls(tree: ast.AST) -> Iterator[ast.Call]:
    levels = {"debug", "info", "warning", "error", "critical", "exception", "log"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in levels and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "_LOG"):
            yield node


def test_log_calls_use_lazy_percent_arguments_never_f_strings() -> None:
    calls = 0
    for path in SMIME.rglob("*.py"):
        for call in _log_calls(ast.parse(path.read_text(encoding="utf-8"))):
            calls += 1
            assert call.args, f"{path}:{call.lineno}: a log call without a message"
            for arg in call.args:
                assert not isinstance(arg, ast.JoinedStr), (
                    f"{path}:{call.lineno}: an f-string in a log call is formatted even when "
                    "the level is off")
            fmt = call.args[0]
            assert isinstance(fmt, ast.Constant) and isinstance(fmt.value, str), (
                f"{path}:{call.lineno}: the message of a log call is a literal")
            assert fmt.value.count("%") - 2 * fmt.value.count("%%") == len(call.args) - 1, (
                f"{path}:{call.lineno}: placeholders and arguments differ")
    assert calls > 20  # the walk found the package's records


def test_a_disabled_level_computes_no_certificate_label(
    pki: TestPKI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smime.api import sending
    from smime.cms import enveloped, signed

    calls: list[object] = []

    def counting(cert: Any, **kw: Any) -> str:
        calls.append(cert)
        return "label"

    for module in (sending, enveloped, signed):
        monkeypatch.setattr(module, "certificate_label", counting)
    caplog.set_level(logging.WARNING, logger="smime")
    smime.encrypt(smime.sign(MESSAGE, pki["alice"].identity), [pki["bob"].certificate])
    assert calls == []
    caplog.set_level(logging.DEBUG, logger="smime")
    smime.encrypt(smime.sign(MESSAGE, pki["alice"].identity), [pki["bob"].certificate])
    assert calls  # the same calls label certificates once someone listens


# --- the operations --------------------------------------------------------------------------


def test_sign_records_digest_and_signer(pki: TestPKI, caplog_debug: Any) -> None:
    smime.sign(MESSAGE, pki["alice"].identity, digest="sha384")
    assert "sign: 1 signer(s), digest sha384" in _messages(caplog_debug, "smime.api", logging.INFO)
    cms = _messages(caplog_debug, "smime.cms", logging.DEBUG)
    assert "digest sha384" in cms and "alice@example.com" in cms


def test_encrypt_records_the_cipher_and_key_transport_and_why(
    pki: TestPKI, caplog_debug: Any
) -> None:
    smime.encrypt(MESSAGE, [pki["bob"].certificate])
    api = _messages(caplog_debug, "smime.api")
    assert "cipher aes-256-cbc by the auto rule: not every recipient is known" in api
    assert "picks rsa-pkcs1v15 for RSA key transport: capabilities unknown" in api
    caplog_debug.clear()
    smime.encrypt(MESSAGE, [pki["bob"].certificate],
                  capabilities=["aes-256-gcm", "rsa-oaep"])
    api = _messages(caplog_debug, "smime.api")
    assert "cipher aes-256-gcm by the auto rule: every recipient announced it" in api
    assert "picks rsa-oaep for RSA key transport: rsa-oaep announced" in api
    cms = _messages(caplog_debug, "smime.cms")
    assert "enveloping: cipher aes-256-gcm, 1 recipient(s)" in cms
    assert "bob@example.com" in cms and "by rsa-oaep" in cms
    caplog_debug.clear()
    smime.encrypt(MESSAGE, [pki["carol"].certificate], cipher="aes-128-cbc",
                  key_transport="rsa-oaep")
    assert "auto rule" not in _messages(caplog_debug, "smime.api")
    assert "ecdh key agreement" in _messages(caplog_debug, "smime.cms")


def test_decrypt_records_cipher_and_warns_on_unauthenticated_content(
    pki: TestPKI, caplog_debug: Any
) -> None:
    cbc = smime.encrypt(MESSAGE, [pki["bob"].certificate])
    smime.decrypt(cbc, pki["bob"].identity)
    info = _messages(caplog_debug, "smime.api", logging.INFO)
    assert "decrypt: cipher aes-256-cbc, key management rsa-pkcs1v15, authenticated False" in info
    [warning] = _records(caplog_debug, "smime.api", logging.WARNING)
    assert "EFAIL" in warning.getMessage()
    assert "matched" in _messages(caplog_debug, "smime.cms", logging.DEBUG)
    caplog_debug.clear()
    gcm = smime.encrypt(MESSAGE, [pki["bob"].certificate], cipher="aes-256-gcm")
    smime.decrypt(gcm, pki["bob"].identity)
    assert "authenticated True" in _messages(caplog_debug, "smime.api", logging.INFO)
    assert not [r for r in caplog_debug.records if r.levelno >= logging.WARNING]


def test_unwrap_warns_about_cbc_content_that_no_signature_covers(
    pki: TestPKI, caplog_debug: Any
) -> None:
    cbc = smime.encrypt(MESSAGE, [pki["bob"].certificate])
    smime.unwrap(cbc, identity=pki["bob"].identity, trust=_trust(pki))
    assert "EFAIL" in _messages(caplog_debug, "smime.api", logging.WARNING)


def test_a_failed_decrypt_is_one_info_record_whatever_the_cause(
    pki: TestPKI, caplog_debug: Any
) -> None:
    """A wrong key and a tampered ciphertext give the same record: no padding oracle."""
    der = smime.encrypt(MESSAGE, [pki["bob"].certificate, pki["alice"].certificate],
                        format="der")
    seen = []
    for message, identity in (
        (der, pki["dave"].identity),  # not a recipient
        (der[:-1] + bytes([der[-1] ^ 1]), pki["bob"].identity),  # the last block altered
    ):
        caplog_debug.clear()
        with pytest.raises(DecryptionError):
            smime.decrypt(message, identity)
        seen.append([(r.name, r.levelno, r.getMessage()) for r in caplog_debug.records
                     if r.name != "smime.cache"])
    assert seen[0] == seen[1]
    assert ("smime.cms", logging.INFO,
            "decryption failed: no recipient info opened the content with this key") in seen[0]


def test_verify_records_verdict_chain_verifier_and_revocation_source(
    pki: TestPKI, caplog_debug: Any
) -> None:
    signed = smime.sign(MESSAGE, pki["alice"].identity)
    result = smime.verify(signed, _trust(pki))
    assert result.valid
    assert ("verify: valid True, 1 signer(s), problems: none"
            in _messages(caplog_debug, "smime.api", logging.INFO))
    validation = _messages(caplog_debug, "smime.validation", logging.DEBUG)
    assert "chain: path found by the Rust verifier" in validation
    assert "Alice" in validation and "smime Test Root CA" in validation
    warning = _messages(caplog_debug, "smime.validation", logging.WARNING)
    assert "unknown" in warning and "soft-fail" in warning and "alice@example.com" in warning

    caplog_debug.clear()
    crl = pki.issue_crl()
    assert smime.verify(signed, _trust(pki), crls=[crl], revocation="hard-fail").valid
    validation = _messages(caplog_debug, "smime.validation")
    assert "path found by pyhanko-certvalidator" in validation
    assert "is good (source: crl)" in validation
    assert not _records(caplog_debug, "smime.validation", logging.WARNING)

    caplog_debug.clear()
    smime.verify(signed, _trust(pki))  # the same question again: the path cache answers
    assert "judged from the path cache" in _messages(caplog_debug, "smime.validation")


def test_verify_records_problem_codes(pki: TestPKI, caplog_debug: Any) -> None:
    signed = smime.sign(MESSAGE, pki["alice"].identity)
    result = smime.verify(signed, smime.TrustStore.from_certificates([]))
    assert not result.valid
    info = _messages(caplog_debug, "smime.api", logging.INFO)
    assert "verify: valid False" in info
    assert all(p.code.value in info for p in result.problems)


def test_weak_algorithms_accepted_by_opt_in_are_a_warning(
    pki: TestPKI, caplog_debug: Any, openssl: str, tmp_path: Path
) -> None:
    content = tmp_path / "content.txt"
    content.write_bytes(b"Content-Type: text/plain\r\n\r\nold mail\r\n")
    user = pki["alice"]
    done = subprocess.run(
        [openssl, "cms", "-sign", "-md", "sha1", "-in", str(content), "-signer",
         str(user.cert_path), "-inkey", str(user.key_path), "-certfile",
         str(pki.intermediate_path), "-crlfeol"],
        capture_output=True, timeout=60, check=True,
    )
    signed = b"From: alice@example.com\r\n" + done.stdout.replace(b"\r\n", b"\n").replace(
        b"\n", b"\r\n")
    smime.verify(signed, _trust(pki))
    assert not _records(caplog_debug, "smime.api", logging.WARNING)  # refused, not accepted
    smime.verify(signed, _trust(pki),
                 policy=smime.VerificationPolicy(allow_weak_algorithms=True))
    [warning] = _records(caplog_debug, "smime.api", logging.WARNING)
    assert "allow_weak_algorithms=True" in warning.getMessage()


def test_cache_hits_and_misses_at_debug(caplog_debug: Any) -> None:
    cache: LRUCache[int] = LRUCache("test_logging.probe", 4)
    cache.get("a")
    cache.put("a", 1)
    cache.get("a")
    assert [r.getMessage() for r in _records(caplog_debug, "smime.cache", logging.DEBUG)] == [
        "cache test_logging.probe: miss", "cache test_logging.probe: hit"]


def test_harvest_records_what_was_kept_and_refused(
    pki: TestPKI, caplog_debug: Any, tmp_path: Path
) -> None:
    result = smime.verify(smime.sign(MESSAGE, pki["alice"].identity), _trust(pki))
    with smime.CertificateStore(tmp_path / "store.db") as store:
        store.harvest(result)
        store.harvest(result, trust=smime.TrustStore.from_certificates([pki["bob"].certificate]))
        assert store.find("alice@example.com") is not None
    text = _messages(caplog_debug, "smime.store")
    assert "harvest kept 1 certificate(s), refused 0" in text
    assert "as signer for alice@example.com" in text
    assert "refused" in text and "untrusted" in text
    assert "alice@example.com: the newest usable of 1" in text


# --- transports ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_smtp_records_connect_tls_login_and_sent(tls: TLSFiles, caplog_debug: Any) -> None:
    handler = RecordingHandler()
    with smtp_server(handler, tls_context=tls.server_context, auth_required=True,
                     authenticator=password_checker("alice", "s3cret")) as server:
        SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                      password="s3cret", ssl_context=tls.client_context).send(MESSAGE)
        with pytest.raises(TransportError):
            SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                          password="wrong", ssl_context=tls.client_context).send(MESSAGE)
    text = _messages(caplog_debug, "smime.transports")
    assert "smtp: connecting to SMTP server 127.0.0.1:" in text
    assert "TLS started (STARTTLS)" in text and "logged in as 'alice'" in text
    assert "smtp: sent" in text and "to 1 recipient(s)" in text
    assert "smtp: not sent: TransportError" in _messages(caplog_debug, "smime.transports",
                                                          logging.INFO)


def test_smtp_partial_refusal_is_a_warning(caplog_debug: Any) -> None:
    two = MESSAGE.replace(b"To: Bob <bob@example.com>", b"To: bob@example.com, carol@example.com")
    with smtp_server(RecordingHandler(refuse={"carol@example.com"})) as server:
        result = SMTPTransport("127.0.0.1", server.port, starttls=False, timeout=5).send(two)
    assert result.rejected
    [warning] = _records(caplog_debug, "smime.transports", logging.WARNING)
    assert "1 recipient(s) refused" in warning.getMessage()


def test_sparkpost_records_retries(caplog_debug: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparkpost, "_sleep", lambda seconds: None)
    busy: Answer = (503, "<html>busy</html>", {})
    with SparkPostAPI([busy, None]) as api:
        SparkPostTransport("sk-test-0123", base_url=api.url).send(MESSAGE)
    text = _messages(caplog_debug, "smime.transports")
    assert "sparkpost: answer 503; retrying in" in text and "sparkpost: sent" in text
    assert "sk-test-0123" not in text


def test_file_transport_records_the_write(caplog_debug: Any, tmp_path: Path) -> None:
    FileTransport(tmp_path / "out", format="eml").send(MESSAGE)
    text = _messages(caplog_debug, "smime.transports")
    assert "file: wrote" in text and "file: sent" in text


# --- the canary ----------------------------------------------------------------------------


def _secrets(pki: TestPKI) -> list[bytes]:
    """The forms a private key could take in a record: PEM, DER and its base64."""
    out: list[bytes] = []
    for name in ("alice", "bob"):
        key = pki[name].identity.key
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        out += [der[-64:], base64.b64encode(der)[-64:], der[-64:].hex().encode()]
    return out


def test_no_record_carries_the_password_the_content_or_the_key(
    tmp_path: Path, tls: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    password = f"pw-{CANARY}"
    pki = make_test_pki(tmp_path / "pki", password=password)
    caplog.set_level(logging.DEBUG)  # every logger, not only smime's
    smime.clear_caches()
    alice = smime.load_identity(pki["alice"].p12_path, password=password)
    bob = smime.load_identity(pki["bob"].p12_path, password=password)
    with pytest.raises(smime.errors.SMIMEError):
        smime.load_identity(pki["bob"].p12_path, password=f"wrong-{CANARY}")
    signed = smime.sign(MESSAGE, alice)
    encrypted = smime.encrypt(signed, [bob.certificate])
    decrypted = smime.decrypt(encrypted, bob)
    assert CANARY.encode() in decrypted.as_bytes()
    smime.verify(decrypted, _trust(pki))
    smime.unwrap(encrypted, identity=bob, trust=_trust(pki))
    with pytest.raises(DecryptionError):
        smime.decrypt(encrypted, alice)
    handler = RecordingHandler()
    with smtp_server(handler, tls_context=tls.server_context, auth_required=True,
                     authenticator=password_checker("alice", password)) as server:
        SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                      password=password, ssl_context=tls.client_context).send(encrypted)
        SMTPTransport("127.0.0.1", server.port, timeout=5, username="alice",
                      password=password, ssl_context=tls.client_context).send(MESSAGE)
    assert len(handler.received) == 2
    with SparkPostAPI(api_key=f"key-{CANARY}") as api:
        SparkPostTransport(f"key-{CANARY}", base_url=api.url).send(MESSAGE)
    FileTransport(tmp_path / "mbox", format="mbox").send(MESSAGE)

    records = [r for r in caplog.records if r.name.startswith("smime")]
    assert len({r.name for r in records}) >= 5  # api, cms, validation, transports, cache
    secrets = _secrets(pki)
    for record in records:
        texts = [str(record.msg), record.getMessage(), *(repr(a) for a in record.args or ())]
        for text in texts:
            assert CANARY not in text, (record.name, text)
            assert "PRIVATE KEY" not in text, (record.name, text)
            assert not any(s.decode("latin-1") in text for s in secrets), record.name
