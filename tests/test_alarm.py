"""QuietTimer: 'tell me once nothing happened for quiet_s', with a fake clock and arm."""

from __future__ import annotations

import pytest

from tilescope.alarm import QuietTimer


class Clock:
    def __init__(self) -> None:
        self.t = 10.0

    def __call__(self) -> float:
        return self.t


def test_one_delay_is_armed_per_quiet_period_and_rearmed_for_what_is_left() -> None:
    clock, arms = Clock(), list[float]()
    quiet = QuietTimer(arms.append, 0.5, clock)
    quiet.touch()
    clock.t += 0.3
    quiet.touch()  # already armed: nothing more
    assert arms == [0.5]
    clock.t += 0.2  # the first delay passes; the last touch was 0.2 s ago
    assert quiet.expired() is False
    assert arms == [0.5, pytest.approx(0.3)]
    clock.t += 0.3
    assert quiet.expired() is True
    assert arms == [0.5, pytest.approx(0.3)]  # quiet: nothing armed
    quiet.arm_soon()  # long quiet already: at once
    assert arms[-1] == 0.0
    quiet.arm_soon()  # a call is coming: not twice
    assert len(arms) == 3
