"""Player: steps at the requested rate on a fake clock, holds late frames, never skips."""

from __future__ import annotations

import pytest

from tilescope.loading.delay_queue import FakeClock
from tilescope.models.dims import Dims
from tilescope.models.playback import Player


def dims(nz: int = 5) -> Dims:
    d = Dims(3)
    d.set_range(0, (0, nz - 1, 1))
    return d


def test_plays_at_the_requested_rate_and_loops() -> None:
    clock = FakeClock()
    d = dims(5)
    player = Player(d, clock=clock)
    player.play(0, fps=16)
    seen = [d.current_step[0]]
    for _ in range(256):  # 1 s at a 1/256 s timer (binary-exact times)
        clock.advance(1 / 256)
        if player.tick():
            seen.append(d.current_step[0])
    assert player.frames == 16
    assert seen[:7] == [0, 1, 2, 3, 4, 0, 1]  # every step, in order, looping
    assert player.achieved_fps == pytest.approx(16.0)
    assert player.keeps_rate()
    assert player.note() is None


def test_a_late_frame_is_held_not_skipped_and_the_note_says_so() -> None:
    clock = FakeClock()
    d = dims(100)
    ready = {"now": True}
    player = Player(d, lambda: ready["now"], clock=clock)
    player.play(0, fps=10)
    steps = []
    for i in range(200):
        clock.advance(0.01)
        ready["now"] = i % 25 >= 20  # the data arrives 0.2 s after each step
        if player.tick():
            steps.append(d.current_step[0])
            ready["now"] = False
    assert steps == list(range(1, len(steps) + 1))  # no step skipped
    assert player.held > 0
    rate = player.achieved_fps
    assert rate is not None
    assert rate < 9
    note = player.note()
    assert note is not None
    assert "of 10 fps" in note
    assert "none is skipped" in note


def test_stop_no_loop_and_validation() -> None:
    clock = FakeClock()
    d = dims(3)
    calls: list[int | None] = []
    player = Player(d, clock=clock)
    player.changed.append(lambda: calls.append(player.playing_axis))
    with pytest.raises(ValueError, match="displayed"):
        player.play(2)
    with pytest.raises(ValueError, match="fps"):
        player.play(0, fps=0)
    player.play(0, fps=10, loop=False)
    for _ in range(10):
        clock.advance(0.1)
        player.tick()
    assert d.current_step[0] == 2
    assert player.playing_axis is None  # the end without looping stops
    assert calls == [0, None]
    assert player.due_in() is None
    player.play(0, fps=2)
    assert player.due_in() == pytest.approx(0.5)
    player.stop()
    clock.advance(1)
    assert not player.tick()
