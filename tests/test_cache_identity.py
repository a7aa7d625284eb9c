"""The LRU cache finds a key that is the stored object itself without hashing it, and
otherwise answers exactly as a dict would (equal keys hit, evicted keys miss)."""

from __future__ import annotations

import gc

from smime._cache import LRUCache


class Key:
    """A key whose hashing is counted (a certificate hashes its DER on every call)."""

    hashes = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        Key.hashes += 1
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.name == self.name


def test_the_stored_key_object_is_found_without_hashing() -> None:
    cache: LRUCache[int] = LRUCache("test.identity.same", 4)
    key = Key("a")
    cache.put(key, 1)
    before = Key.hashes
    assert [cache.get(key) for _ in range(5)] == [1] * 5
    assert Key.hashes == before
    assert cache.get(Key("a")) == 1  # an equal key still hits, by hash
    assert cache.info().hits == 6


def test_eviction_and_replacement_forget_the_identity() -> None:
    cache: LRUCache[int] = LRUCache("test.identity.evict", 2)
    first = Key("a")
    cache.put(first, 1)
    cache.put(Key("b"), 2)
    cache.put(Key("c"), 3)  # evicts "a"
    assert cache.get(first) is None
    again = Key("d")
    cache.put(again, 4)
    cache.put(Key("d"), 5)  # an equal key replaces the entry: the new value, either way
    assert cache.get(again) == 5
    cache.clear()
    assert cache.get(again) is None


def test_reused_ids_do_not_alias() -> None:
    cache: LRUCache[int] = LRUCache("test.identity.ids", 1)
    for i in range(200):  # entries evicted and keys freed: their ids come back for others
        cache.put(Key(f"k{i}"), i)
        gc.collect()
        assert cache.get(Key(f"k{i - 1}")) is None
        assert cache.get(Key(f"k{i}")) == i
