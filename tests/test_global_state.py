"""No global state: importing smime leaves asn1crypto as it was, caches are one class behind
``smime.clear_caches()``/``smime.cache_info()``, and no thread outlives a call.

The asn1crypto and thread checks run in a fresh interpreter, where nothing else has
imported smime or started a thread.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import core
from conftest import REPO

import smime
from smime import _cache
from smime.cms import _schema
from smime.cms._schema import CMSAttributes, ContentInfo
from smime.cms.enveloped import RecipientSpec, create_enveloped_data
from smime.cms.signed import SignerSpec, create_signed_data
from smime.validation import CacheInfo, clear_validation_cache, validation_cache_info

if TYPE_CHECKING:
    from smime.testing import TestPKI

CONTENT = b"Content-Type: text/plain\r\n\r\nNo global state.\r\n"
MESSAGE = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: s\r\n" + CONTENT
#: Signed attributes asn1crypto has no schema for: SEQUENCE { [0] 1 }, and a UTF8String.
UNKNOWN_WITH_CONTEXT_TAG = bytes.fromhex("300f06042a030405" "31073005a003020101")
UNKNOWN_WITH_TEXT = bytes.fromhex("300f06042a030406" "31070c0568656c6c6f")


def _python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
        cwd=REPO, env=env,
    )


def _signed_with_unknown_attributes(pki: TestPKI) -> bytes:
    """A SignedData whose signer adds two unknown attributes to ours (SMIMECapabilities
    with an RSAES-OAEP entry among them). The signature no longer matches: only reading
    matters here."""
    info = ContentInfo.load(create_signed_data(CONTENT, [SignerSpec(pki["alice"].identity)]))
    si = info["content"]["signer_infos"][0]
    attributes = [a.dump() for a in si["signed_attrs"]]
    attributes += [UNKNOWN_WITH_CONTEXT_TAG, UNKNOWN_WITH_TEXT]
    si["signed_attrs"] = CMSAttributes(contents=b"".join(sorted(attributes)), implicit=0)
    return bytes(ContentInfo({"content_type": "signed_data", "content": info["content"]}).dump())


#: Run in a fresh interpreter: read the messages with asn1crypto's own classes, snapshot
#: every asn1crypto schema table, import smime and let it read and write CMS, then do both
#: again. Prints both observations as JSON.
_OBSERVE = r"""
import json, sys
import asn1crypto.cms as cms
from asn1crypto import algos, core, crl, keys, ocsp, pkcs12, tsp, x509
# A dependency of ours that registers OIDs with asn1crypto when imported: its doing, not
# ours, so it goes first.
import pyhanko_certvalidator

signed_der = open(sys.argv[1], "rb").read()
enveloped_der = open(sys.argv[2], "rb").read()

def shown(get):
    try:
        value = get()
    except Exception as exc:
        return "raises " + type(exc).__name__ + ": " + str(exc).splitlines()[0]
    return type(value).__module__ + "." + type(value).__qualname__ + " " + repr(value)

def name(spec):
    return spec if spec is None else spec.__module__ + "." + spec.__qualname__

def observe():
    seen = {}
    signer = cms.ContentInfo.load(signed_der)["content"]["signer_infos"][0]
    for attr in signer["signed_attrs"]:
        seen["attribute " + attr["type"].dotted] = shown(lambda: attr["values"].native)
    aed = cms.ContentInfo.load(enveloped_der)["content"]
    kea = aed["recipient_infos"][0].chosen["key_encryption_algorithm"]
    seen["kari algorithm"] = shown(lambda: kea["algorithm"].native)
    seen["kari parameters"] = shown(lambda: kea["parameters"].native)
    eci = aed["auth_encrypted_content_info"]["content_encryption_algorithm"]
    seen["gcm algorithm"] = shown(lambda: eci["algorithm"].native)
    seen["gcm parameters"] = shown(lambda: eci["parameters"].native)
    return seen

def tables():
    out = {}
    for module in (algos, cms, core, crl, keys, ocsp, pkcs12, tsp, x509):
        for attr, cls in sorted(vars(module).items()):
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            entry = {}
            if isinstance(getattr(cls, "_map", None), dict):
                entry["map"] = sorted(cls._map.items(), key=repr)
                reverse = cls._reverse_map or {v: k for k, v in cls._map.items()}
                entry["reverse"] = sorted(reverse.items(), key=repr)
            if isinstance(getattr(cls, "_oid_specs", None), dict):
                entry["oid_specs"] = sorted((k, name(v)) for k, v in cls._oid_specs.items())
            for kind in ("_fields", "_alternatives"):
                if isinstance(getattr(cls, kind, None), list):
                    entry[kind] = [
                        (f[0], name(f[1]), sorted((f[2] if len(f) > 2 else {}).items(), key=repr))
                        for f in getattr(cls, kind)
                    ]
            if isinstance(getattr(cls, "_child_spec", None), type):
                entry["child"] = name(cls._child_spec)
            if isinstance(getattr(cls, "_spec_callbacks", None), dict):
                entry["callbacks"] = sorted(
                    (k, f.__module__ + "." + f.__qualname__) for k, f in cls._spec_callbacks.items()
                )
            out[module.__name__ + "." + attr] = repr(entry)
    return out

before, tables_before = observe(), tables()

import smime
from smime.cms.enveloped import describe_enveloped_data
from smime.cms.signed import verify_signed_data
ours = verify_signed_data(signed_der, b"").signers[0]
recipient = describe_enveloped_data(enveloped_der).recipients[0]
used = {
    "signed attributes": list(ours.signed_attributes),
    "capabilities": list(ours.capabilities),
    "recipient": [recipient.algorithm, recipient.key_wrap],
}

after, tables_after = observe(), tables()
changed = sorted(k for k in tables_before if tables_before[k] != tables_after.get(k))
print(json.dumps({"before": before, "after": after, "changed": changed, "used": used}))
"""


def test_import_smime_leaves_asn1crypto_alone(pki: TestPKI, tmp_path: Path) -> None:
    signed = tmp_path / "signed.der"
    signed.write_bytes(_signed_with_unknown_attributes(pki))
    enveloped = tmp_path / "enveloped.der"
    grace = RecipientSpec(pki["grace"].certificate)  # X25519: ECDH with HKDF (RFC 8418)
    enveloped.write_bytes(create_enveloped_data(CONTENT, [grace], cipher="aes-256-gcm"))
    done = _python(_OBSERVE, str(signed), str(enveloped))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    # smime itself still reads everything asn1crypto alone does not...
    read = set(seen["used"]["signed attributes"])
    assert {"1.2.3.4.5", "1.2.3.4.6", "smime-capabilities"} <= read
    assert "rsa-oaep" in seen["used"]["capabilities"]
    assert seen["used"]["recipient"] == ["ecdh-hkdf-sha256", "aes256-wrap"]
    # ...which is asn1crypto's own view of these values, before smime was imported...
    before = seen["before"]
    assert before["kari algorithm"] == "builtins.str '1.2.840.113549.1.9.16.3.19'"
    assert before["attribute 1.2.3.4.6"] == "builtins.list ['hello']"
    assert before["gcm algorithm"] == "builtins.str 'aes256_gcm'"
    assert "aes_nonce" not in before["gcm parameters"]
    # ...and that view is the same after smime was imported and used.
    assert seen["after"] == before
    assert seen["changed"] == []


#: asn1crypto's class attributes that hold its schemas; assigning to them (or changing
#: them in place) changes asn1crypto for every library in the process.
_SCHEMA_ATTRIBUTES = {
    "_map", "_reverse_map", "_oid_specs", "_oid_pair", "_fields", "_alternatives",
    "_child_spec", "_spec_callbacks", "_null_algos",
}
_MUTATING_METHODS = {"update", "setdefault", "pop", "popitem", "clear", "append", "extend",
                     "insert", "remove", "__setitem__", "__delitem__"}


def _asn1crypto_names(tree: ast.Module) -> set[str]:
    """Names a module binds to asn1crypto modules or classes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names
                      if a.name.startswith("asn1crypto")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("asn1crypto"):
            names |= {a.asname or a.name for a in node.names}
    return names


def _root_and_attributes(node: ast.expr) -> tuple[str | None, list[str]]:
    attributes = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            attributes.append(node.attr)
        node = node.value
    return (node.id if isinstance(node, ast.Name) else None), attributes


def _changes_asn1crypto(node: ast.expr, names: set[str]) -> bool:
    root, attributes = _root_and_attributes(node)
    return root in names and bool(attributes) and bool(_SCHEMA_ATTRIBUTES & set(attributes))


def find_asn1crypto_mutations(source: str) -> list[int]:
    """Lines that assign to, delete from or change in place an asn1crypto schema attribute."""
    tree = ast.parse(source)
    names = _asn1crypto_names(tree)
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _MUTATING_METHODS:
                targets = [node.func.value]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("setattr", "delattr") and node.args
              and _root_and_attributes(node.args[0])[0] in names):
            lines.append(node.lineno)
        if any(_changes_asn1crypto(t, names) for t in targets):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("source", [
    "from asn1crypto import cms\ncms.CMSAttribute._oid_specs['x'] = 1\n",
    "from asn1crypto import cms as c\nc.CMSAttribute._oid_specs = {}\n",
    "import asn1crypto.cms\nasn1crypto.cms.KeyEncryptionAlgorithmId._map[o] = 'x'\n",
    "from asn1crypto.algos import EncryptionAlgorithm as E\nE._oid_specs.update(x=1)\n",
    "from asn1crypto import cms\nsetattr(cms.SignerInfo, '_fields', [])\n",
    "from asn1crypto import cms\ncms.SignedData._fields[0] = ('v', None)\n",
])
def test_the_mutation_finder_finds(source: str) -> None:
    assert find_asn1crypto_mutations(source) == [2]


def test_no_module_changes_asn1crypto_classes() -> None:
    offenders = []
    for path in sorted((REPO / "smime").rglob("*.py")):
        for line in find_asn1crypto_mutations(path.read_text()):
            offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == [], "subclass asn1crypto's schema in smime/cms/_schema.py instead"


def test_our_schema_classes_own_their_tables() -> None:
    """asn1crypto normalises ``_fields``/``_alternatives`` in place when a class is first
    used: a subclass sharing its parent's list would change asn1crypto's."""
    classes = [c for c in vars(_schema).values()
               if isinstance(c, type) and issubclass(c, core.Asn1Value)
               and c.__module__ == _schema.__name__]
    assert len(classes) > 20
    for cls in classes:
        theirs = [b for b in cls.__mro__ if b.__module__.startswith("asn1crypto.")]
        for table in ("_fields", "_alternatives"):
            ours = getattr(cls, table, None)
            if ours:
                assert all(ours is not getattr(b, table, None) for b in theirs), (cls, table)
        if issubclass(cls, core.ObjectIdentifier):
            assert cls._reverse_map is not theirs[0]._reverse_map


# ---------------------------------------------------------------------------- caches


def test_one_cache_class_for_every_cache(pki: TestPKI) -> None:
    """Signing and verifying fill the caches; clear_caches() empties every one."""
    identity = pki["alice"].identity
    trust = smime.TrustStore.from_pem(pki.root_path.read_bytes())
    signed = smime.sign(MESSAGE, identity)
    assert smime.verify(signed, trust=trust).valid
    info = smime.cache_info()
    assert {"validation.paths", "validation.crls", "validation.name_keys", "cms.certificate_der",
            "cms.signer_identifiers", "cms.signing_algorithms", "cms.signing_time"} <= set(info)
    assert all(isinstance(i, CacheInfo) for i in info.values())
    assert info["validation.paths"].size >= 1 and info["cms.certificate_der"].size >= 1
    assert all(0 <= i.size <= i.maxsize for i in info.values())
    assert validation_cache_info() == info["validation.paths"]

    smime.clear_caches()
    assert all((i.hits, i.misses, i.size) == (0, 0, 0) for i in smime.cache_info().values())
    assert smime.verify(signed, trust=trust).valid
    assert smime.cache_info()["validation.paths"].misses == 1
    assert smime.verify(signed, trust=trust).valid
    assert smime.cache_info()["validation.paths"].hits == 1
    clear_validation_cache()
    assert smime.cache_info()["validation.paths"].size == 0


def test_lru_evicts_the_least_recently_used() -> None:
    cache: _cache.LRUCache[str] = _cache.LRUCache("test.lru", 2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # "b" is now the least recently used
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.get_or_make("d", lambda: "D") == "D"
    assert cache.get_or_make("d", lambda: "other") == "D"
    assert cache.info() == _cache.CacheInfo(hits=4, misses=2, size=2, maxsize=2)
    assert smime.cache_info()["test.lru"] == cache.info()
    cache.put("a", "new A")  # evicts "c", the least recently used
    cache.put("d", "new D")  # a new value, and "d" is now the most recently used
    cache.put("e", "E")  # evicts "a"
    assert (cache.get("a"), cache.get("d"), cache.get("e")) == (None, "new D", "E")
    cache.clear()
    assert cache.info() == _cache.CacheInfo(hits=0, misses=0, size=0, maxsize=2)
    cache.put("f", "F")
    assert cache.get("f") == "F" and cache.get("e") is None


def test_clear_frees_the_values_at_once() -> None:
    class Value:
        pass

    cache: _cache.LRUCache[Value] = _cache.LRUCache("test.free", 4)
    for key in range(3):
        cache.put(key, Value())
    refs = [weakref.ref(v) for v in (cache.get(0), cache.get(1), cache.get(2)) if v]
    gc.disable()
    try:
        smime.clear_caches()
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()


def test_cache_names_are_unique_and_registration_is_weak() -> None:
    cache: _cache.LRUCache[int] = _cache.LRUCache("test.weak", 4)
    with pytest.raises(ValueError, match=r"test\.weak"):
        _cache.LRUCache("test.weak", 4)
    with pytest.raises(ValueError, match="maxsize"):
        _cache.LRUCache("test.empty", 0)
    assert "test.weak" in smime.cache_info()
    del cache
    assert "test.weak" not in smime.cache_info()


def test_caches_are_thread_safe() -> None:
    cache: _cache.LRUCache[int] = _cache.LRUCache("test.threads", 64)

    def work(offset: int) -> None:
        for i in range(2000):
            key = (i + offset) % 200
            assert cache.get_or_make(key, lambda k=key: k * 2) == key * 2

    threads = [threading.Thread(target=work, args=(n * 37,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = cache.info()
    assert info.size == 64 and info.hits + info.misses == 8000


# ---------------------------------------------------------------------------- threads


_VERIFY_AND_CLEAR = r"""
import asyncio, sys, threading
import smime

identity = smime.load_identity(sys.argv[1], password=sys.argv[2])
trust = smime.TrustStore.from_pem(open(sys.argv[3], "rb").read())
signed = smime.sign(sys.argv[4].encode(), identity)
assert smime.verify(signed, trust=trust).valid

async def inside_a_loop():
    smime.clear_caches()
    # A synchronous call from async code: validation must run off this loop.
    return smime.verify(signed, trust=trust).valid

assert asyncio.run(inside_a_loop())
smime.clear_caches()
print(sorted(t.name for t in threading.enumerate()))
"""


def test_no_thread_left_running(pki: TestPKI) -> None:
    alice = pki["alice"]
    assert alice.p12_path is not None
    started = time.monotonic()
    done = _python(_VERIFY_AND_CLEAR, str(alice.p12_path), pki.password, str(pki.root_path),
                   MESSAGE.decode(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['MainThread']"
    assert time.monotonic() - started < 30  # exits promptly: no worker to wait for


def test_cache_update_merges_under_the_lock_without_counting() -> None:
    cache: _cache.LRUCache[tuple[int, ...]] = _cache.LRUCache("test.update", 4)
    threads = [threading.Thread(target=lambda i=i: cache.update(
        "k", lambda old, i=i: (*(old or ()), i))) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(cache.get("k") or ()) == list(range(50))
    assert (cache.info().hits, cache.info().misses) == (1, 0)
