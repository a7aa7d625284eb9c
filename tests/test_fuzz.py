"""The fuzzing harness in the suite: saved crash inputs replay, each target runs briefly.

Longer runs: ``tox -e fuzz`` or ``python -m tests.fuzz run TARGET --seconds N`` (see
``tests/fuzz/__main__.py``). An input listed in ``tests/fuzz/known-crashes.txt`` still
crashes: its replay is ``xfail(strict=True)``, so the line must go when the fix lands.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import random
import sys
import time
import types

import pytest
from cryptography.hazmat.primitives import serialization
from fuzz import harness
from fuzz.harness import (
    TARGETS,
    Crash,
    Target,
    known_crashes,
    regressions,
    run_one,
)
from fuzz.seeds import Context, make_context, mutate, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smime
from smime.errors import ParseError
from smime.testing import TestPKI as PKI

pytestmark = pytest.mark.fuzz

PARSERS = {"verify", "decrypt", "unwrap", "inspect", "load_certificates", "load_identity"}
#: examples per target in the brief run; keeps the whole file well under 30 s on 2 cores
EXAMPLES = {"verify": 120, "decrypt": 80, "unwrap": 60, "inspect": 60, "load_identity": 50,
            "load_certificates": 150}
#: a saved hang is made to take far longer than this, so the replay is quick and not flaky
REPLAY_LIMIT = 1.0


@pytest.fixture(scope="session")
def ctx(pki: PKI) -> Context:
    return make_context(pki)


@pytest.fixture(scope="session")
def known_buckets(ctx: Context) -> set[tuple[str, str, str]]:
    """The crash kinds that saved, still-listed inputs show today (taken live, not stored;
    a short limit, since a listed hang only needs to show it is one)."""
    known = known_crashes()
    found = set()
    for path in regressions():
        if f"{path.parent.name}/{path.name}" in known:
            crash = run_one(TARGETS[path.parent.name], path.read_bytes(), ctx, limit=0.5)
            if crash is not None:
                found.add(crash.bucket)
    return found


def _replay_cases() -> list[object]:
    known = known_crashes()
    cases: list[object] = []
    for path in regressions():
        name = f"{path.parent.name}/{path.name}"
        marks = [pytest.mark.xfail(strict=True, reason=known[name])] if name in known else []
        cases.append(pytest.param(path, id=name, marks=marks))
    return cases


@pytest.mark.parametrize("path", _replay_cases())
def test_saved_crash_input_no_longer_crashes(path, ctx: Context) -> None:  # type: ignore[no-untyped-def]
    crash = run_one(TARGETS[path.parent.name], path.read_bytes(), ctx, limit=REPLAY_LIMIT)
    assert crash is None, crash.describe()


def test_known_crashes_name_saved_inputs() -> None:
    saved = {f"{p.parent.name}/{p.name}" for p in regressions()}
    missing = set(known_crashes()) - saved
    assert not missing, f"known-crashes.txt names inputs that are not saved: {sorted(missing)}"
    assert all(reason for reason in known_crashes().values()), "every entry needs a reason"


def test_every_parser_entry_has_a_target() -> None:
    assert set(TARGETS) >= PARSERS
    assert all(t.seeds in ("messages", "certificates", "identities") for t in TARGETS.values())


def test_stream_readers_join_once_smime_stream_exists(
    monkeypatch: pytest.MonkeyPatch, ctx: Context
) -> None:
    """smime.stream (a later issue) needs no harness change: its readers are registered."""
    fake = types.ModuleType("smime.stream")
    fake.__spec__ = importlib.machinery.ModuleSpec("smime.stream", None)
    seen: list[bytes] = []
    fake.verify = lambda src, **kw: seen.append(src.read())  # type: ignore[attr-defined]
    fake.decrypt = lambda src, dst, identity: seen.append(src.read())  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smime.stream", fake)
    targets = {t.name: t for t in harness._stream_targets()}
    assert set(targets) == {"stream.verify", "stream.decrypt"}
    for target in targets.values():
        assert run_one(target, b"input", ctx) is None
    assert seen == [b"input", b"input"]


def test_fixed_keys_are_the_same_in_every_run(ctx: Context) -> None:
    """Saved decrypt crashes replay only if the harness decrypts with the same keys: these
    fingerprints were taken when the first inputs were saved, and must not change."""
    fingerprints = [
        hashlib.sha256(
            identity.certificate.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest()[:16]
        for identity in ctx.identities
    ]
    assert fingerprints == ["8344182a68ac580b", "737505dc5207f970", "93b8689c34fcc376"]


def test_generated_seeds_reach_the_parsers(ctx: Context) -> None:
    """Seeds that a parser rejects fuzz only its error paths: each kind must get through."""
    messages = dict(seeds("messages", ctx, corpus=False))
    assert smime.verify(messages["signed-rsa"], trust=ctx.trust).valid
    for name in ("signed-ecdsa", "signed-ed25519", "signed-pss", "signed-opaque"):
        assert smime.verify(messages[name], trust=ctx.trust).valid, name
    for name, identity in (("encrypted-gcm", 0), ("encrypted-ecdh", 1), ("encrypted-x25519", 2)):
        assert smime.decrypt(messages[name], ctx.identities[identity]).as_bytes()
    opened = smime.unwrap(messages["nested-sign-encrypt"], identity=ctx.identities[0],
                          trust=ctx.trust)
    assert [layer.kind for layer in opened.layers] == ["encrypted", "signed"] and opened.valid
    for name, data in seeds("certificates", ctx, corpus=False):
        assert smime.load_certificates(data), name
    for name, data in seeds("identities", ctx, corpus=False):
        password = None if "unprotected" in name or name == "pem-key-and-cert" else ctx.password
        assert smime.load_identity(data, password=password).certificate, name


def _raises_value_error(data: bytes, ctx: Context) -> object:
    raise ValueError("from a dependency")


def _raises_parse_error(data: bytes, ctx: Context) -> object:
    raise ParseError("bad input")


def _spins(data: bytes, ctx: Context) -> object:
    while True:
        pass


def test_oracle_tells_crashes_from_errors_and_hangs(ctx: Context) -> None:
    crash = run_one(Target("t", _raises_value_error, "messages"), b"x", ctx)
    assert isinstance(crash, Crash) and crash.kind == "ValueError"
    assert crash.where.startswith("test_fuzz.py:") or "test_fuzz.py" in crash.where
    assert run_one(Target("t", _raises_parse_error, "messages"), b"x", ctx) is None
    start = time.monotonic()
    hang = run_one(Target("t", _spins, "messages"), b"x", ctx, limit=0.3)
    assert hang is not None and hang.kind == "Hang"
    assert time.monotonic() - start < 3


def test_mutator_is_deterministic_and_changes_input() -> None:
    data = b"Content-Type: text/plain\r\n\r\n" + b"QUJD" * 40 + b"\r\n" + b"QUJD" * 40 + b"\r\n"
    first = [mutate(data, random.Random(i)) for i in range(50)]
    assert first == [mutate(data, random.Random(i)) for i in range(50)]
    assert sum(m != data for m in first) >= 45


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_brief_fuzz(name: str, ctx: Context, known_buckets: set[tuple[str, str, str]]) -> None:
    """A few hundred mutated seeds per target (derandomized, so a run is repeatable).

    A crash of a kind that a listed input already shows is tolerated until that fix
    lands (the strict xfail of its replay then forces the listing, and this, to go)."""
    target = TARGETS[name]
    pool = [data for _, data in seeds(target.seeds, ctx, corpus=False)]
    crashes: list[str] = []

    @settings(max_examples=EXAMPLES.get(name, 100), derandomize=True, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(pool), st.randoms(use_true_random=False))
    def check(seed: bytes, rng: random.Random) -> None:
        crash = run_one(target, mutate(seed, rng, pool), ctx)
        if crash is not None and crash.bucket not in known_buckets:
            crashes.append(crash.describe())

    check()
    assert not crashes, "new crashes (save them: python -m tests.fuzz run):\n" + "\n".join(crashes)
