"""The tilescope main window: canvas, sliders, layer list and controls, status bar.

:class:`ViewerWindow` wraps a :class:`~tilescope.viewer.Viewer`. It owns only Qt
widgets, each bound to a model of the viewer: the render backend's canvas widget in
the centre, :class:`~tilescope.views.dims_sliders.DimsSliders` under it, the layer list
and the selected layer's controls in a dock on the left, view buttons (2D/3D, roll,
transpose, reset view) under the list, and a status bar with the world position and
data value under the cursor (``viewer.cursor_info``, answered from slices already in
memory) and the selected layer's state. It never slices or reads layer data.
"""

from __future__ import annotations

import weakref
from typing import Any

from qtpy.QtCore import QEvent, QObject, QPointF, Qt
from qtpy.QtGui import QCloseEvent, QKeySequence, QMouseEvent, QShortcut, QShowEvent
from qtpy.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QMainWindow,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tilescope.errors import RenderError
from tilescope.models.dims import DimsState
from tilescope.views._bind import Rebindable, connect_for_lifetime
from tilescope.views.app import get_app
from tilescope.views.dims_sliders import DimsSliders
from tilescope.views.layer_controls import LayerControls
from tilescope.views.layer_list import LayerListWidget
from tilescope.views.qt_hop import install_waker
from tilescope.views.status import StatusBar, format_cursor, world_units

__all__ = ["ViewerWindow", "layer_status_text", "open_window"]


def layer_status_text(viewer: Any, layer: Any) -> str:
    """One line on the selected layer's state: an error first, else its loading progress."""
    if layer is None:
        return ""
    return f"{layer.name}: {viewer.layer_status(layer)}"


class ViewerWindow(QMainWindow):
    """Main window around ``viewer``; shows nothing until :meth:`show`.

    Parameters
    ----------
    viewer
        The viewer to show; its ``backend.native`` must be a QWidget (a viewer created
        with ``show=True``).
    title
        Window title.
    fps
        Frames per second of the sliders' play buttons.
    """

    def __init__(self, viewer: Any, *, title: str = "tilescope", fps: float = 10.0) -> None:
        get_app()
        super().__init__()
        # Worker results reach the main thread through the viewer's queue: drain it from
        # the Qt event loop while this window is open.
        self._waker = install_waker(viewer.hop)
        canvas = viewer.backend.native
        if not isinstance(canvas, QWidget):
            raise RenderError(
                "this viewer has no canvas widget to put in a window (it renders headless); "
                "create it with Viewer(show=True)"
            )
        self._viewer = viewer
        self._canvas = canvas
        self._last_cursor: tuple[float, float] | None = None
        self.setWindowTitle(title)

        # centre: canvas over sliders
        self.sliders = DimsSliders(
            viewer.dims, fps=fps, ready=self._frame_ready, player=getattr(viewer, "player", None)
        )
        centre = QWidget(self)
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(canvas, 1)
        centre_layout.addWidget(self.sliders)
        self.setCentralWidget(centre)

        # left dock: controls over list over view buttons
        self.layer_controls = LayerControls()
        self.layer_list = LayerListWidget(viewer.layers)
        self.ndisplay_button = QPushButton("3D")
        self.ndisplay_button.setCheckable(True)
        self.ndisplay_button.setToolTip("toggle 2D / 3D display")
        self.roll_button = QPushButton("roll")
        self.roll_button.setToolTip("roll the dimension order (change which axes are shown)")
        self.transpose_button = QPushButton("transpose")
        self.transpose_button.setToolTip("swap the two displayed in-plane axes")
        self.reset_button = QPushButton("reset view")
        self.reset_button.setToolTip("fit the camera to all layers")
        buttons = QWidget()
        buttons_layout = QHBoxLayout(buttons)
        buttons_layout.setContentsMargins(2, 2, 2, 2)
        for button in (
            self.ndisplay_button,
            self.roll_button,
            self.transpose_button,
            self.reset_button,
        ):
            buttons_layout.addWidget(button)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.layer_list, 1)
        lower_layout.addWidget(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.layer_controls)
        splitter.addWidget(lower)
        splitter.setStretchFactor(1, 1)
        self.dock = QDockWidget("layers", self)
        self.dock.setObjectName("layers")
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.dock.setWidget(splitter)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)

        self.status = StatusBar(self)
        self.setStatusBar(self.status)

        # wiring
        self.layer_list.selection_changed.connect(self._on_selection_changed)
        self.layer_controls.message.connect(self._on_control_message)
        self.ndisplay_button.toggled.connect(self._on_ndisplay_toggled)
        self.roll_button.clicked.connect(lambda: viewer.dims.roll())
        self.transpose_button.clicked.connect(lambda: viewer.dims.transpose())
        self.reset_button.clicked.connect(lambda: viewer.reset_view())
        connect_for_lifetime(self, viewer.dims.events.changed, self._on_dims_changed)
        self._layer_binding = Rebindable(self, self._refresh_layer_status)
        self._follow_layer_status(viewer)
        canvas.setMouseTracking(True)
        canvas.installEventFilter(self)
        self._install_shortcuts()
        self._on_dims_changed(viewer.dims.state)
        self._on_selection_changed(self.layer_list.selected)
        # The window grows around the canvas so that it keeps the size the viewer asked for.
        self._wanted_canvas_size: tuple[int, int] | None = (canvas.width(), canvas.height())

    # ---------------------------------------------------------------- public

    @property
    def viewer(self) -> Any:
        """The viewer shown."""
        return self._viewer

    @property
    def canvas(self) -> QWidget:
        """The render backend's canvas widget."""
        return self._canvas

    def update_cursor(self, xy: tuple[float, float] | None) -> None:
        """Show what is under canvas position ``xy`` (logical pixels; ``None``: outside)."""
        self._last_cursor = xy
        if xy is None:
            self.status.set_cursor_text("")
            return
        info = self._viewer.cursor_info(xy)
        text = format_cursor(info, self._displayed_labels(info), self._displayed_units(info))
        if info is not None and self._is_loading(info.layer_name):
            text += " (loading: value of the previous slice)"
        self.status.set_cursor_text(text)

    def _is_loading(self, layer_name: str | None) -> bool:
        """Whether the named layer's shown slice is not the one asked for yet."""
        if layer_name is None or layer_name not in self._viewer.layers:
            return False
        return self._loading(self._viewer.layers[layer_name])

    def _loading(self, layer: Any) -> bool:
        return bool(self._viewer.layer_status(layer).state == "loading")

    def _install_shortcuts(self) -> None:
        """napari's keys: Ctrl+Y 2D/3D, Ctrl+E roll, Ctrl+T transpose, Ctrl+R reset view,
        Ctrl+W close; Left/Right step the last-used slider while the canvas has focus."""
        window_keys = (
            ("Ctrl+Y", self.ndisplay_button.toggle),
            ("Ctrl+E", self.roll_button.click),
            ("Ctrl+T", self.transpose_button.click),
            ("Ctrl+R", self.reset_button.click),
            ("Ctrl+W", self.close),
        )
        for key, slot in window_keys:
            QShortcut(QKeySequence(key), self).activated.connect(slot)
        for arrow, step in ((Qt.Key.Key_Left, self._step_back), (Qt.Key.Key_Right, self._step_on)):
            shortcut = QShortcut(QKeySequence(arrow), self._canvas)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(step)

    def _step_back(self) -> None:
        self.sliders.step_last(-1)

    def _step_on(self) -> None:
        self.sliders.step_last(+1)

    # ---------------------------------------------------------------- events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Follow the mouse over the canvas (the canvas still gets every event)."""
        if watched is self._canvas:
            kind = event.type()
            if kind == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
                position: QPointF = event.position()
                self.update_cursor((position.x(), position.y()))
            elif kind == QEvent.Type.Leave:
                self.update_cursor(None)
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:
        """(Re)start draining the viewer's queue from the event loop."""
        self._waker.install()
        super().showEvent(event)
        wanted = self._wanted_canvas_size
        if wanted is not None:
            self._wanted_canvas_size = None
            self.resize(
                self.width() + wanted[0] - self._canvas.width(),
                self.height() + wanted[1] - self._canvas.height(),
            )

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop playing and stop following the canvas; the viewer itself stays usable."""
        self.sliders.stop()
        self._canvas.removeEventFilter(self)
        self._waker.uninstall()
        super().closeEvent(event)

    # ---------------------------------------------------------------- model -> widgets

    def _on_dims_changed(self, state: DimsState) -> None:
        self.ndisplay_button.blockSignals(True)
        self.ndisplay_button.setChecked(state.ndisplay == 3)
        self.ndisplay_button.setText("2D" if state.ndisplay == 3 else "3D")
        self.ndisplay_button.blockSignals(False)
        self.ndisplay_button.setEnabled(state.ndim >= 3 or state.ndisplay == 3)
        self.transpose_button.setEnabled(state.ndim >= 2)
        self.roll_button.setEnabled(state.ndim >= 3)
        self.layer_controls.set_ndisplay(state.ndisplay)
        if self._last_cursor is not None:  # the slice under a still cursor changed
            self.update_cursor(self._last_cursor)

    def _on_selection_changed(self, layer: Any) -> None:
        self.layer_controls.set_layer(layer)
        self._layer_binding.bind(None if layer is None else layer.events.changed)
        self._refresh_layer_status()

    def _follow_layer_status(self, viewer: Any) -> None:
        """Follow ``viewer.status_changed``: the selected layer's loading/error state, and
        the value under a still cursor once the new slice has arrived."""
        callbacks = viewer.status_changed
        window = weakref.ref(self)

        def on_status(layer: Any, _status: Any) -> None:
            this = window()
            if this is None:
                return
            if layer is this.layer_list.selected:
                this._refresh_layer_status()
            if this._last_cursor is not None:  # a new slice arrived under a still cursor
                this.update_cursor(this._last_cursor)

        def forget(*_: object) -> None:
            if on_status in callbacks:
                callbacks.remove(on_status)

        callbacks.append(on_status)
        self.destroyed.connect(forget)

    def _refresh_layer_status(self, *_: object) -> None:
        self.status.set_layer_text(layer_status_text(self._viewer, self.layer_list.selected))

    def _on_control_message(self, text: str) -> None:
        if text:
            self.status.showMessage(text, 8000)
        else:
            self.status.clearMessage()

    # ---------------------------------------------------------------- widgets -> model

    def _on_ndisplay_toggled(self, checked: bool) -> None:
        self._viewer.dims.ndisplay = 3 if checked else 2

    def _frame_ready(self) -> bool:
        """Whether every visible layer shows the current slice (the play button waits)."""
        return not any(self._loading(layer) for layer in self._viewer.layers if layer.visible)

    def _displayed_units(self, info: Any) -> tuple[str | None, ...] | None:
        """Units (from the layers' metadata) of the coordinates in ``info``."""
        if info is None:
            return None
        dims = self._viewer.dims
        units = world_units(list(self._viewer.layers), dims.ndim)
        return None if units is None else _pick_displayed(units, info, dims)

    def _displayed_labels(self, info: Any) -> tuple[str, ...] | None:
        if info is None:
            return None
        dims = self._viewer.dims
        labels = tuple(dims.axis_labels)
        if len(tuple(info.world)) == len(labels):
            return labels
        if len(tuple(info.world)) == dims.ndisplay:
            return tuple(labels[a] for a in dims.displayed)
        return None


def _pick_displayed(values: tuple[Any, ...], info: Any, dims: Any) -> tuple[Any, ...] | None:
    """``values`` (one per world axis) for the axes ``info.world`` holds, or None."""
    n = len(tuple(info.world))
    if n == len(values):
        return values
    if n == dims.ndisplay and len(values) == dims.ndim:
        return tuple(values[a] for a in dims.displayed)
    return None


def open_window(viewer: Any, *, title: str = "tilescope", fps: float = 10.0) -> ViewerWindow:
    """Create the QApplication if needed, then a :class:`ViewerWindow` for ``viewer``, shown.

    Raises :class:`~tilescope.errors.NoDisplayError` when there is no display.
    """
    get_app()
    window = ViewerWindow(viewer, title=title, fps=fps)
    window.show()
    return window
