"""Main-thread instrumentation: every main-thread task is timed.

A *task* is one uninterrupted piece of main-thread work: handling an event, applying a slice
result, uploading, drawing. The longest task is what a user feels as a freeze, so this is what
every benchmark reads (``viewer.perf``). With ``TILESCOPE_PERF_LOG=path`` each task is also
appended to ``path`` as one JSON line ``{"name", "start", "duration_ms", "thread"}``.

Tasks timed with :meth:`PerfMonitor.task` also record the main thread's own CPU time
(``time.thread_time``): a task whose wall time is long but whose CPU time is short was waiting
(for the GIL held by a worker, a lock, or a busy machine), not working. ``PerfStats.cpu`` and
``cpu_by_name`` give those figures.

Tasks named in :data:`IDLE_TASKS` run only after the user has rested (a deferred full garbage
collection, see ``collector.py``): they are in ``by_name`` and in ``PerfStats.idle``, and
left out of ``all``, whose figures are those of the interaction.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import numpy as np

__all__ = ["IDLE_TASKS", "PerfMonitor", "PerfStats", "TaskStats"]

#: Main-thread tasks that run only once the user rested (see the module doc).
IDLE_TASKS = frozenset({"collect_at_rest"})


@dataclass(frozen=True, slots=True)
class TaskStats:
    """Durations (ms) of one kind of task, or of all tasks."""

    count: int
    max_ms: float
    p99_ms: float
    mean_ms: float
    total_ms: float

    @classmethod
    def of(cls, durations_ms: list[float]) -> TaskStats:
        if not durations_ms:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        a = np.asarray(durations_ms)
        return cls(
            count=int(a.size),
            max_ms=float(a.max()),
            p99_ms=float(np.percentile(a, 99)),
            mean_ms=float(a.mean()),
            total_ms=float(a.sum()),
        )


@dataclass(frozen=True, slots=True)
class PerfStats:
    """A snapshot: the interaction's main-thread tasks together (``all``: every task but the
    idle ones), and every task per name."""

    all: TaskStats
    by_name: dict[str, TaskStats]
    #: The main thread's own CPU time per task (tasks timed by ``task()`` only).
    cpu: TaskStats = TaskStats(0, 0.0, 0.0, 0.0, 0.0)
    cpu_by_name: dict[str, TaskStats] = field(default_factory=dict)
    #: Tasks that ran only after the user rested (:data:`IDLE_TASKS`), together.
    idle: TaskStats = TaskStats(0, 0.0, 0.0, 0.0, 0.0)

    @property
    def max_ms(self) -> float:
        return self.all.max_ms

    @property
    def p99_ms(self) -> float:
        return self.all.p99_ms

    @property
    def count(self) -> int:
        return self.all.count

    def __str__(self) -> str:
        lines = [
            f"main thread: {self.all.count} tasks, max {self.all.max_ms:.2f} ms, "
            f"p99 {self.all.p99_ms:.2f} ms"
        ]
        if self.idle.count:
            lines.append(
                f"  (and {self.idle.count} idle tasks, run after the user rested: max "
                f"{self.idle.max_ms:.2f} ms)"
            )
        for name, s in sorted(self.by_name.items()):
            lines.append(
                f"  {name:<16} n={s.count:<6} max {s.max_ms:8.2f} ms  p99 {s.p99_ms:8.2f} ms"
            )
        return "\n".join(lines)


class PerfMonitor:
    """Times main-thread tasks. Nested tasks count once, as the outermost task."""

    def __init__(
        self,
        log_path: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._durations: defaultdict[str, list[float]] = defaultdict(list)
        self._cpu: defaultdict[str, list[float]] = defaultdict(list)
        self._depth = 0
        self._lock = threading.Lock()
        path = log_path if log_path is not None else os.environ.get("TILESCOPE_PERF_LOG")
        self._log: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    @contextmanager
    def task(self, name: str) -> Iterator[None]:
        """Time the enclosed main-thread work as one task called ``name``."""
        if self._depth:
            yield
            return
        self._depth += 1
        start = self._clock()
        cpu_start = self._cpu_clock()
        try:
            yield
        finally:
            self._depth -= 1
            cpu_ms = (self._cpu_clock() - cpu_start) * 1000.0
            self.record(name, start, (self._clock() - start) * 1000.0, cpu_ms)

    def record(
        self, name: str, start: float, duration_ms: float, cpu_ms: float | None = None
    ) -> None:
        """Record one task measured elsewhere (``cpu_ms``: the main thread's own CPU time in
        it, where the caller measured that)."""
        with self._lock:
            self._durations[name].append(duration_ms)
            if cpu_ms is not None:
                self._cpu[name].append(cpu_ms)
            if self._log is not None:
                self._log.write(
                    json.dumps(
                        {
                            "name": name,
                            "start": start,
                            "duration_ms": round(duration_ms, 4),
                            "cpu_ms": None if cpu_ms is None else round(cpu_ms, 4),
                            "thread": threading.current_thread().name,
                        }
                    )
                    + "\n"
                )
                self._log.flush()

    def stats(self) -> PerfStats:
        with self._lock:
            per = {k: list(v) for k, v in self._durations.items()}
            cpu = {k: list(v) for k, v in self._cpu.items()}
        busy = [d for k, v in per.items() if k not in IDLE_TASKS for d in v]
        return PerfStats(
            TaskStats.of(busy),
            {k: TaskStats.of(v) for k, v in per.items()},
            TaskStats.of([d for k, v in cpu.items() if k not in IDLE_TASKS for d in v]),
            {k: TaskStats.of(v) for k, v in cpu.items()},
            TaskStats.of([d for k, v in per.items() if k in IDLE_TASKS for d in v]),
        )

    def reset(self) -> None:
        with self._lock:
            self._durations.clear()
            self._cpu.clear()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
