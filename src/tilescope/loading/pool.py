"""Loader pools and the values that flow through the loader.

A :class:`LoaderPool` serves the loads of one range of level offsets: its
DelayQueue holds requests until due, its executor (created on first use, owned
by the pool, shut down with ``cancel_futures=True``) runs them.  Pools are used
only under the :class:`~tilescope.loading.loader.ChunkLoader`'s lock.
:func:`execute` is what runs in a worker (thread, process or dask worker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tilescope.cancel import CancelToken
from tilescope.errors import ChunkLoadError
from tilescope.loading.config import PoolSettings
from tilescope.loading.delay_queue import Clock, DelayQueue
from tilescope.loading.executors import shutdown_executor
from tilescope.tiles.grid import TileKey

__all__ = [
    "ExecutorFactory",
    "LoadRequest",
    "LoadResult",
    "LoaderPool",
    "LoaderStats",
    "Outcome",
    "Pending",
    "Read",
    "count",
    "execute",
]

Outcome = Literal["loaded", "cached", "failed"]
#: Makes the executor of a pool: ``factory(pool_settings) -> Executor``.
ExecutorFactory = Callable[[PoolSettings], Executor]
Read = Callable[[CancelToken], npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """One tile to load: its key, how to read it (run in a worker), its priority."""

    key: TileKey
    read: Read
    level_offset: int = 0
    distance: float = 0.0
    pinned: bool = False
    """Cache it pinned (the coarsest levels)."""

    @property
    def priority(self) -> tuple[int, float]:
        """``(level_offset, distance)``; smaller loads first."""
        return (self.level_offset, self.distance)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A finished load, as the main thread receives it from :meth:`ChunkLoader.drain`."""

    key: TileKey
    outcome: Outcome
    data: npt.NDArray[Any] | None = None
    error: ChunkLoadError | None = None
    synchronous: bool = False
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    nbytes: int = 0

    @property
    def ok(self) -> bool:
        """True unless the load failed."""
        return self.outcome != "failed"


@dataclass(frozen=True, slots=True)
class LoaderStats:
    """Counts for progress displays and tests."""

    queued: int
    running: int
    wanted: int
    failed: int
    undrained: int
    per_pool: tuple[tuple[int, int, int], ...]
    """``(level_offset, queued, running)`` per pool."""
    prefetch_queued: int = 0
    prefetch_running: int = 0
    hung: int = 0
    """Loads running longer than ``hung_after_s`` (abandoned ones whose read never returned
    included)."""


@dataclass(eq=False, slots=True)
class Pending:
    """Bookkeeping of one queued or running load (compared by identity)."""

    request: LoadRequest
    layer_id: int
    pool: LoaderPool
    queued_at: float
    token: CancelToken = field(default_factory=CancelToken)
    future: Future[tuple[npt.NDArray[Any], float, float]] | None = None
    executor: Executor | None = None
    """The executor it was submitted to (a broken one is replaced, not reused)."""
    submitted_at: float | None = None
    """When it was handed to the executor (the read's timeout counts from here)."""
    hung: bool = False
    """Running longer than the loader's ``hung_after_s``: its layer is held to the pool's
    ``layer_cap`` and, where the executor can, its worker thread was replaced."""
    timed_out: bool = False
    """Given up on after ``timeout_s`` (posted as failed); data it returns later is posted
    if its tile is still wanted."""


def count(counts: dict[int, int], key: int, delta: int) -> None:
    """Add ``delta`` to ``counts[key]``; a count that reaches 0 leaves the dict (so ``key in
    counts`` means "some")."""
    left = counts.get(key, 0) + delta
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def execute(read: Read, token: CancelToken, clock: Clock) -> tuple[npt.NDArray[Any], float, float]:
    """Run one load in a worker: ``(data, started, finished)``.  Worker side; picklable."""
    token.raise_if_cancelled()
    started = clock()
    data = np.asarray(read(token))
    return data, started, clock()


class LoaderPool:
    """One pool of the loader: its settings, DelayQueue and executor.

    Used only under the loader's lock.  The executor is created on first use
    and owned by the pool (shut down with ``cancel_futures=True``).
    """

    def __init__(
        self, settings: PoolSettings, factory: ExecutorFactory, clock: Clock = time.monotonic
    ) -> None:
        self.settings = settings
        self.queue: DelayQueue[TileKey, Pending] = DelayQueue(
            settings.delay_queue_ms / 1000.0, clock
        )
        self.running: set[Pending] = set()
        #: Hung loads whose worker the executor replaced (they no longer count as workers).
        self.hung: set[Pending] = set()
        #: Loads submitted and not finished per layer (hung ones included).
        self.by_layer: dict[int, int] = {}
        self._factory = factory
        self._executor: Executor | None = None

    @property
    def level_offset(self) -> int:
        """The smallest level offset this pool serves."""
        return self.settings.level_offset

    @property
    def free_workers(self) -> int:
        """Workers not busy with a load."""
        return self.settings.num_workers - len(self.running)

    @property
    def layer_cap(self) -> int:
        """Most loads of a layer with hung reads that run at once: half the workers, rounded
        up, so a hanging source always leaves the other half to the other layers."""
        return -(-self.settings.num_workers // 2)

    @property
    def executor(self) -> Executor:
        """The pool's executor (created on first use)."""
        if self._executor is None:
            self._executor = self._factory(self.settings)
        return self._executor

    def discard_executor(self, executor: Executor) -> None:
        """Forget ``executor`` if it is still the pool's (it broke): the next load makes a new one.

        Only the executor a failed load ran on is discarded, so a second failure
        from the same broken executor never shuts down its fresh replacement.
        """
        if self._executor is executor:
            self.shutdown()

    def shutdown(self, wait: bool = False) -> None:
        """Shut the executor down, cancelling what it has not started."""
        if self._executor is not None:
            shutdown_executor(self._executor, wait=wait)
            self._executor = None

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"LoaderPool(offset={s.level_offset}, workers={s.num_workers}, "
            f"delay_ms={s.delay_queue_ms}, queued={len(self.queue)}, running={len(self.running)})"
        )
