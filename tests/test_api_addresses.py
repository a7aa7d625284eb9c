"""The From/Sender fast path reads exactly the addresses ``email.utils.getaddresses`` reads."""

from __future__ import annotations

import random
from email.utils import getaddresses

import pytest

from smime.api.receiving import _addresses

CASES = [
    "alice@example.com", "Alice <alice@example.com>", "Alice Smith <a.b@x.org>",
    " bob@ex.com ", "<c@d.e>", "a..b@c.d", ".a@b.c", "a@b..c", "A B\t<x@y.z>", "a@b",
    "=?utf-8?q?x?= <a@b.c>", "a@b.c>", "Al <a@b.c", "a@[1.2.3.4]", '"Smith, A" <a@b.c>',
    "a@b.c, d@e.f", "(comment) a@b.c", "a@b.c (comment)", "",
]


def _expected(values: list[str]) -> list[str]:
    return [addr for _name, addr in getaddresses(values) if addr]


@pytest.mark.parametrize("value", CASES)
def test_known_shapes(value: str) -> None:
    assert _addresses([value], "from") == _expected([value])


def test_mutated_shapes() -> None:
    rng = random.Random(11)
    alphabet = "aZ09.@<> \t\"(),;:[]\\-_+=?'~!#"
    for _ in range(5000):
        chars = list(rng.choice(CASES))
        for _edit in range(rng.randint(1, 3)):
            at = rng.randint(0, len(chars))
            if rng.random() < 0.5:
                chars.insert(at, rng.choice(alphabet))
            elif chars:
                del chars[min(at, len(chars) - 1)]
        values = ["".join(chars)] + ([rng.choice(CASES)] if rng.random() < 0.2 else [])
        assert _addresses(values, "from") == _expected(values), values
