"""Dask reads: one shared pool, cancellable between chunks, no process-global dask state.

Deterministic: chunk functions block on Events the test controls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.dask_support import DaskReads, is_dask_collection

WAIT = 10.0


@pytest.fixture
def reads() -> Iterator[DaskReads]:
    r = DaskReads(workers=2)
    yield r
    r.close()


def _dask_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tilescope-dask")]


def _wait_any(events: list[threading.Event]) -> bool:
    """True once any of ``events`` is set (polls; gives up after WAIT s)."""
    return any(any(e.wait(0.01 / len(events)) for e in events) for _ in range(int(WAIT / 0.01)))


class GatedChunks:
    """A dask array of ``n`` (1, 4) chunks; chunk ``i`` waits for ``gates[i]``."""

    def __init__(self, n: int, value: float) -> None:
        self.gates = [threading.Event() for _ in range(n)]
        self.started = [threading.Event() for _ in range(n)]
        self.value = value

        def block(block_info: dict[object, dict[str, tuple[int, ...]]] | None = None) -> np.ndarray:
            assert block_info is not None
            i = block_info[None]["chunk-location"][0]
            self.started[i].set()
            assert self.gates[i].wait(WAIT)
            return np.full((1, 4), self.value, np.float32)

        self.array = da.map_blocks(block, chunks=((1,) * n, (4,)), dtype=np.float32)

    def release_all(self) -> None:
        for g in self.gates:
            g.set()


def test_cancelled_token_stops_the_computation_between_chunks(reads: DaskReads) -> None:
    token = CancelToken()
    started: list[int] = []

    def block(block_info: dict[object, dict[str, tuple[int, ...]]] | None = None) -> np.ndarray:
        assert block_info is not None
        started.append(block_info[None]["chunk-location"][0])
        token.cancel()  # cancelled while the first chunk runs
        return np.zeros((1, 4), np.float32)

    arr = da.map_blocks(block, chunks=((1,) * 50, (4,)), dtype=np.float32)
    with pytest.raises(Cancelled):
        reads.compute(arr, token)
    assert 1 <= len(started) <= 2  # at most the chunks already handed to the two workers


def test_uncancelled_reads_are_exact_and_non_dask_passes_through(reads: DaskReads) -> None:
    np.testing.assert_array_equal(reads.compute(da.arange(16, chunks=4)), np.arange(16))
    np.testing.assert_array_equal(reads.compute([1, 2]), np.array([1, 2]))
    assert is_dask_collection(da.ones(2))
    assert not is_dask_collection(np.ones(2))


def test_interleaved_reads_never_touch_global_callbacks_nor_each_other() -> None:
    """Two reads overlap on two threads; the second is cancelled mid-way. dask's global
    ``Callback.active`` (which ``dask.callbacks`` swaps per computation) is never touched, the
    first read completes exactly, and later reads on both threads are unaffected."""
    reads = DaskReads(workers=4)  # a: 2 chunks running; b: 2 running, 1 queued in the pool
    user_callback = Callback()  # a user's global dask callback: must stay registered
    user_callback.register()  # type: ignore[no-untyped-call]
    try:
        active = Callback.active
        snapshot = set(active)
        a, b = GatedChunks(2, 1.0), GatedChunks(3, 2.0)
        ta, tb = CancelToken(), CancelToken()
        out: dict[str, object] = {}

        def run(name: str, arr: GatedChunks, token: CancelToken) -> None:
            try:
                out[name] = reads.compute(arr.array, token)
            except Cancelled as e:
                out[name] = e
            # a fresh read on the same thread afterwards is unaffected by either token
            out[name + "-after"] = reads.compute(da.ones((2, 2), chunks=1), CancelToken())

        threads = [
            threading.Thread(target=run, args=("a", a, ta)),
            threading.Thread(target=run, args=("b", b, tb)),
        ]
        threads[0].start()
        assert a.started[0].wait(WAIT)
        assert a.started[1].wait(WAIT)
        threads[1].start()
        assert _wait_any(b.started)  # both reads are now in flight
        assert Callback.active is active
        assert Callback.active == snapshot
        tb.cancel()
        b.release_all()
        a.release_all()
        for t in threads:
            t.join(WAIT)
        assert isinstance(out["b"], Cancelled)
        np.testing.assert_array_equal(out["a"], np.ones((2, 4), np.float32))
        for name in ("a-after", "b-after"):
            np.testing.assert_array_equal(out[name], np.ones((2, 2)))
        assert Callback.active is active
        assert Callback.active == snapshot
    finally:
        user_callback.unregister()  # type: ignore[no-untyped-call]
        reads.close()


def test_one_pool_for_every_calling_thread_and_nothing_left_after_close() -> None:
    reads = DaskReads(workers=3)
    before = {t.ident for t in threading.enumerate()}
    arr = da.ones((8, 8), chunks=2)
    callers = [threading.Thread(target=reads.compute, args=(arr, CancelToken())) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(WAIT)
    new = [t for t in threading.enumerate() if t.ident not in before]
    assert sorted(t.name for t in new) == [f"tilescope-dask_{i}" for i in range(3)]
    reads.close()
    assert _dask_threads() == []
    with pytest.raises(Cancelled):  # closed: a late read is not wanted any more
        reads.compute(arr, CancelToken())


def test_a_hung_chunk_holds_neither_its_cancelled_caller_nor_the_shared_pool() -> None:
    now = [0.0]
    reads = DaskReads(workers=1, stuck_after_s=5.0, clock=lambda: now[0])
    hung = GatedChunks(1, 1.0)
    token = CancelToken()
    outcome: list[BaseException | None] = []

    def caller() -> None:
        try:
            reads.compute(hung.array, token)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=caller)
    try:
        t.start()
        assert hung.started[0].wait(WAIT)  # the pool's only thread hangs in the chunk
        token.cancel()
        t.join(WAIT)
        assert not t.is_alive()
        assert isinstance(outcome[0], Cancelled)
        now[0] = 5.0  # the chunk has run STUCK long: the next computation replaces its thread
        np.testing.assert_array_equal(reads.compute(da.arange(8, chunks=4)), np.arange(8))
        assert not hung.gates[0].is_set()  # the hung chunk is still running all along
    finally:
        hung.release_all()
        reads.close()
