"""Shared fixtures: a test PKI made once per session, the corpus, and the external peers.

Interop and corpus tests skip with a reason when a peer tool or ``../shared/corpus`` is
missing; CI sets ``SMIME_REQUIRE_PEERS=1`` and ``SMIME_REQUIRE_CORPUS=1`` so that a skip
becomes a failure there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import smime
from smime.testing import TestPKI, make_test_pki

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SMIME_CORPUS", REPO.parent / "shared" / "corpus"))
#: Debian's libbcprov-java, libbcpkix-java, libbcmail-java (and what bcmail needs)
BC_JAVA_DIR = Path(os.environ.get("SMIME_BC_JAVA_DIR", "/usr/share/java"))
BC_JARS = ("bcprov", "bcpkix", "bcutil", "bcmail", "javax.mail", "javax.activation")


def _missing(reason: str, env: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{reason} ({env}=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def trust(pki: TestPKI) -> smime.TrustStore:
    """The test PKI's root as a trust store (a file may define its own ``trust``)."""
    return smime.TrustStore.from_pem(pki.root_path)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        _missing(f"the shared corpus is absent at {CORPUS}", "SMIME_REQUIRE_CORPUS")
    return CORPUS


def require_tool(name: str) -> str:
    """The path of an external peer tool, or skip (fail in CI) naming what is missing."""
    path = shutil.which(name)
    if path is None:
        _missing(f"interop peer {name!r} is not installed", "SMIME_REQUIRE_PEERS")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def openssl() -> str:
    return require_tool("openssl")


@pytest.fixture(scope="session")
def cmsutil() -> str:
    require_tool("certutil")
    require_tool("pk12util")
    return require_tool("cmsutil")


@pytest.fixture(scope="session")
def gpgsm() -> str:
    return require_tool("gpgsm")


@pytest.fixture(scope="session")
def slapd() -> str:
    """OpenLDAP's server; Debian installs it in /usr/sbin, which a user's PATH may lack."""
    path = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin:/usr/local/sbin")
    if path is None:
        _missing("interop peer 'slapd' is not installed (apt-get install slapd)",
                 "SMIME_REQUIRE_PEERS")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def bc_peer() -> tuple[str, str]:
    """(java, classpath) to run tests/bc/SmimePeer.java against Bouncy Castle.

    Compiled once into a temporary folder named by the source's and the jars' hash (shared
    by the xdist workers; a finished build is renamed into place, so a reader never sees a
    half-written one). Skips (fails in CI) without java, javac or the jars.
    """
    java, javac = require_tool("java"), require_tool("javac")
    jars = [BC_JAVA_DIR / f"{name}.jar" for name in BC_JARS]
    missing = [jar.name for jar in jars if not jar.is_file()]
    if missing:
        _missing(
            f"Bouncy Castle interop peer: {', '.join(missing)} not in {BC_JAVA_DIR} "
            "(apt-get install libbcprov-java libbcpkix-java libbcmail-java)",
            "SMIME_REQUIRE_PEERS",
        )
    source = REPO / "tests" / "bc" / "SmimePeer.java"
    key = hashlib.sha256(source.read_bytes())
    for jar in jars:
        key.update(str(jar.resolve()).encode())
    built = Path(tempfile.gettempdir()) / f"smime-bc-peer-{key.hexdigest()[:16]}"
    classpath = os.pathsep.join(map(str, jars))
    if not (built / "SmimePeer.class").is_file():
        scratch = Path(tempfile.mkdtemp(prefix="smime-bc-build-"))
        done = subprocess.run(
            [javac, "-nowarn", "-d", str(scratch), "-cp", classpath, str(source)],
            capture_output=True, timeout=300, check=False,
        )
        assert done.returncode == 0, f"javac failed: {done.stderr.decode(errors='replace')}"
        try:
            scratch.rename(built)
        except OSError:  # another worker got there first
            shutil.rmtree(scratch, ignore_errors=True)
    return java, classpath + os.pathsep + str(built)
