"""ChunkLoader under hung sources: reads past ``hung_after_s`` give up their worker, their
layer is capped at half a pool, and nothing waits unseen (deterministic: FakeClock and
ManualExecutors; a "hung" read is one the test never runs until it says so)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from loading_fakes import Executors, one_pool_config

from tilescope.cancel import CancelToken
from tilescope.loading.cache import ChunkCache
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.tiles.grid import TileKey

WORKERS = 4


def key(col: int, layer: int) -> TileKey:
    return TileKey(layer, 0, (), 0, 0, col)


def make(clock: FakeClock, executors: Executors, **kwargs: Any) -> ChunkLoader:
    return ChunkLoader(
        one_pool_config(delay_queue_ms=0, num_workers=WORKERS),
        cache=ChunkCache(10**8),
        clock=clock,
        executor_factory=executors,
        dispatch_thread=False,
        **kwargs,
    )


def layer_of(fn: Any, args: tuple[Any, ...]) -> int:
    """The layer of a queued ``execute(read, token, clock)`` task (its read's key)."""
    return int(getattr(args[0], "layer", -1))


class KeyedRead:
    """A read that knows its layer (so a test can run one layer's tasks only)."""

    def __init__(self, layer: int) -> None:
        self.layer = layer

    def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
        return np.full((2, 2), float(self.layer))


def keyed(layer: int, cols: range) -> list[LoadRequest]:
    return [LoadRequest(key(c, layer), KeyedRead(layer), distance=float(c)) for c in cols]


def test_a_hung_layer_gives_up_its_workers_and_is_held_to_half_a_pool(
    clock: FakeClock, executors: Executors
) -> None:
    with make(clock, executors, timeout_s=60.0) as loader:
        loader.set_wanted(1, keyed(1, range(WORKERS)))  # takes every worker
        assert loader.stats.running == WORKERS
        loader.set_wanted(2, keyed(2, range(2)))
        assert executors[0].submitted == WORKERS  # no worker free: layer 2 waits
        clock.advance(1.9)
        loader.pump()
        assert loader.stats.hung == 0
        assert executors[0].abandoned == []
        clock.advance(0.1)  # layer 1's reads have run 2 s: hung
        loader.pump()
        assert loader.stats.hung == WORKERS
        assert len(executors[0].abandoned) == WORKERS
        assert executors[0].submitted == WORKERS + 2  # replacement workers serve layer 2
        loader.set_wanted(1, keyed(1, range(WORKERS + 3)))  # more tiles of the hung layer
        assert executors[0].submitted == WORKERS + 2  # its cap (2) is held by hung reads
        executors[0].run_matching(lambda fn, args: layer_of(fn, args) == 2)
        (r2a, r2b) = loader.drain()
        assert {r2a.key.layer_id, r2b.key.layer_id} == {2}
        assert r2a.ok
        assert r2b.ok
        # the hung reads return after all: the cap lifts and layer 1's other tiles start
        executors[0].run_matching(lambda fn, args: layer_of(fn, args) == 1)
        assert loader.stats.hung == 0
        assert executors[0].submitted == WORKERS + 2 + 3


def test_hung_reads_time_out_and_loads_held_behind_them_fail_with_the_reason(
    clock: FakeClock, executors: Executors
) -> None:
    with make(clock, executors, timeout_s=10.0) as loader:
        loader.set_wanted(1, keyed(1, range(WORKERS)))
        clock.advance(2.0)
        loader.pump()  # hung: layer 1 held at its cap
        clock.advance(1.0)
        loader.set_wanted(1, keyed(1, range(WORKERS + 1)))  # one more tile queues, held
        clock.advance(7.0)  # the hung reads have run 10 s: abandoned, shown as failed
        loader.pump()
        failed = loader.drain()
        assert len(failed) == WORKERS
        assert not any(r.ok for r in failed)
        assert all("took longer than 10 s" in str(r.error) for r in failed)
        assert loader.stats.hung == WORKERS  # their threads are still stuck in the reads
        clock.advance(3.0)  # the held tile has waited 10 s for a worker its layer may use
        loader.pump()
        (held,) = loader.drain()
        assert held.key == key(WORKERS, 1)
        assert not held.ok
        assert "could not start within 10 s" in str(held.error)
        assert "4 earlier reads of this layer are still running" in str(held.error)
        assert loader.next_due_in() is None  # nothing left due, nothing spinning


def test_a_cancelled_read_that_hangs_is_still_replaced(
    clock: FakeClock, executors: Executors
) -> None:
    """The user panned away from the hung tiles: they are no longer wanted, but their
    threads still hang; the pool must not lose them."""
    with make(clock, executors, timeout_s=60.0) as loader:
        loader.set_wanted(1, keyed(1, range(WORKERS)))
        executors[0].start_all()
        loader.set_wanted(1, [])  # cancelled while running
        loader.set_wanted(2, keyed(2, range(1)))
        assert executors[0].submitted == WORKERS
        clock.advance(2.0)
        loader.pump()
        assert executors[0].submitted == WORKERS + 1
        assert loader.stats.hung == WORKERS


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_hung_after_must_be_positive(bad: float, clock: FakeClock, executors: Executors) -> None:
    with pytest.raises(ValueError, match="hung_after_s"):
        make(clock, executors, hung_after_s=bad)


def test_a_read_that_returned_in_time_is_not_timed_out_while_its_completion_waits(
    clock: FakeClock, executors: Executors
) -> None:
    """The read returned, but its completion waits for the loader's lock (a frame holds
    it): a timeout check meanwhile must not call it hung or abandoned (CI saw a healthy
    read reported "took longer than 0.1 s" this way)."""
    with make(clock, executors, timeout_s=10.0) as loader:
        loader.set_wanted(1, keyed(1, range(1)))
        ((future, _, _),) = executors[0].tasks
        with loader.held():
            worker = threading.Thread(target=executors[0].run_next)
            worker.start()  # its completion blocks on the lock this thread holds
            assert _wait_done(future)
            clock.advance(11.0)
            loader.pump()
            assert loader.stats.hung == 0
            assert executors[0].abandoned == []
        worker.join(10)
        assert not worker.is_alive()
        (result,) = loader.drain()
        assert result.ok, result.error


def test_a_worker_never_blocks_on_the_lock_a_frame_holds(
    clock: FakeClock, executors: Executors
) -> None:
    """A read that finishes while a frame holds the loader's lock leaves its completion
    queued and its worker free at once: a worker that blocked on the lock got it back before
    the GIL and held it while waiting for the GIL, stalling the next frame 10-60 ms (soak).
    The dispatch thread finishes it once the frame lets go (the frame's end wakes it)."""
    posted = threading.Semaphore(0)
    with ChunkLoader(
        one_pool_config(delay_queue_ms=0, num_workers=WORKERS),
        cache=ChunkCache(10**8),
        clock=clock,
        executor_factory=executors,
        notify=posted.release,
    ) as loader:
        loader.set_wanted(1, keyed(1, range(1)))
        with loader.held():
            worker = threading.Thread(target=executors[0].run_next)
            worker.start()
            worker.join(10)  # before: blocked here on the lock this thread holds
            assert not worker.is_alive()
            assert loader.drain() == []  # not finished yet: still this frame's pending
            assert loader.stats.running == 1  # its worker is free, its load unaccounted
        assert posted.acquire(timeout=10)
        (result,) = loader.drain()
        assert result.ok, result.error
        assert loader.stats.running == 0


def test_without_a_dispatch_thread_a_completion_is_never_left_queued(
    clock: FakeClock, executors: Executors
) -> None:
    """No dispatch thread to finish a completion queued behind a held lock: the worker
    waits for the lock instead, so the owner waiting for its notify is woken (a queued
    completion was never finished, and a test waiting for its notify hung)."""
    posted = threading.Semaphore(0)
    with make(clock, executors, notify=posted.release) as loader:
        loader.set_wanted(1, keyed(1, range(1)))
        with loader.held():
            worker = threading.Thread(target=executors[0].run_next)
            worker.start()  # it waits for this thread's hold
        assert posted.acquire(timeout=10)
        worker.join(10)
        (result,) = loader.drain()
        assert result.ok, result.error


def _wait_done(future: Any) -> bool:
    """Until the future is done: its state is set before its callbacks run, and the
    loader's callback (registered first) is the one blocked, so no callback can tell."""
    deadline = time.monotonic() + 10
    while not future.done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class HeldRead:
    """A read that returns only once ``release`` is set (it runs on a thread of its own)."""

    def __init__(self, release: threading.Event) -> None:
        self.layer = 1
        self.started = threading.Event()
        self.release = release

    def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
        self.started.set()
        assert self.release.wait(10)
        return np.ones((2, 2))


def test_a_timed_out_read_that_returns_while_its_tile_is_wanted_replaces_the_failure(
    clock: FakeClock, executors: Executors
) -> None:
    """The read was shown as failed at its timeout, then returned data: the tile is still on
    screen, so it shows the data now rather than the failure until its back-off ends (CI saw
    a slider step land on a tile failed this way, idle in error with its data cached)."""
    release = threading.Event()
    reads = [HeldRead(release) for _ in range(2)]
    wanted = [LoadRequest(key(c, 1), read, distance=float(c)) for c, read in enumerate(reads)]
    with make(clock, executors, timeout_s=10.0) as loader:
        loader.set_wanted(1, wanted)
        workers = [threading.Thread(target=executors[0].run_next) for _ in reads]
        for worker in workers:
            worker.start()
        assert all(read.started.wait(10) for read in reads)
        clock.advance(10.0)
        loader.pump()
        failed = loader.drain()
        assert [r.ok for r in failed] == [False, False]
        assert "took longer than 10 s" in str(failed[0].error)
        loader.set_wanted(1, wanted[:1])  # column 1 leaves the view
        release.set()  # both reads return after all
        for worker in workers:
            worker.join(10)
        loader.pump()
        (late,) = loader.drain()
        assert late.key == key(0, 1)
        assert late.ok
        assert loader.stats.failed == 0  # no back-off left: both tiles are clean
        assert loader.cache.get(key(1, 1)) is not None  # the one out of view is cached only
