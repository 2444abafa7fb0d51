"""DelayQueue: requests wait a little before they start, and leave for free.

During fast camera motion most tiles come into view and leave again within a
fraction of a second.  Holding each request for ``delay_s`` first means those
never reach a worker: cancelling a request still in the queue costs nothing.
Requests that become due are released in priority order (smallest first).

The queue is a passive data structure with an injectable clock (``clock=``,
default ``time.monotonic``); every method also takes an explicit ``now`` (the
loader passes its own clock's time), so tests drive it with a
:class:`FakeClock` and no sleeping.  Not thread-safe on its own; the loader
holds its lock around every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Clock", "DelayQueue", "FakeClock"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: Seconds from an arbitrary origin, monotonic (``time.monotonic``).
Clock = Callable[[], float]


@dataclass(slots=True)
class _Entry(Generic[T]):
    due: float
    priority: tuple[int, float]
    seq: int
    item: T


class DelayQueue(Generic[K, T]):
    """Items keyed by ``K`` that become ready ``delay_s`` after they were pushed."""

    __slots__ = ("_entries", "_seq", "clock", "delay_s")

    def __init__(self, delay_s: float, clock: Clock = time.monotonic) -> None:
        if delay_s < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay_s}")
        self.delay_s = delay_s
        self.clock = clock
        self._entries: dict[K, _Entry[T]] = {}
        self._seq = 0

    def push(self, key: K, item: T, priority: tuple[int, float], now: float | None = None) -> None:
        """Queue ``item``; pushing a queued key again updates its item and priority only.

        The due time of an already-queued key is kept: re-requesting a tile every
        frame must not postpone it forever.
        """
        entry = self._entries.get(key)
        if entry is not None:
            entry.item = item
            entry.priority = priority
            return
        self._seq += 1
        start = self.clock() if now is None else now
        self._entries[key] = _Entry(start + self.delay_s, priority, self._seq, item)

    def cancel(self, key: K) -> T | None:
        """Remove a queued key; returns its item, or ``None`` when it was not queued."""
        entry = self._entries.pop(key, None)
        return None if entry is None else entry.item

    def pop_ready(
        self,
        now: float | None = None,
        limit: int | None = None,
        admit: Callable[[T], bool] | None = None,
    ) -> list[T]:
        """Remove and return up to ``limit`` items due at ``now``, by priority then age.

        With ``admit``, it is asked about each due item in that order and the items it
        refuses stay queued (it may count what it admitted, e.g. per owner).
        """
        if limit is not None and limit <= 0:
            return []
        if now is None:
            now = self.clock()
        due = [(e.priority, e.seq, k) for k, e in self._entries.items() if e.due <= now]
        due.sort()
        if admit is None:
            if limit is not None:
                due = due[:limit]
            return [self._entries.pop(k).item for _, _, k in due]
        out: list[T] = []
        for _, _, k in due:
            if limit is not None and len(out) >= limit:
                break
            if admit(self._entries[k].item):
                out.append(self._entries.pop(k).item)
        return out

    def next_due(self, admit: Callable[[T], bool] | None = None) -> float | None:
        """The earliest due time among queued items (``None`` when empty); with ``admit``,
        among the items it accepts only."""
        if admit is None:
            return min((e.due for e in self._entries.values()), default=None)
        return min((e.due for e in self._entries.values() if admit(e.item)), default=None)

    def due_time(self, key: K) -> float | None:
        """When ``key`` becomes due (``None`` when not queued)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.due

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))


class FakeClock:
    """A manually advanced clock for deterministic tests (thread-safe reads)."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds
        return self.now
