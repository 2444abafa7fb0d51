"""ChunkLoader: turns each frame's wanted tiles into loads, off the main thread.

Threads.  This module is where the thread hop happens.  The main thread calls
:meth:`ChunkLoader.set_wanted` (the tiles a layer wants now, from its coverage
plan), :meth:`ChunkLoader.drain` (finished chunks; never blocks) and, when the
loader has no dispatch thread, :meth:`ChunkLoader.pump`.  Loads run on the
executor of their :class:`LoaderPool`; their completion callbacks run on worker
threads (``_on_done``), put the chunk into the :class:`ChunkCache` and post a
:class:`LoadResult` to a thread-safe queue, then call ``notify`` so a GUI can
schedule a frame.  An optional dispatch thread releases delayed requests when
they become due.

What happens to a wanted tile (in order): already queued or running -> kept
(its priority updated); posted but not yet drained -> skipped; failed recently
-> skipped until its retry time (or :meth:`ChunkLoader.retry`); in the cache ->
posted at once as ``"cached"``; the layer loads synchronously
(``force_synchronous``, or ``auto_sync``: its recent loads average under the
pool's ``auto_sync_ms``) -> loaded right now on the calling thread, within a
per-call time budget; otherwise -> queued in the DelayQueue of the pool for its
level offset (largest pool key <= offset), then run by that pool's executor in
priority order, never more at once than the pool's workers.

Prefetch (:meth:`ChunkLoader.set_prefetch`: slices near the current one, slices ahead of
a moving slider) has its own wanted set per layer and its own pool of
``prefetch.num_workers`` workers, which starts a load only while no visible load is due
and waiting, so prefetch never takes a worker or a turn from a visible tile. A prefetched
tile is cached (pinned when its request says so) but not posted; a tile wanted by both
is loaded once, at the visible priority, and posted.

A tile that leaves the wanted set is cancelled: dropped from its queue if it
has not started, else its :class:`~tilescope.cancel.CancelToken` is
cancelled (a load that finishes anyway is cached but not posted).  Every other
end of a load is posted: failures (the read raised, the executor could not be
created, was broken or cancelled the load itself) as ``"failed"`` results
carrying a :class:`~tilescope.errors.ChunkLoadError`, so no wanted tile stays
"loading" unseen.  Failed tiles are retried when wanted again after a back-off;
a broken executor (a worker process died) is replaced for the retry.  With a
``log_path`` every load writes one JSON line: key, pool, queued/started/finished
times, bytes, outcome (loaded, failed, cancelled, discarded: finished after
it stopped being wanted, or prefetched: cached for later, not posted).

Hung sources.  A load running longer than ``hung_after_s`` is *hung*: where the executor
can (the default daemon threads), a fresh thread takes its worker's place at once, so a hung
read never shrinks a pool; and its layer may then run at most ``layer_cap`` (half the pool's
workers) loads at once, hung ones included, so one hanging source always leaves the other
half of every pool to the other layers.  A hung load is posted as failed ``timeout_s`` after
it started (cancelled or not, its thread exits only when its read returns; if it returns
data while its tile is still wanted, that is posted and replaces the failure), and a load of
such a layer that cannot start because its layer's cap is held by hung reads is posted as
failed ``timeout_s`` after it was queued, with a message saying so: nothing waits unseen.
"""

from __future__ import annotations

import functools
import json
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future
from contextlib import contextmanager
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.priority import set_background_nice
from tilescope.errors import ChunkLoadError
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig, PoolSettings, get_config
from tilescope.loading.delay_queue import Clock
from tilescope.loading.executors import make_executor
from tilescope.loading.pool import (
    ExecutorFactory,
    LoaderPool,
    LoaderStats,
    LoadRequest,
    LoadResult,
    Pending,
    count,
    execute,
)
from tilescope.tiles.grid import TileKey

__all__ = ["AUTO_SYNC_MIN_SAMPLES", "AUTO_SYNC_WINDOW", "PREFETCH_POOL_OFFSET", "ChunkLoader"]

#: Loads remembered per layer for auto-sync, and how many are needed to decide.
AUTO_SYNC_WINDOW = 10
AUTO_SYNC_MIN_SAMPLES = 3
#: The ``level_offset`` of the prefetch pool's settings (and in the load log).
PREFETCH_POOL_OFFSET = -1


class ChunkLoader:
    """Loads tiles asynchronously through per-level-offset pools (see the module doc).

    Parameters
    ----------
    config
        The configuration (default: :func:`~tilescope.loading.config.get_config`).
    cache
        The RAM cache to fill (default: a new one with the config's budget).
    clock
        Monotonic seconds; tests inject a fake clock.
    executor_factory
        Makes each pool's executor (default: the config's executor kind).
    dask_client
        For the ``"dask"`` executor kind: the ``distributed.Client`` to use.
    notify
        Called after a result is posted, from worker threads or the calling
        thread, possibly with the loader's lock held: it must only schedule
        work (post a Qt event, release a semaphore), never wait for another
        thread.
    dispatch_thread
        Run a thread that submits delayed loads when due and finishes the loads that
        completed while the lock was held.  Without it the owner calls :meth:`pump` (each
        frame, or when :meth:`next_due_in` says), and workers wait for the lock.
    sync_budget_ms
        Most time the :meth:`set_wanted` calls between two :meth:`begin_frame` calls (one
        frame) spend on auto-sync loads before queueing the rest (``force_synchronous``
        has no budget). Without ``begin_frame`` the budget is per call.
    retry_after_s
        Back-off before a failed tile is loaded again (doubles per failure, max 60 s).
    hung_after_s
        A load running this long counts as hung (see the module doc; at most ``timeout_s``).
        ``None``: loads never count as hung before they time out.
    timeout_s
        A load still running this long after it started is abandoned: posted as failed (so
        nothing stays "loading" forever) and retried after the back-off; its worker is not
        waited for, and whatever it returns later is cached but never posted. ``None``: no
        limit.
    """

    def __init__(
        self,
        config: OctreeConfig | None = None,
        *,
        cache: ChunkCache | None = None,
        clock: Clock = time.monotonic,
        executor_factory: ExecutorFactory | None = None,
        dask_client: Any = None,
        notify: Callable[[], object] | None = None,
        dispatch_thread: bool = True,
        sync_budget_ms: float = 16.0,
        retry_after_s: float = 5.0,
        timeout_s: float | None = None,
        hung_after_s: float | None = 2.0,
    ) -> None:
        self.config = get_config() if config is None else config
        defaults = self.config.loader_defaults
        self.executor_kind = defaults.executor_kind
        # process-wide (read and slice threads started from now on, the IO loops' threads)
        set_background_nice(defaults.background_nice)
        self.force_synchronous = defaults.force_synchronous
        #: Queue new loads as due now, skipping the pools' delay queues. The owner sets it
        #: while the view it plans came after a rest (a single step, not a drag: nothing
        #: would be saved by waiting to see whether the view moves on).
        self.no_delay = False
        if cache is None:
            c = self.config.cache
            cache = ChunkCache(c.budget_bytes, fraction=c.budget_fraction)
        self.cache = cache
        self._clock = clock
        self._notify = notify
        self._sync_budget_s = sync_budget_ms / 1000.0
        self._retry_after_s = retry_after_s
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 or None, got {timeout_s!r}")
        self._timeout_s = timeout_s
        if hung_after_s is not None and not hung_after_s > 0:
            raise ValueError(f"hung_after_s must be > 0 or None, got {hung_after_s!r}")
        hung_limits = [t for t in (hung_after_s, timeout_s) if t is not None]
        self._hung_after_s = min(hung_limits) if hung_limits else None
        #: layer -> its loads that are hung and still running
        self._hung_layers: dict[int, int] = {}
        if executor_factory is None:
            kind = self.executor_kind

            def executor_factory(settings: PoolSettings) -> Executor:
                offset = settings.level_offset
                name = f"tilescope-loader-{'prefetch' if offset < 0 else offset}"
                return make_executor(kind, settings.num_workers, name, dask_client)

        self._lock = threading.RLock()
        #: Wakes the dispatch thread. Not a Condition on ``_lock``: a thread woken from one
        #: re-takes the lock before it has the GIL back, and then holds the lock while it
        #: waits for the GIL, so the main thread's next frame waits too (seen as 10-60 ms
        #: stalls on the soak). The dispatch thread only ever try-takes the lock.
        self._kick = threading.Event()
        self._dispatch_waiting = False  # it found the lock taken: wake it when let go
        #: finished futures whose worker found the lock taken: the dispatch thread (or the
        #: owner's pump) accounts for them, the worker never blocks on the lock
        self._completed: queue.SimpleQueue[
            tuple[Pending, Future[tuple[npt.NDArray[Any], float, float]]]
        ] = queue.SimpleQueue()
        self._pools = tuple(LoaderPool(s, executor_factory, clock) for s in self.config.pools())
        # level offset -> pool (the config's rule), up to the last pool's offset (beyond: the last)
        by_settings = {p.settings: p for p in self._pools}
        self._pool_table = tuple(
            by_settings[self.config.pool_for(off)]
            for off in range(self._pools[-1].level_offset + 1)
        )
        pf = self.config.prefetch
        self._prefetch_pool = LoaderPool(
            PoolSettings(PREFETCH_POOL_OFFSET, pf.num_workers, 0.0, 0.0), executor_factory, clock
        )
        #: every pool, the prefetch pool last (pumped after the visible ones)
        self._all_pools = (*self._pools, self._prefetch_pool)
        self._prefetch: dict[int, set[TileKey]] = {}
        self._pending: dict[TileKey, Pending] = {}
        self._wanted: dict[int, set[TileKey]] = {}
        self._results: queue.SimpleQueue[LoadResult] = queue.SimpleQueue()
        self._undrained: set[TileKey] = set()
        self._undrained_lock = threading.Lock()  # tiny critical sections: drain never waits long
        self._failed: dict[TileKey, tuple[float, int]] = {}
        self._retry_told: set[TileKey] = set()
        self._durations: dict[int, deque[float]] = {}
        self._no_auto_sync: set[int] = set()
        self._frame_sync_left = self._sync_budget_s
        self._framed = False  # begin_frame() was called: the budget is per frame
        self._closed = False
        log_path = self.config.log_path
        self._log_file: IO[str] | None = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if dispatch_thread:
            self._thread = threading.Thread(
                target=self._dispatch_loop, name="tilescope-loader-dispatch", daemon=True
            )
            self._thread.start()

    # -- public API (main thread) ---------------------------------------------
    @property
    def pools(self) -> tuple[LoaderPool, ...]:
        """The pools, by ascending level offset."""
        return self._pools

    def pool_for(self, level_offset: int) -> LoaderPool:
        """The pool with the largest level offset ``<= level_offset`` (the first for less)."""
        table = self._pool_table
        return table[min(max(level_offset, 0), len(table) - 1)]

    def set_wanted(self, layer_id: int, requests: Iterable[LoadRequest]) -> None:
        """Declare every tile ``layer_id`` wants now; cancel what it no longer wants.

        Called on the main thread, typically once per frame with the loads of
        the layer's coverage plan.  Returns quickly unless the layer loads
        synchronously (bounded by ``sync_budget_ms`` unless forced).
        """
        reqs = sorted(requests, key=lambda r: r.priority)
        self.set_wanted_keys(
            layer_id, [(r.key, r.level_offset, r.distance) for r in reqs], reqs.__getitem__
        )

    def set_wanted_keys(
        self,
        layer_id: int,
        wanted: Sequence[tuple[TileKey, int, float]],
        make_request: Callable[[int], LoadRequest],
    ) -> None:
        """:meth:`set_wanted` for ``(key, level_offset, distance)`` items in priority order.

        ``make_request(i)`` builds the request of ``wanted[i]``; it is called only
        for tiles that need a new load, so a frame whose wanted tiles are mostly
        already queued builds almost no request objects.
        """
        for key, _, _ in wanted:
            if key.layer_id != layer_id:
                raise ValueError(f"request for {key} passed to set_wanted({layer_id})")
        with self._lock:
            if self._closed:
                raise RuntimeError("this ChunkLoader is closed")
            now = self._clock()
            new_keys = {item[0] for item in wanted}
            prefetch = self._prefetch.get(layer_id, set())
            for key in self._wanted.get(layer_id, set()) - new_keys:
                if key in prefetch:
                    self._to_prefetch_locked(key, now)
                else:
                    self._cancel_locked(key)
            self._wanted[layer_id] = new_keys
            if self.force_synchronous:
                budget = math.inf
            else:
                budget = self._frame_sync_left if self._framed else self._sync_budget_s
            spent = 0.0
            queued = False
            pending_get = self._pending.get
            for i, (key, level_offset, distance) in enumerate(wanted):
                pending = pending_get(key)
                if pending is not None:
                    if pending.future is None:
                        queued |= self._requeue_locked(pending, level_offset, distance, now)
                    continue
                with self._undrained_lock:
                    undrained = key in self._undrained
                if undrained:
                    continue
                failed = self._failed.get(key)
                if failed is not None and now < failed[0]:
                    continue
                cached = self.cache.get(key)
                if cached is not None:
                    self._post(
                        LoadResult(key, "cached", cached, synchronous=True, nbytes=cached.nbytes)
                    )
                    continue
                req = make_request(i)
                if spent < budget and self._is_sync_locked(layer_id, level_offset):
                    spent += self._load_now_locked(req, layer_id)
                    continue
                pool = self.pool_for(level_offset)
                pending = Pending(req, layer_id, pool, now)
                # after a rest, a view's loads are due at once: the delay is for drags
                start = now - pool.queue.delay_s if self.no_delay else now
                pool.queue.push(key, pending, (level_offset, distance), start)
                self._pending[key] = pending
                queued = True
            if self._framed and not self.force_synchronous:
                self._frame_sync_left = max(self._frame_sync_left - spent, 0.0)
            if queued:  # only new work needs the dispatch thread (waking it costs the GIL)
                self._pump_locked(now)
                self._kick.set()

    def set_prefetch(self, layer_id: int, requests: Sequence[LoadRequest]) -> None:
        """Declare the tiles ``layer_id`` would like soon, most wanted first; cancel the
        prefetch it no longer wants (unless the tile is visibly wanted).

        Main thread. Tiles already cached, queued, running, undrained or failed recently are
        skipped (a cached one is marked recently used); the rest wait in the prefetch pool,
        in the given order. Never loads on the calling thread.
        """
        for req in requests:
            if req.key.layer_id != layer_id:
                raise ValueError(f"request for {req.key} passed to set_prefetch({layer_id})")
        with self._lock:
            if self._closed:
                raise RuntimeError("this ChunkLoader is closed")
            now = self._clock()
            new_keys = {r.key for r in requests}
            visible = self._wanted.get(layer_id, set())
            for key in self._prefetch.get(layer_id, set()) - new_keys:
                if key not in visible:
                    self._cancel_locked(key)
            self._prefetch[layer_id] = new_keys
            pool = self._prefetch_pool
            queued = False
            for i, req in enumerate(requests):
                key = req.key
                pending = self._pending.get(key)
                if pending is not None:
                    if pending.pool is pool and pending.future is None:
                        pool.queue.push(key, pending, (0, float(i)), now)
                    continue
                with self._undrained_lock:
                    if key in self._undrained:
                        continue
                failed = self._failed.get(key)
                if failed is not None and now < failed[0]:
                    continue
                if self.cache.get(key) is not None:
                    continue
                pending = Pending(req, layer_id, pool, now)
                pool.queue.push(key, pending, (0, float(i)), now)
                self._pending[key] = pending
                queued = True
            if queued:
                self._pump_locked(now)
                self._kick.set()

    def mean_load_s(self, layer_id: int) -> float | None:
        """The mean duration of ``layer_id``'s recent loads (None before any finished)."""
        with self._lock:
            samples = self._durations.get(layer_id)
            return sum(samples) / len(samples) if samples else None

    def cancel_layer(self, layer_id: int) -> None:
        """Cancel everything ``layer_id`` wanted (a removed layer or replaced data)."""
        with self._lock:
            prefetch = self._prefetch.pop(layer_id, set())
            for key in self._wanted.pop(layer_id, set()) | prefetch:
                self._cancel_locked(key)
            self._durations.pop(layer_id, None)
            self._no_auto_sync.discard(layer_id)

    def pump(self) -> int:
        """Submit due requests to free workers; returns how many were submitted."""
        with self._lock:
            if self._closed:
                return 0
            posted = self._finish_completed_locked()
            now = self._clock()
            self._expire_locked(now)  # without a dispatch thread, the owner's pump does it
            submitted = self._pump_locked(now)
        if posted:
            self._wake_main()
        return submitted

    def drain(self, max_items: int | None = None) -> list[LoadResult]:
        """Finished results posted since the last drain (oldest first).  Never blocks."""
        out: list[LoadResult] = []
        while max_items is None or len(out) < max_items:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                break
        if out:
            with self._undrained_lock:
                for r in out:
                    self._undrained.discard(r.key)
        return out

    def next_due_in(self) -> float | None:
        """Seconds until a delayed request becomes due (0 when one is due now; None: none)."""
        with self._lock:
            due = self._next_due_locked()
            return None if due is None else max(due - self._clock(), 0.0)

    def is_synchronous(self, layer_id: int, level_offset: int = 0) -> bool:
        """Whether ``layer_id``'s loads at ``level_offset`` currently run synchronously."""
        with self._lock:
            return self._is_sync_locked(layer_id, level_offset)

    def begin_frame(self) -> None:
        """Start a frame: the auto-sync budget (``sync_budget_ms``) is shared by every
        :meth:`set_wanted` call until the next ``begin_frame`` (all layers of one frame)."""
        with self._lock:
            self._framed = True
            self._frame_sync_left = self._sync_budget_s

    @contextmanager
    def frame(self) -> Iterator[None]:
        """One frame's calls (every layer's :meth:`set_wanted`, after :meth:`begin_frame`)
        in one hold of the lock; see :meth:`held`."""
        with self.held():
            self.begin_frame()
            yield

    @contextmanager
    def held(self) -> Iterator[None]:
        """Several calls from one thread in one hold of the lock (each call takes it again
        at no cost: it is reentrant). See the docs' "The main thread lets the GIL go as
        rarely as it can": each acquire that finds the lock taken costs the main thread a
        GIL hand-back. Finishing loads wait meanwhile, so keep user code out: the viewer sets
        statuses after, but a lazy layer's first frame still sets its estimated contrast
        limits inside (their callbacks run under the lock; one that waited for a load would
        wait out its timeout). Completions that found it taken are finished by the
        dispatch thread, woken as it is let go."""
        with self._lock:
            yield
        if self._dispatch_waiting:
            self._kick.set()

    def allow_auto_sync(self, layer_id: int, allowed: bool) -> None:
        """Whether ``layer_id``'s fast loads may run on the calling thread (auto-sync).

        Only data already in RAM should: the main thread never reads lazy data. Allowed by
        default; ``force_synchronous`` overrides it.
        """
        with self._lock:
            if allowed:
                self._no_auto_sync.discard(layer_id)
            else:
                self._no_auto_sync.add(layer_id)

    def retry(self, key: TileKey | None = None) -> None:
        """Forget a failure (or all failures) so the tile loads when next wanted."""
        with self._lock:
            if key is None:
                self._failed.clear()
            else:
                self._failed.pop(key, None)

    @property
    def stats(self) -> LoaderStats:
        """Current counts."""
        with self._lock:
            per_pool = tuple((p.level_offset, len(p.queue), len(p.running)) for p in self._pools)
            pf = self._prefetch_pool
            return LoaderStats(
                queued=sum(q for _, q, _ in per_pool),
                running=sum(r for _, _, r in per_pool),
                wanted=sum(len(v) for v in self._wanted.values()),
                failed=len(self._failed),
                undrained=self._undrained_count(),
                per_pool=per_pool,
                prefetch_queued=len(pf.queue),
                prefetch_running=len(pf.running),
                hung=sum(self._hung_layers.values()),
            )

    def close(self, wait: bool = False) -> None:
        """Cancel everything, shut the executors down (``cancel_futures=True``), stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for key in list(self._pending):
                self._cancel_locked(key)
            self._wanted.clear()
            self._prefetch.clear()
            self._kick.set()
        for pool in self._all_pools:
            pool.shutdown(wait=wait)
        if self._thread is not None:
            self._thread.join()
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> ChunkLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals (lock held unless said otherwise) -----------------------------
    def _is_sync_locked(self, layer_id: int, level_offset: int) -> bool:
        if self.force_synchronous:
            return True
        if layer_id in self._no_auto_sync:
            return False
        samples = self._durations.get(layer_id)
        if samples is None or len(samples) < AUTO_SYNC_MIN_SAMPLES:
            return False
        mean_ms = 1000.0 * sum(samples) / len(samples)
        return mean_ms < self.pool_for(level_offset).settings.auto_sync_ms

    def _record_duration(self, layer_id: int, seconds: float) -> None:
        samples = self._durations.get(layer_id)
        if samples is None:
            samples = self._durations[layer_id] = deque(maxlen=AUTO_SYNC_WINDOW)
        samples.append(seconds)

    def _next_due_locked(self) -> float | None:
        """When the next delayed request of a pool with a free worker becomes due."""
        # prefetch waits behind a due visible load: the end of a visible load wakes it
        pools = self._pools if self._visible_waiting_locked(self._clock()) else self._all_pools
        dues = [
            d
            for p in pools
            if p.free_workers > 0 and (d := p.queue.next_due(self._admit_locked(p))) is not None
        ]
        return min(dues, default=None)

    def _admit_locked(
        self, pool: LoaderPool, taken: dict[int, int] | None = None
    ) -> Callable[[Pending], bool] | None:
        """Which of ``pool``'s queued loads may start now (None: all): none of a layer whose
        hung reads hold its ``layer_cap``. With ``taken``, admitted loads are counted in it."""
        hung = self._hung_layers
        if not hung:
            return None
        cap = pool.layer_cap
        held = pool.by_layer

        def admit(pending: Pending) -> bool:
            layer = pending.layer_id
            if layer not in hung:
                return True
            extra = 0 if taken is None else taken.get(layer, 0)
            if held.get(layer, 0) + extra >= cap:
                return False
            if taken is not None:
                taken[layer] = extra + 1
            return True

        return admit

    def _requeue_locked(
        self, pending: Pending, level_offset: int, distance: float, now: float
    ) -> bool:
        """A queued request wanted again: update its priority, or move it to another pool
        (returns True then: the other pool may run it at once)."""
        key = pending.request.key
        pool = self.pool_for(level_offset)
        if pool is pending.pool:
            pool.queue.push(key, pending, (level_offset, distance), now)
            return False
        pending.pool.queue.cancel(key)
        moved = Pending(pending.request, pending.layer_id, pool, pending.queued_at)
        pool.queue.push(key, moved, (level_offset, distance), now)
        self._pending[key] = moved
        return True

    def _to_prefetch_locked(self, key: TileKey, now: float) -> None:
        """A tile no longer visibly wanted that prefetch still wants: a queued load moves to
        the prefetch pool (at its end), a running one keeps running."""
        pending = self._pending.get(key)
        if pending is None or pending.future is not None or pending.pool is self._prefetch_pool:
            return
        pending.pool.queue.cancel(key)
        moved = Pending(pending.request, pending.layer_id, self._prefetch_pool, pending.queued_at)
        self._prefetch_pool.queue.push(key, moved, (1, math.inf), now)
        self._pending[key] = moved

    def _cancel_locked(self, key: TileKey) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.future is None:
            pending.pool.queue.cancel(key)
            self._log(pending.pool, key, pending.queued_at, None, None, 0, "cancelled")
        else:
            pending.token.cancel()
            pending.future.cancel()  # succeeds only if the executor has not started it

    def _expire_locked(self, now: float) -> float | None:
        """Mark loads hung and abandon those past the timeout (see the module doc); returns
        the next time something here is due (None: nothing)."""
        timeout = self._timeout_s
        hung_after = self._hung_after_s
        if hung_after is None:
            return None
        nearest: float | None = None
        for pool in self._all_pools:
            for pending in (*pool.running, *pool.hung):
                started = pending.submitted_at
                future = pending.future
                if started is None or (future is not None and future.done()):
                    # done: the read returned in time and its completion waits for this lock
                    # (a worker's _finish behind a frame's hold); it is no timeout
                    continue
                if not pending.hung:  # cancelled or not: a hung read holds its thread
                    if now < started + hung_after:
                        nearest = _earliest(nearest, started + hung_after)
                        continue
                    self._mark_hung_locked(pending)
                if timeout is None or pending.token.cancelled:
                    continue
                deadline = started + timeout
                if now < deadline:
                    nearest = _earliest(nearest, deadline)
                    continue
                key = pending.request.key
                pending.token.cancel()  # it may stop between steps; if not, see below
                pending.timed_out = True
                if self._pending.get(key) is pending:
                    del self._pending[key]
                self._time_out_locked(
                    pending,
                    f"the read took longer than {timeout:g} s and was abandoned",
                    started,
                    now,
                )
        if self._hung_layers and timeout is not None:
            nearest = _earliest(nearest, self._expire_held_locked(now, timeout))
        return nearest

    def _mark_hung_locked(self, pending: Pending) -> None:
        """``pending`` runs past ``hung_after_s``: its layer is capped; its worker replaced."""
        pending.hung = True
        layer = pending.layer_id
        count(self._hung_layers, layer, 1)
        abandon = getattr(pending.executor, "abandon", None)
        if abandon is not None and pending.future is not None and abandon(pending.future):
            pending.pool.running.discard(pending)
            pending.pool.hung.add(pending)

    def _expire_held_locked(self, now: float, timeout: float) -> float | None:
        """Fail queued loads that waited ``timeout`` while hung reads of their own layer held
        its cap (they could not start); returns the next such deadline."""
        nearest: float | None = None
        for key, pending in list(self._pending.items()):
            layer = pending.layer_id
            if pending.future is not None or layer not in self._hung_layers:
                continue
            pool = pending.pool
            held = pool.by_layer.get(layer, 0)
            if held < pool.layer_cap:
                continue
            deadline = pending.queued_at + timeout
            if now < deadline:
                nearest = _earliest(nearest, deadline)
                continue
            pool.queue.cancel(key)
            del self._pending[key]
            self._time_out_locked(
                pending,
                f"the read could not start within {timeout:g} s: {held} earlier reads of "
                "this layer are still running (its data source seems to hang)",
                None,
                now,
            )
        return nearest

    def _time_out_locked(
        self, pending: Pending, why: str, started: float | None, now: float
    ) -> None:
        """A load that ran or waited too long: shown as failed, or dropped quietly if it is
        a prefetch nobody sees."""
        if not self._posts_locked(pending):
            self._log(
                pending.pool, pending.request.key, pending.queued_at, started, now, 0, "failed"
            )
            return
        self._fail(pending, TimeoutError(why), started, synchronous=False)

    def _pump_locked(self, now: float) -> int:
        # Hung and timed-out loads are handled by the dispatch thread (or pump()), never on
        # the main thread's set_wanted: replacing a hung worker starts a thread, and starting
        # a thread waits for the GIL.
        submitted = 0
        for pool in self._all_pools:
            if pool is self._prefetch_pool and self._visible_waiting_locked(now):
                break  # prefetch starts nothing while a visible load is due and waiting
            admit = self._admit_locked(pool, {})
            for pending in pool.queue.pop_ready(now, pool.free_workers, admit):
                key = pending.request.key
                cached = self.cache.peek(key)  # e.g. finished by an earlier, cancelled load
                if cached is not None:
                    del self._pending[key]
                    self._post(
                        LoadResult(key, "cached", cached, synchronous=False, nbytes=cached.nbytes)
                    )
                    continue
                self._submit_locked(pending)
                submitted += 1
        return submitted

    def _visible_waiting_locked(self, now: float) -> bool:
        """A visible load is due but not started (its pool's workers are all busy)."""
        for pool in self._pools:
            due = pool.queue.next_due(self._admit_locked(pool))
            if due is not None and due <= now:
                return True
        return False

    def _late_but_wanted_locked(self, pending: Pending) -> bool:
        """A read that was timed out (shown as failed) returned data after all, and its tile
        is still visibly wanted with no other load of it under way: it is posted, replacing
        the failure, rather than leaving the tile failed until its back-off ends."""
        key = pending.request.key
        return (
            pending.timed_out
            and key not in self._pending
            and key in self._wanted.get(pending.layer_id, ())
        )

    def _posts_locked(self, pending: Pending) -> bool:
        """Whether a finished load is posted: every visible one, a prefetch one only when
        its tile became visibly wanted meanwhile."""
        if pending.pool is not self._prefetch_pool:
            return True
        return pending.request.key in self._wanted.get(pending.layer_id, ())

    def _submit_locked(self, pending: Pending) -> None:
        pool = pending.pool
        try:
            pending.executor = pool.executor
            future = pending.executor.submit(
                execute, pending.request.read, pending.token, self._clock
            )
        except Exception as exc:  # no executor (bad config), shut down or broken underneath us
            self._pending.pop(pending.request.key, None)
            self._fail(pending, exc, None, synchronous=False)
            return
        pending.future = future
        pending.submitted_at = self._clock()
        pool.running.add(pending)
        count(pool.by_layer, pending.layer_id, 1)
        future.add_done_callback(functools.partial(self._on_done, pending))

    def _load_now_locked(self, req: LoadRequest, layer_id: int) -> float:
        """Load on the calling thread (force_synchronous / auto-sync); returns seconds spent."""
        queued = started = self._clock()
        try:
            data = np.asarray(req.read(CancelToken()))
        except Exception as exc:
            pending = Pending(req, layer_id, self.pool_for(req.level_offset), queued)
            self._fail(pending, exc, started, synchronous=True)
            return self._clock() - started
        finished = self._clock()
        self._record_duration(layer_id, finished - started)
        self._failed.pop(req.key, None)
        self.cache.put(req.key, data, pinned=req.pinned)
        result = LoadResult(
            req.key, "loaded", data, None, True, queued, started, finished, data.nbytes
        )
        self._log_result(self.pool_for(req.level_offset), result)
        self._post(result)
        return finished - started

    def _on_done(
        self, pending: Pending, future: Future[tuple[npt.NDArray[Any], float, float]]
    ) -> None:
        """Completion callback: runs on a worker thread (or wherever the future completed).

        The worker only try-takes the lock: a thread that blocks on it gets it back before
        the GIL and holds it while it waits for the GIL, stalling the main thread's next
        frame. Found taken (a frame holds it), the completion is queued for the dispatch
        thread, which the worker wakes. Without a dispatch thread nobody else would finish
        it (the owner may be waiting for its notify): the worker then waits for the lock.
        """
        self._completed.put((pending, future))
        if not self._lock.acquire(blocking=self._thread is None):
            self._kick.set()
            return
        try:
            posted = self._finish_completed_locked()
        finally:
            self._lock.release()
        if posted:
            self._wake_main()  # outside the lock: waking the main thread may let the GIL go

    def _finish_completed_locked(self) -> bool:
        """Account for every queued completion (lock held), then start the next loads on
        the workers they freed (one pump for the batch); whether one was posted (the
        caller wakes the main thread once it has let the lock go)."""
        posted = freed = False
        while True:
            try:
                pending, future = self._completed.get_nowait()
            except queue.Empty:
                break
            freed = True
            try:
                posted |= self._finish_locked(pending, future)
            except Exception as exc:  # never lost: anything unexpected is a failed result
                if not self._closed:
                    self._fail(pending, exc, None, synchronous=False, notify=False)
                    posted = True
            finally:
                # pending -> future -> its callback -> pending is a reference cycle: broken
                # here, the future (and the pixels or the traceback it holds) goes with its
                # last reference instead of waiting for a full garbage collection. Nothing
                # looks at a finished pending's future: it has left every queue, set, dict.
                pending.future = None
        if freed and not self._closed:
            # workers are free: start the next due loads, wake the dispatch thread
            self._pump_locked(self._clock())
            self._kick.set()
        return posted

    def _finish_locked(
        self, pending: Pending, future: Future[tuple[npt.NDArray[Any], float, float]]
    ) -> bool:
        """Account for a finished load, cache, post, log or fail it, in one hold of the
        lock: a tile is never between ``_pending`` and the cache or the undrained results,
        where a frame would find it nowhere and read it again. Whether a result was
        posted."""
        pool = pending.pool
        pool.running.discard(pending)
        pool.hung.discard(pending)
        count(pool.by_layer, pending.layer_id, -1)
        if pending.hung:  # it returned after all
            count(self._hung_layers, pending.layer_id, -1)
        if self._pending.get(pending.request.key) is pending:
            del self._pending[pending.request.key]
        if self._closed:
            return False
        return self._record_outcome_locked(pending, future)

    def _record_outcome_locked(
        self, pending: Pending, future: Future[tuple[npt.NDArray[Any], float, float]]
    ) -> bool:
        """Cache, post, log or fail a finished future (worker thread, lock held); whether a
        result was posted (the caller wakes the main thread for it, once the lock is let
        go)."""
        key = pending.request.key
        pool = pending.pool
        exc = None if future.cancelled() else future.exception()
        if exc is None and not future.cancelled():
            data, started, finished = future.result()
            self._record_duration(pending.layer_id, finished - started)
            self._failed.pop(key, None)  # a retry that worked: back to a clean slate
            self._retry_told.discard(key)
            self.cache.put(key, data, pinned=pending.request.pinned)
            if pending.token.cancelled and not self._late_but_wanted_locked(pending):
                # finished after it stopped being wanted: cached only
                self._log(pool, key, pending.queued_at, started, finished, data.nbytes, "discarded")
                return False
            if not self._posts_locked(pending):  # prefetched: cached for when the slider gets there
                self._log(
                    pool, key, pending.queued_at, started, finished, data.nbytes, "prefetched"
                )
                return False
            result = LoadResult(
                key, "loaded", data, None, False, pending.queued_at, started, finished, data.nbytes
            )
            self._log_result(pool, result)
            self._post(result, notify=False)
            return True
        if pending.token.cancelled:  # we cancelled it: dropped before it ran, or it stopped
            stopped_at = None if future.cancelled() else self._clock()
            self._log(pool, key, pending.queued_at, None, stopped_at, 0, "cancelled")
            return False
        if pending.pool is self._prefetch_pool:
            # A failed prefetch is dropped quietly; a tile that became visibly wanted while
            # it ran gets a read of its own now (it may have started before its source was
            # fixed), whose failure, if any, is shown.
            self._log(pool, key, pending.queued_at, None, self._clock(), 0, "failed")
            if self._posts_locked(pending) and key not in self._pending:
                self._queue_visible_locked(pending)
            return False
        # failed, or cancelled by someone else (a dask client shut down by its owner)
        self._fail(
            pending,
            exc if exc is not None else Cancelled("the executor cancelled the load"),
            None,
            synchronous=False,
            notify=False,
        )
        return True

    def _queue_visible_locked(self, pending: Pending) -> None:
        """Queue ``pending``'s request as a visible load, due now (a failed prefetch whose
        tile is visibly wanted)."""
        req = pending.request
        now = self._clock()
        pool = self.pool_for(req.level_offset)
        visible = Pending(req, pending.layer_id, pool, now)
        pool.queue.push(req.key, visible, req.priority, now - pool.queue.delay_s)
        self._pending[req.key] = visible
        self._pump_locked(now)
        self._kick.set()

    def _fail(
        self,
        pending: Pending,
        exc: BaseException,
        started: float | None,
        synchronous: bool,
        notify: bool = True,
    ) -> None:
        """Post a failed result and set the tile's back-off (lock held); a broken executor goes."""
        if isinstance(exc, BrokenExecutor) and pending.executor is not None:
            pending.pool.discard_executor(pending.executor)  # the retry gets a fresh one
        key = pending.request.key
        now = self._clock()
        attempts = self._failed.get(key, (0.0, 0))[1] + 1
        backoff = min(self._retry_after_s * 2 ** (attempts - 1), 60.0)
        self._failed[key] = (now + backoff, attempts)
        self._retry_told.discard(key)
        self._kick.set()  # the dispatch thread wakes the owner when it may retry
        error = ChunkLoadError(
            f"loading tile {key} failed: {type(exc).__name__}: {exc} "
            f"(attempt {attempts}; retried when wanted after {backoff:g} s, or call retry())"
        )
        error.__cause__ = exc
        result = LoadResult(
            key, "failed", None, error, synchronous, pending.queued_at, started, now, 0
        )
        self._log_result(pending.pool, result)
        self._post(result, notify)

    def _post(self, result: LoadResult, notify: bool = True) -> None:
        """Queue ``result`` for :meth:`drain`; ``notify``: wake the main thread for it now
        (False: the caller does, after letting the lock go)."""
        with self._undrained_lock:
            self._undrained.add(result.key)
        self._results.put(result)
        if notify:
            self._wake_main()

    def _wake_main(self) -> None:
        """Wake the main thread (the owner's ``notify``, if it gave one). Best with the lock
        let go: in a window the waker is a Qt call, which may let the GIL go."""
        if self._notify is not None:
            self._notify()

    def _undrained_count(self) -> int:
        with self._undrained_lock:
            return len(self._undrained)

    def _dispatch_loop(self) -> None:
        """Dispatch thread: finish queued completions, submit delayed requests when due,
        expire hung reads, tell the owner about retries; returns once the loader is closed."""
        while True:
            self._kick.clear()  # before the work: a kick from now on is seen by the wait
            # Only try-take the lock (see ``_kick``); taken, try again in a moment.
            if not self._lock.acquire(blocking=False):
                # a frame's hold() kicks as it lets go; other holds are short
                self._dispatch_waiting = True
                self._kick.wait(0.005)
                continue
            self._dispatch_waiting = False
            try:
                if self._closed:
                    return
                posted = self._finish_completed_locked()
                now = self._clock()
                self._pump_locked(now)
                due = self._next_due_locked()
                for deadline in (self._expire_locked(now), self._retry_due_locked(now)):
                    if deadline is not None:
                        due = deadline if due is None else min(due, deadline)
            finally:
                self._lock.release()
            if posted:
                self._wake_main()
            self._kick.wait(None if due is None else max(due - now, 0.001))

    def _retry_due_locked(self, now: float) -> float | None:
        """Tell the owner (``notify``) when a failed tile's back-off ends, so it asks again.

        Returns when the next back-off ends (None: no failure waits).
        """
        nearest: float | None = None
        woke = False
        self._retry_told.intersection_update(self._failed)
        for key, (retry_at, _) in self._failed.items():
            if key in self._retry_told:
                continue
            if retry_at <= now:
                self._retry_told.add(key)
                woke = True
            elif nearest is None or retry_at < nearest:
                nearest = retry_at
        if woke:
            self._wake_main()
        return nearest

    # -- log ----------------------------------------------------------------------
    def _log_result(self, pool: LoaderPool, result: LoadResult) -> None:
        self._log(
            pool,
            result.key,
            result.queued_at,
            result.started_at,
            result.finished_at,
            result.nbytes,
            result.outcome,
            result.synchronous,
            None if result.error is None else str(result.error),
        )

    def _log(
        self,
        pool: LoaderPool,
        key: TileKey,
        queued: float | None,
        started: float | None,
        finished: float | None,
        nbytes: int,
        outcome: str,
        synchronous: bool = False,
        error: str | None = None,
    ) -> None:
        """One JSON line per load: outcome loaded, failed, cancelled or discarded."""
        if self._log_file is None:
            return
        record = {
            "key": key.to_json(),
            "pool": pool.level_offset,
            "queued": queued,
            "started": started,
            "finished": finished,
            "bytes": nbytes,
            "outcome": outcome,
            "synchronous": synchronous,
            "error": error,
        }
        self._write_line(record)

    def _write_line(self, record: dict[str, Any]) -> None:
        line = json.dumps(record)
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()


def _earliest(a: float | None, b: float | None) -> float | None:
    """The earlier of two optional times."""
    if a is None:
        return b
    return a if b is None else min(a, b)
