"""Background threads run at a lower CPU priority than the main thread (Linux nice values)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.sync import sync
from zarr.storage import LocalStore

from http_server import LocalHTTPServer
from tilescope.data.priority import (
    DEFAULT_BACKGROUND_NICE,
    background_nice,
    lower_thread_priority,
    set_background_nice,
)
from tilescope.data.remote import RemoteOptions, open_remote_store
from tilescope.data.threads import DaemonExecutor
from tilescope.data.zarr_chunks import ChunkReader
from tilescope.errors import ConfigError
from tilescope.loading.config import OctreeConfig
from tilescope.loading.loader import ChunkLoader
from tilescope.slicing.workers import KeyedWorkers

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice: Linux")


def _nice() -> int:
    """The calling thread's own nice value."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = background_nice()
    yield
    set_background_nice(before)


@linux
def test_executor_threads_run_below_the_main_thread() -> None:
    main = _nice()
    pool = DaemonExecutor(2, "test-priority")
    try:
        assert pool.submit(_nice).result(5) == max(main, DEFAULT_BACKGROUND_NICE)
    finally:
        pool.shutdown()
    assert _nice() == main  # the caller's own priority is untouched


@linux
def test_slice_workers_run_below_the_main_thread() -> None:
    workers = KeyedWorkers(1, 1, "test-priority-slice")
    got: Future[int] = Future()
    try:
        workers.submit("a", lambda: got.set_result(_nice()))
        assert got.result(5) >= DEFAULT_BACKGROUND_NICE
    finally:
        workers.shutdown()


@linux
def test_the_setting_applies_to_threads_started_after_it() -> None:
    set_background_nice(15)
    pool = DaemonExecutor(1, "test-priority-15")
    try:
        assert pool.submit(_nice).result(5) >= 15
    finally:
        pool.shutdown()
    set_background_nice(0)  # off: a new thread keeps the process's priority
    pool = DaemonExecutor(1, "test-priority-0")
    try:
        assert pool.submit(_nice).result(5) == os.getpriority(os.PRIO_PROCESS, os.getpid())
    finally:
        pool.shutdown()


def test_the_main_thread_is_never_lowered() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert lower_thread_priority(12) is None
    assert lower_thread_priority(12) is None  # asked again: the same answer
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


@pytest.mark.parametrize("bad", [-1, 20, True, 1.5, "10"])
def test_a_bad_setting_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="background nice"):
        set_background_nice(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="background_nice"):
        OctreeConfig.from_dict({"loader_defaults": {"background_nice": bad}})


def test_a_loader_applies_its_config() -> None:
    config = OctreeConfig.from_dict({"loader_defaults": {"background_nice": 7}})
    assert config.loader_defaults.background_nice == 7
    loader = ChunkLoader(config)
    try:
        assert background_nice() == 7
    finally:
        loader.close()


@linux
def test_zarrs_event_loop_thread_runs_below_the_main_thread(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    """The IO loop parses every HTTP response: it gives way too, once it has read a chunk."""
    values = np.arange(64 * 64, dtype="<u2").reshape(64, 64)
    local = zarr.create_array(
        LocalStore(http_server.root / "p.zarr"), shape=values.shape, chunks=(32, 32), dtype="<u2"
    )
    local[...] = values
    store = open_remote_store(http_server.url("p.zarr"), RemoteOptions(timeout_s=5.0))
    reader = ChunkReader.for_array(zarr.open_array(store, mode="r"))
    assert reader is not None
    pool = DaemonExecutor(1, "test-priority-zarr")  # reads run on workers, as the loader's do
    try:
        got = pool.submit(reader.read, (slice(0, 40), slice(0, 40))).result(10)
    finally:
        pool.shutdown()
    np.testing.assert_array_equal(got, values[:40, :40])

    async def loop_nice() -> int:
        return _nice()

    assert sync(loop_nice()) >= DEFAULT_BACKGROUND_NICE
