"""A thread-pool executor whose threads never hold up ``close()`` or interpreter exit.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit, so one read
that never returns (a hung network mount, a stalled HTTP server) keeps the process alive
forever, and ``shutdown(wait=True)`` blocks on it. :class:`DaemonExecutor` runs work on daemon
threads instead: ``shutdown`` drops queued work, lets idle threads exit, waits a moment for
them only (never for a running task) and returns. A task still running finishes on its own
and its thread then exits.

Threads: ``submit`` and ``shutdown`` are safe from any thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = ["DaemonExecutor"]

P = ParamSpec("P")
T = TypeVar("T")

#: How long ``shutdown`` waits for idle threads to exit (running ones are never waited for).
IDLE_EXIT_WAIT_S = 0.2


class DaemonExecutor(Executor):
    """A fixed number of daemon worker threads, all started at construction.

    Starting every thread up front avoids starting one on demand while workers hold the GIL
    (a multi-millisecond stall for the submitting main thread).
    """

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self._max_workers = max_workers  # read by dask's threaded scheduler
        self._cond = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._closed = False
        self._busy: set[threading.Thread] = set()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{thread_name_prefix}_{i}", daemon=True)
            for i in range(max_workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.append((future, lambda: fn(*args, **kwargs)))
            self._cond.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; queued work is cancelled. Never waits for a running task.

        ``wait`` only waits (briefly) for the idle threads to exit; ``cancel_futures`` is
        implied (queued work would otherwise never run).
        """
        with self._cond:
            self._closed = True
            dropped = list(self._queue)
            self._queue.clear()
            idle = [t for t in self._threads if t not in self._busy]
            self._cond.notify_all()
        for future, _ in dropped:
            future.cancel()
        if wait:
            deadline = time.monotonic() + IDLE_EXIT_WAIT_S
            for t in idle:
                t.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                future, work = self._queue.popleft()
                self._busy.add(me)
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = work()
                    except BaseException as e:  # delivered to whoever waits on the future
                        future.set_exception(e)
                    else:
                        future.set_result(result)
            finally:
                with self._cond:
                    self._busy.discard(me)
            del future, work
