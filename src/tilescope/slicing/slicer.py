"""LayerSlicer: runs slice tasks in workers so the main thread never waits on data.

One *stream* per layer (any hashable key). Submitting a task for a key supersedes the previous
one for that key: if it is still queued it is dropped, if it is running its cancel token is
set, and its result — should it still arrive — is dropped because its generation number is
stale. Results and errors reach the main thread only through
:class:`~tilescope.hop.MainThreadQueue`.

A task that runs longer than ``timeout_s`` is reported as failed, naming its ``label`` (its
worker is abandoned, a fresh one takes its place, and its late result is dropped); the next
submit for that key retries. Nothing is left pending forever. A superseded read that ignores
its token and keeps running is abandoned the same way once it has run ``timeout_s``, so hung
reads nobody wants any more cannot hold the workers other keys wait for.

One key never takes every worker: at most ``per_layer_limit`` of its tasks run at once
(superseded tasks that ignore their token and keep running count), and a key past its limit
waits its turn, latest request winning (:class:`~tilescope.slicing.workers.KeyedWorkers`).
``shutdown`` never waits for a running read: workers are daemon threads, abandoned ones exit
when their read returns, and their results are dropped.

Dask reads: :attr:`LayerSlicer.dask` is the one dask thread pool all workers compute on.

Threads: ``submit``, ``poll``, ``force_sync``, ``wait_until_idle`` and ``shutdown`` are called
on the main thread. ``_run`` runs in a worker. Callbacks run on the main thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tilescope.alarm import Alarm
from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.dask_support import DaskReads
from tilescope.errors import ConfigError, SliceError
from tilescope.hop import MainThreadQueue
from tilescope.slicing.workers import Job, KeyedWorkers

__all__ = ["LayerSlicer", "SliceStats"]

R = TypeVar("R")


@dataclass
class _Task(Generic[R]):
    generation: int
    token: CancelToken
    on_done: Callable[[R], None]
    on_error: Callable[[BaseException], None]
    submitted: float
    label: str
    job: Job | None = None
    started: float | None = None  # set by the worker when the read starts


@dataclass
class SliceStats:
    """Counters for tests and benchmarks."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    cancelled_queued: int = 0
    cancelled_running: int = 0
    stale_dropped: int = 0
    abandoned: int = 0  # superseded reads past the timeout whose worker was replaced
    sync: int = 0
    by_key: dict[Hashable, int] = field(default_factory=dict)


class LayerSlicer:
    """Owns the slicing executor and the latest-wins bookkeeping per layer."""

    def __init__(
        self,
        hop: MainThreadQueue,
        *,
        max_workers: int = 4,
        timeout_s: float = 60.0,
        per_layer_limit: int | None = None,
        dask_workers: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigError(f"slice workers must be a whole number >= 1, got {max_workers!r}")
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ConfigError(
                f"slice timeout must be a positive number of seconds, got {timeout_s!r}"
            )
        if per_layer_limit is None:
            per_layer_limit = math.ceil(max_workers / 2)
        if (
            isinstance(per_layer_limit, bool)
            or not isinstance(per_layer_limit, int)
            or not 1 <= per_layer_limit <= max_workers
        ):
            raise ConfigError(
                "the per-layer limit of running slice reads must be a whole number from 1 to "
                f"the number of workers ({max_workers}), got {per_layer_limit!r}"
            )
        self._hop = hop
        self._workers: KeyedWorkers | None = KeyedWorkers(
            max_workers, per_layer_limit, "tilescope-slice"
        )
        self.dask = DaskReads(dask_workers)
        self._timeout_s = timeout_s
        self._clock = clock
        self._tasks: dict[Hashable, _Task[Any]] = {}
        #: superseded tasks still running: past the timeout their worker is replaced too
        self._orphans: list[_Task[Any]] = []
        self._watchdog = Alarm(lambda: hop.post(self.poll), "tilescope-slice-watchdog")
        self._generation = 0
        self._sync_depth = 0
        self._closed = False
        self.stats = SliceStats()

    # ---- main thread -------------------------------------------------------------------
    @property
    def is_sync(self) -> bool:
        return self._sync_depth > 0

    @contextmanager
    def force_sync(self) -> Iterator[None]:
        """Within this block, ``submit`` runs tasks at once on the calling thread."""
        self._sync_depth += 1
        try:
            yield
        finally:
            self._sync_depth -= 1

    def pending(self) -> tuple[Hashable, ...]:
        """Keys whose latest task has not reported yet."""
        return tuple(self._tasks)

    def waiting(self) -> bool:
        """Whether a task waits for a busy worker (every worker, or its key's share of them,
        is taken); a task an idle worker is about to take does not count."""
        return self._workers is not None and self._workers.blocked()

    def submit(
        self,
        key: Hashable,
        task: Callable[[CancelToken], R],
        on_done: Callable[[R], None],
        on_error: Callable[[BaseException], None],
        *,
        label: str = "",
    ) -> int:
        """Run ``task(token)`` for ``key``, superseding the key's previous task.

        ``on_done(result)`` or ``on_error(exc)`` runs later on the main thread, only if this is
        still the key's latest task. ``label`` names the source in a timeout's message (e.g.
        ``"layer 'cells'"``). Returns the task's generation number.
        """
        if self._workers is None:
            raise RuntimeError("LayerSlicer is shut down")
        self._supersede(key)
        self._generation += 1
        gen = self._generation
        self.stats.submitted += 1
        self.stats.by_key[key] = self.stats.by_key.get(key, 0) + 1
        entry: _Task[R] = _Task(
            gen, CancelToken(), on_done, on_error, self._clock(), label or f"{key!r}"
        )
        self._tasks[key] = entry
        if self.is_sync:
            self.stats.sync += 1
            self._run(key, gen, entry.token, task)
            self._hop.drain()  # deliver now: the caller asked for synchronous slicing
            return gen
        entry.job, _ = self._workers.submit(key, lambda: self._start(entry, key, task))
        # Wake the main thread at the deadline even if nothing else happens, so a hung read
        # turns into a visible error instead of "loading" forever (armed again at start).
        self._watchdog.arm(self._timeout_s)
        return gen

    def cancel(self, key: Hashable) -> None:
        """Drop ``key``'s pending task (e.g. the layer was removed)."""
        self._supersede(key)

    def poll(self) -> None:
        """Fail tasks past ``timeout_s``. Called on each main-thread tick.

        A running read times out ``timeout_s`` after it *started* (so a layer queued behind
        other layers' hung reads is not blamed for them): it is abandoned and a fresh worker
        takes its place. A waiting read times out ``timeout_s`` after it was submitted only
        when its own layer's earlier reads hold its per-layer limit (its source hangs);
        otherwise it starts as soon as any worker is free, and workers are freed by the
        timeouts of the reads that hold them.
        """
        now = self._clock()
        workers = self._workers
        self._replace_hung_orphans(now)
        for key, entry in list(self._tasks.items()):
            job = entry.job
            if job is None or workers is None:
                continue
            started = entry.started
            if job.state == "running" and started is not None:
                if now - started < self._timeout_s:
                    continue
                workers.abandon(job)
                message = (
                    f"reading {entry.label} took longer than {self._timeout_s:g} s and was "
                    "abandoned; it is retried on the next change (check that data source)"
                )
            elif job.state == "waiting":
                held = workers.running(key)
                if now - entry.submitted < self._timeout_s or held < workers.per_key:
                    continue
                workers.cancel(job)
                message = (
                    f"{entry.label} could not start a read within {self._timeout_s:g} s: {held} "
                    "earlier reads of it are still running (its data source seems to hang); "
                    "it is retried on the next change"
                )
            else:
                continue
            del self._tasks[key]
            entry.token.cancel()
            self.stats.timed_out += 1
            entry.on_error(SliceError(message))

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Deliver results until no task is pending; False if ``timeout`` s passed first.

        For scripts and tests only: this blocks the calling (main) thread.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._hop.drain()
            self.poll()
            if not self._tasks:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._hop.wait_posted(min(0.05, left) if left is not None else 0.05)

    def shutdown(self) -> None:
        """Cancel everything and stop the workers without waiting for any running read.

        Idle workers exit at once; a worker still in a read exits when the read returns, and
        its result is dropped. Returns promptly whatever the reads do.
        """
        self._closed = True
        for key in list(self._tasks):
            self._supersede(key)
        if self._workers is not None:
            self._watchdog.close()
            self._workers.shutdown()
            self._workers = None
            self.dask.close()

    def _supersede(self, key: Hashable) -> None:
        entry = self._tasks.pop(key, None)
        if entry is None:
            return
        entry.token.cancel()
        if entry.job is not None and self._workers is not None and self._workers.cancel(entry.job):
            self.stats.cancelled_queued += 1
        else:
            self.stats.cancelled_running += 1
            if entry.job is not None:
                self._orphans.append(entry)  # told to stop; if it hangs, poll() frees its worker

    def _replace_hung_orphans(self, now: float) -> None:
        """A superseded read still running ``timeout_s`` after it started is abandoned: a
        fresh thread takes its worker's place, so reads that ignore their token and hang
        cannot hold workers that other keys are waiting for. (It still counts toward its
        own key's share until it returns.) Nobody is told: nobody wants its result."""
        workers = self._workers
        kept: list[_Task[Any]] = []
        for entry in self._orphans:
            job = entry.job
            if job is None or workers is None or job.state != "running" or job.abandoned:
                continue  # finished, never started, or already replaced
            if entry.started is not None and now - entry.started >= self._timeout_s:
                workers.abandon(job)
                self.stats.abandoned += 1
            else:
                kept.append(entry)
        self._orphans = kept

    def _finish(self, key: Hashable, gen: int, ok: bool, value: Any) -> None:
        entry = self._tasks.get(key)
        if entry is None or entry.generation != gen:
            self.stats.stale_dropped += 1
            return
        del self._tasks[key]
        if ok:
            self.stats.completed += 1
            entry.on_done(value)
        else:
            self.stats.failed += 1
            entry.on_error(value)

    # ---- worker ------------------------------------------------------------------------
    def _start(self, entry: _Task[Any], key: Hashable, task: Callable[[CancelToken], Any]) -> None:
        """Worker thread: note the start (its timeout counts from here), then run."""
        entry.started = self._clock()
        if not self._closed:
            self._watchdog.arm(self._timeout_s)
        self._run(key, entry.generation, entry.token, task)

    def _run(
        self, key: Hashable, gen: int, token: CancelToken, task: Callable[[CancelToken], Any]
    ) -> None:
        """Worker thread: run the task, post the outcome to the main thread."""
        if token.cancelled:
            return
        try:
            result = task(token)
        except Cancelled:
            return
        except Exception as e:  # any read failure becomes a visible error state, not a crash
            if not self._closed:
                self._hop.post(self._finish, key, gen, False, e)
            return
        if not token.cancelled and not self._closed:
            self._hop.post(self._finish, key, gen, True, result)
