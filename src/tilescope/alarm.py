"""Alarm: one thread that calls a function at each armed deadline (real time).

Arming never blocks the caller beyond a short lock, and no thread is started per deadline:
starting a thread waits for the GIL, a multi-millisecond main-thread stall while workers are
busy. What ``fire`` does must be quick and thread-safe (post to the main-thread queue).
Deadlines whose reason has passed fire harmlessly.

Threads: ``arm`` and ``close`` from any thread; ``fire`` runs on the alarm's thread.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

__all__ = ["Alarm"]


class Alarm:
    """Calls ``fire`` at every deadline passed to :meth:`arm` (see the module doc)."""

    def __init__(self, fire: Callable[[], object], name: str) -> None:
        self._fire = fire
        self._cond = threading.Condition()
        self._deadlines: list[float] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def arm(self, delay_s: float) -> None:
        """Call ``fire`` once, ``delay_s`` seconds from now."""
        with self._cond:
            heapq.heappush(self._deadlines, time.monotonic() + delay_s)
            self._cond.notify()

    def close(self) -> None:
        """Stop; deadlines not yet reached never fire."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._deadlines:
                    self._cond.wait()
                    continue
                left = self._deadlines[0] - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._deadlines)
                self._fire()
