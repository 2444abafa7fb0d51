"""ChunkLoader prefetch: its own wanted set and pool, always behind visible loads.

Deterministic: a FakeClock and ManualExecutors that run work only when the test says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from loading_fakes import Executors, one_pool_config

from tilescope.cancel import CancelToken
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import PREFETCH_POOL_OFFSET, ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.tiles.grid import TileKey

PF = PREFETCH_POOL_OFFSET


def key(z: int, col: int = 0, layer: int = 1) -> TileKey:
    return TileKey(layer, 0, (z,), 0, 0, col)


class Recorder:
    """Reads that record the order in which they start."""

    def __init__(self) -> None:
        self.started: list[TileKey] = []

    def read(self, k: TileKey) -> Any:
        def run(token: CancelToken) -> npt.NDArray[Any]:
            self.started.append(k)
            return np.full((2, 2), float(k.slice[0]))

        return run

    def req(self, k: TileKey, pinned: bool = False) -> LoadRequest:
        return LoadRequest(k, self.read(k), pinned=pinned)


def config(visible_workers: int = 1, prefetch_workers: int = 1) -> OctreeConfig:
    cfg = one_pool_config(num_workers=visible_workers, delay_queue_ms=0).to_dict()
    cfg["prefetch"] = {"num_workers": prefetch_workers}
    return OctreeConfig.from_dict(cfg)


def make(clock: FakeClock, executors: Executors, **kw: Any) -> ChunkLoader:
    return ChunkLoader(
        config(**kw),
        cache=ChunkCache(10**6),
        clock=clock,
        executor_factory=executors,
        dispatch_thread=False,
    )


def test_a_due_visible_load_starts_before_queued_prefetch(
    clock: FakeClock, executors: Executors
) -> None:
    rec = Recorder()
    with make(clock, executors) as loader:
        loader.set_prefetch(1, [rec.req(key(5)), rec.req(key(6))])
        loader.set_wanted(1, [rec.req(key(1)), rec.req(key(2))])
        visible, prefetch = executors[0], executors[PF]
        assert visible.submitted == 1
        assert prefetch.submitted == 1
        prefetch.run_next()  # key 5 done: its worker is free, but visible key 2 waits
        assert prefetch.submitted == 1
        assert loader.stats.prefetch_queued == 1
        visible.run_next()  # key 1 done: key 2 starts, then nothing visible waits
        assert visible.submitted == 2
        assert prefetch.submitted == 2
        visible.run_next()
        prefetch.run_next()
        assert rec.started == [key(5), key(1), key(2), key(6)]
        # only the visible loads were posted; the prefetched ones are in the cache
        assert sorted(r.key.slice[0] for r in loader.drain()) == [1, 2]
        assert key(5) in loader.cache
        assert key(6) in loader.cache


def test_prefetched_tiles_are_cached_pinned_and_served_when_wanted(
    clock: FakeClock, executors: Executors
) -> None:
    rec = Recorder()
    with make(clock, executors) as loader:
        loader.set_prefetch(1, [rec.req(key(3), pinned=True)])
        executors[PF].run_next()
        assert loader.drain() == []
        assert loader.cache.is_pinned(key(3))
        loader.set_prefetch(1, [rec.req(key(3), pinned=True)])  # cached: no second load
        loader.set_wanted(1, [rec.req(key(3))])
        (result,) = loader.drain()
        assert result.outcome == "cached"
        assert rec.started == [key(3)]
        assert executors.total_submitted() == 1


def test_a_tile_wanted_by_both_loads_once_and_is_posted(
    clock: FakeClock, executors: Executors
) -> None:
    rec = Recorder()
    with make(clock, executors, prefetch_workers=1) as loader:
        loader.set_prefetch(1, [rec.req(key(7)), rec.req(key(8))])  # 7 runs, 8 queued
        loader.set_wanted(1, [rec.req(key(7)), rec.req(key(8))])  # 8 moves to the visible pool
        assert executors[0].submitted == 1
        executors[PF].run_next()  # 7: a prefetch load the view now wants
        executors[0].run_next()  # 8
        assert sorted(r.key.slice[0] for r in loader.drain()) == [7, 8]
        assert rec.started == [key(7), key(8)]


def test_leaving_the_view_keeps_the_prefetch_and_leaving_both_cancels(
    clock: FakeClock, executors: Executors
) -> None:
    rec = Recorder()
    with make(clock, executors, visible_workers=1, prefetch_workers=1) as loader:
        loader.set_wanted(1, [rec.req(key(0)), rec.req(key(4))])  # 0 runs, 4 queued visibly
        loader.set_prefetch(1, [rec.req(key(4))])
        loader.set_wanted(1, [rec.req(key(0))])  # 4 left the view but prefetch wants it
        assert (loader.stats.queued, loader.stats.prefetch_queued) == (0, 1)
        loader.set_prefetch(1, [])  # and now nobody does
        assert (loader.stats.queued, loader.stats.prefetch_queued) == (0, 0)
        executors[0].run_next()
        assert PF not in executors.by_offset  # nothing ever reached the prefetch pool
        assert key(4) not in loader.cache
        assert [r.key for r in loader.drain()] == [key(0)]


def test_dropping_a_prefetch_never_cancels_a_visible_load(
    clock: FakeClock, executors: Executors
) -> None:
    rec = Recorder()
    with make(clock, executors) as loader:
        loader.set_wanted(1, [rec.req(key(2))])
        loader.set_prefetch(1, [rec.req(key(2))])
        loader.set_prefetch(1, [])
        executors[0].run_next()
        assert [r.key for r in loader.drain()] == [key(2)]


def test_cancel_layer_cancels_prefetch(clock: FakeClock, executors: Executors) -> None:
    rec = Recorder()
    with make(clock, executors, prefetch_workers=1) as loader:
        loader.set_prefetch(1, [rec.req(key(1)), rec.req(key(2))])
        loader.cancel_layer(1)
        assert loader.stats.prefetch_queued == 0
        assert executors[PF].run_next() is False  # the submitted one was cancelled too
        assert rec.started == []


def test_mean_load_time(clock: FakeClock, executors: Executors) -> None:
    with make(clock, executors) as loader:
        assert loader.mean_load_s(1) is None

        def slow(token: CancelToken) -> npt.NDArray[Any]:
            clock.advance(0.25)
            return np.zeros((2, 2))

        loader.set_wanted(1, [LoadRequest(key(0), slow)])
        executors[0].run_next()
        assert loader.mean_load_s(1) == 0.25


def test_a_failed_prefetch_the_view_now_wants_gets_a_visible_read_of_its_own(
    clock: FakeClock, executors: Executors
) -> None:
    """It may have started before its source was fixed: its failure is not the view's."""
    calls: list[int] = []

    def flaky(token: CancelToken) -> npt.NDArray[Any]:
        calls.append(len(calls))
        if len(calls) == 1:
            raise OSError("stale read")
        return np.ones((2, 2))

    with make(clock, executors, prefetch_workers=1) as loader:
        loader.set_prefetch(1, [LoadRequest(key(7), flaky)])
        loader.set_wanted(1, [LoadRequest(key(7), flaky)])  # the view wants it while it runs
        assert 0 not in executors.by_offset  # no visible read yet: the prefetch one serves
        executors[PF].run_next()  # the prefetch read fails
        assert loader.drain() == []  # no failure shown ...
        assert executors[0].submitted == 1  # ... a visible read of its own instead
        executors[0].run_next()
        (result,) = loader.drain()
        assert result.ok
        assert calls == [0, 1]
