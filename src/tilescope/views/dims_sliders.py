"""One slider per sliced axis, bound to :class:`~tilescope.models.dims.Dims`.

:class:`DimsSliders` listens to the coarse ``dims.events.changed`` only: it resolves the
rows the new state needs (which axes, their labels and step counts) and rebuilds the
rows when that structure changed, else just moves the sliders. Moving a slider calls
``dims.set_current_step``. Widgets are updated from the model with their signals
blocked, so a model change never echoes back into the model.

As in napari, only sliced axes with more than one position get a row. Each row has a
play button: it advances that axis on a timer at :attr:`DimsSliders.fps` frames per
second and loops; only one axis plays at a time. Right-click the button to set the fps.
With a ``ready`` predicate (the window passes "no visible layer is still loading"), a
tick that finds the current frame still loading waits for the next tick, so every frame
is shown even when the data is slower than the requested fps. With a ``player`` (a
:class:`~tilescope.models.playback.Player`; the window passes the viewer's), the buttons
start and stop it, a fine timer ticks it (it keeps the cadence and holds a frame whose data
is late) and the buttons follow it when a script calls ``viewer.play()``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

from qtpy.QtCore import QSignalBlocker, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from tilescope.models.dims import Dims, DimsState
from tilescope.models.playback import Player
from tilescope.views._bind import connect_for_lifetime

__all__ = ["AxisSlider", "DimsSliders", "SliderRow", "slider_rows"]

_PLAY = "▶"
_PAUSE = "⏸"
#: With a player, the timer ticks at least this often (ms): it decides when a step is due.
_PLAYER_TICK_MS = 10


@dataclass(frozen=True, slots=True)
class SliderRow:
    """What one slider row shows: a sliced world axis, its label and slider positions."""

    axis: int
    label: str
    nsteps: int


def slider_rows(state: DimsState) -> tuple[SliderRow, ...]:
    """The rows a dims state needs: sliced axes (in ``order``) with more than one step."""
    nsteps = state.nsteps
    return tuple(
        SliderRow(axis, state.axis_labels[axis], nsteps[axis])
        for axis in state.not_displayed
        if nsteps[axis] > 1
    )


class AxisSlider(QWidget):
    """One row: axis label, play button, slider, editable step and the step count."""

    #: ``(axis, step)`` when the user moves the slider or edits the step box.
    step_requested = Signal(int, int)
    #: ``(axis, playing)`` when the user toggles the play button.
    play_requested = Signal(int, bool)
    #: ``(axis)`` when the user asks for the play options (right-click on play).
    options_requested = Signal(int)

    def __init__(self, row: SliderRow, step: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.label = QLabel(row.label, self)
        self.label.setMinimumWidth(24)
        self.label.setToolTip(f"world axis {row.axis}")
        self.play_button = QPushButton(_PLAY, self)
        self.play_button.setCheckable(True)
        self.play_button.setFixedWidth(28)
        self.play_button.setToolTip(f"play axis {row.label!r} (right-click: frames per second)")
        self.play_button.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, row.nsteps - 1)
        self.slider.setPageStep(max(1, row.nsteps // 10))
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.spin = QSpinBox(self)
        self.spin.setRange(0, row.nsteps - 1)
        self.spin.setKeyboardTracking(False)
        self.total = QLabel(f"/ {row.nsteps - 1}", self)
        self.set_step(step)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        layout.addWidget(self.total)

        self.slider.valueChanged.connect(self._on_step_edited)
        self.spin.valueChanged.connect(self._on_step_edited)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.play_button.customContextMenuRequested.connect(self._on_options)

    @property
    def step(self) -> int:
        """The step the slider shows."""
        return self.slider.value()

    def set_step(self, step: int) -> None:
        """Show ``step`` without emitting :attr:`step_requested` (model -> widget)."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setValue(step)
            self.spin.setValue(step)

    def set_playing(self, playing: bool) -> None:
        """Show the play state without emitting :attr:`play_requested`."""
        with QSignalBlocker(self.play_button):
            self.play_button.setChecked(playing)
            self.play_button.setText(_PAUSE if playing else _PLAY)

    def _on_step_edited(self, step: int) -> None:
        self.step_requested.emit(self.row.axis, step)

    def _on_play_toggled(self, checked: bool) -> None:
        self.play_button.setText(_PAUSE if checked else _PLAY)
        self.play_requested.emit(self.row.axis, checked)

    def _on_options(self, *_: object) -> None:
        self.options_requested.emit(self.row.axis)


class DimsSliders(QWidget):
    """The sliders of every sliced axis of ``dims``, kept in sync both ways."""

    def __init__(
        self,
        dims: Dims,
        parent: QWidget | None = None,
        *,
        fps: float = 10.0,
        ready: Callable[[], bool] | None = None,
        player: Player | None = None,
    ) -> None:
        super().__init__(parent)
        self._dims = dims
        self._ready = ready
        self._player = player
        self._rows: tuple[SliderRow, ...] = ()
        self._sliders: dict[int, AxisSlider] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 2, 0, 2)
        self._layout.setSpacing(2)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self._playing_axis: int | None = None
        self._last_axis: int | None = None
        self._fps = 10.0
        self.fps = fps
        if player is not None:
            ref = weakref.ref(self)

            def on_player() -> None:
                widget = ref()
                if widget is not None:
                    widget._on_player_changed()

            player.changed.append(on_player)
            self.destroyed.connect(lambda *_: _remove(player.changed, on_player))
        connect_for_lifetime(self, dims.events.changed, self._on_dims_changed)
        self._on_dims_changed(dims.state)

    # ---------------------------------------------------------------- public

    @property
    def dims(self) -> Dims:
        """The model these sliders drive."""
        return self._dims

    @property
    def rows(self) -> tuple[SliderRow, ...]:
        """The rows currently shown, top to bottom."""
        return self._rows

    def slider(self, axis: int) -> AxisSlider:
        """The row of world axis ``axis`` (``KeyError`` when that axis has no slider)."""
        return self._sliders[axis]

    @property
    def last_axis(self) -> int | None:
        """The axis the user moved or played last if it still has a slider, else the first."""
        if self._last_axis in self._sliders:
            return self._last_axis
        return self._rows[0].axis if self._rows else None

    def step_last(self, delta: int) -> None:
        """Move :attr:`last_axis` by ``delta`` steps, clamped to its range (arrow keys)."""
        axis = self.last_axis
        if axis is None:
            return
        step = min(max(self._dims.current_step[axis] + delta, 0), self._dims.nsteps[axis] - 1)
        self._set_step(axis, step)

    @property
    def fps(self) -> float:
        """Frames per second while playing (0.1 to 120)."""
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if not 0.1 <= value <= 120:
            raise ValueError(f"fps must be between 0.1 and 120, got {value!r}")
        self._fps = float(value)
        interval = max(1, round(1000 / self._fps))
        if self._player is not None:
            self._player.fps = self._fps
            interval = min(interval, _PLAYER_TICK_MS)
        self._timer.setInterval(interval)

    @property
    def playing_axis(self) -> int | None:
        """The world axis being played, or ``None``."""
        return self._playing_axis

    def play(self, axis: int) -> None:
        """Start advancing ``axis`` (stops any other axis playing)."""
        if axis not in self._sliders:
            raise KeyError(f"axis {axis} has no slider (sliced axes: {sorted(self._sliders)})")
        if self._player is not None:
            self._player.play(axis, self._fps)  # the buttons follow through _on_player_changed
            return
        self.stop()
        self._playing_axis = axis
        self._last_axis = axis
        self._sliders[axis].set_playing(True)
        self._timer.start()

    def stop(self) -> None:
        """Stop playing."""
        if self._player is not None:
            self._player.stop()
        self._timer.stop()
        if self._playing_axis is not None and self._playing_axis in self._sliders:
            self._sliders[self._playing_axis].set_playing(False)
        self._playing_axis = None

    # ---------------------------------------------------------------- model -> widgets

    def _on_dims_changed(self, state: DimsState) -> None:
        rows = slider_rows(state)
        if rows != self._rows:
            self._rebuild(rows, state)
        else:
            steps = state.current_step
            for axis, widget in self._sliders.items():
                widget.set_step(steps[axis])

    def _rebuild(self, rows: tuple[SliderRow, ...], state: DimsState) -> None:
        playing = self._playing_axis
        self.stop()
        for widget in self._sliders.values():
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self._sliders = {}
        self._rows = rows
        steps = state.current_step
        for row in rows:
            widget = AxisSlider(row, steps[row.axis], self)
            # bound methods only: a lambda holding ``self`` would keep this widget alive
            widget.step_requested.connect(self._set_step)
            widget.play_requested.connect(self._on_play_requested)
            widget.options_requested.connect(self._show_fps_menu)
            self._layout.addWidget(widget)
            self._sliders[row.axis] = widget
        self.setVisible(bool(rows))
        if playing is not None and playing in self._sliders:
            self.play(playing)

    # ---------------------------------------------------------------- widgets -> model

    def _set_step(self, axis: int, step: int) -> None:
        self._last_axis = axis
        self._dims.set_current_step(axis, step)

    def _on_play_requested(self, axis: int, playing: bool) -> None:
        if playing:
            self.play(axis)
        else:
            self.stop()

    def _on_player_changed(self) -> None:
        """The player started or stopped (a button, or a script's ``viewer.play()``)."""
        assert self._player is not None
        axis = self._player.playing_axis
        if self._playing_axis is not None and self._playing_axis in self._sliders:
            self._sliders[self._playing_axis].set_playing(False)
        self._playing_axis = axis if axis in self._sliders else None
        if self._playing_axis is None:
            self._timer.stop()
            return
        self._last_axis = self._playing_axis
        self._sliders[self._playing_axis].set_playing(True)
        if self._player.fps != self._fps:
            self.fps = self._player.fps
        self._timer.start()

    def _advance(self) -> None:
        if self._player is not None:
            self._player.tick()
            return
        axis = self._playing_axis
        if axis is None:
            return
        if self._ready is not None and not self._ready():
            return  # the last frame is still loading: show it before moving on
        nsteps = self._dims.nsteps[axis]
        self._dims.set_current_step(axis, (self._dims.current_step[axis] + 1) % nsteps)

    def _show_fps_menu(self, axis: int) -> None:
        widget = self._sliders.get(axis)
        if widget is None:
            return
        menu = QMenu(widget)
        box = QDoubleSpinBox(menu)
        box.setRange(0.1, 120.0)
        box.setDecimals(1)
        box.setSuffix(" fps")
        box.setValue(self._fps)
        box.valueChanged.connect(self._on_fps_edited)
        action = QWidgetAction(menu)
        action.setDefaultWidget(box)
        menu.addAction(action)
        menu.exec(widget.play_button.mapToGlobal(widget.play_button.rect().bottomLeft()))

    def _on_fps_edited(self, value: float) -> None:
        self.fps = value


def _remove(callbacks: list[Callable[[], object]], callback: Callable[[], object]) -> None:
    if callback in callbacks:
        callbacks.remove(callback)
