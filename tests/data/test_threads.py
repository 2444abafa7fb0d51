"""DaemonExecutor: results and errors through futures; shutdown never waits on running work."""

from __future__ import annotations

import threading
import time

import pytest

from tilescope.data.threads import DaemonExecutor

WAIT = 10.0


def _alive(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_results_and_errors_arrive_through_futures() -> None:
    ex = DaemonExecutor(2, "t-results")
    try:
        assert ex.submit(lambda a, b: a + b, 2, b=3).result(WAIT) == 5
        with pytest.raises(ZeroDivisionError):
            ex.submit(lambda: 1 / 0).result(WAIT)
        assert all(t.daemon for t in _alive("t-results"))
    finally:
        ex.shutdown()


def test_shutdown_cancels_queued_work_and_never_waits_for_running_work() -> None:
    ex = DaemonExecutor(1, "t-hang")
    gate, started = threading.Event(), threading.Event()
    running = ex.submit(lambda: (started.set(), gate.wait(WAIT))[1])
    assert started.wait(WAIT)
    queued = ex.submit(lambda: "never")
    t0 = time.monotonic()
    ex.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - t0 < 1.0  # the running task is not waited for
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="shutdown"):
        ex.submit(lambda: 1)
    gate.set()
    assert running.result(WAIT) is True
    for t in _alive("t-hang"):
        t.join(WAIT)
    assert _alive("t-hang") == []


def test_idle_threads_are_gone_when_shutdown_returns() -> None:
    ex = DaemonExecutor(3, "t-idle")
    assert len(_alive("t-idle")) == 3
    ex.shutdown()
    assert _alive("t-idle") == []
