"""The main-thread queue asks its waker for another drain whenever a drain leaves work."""

from __future__ import annotations

import pytest

from tilescope.hop import MainThreadQueue


def _queue_with_waker() -> tuple[MainThreadQueue, list[int]]:
    queue = MainThreadQueue()
    wakes: list[int] = []
    queue.set_waker(lambda: wakes.append(queue.empty()))
    return queue, wakes


def test_a_drain_that_empties_the_queue_asks_for_nothing() -> None:
    queue, wakes = _queue_with_waker()
    ran: list[int] = []
    queue.post(ran.append, 1)
    wakes.clear()  # the post's own wake-up
    assert queue.drain() == 1
    assert ran == [1]
    assert wakes == []


def test_a_spent_budget_asks_for_another_drain() -> None:
    queue, wakes = _queue_with_waker()
    ran: list[int] = []
    for i in range(3):
        queue.post(ran.append, i)
    wakes.clear()
    assert queue.drain(budget_s=0.0) == 1  # one callback, then the budget is spent
    assert ran == [0]
    assert wakes == [False]  # asked again, with work left


def test_a_failing_callback_propagates_and_asks_for_the_rest() -> None:
    queue, wakes = _queue_with_waker()
    ran: list[int] = []

    def boom() -> None:
        raise ValueError("boom")

    queue.post(ran.append, 1)
    queue.post(boom)
    queue.post(ran.append, 2)
    wakes.clear()
    with pytest.raises(ValueError, match="boom"):
        queue.drain()
    assert ran == [1]
    assert wakes == [False]  # the callback after the failing one waits for the next drain
    assert queue.drain() == 1
    assert ran == [1, 2]
