"""Sliders <-> Dims binding (widgets only, no canvas)."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot
from qtpy.QtCore import Qt

from tilescope.models.dims import Dims
from tilescope.views.dims_sliders import DimsSliders, SliderRow, slider_rows

pytestmark = pytest.mark.qt


def stack_dims() -> Dims:
    """t (5 steps), z (4 steps), y, x."""
    return Dims(
        4,
        axis_labels=("t", "z", "y", "x"),
        range=((0, 4, 1), (0, 3, 1), (0, 99, 1), (0, 99, 1)),
    )


def make(qtbot: QtBot, dims: Dims, **kwargs: float) -> DimsSliders:
    widget = DimsSliders(dims, **kwargs)
    qtbot.addWidget(widget)
    return widget


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, ((0, "t", 5), (1, "z", 4)), id="two-sliced-axes"),
        pytest.param({"ndisplay": 3}, ((0, "t", 5),), id="3d-slices-one-axis"),
        pytest.param({"order": (2, 3, 0, 1)}, ((2, "y", 100), (3, "x", 100)), id="reordered"),
        pytest.param(
            {"range": ((0, 0, 1), (0, 3, 1), (0, 9, 1), (0, 9, 1))},
            ((1, "z", 4),),
            id="single-step-axis-hidden",
        ),
    ],
)
def test_rows_follow_the_dims_state(
    changes: dict[str, object], expected: tuple[tuple[int, str, int], ...]
) -> None:
    dims = stack_dims()
    dims.update(**changes)
    assert slider_rows(dims.state) == tuple(SliderRow(*row) for row in expected)


def test_moving_a_slider_sets_current_step(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    widget.slider(1).slider.setValue(3)
    assert dims.current_step == (0, 3, 0, 0)
    widget.slider(0).spin.setValue(4)
    assert dims.current_step == (4, 3, 0, 0)


def test_keyboard_moves_the_focused_slider(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    qtbot.keyClick(widget.slider(0).slider, Qt.Key.Key_Right)
    qtbot.keyClick(widget.slider(0).slider, Qt.Key.Key_Right)
    assert dims.current_step[0] == 2


def test_model_moves_sliders_without_echo(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    events: list[object] = []
    dims.events.changed.connect(events.append)
    dims.set_current_step(0, 2)
    assert widget.slider(0).slider.value() == 2
    assert widget.slider(0).spin.value() == 2
    assert len(events) == 1  # the slider update did not set dims again


def test_rows_rebuild_when_ndim_order_or_ndisplay_change(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    assert [r.axis for r in widget.rows] == [0, 1]
    dims.ndisplay = 3
    assert [r.axis for r in widget.rows] == [0]
    assert widget.slider(0).label.text() == "t"
    dims.ndisplay = 2
    dims.order = (2, 3, 0, 1)
    assert [r.label for r in widget.rows] == ["y", "x"]
    assert widget.slider(2).slider.maximum() == 99
    dims.ndim = 2
    assert widget.rows == ()
    assert widget.isHidden()
    dims.ndim = 3  # prepends an axis with napari's default range (3 steps)
    assert widget.rows == (SliderRow(0, "-3", 3),)
    assert not widget.isHidden()


def test_label_and_range_changes_update_rows(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    dims.set_axis_label(0, "time")
    assert widget.slider(0).label.text() == "time"
    dims.set_range(0, (0, 9, 1))
    assert widget.slider(0).slider.maximum() == 9
    assert widget.slider(0).total.text() == "/ 9"


def test_play_advances_and_loops(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims, fps=100)
    dims.set_current_step(0, 3)
    seen: list[int] = []
    dims.events.current_step.connect(lambda steps: seen.append(steps[0]))
    widget.slider(0).play_button.click()
    assert widget.playing_axis == 0
    qtbot.waitUntil(lambda: len(seen) >= 4, timeout=3000)
    widget.slider(0).play_button.click()
    assert widget.playing_axis is None
    assert seen[:4] == [4, 0, 1, 2]  # loops from the last step back to the first


def test_only_one_axis_plays(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims, fps=1)
    widget.slider(0).play_button.click()
    widget.slider(1).play_button.click()
    assert widget.playing_axis == 1
    assert not widget.slider(0).play_button.isChecked()
    widget.stop()
    assert not widget.slider(1).play_button.isChecked()


def test_playing_survives_an_unrelated_rebuild(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims, fps=1)
    widget.play(0)
    dims.set_axis_label(1, "depth")  # rebuilds the rows
    assert widget.playing_axis == 0
    assert widget.slider(0).play_button.isChecked()
    dims.ndisplay = 3  # axis 0 still sliced
    assert widget.playing_axis == 0
    dims.order = (1, 2, 3, 0)  # axis 0 now displayed: playing stops
    assert widget.playing_axis is None


@pytest.mark.parametrize("fps", [pytest.param(0.0, id="zero"), pytest.param(500.0, id="huge")])
def test_fps_out_of_range_raises(qtbot: QtBot, fps: float) -> None:
    widget = make(qtbot, stack_dims())
    with pytest.raises(ValueError, match="fps"):
        widget.fps = fps


def test_widget_destroyed_disconnects_from_dims(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = DimsSliders(dims)
    before = len(dims.events.changed)
    widget.deleteLater()
    qtbot.waitUntil(lambda: len(dims.events.changed) < before, timeout=2000)
    dims.set_current_step(0, 1)  # must not touch the deleted widget


def test_step_last_moves_the_axis_used_last(qtbot: QtBot) -> None:
    dims = stack_dims()
    widget = make(qtbot, dims)
    assert widget.last_axis == 0  # nothing used yet: the first row
    widget.step_last(+1)
    assert dims.current_step[:2] == (1, 0)
    widget.slider(1).slider.setValue(2)
    widget.step_last(+1)
    widget.step_last(+5)  # clamped to the last step
    assert dims.current_step[:2] == (1, 3)
    widget.step_last(-1)
    assert dims.current_step[:2] == (1, 2)
    dims.ndisplay = 3  # axis 1 is displayed now: back to the first row
    assert widget.last_axis == 0


def test_play_waits_while_the_frame_is_not_ready(qtbot: QtBot) -> None:
    dims = stack_dims()
    ready = [False]
    asked: list[int] = []  # the predicate is asked once per timer tick

    def is_ready() -> bool:
        asked.append(dims.current_step[0])
        return ready[0]

    widget = DimsSliders(dims, fps=100, ready=is_ready)
    qtbot.addWidget(widget)
    widget.play(0)
    qtbot.waitUntil(lambda: len(asked) >= 3, timeout=3000)
    assert dims.current_step[0] == 0  # ticks came, but the frame never became ready
    ready[0] = True
    qtbot.waitUntil(lambda: dims.current_step[0] == 2, timeout=3000)
    widget.stop()
