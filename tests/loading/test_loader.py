"""ChunkLoader: pools, delay queues, cancellation, auto-sync, failures, logs — deterministic.

Time is a FakeClock; executors are ManualExecutors that run work only when the
test says so (on the test thread, or on a helper thread for "already running"
cases, synchronised with Events and joins — never sleeps).
"""

from __future__ import annotations

import gc
import json
import threading
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from loading_fakes import ClockedRead, Executors, GatedRead, one_pool_config

from tilescope.cancel import Cancelled, CancelToken
from tilescope.errors import ChunkLoadError, ConfigError
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig, PoolSettings
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import AUTO_SYNC_MIN_SAMPLES, ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.tiles.grid import TileKey


def key(col: int, layer: int = 1, level: int = 0) -> TileKey:
    return TileKey(layer, 0, (), level, 0, col)


def const(value: float = 1.0) -> Any:
    def read(token: CancelToken) -> npt.NDArray[Any]:
        return np.full((2, 2), value)

    return read


def make_loader(
    clock: FakeClock,
    executors: Executors,
    cfg: OctreeConfig | None = None,
    **kwargs: Any,
) -> ChunkLoader:
    return ChunkLoader(
        cfg or one_pool_config(),
        cache=kwargs.pop("cache", ChunkCache(10**8)),
        clock=clock,
        executor_factory=executors,
        dispatch_thread=False,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("offset", "pool"),
    [
        pytest.param(0, 0, id="ideal"),
        pytest.param(1, 0, id="one-up-uses-0"),
        pytest.param(2, 2, id="two-up"),
        pytest.param(4, 2, id="four-up-uses-2"),
        pytest.param(5, 5, id="five-up"),
        pytest.param(9, 5, id="far-up-uses-5"),
    ],
)
def test_pool_selection_by_level_offset(
    offset: int, pool: int, clock: FakeClock, executors: Executors
) -> None:
    cfg = OctreeConfig.from_dict(
        {"octree": {"loaders": {"0": {}, "2": {"delay_queue_ms": 0}, "5": {"num_workers": 1}}}}
    )
    with make_loader(clock, executors, cfg) as loader:
        assert [p.level_offset for p in loader.pools] == [0, 2, 5]
        assert loader.pool_for(offset).level_offset == pool
        loader.set_wanted(1, [LoadRequest(key(0, level=offset), const(), level_offset=offset)])
        per_pool = {off: q + r for off, q, r in loader.stats.per_pool}
        assert per_pool[pool] == 1
        assert sum(per_pool.values()) == 1


def test_per_level_delays(clock: FakeClock, executors: Executors) -> None:
    """napari defaults: ideal pool waits 100 ms, the pool two levels up starts at once."""
    with make_loader(clock, executors, OctreeConfig()) as loader:
        ideal = LoadRequest(key(0), const(), level_offset=0)
        coarse = LoadRequest(key(1, level=2), const(), level_offset=2)
        loader.set_wanted(1, [ideal, coarse])
        assert executors[2].submitted == 1  # zero delay: submitted by set_wanted itself
        assert 0 not in executors.by_offset  # ideal pool not even started yet
        assert loader.next_due_in() == pytest.approx(0.1)
        clock.advance(0.099)
        assert loader.pump() == 0
        clock.advance(0.001)
        assert loader.pump() == 1
        assert executors[0].submitted == 1
        assert loader.next_due_in() is None


def test_no_delay_queues_new_loads_as_due_now(clock: FakeClock, executors: Executors) -> None:
    """A view after a rest skips the delay queue; a tile already queued keeps its due time."""
    with make_loader(clock, executors, OctreeConfig()) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), const(), level_offset=0)])  # in a drag
        loader.no_delay = True
        loader.set_wanted(
            1,
            [
                LoadRequest(key(0), const(), level_offset=0),
                LoadRequest(key(1), const(), level_offset=0),
            ],
        )
        assert executors[0].submitted == 1  # key 1 at once; key 0 still waits its 100 ms
        clock.advance(0.1)
        assert loader.pump() == 1


def test_rewanting_a_queued_tile_keeps_its_due_time(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=125)) as loader:
        req = LoadRequest(key(0), const())
        loader.set_wanted(1, [req])
        clock.advance(0.0625)
        loader.set_wanted(1, [req])  # every frame wants it again
        clock.advance(0.0625)  # (binary-exact steps)
        assert loader.pump() == 1


def test_cancel_before_start_in_delay_queue(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=100)) as loader:
        read = GatedRead()
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        assert loader.stats.queued == 1
        loader.set_wanted(1, [])  # left the view before its delay elapsed
        clock.advance(1.0)
        assert loader.pump() == 0
        assert executors.total_submitted() == 0
        assert read.calls == 0
        assert loader.drain() == []
        assert loader.stats.queued == 0


def test_cancel_before_start_in_executor_queue(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0)) as loader:
        read = GatedRead()
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        assert executors[0].submitted == 1
        loader.set_wanted(1, [])
        assert executors[0].run_next() is False  # the future was cancelled, never ran
        assert read.calls == 0
        assert loader.drain() == []
        assert loader.stats.running == 0


def test_cancel_token_after_start(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0)) as loader:
        read = GatedRead()
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        worker = threading.Thread(target=executors[0].run_next)
        worker.start()
        assert read.started.wait(10)
        loader.set_wanted(1, [])  # running: only the token can stop it
        read.gate.set()
        worker.join(10)
        assert not worker.is_alive()
        assert loader.drain() == []  # raised Cancelled: nothing posted
        assert loader.stats.running == 0
        assert key(0) not in loader.cache


def test_load_finishing_after_cancel_is_cached_not_posted(
    clock: FakeClock, executors: Executors
) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0)) as loader:
        read = GatedRead()
        read.check_token = False  # a load that never looks at its token
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        worker = threading.Thread(target=executors[0].run_next)
        worker.start()
        assert read.started.wait(10)
        loader.set_wanted(1, [])
        read.gate.set()
        worker.join(10)
        assert loader.drain() == []
        assert key(0) in loader.cache  # valid data is kept for when it is wanted again
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        (result,) = loader.drain()
        assert result.outcome == "cached"
        assert read.calls == 1


def test_workers_limit_and_priority_order(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(num_workers=2, delay_queue_ms=0)) as loader:
        reqs = [LoadRequest(key(c), const(c), distance=float(10 - c)) for c in range(5)]
        loader.set_wanted(1, reqs)
        ex = executors[0]
        assert ex.submitted == 2  # two workers
        assert loader.stats.queued == 3
        order = []
        while ex.tasks:
            ex.run_next()  # completing one frees a worker: the callback submits the next
            order.extend(int(r.data[0, 0]) for r in loader.drain() if r.data is not None)
        assert order == [4, 3, 2, 1, 0]  # nearest the centre first
        assert ex.submitted == 5


def test_failed_load_is_reported_and_retried(clock: FakeClock, executors: Executors) -> None:
    attempts = []

    def flaky(token: CancelToken) -> npt.NDArray[Any]:
        attempts.append(clock())
        if len(attempts) < 3:
            raise OSError("HTTP 503 from the store")
        return np.ones((2, 2))

    with make_loader(
        clock, executors, one_pool_config(delay_queue_ms=0), retry_after_s=5.0
    ) as loader:
        req = LoadRequest(key(0), flaky)
        loader.set_wanted(1, [req])
        executors[0].run_next()
        (failed,) = loader.drain()
        assert failed.outcome == "failed"
        assert not failed.ok
        assert isinstance(failed.error, ChunkLoadError)
        assert "OSError: HTTP 503 from the store" in str(failed.error)
        assert isinstance(failed.error.__cause__, OSError)
        loader.set_wanted(1, [req])  # wanted again at once: backing off, not reloaded
        assert executors[0].submitted == 1
        clock.advance(5.0)
        loader.set_wanted(1, [req])
        executors[0].run_next()
        (second,) = loader.drain()
        assert second.outcome == "failed"
        assert "attempt 2" in str(second.error)
        clock.advance(1.0)  # back-off doubled to 10 s; an explicit retry skips it
        loader.retry(req.key)
        loader.set_wanted(1, [req])
        executors[0].run_next()
        (ok,) = loader.drain()
        assert ok.outcome == "loaded"
        assert len(attempts) == 3
        assert loader.stats.failed == 0


def test_failure_is_forgotten_once_the_back_off_retry_loads(
    clock: FakeClock, executors: Executors
) -> None:
    calls = []

    def fails_once(token: CancelToken) -> npt.NDArray[Any]:
        calls.append(clock())
        if len(calls) == 1:
            raise TimeoutError("read timed out")
        return np.ones((2, 2))

    with make_loader(
        clock, executors, one_pool_config(delay_queue_ms=0), retry_after_s=2.0
    ) as loader:
        req = LoadRequest(key(0), fails_once)
        loader.set_wanted(1, [req])
        executors[0].run_next()
        assert [r.outcome for r in loader.drain()] == ["failed"]
        assert loader.stats.failed == 1
        clock.advance(2.0)
        loader.set_wanted(1, [req])
        executors[0].run_next()
        assert [r.outcome for r in loader.drain()] == ["loaded"]
        assert loader.stats.failed == 0  # a later failure starts again at the short back-off


def test_synchronous_failure_is_reported(clock: FakeClock, executors: Executors) -> None:
    def broken(token: CancelToken) -> npt.NDArray[Any]:
        raise KeyError("chunk 0.3 missing")

    with make_loader(clock, executors, one_pool_config(force_synchronous=True)) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), broken)])
        (result,) = loader.drain()
        assert result.outcome == "failed"
        assert result.synchronous
        assert "KeyError" in str(result.error)
        assert loader.stats.failed == 1
        clock.advance(5.0)  # the default back-off
        loader.set_wanted(1, [LoadRequest(key(0), const())])
        assert [r.outcome for r in loader.drain()] == ["loaded"]
        assert loader.stats.failed == 0


def test_force_synchronous_loads_in_set_wanted(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(force_synchronous=True)) as loader:
        reqs = [LoadRequest(key(c), ClockedRead(clock, 50, c)) for c in range(4)]
        loader.set_wanted(1, reqs)  # 200 ms of loads: forced means no budget
        results = loader.drain()
        assert [r.outcome for r in results] == ["loaded"] * 4
        assert all(r.synchronous for r in results)
        assert executors.by_offset == {}  # no executor was ever created


def feed_async(
    loader: ChunkLoader, executors: Executors, layer: int, ms: float, clock: FakeClock, n: int
) -> None:
    for i in range(n):
        loader.set_wanted(layer, [LoadRequest(key(100 + i, layer), ClockedRead(clock, ms))])
        executors[0].run_next()
        loader.drain()


def test_auto_sync_switches_fast_layers_to_synchronous(
    clock: FakeClock, executors: Executors
) -> None:
    cfg = one_pool_config(delay_queue_ms=0, auto_sync_ms=30)
    with make_loader(clock, executors, cfg) as loader:
        assert not loader.is_synchronous(1)
        feed_async(loader, executors, layer=1, ms=5, clock=clock, n=AUTO_SYNC_MIN_SAMPLES)
        feed_async(loader, executors, layer=2, ms=80, clock=clock, n=AUTO_SYNC_MIN_SAMPLES)
        assert loader.is_synchronous(1)  # averages 5 ms < 30 ms
        assert not loader.is_synchronous(2)  # averages 80 ms
        before = executors[0].submitted
        loader.set_wanted(1, [LoadRequest(key(0, 1), ClockedRead(clock, 5))])
        (result,) = loader.drain()
        assert result.synchronous
        assert executors[0].submitted == before
        loader.set_wanted(2, [LoadRequest(key(0, 2), ClockedRead(clock, 80))])
        assert loader.drain() == []  # queued for a worker
        assert executors[0].submitted == before + 1
        # layer 1 slows down (e.g. the network): its average rises, it goes async again
        for i in range(6):
            loader.set_wanted(1, [LoadRequest(key(200 + i, 1), ClockedRead(clock, 90))])
            loader.drain()
        assert not loader.is_synchronous(1)


def test_auto_sync_respects_the_per_call_budget(clock: FakeClock, executors: Executors) -> None:
    cfg = one_pool_config(delay_queue_ms=0, auto_sync_ms=30)
    with make_loader(clock, executors, cfg, sync_budget_ms=16) as loader:
        feed_async(loader, executors, layer=1, ms=10, clock=clock, n=AUTO_SYNC_MIN_SAMPLES)
        submitted = executors[0].submitted
        reqs = [LoadRequest(key(c), ClockedRead(clock, 10), distance=c) for c in range(5)]
        loader.set_wanted(1, reqs)
        synchronous = loader.drain()
        assert [r.key.col for r in synchronous] == [0, 1]  # 10 + 10 ms reaches the 16 ms budget
        assert executors[0].submitted == submitted + 3


def test_auto_sync_disabled_with_zero(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0, auto_sync_ms=0)) as loader:
        feed_async(loader, executors, layer=1, ms=0.01, clock=clock, n=5)
        assert not loader.is_synchronous(1)


def test_cache_hit_is_posted_without_loading(clock: FakeClock, executors: Executors) -> None:
    cache = ChunkCache(10**6)
    cache.put(key(0), np.zeros((3, 3)))
    with make_loader(clock, executors, cache=cache) as loader:
        read = GatedRead()
        loader.set_wanted(1, [LoadRequest(key(0), read)])
        (result,) = loader.drain()
        assert result.outcome == "cached"
        assert result.data is not None
        assert result.data.shape == (3, 3)
        assert read.calls == 0
        assert cache.stats.hits == 1


def test_undrained_results_are_not_reloaded(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(force_synchronous=True)) as loader:
        read = ClockedRead(clock, 1)
        req = LoadRequest(key(0), read)
        loader.set_wanted(1, [req])
        loader.set_wanted(1, [req])  # next frame, result not drained yet
        assert read.calls == 1
        assert len(loader.drain()) == 1
        loader.set_wanted(1, [req])  # drained but not marked resident by the caller: cache hit
        assert read.calls == 1
        assert [r.outcome for r in loader.drain()] == ["cached"]


def test_drain_never_blocks_and_respects_max_items(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(force_synchronous=True)) as loader:
        assert loader.drain() == []
        loader.set_wanted(1, [LoadRequest(key(c), const(c)) for c in range(5)])
        assert len(loader.drain(max_items=2)) == 2
        assert len(loader.drain()) == 3
        assert loader.drain() == []


def test_layers_are_independent(clock: FakeClock, executors: Executors) -> None:
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=100)) as loader:
        loader.set_wanted(1, [LoadRequest(key(0, 1), const())])
        loader.set_wanted(2, [LoadRequest(key(0, 2), const())])
        loader.set_wanted(1, [])  # only layer 1's load is cancelled
        assert loader.stats.queued == 1
        loader.cancel_layer(2)
        assert loader.stats.queued == 0
        with pytest.raises(ValueError, match="set_wanted"):
            loader.set_wanted(1, [LoadRequest(key(0, 2), const())])


def test_log_path_writes_one_json_line_per_load(
    clock: FakeClock, executors: Executors, tmp_path: Path
) -> None:
    log = tmp_path / "loads.jsonl"
    cfg = OctreeConfig.from_dict(
        {
            "loader_defaults": {"log_path": str(log), "auto_sync_ms": 0},
            "octree": {"loaders": {"0": {"delay_queue_ms": 0}, "2": {"delay_queue_ms": 50}}},
        }
    )
    with make_loader(clock, executors, cfg) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), ClockedRead(clock, 7))])
        loader.set_wanted(1, [LoadRequest(key(0), ClockedRead(clock, 7))])
        executors[0].run_next()
        loader.set_wanted(1, [LoadRequest(key(1, level=2), const(), level_offset=2)])
        loader.set_wanted(1, [])  # the delayed level-2 load is cancelled
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["outcome"] for r in lines] == ["loaded", "cancelled"]
    loaded = lines[0]
    assert loaded["key"] == {
        "layer_id": 1,
        "data_version": 0,
        "slice": [],
        "level": 0,
        "row": 0,
        "col": 0,
        "displayed": [],
        "window": [],
        "projection": "none",
    }
    assert loaded["bytes"] == 32
    assert loaded["pool"] == 0
    assert loaded["finished"] - loaded["started"] == pytest.approx(0.007)
    assert loaded["queued"] <= loaded["started"]
    assert lines[1]["pool"] == 2
    assert lines[1]["started"] is None


def test_close_shuts_executors_down_and_is_final(clock: FakeClock, executors: Executors) -> None:
    loader = make_loader(clock, executors, one_pool_config(delay_queue_ms=0))
    loader.set_wanted(1, [LoadRequest(key(0), GatedRead())])
    ex = executors[0]
    loader.close()
    loader.close()  # idempotent
    assert ex.shutdowns == [(False, True)]  # cancel_futures=True
    assert ex.run_next() is False
    with pytest.raises(RuntimeError, match="closed"):
        loader.set_wanted(1, [])
    assert loader.pump() == 0


def test_moving_a_queued_request_to_another_pool(clock: FakeClock, executors: Executors) -> None:
    """The ideal level changed: a queued tile's level offset now maps to another pool."""
    with make_loader(clock, executors, OctreeConfig()) as loader:
        loader.set_wanted(1, [LoadRequest(key(0, level=2), const(), level_offset=0)])
        assert loader.stats.per_pool == ((0, 1, 0), (2, 0, 0))
        loader.set_wanted(1, [LoadRequest(key(0, level=2), const(), level_offset=2)])
        assert executors[2].submitted == 1  # the zero-delay pool took it at once
        assert loader.stats.per_pool == ((0, 0, 0), (2, 0, 1))


class ExplodingCache(ChunkCache):
    def put(self, key: Any, data: npt.NDArray[Any], pinned: bool = False) -> bool:
        raise RuntimeError("cache backend exploded")


def test_unexpected_error_after_the_load_becomes_a_failed_result(
    clock: FakeClock, executors: Executors
) -> None:
    with make_loader(
        clock, executors, one_pool_config(delay_queue_ms=0), cache=ExplodingCache(10**6)
    ) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), const())])
        executors[0].run_next()
        (result,) = loader.drain()
        assert result.outcome == "failed"
        assert "RuntimeError: cache backend exploded" in str(result.error)


class ProbingCache(ChunkCache):
    """Runs ``probe`` on another thread from inside the first ``put`` (the worker caching
    a finished load), waiting at most ``wait_s`` for it."""

    def __init__(self, budget: int, wait_s: float) -> None:
        super().__init__(budget)
        self.probe: Any = None
        self.wait_s = wait_s
        self.thread: threading.Thread | None = None

    def put(self, key: Any, data: Any, pinned: bool = False) -> bool:
        probe, self.probe = self.probe, None
        if probe is not None:
            self.thread = threading.Thread(target=probe)
            self.thread.start()
            self.thread.join(self.wait_s)
        return super().put(key, data, pinned)


def test_a_tile_being_cached_as_its_load_finishes_is_not_read_again(
    clock: FakeClock, executors: Executors
) -> None:
    """A frame that asks for a tile while the worker moves it from "loading" to the cache
    finds it in one place or the other, never in neither (which read it again)."""
    cache = ProbingCache(10**6, wait_s=0.5)
    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0), cache=cache) as loader:
        req = LoadRequest(key(0), const())
        loader.set_wanted(1, [req])
        cache.probe = lambda: loader.set_wanted(1, [req])  # the next frame, on another thread
        executors[0].run_next()  # the load finishes; its put runs the frame meanwhile
        assert cache.thread is not None
        cache.thread.join(10)
        # the frame waited for the worker and found the tile's result waiting to be drawn:
        # no second read was queued
        assert executors[0].submitted == 1
        assert [r.outcome for r in loader.drain()] == ["loaded"]


def test_load_cancelled_by_its_executor_is_a_failure_not_lost(
    clock: FakeClock, executors: Executors
) -> None:
    """A future cancelled by someone else (e.g. a dask client closed) is reported and retried."""
    with make_loader(
        clock, executors, one_pool_config(delay_queue_ms=0), retry_after_s=1.0
    ) as loader:
        req = LoadRequest(key(0), const())
        loader.set_wanted(1, [req])
        future, _, _ = executors[0].tasks[0]
        assert future.cancel()  # not by the loader: the tile is still wanted
        (result,) = loader.drain()
        assert result.outcome == "failed"
        assert "cancelled" in str(result.error)
        assert loader.stats.running == 0
        clock.advance(1.0)
        loader.set_wanted(1, [req])
        executors[0].tasks.popleft()  # the cancelled task
        executors[0].run_next()
        assert [r.outcome for r in loader.drain()] == ["loaded"]


def test_read_raising_cancelled_by_itself_is_a_failure(
    clock: FakeClock, executors: Executors
) -> None:
    def gives_up(token: CancelToken) -> npt.NDArray[Any]:
        raise Cancelled("an inner request was cancelled")

    with make_loader(clock, executors, one_pool_config(delay_queue_ms=0)) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), gives_up)])
        executors[0].run_next()
        (result,) = loader.drain()
        assert result.outcome == "failed"
        assert loader.stats.failed == 1


def test_broken_executor_is_replaced_for_the_retry(clock: FakeClock, executors: Executors) -> None:
    """A worker process died (BrokenProcessPool): the retry runs on a fresh executor."""

    def dies(token: CancelToken) -> npt.NDArray[Any]:
        raise BrokenProcessPool("a process in the process pool was terminated abruptly")

    class DiesLater(GatedRead):
        def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
            super().__call__(token)
            return dies(token)

    with make_loader(
        clock, executors, one_pool_config(delay_queue_ms=0), retry_after_s=1.0
    ) as loader:
        slow = DiesLater()
        loader.set_wanted(1, [LoadRequest(key(0), slow), LoadRequest(key(1), dies)])
        broken = executors[0]
        worker = threading.Thread(target=broken.run_next)  # key 0 runs on the broken executor
        worker.start()
        assert slow.started.wait(10)
        broken.run_next()  # key 1 finds the executor broken
        assert [(r.key.col, r.outcome) for r in loader.drain()] == [(1, "failed")]
        assert broken.shutdowns == [(False, True)]  # discarded ...
        clock.advance(1.0)
        loader.set_wanted(1, [LoadRequest(key(0), slow), LoadRequest(key(1), const())])
        fresh = executors[0]
        assert fresh is not broken  # ... and the retry made a fresh one
        slow.gate.set()  # key 0 now fails on the broken executor too,
        worker.join(10)
        assert fresh.shutdowns == []  # which does not shut the fresh one down
        fresh.run_next()
        assert sorted((r.key.col, r.outcome) for r in loader.drain()) == [
            (0, "failed"),
            (1, "loaded"),
        ]


def test_executor_that_cannot_be_created_fails_the_load(clock: FakeClock) -> None:
    def no_executor(settings: PoolSettings) -> Executor:
        raise ConfigError("executor 'dask' found no running dask.distributed client")

    with ChunkLoader(
        one_pool_config(delay_queue_ms=0),
        cache=ChunkCache(10**6),
        clock=clock,
        executor_factory=no_executor,
        dispatch_thread=False,
    ) as loader:
        loader.set_wanted(1, [LoadRequest(key(0), const())])  # does not raise on the main thread
        (result,) = loader.drain()
        assert result.outcome == "failed"
        assert isinstance(result.error, ChunkLoadError)
        assert isinstance(result.error.__cause__, ConfigError)
        assert loader.stats.queued == loader.stats.running == 0


def test_close_never_waits_for_a_hung_load() -> None:
    """Real threads: a load that never returns (until the end) does not hold up close()."""
    hung = GatedRead()
    loader = ChunkLoader(one_pool_config(delay_queue_ms=0), cache=ChunkCache(10**6))
    try:
        loader.set_wanted(1, [LoadRequest(key(0), hung)])
        assert hung.started.wait(10)
        done = threading.Event()
        closer = threading.Thread(target=lambda: (loader.close(), done.set()))
        closer.start()
        returned = done.wait(1.0)
    finally:
        hung.gate.set()
    closer.join(10)
    assert returned
    names = [t.name for t in threading.enumerate() if t.name.startswith("tilescope-loader")]
    for t in [t for t in threading.enumerate() if t.name in names]:
        t.join(10)  # the abandoned worker exits once its read returns
    assert [t.name for t in threading.enumerate() if t.name.startswith("tilescope-loader")] == []


def test_finished_loads_leave_no_reference_cycle_behind(
    clock: FakeClock, executors: Executors
) -> None:
    """A load's bookkeeping, future and pixels go with their last reference: cyclic garbage
    waits for a full collection, which the viewer defers while the user interacts."""

    def fails(token: CancelToken) -> npt.NDArray[Any]:
        raise OSError("HTTP 500")

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with make_loader(
            clock, executors, one_pool_config(num_workers=4, delay_queue_ms=0)
        ) as loader:
            gated = GatedRead()
            reqs = [LoadRequest(key(0), const()), LoadRequest(key(1), fails)]
            reqs.append(LoadRequest(key(2), gated))  # cancelled before it runs
            loader.set_wanted(1, reqs)
            executors[0].run_next()
            executors[0].run_next()
            loader.set_wanted(1, reqs[:2])
            assert executors[0].run_next() is False
            assert {r.outcome for r in loader.drain()} == {"loaded", "failed"}
        del reqs, gated
        gc.collect()
        kinds = {f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = {"tilescope.loading.pool.Pending", "tilescope.loading.pool.LoadRequest"}
    ours |= {"concurrent.futures._base.Future", "tilescope.cancel.CancelToken"}
    assert not kinds & ours
