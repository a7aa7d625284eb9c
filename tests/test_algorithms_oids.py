"""The one OID table: each OID written once in smime/algorithms.py, none anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import smime
from smime import algorithms
from smime.algorithms import OID_NAMES, oid_name

SMIME = Path(smime.__file__).parent
DOTTED = re.compile(r"^[0-2](\.\d+){3,}$")  # four arcs or more: no version numbers

#: OIDs of certificate extensions and key purposes, which cryptography names and which
#: the code uses as cryptography ObjectIdentifiers where it checks them.
X509_OIDS = {"1.3.6.1.5.5.7.8.9", "2.5.29.23", "2.5.29.37.0"}


def _dotted_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and DOTTED.match(node.value)
    ]


def test_every_oid_is_written_once_in_the_table() -> None:
    written = _dotted_strings(SMIME / "algorithms.py")
    repeated = sorted({oid for oid in written if written.count(oid) > 1})
    assert not repeated, f"written more than once in algorithms.py: {repeated}"


def test_no_oid_outside_the_table() -> None:
    elsewhere = {
        str(path.relative_to(SMIME)): oids
        for path in SMIME.rglob("*.py") if path.name != "algorithms.py"
        for oids in [sorted(set(_dotted_strings(path)) - X509_OIDS)] if oids
    }
    assert not elsewhere, f"OIDs written outside smime/algorithms.py: {elsewhere}"


def test_the_tables_do_not_overlap() -> None:
    """OID_NAMES is a union: an OID in two of its sources would be named twice."""
    sources = [
        [d.oid for d in algorithms.DIGESTS.values()],
        [c.oid for c in algorithms.CIPHERS.values()],
        list(algorithms.SIGNATURE_ALGORITHMS),
        [k.oid for k in algorithms.KDF_SCHEMES.values()],
        [row[0] for row in algorithms._KEY_WRAP_ROWS],
        list(algorithms.ATTRIBUTE_NAMES),
        list(algorithms._OTHER_NAMES),
    ]
    every = [oid for source in sources for oid in source]
    assert len(every) == len(set(every)) == len(OID_NAMES)


def test_names() -> None:
    assert oid_name("1.2.840.113549.1.1.1") == "rsa-pkcs1v15"  # the key transport, too
    assert oid_name("1.3.132.1.11.1") == "ecdh-sha256kdf"
    assert oid_name("1.2.840.113549.1.9.16.2.11") == "encryption-key-preference"
    assert oid_name("2.16.840.1.101.3.4.1.45") == "aes256-wrap"
    assert oid_name("1.2.3.4") == "1.2.3.4"
    assert algorithms.KEY_WRAPS["des_ede3_wrap"] == ("des-ede3-wrap", 24)
    assert algorithms.KDF_SCHEMES["ecdh_hkdf_sha256"].kdf == "hkdf"
