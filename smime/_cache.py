"""Every cache in the package: one bounded, thread-safe LRU class, and the registry of them.

Each cache registers itself by name when it is made, so ``smime.clear_caches()`` empties
them all and ``smime.cache_info()`` reports on each. The registry holds caches weakly:
one made for a while (a test, say) leaves it when it is dropped. Caches hold only what
can be recomputed from public inputs; a miss is never a weaker answer than a hit.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["CacheInfo", "LRUCache", "cache_info", "clear_caches"]

V = TypeVar("V")


@dataclass(frozen=True)
class CacheInfo:
    """How one cache has done since it was last cleared."""

    hits: int
    misses: int
    size: int
    maxsize: int


_REGISTRY: weakref.WeakValueDictionary[str, LRUCache[Any]] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


class LRUCache(Generic[V]):
    """A mapping that keeps the ``maxsize`` most recently used entries; every method locks.

    ``None`` stands for a miss, so it cannot be stored as a value.
    """

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"cache {name!r}: maxsize must be at least 1, not {maxsize}")
        self.name = name
        self._data: OrderedDict[Hashable, V] = OrderedDict()
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
            value = self._data.get(key)
            if value is None:
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, or ``make()`` stored and returned (made outside the lock)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._data), self._maxsize)


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
