"""Real executors: threads (default), processes, a dask.distributed-style client; dispatch thread.

Completion is awaited through the loader's ``notify`` callback setting an Event
(the timeout is only a failsafe), never by sleeping.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import subprocess
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from loading_fakes import GatedRead, one_pool_config

from tilescope.cancel import CancelToken
from tilescope.errors import ConfigError
from tilescope.loading.cache import ChunkCache
from tilescope.loading.executors import make_executor, shutdown_executor
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest, LoadResult
from tilescope.tiles.grid import TileKey


def ones(token: CancelToken) -> npt.NDArray[Any]:
    """Module-level, hence picklable for worker processes."""
    return np.ones((8, 8), dtype=np.uint16)


class Collector:
    """notify callback: sets an Event per call (the loader may post several results per
    call: a worker that finishes another's queued completion wakes the owner once)."""

    def __init__(self) -> None:
        self.posted = threading.Event()

    def __call__(self) -> None:
        self.posted.set()


def load_all(loader: ChunkLoader, collector: Collector, n: int) -> list[LoadResult]:
    """Ask for ``n`` tiles; drain as they are posted until all ``n`` are (30 s at most)."""
    loader.set_wanted(1, [LoadRequest(TileKey(1, 0, (), 0, 0, c), ones) for c in range(n)])
    results: list[LoadResult] = []
    deadline = time.monotonic() + 30
    while len(results) < n:
        assert collector.posted.wait(max(0.0, deadline - time.monotonic())), "loads never finished"
        collector.posted.clear()  # before drain: a post from now on sets it again
        results += loader.drain()
    return results


def test_thread_executor_end_to_end() -> None:
    collector = Collector()
    with ChunkLoader(
        one_pool_config(delay_queue_ms=0, num_workers=3), cache=ChunkCache(10**6), notify=collector
    ) as loader:
        results = load_all(loader, collector, 6)
        assert sorted(r.key.col for r in results) == list(range(6))
        assert all(r.outcome == "loaded" and not r.synchronous for r in results)
        assert all(r.data is not None and r.data.sum() == 64 for r in results)
        assert loader.cache.stats.entries == 6


def test_process_executor_end_to_end() -> None:
    collector = Collector()
    config = one_pool_config(delay_queue_ms=0, num_workers=1, use_processes=True)
    assert config.loader_defaults.executor_kind == "processes"
    before = set(multiprocessing.active_children())
    with ChunkLoader(config, cache=ChunkCache(10**6), notify=collector) as loader:
        results = load_all(loader, collector, 2)
        assert [r.outcome for r in results] == ["loaded", "loaded"]
        assert set(multiprocessing.active_children()) - before  # a worker process ran them
        loader.close(wait=True)
    assert not set(multiprocessing.active_children()) - before


class FakeClient:
    """Stands in for distributed.Client: only get_executor() is used."""

    def __init__(self) -> None:
        self.executors: list[ThreadPoolExecutor] = []

    def get_executor(self) -> Executor:
        ex = ThreadPoolExecutor(max_workers=2)
        self.executors.append(ex)
        return ex


def test_dask_executor_kind_uses_the_client() -> None:
    client = FakeClient()
    collector = Collector()
    config = one_pool_config(delay_queue_ms=0, executor="dask")
    with ChunkLoader(
        config, cache=ChunkCache(10**6), notify=collector, dask_client=client
    ) as loader:
        results = load_all(loader, collector, 3)
        assert len(results) == 3
        assert len(client.executors) == 1


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is not None, reason="distributed is installed"
)
def test_dask_executor_without_distributed_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="distributed"):
        make_executor("dask", 2, "x")


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs distributed")
def test_dask_executor_with_a_real_local_cluster() -> None:  # pragma: no cover - optional
    distributed: Any = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2) as client:
        collector = Collector()
        with ChunkLoader(
            one_pool_config(delay_queue_ms=0, executor="dask"),
            cache=ChunkCache(10**6),
            notify=collector,
            dask_client=client,
        ) as loader:
            assert len(load_all(loader, collector, 2)) == 2


def test_bad_client_and_kind() -> None:
    with pytest.raises(ConfigError, match="get_executor"):
        make_executor("dask", 1, "x", dask_client=object())
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("gpu", 1, "x")  # type: ignore[arg-type]


def test_shutdown_cancels_queued_futures() -> None:
    gate, started = threading.Event(), threading.Event()
    ex = make_executor("threads", 1, "t")
    first = ex.submit(lambda: (started.set(), gate.wait(10))[1])
    assert started.wait(10)  # running, so only the second is still queued
    second = ex.submit(gate.wait, 10)
    shutdown_executor(ex)
    assert second.cancelled()
    gate.set()
    assert first.result(10) is True


def test_dispatch_thread_releases_delayed_requests() -> None:
    """No pump() calls: the loader's own thread submits the request when due."""
    collector = Collector()
    with ChunkLoader(
        one_pool_config(delay_queue_ms=20), cache=ChunkCache(10**6), notify=collector
    ) as loader:
        loader.set_wanted(1, [LoadRequest(TileKey(1, 0, (), 0, 0, 0), ones)])
        assert loader.stats.queued == 1
        assert collector.posted.wait(30)
        (result,) = loader.drain()
        assert result.outcome == "loaded"
        assert result.started_at is not None
        assert result.queued_at is not None
        assert result.started_at - result.queued_at >= 0.02


def loader_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tilescope-loader")}


def test_close_leaves_no_thread_even_with_a_load_running() -> None:
    before = loader_threads()
    collector = Collector()
    loader = ChunkLoader(
        one_pool_config(delay_queue_ms=0, num_workers=2), cache=ChunkCache(10**6), notify=collector
    )
    gated = GatedRead()
    loader.set_wanted(
        1,
        [
            LoadRequest(TileKey(1, 0, (), 0, 0, 0), gated),
            LoadRequest(TileKey(1, 0, (), 0, 0, 1), ones),
        ],
    )
    assert gated.started.wait(10)
    assert collector.posted.wait(30)  # the other load finished
    mine = loader_threads() - before
    assert any("dispatch" in t.name for t in mine)
    assert len(mine) == 3  # dispatch thread + two workers
    loader.close()  # returns at once: the running load is told through its token
    gated.gate.set()
    for thread in mine:
        thread.join(10)
    assert not [t for t in mine if t.is_alive()]
    assert [r.key.col for r in loader.drain()] == [1]  # the cancelled load posted nothing


def test_a_hung_thread_load_never_keeps_the_process_alive(tmp_path: Path) -> None:
    """The "threads" executor's workers are daemons: a read that never returns does not stop
    the interpreter from exiting after close() (a ThreadPoolExecutor joins it at exit)."""
    script = tmp_path / "hang.py"
    script.write_text(
        "import threading, numpy as np\n"
        "from tilescope.loading.executors import make_executor\n"
        "ex = make_executor('threads', 2, 'tilescope-loader-0')\n"
        "started = threading.Event()\n"
        "def read():\n"
        "    started.set()\n"
        "    threading.Event().wait()  # never returns\n"
        "ex.submit(read)\n"
        "assert started.wait(10)\n"
        "ex.shutdown(wait=False, cancel_futures=True)\n"
        "print('closed', flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=20, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "closed"
