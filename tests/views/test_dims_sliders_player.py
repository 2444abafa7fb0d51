"""The play buttons with a Player: they drive it, follow it, and its ticks hold late frames."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from tilescope.models.dims import Dims
from tilescope.models.playback import Player
from tilescope.views.dims_sliders import DimsSliders

pytestmark = pytest.mark.qt


def stack_dims() -> Dims:
    return Dims(3, axis_labels=("z", "y", "x"), range=((0, 4, 1), (0, 99, 1), (0, 99, 1)))


def test_buttons_drive_the_player_and_follow_a_script(qtbot: QtBot) -> None:
    dims = stack_dims()
    player = Player(dims)
    widget = DimsSliders(dims, fps=50, player=player)
    qtbot.addWidget(widget)
    assert player.fps == 50
    widget.slider(0).play_button.click()
    assert player.playing_axis == 0
    assert widget.playing_axis == 0
    seen: list[int] = []
    dims.events.current_step.connect(lambda steps: seen.append(steps[0]))
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=3000)
    assert seen[:3] == [1, 2, 3]
    widget.slider(0).play_button.click()
    assert player.playing_axis is None
    assert widget.playing_axis is None
    player.play(0, fps=20)  # a script: the button shows it
    assert widget.slider(0).play_button.isChecked()
    assert widget.fps == 20
    player.stop()
    assert not widget.slider(0).play_button.isChecked()


def test_a_frame_not_on_screen_is_held(qtbot: QtBot) -> None:
    dims = stack_dims()
    ready = {"now": False}
    player = Player(dims, lambda: ready["now"])
    widget = DimsSliders(dims, fps=100, player=player)
    qtbot.addWidget(widget)
    widget.play(0)
    qtbot.waitUntil(lambda: player.held >= 3, timeout=3000)
    assert dims.current_step[0] == 0  # held, not skipped
    ready["now"] = True
    qtbot.waitUntil(lambda: dims.current_step[0] == 1, timeout=3000)
    widget.stop()
