"""Every Python block of README.md and docs/ runs as written.

A page's ```` ```python ```` blocks run in order, in one namespace, in a subprocess of their
own (so a ``chdir`` or a global of one page cannot leak into another test), in a fresh
folder holding the files ``smime.testing.make_test_pki('.')`` writes (``root.pem``,
``alice.p12``, ... password ``secret``). A block that is deliberately a fragment says so
in its fence, ```` ```{.python .fragment} ````, and is only name-checked (test_docs.py).

``SMIME_PASSWORD`` holds the test PKI's password, as for the command line. Sending
samples read their server from the environment, as an application would (``SMTP_HOST``,
``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SPARKPOST_API_KEY``,
``SPARKPOST_BASE_URL``; ``SSL_CERT_FILE`` names the CA of the server's TLS certificate);
here they point at an SMTP server and a SparkPost stand-in on 127.0.0.1. The subprocess
refuses, through an audit hook, any connection or name lookup for another address.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from transport_servers import (
    HOST,
    RecordingHandler,
    SparkPostAPI,
    make_tls,
    password_checker,
    smtp_server,
)

from smime.testing import make_test_pki

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Pages whose blocks sketch signatures (not Python that parses) rather than examples.
SKETCHES = {"internals.md"}
#: Seconds one page may take (key generation and RSA on a shared, slow machine).
PAGE_TIMEOUT = 300
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
PKI_PASSWORD = "secret"  # make_test_pki's
SMTP_USER, SMTP_PASSWORD = "app@example.com", "smtp-password-for-the-docs"
SPARKPOST_KEY = "sk-docs-0123"

#: Runs in the page's subprocess: blocks (JSON on stdin) in one namespace, each compiled
#: with its page's line numbers so a traceback points into the page.
DRIVER = r'''
import json, socket, sys, traceback

LOCAL = {"127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost"}

def only_local(event, args):
    if event == "socket.getaddrinfo" and args[0] not in LOCAL and args[0] is not None:
        raise PermissionError(f"docs examples may only reach 127.0.0.1, not {args[0]!r}")
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOCAL:
        raise PermissionError(f"docs examples may only reach 127.0.0.1, not {args[1][0]!r}")

sys.addaudithook(only_local)
namespace = {"__name__": "__main__"}
for block in json.load(sys.stdin):
    code = compile("\n" * (block["line"] - 1) + block["code"], block["page"], "exec")
    try:
        exec(code, namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED: the block at {block['page']}:{block['line']}", file=sys.stderr)
        sys.exit(1)
'''


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # the first line of code, counting from 1
    code: str
    fragment: bool


def blocks(page: Path) -> list[Block]:
    """The Python blocks of a Markdown page, fragments marked."""
    text = page.read_text(encoding="utf-8")
    name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name
    found = []
    for match in FENCE.finditer(text):
        info = match.group(1).strip()
        classes = info.strip("{}").split() if info.startswith("{") else info.split()[:1]
        if not classes or classes[0] not in ("python", ".python"):
            continue
        line = text.count("\n", 0, match.start()) + 2
        found.append(Block(name, line, match.group(2), ".fragment" in classes))
    return found


def pages() -> list[Path]:
    docs = [p for p in sorted(DOCS.rglob("*.md")) if p.name not in SKETCHES]
    return [p for p in (ROOT / "README.md", *docs) if any(not b.fragment for b in blocks(p))]


@dataclass(frozen=True)
class Servers:
    env: dict[str, str]
    smtp: RecordingHandler
    sparkpost: SparkPostAPI


@pytest.fixture(scope="module")
def pki_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs-pki")
    make_test_pki(folder)
    return folder


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tls = make_tls(tmp_path_factory.mktemp("docs-tls"))
    handler = RecordingHandler()
    with smtp_server(
        handler, tls_context=tls.server_context, require_starttls=True, auth_required=True,
        authenticator=password_checker(SMTP_USER, SMTP_PASSWORD),
    ) as smtp, SparkPostAPI(api_key=SPARKPOST_KEY) as api:
        yield Servers({
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(smtp.port),
            "SMTP_USER": SMTP_USER,
            "SMTP_PASSWORD": SMTP_PASSWORD,
            "SPARKPOST_API_KEY": SPARKPOST_KEY,
            "SPARKPOST_BASE_URL": api.url,
            "SSL_CERT_FILE": str(tls.root_path),
        }, handler, api)


def run_page(page: Path, folder: Path, pki_files: Path, env: dict[str, str]) -> str:
    """Run the page's blocks in ``folder`` (filled with the test PKI's files); its output,
    or pytest.fail with the traceback."""
    folder.mkdir()
    for item in pki_files.iterdir():
        shutil.copy2(item, folder / item.name)
    runnable = [asdict(b) for b in blocks(page) if not b.fragment]
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "SPARKPOST_"))},
        "SMIME_PASSWORD": PKI_PASSWORD,
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DRIVER], input=json.dumps(runnable), cwd=folder,
            capture_output=True, text=True, timeout=PAGE_TIMEOUT, env=environ, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{page.name}: its examples took longer than {PAGE_TIMEOUT}s\n{exc.stderr}")
    if proc.returncode != 0:
        pytest.fail(f"an example of {page.name} failed:\n{proc.stdout}\n{proc.stderr}",
                    pytrace=False)
    return proc.stdout


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(
    page: Path, tmp_path: Path, pki_files: Path, servers: Servers
) -> None:
    sent, posted = len(servers.smtp.received), len(servers.sparkpost.requests)
    run_page(page, tmp_path / "run", pki_files, servers.env)
    text = page.read_text(encoding="utf-8")
    if "SMTP_HOST" in text:
        assert len(servers.smtp.received) > sent, f"{page.name} sent nothing through SMTP"
    if "SPARKPOST_API_KEY" in text:
        assert len(servers.sparkpost.requests) > posted, f"{page.name} posted nothing"


#: Pages whose examples need what the runner cannot provide; their fragments are not counted.
NEEDS_INFRASTRUCTURE = {
    "docs/guides/hardware-keys.md": "a PKCS#11 token (tests/test_pkcs11.py drives SoftHSM2)",
    "docs/guides/directory.md": "an LDAP server (tests/test_directory.py starts slapd)",
    "docs/guides/millions.md": "a Dask or Spark cluster (tests/test_batch_dask.py)",
    "docs/reference/pickling.md": "a key file in each worker (tests/test_pickle.py)",
}


def test_every_page_with_examples_is_run() -> None:
    names = {str(p.relative_to(ROOT)) for p in pages()}
    assert {"README.md", "docs/index.md", "docs/security.md", "docs/guides/verifying.md",
            "docs/guides/sending.md", "docs/reference/results.md"} <= names
    fragments = [b for p in (ROOT / "README.md", *DOCS.rglob("*.md")) for b in blocks(p)
                 if b.fragment and b.page not in NEEDS_INFRASTRUCTURE]
    assert len(fragments) <= 3, f"fragments should stay rare: {fragments}"


# ---------------------------------------------------------------------------- the runner


def _page(tmp_path: Path, *codes: str, fence: str = "python") -> Path:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n" + "".join(
        f"Some prose.\n\n```{fence if i else 'python'}\n{code}\n```\n\n"
        for i, code in enumerate(codes)
    ), encoding="utf-8")
    return page


def test_runner_fails_on_a_broken_block_and_names_its_line(
    tmp_path: Path, pki_files: Path
) -> None:
    page = _page(tmp_path, "import smime\nalice = smime.load_identity('alice.p12', "
                 "password='secret')", "print(alice.certificate.subject)\nprint(message)")
    with pytest.raises(pytest.fail.Exception) as info:
        run_page(page, tmp_path / "run", pki_files, {})
    text = str(info.value)
    assert "NameError" in text and "message" in text
    assert "FAILED: the block at page.md:13" in text
    assert 'File "page.md", line 14' in text  # the line of the page, not of the block


def test_runner_shares_one_namespace_in_the_test_pki_folder(
    tmp_path: Path, pki_files: Path
) -> None:
    page = _page(tmp_path, "import smime\nalice = smime.load_identity('alice.p12', "
                 "password='secret')", "print(alice.certificate.subject.rfc4514_string())")
    assert "alice@example.com" in run_page(page, tmp_path / "run", pki_files, {})


def test_runner_skips_fragments(tmp_path: Path, pki_files: Path) -> None:
    page = _page(tmp_path, "print('ran')", "raise SystemExit(3)", fence="{.python .fragment}")
    assert [b.fragment for b in blocks(page)] == [False, True]
    assert run_page(page, tmp_path / "run", pki_files, {}).split() == ["ran"]


def test_runner_refuses_other_addresses(tmp_path: Path, pki_files: Path) -> None:
    page = _page(tmp_path, "import socket\nsocket.create_connection(('192.0.2.1', 25), 5)")
    with pytest.raises(pytest.fail.Exception, match=r"may only reach 127\.0\.0\.1"):
        run_page(page, tmp_path / "run", pki_files, {})
