"""Full garbage collections deferred to rest: a fake gc and a fake clock, then a real viewer."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from tilescope.collector import DEFER_FACTOR, SWEEP_EVERY, RestCollector
from tilescope.viewer import Viewer


class FakeGc:
    """The gc module's controls: thresholds, the young-collection count, collections run."""

    def __init__(self, threshold: tuple[int, int, int] = (700, 10, 10)) -> None:
        self.threshold = threshold
        self.enabled = True
        self.young = 0  # generation-1 collections since the last full one
        self.full = 0
        self.calls: list[str] = []  # collect, freeze, unfreeze in order

    def isenabled(self) -> bool:
        return self.enabled

    def get_threshold(self) -> tuple[int, int, int]:
        return self.threshold

    def set_threshold(self, t0: int, t1: int = 10, t2: int = 10, /) -> None:
        self.threshold = (t0, t1, t2)

    def get_count(self) -> tuple[int, int, int]:
        return (0, 0, self.young)

    def collect(self, generation: int = 2) -> int:
        assert generation == 2
        self.full += 1
        self.young = 0
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Arms(list[float]):
    """The delays the collector asked to be called back after."""


def make(fake: FakeGc, clock: Clock | None = None) -> tuple[RestCollector, Arms, Clock]:
    arms = Arms()
    clock = clock or Clock()
    return RestCollector(arms.append, quiet_s=0.5, clock=clock, control=fake), arms, clock


def test_full_collections_are_deferred_while_a_collector_lives_and_restored_after() -> None:
    fake = FakeGc((700, 10, 10))
    a, _, _ = make(fake)
    assert fake.threshold == (700, 10, 10 * DEFER_FACTOR)
    b, _, _ = make(fake)  # a second viewer in the same process
    a.close()
    assert fake.threshold == (700, 10, 10 * DEFER_FACTOR)  # b still defers
    b.close()
    b.close()  # closing twice lets go once
    assert fake.threshold == (700, 10, 10)


def test_thresholds_changed_meanwhile_are_left_as_the_user_set_them() -> None:
    fake = FakeGc((700, 10, 10))
    c, _, _ = make(fake)
    fake.set_threshold(500, 5, 5)
    c.close()
    assert fake.threshold == (500, 5, 5)


@pytest.mark.parametrize("why", ["disabled", "threshold 0"])
def test_a_collector_the_user_switched_off_is_left_alone(why: str) -> None:
    fake = FakeGc((700, 10, 0) if why == "threshold 0" else (700, 10, 10))
    fake.enabled = why != "disabled"
    before = fake.threshold
    c, arms, clock = make(fake)
    fake.young = 50
    c.activity()
    c.poke()
    clock.t += 10
    assert not c.active
    assert c.rest() is False
    assert (fake.threshold, arms, fake.full) == (before, [], 0)
    c.close()
    assert fake.threshold == before


def test_a_due_collection_runs_once_the_user_rested_for_the_quiet_time() -> None:
    fake = FakeGc()
    c, arms, clock = make(fake)
    c.activity()
    assert arms == [0.5]
    fake.young = 10  # as many young collections as CPython waits for: due
    clock.t += 0.2
    c.activity()  # still armed: no second alarm per quiet period
    assert arms == [0.5]
    clock.t += 0.3  # the first alarm fires, but the user moved 0.3 s ago
    assert c.rest() is False
    assert arms == [0.5, pytest.approx(0.2)]
    assert fake.full == 0
    clock.t += 0.2
    assert c.rest() is True
    assert (fake.full, c.collections, fake.young) == (1, 1, 0)
    assert arms == [0.5, pytest.approx(0.2)]  # nothing more to wait for


def test_nothing_is_collected_at_rest_unless_due() -> None:
    fake = FakeGc()
    c, arms, clock = make(fake)
    c.activity()
    fake.young = 9
    clock.t += 1.0
    assert c.rest() is False
    assert fake.full == 0
    assert arms == [0.5]  # not re-armed: the next activity (or poke) arms again
    c.activity()
    assert arms == [0.5, 0.5]


def test_a_poke_arms_only_when_a_collection_is_due_and_waits_out_the_quiet_time() -> None:
    fake = FakeGc()
    c, arms, clock = make(fake)
    c.poke()
    assert arms == []  # not due
    c.activity()
    clock.t += 1.0
    c.rest()  # not due yet: disarmed
    fake.young = 12  # tiles kept arriving while the user watched
    c.activity()
    arms.clear()
    clock.t += 0.1
    c.rest()  # the alarm of that activity, 0.1 s in: waits 0.4 s more
    assert arms == [pytest.approx(0.4)]
    c.poke()  # already armed
    assert arms == [pytest.approx(0.4)]
    clock.t += 0.4
    assert c.rest() is True
    fake.young = 10
    c.poke()  # due again with the user long at rest: check at once
    assert arms[-1] == 0.0


def _rest_collect(c: RestCollector, fake: FakeGc, clock: Clock) -> list[str]:
    """One due collection at rest; the gc calls it made, in order."""
    fake.calls.clear()
    fake.young = 10
    c.activity()
    clock.t += 1.0
    assert c.rest() is True
    return list(fake.calls)


def _close(c: RestCollector, fake: FakeGc) -> list[str]:
    fake.calls.clear()
    c.close()
    return list(fake.calls)


SWEEP = ["unfreeze", "collect", "freeze"]


def test_what_survives_a_rest_collection_is_frozen_and_swept_every_few_and_after_removal() -> None:
    """A collection's cost is walking what is tracked: its survivors are frozen, so the next
    walks only what came since. Cycles among frozen objects need an unfreeze: every
    SWEEP_EVERY th collection, the first after ``sweep_soon`` (a layer removed), and close."""
    fake = FakeGc()
    c, _, clock = make(fake)
    # the viewer's start-up freeze is kept
    assert _rest_collect(c, fake, clock) == ["collect", "freeze"]
    for _ in range(SWEEP_EVERY - 1):
        assert "unfreeze" not in _rest_collect(c, fake, clock)
    assert _rest_collect(c, fake, clock) == SWEEP  # the SWEEP_EVERY th since the first
    assert _rest_collect(c, fake, clock) == ["collect", "freeze"]
    c.sweep_soon()
    assert _rest_collect(c, fake, clock) == SWEEP
    assert _close(c, fake) == ["unfreeze"]
    assert _close(c, fake) == []  # once


def test_a_removal_in_one_viewer_sweeps_what_another_viewers_collection_froze() -> None:
    """The freeze is process-wide: a second viewer that never collected still unfreezes
    before its first collection after a removal, and the first's close unfreezes once."""
    fake = FakeGc()
    a, _, clock = make(fake)
    b, _, _ = make(fake, clock)
    _rest_collect(a, fake, clock)
    b.sweep_soon()
    assert _rest_collect(b, fake, clock) == SWEEP
    assert _close(a, fake) == ["unfreeze"]
    assert _close(b, fake) == []  # b froze too, but everything is unfrozen already


def test_a_collector_that_never_collected_leaves_the_freeze_alone() -> None:
    fake = FakeGc()
    c, _, _ = make(fake)
    c.sweep_soon()
    c.close()
    assert fake.calls == []


def test_a_cycle_frozen_at_rest_is_freed_by_the_sweep_after_a_removal() -> None:
    """Real gc: a cycle alive at a rest collection is frozen with the survivors; once it
    dies, plain collections cannot free it; the sweep after ``sweep_soon`` does."""
    import weakref

    class Node:
        other: object = None

    clock = Clock()
    c = RestCollector(lambda _: None, quiet_s=0.5, clock=clock)
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        _due()
        c.activity()
        clock.t += 1.0
        assert c.rest() is True  # a and b survive: frozen
        del a, b
        gc.collect()
        assert gone() is not None  # frozen: out of the collector's reach
        c.sweep_soon()
        _due()
        c.activity()
        clock.t += 1.0
        assert c.rest() is True
        assert gone() is None
    finally:
        c.close()  # it froze: everything unfrozen again


def _due() -> None:
    """Make a full collection due: enough generation-1 collections since the last one."""
    for _ in range(gc.get_threshold()[2] // DEFER_FACTOR + 1):
        gc.collect(1)


def test_a_viewer_defers_full_collections_to_its_users_rest() -> None:
    """Real gc, real alarm thread: the collection runs on the main thread's queue once the
    camera stopped moving for the quiet time, timed as an idle task."""
    before = gc.get_threshold()
    viewer = Viewer(show=False, size=(64, 64))
    try:
        assert gc.get_threshold()[2] == before[2] * DEFER_FACTOR
        viewer.add_image(np.zeros((16, 16), np.uint8))
        viewer.wait_until_idle()
        _due()
        viewer.camera.zoom = 2.0
        moved = time.monotonic()
        deadline = moved + 10.0
        while not viewer.perf.stats().idle.count and time.monotonic() < deadline:
            viewer.hop.wait_posted(0.1)
            viewer.hop.drain()
        assert time.monotonic() - moved >= 0.5  # not before the quiet time
        stats = viewer.perf.stats()
        assert stats.idle.count == 1
        assert stats.by_name["collect_at_rest"].count == 1
        assert gc.get_count()[2] < gc.get_threshold()[2] // DEFER_FACTOR  # no longer due
    finally:
        viewer.close()
    assert gc.get_threshold() == before


def test_removing_a_layer_asks_the_next_rest_collection_to_sweep() -> None:
    with Viewer(show=False, size=(32, 32)) as viewer:
        layer = viewer.add_image(np.zeros((16, 16), np.uint8))
        collector = viewer._collector  # type: ignore[attr-defined]
        assert not collector._sweep
        viewer.layers.remove(layer)
        assert collector._sweep
