"""A thread-pool executor whose threads never hold up ``close()`` or interpreter exit.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit, so one read
that never returns (a hung network mount, a stalled HTTP server) keeps the process alive
forever, and ``shutdown(wait=True)`` blocks on it. :class:`DaemonExecutor` runs work on daemon
threads instead: ``shutdown`` drops queued work, lets idle threads exit, waits a moment for
them only (never for a running task) and returns. A task still running finishes on its own
and its thread then exits.

A task that hangs would otherwise also shrink the pool for good. :meth:`DaemonExecutor.abandon`
gives up on one (the owner decided it is hung), and with ``stuck_after_s`` the executor does so
itself for any task running that long when new work arrives: a fresh thread takes the hung
one's place at once, and the hung thread exits when (if ever) its task returns. The task's
future still completes then. Threads only grow by the tasks that hang.

Threads are started by a short-lived helper, never by the caller: ``Thread.start()`` blocks
until the new thread runs, a GIL hand-off that cost a busy main thread about 1 ms per thread
(a tile pool's 10 workers, first used inside a frame, made that frame 11 ms longer in the
fault-injection soak). Work submitted meanwhile waits in the queue for them.

Threads: ``submit``, ``abandon`` and ``shutdown`` are safe from any thread.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

from tilescope.data.priority import lower_thread_priority

__all__ = ["DaemonExecutor"]

P = ParamSpec("P")
T = TypeVar("T")

#: How long ``shutdown`` waits for idle threads to exit (running ones are never waited for).
IDLE_EXIT_WAIT_S = 0.2


class _Starter:
    """Starts threads for whoever asks, on a helper thread, so that the asker never waits.

    The helper is a bare ``_thread`` thread (``threading.Thread.start`` would make the asker
    wait for it in turn); it runs while requests are queued, then exits. It starts
    ``threading.Thread`` objects, which need nothing of the thread that starts them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Callable[[], None]] = deque()
        self._running = False

    def request(self, start: Callable[[], None]) -> None:
        with self._lock:
            self._queue.append(start)
            if self._running:
                return
            self._running = True
        try:
            _thread.start_new_thread(self._run, ())
        except BaseException:
            with self._lock:  # the asker sees the error: its request must not run later
                self._queue.remove(start)
                self._running = False
            raise

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                start = self._queue.popleft()
            start()  # never raises (see DaemonExecutor._spawn_one)


_STARTER = _Starter()


class DaemonExecutor(Executor):
    """A fixed number of daemon worker threads, all asked for at construction (and started
    on a helper thread, see the module doc).

    Starting every thread up front avoids starting one on demand while workers hold the GIL;
    only a hung task's replacement is started later.

    Parameters
    ----------
    max_workers
        Threads that run work (hung tasks given up on do not count).
    thread_name_prefix
        Threads are named ``{prefix}_{n}``.
    stuck_after_s
        A task running at least this long when work is submitted is abandoned (see the module
        doc). ``None``: only :meth:`abandon` does that.
    clock
        Monotonic seconds, for ``stuck_after_s`` (tests inject a fake clock).
    """

    def __init__(
        self,
        max_workers: int,
        thread_name_prefix: str,
        *,
        stuck_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if stuck_after_s is not None and not stuck_after_s > 0:
            raise ValueError(f"stuck_after_s must be > 0 or None, got {stuck_after_s!r}")
        self._max_workers = max_workers  # read by dask's threaded scheduler
        self._prefix = thread_name_prefix
        self._stuck_after_s = stuck_after_s
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._closed = False
        #: busy thread -> (the future it runs, when it started)
        self._busy: dict[threading.Thread, tuple[Future[Any], float]] = {}
        self._retiring: set[threading.Thread] = set()
        self._threads: list[threading.Thread] = []
        self._spawned = 0
        self._starting = 0  # asked of the starter, not started yet
        self._start_error: BaseException | None = None
        #: Hung tasks given up on so far (each got a replacement thread).
        self.abandoned = 0
        with self._cond:
            for _ in range(max_workers):
                self._start_later_locked()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            if self._start_error is not None and not self._threads and not self._starting:
                raise RuntimeError(
                    f"no worker thread could be started: {self._start_error}"
                ) from self._start_error
            if self._stuck_after_s is not None and self._busy:
                limit = self._clock() - self._stuck_after_s
                for thread, (_, started) in list(self._busy.items()):
                    if started <= limit and thread not in self._retiring:
                        self._retire_locked(thread)
            self._queue.append((future, lambda: fn(*args, **kwargs)))
            self._cond.notify()
        return future

    def abandon(self, future: Future[Any]) -> bool:
        """Give up on ``future``'s running task: a fresh thread takes its place now.

        Returns False when ``future`` is not running here (not started, finished, already
        abandoned). The task itself is not interrupted; its future completes when it returns.
        """
        with self._cond:
            for thread, (running, _) in self._busy.items():
                if running is future and thread not in self._retiring:
                    self._retire_locked(thread)
                    return True
        return False

    @property
    def threads(self) -> int:
        """Threads alive or starting, hung ones included."""
        with self._cond:
            return len(self._threads) + self._starting

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; queued work is cancelled. Never waits for a running task.

        ``wait`` only waits (briefly) for the idle threads to exit, and for those whose task
        has finished (its future is done: its caller may already be here) but that have
        not yet left it; ``cancel_futures`` is implied (queued work would otherwise never
        run).
        """
        with self._cond:
            self._closed = True
            dropped = list(self._queue)
            self._queue.clear()
            idle = [t for t in self._threads if t not in self._busy or self._busy[t][0].done()]
            self._cond.notify_all()
        for future, _ in dropped:
            future.cancel()
        if wait:
            deadline = time.monotonic() + IDLE_EXIT_WAIT_S
            for t in idle:
                t.join(max(0.0, deadline - time.monotonic()))

    def _start_later_locked(self) -> None:
        """One more worker thread, started by the starter (see the module doc)."""
        self._starting += 1
        try:
            _STARTER.request(self._spawn_one)
        except BaseException:
            self._starting -= 1
            raise

    def _spawn_one(self) -> None:
        """On the starter's thread: start one worker, unless shut down meanwhile. A thread
        that cannot start fails the queued work if no worker is left to run it."""
        dropped: list[Future[Any]] = []
        error: BaseException | None = None
        with self._cond:
            self._starting -= 1
            if self._closed:
                return
            thread = threading.Thread(
                target=self._loop, name=f"{self._prefix}_{self._spawned}", daemon=True
            )
            try:
                thread.start()
            except BaseException as e:  # e.g. "can't start new thread": out of resources
                self._start_error = error = e
                if not self._threads and not self._starting:
                    dropped = [future for future, _ in self._queue]
                    self._queue.clear()
            else:
                self._spawned += 1
                self._threads.append(thread)
        for future in dropped:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError(f"no worker thread could be started: {error}"))

    def _retire_locked(self, thread: threading.Thread) -> None:
        """``thread``'s task hangs: it exits after the task; a new thread replaces it now."""
        self._retiring.add(thread)
        self.abandoned += 1
        if not self._closed:
            self._start_later_locked()

    def _loop(self) -> None:
        me = threading.current_thread()
        lower_thread_priority()  # the main thread comes first for a core
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    self._threads.remove(me)
                    return
                future, work = self._queue.popleft()
                self._busy[me] = (future, self._clock())
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
                    del self._busy[me]
                    retired = me in self._retiring
                    if retired:  # replaced while it hung: the pool has its full count
                        self._retiring.discard(me)
                        self._threads.remove(me)
            del future, work
            if retired:
                return
