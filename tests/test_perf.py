"""Main-thread task timing, with a fake clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tilescope.perf import PerfMonitor


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_tasks_are_timed_and_nested_tasks_count_once() -> None:
    clock = FakeClock()
    perf = PerfMonitor(clock=clock)
    with perf.task("draw"):
        clock.t += 0.004
        with perf.task("upload"):  # nested: part of draw
            clock.t += 0.002
    with perf.task("event"):
        clock.t += 0.001
    s = perf.stats()
    assert s.count == 2
    assert s.max_ms == pytest.approx(6.0)
    assert set(s.by_name) == {"draw", "event"}
    assert s.by_name["event"].max_ms == pytest.approx(1.0)
    assert "max 6.00 ms" in str(s)


def test_p99_over_many_tasks() -> None:
    clock = FakeClock()
    perf = PerfMonitor(clock=clock)
    for i in range(100):
        with perf.task("t"):
            clock.t += 0.001 * (50 if i == 7 else 1)
    s = perf.stats()
    assert s.max_ms == pytest.approx(50.0)
    assert 1.0 <= s.p99_ms <= 50.0
    perf.reset()
    assert perf.stats().count == 0


def test_perf_log_writes_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "perf.jsonl"
    monkeypatch.setenv("TILESCOPE_PERF_LOG", str(log))
    clock = FakeClock()
    cpu = [0.0]
    perf = PerfMonitor(clock=clock, cpu_clock=lambda: cpu[0])
    with perf.task("slice"):
        clock.t += 0.0125
        cpu[0] += 0.003
    perf.record("paint", 1.0, 4.0)  # measured elsewhere, without CPU time
    perf.close()
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first["name"] == "slice"
    assert first["duration_ms"] == pytest.approx(12.5)
    assert first["cpu_ms"] == pytest.approx(3.0)  # a long task with little CPU: it waited
    assert second["name"] == "paint"
    assert second["cpu_ms"] is None


def test_cpu_time_shows_when_a_task_was_waiting_rather_than_working() -> None:
    """A task blocked (on a lock, the GIL, a busy CPU) has a long wall time and little CPU
    time of its own: the per-task CPU figures tell a slow handler from a starved one."""
    cpu = [0.0]
    wall = FakeClock()
    perf = PerfMonitor(clock=wall, cpu_clock=lambda: cpu[0])
    with perf.task("starved"):
        wall.t += 0.050  # 50 ms wall
        cpu[0] += 0.002  # 2 ms of its own work
    with perf.task("busy"):
        wall.t += 0.010
        cpu[0] += 0.010
    stats = perf.stats()
    assert stats.by_name["starved"].max_ms == pytest.approx(50.0)
    assert stats.cpu_by_name["starved"].max_ms == pytest.approx(2.0)
    assert stats.cpu_by_name["busy"].max_ms == pytest.approx(10.0)
    assert stats.cpu.max_ms == pytest.approx(10.0)


def test_idle_tasks_are_reported_apart_from_the_interaction() -> None:
    clock = FakeClock()
    perf = PerfMonitor(clock=clock)
    with perf.task("view_changed"):
        clock.t += 0.003
    perf.record("collect_at_rest", clock.t, 40.0, 38.0)  # a deferred full collection, at rest
    s = perf.stats()
    assert s.cpu_by_name["collect_at_rest"].max_ms == pytest.approx(38.0)
    assert s.cpu.count == 1  # the interaction's CPU figures leave it out too
    assert s.max_ms == pytest.approx(3.0)
    assert s.count == 1
    assert s.idle.count == 1
    assert s.idle.max_ms == pytest.approx(40.0)
    assert s.by_name["collect_at_rest"].max_ms == pytest.approx(40.0)
    assert "1 idle tasks, run after the user rested: max 40.00 ms" in str(s)
