"""ChunkCache: budget never exceeded, pinned entries protected, LRU order, stats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.loading.cache import ChunkCache, physical_memory_bytes
from tilescope.tiles.grid import TileKey


def key(i: int, layer: int = 1) -> TileKey:
    return TileKey(layer, 0, (), 0, 0, i)


def arr(nbytes: int) -> np.ndarray:
    return np.zeros(nbytes, dtype=np.uint8)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 12), st.integers(0, 400), st.booleans()),
        st.tuples(st.just("get"), st.integers(0, 12), st.just(0), st.just(False)),
        st.tuples(st.just("discard"), st.integers(0, 12), st.just(0), st.just(False)),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(budget=st.integers(0, 1000), share=st.sampled_from([0.0, 0.3, 0.5, 1.0]), operations=ops)
def test_budget_and_pinning_invariants(
    budget: int, share: float, operations: list[tuple[str, int, int, bool]]
) -> None:
    cache = ChunkCache(budget, max_pinned_fraction=share)
    cap = int(budget * share)
    model: dict[TileKey, tuple[int, bool]] = {}  # what we believe is cached
    for op, i, size, pinned in operations:
        k = key(i)
        if op == "put":
            pinned = pinned and size <= cap  # too big for the pinned share: stored unpinned
            other_pinned = {kk: v for kk, v in model.items() if v[1] and kk != k}
            must_refuse = size > budget or (
                not pinned and sum(s for s, _ in other_pinned.values()) + size > budget
            )
            stored = cache.put(k, arr(size), pinned=pinned)
            assert stored == (not must_refuse)
            model.pop(k, None)
            if stored:
                model[k] = (size, pinned)
            model = {kk: v for kk, v in model.items() if kk in cache}  # minus evictions
            if not pinned:  # never evict a pinned tile to admit an unpinned one
                assert set(other_pinned) <= set(model)
                assert all(cache.is_pinned(kk) for kk in other_pinned)
        elif op == "get":
            got = cache.get(k)
            assert (got is not None) == (k in model)
        else:
            assert cache.discard(k) == (k in model)
            model.pop(k, None)
        stats = cache.stats
        assert stats.bytes <= budget
        assert stats.bytes == sum(s for s, _ in model.values())
        assert stats.pinned_bytes == sum(s for s, p in model.values() if p)
        assert stats.pinned_bytes <= cap
        assert stats.entries == len(model) == len(cache)


def test_lru_order_and_refresh_on_get() -> None:
    cache = ChunkCache(300)
    for i in range(3):
        cache.put(key(i), arr(100))
    assert cache.get(key(0)) is not None  # 0 is now the most recent
    cache.put(key(3), arr(100))
    assert key(1) not in cache  # the least recently used went first
    assert all(k in cache for k in (key(0), key(2), key(3)))
    assert cache.stats.evictions == 1


def test_pinned_survive_unpinned_pressure_and_unpinned_is_refused() -> None:
    cache = ChunkCache(300, max_pinned_fraction=1.0)
    cache.put(key(0), arr(200), pinned=True)
    assert cache.put(key(1), arr(100))
    assert cache.put(key(2), arr(100))  # evicts key 1, not the pinned root
    assert key(1) not in cache
    assert cache.is_pinned(key(0))
    assert not cache.put(key(3), arr(150))  # would need the pinned bytes: refused
    assert cache.stats.refused == 1
    assert cache.put(key(4), arr(250), pinned=True)  # a pinned one may evict older pinned
    assert key(0) not in cache
    assert not cache.put(key(5), arr(301), pinned=True)  # bigger than the budget


def test_keys_include_the_layer() -> None:
    cache = ChunkCache(1000)
    cache.put(key(0, layer=1), np.full(4, 1, np.uint8))
    cache.put(key(0, layer=2), np.full(4, 2, np.uint8))
    a, b = cache.get(key(0, layer=1)), cache.get(key(0, layer=2))
    assert a is not None
    assert b is not None
    assert a[0] == 1
    assert b[0] == 2
    assert cache.clear(layer_id=1) == 1
    assert key(0, layer=2) in cache


def test_stats_hits_misses() -> None:
    cache = ChunkCache(1000)
    cache.put(key(0), arr(10))
    cache.get(key(0))
    cache.get(key(1))
    cache.peek(key(1))  # peek counts nothing
    s = cache.stats
    assert (s.hits, s.misses) == (1, 1)
    assert s.hit_rate == 0.5
    assert cache.clear() == 1
    assert cache.stats.bytes == 0


def test_default_budget_is_a_fraction_of_ram() -> None:
    assert ChunkCache().budget_bytes == int(physical_memory_bytes() * 0.1)
    assert ChunkCache(fraction=0.25).budget_bytes == int(physical_memory_bytes() * 0.25)
    assert physical_memory_bytes() > 0
    with pytest.raises(ValueError, match="fraction"):
        ChunkCache(fraction=1.5)
    with pytest.raises(ValueError, match="budget"):
        ChunkCache(-1)
    with pytest.raises(ValueError, match="max_pinned_fraction"):
        ChunkCache(10, max_pinned_fraction=2)
    with pytest.raises(TypeError, match="numpy"):
        ChunkCache(10).put(key(0), [1, 2])  # type: ignore[arg-type]


def test_pinned_share_keeps_room_for_unpinned_tiles() -> None:
    """Scrubbing many slices pins many roots; they stay within half the budget."""
    cache = ChunkCache(1000)  # pinned share: 500 bytes
    for z in range(20):
        assert cache.put(TileKey(1, 0, (z,), 3, 0, 0), arr(100), pinned=True)
    s = cache.stats
    assert s.pinned_bytes == 500
    assert [cache.is_pinned(TileKey(1, 0, (z,), 3, 0, 0)) for z in (14, 15, 19)] == [
        False,
        True,
        True,
    ]  # the most recent five slices stay warm
    assert cache.put(key(0), arr(500))  # room for ideal tiles remains
    big = ChunkCache(1000)
    assert big.put(key(1), arr(600), pinned=True)  # bigger than the share: stored unpinned
    assert not big.is_pinned(key(1))
