"""Every cache in the package: one bounded, thread-safe LRU class, and the registry of them.

Each cache registers itself by name when it is made, so ``smime.clear_caches()`` empties
them all and ``smime.cache_info()`` reports on each. The registry holds caches weakly:
one made for a while (a test, say) leaves it when it is dropped. Caches hold only what
can be recomputed from public inputs; a miss is never a weaker answer than a hit.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._log import cache as _LOG

__all__ = ["CacheInfo", "LRUCache", "cache_info", "clear_caches"]

V = TypeVar("V")


@dataclass(frozen=True)
class CacheInfo:
    """How one cache has done since it was last cleared."""

    hits: int
    misses: int
    size: int
    maxsize: int

    def to_dict(self) -> dict[str, int]:
        """Plain data, JSON-safe: each field by its name."""
        return {"hits": self.hits, "misses": self.misses, "size": self.size,
                "maxsize": self.maxsize}


_REGISTRY: weakref.WeakValueDictionary[str, LRUCache[Any]] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


#: A link of the recency list: [previous, next, key, value].
_PREV, _NEXT, _KEY, _VALUE = 0, 1, 2, 3


class LRUCache(Generic[V]):
    """A mapping that keeps the ``maxsize`` most recently used entries; every method locks.

    Recency is a linked list, as in ``functools.lru_cache``: a hit hashes its key once.
    That matters for keys such as certificates, whose hash is computed over their DER on
    every call; a key that is the very object stored (an identity's certificate, signing
    again) is found by its ``id`` without hashing at all: the cache holds that object, so
    no other can have its ``id`` meanwhile. ``None`` stands for a miss, so it cannot be
    stored as a value.
    """

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"cache {name!r}: maxsize must be at least 1, not {maxsize}")
        self.name = name
        self._links: dict[Hashable, list[Any]] = {}
        self._ids: dict[int, list[Any]] = {}  # the same links, by id of their key object
        self._root: list[Any] = []  # before the least and after the most recently used
        self._root[:] = [self._root, self._root, None, None]
        self._lock = threading.Lock()
        self._maxsize = maxsize
        self._hits = 0
        self._misses = 0
        with _REGISTRY_LOCK:
            if _REGISTRY.get(name) is not None:
                raise ValueError(f"a cache named {name!r} already exists")
            _REGISTRY[name] = self

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            link = self._ids.get(id(key))
            if link is None or link[_KEY] is not key:
                link = self._links.get(key)
            if link is None:
                self._misses += 1
                value = None
            else:
                self._hits += 1
                previous, following, _key, value = link
                previous[_NEXT] = following  # unlink, then relink as the most recent
                following[_PREV] = previous
                root = self._root
                last = root[_PREV]
                last[_NEXT] = root[_PREV] = link
                link[_PREV] = last
                link[_NEXT] = root
        if _LOG.isEnabledFor(logging.DEBUG):  # outside the lock: a handler may be slow
            _LOG.debug("cache %s: %s", self.name, "miss" if link is None else "hit")
        return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._put(key, value)

    def _put(self, key: Hashable, value: V) -> None:
        root = self._root
        old = self._links.pop(key, None)
        if old is not None:  # a new value for a key we hold: relink it as the newest
            old[_PREV][_NEXT] = old[_NEXT]
            old[_NEXT][_PREV] = old[_PREV]
            del self._ids[id(old[_KEY])]
        last = root[_PREV]
        link = [last, root, key, value]
        last[_NEXT] = root[_PREV] = self._links[key] = self._ids[id(key)] = link
        if len(self._links) > self._maxsize:
            oldest = root[_NEXT]
            root[_NEXT] = oldest[_NEXT]
            oldest[_NEXT][_PREV] = root
            del self._links[oldest[_KEY]]
            del self._ids[id(oldest[_KEY])]

    def update(self, key: Hashable, change: Callable[[V | None], V]) -> None:
        """Store ``change(current value or None)``, atomically; counts neither hit nor miss.

        For values that accumulate (several windows of one chain): two threads adding at
        once both land. ``change`` runs under the lock, so it must be quick.
        """
        with self._lock:
            link = self._links.get(key)
            self._put(key, change(None if link is None else link[_VALUE]))

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, or ``make()`` stored and returned (made outside the lock)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            for link in self._links.values():
                link.clear()  # no cycles left: values are freed now, not by the next GC
            self._links.clear()
            self._ids.clear()
            self._root[:] = [self._root, self._root, None, None]
            self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._links), self._maxsize)


def clear_caches() -> None:
    """Empty every cache of the package (and reset their counters)."""
    with _REGISTRY_LOCK:
        caches = list(_REGISTRY.values())
    for cache in caches:
        cache.clear()


def cache_info() -> dict[str, CacheInfo]:
    """Hits, misses, size and bound of every cache, by name."""
    with _REGISTRY_LOCK:
        caches = sorted(_REGISTRY.items())
    return {name: cache.info() for name, cache in caches}
