"""One input rule: every function that takes a message takes bytes, str (the message text),
an EmailMessage, a path (os.PathLike) and a binary file object, with the same outcome;
``trust=`` takes a TrustStore or anything ``TrustStore.from_pem`` reads."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

import smime
from smime.errors import LoadError, ParseError, UsageError
from smime.testing import TestPKI, make_ca
from smime.transports import MockTransport

LETTER = (
    b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: forms\r\n"
    b"Content-Type: text/plain\r\n\r\nthe same letter in every form\r\n"
)


class _FsPath(os.PathLike[str]):
    """A PathLike that is not a pathlib.Path (what other libraries hand over)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __fspath__(self) -> str:
        return str(self._path)


Form = Callable[[bytes, Path], Any]


def _as_path(data: bytes, folder: Path) -> Path:
    path = folder / "message.eml"
    path.write_bytes(data)
    return path


FORMS: dict[str, Form] = {
    "bytes": lambda data, _folder: data,
    "bytearray": lambda data, _folder: bytearray(data),
    "str": lambda data, _folder: data.decode("ascii"),
    "EmailMessage": lambda data, _folder: message_from_bytes(data, policy=policy.SMTP),
    "Path": _as_path,
    "PathLike": lambda data, folder: _FsPath(_as_path(data, folder)),
    "BytesIO": lambda data, _folder: io.BytesIO(data),
    "open file": lambda data, folder: _as_path(data, folder).open("rb"),
}


def _content(message: Any) -> bytes:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.replace(b"\r\n", b"\n")


def _alice(pki: TestPKI) -> smime.Identity:
    return pki["alice"].identity


def _check_sign(pki: TestPKI, message: Any) -> None:
    signed = smime.sign(message, _alice(pki))
    result = smime.verify(signed, trust=pki.root_path)
    assert result.valid, result.problems
    assert _content(result.content) == b"the same letter in every form\n"


def _check_encrypt(pki: TestPKI, message: Any) -> None:
    sealed = smime.encrypt(message, pki["bob"].certificate)
    opened = smime.decrypt(sealed, pki["bob"].identity)
    assert _content(opened) == b"the same letter in every form\n"


def _check_compress(pki: TestPKI, message: Any) -> None:
    packed = smime.compress(message)
    assert _content(smime.unwrap(packed).content) == b"the same letter in every form\n"


def _check_raw_sign(pki: TestPKI, message: Any) -> None:
    der = smime.sign(message, _alice(pki), format="der", detached=False)
    result = smime.verify(der, trust=pki.root_path)
    assert result.valid and result.content.as_bytes().endswith(b"every form\r\n")


def _check_send(pki: TestPKI, message: Any) -> None:
    transport = MockTransport()
    result = smime.send(message, transport)
    assert result.accepted == ("bob@example.com",)
    assert transport.sent[0].data.endswith(b"the same letter in every form\r\n")


def _check_inspect(pki: TestPKI, message: Any) -> None:
    node = smime.inspect(message)
    assert node.title == "text/plain" and node.kind != "error"


SENDING: dict[str, Callable[[TestPKI, Any], None]] = {
    "sign": _check_sign,
    "sign(format=der)": _check_raw_sign,
    "encrypt": _check_encrypt,
    "compress": _check_compress,
    "send": _check_send,
    "inspect": _check_inspect,
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("function", SENDING)
def test_every_function_that_takes_a_plain_message_takes_every_form(
    pki: TestPKI, tmp_path: Path, function: str, form: str
) -> None:
    message = FORMS[form](LETTER, tmp_path)
    try:
        SENDING[function](pki, message)
    finally:
        if hasattr(message, "close"):
            message.close()


def _signed(pki: TestPKI) -> bytes:
    return smime.sign(LETTER, _alice(pki)).as_bytes()


def _sealed(pki: TestPKI) -> bytes:
    return smime.encrypt(_signed(pki), pki["bob"].certificate).as_bytes()


def _check_verify(pki: TestPKI, message: Any) -> None:
    assert smime.verify(message, trust=pki.root_path).valid


def _check_decrypt(pki: TestPKI, message: Any) -> None:
    opened = smime.decrypt(message, pki["bob"].identity)
    assert opened.get_content_type() == "multipart/signed"


def _check_unwrap(pki: TestPKI, message: Any) -> None:
    result = smime.unwrap(message, pki["bob"].identity, trust=pki.root_path)
    assert [layer.kind for layer in result.layers] == ["encrypted", "signed"]
    assert result.layers[1].result.valid


def _check_inspect_sealed(pki: TestPKI, message: Any) -> None:
    node = smime.inspect(message, pki["bob"].identity)
    assert node.kind != "error" and "multipart/signed" in str(node)


RECEIVING: dict[str, tuple[Callable[[TestPKI], bytes], Callable[[TestPKI, Any], None]]] = {
    "verify": (_signed, _check_verify),
    "decrypt": (_sealed, _check_decrypt),
    "unwrap": (_sealed, _check_unwrap),
    "inspect(sealed)": (_sealed, _check_inspect_sealed),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("function", RECEIVING)
def test_every_function_that_takes_a_protected_message_takes_every_form(
    pki: TestPKI, tmp_path: Path, function: str, form: str
) -> None:
    make, check = RECEIVING[function]
    message = FORMS[form](make(pki), tmp_path)
    try:
        check(pki, message)
    finally:
        if hasattr(message, "close"):
            message.close()


def test_a_str_is_message_text_not_a_file_name(pki: TestPKI, tmp_path: Path) -> None:
    path = _as_path(LETTER, tmp_path)
    with pytest.raises(ParseError, match="not an email message"):
        smime.sign(str(path), _alice(pki))


def test_a_missing_file_is_a_load_error_naming_it(pki: TestPKI, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"cannot read the message file .*nowhere\.eml"):
        smime.verify(tmp_path / "nowhere.eml")


def test_a_text_mode_file_is_refused_with_the_reason(pki: TestPKI, tmp_path: Path) -> None:
    with (
        _as_path(LETTER, tmp_path).open("r", encoding="ascii") as text,
        pytest.raises(UsageError, match="open it with 'rb'"),
    ):
        smime.sign(text, _alice(pki))


def _der(pki: TestPKI) -> bytes:
    return pki.root.certificate.public_bytes(serialization.Encoding.DER)


TRUST_FORMS: dict[str, Callable[[TestPKI], Any]] = {
    "TrustStore": lambda pki: smime.TrustStore.from_pem(pki.root_path),
    "str path": lambda pki: str(pki.root_path),
    "Path": lambda pki: pki.root_path,
    "PathLike": lambda pki: _FsPath(pki.root_path),
    "PEM bytes": lambda pki: pki.root_path.read_bytes(),
    "PEM text": lambda pki: pki.root_path.read_text(),
    "DER bytes": _der,
    "certificate": lambda pki: pki.root.certificate,
    "list": lambda pki: [pki.intermediate.certificate, str(pki.root_path)],
    "list of stores": lambda pki: [smime.TrustStore.from_pem(pki.root_path)],
}


@pytest.mark.parametrize("form", TRUST_FORMS)
@pytest.mark.parametrize("function", ["verify", "unwrap"])
def test_trust_takes_every_form(pki: TestPKI, function: str, form: str) -> None:
    trust = TRUST_FORMS[form](pki)
    signed = _signed(pki)
    if function == "verify":
        result = smime.verify(signed, trust=trust)
    else:
        result = smime.unwrap(signed, trust=trust).layers[0].result
    assert result.valid, result.problems


def test_trust_in_another_form_still_trusts_only_what_it_names(pki: TestPKI) -> None:
    signed = _signed(pki)
    other = make_ca("Someone else's root")
    result = smime.verify(signed, trust=other.certificate)
    assert not result.valid
    assert not smime.verify(signed).valid


def test_a_trust_file_that_cannot_be_read_names_it(pki: TestPKI, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"roots\.pem"):
        smime.verify(_signed(pki), trust=str(tmp_path / "roots.pem"))


@pytest.mark.parametrize("function", ["decrypt", "unwrap", "inspect"])
@pytest.mark.parametrize("form", ["str", "Path", "bytes"])
def test_a_key_file_given_as_identity_says_to_load_it(
    pki: TestPKI, function: str, form: str
) -> None:
    p12 = pki["bob"].p12_path
    assert p12 is not None
    value = {"str": str(p12), "Path": p12, "bytes": p12.read_bytes()}[form]
    call = getattr(smime, function)
    with pytest.raises(UsageError, match=r"smime\.load_identity\(.*password=\.\.\.\)"):
        call(_sealed(pki), value)
