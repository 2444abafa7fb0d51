"""A window's canvas draws into a native OpenGL window (render/vispy/_window.py): what is on
screen is the scene, input reaching the native window drives the viewer as the widget's own
input did, keyboard focus stays with the widgets, and the composited QOpenGLWidget is still
there when the config asks for it.

Needs a display with OpenGL: run under ``xvfb-run -a``; skipped (with the reason) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pytestqt.qtbot import QtBot
from qtpy.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from qtpy.QtGui import QImage, QKeyEvent, QMouseEvent, QWheelEvent
from qtpy.QtOpenGLWidgets import QOpenGLWidget
from qtpy.QtWidgets import QApplication

from tilescope.loading.config import OctreeConfig, set_config
from tilescope.viewer import Viewer
from tilescope.views.window import ViewerWindow

pytestmark = pytest.mark.qt

LEFT, RIGHT = 40, 200


def halves() -> npt.NDArray[np.uint8]:
    """Left half ``LEFT``, right half ``RIGHT``."""
    data = np.full((48, 64), LEFT, np.uint8)
    data[:, 32:] = RIGHT
    return data


def _viewer(native_window: bool) -> Viewer:
    previous = set_config(OctreeConfig.from_dict({"render": {"native_window": native_window}}))
    try:
        viewer = Viewer(show=True, size=(96, 128), title="tilescope test")
    finally:
        set_config(previous)
    viewer.add_image(halves(), name="halves", contrast_limits=(0, 255))
    viewer.wait_until_idle()
    return viewer


@pytest.fixture
def viewer(display: None, qtbot: QtBot) -> Iterator[Viewer]:
    v = _viewer(native_window=True)
    window = v.window
    try:
        yield v
    finally:
        v.close()
        window.deleteLater()


def _window(viewer: Viewer) -> ViewerWindow:
    window = viewer.window
    assert isinstance(window, ViewerWindow)
    return window


def _on_screen(viewer: Viewer) -> npt.NDArray[np.uint8]:
    """The canvas as the screen shows it, RGB (the canvas's ``grab`` draws a frame first)."""
    image = _window(viewer).canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w, line = image.height(), image.width(), image.bytesPerLine()
    rgb = np.frombuffer(image.constBits(), np.uint8, h * line).reshape(h, line)
    return rgb[:, : 3 * w].reshape(h, w, 3).copy()


def _sides(rgb: npt.NDArray[np.uint8]) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    return (int(rgb[h // 2, w // 4, 0]), int(rgb[h // 2, 3 * w // 4, 0]))


def _gl_window(viewer: Viewer) -> Any:
    from tilescope.render.vispy._window import WindowCanvasBackend

    canvas = _window(viewer).canvas
    assert isinstance(canvas, WindowCanvasBackend)
    return canvas._gl_window


def _send(target: Any, event: QEvent) -> None:
    QApplication.sendEvent(target, event)


def _mouse(kind: QEvent.Type, x: float, y: float, buttons: Any) -> QMouseEvent:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    pos = QPointF(x, y)
    return QMouseEvent(kind, pos, pos, button, buttons, Qt.KeyboardModifier.NoModifier)


def test_the_window_draws_the_scene_into_a_native_window_and_the_screen_shows_it(
    qtbot: QtBot, viewer: Viewer
) -> None:
    window = _window(viewer)
    assert window.findChildren(QOpenGLWidget) == []  # nothing for Qt to composite
    gl_window = _gl_window(viewer)
    qtbot.waitUntil(gl_window.isExposed, timeout=5000)
    assert gl_window.winId() != window.winId()  # a window of its own
    expected = _sides(viewer.screenshot()[..., :3])
    assert max(abs(e - v) for e, v in zip(expected, (LEFT, RIGHT), strict=True)) <= 2

    def shown() -> None:
        got = _sides(_on_screen(viewer))
        assert max(abs(g - v) for g, v in zip(got, (LEFT, RIGHT), strict=True)) <= 2, got

    qtbot.waitUntil(shown, timeout=5000)
    canvas = window.canvas
    assert _on_screen(viewer).shape[:2] == (canvas.height(), canvas.width())
    part = canvas.grab(QRect(2, 3, 10, 8))
    assert (part.width(), part.height()) == (10, 8)


def test_mouse_input_at_the_native_window_pans_zooms_and_follows_the_cursor(
    qtbot: QtBot, viewer: Viewer
) -> None:
    window = _window(viewer)
    gl_window = _gl_window(viewer)
    qtbot.waitUntil(gl_window.isExposed, timeout=5000)
    left = Qt.MouseButton.LeftButton
    none = Qt.MouseButton.NoButton
    w, h = window.canvas.width(), window.canvas.height()
    y = h / 2

    def cursor_followed() -> bool:
        # sent again each time: the real pointer's crossing events may clear the status
        _send(gl_window, _mouse(QEvent.Type.MouseMove, w / 4, y, none))
        return f"halves: {LEFT}" in window.status.cursor_label.text()

    qtbot.waitUntil(cursor_followed, timeout=3000)

    before = viewer.camera.center
    _send(gl_window, _mouse(QEvent.Type.MouseButtonPress, w / 2, y, left))
    for x in (w / 2 + 6, w / 2 + 16, w / 2 + 26):
        qtbot.wait(15)  # vispy drops a move within 10 ms of the last
        _send(gl_window, _mouse(QEvent.Type.MouseMove, x, y, left))
    _send(gl_window, _mouse(QEvent.Type.MouseButtonRelease, w / 2 + 26, y, none))
    qtbot.waitUntil(lambda: viewer.camera.center != before, timeout=3000)
    assert viewer.camera.center[1] < before[1]  # dragged right: the view moves left
    assert viewer.camera.center[0] == pytest.approx(before[0])

    zoom = viewer.camera.zoom
    pos = QPointF(w / 2, y)
    wheel = QWheelEvent(
        pos,
        pos,
        QPoint(0, 0),
        QPoint(0, 120),
        none,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    _send(gl_window, wheel)
    qtbot.waitUntil(lambda: viewer.camera.zoom > zoom, timeout=3000)


def test_the_native_window_never_takes_keyboard_focus_and_passes_keys_on(
    qtbot: QtBot, viewer: Viewer
) -> None:
    gl_window = _gl_window(viewer)
    canvas = _window(viewer).canvas
    assert gl_window.flags() & Qt.WindowType.WindowDoesNotAcceptFocus
    keys: list[Any] = []
    viewer.backend.canvas.events.key_press.connect(lambda event: keys.append(event.key))
    _send(gl_window, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier))
    assert [str(k) for k in keys] == ["<Key 'A'>"]
    window = _window(viewer)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    window.layer_list.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not canvas, timeout=3000)
    _send(gl_window, _mouse(QEvent.Type.MouseButtonPress, 10, 10, Qt.MouseButton.LeftButton))
    _send(gl_window, _mouse(QEvent.Type.MouseButtonRelease, 10, 10, Qt.MouseButton.NoButton))
    assert QApplication.focusWidget() is canvas  # a click focuses the canvas widget


def test_the_config_can_ask_for_the_composited_widget(qtbot: QtBot, display: None) -> None:
    viewer = _viewer(native_window=False)
    window = _window(viewer)
    try:
        assert isinstance(window.canvas, QOpenGLWidget)

        def shown() -> None:
            got = _sides(_on_screen(viewer))
            assert max(abs(g - v) for g, v in zip(got, (LEFT, RIGHT), strict=True)) <= 2, got

        qtbot.waitUntil(shown, timeout=5000)
    finally:
        viewer.close()
        window.deleteLater()
