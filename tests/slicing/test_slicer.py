"""LayerSlicer: latest wins, stale results never delivered, errors recover, clean shutdown.

Deterministic: tasks block on Events the test controls; nothing sleeps and hopes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tilescope.cancel import CancelToken
from tilescope.errors import ConfigError, SliceError
from tilescope.hop import MainThreadQueue
from tilescope.slicing.slicer import LayerSlicer

WAIT = 10.0  # generous upper bound for a gate; tests never wait this long when correct


class Gate:
    """A task whose body blocks until released; records what happened to it."""

    def __init__(self, value: object, fail: Exception | None = None) -> None:
        self.value = value
        self.fail = fail
        self.started = threading.Event()
        self.release = threading.Event()
        self.saw_cancel = threading.Event()

    def __call__(self, token: CancelToken) -> object:
        self.started.set()
        assert self.release.wait(WAIT)
        if token.cancelled:
            self.saw_cancel.set()
            token.raise_if_cancelled()
        if self.fail is not None:
            raise self.fail
        return self.value


class Sink:
    def __init__(self) -> None:
        self.done: list[object] = []
        self.errors: list[BaseException] = []

    def on_done(self, v: object) -> None:
        self.done.append(v)

    def on_error(self, e: BaseException) -> None:
        self.errors.append(e)


@pytest.fixture
def hop() -> MainThreadQueue:
    return MainThreadQueue()


@pytest.fixture
def slicer(hop: MainThreadQueue) -> Iterator[LayerSlicer]:
    s = LayerSlicer(hop, max_workers=1)
    yield s
    s.shutdown()


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tilescope-slice")]


def test_result_is_delivered_on_the_main_thread(slicer: LayerSlicer) -> None:
    sink = Sink()
    seen: list[int] = []

    def on_done(v: object) -> None:
        seen.append(threading.get_ident())
        sink.on_done(v)

    slicer.submit("a", lambda tok: 42, on_done, sink.on_error)
    assert slicer.wait_until_idle(WAIT)
    assert sink.done == [42]
    assert seen == [threading.get_ident()]


def test_superseded_queued_request_is_dropped_before_it_starts(slicer: LayerSlicer) -> None:
    sink = Sink()
    blocker = Gate("blocker")
    slicer.submit("other", blocker, sink.on_done, sink.on_error)  # occupies the only worker
    assert blocker.started.wait(WAIT)
    queued = Gate("old")
    slicer.submit("a", queued, sink.on_done, sink.on_error)
    slicer.submit("a", lambda tok: "new", sink.on_done, sink.on_error)
    assert slicer.stats.cancelled_queued == 1
    blocker.release.set()
    assert slicer.wait_until_idle(WAIT)
    assert not queued.started.is_set()
    assert sink.done == ["blocker", "new"]


def test_running_request_is_told_to_cancel_and_its_result_never_shows(
    slicer: LayerSlicer,
) -> None:
    sink = Sink()
    old = Gate("old")
    slicer.submit("a", old, sink.on_done, sink.on_error)
    assert old.started.wait(WAIT)
    slicer.submit("a", lambda tok: "new", sink.on_done, sink.on_error)
    assert slicer.stats.cancelled_running == 1
    old.release.set()
    assert slicer.wait_until_idle(WAIT)
    assert old.saw_cancel.is_set()
    assert sink.done == ["new"]


def test_result_posted_before_it_was_superseded_is_dropped(
    slicer: LayerSlicer, hop: MainThreadQueue
) -> None:
    """A result already on its way to the main thread when a newer request arrives
    (its token was checked before the supersede) is dropped on arrival."""
    sink = Sink()
    slicer.submit("a", lambda tok: "stale", sink.on_done, sink.on_error)
    while hop.empty():  # the worker finished and posted its result; nothing delivered yet
        assert hop.wait_posted(WAIT)
    slicer.submit("a", lambda tok: "new", sink.on_done, sink.on_error)
    assert slicer.wait_until_idle(WAIT)
    assert sink.done == ["new"]
    assert slicer.stats.stale_dropped == 1


def test_superseded_task_that_ignores_its_token_is_never_delivered(slicer: LayerSlicer) -> None:
    sink = Sink()
    started, proceed = threading.Event(), threading.Event()

    def ignores_token(tok: CancelToken) -> object:
        started.set()
        assert proceed.wait(WAIT)
        return "stale"  # never looks at tok

    slicer.submit("a", ignores_token, sink.on_done, sink.on_error)
    assert started.wait(WAIT)
    slicer.submit("a", lambda tok: "new", sink.on_done, sink.on_error)
    proceed.set()
    assert slicer.wait_until_idle(WAIT)
    assert sink.done == ["new"]


def test_error_is_reported_and_the_next_request_recovers(slicer: LayerSlicer) -> None:
    sink = Sink()
    bad = Gate(None, fail=OSError("disk on fire"))
    bad.release.set()
    slicer.submit("a", bad, sink.on_done, sink.on_error)
    assert slicer.wait_until_idle(WAIT)
    assert len(sink.errors) == 1
    assert "disk on fire" in str(sink.errors[0])
    slicer.submit("a", lambda tok: "ok", sink.on_done, sink.on_error)
    assert slicer.wait_until_idle(WAIT)
    assert sink.done == ["ok"]


def test_timeout_fails_the_task_with_a_fake_clock(hop: MainThreadQueue) -> None:
    now = [0.0]
    slicer = LayerSlicer(hop, max_workers=1, timeout_s=5.0, clock=lambda: now[0])
    try:
        sink = Sink()
        hung = Gate("late")
        slicer.submit("a", hung, sink.on_done, sink.on_error)
        assert hung.started.wait(WAIT)
        slicer.poll()
        assert sink.errors == []
        now[0] = 6.0
        slicer.poll()
        assert len(sink.errors) == 1
        assert isinstance(sink.errors[0], SliceError)
        assert "longer than 5 s" in str(sink.errors[0])
        assert slicer.pending() == ()
        hung.release.set()
        slicer.submit("a", lambda tok: "retry", sink.on_done, sink.on_error)
        assert slicer.wait_until_idle(WAIT)
        assert sink.done == ["retry"]
    finally:
        slicer.shutdown()


def test_force_sync_runs_inline(slicer: LayerSlicer) -> None:
    sink = Sink()
    caller = threading.get_ident()
    ran_on: list[int] = []

    def task(tok: CancelToken) -> str:
        ran_on.append(threading.get_ident())
        return "sync"

    with slicer.force_sync():
        slicer.submit("a", task, sink.on_done, sink.on_error)
    assert sink.done == ["sync"]
    assert ran_on == [caller]


def test_wait_until_idle_times_out_while_a_task_is_blocked(slicer: LayerSlicer) -> None:
    g = Gate("x")
    slicer.submit("a", g, Sink().on_done, Sink().on_error)
    assert not slicer.wait_until_idle(0.05)
    g.release.set()
    assert slicer.wait_until_idle(WAIT)


def test_shutdown_leaves_no_thread_running(hop: MainThreadQueue) -> None:
    slicer = LayerSlicer(hop, max_workers=2)
    gates = [Gate(i) for i in range(3)]
    for i, g in enumerate(gates):
        slicer.submit(i, g, Sink().on_done, Sink().on_error)
    assert gates[0].started.wait(WAIT)
    releaser = threading.Timer(0.0, lambda: [g.release.set() for g in gates])
    releaser.start()
    slicer.shutdown()
    releaser.join()
    assert _join_workers() == []  # each exits once its read returns (none is joined)
    with pytest.raises(RuntimeError, match="shut down"):
        slicer.submit("a", lambda tok: 1, Sink().on_done, Sink().on_error)


def test_drain_refuses_other_threads(hop: MainThreadQueue) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            hop.drain()
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors


def test_a_hung_read_becomes_an_error_without_any_other_event(hop: MainThreadQueue) -> None:
    """The watchdog wakes the main thread at the deadline (real time, short timeout)."""
    slicer = LayerSlicer(hop, max_workers=1, timeout_s=0.05)
    hung = Gate("never")
    try:
        sink = Sink()
        slicer.submit("a", hung, sink.on_done, sink.on_error)
        deadline = time.monotonic() + WAIT
        while not sink.errors and time.monotonic() < deadline:  # only the watchdog can post
            hop.wait_posted(0.1)
            hop.drain()
        assert len(sink.errors) == 1
        assert isinstance(sink.errors[0], SliceError)
    finally:
        hung.release.set()  # even when the test fails: no hung thread leaks into the next
        slicer.shutdown()
    assert _join_workers() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"max_workers": 0}, "slice workers", id="no-workers"),
        pytest.param({"max_workers": 1.5}, "slice workers", id="fractional-workers"),
        pytest.param({"timeout_s": 0}, "slice timeout", id="zero-timeout"),
        pytest.param({"timeout_s": float("nan")}, "slice timeout", id="nan-timeout"),
    ],
)
def test_bad_settings_are_refused_before_any_thread_starts(
    hop: MainThreadQueue, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        LayerSlicer(hop, **kwargs)  # type: ignore[arg-type]
    assert [t for t in threading.enumerate() if t.name.startswith("tilescope-slice")] == []


def _join_workers(timeout: float = WAIT) -> list[threading.Thread]:
    """Threads of the slicer still alive once each had ``timeout`` s to finish (test only)."""
    for t in _workers():
        t.join(timeout)
    return _workers()


def test_shutdown_returns_at_once_while_a_read_hangs(hop: MainThreadQueue) -> None:
    slicer = LayerSlicer(hop, max_workers=2)
    sink = Sink()
    hung = Gate("late")
    slicer.submit("a", hung, sink.on_done, sink.on_error)
    assert hung.started.wait(WAIT)
    done = threading.Event()
    closer = threading.Thread(target=lambda: (slicer.shutdown(), done.set()))
    closer.start()
    returned = done.wait(1.0)  # close() never waits on a read
    hung.release.set()
    closer.join(WAIT)
    assert returned
    hop.drain()
    assert sink.done == []
    assert sink.errors == []
    assert _join_workers() == []  # the abandoned worker exits once its read returns


def test_a_hung_layer_cannot_take_every_worker(hop: MainThreadQueue) -> None:
    """Superseded reads that ignore their token keep their worker; one layer may hold at
    most ceil(workers / 2) of them, so another layer still gets read."""
    slicer = LayerSlicer(hop, max_workers=4)
    try:
        sink = Sink()
        hung = [Gate(f"hung{i}") for i in range(4)]
        for i, g in enumerate(hung):  # four changes, each superseding the last
            slicer.submit("bad", g, sink.on_done, sink.on_error)
            # the first two start; past the limit the others wait (given 0.2 s to show it)
            assert g.started.wait(WAIT if i < 2 else 0.2) == (i < 2)
        slicer.submit("good", lambda tok: "good", sink.on_done, sink.on_error)
        while "good" not in sink.done:
            assert hop.wait_posted(WAIT)
            hop.drain()
        assert not hung[2].started.is_set()  # replaced while waiting its turn (latest wins)
        for g in hung:
            g.release.set()
        assert slicer.wait_until_idle(WAIT)
        assert sink.done == ["good", "hung3"]
    finally:
        for g in hung:
            g.release.set()
        slicer.shutdown()


def test_per_layer_limit_is_configurable_and_checked(hop: MainThreadQueue) -> None:
    with pytest.raises(ConfigError, match="per-layer"):
        LayerSlicer(hop, max_workers=2, per_layer_limit=0)
    slicer = LayerSlicer(hop, max_workers=3, per_layer_limit=1)
    try:
        sink = Sink()
        first, second = Gate("first"), Gate("second")
        slicer.submit("a", first, sink.on_done, sink.on_error)
        assert first.started.wait(WAIT)
        slicer.submit("a", second, sink.on_done, sink.on_error)
        assert not second.started.wait(0.05)  # waits: "a" already has its one read running
        first.release.set()
        assert second.started.wait(WAIT)
        second.release.set()
        assert slicer.wait_until_idle(WAIT)
        assert sink.done == ["second"]
    finally:
        first.release.set()
        second.release.set()
        slicer.shutdown()


def test_a_timeout_names_the_layer_and_frees_its_worker(hop: MainThreadQueue) -> None:
    now = [0.0]
    slicer = LayerSlicer(hop, max_workers=1, timeout_s=5.0, clock=lambda: now[0])
    hung = Gate("late")
    try:
        sink = Sink()
        slicer.submit("a", hung, sink.on_done, sink.on_error, label="layer 'slow one'")
        assert hung.started.wait(WAIT)
        now[0] = 6.0
        slicer.poll()
        assert len(sink.errors) == 1
        assert "layer 'slow one'" in str(sink.errors[0])
        # the abandoned worker is replaced: another layer is read while the hung one hangs
        slicer.submit("b", lambda tok: "b", sink.on_done, sink.on_error, label="layer 'b'")
        assert slicer.wait_until_idle(WAIT)
        assert sink.done == ["b"]
    finally:
        hung.release.set()
        slicer.shutdown()
    assert _join_workers() == []


def test_waiting_is_a_task_held_back_by_busy_workers_not_one_about_to_start(
    hop: MainThreadQueue,
) -> None:
    """What volume prefetch waits for: a visible task that cannot start now."""
    slicer = LayerSlicer(hop, max_workers=2, per_layer_limit=1)
    a, b, c = Gate("a"), Gate("b"), Gate("c")
    try:
        assert not slicer.waiting()
        slicer.submit("one", a, Sink().on_done, Sink().on_error)
        assert a.started.wait(WAIT)
        assert not slicer.waiting()  # running, nothing queued
        slicer.submit("one", b, Sink().on_done, Sink().on_error)  # its key's worker is busy
        assert slicer.waiting()
        slicer.cancel("one")
        assert not slicer.waiting()
        slicer.submit("two", c, Sink().on_done, Sink().on_error)  # an idle worker takes it
        assert c.started.wait(WAIT)
        slicer.submit("three", Gate("d"), Sink().on_done, Sink().on_error)  # none is idle
        assert slicer.waiting()
    finally:
        for g in (a, b, c):
            g.release.set()
        slicer.shutdown()


def test_a_superseded_read_that_hangs_gives_its_worker_back_after_the_timeout(
    hop: MainThreadQueue,
) -> None:
    """Told to stop, it keeps running (it ignores its token); past the timeout a fresh
    thread takes its worker's place, so another key's read starts."""
    now = [0.0]
    slicer = LayerSlicer(hop, max_workers=1, timeout_s=5.0, clock=lambda: now[0])
    hung, other = Gate("hung"), Gate("other")
    other.release.set()
    sink = Sink()
    try:
        slicer.submit("a", hung, sink.on_done, sink.on_error)
        assert hung.started.wait(WAIT)
        slicer.cancel("a")  # superseded while running: it hangs on
        slicer.submit("b", other, sink.on_done, sink.on_error)
        slicer.poll()
        assert not other.started.is_set()  # the only worker is still in the hung read
        now[0] = 5.0
        slicer.poll()  # past the timeout: its worker is replaced
        assert other.started.wait(WAIT)
        assert slicer.wait_until_idle(WAIT)
        assert sink.done == ["other"]
        assert sink.errors == []
        assert slicer.stats.abandoned == 1
    finally:
        hung.release.set()
        slicer.shutdown()
