"""ChunkCache: the RAM cache of loaded tiles, bounded in bytes.

* Keys are :class:`~tilescope.tiles.grid.TileKey` values, which include the
  layer id, data version and slice (napari's cache left the layer out, so two
  layers showing different data at the same position collided).
* A byte budget, by default a fraction (10 %, like napari) of physical RAM.  The
  cache never holds more than its budget.
* LRU eviction, except for *pinned* entries (the loader pins the coarsest
  levels: they give instant coverage after any jump, and keep neighbouring
  slices warm).  Pinned entries are never evicted to admit an unpinned one; an
  unpinned entry that does not fit next to the pinned ones is refused.  Pinned
  entries together stay under ``max_pinned_fraction`` of the budget (default
  half): a new pinned entry evicts the oldest pinned ones beyond that, so
  scrubbing through thousands of slices cannot fill the cache with roots; an
  entry too big for the pinned share is stored unpinned.
* Hit, miss, eviction, refusal and byte statistics.
* Tiles are numpy arrays; other loaded values that say their size (``nbytes``) share the
  budget — the prefetched volumes of sliced layers
  (:class:`~tilescope.slicing.prefetch.VolumePrefetcher`) — and are read back with
  :meth:`ChunkCache.lookup`.

For dask-backed layers this is the only tile cache: tile sources compute dask
regions without dask's opportunistic cache (see :mod:`tilescope.tiles.source`).

Thread-safe: workers put, the main thread gets.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

__all__ = ["CacheStats", "ChunkCache", "Sized", "physical_memory_bytes"]

_FALLBACK_RAM = 8 * 1024**3


def physical_memory_bytes() -> int:
    """Total physical RAM in bytes (8 GiB if the platform does not say)."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_RAM
    total = int(pages) * int(page_size)
    return total if total > 0 else _FALLBACK_RAM


class Sized(Protocol):
    """A cacheable value: a numpy array, or anything that says how many bytes it holds."""

    @property
    def nbytes(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters."""

    budget_bytes: int
    bytes: int
    pinned_bytes: int
    entries: int
    pinned_entries: int
    hits: int
    misses: int
    evictions: int
    refused: int

    @property
    def hit_rate(self) -> float:
        """Hits / lookups (0.0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class ChunkCache:
    """A byte-bounded LRU of numpy tiles (and other sized values) with pinned entries (see
    the module doc)."""

    def __init__(
        self,
        budget_bytes: int | None = None,
        *,
        fraction: float = 0.1,
        max_pinned_fraction: float = 0.5,
    ) -> None:
        if not 0 <= max_pinned_fraction <= 1:
            raise ValueError(f"max_pinned_fraction must be in [0, 1], got {max_pinned_fraction}")
        if budget_bytes is None:
            if not 0 <= fraction <= 1:
                raise ValueError(f"cache fraction of RAM must be in [0, 1], got {fraction}")
            budget_bytes = int(physical_memory_bytes() * fraction)
        if budget_bytes < 0:
            raise ValueError(f"cache budget must be >= 0 bytes, got {budget_bytes}")
        self._budget = int(budget_bytes)
        self._pinned_cap = int(self._budget * max_pinned_fraction)
        self._lock = threading.Lock()
        self._lru: OrderedDict[Hashable, Sized] = OrderedDict()  # oldest first
        self._pinned: OrderedDict[Hashable, Sized] = OrderedDict()
        self._bytes = 0
        self._pinned_bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._refused = 0

    @property
    def budget_bytes(self) -> int:
        """The byte budget."""
        return self._budget

    # -- lookups ---------------------------------------------------------------
    def get(self, key: Hashable) -> npt.NDArray[Any] | None:
        """The cached tile (marked most recently used), or ``None``; counts a hit or miss."""
        return cast("npt.NDArray[Any] | None", self.lookup(key))

    def lookup(self, key: Hashable) -> Sized | None:
        """The cached value of any kind (marked most recently used), or ``None``; counts a
        hit or miss."""
        with self._lock:
            data = self._lru.get(key)
            if data is not None:
                self._lru.move_to_end(key)
            else:
                data = self._pinned.get(key)
                if data is not None:
                    self._pinned.move_to_end(key)
            if data is None:
                self._misses += 1
            else:
                self._hits += 1
            return data

    def peek(self, key: Hashable) -> npt.NDArray[Any] | None:
        """The cached tile or ``None``, without touching statistics or recency."""
        with self._lock:
            data = self._lru.get(key)
            return cast("npt.NDArray[Any] | None", self._pinned.get(key) if data is None else data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._lru or key in self._pinned

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru) + len(self._pinned)

    def is_pinned(self, key: Hashable) -> bool:
        """Whether ``key`` is cached and pinned."""
        with self._lock:
            return key in self._pinned

    # -- updates ---------------------------------------------------------------
    def put(self, key: Hashable, data: Sized, pinned: bool = False) -> bool:
        """Cache ``data`` (an array, or a value with an ``nbytes`` size) under ``key``;
        returns False when it was refused.

        Refused: larger than the whole budget, or (unpinned) larger than what the
        pinned entries leave free.  Evicts least recently used unpinned entries
        first; only a pinned entry may evict (older) pinned ones.  A pinned entry
        larger than the pinned share of the budget is stored unpinned.
        """
        size = getattr(data, "nbytes", None)
        if not isinstance(size, int | np.integer) or isinstance(size, bool) or size < 0:
            raise TypeError(
                "ChunkCache stores numpy arrays or values with an nbytes size, got "
                f"{type(data).__name__}"
            )
        size = int(size)
        with self._lock:
            self._remove(key)
            if pinned and size > self._pinned_cap:
                pinned = False
            if pinned:
                while self._pinned and self._pinned_bytes + size > self._pinned_cap:
                    self._evict(self._pinned, pinned=True)
            if size > self._budget or (not pinned and self._pinned_bytes + size > self._budget):
                self._refused += 1
                return False
            # pinned bytes + size fit the budget now, so evicting unpinned entries suffices
            while self._bytes + size > self._budget:
                self._evict(self._lru, pinned=False)
            (self._pinned if pinned else self._lru)[key] = data
            self._bytes += size
            if pinned:
                self._pinned_bytes += size
            return True

    def discard(self, key: Hashable) -> bool:
        """Remove ``key``; returns whether it was cached."""
        with self._lock:
            return self._remove(key)

    def clear(self, layer_id: int | None = None) -> int:
        """Remove everything, or every key whose ``layer_id`` matches; returns the count."""
        with self._lock:
            keys = [
                k
                for k in (*self._lru, *self._pinned)
                if layer_id is None or getattr(k, "layer_id", None) == layer_id
            ]
            for k in keys:
                self._remove(k)
            return len(keys)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(
                budget_bytes=self._budget,
                bytes=self._bytes,
                pinned_bytes=self._pinned_bytes,
                entries=len(self._lru) + len(self._pinned),
                pinned_entries=len(self._pinned),
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                refused=self._refused,
            )

    # -- internals (lock held) ---------------------------------------------------
    def _remove(self, key: Hashable) -> bool:
        data = self._lru.pop(key, None)
        if data is not None:
            self._bytes -= data.nbytes
            return True
        data = self._pinned.pop(key, None)
        if data is not None:
            self._bytes -= data.nbytes
            self._pinned_bytes -= data.nbytes
            return True
        return False

    def _evict(self, table: OrderedDict[Hashable, Sized], pinned: bool) -> None:
        _, data = table.popitem(last=False)
        self._bytes -= data.nbytes
        if pinned:
            self._pinned_bytes -= data.nbytes
        self._evictions += 1
