"""One sentence, two spellings: the library names options as keywords (``starttls=False``),
the command line says its flags (``--no-starttls``) from the same sentence.

The library keeps each such option apart (``smime.errors.Option``); the command line's table
(``smime.cli._words.FLAGS``) must know every one, and nothing it prints keeps a keyword.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_cli import LETTER, run
from transport_servers import RecordingHandler, smtp_server

import smime
from smime import transports
from smime.cli._words import FLAGS, error_text
from smime.errors import Option

if TYPE_CHECKING:
    from smime.testing import TestPKI

SOURCE = Path(smime.__file__).parent
NO_TO = LETTER.replace(b"To: Bob <bob@example.com>\r\n", b"")
NO_FROM = LETTER.replace(b"From: Alice <alice@example.com>\r\n", b"")


def _options_in_source() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        found.update(re.findall(r'Option\(\s*"([^"]+)"\s*\)', path.read_text("utf-8")))
    return found


def test_every_option_the_library_names_has_a_flag() -> None:
    used = _options_in_source()
    assert len(used) >= 10
    assert sorted(used - set(FLAGS)) == []  # a new option needs its flag in the table
    assert sorted(set(FLAGS) - used) == []  # and the table keeps no stale entry


def test_the_library_keeps_keywords_and_the_cli_says_flags() -> None:
    assert b"To:" not in NO_TO and b"From:" not in NO_FROM
    with pytest.raises(smime.errors.ParseError) as caught:
        transports.envelope(NO_TO)
    assert str(caught.value) == "the message has no To, Cc or Bcc address: pass recipients=[...]"
    assert error_text(caught.value) == "the message has no To, Cc or Bcc address: pass --to ADDR"
    assert isinstance(caught.value.parts[1], Option)
    plain = smime.errors.ParseError("no options here")
    assert error_text(plain) == str(plain) == "no options here"


def test_a_named_error_pickles_with_its_parts() -> None:
    import pickle

    with pytest.raises(smime.errors.ParseError) as caught:
        transports.envelope(NO_FROM)
    again = pickle.loads(pickle.dumps(caught.value))
    assert str(again) == str(caught.value) and error_text(again).endswith("pass --from ADDR")


def _cbc_unsigned(pki: TestPKI) -> bytes:
    return smime.encrypt(LETTER, pki["bob"].certificate, cipher="aes-256-cbc").as_bytes()


#: (command line, standard input, what the sentence must say, the keyword it must not).
CASES = [
    pytest.param(lambda pki, tmp: (["send", "--smtp", "mail.example.com", "--user", "alice",
                                    "--no-starttls"], LETTER),
                 "--user with --no-starttls and no --ssl would send the password in clear; "
                 "use --starttls or --ssl", "username=", id="send-password-in-clear"),
    pytest.param(lambda pki, tmp: (["send", "--sparkpost", "--eu", "--sparkpost-url",
                                    "https://api.example.com"], LETTER),
                 "give either --sparkpost-url or --eu, not both", "base_url=",
                 id="sparkpost-url-and-eu"),
    pytest.param(lambda pki, tmp: (["decrypt", "--identity", pki["bob"].p12_path,
                                    "--require-authenticated"], _cbc_unsigned(pki)),
                 "decryption refused (--require-authenticated)", "require_authenticated=",
                 id="decrypt-require-authenticated"),
]


@pytest.mark.parametrize(("make", "said", "keyword"), CASES)
def test_cli_errors_name_flags(pki: TestPKI, tmp_path: Path, make: object, said: str,
                               keyword: str) -> None:
    args, stdin = make(pki, tmp_path)  # type: ignore[operator]
    env = {"SMIME_PASSWORD": pki.password, "SMIME_SMTP_PASSWORD": "pw",
           "SPARKPOST_API_KEY": "key"}
    err = run(*args, stdin=stdin, env=env, status=2).stderr.decode()
    assert said in err and keyword not in err, err


def test_cli_smtp_sentences_name_flags() -> None:
    with smtp_server(RecordingHandler()) as server:  # no TLS: STARTTLS is not offered
        where = f"127.0.0.1:{server.port}"
        refused = run("send", "--smtp", where, stdin=LETTER, status=2).stderr.decode()
        no_to = run("send", "--smtp", where, "--no-starttls", stdin=NO_TO, status=2).stderr
        no_from = run("send", "--smtp", where, "--no-starttls", stdin=NO_FROM, status=2).stderr
    assert "does not offer STARTTLS; refusing to send in clear (--no-starttls allows it)" in (
        refused) and "starttls=False" not in refused
    assert b"no To, Cc or Bcc address: pass --to ADDR" in no_to and b"recipients=" not in no_to
    assert b"no From or Sender header: pass --from ADDR" in no_from and b"sender=" not in no_from


def test_verify_problem_names_the_flag(pki: TestPKI, tmp_path: Path) -> None:
    """The problem of a signature whose certificate is missing says --certfile, not
    certificates=[...]; the library's summary keeps the keyword."""
    from asn1crypto import cms

    content = b"the contract\r\n"
    info = cms.ContentInfo.load(smime.sign(content, pki["alice"].identity, format="der"))
    info["content"]["certificates"] = cms.CertificateSet([])  # the signer's is nowhere
    signature = info.dump(force=True)
    trust = smime.TrustStore.from_pem(pki.root_path)
    result = smime.verify(signature, trust, content=content)
    assert "supply it with certificates=[...] or store=..." in result.summary()
    (tmp_path / "contract.txt").write_bytes(content)
    (tmp_path / "contract.p7s").write_bytes(signature)
    out = run("verify", "--trust", pki.root_path, "--in-form", "der", "--content",
              tmp_path / "contract.txt", tmp_path / "contract.p7s", status=1).stdout.decode()
    assert "supply it with --certfile FILE" in out and "certificates=" not in out


def test_a_limit_says_the_command_line_has_no_flag_for_it(pki: TestPKI) -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(1100))
    message = (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
               + parts + b"--b--\r\n")
    with pytest.raises(smime.errors.LimitExceededError) as caught:
        smime.verify(message)
    assert "pass limits=smime.Limits(max_parts=...)" in str(caught.value)
    err = run("verify", "--trust", pki.root_path, stdin=message, status=2).stderr.decode()
    assert "pass smime.Limits(max_parts=...) through the Python API" in err
    assert "limits=" not in err


def test_importing_a_certificate_without_an_address(pki: TestPKI, tmp_path: Path) -> None:
    with smime.CertificateStore(tmp_path / "lib.db") as store, pytest.raises(
            smime.errors.CertificateError, match=r"pass emails=\[\.\.\.\]$"):
        store.add(pki.root.certificate)
    err = run("certs", "--store", tmp_path / "cli.db", "import", pki.root_path,
              status=2).stderr.decode()
    assert "names no email address; pass the addresses through the Python API" in err
    assert "emails=[...]))" in err and "pass emails=" not in err
