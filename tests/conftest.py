"""Shared fixtures: a test PKI made once per session, the corpus, and the external peers.

Interop and corpus tests skip with a reason when a peer tool or ``../shared/corpus`` is
missing; CI sets ``SMIME_REQUIRE_PEERS=1`` and ``SMIME_REQUIRE_CORPUS=1`` so that a skip
becomes a failure there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from smime.testing import TestPKI, make_test_pki

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SMIME_CORPUS", REPO.parent / "shared" / "corpus"))


def _missing(reason: str, env: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{reason} ({env}=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


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
