"""The one place where work crosses from worker threads to the main thread.

Workers never touch models or the GPU. They call :meth:`MainThreadQueue.post` with a callback;
the main thread runs the callbacks in :meth:`MainThreadQueue.drain`. Who calls ``drain`` depends
on the host: the Qt window installs a *waker* (:meth:`set_waker`) that schedules a drain on the
Qt event loop whenever something is posted; scripts and tests with no event loop drain
explicitly (``Viewer.screenshot`` and ``wait_until_idle`` do it for them).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MainThreadQueue"]


class MainThreadQueue:
    """A thread-safe FIFO of callbacks that the main thread runs.

    ``post`` is safe from any thread and never blocks. ``drain`` must be called on the thread
    that created the queue (the main thread) and runs callbacks until the queue is empty or the
    time budget is spent, so one burst of results can never stall a frame for long.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._owner = threading.get_ident()
        self._waker: Callable[[], None] | None = None
        self._posted = threading.Event()

    @property
    def owner_thread(self) -> int:
        """Identity of the main thread, the only one allowed to drain."""
        return self._owner

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        """Install a thread-safe hook called after each ``post`` (e.g. a queued Qt signal)."""
        self._waker = waker

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the main thread. Called from any thread."""
        self._queue.put((fn, args))
        self._posted.set()
        waker = self._waker
        if waker is not None:
            waker()

    def empty(self) -> bool:
        return self._queue.empty()

    def wait_posted(self, timeout: float) -> bool:
        """Block until something is posted (or ``timeout`` s pass); for script-side waits only."""
        got = self._posted.wait(timeout)
        self._posted.clear()
        return got or not self._queue.empty()

    def drain(self, budget_s: float | None = None) -> int:
        """Run posted callbacks on the main thread; return how many ran.

        With ``budget_s`` set, stop once that much time is spent (the rest waits for the next
        drain). An exception in one callback propagates after the callbacks before it ran; the
        rest stay queued. Whenever a drain stops with callbacks left, for either reason, the
        waker is asked for another drain soon.
        """
        if threading.get_ident() != self._owner:
            raise RuntimeError("MainThreadQueue.drain must be called on the main thread")
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        ran = 0
        try:
            while True:
                try:
                    fn, args = self._queue.get_nowait()
                except queue.Empty:
                    return ran
                fn(*args)
                ran += 1
                if deadline is not None and time.perf_counter() >= deadline:
                    return ran
        finally:
            if self._waker is not None and not self._queue.empty():
                self._waker()
