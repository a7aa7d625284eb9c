"""A bounded, thread-safe LRU of validation results.

pyhanko-certvalidator validates a few hundred paths per second; a mail client verifying
the same correspondents again and again must not pay that each time. The key holds every
input that can change the outcome (see ``chain._cache_key``), so a hit is never a weaker
check than a miss.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CacheInfo", "LRUCache"]

V = TypeVar("V")


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    maxsize: int


class LRUCache(Generic[V]):
    """Least-recently-used mapping with a size bound; every method takes a lock."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize
        self._hits = 0
        self._misses = 0

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
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._hits = self._misses = 0

    def resize(self, maxsize: int) -> None:
        with self._lock:
            self._maxsize = max(0, maxsize)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._data), self._maxsize)
