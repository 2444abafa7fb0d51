"""DelayQueue and cancel tokens, driven by a fake clock."""

from __future__ import annotations

import pickle

import pytest

from tilescope.cancel import Cancelled, CancelToken
from tilescope.loading.delay_queue import DelayQueue, FakeClock


def test_items_wait_their_delay_then_leave_by_priority() -> None:
    clock = FakeClock(0.0)
    q: DelayQueue[str, str] = DelayQueue(0.5)
    q.push("far", "far", (0, 9.0), clock())
    clock.advance(0.25)
    q.push("near", "near", (0, 1.0), clock())
    q.push("coarse", "coarse", (2, 0.0), clock())
    assert q.pop_ready(clock()) == []
    assert q.next_due() == 0.5
    clock.advance(0.25)
    assert q.pop_ready(clock()) == ["far"]
    clock.advance(0.25)
    assert q.pop_ready(clock(), limit=1) == ["near"]  # priority order among due items
    assert q.pop_ready(clock(), limit=0) == []
    assert q.pop_ready(clock()) == ["coarse"]
    assert len(q) == 0
    assert q.next_due() is None


def test_repush_updates_priority_but_keeps_due_time_and_cancel_is_free() -> None:
    q: DelayQueue[str, str] = DelayQueue(1.0)
    q.push("a", "a1", (0, 5.0), 0.0)
    q.push("b", "b", (0, 1.0), 0.0)
    q.push("a", "a2", (0, 0.0), 0.5)  # wanted again later: same due time, new priority
    assert q.due_time("a") == 1.0
    assert "a" in q
    assert list(q) == ["a", "b"]
    assert q.pop_ready(1.0) == ["a2", "b"]
    q.push("c", "c", (0, 0.0), 2.0)
    assert q.cancel("c") == "c"
    assert q.cancel("c") is None
    assert q.pop_ready(100.0) == []


def test_zero_delay_and_bad_delay() -> None:
    q: DelayQueue[int, int] = DelayQueue(0)
    q.push(1, 1, (0, 0.0), 3.0)
    assert q.pop_ready(3.0) == [1]
    with pytest.raises(ValueError, match="delay"):
        DelayQueue(-1)
    with pytest.raises(ValueError, match="forward"):
        FakeClock().advance(-1)


def test_cancel_token() -> None:
    token = CancelToken()
    token.raise_if_cancelled()
    assert not token.cancelled
    token.cancel()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()
    assert "cancelled=True" in repr(token)
    fresh = pickle.loads(pickle.dumps(token))  # crosses to worker processes as a new token
    assert not fresh.cancelled


def test_injected_clock_is_used_when_no_time_is_given() -> None:
    clock = FakeClock(10.0)
    q: DelayQueue[str, str] = DelayQueue(0.25, clock=clock)
    q.push("a", "a", (0, 0.0))
    assert q.due_time("a") == 10.25
    assert q.pop_ready() == []
    clock.advance(0.25)
    assert q.pop_ready() == ["a"]
