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

__all__ = ["Alarm", "QuietTimer"]


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


class QuietTimer:
    """Tells when nothing has happened for ``quiet_s``, with one armed delay per quiet
    period however often things happen. ``arm(delay_s)`` must call :meth:`expired` after
    ``delay_s`` (an :class:`Alarm` posting to the owner's thread). Not thread-safe: the
    owner calls everything from one thread."""

    def __init__(
        self,
        arm: Callable[[float], object],
        quiet_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._arm = arm
        self._quiet_s = quiet_s
        self._clock = clock
        self._last = -float("inf")
        self._armed = False

    def touch(self) -> None:
        """Something happened: the quiet period starts over."""
        self._last = self._clock()
        self.arm_soon()

    def arm_soon(self) -> None:
        """Have :meth:`expired` called once the quiet period ends (at once if it has),
        unless a call is already coming."""
        if not self._armed:
            self._armed = True
            self._arm(max(self._last + self._quiet_s - self._clock(), 0.0))

    def expired(self) -> bool:
        """The armed delay passed: True if the quiet period is over; if something happened
        meanwhile, False and armed again for the rest of the period."""
        self._armed = False
        left = self._last + self._quiet_s - self._clock()
        if left > 0:
            self._armed = True
            self._arm(left)
            return False
        return True
