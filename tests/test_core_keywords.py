"""One keyword list per operation: every form takes it, shows it, and reads it the same way."""

from __future__ import annotations

import inspect
from typing import TypedDict

import pytest

import smime
import smime.aio
import smime.batch
import smime.stream
from smime.api import keywords
from smime.cms import EnvelopeOptions, create_enveloped_data
from smime.cms.enveloped import ENVELOPE_DEFAULTS
from smime.core.keywords import settled, spelled_out
from smime.errors import UsageError


class _Options(TypedDict, total=False):
    colour: str
    size: int


_DEFAULTS: _Options = {"colour": "blue", "size": 3}


def test_settled_fills_in_the_defaults_and_keeps_what_was_given() -> None:
    assert settled("paint", {"size": 5}, _DEFAULTS) == {"colour": "blue", "size": 5}
    assert settled("paint", {}, _DEFAULTS) == _DEFAULTS


def test_settled_refuses_an_unknown_keyword_naming_the_closest() -> None:
    with pytest.raises(UsageError, match=r"paint\(\) got an unexpected keyword argument "
                                         r"'colur'; did you mean 'colour'\?"):
        settled("paint", {"colur": "red"}, _DEFAULTS)  # type: ignore[typeddict-unknown-key]
    with pytest.raises(TypeError, match=r"'weight'$"):  # nothing close: no guess
        settled("paint", {"weight": 1}, _DEFAULTS)  # type: ignore[typeddict-unknown-key]


def test_spelled_out_shows_the_keywords_before_the_functions_own() -> None:
    @spelled_out(_Options, _DEFAULTS, before="dry_run")
    def paint(wall: str, *, dry_run: bool = False, **options: object) -> str:
        return wall

    shown = inspect.signature(paint).parameters
    assert list(shown) == ["wall", "colour", "size", "dry_run"]
    assert shown["colour"].default == "blue" and shown["colour"].annotation == "str"
    assert shown["size"].kind is inspect.Parameter.KEYWORD_ONLY
    assert paint("north") == "north"  # the function itself is unchanged


#: Every form of each operation, and the list it must take.
FORMS = {
    keywords.SignOptions: (smime.sign, smime.stream.sign, smime.batch.sign,
                           smime.batch.imap_sign, smime.aio.sign),
    keywords.EncryptOptions: (smime.encrypt, smime.stream.encrypt, smime.batch.encrypt,
                              smime.batch.imap_encrypt, smime.aio.encrypt),
    keywords.DecryptOptions: (smime.decrypt, smime.stream.decrypt, smime.batch.decrypt,
                              smime.batch.imap_decrypt, smime.aio.decrypt),
    keywords.CheckOptions: (smime.verify, smime.unwrap, smime.stream.verify,
                            smime.batch.verify, smime.aio.verify, smime.batch.unwrap,
                            smime.aio.unwrap),
    EnvelopeOptions: (create_enveloped_data,),
}


@pytest.mark.parametrize("options", list(FORMS), ids=lambda o: o.__name__)
def test_every_form_of_an_operation_takes_and_shows_its_whole_list(options: type) -> None:
    for form in FORMS[options]:
        shown = inspect.signature(form).parameters
        missing = set(options.__annotations__) - set(shown)
        assert not missing, f"{form.__module__}.{form.__name__} lacks {sorted(missing)}"
        assert not any(p.kind is p.VAR_KEYWORD for p in shown.values()), form


def test_every_list_has_a_default_for_each_keyword() -> None:
    tables = {
        keywords.SignOptions: keywords.SIGN_DEFAULTS,
        keywords.EncryptOptions: keywords.ENCRYPT_DEFAULTS,
        keywords.DecryptOptions: keywords.DECRYPT_DEFAULTS,
        keywords.CheckOptions: keywords.CHECK_DEFAULTS,
        keywords.VerifyOptions: keywords.VERIFY_DEFAULTS,
        keywords.UnwrapOptions: keywords.UNWRAP_DEFAULTS,
        keywords.SignCall: keywords.SIGN_CALL_DEFAULTS,
        keywords.EncryptCall: keywords.ENCRYPT_CALL_DEFAULTS,
        EnvelopeOptions: ENVELOPE_DEFAULTS,
    }
    for options, defaults in tables.items():
        assert list(defaults) == list(options.__annotations__), options.__name__
