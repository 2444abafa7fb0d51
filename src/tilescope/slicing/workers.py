"""Daemon worker threads shared by keys (layers), with a bound on each key's running jobs.

Why: a read that ignores its cancel token keeps its worker until it returns, and a layer whose
source hangs produces one such read per change. Without a bound, a few changes of one hung
layer occupy every worker and every other layer stalls behind it (and then times out,
blaming the wrong source). Here:

- at most ``per_key`` jobs of one key run at once (superseded ones still running count);
- a key has at most one *waiting* job: a newer one replaces it (latest wins);
- waiting jobs start in submission order, skipping keys at their bound;
- :meth:`KeyedWorkers.abandon` gives up on a running job (it timed out): a fresh thread takes
  its place, so abandoned jobs never shrink the pool, and the old thread exits once its job
  returns;
- :meth:`KeyedWorkers.shutdown` never waits for a running job; threads are daemons.

Threads: every method is safe from any thread; jobs run on the worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal

from tilescope.data.priority import lower_thread_priority

__all__ = ["Job", "KeyedWorkers"]

JobState = Literal["waiting", "running", "done", "cancelled"]

#: How long ``shutdown`` waits for idle threads to exit (running ones are never waited for).
IDLE_EXIT_WAIT_S = 0.2


@dataclass(eq=False)
class Job:
    """One unit of work for ``key``; ``state`` is guarded by the pool's lock."""

    key: Hashable
    fn: Callable[[], None] = field(repr=False)
    state: JobState = "waiting"
    abandoned: bool = False


class KeyedWorkers:
    """``workers`` daemon threads; each key runs at most ``per_key`` jobs at once."""

    def __init__(self, workers: int, per_key: int, name: str) -> None:
        self._per_key = per_key
        self._name = name
        self._cond = threading.Condition()
        self._waiting: dict[Hashable, Job] = {}  # insertion order: submission order
        self._running: dict[Hashable, int] = {}
        self._idle: set[threading.Thread] = set()
        self._closed = False
        self._spawned = 0
        ready = threading.Barrier(workers + 1)
        for _ in range(workers):
            self._spawn(ready)
        ready.wait()  # every worker is up: none starts on demand during a drag

    @property
    def per_key(self) -> int:
        return self._per_key

    def submit(self, key: Hashable, fn: Callable[[], None]) -> tuple[Job, Job | None]:
        """Queue ``fn`` for ``key``; returns the job and the waiting job it replaced."""
        job = Job(key, fn)
        with self._cond:
            if self._closed:
                raise RuntimeError("the workers are shut down")
            replaced = self._waiting.pop(key, None)
            if replaced is not None:
                replaced.state = "cancelled"
            self._waiting[key] = job
            self._cond.notify()  # one idle worker is enough (waking all costs GIL handoffs)
        return job, replaced

    def cancel(self, job: Job) -> bool:
        """Drop ``job`` if it has not started; True if it was dropped."""
        with self._cond:
            if job.state != "waiting":
                return False
            job.state = "cancelled"
            if self._waiting.get(job.key) is job:
                del self._waiting[job.key]
            return True

    def abandon(self, job: Job) -> None:
        """Stop counting on a running ``job`` (timed out): another thread takes its place."""
        with self._cond:
            if job.state != "running" or job.abandoned or self._closed:
                return
            job.abandoned = True
        self._spawn(None)

    def blocked(self) -> bool:
        """Whether a waiting job cannot start now: its key's share of the workers is busy,
        or more jobs could start than threads are idle (one just submitted, with a thread
        idle to take it, is not blocked)."""
        with self._cond:
            startable = 0
            for key in self._waiting:
                if self._running.get(key, 0) >= self._per_key:
                    return True
                startable += 1
            return startable > len(self._idle)

    def running(self, key: Hashable) -> int:
        """How many of ``key``'s jobs run now (abandoned ones included)."""
        with self._cond:
            return self._running.get(key, 0)

    def shutdown(self) -> None:
        """Drop waiting jobs and let idle threads exit; never waits for a running job."""
        with self._cond:
            self._closed = True
            for job in self._waiting.values():
                job.state = "cancelled"
            self._waiting.clear()
            idle = list(self._idle)
            self._cond.notify_all()
        deadline = time.monotonic() + IDLE_EXIT_WAIT_S
        for t in idle:
            t.join(max(0.0, deadline - time.monotonic()))

    # ---- worker threads ----------------------------------------------------------------
    def _spawn(self, ready: threading.Barrier | None) -> None:
        with self._cond:
            self._spawned += 1
            n = self._spawned
        t = threading.Thread(
            target=self._loop, args=(ready,), name=f"{self._name}_{n - 1}", daemon=True
        )
        t.start()

    def _next_locked(self) -> Job | None:
        for key, job in self._waiting.items():
            if self._running.get(key, 0) < self._per_key:
                del self._waiting[key]
                return job
        return None

    def _loop(self, ready: threading.Barrier | None) -> None:
        me = threading.current_thread()
        lower_thread_priority()  # the main thread comes first for a core
        if ready is not None:
            ready.wait()
        while True:
            with self._cond:
                self._idle.add(me)
                job = self._next_locked()
                while job is None and not self._closed:
                    self._cond.wait()
                    job = self._next_locked()
                self._idle.discard(me)
                if job is None:
                    return
                job.state = "running"
                self._running[job.key] = self._running.get(job.key, 0) + 1
            try:
                job.fn()
            finally:
                with self._cond:
                    job.state = "done"
                    left = self._running[job.key] - 1
                    if left:
                        self._running[job.key] = left
                    else:
                        del self._running[job.key]
                    if job.abandoned:
                        # this thread exits; a waiting job of this key may start now
                        self._cond.notify()
            if job.abandoned:
                return  # a replacement thread took this one's place
            # otherwise this thread looks for the next job itself (no one else to wake)
