"""DaemonExecutor: results and errors through futures; shutdown never waits on running work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from tilescope.data import threads
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


def _started(prefix: str, n: int) -> bool:
    """Whether ``n`` threads named ``prefix`` are alive within ``WAIT`` (the helper that
    starts them does so right after the executor asks)."""
    deadline = time.monotonic() + WAIT
    while len(_alive(prefix)) < n and time.monotonic() < deadline:
        time.sleep(0.001)
    return len(_alive(prefix)) == n


def test_idle_threads_are_gone_when_shutdown_returns() -> None:
    ex = DaemonExecutor(3, "t-idle")
    assert ex.threads == 3  # alive or starting
    assert _started("t-idle", 3)
    ex.shutdown()
    assert _alive("t-idle") == []


def test_the_caller_never_starts_a_thread_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Construction and a hung task's replacement ask the helper: ``Thread.start()`` waits
    for the new thread to run, a GIL hand-off the (main) caller must not wait for."""
    starters: list[int] = []
    start = threading.Thread.start

    def recorded(self: threading.Thread) -> None:
        starters.append(threading.get_ident())
        start(self)

    monkeypatch.setattr(threading.Thread, "start", recorded)
    ex = DaemonExecutor(2, "t-starter")
    try:
        gate, hung = _hung(ex)
        assert ex.abandon(hung)
        assert ex.submit(lambda: "after").result(WAIT) == "after"
        assert _started("t-starter", 3)
        assert len(starters) == 3
        assert threading.get_ident() not in starters
        gate.set()
    finally:
        ex.shutdown()


def test_work_fails_with_the_reason_when_no_thread_can_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    asked: list[Callable[[], None]] = []
    monkeypatch.setattr(threads._STARTER, "request", asked.append)
    ex = DaemonExecutor(2, "t-refused")
    try:
        queued = ex.submit(lambda: "never")  # before the helper tries (and fails)
        for start in asked:
            start()
        with pytest.raises(RuntimeError, match="no worker thread could be started: can't start"):
            queued.result(WAIT)
        with pytest.raises(RuntimeError, match="no worker thread could be started"):
            ex.submit(lambda: "never")
    finally:
        ex.shutdown()


def test_a_helper_that_cannot_start_leaves_no_request_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The asker gets the error, and its request is gone: a later helper must not start a
    thread for an executor whose construction failed."""

    def refused(*args: Any) -> int:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threads._thread, "start_new_thread", refused)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        DaemonExecutor(1, "t-no-helper")
    monkeypatch.undo()
    ex = DaemonExecutor(1, "t-helper-after")
    try:
        assert ex.submit(lambda: "ran").result(WAIT) == "ran"
        assert _alive("t-no-helper") == []
    finally:
        ex.shutdown()


def test_threads_not_started_by_shutdown_never_start(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Callable[[], None]] = []
    monkeypatch.setattr(threads._STARTER, "request", asked.append)
    ex = DaemonExecutor(2, "t-late")
    assert ex.threads == 2
    ex.shutdown()
    for start in asked:  # the helper gets to them only now
        start()
    assert _alive("t-late") == []
    assert ex.threads == 0


def test_shutdown_waits_for_a_thread_whose_task_just_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller can see its future done and shut down before the worker has left the task
    (between ``set_result`` and its bookkeeping): that thread is not running work, and
    ``shutdown(wait=True)`` waits for it like an idle one (seen once as a dask thread
    alive after ``DaskReads.close()``)."""
    monkeypatch.setattr(threads, "IDLE_EXIT_WAIT_S", WAIT)  # a slow machine still passes
    ex = DaemonExecutor(1, "t-finishing")
    go, in_callback, release = threading.Event(), threading.Event(), threading.Event()
    future = ex.submit(go.wait, WAIT)
    future.add_done_callback(lambda _: (in_callback.set(), release.wait(WAIT)))
    go.set()
    assert in_callback.wait(WAIT)  # the worker sits between the result and its bookkeeping

    def release_once_closed() -> None:
        while not ex._closed:  # shutdown has picked what to wait for
            time.sleep(0.001)
        time.sleep(0.05)  # a shutdown that does not wait for the thread has returned by now
        release.set()

    releaser = threading.Thread(target=release_once_closed)
    releaser.start()
    ex.shutdown(wait=True)
    releaser.join(WAIT)
    assert _alive("t-finishing") == []


def _hung(ex: DaemonExecutor) -> tuple[threading.Event, Future[Any]]:
    gate, started = threading.Event(), threading.Event()
    future = ex.submit(lambda: (started.set(), gate.wait(WAIT))[1])
    assert started.wait(WAIT)
    return gate, future


def test_an_abandoned_task_gets_a_replacement_thread_and_its_thread_exits_later() -> None:
    ex = DaemonExecutor(1, "t-abandon")
    try:
        gate, hung = _hung(ex)
        queued = ex.submit(lambda: "queued")
        assert not ex.abandon(queued)  # not running: nothing to give up on
        assert ex.abandon(hung)
        assert not ex.abandon(hung)  # once only
        assert queued.result(WAIT) == "queued"  # the replacement thread took the work
        assert ex.abandoned == 1
        assert ex.threads == 2
        gate.set()
        assert hung.result(WAIT) is True  # the future still completes
        deadline = time.monotonic() + WAIT
        while ex.threads > 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the hung thread exits right after its task: poll for it
        assert ex.threads == 1
        assert len(_alive("t-abandon")) == 1
    finally:
        ex.shutdown()


def test_stuck_after_replaces_a_task_running_that_long_when_work_arrives() -> None:
    now = [0.0]
    ex = DaemonExecutor(1, "t-stuck", stuck_after_s=5.0, clock=lambda: now[0])
    try:
        gate, _ = _hung(ex)
        now[0] = 4.9
        early = ex.submit(lambda: "early")
        assert ex.abandoned == 0  # not yet hung: the new work waits for the worker
        now[0] = 5.0
        assert ex.submit(lambda: "late").result(WAIT) == "late"
        assert early.result(WAIT) == "early"
        assert ex.abandoned == 1
        gate.set()
    finally:
        ex.shutdown()


def test_stuck_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stuck_after_s"):
        DaemonExecutor(1, "t-bad", stuck_after_s=0)
