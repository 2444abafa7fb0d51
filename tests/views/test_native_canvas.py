"""A window's canvas draws into a native OpenGL window (render/vispy/_window.py): what is on
screen is the scene, input reaching the native window drives the viewer as the widget's own
input did, keyboard focus stays with the widgets, and the composited QOpenGLWidget is still
there when the config asks for it. A frame is swapped once its fence says the rasteriser has
finished it (a gated fake fence makes that deterministic), a motion frame is scaled up only
after its scene is finished, and a draw asked for meanwhile waits for the frame before it.

Needs a display with OpenGL: run under ``xvfb-run -a``; skipped (with the reason) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def _viewer(native_window: bool, **render: Any) -> Viewer:
    render["native_window"] = native_window
    previous = set_config(OctreeConfig.from_dict({"render": render}))
    try:
        viewer = Viewer(show=True, size=(96, 128), title="tilescope test")
    finally:
        set_config(previous)
    viewer.add_image(halves(), name="halves", contrast_limits=(0, 255))
    viewer.wait_until_idle()
    return viewer


@contextmanager
def _opened(native_window: bool = True, **render: Any) -> Iterator[Viewer]:
    """A shown viewer of ``halves()`` with these render settings, closed afterwards."""
    v = _viewer(native_window, **render)
    window = v.window
    try:
        yield v
    finally:
        v.close()
        window.deleteLater()


@pytest.fixture
def viewer(display: None, qtbot: QtBot) -> Iterator[Viewer]:
    with _opened() as v:
        yield v


@pytest.fixture
def still_viewer(display: None, qtbot: QtBot) -> Iterator[Viewer]:
    """A viewer whose frames are all at full resolution (no motion frames, however slow)."""
    with _opened(motion_scale=1.0) as v:
        yield v


def _window(viewer: Viewer) -> ViewerWindow:
    window = viewer.window
    assert isinstance(window, ViewerWindow)
    return window


def _on_screen(viewer: Viewer) -> npt.NDArray[np.uint8]:
    """The canvas as the screen shows it, RGB (the canvas's ``grab`` draws a frame first)."""
    return _rgb(_window(viewer).canvas.grab())


def _rgb(pixmap: Any) -> npt.NDArray[np.uint8]:
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w, line = image.height(), image.width(), image.bytesPerLine()
    rgb = np.frombuffer(image.constBits(), np.uint8, h * line).reshape(h, line)
    return rgb[:, : 3 * w].reshape(h, w, 3).copy()


def _sides(rgb: npt.NDArray[np.uint8]) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    return (int(rgb[h // 2, w // 4, 0]), int(rgb[h // 2, 3 * w // 4, 0]))


def _canvas(viewer: Viewer) -> Any:
    from tilescope.render.vispy._window import WindowCanvasBackend

    canvas = _window(viewer).canvas
    assert isinstance(canvas, WindowCanvasBackend)
    return canvas


def _gl_window(viewer: Viewer) -> Any:
    return _canvas(viewer)._gl_window


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
    with _opened(False) as viewer:
        window = _window(viewer)
        assert isinstance(window.canvas, QOpenGLWidget)

        def shown() -> None:
            got = _sides(_on_screen(viewer))
            assert max(abs(g - v) for g, v in zip(got, (LEFT, RIGHT), strict=True)) <= 2, got

        qtbot.waitUntil(shown, timeout=5000)


class GatedFences:
    """A fake ``FenceSource``: a fence signals only once the test releases it."""

    def __init__(self) -> None:
        self.inserted: list[int] = []
        self.released: set[int] = set()
        self.deleted: list[int] = []

    def insert(self) -> object:
        self.inserted.append(len(self.inserted))
        return self.inserted[-1]

    def signaled(self, fence: object) -> bool:
        return fence in self.released

    def delete(self, fence: object) -> None:
        assert isinstance(fence, int)
        self.deleted.append(fence)

    def release(self) -> None:
        self.released.update(self.inserted)


def _gated(
    qtbot: QtBot, viewer: Viewer, monkeypatch: pytest.MonkeyPatch, wait_s: float = 600.0
) -> tuple[Any, GatedFences, list[float]]:
    """The viewer's native canvas with gated fences (any frame in flight shown first), and
    the list its presentations are appended to. A frame waits ``wait_s`` at most for its
    fence (long: a busy machine must not swap a gated frame before the test releases it)."""
    from tilescope.render.vispy import _window

    monkeypatch.setattr(_window, "_PRESENT_WAIT_S", wait_s)
    canvas = _canvas(viewer)
    qtbot.waitUntil(_gl_window(viewer).isExposed, timeout=5000)
    while canvas.present_pending:  # showing a frame draws the one asked for meanwhile
        canvas.present()
    fences = GatedFences()
    canvas.fences = fences
    shown: list[float] = []
    told = canvas.on_presented

    def presented(ms: float) -> None:
        shown.append(ms)
        told(ms)

    canvas.on_presented = presented
    return canvas, fences, shown


def _screen(viewer: Viewer) -> npt.NDArray[np.uint8]:
    """What the screen shows of the canvas now, RGB (nothing is drawn or swapped first)."""
    gl_window = _gl_window(viewer)
    return _rgb(gl_window.screen().grabWindow(gl_window.winId()))


def test_a_frame_is_swapped_once_its_fence_signals_and_a_draw_meanwhile_waits_for_it(
    qtbot: QtBot, still_viewer: Viewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = still_viewer
    canvas, fences, shown = _gated(qtbot, viewer, monkeypatch)
    backend = viewer.backend
    frames = backend.stats.frames
    paints = viewer.perf.stats().by_name.get("paint")
    painted = paints.count if paints is not None else 0
    viewer.layers[0].contrast_limits = (0, 510)  # a new picture: both halves darker
    viewer.wait_until_idle()
    qtbot.waitUntil(lambda: backend.stats.frames > frames, timeout=5000)
    assert canvas.present_pending
    assert fences.inserted == [0]
    qtbot.wait(40)  # 40 polls of the fence: not signalled, so nothing is swapped
    assert shown == []
    assert canvas.present_pending
    before = _sides(_screen(viewer))
    assert max(abs(g - v) for g, v in zip(before, (LEFT, RIGHT), strict=True)) <= 2, before
    # the frame is on screen only once shown: the viewer's paint task is recorded then
    still = viewer.perf.stats().by_name.get("paint")
    assert (still.count if still is not None else 0) == painted

    backend.canvas.update()  # asked for while the frame waits: drawn after it is shown
    qtbot.wait(20)
    assert backend.stats.frames == frames + 1
    fences.release()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    assert viewer.perf.stats().by_name["paint"].count == painted + 1
    after = _sides(_screen(viewer))
    expected = (LEFT // 2, RIGHT // 2)
    assert max(abs(g - v) for g, v in zip(after, expected, strict=True)) <= 2, after
    # the draw asked for meanwhile came right after, and waits for its own fence
    assert backend.stats.frames == frames + 2
    assert canvas.present_pending
    assert fences.inserted == [0, 1]
    assert fences.deleted == [0]
    fences.release()
    qtbot.waitUntil(lambda: not canvas.present_pending, timeout=5000)
    assert len(shown) == 2
    assert fences.deleted == [0, 1]


def test_a_motion_frame_is_scaled_up_only_once_its_scene_is_finished(
    qtbot: QtBot, display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tilescope.viewer

    monkeypatch.setattr(tilescope.viewer, "MOTION_SETTLE_S", 60.0)  # moving for the test
    with _opened(motion_paint_ms=0.0) as viewer:  # every frame counts as slow
        canvas, fences, shown = _gated(qtbot, viewer, monkeypatch)
        backend = viewer.backend
        backend.set_motion(True)
        viewer.layers[0].contrast_limits = (0, 510)
        viewer.wait_until_idle()
        qtbot.waitUntil(lambda: fences.inserted == [0], timeout=5000)
        assert backend.canvas.motion_scale < 1.0
        qtbot.wait(20)
        assert fences.inserted == [0]
        assert shown == []
        fences.release()
        qtbot.waitUntil(lambda: fences.inserted == [0, 1], timeout=5000)  # scaled up, fenced
        assert shown == []
        assert canvas.present_pending
        fences.release()
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
        reference = backend.motion_frame(backend.canvas.motion_scale)[..., :3]
        screen = _screen(viewer)
        assert screen.shape == reference.shape
        diff = np.abs(screen.astype(int) - reference.astype(int))
        assert int(diff.max()) <= 2
        got = _sides(screen)
        assert max(abs(g - v) for g, v in zip(got, (LEFT // 2, RIGHT // 2), strict=True)) <= 2


def test_grab_shows_a_waiting_frame_at_once_and_real_fences_are_used(
    qtbot: QtBot, still_viewer: Viewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = still_viewer
    from tilescope.render.vispy._gl import FrameFences

    canvas = _canvas(viewer)
    qtbot.waitUntil(_gl_window(viewer).isExposed, timeout=5000)
    qtbot.waitUntil(lambda: canvas.fences is not None, timeout=5000)
    assert isinstance(canvas.fences, FrameFences)  # llvmpipe has GL sync objects
    _, fences, shown = _gated(qtbot, viewer, monkeypatch)
    viewer.layers[0].contrast_limits = (0, 510)
    viewer.wait_until_idle()
    qtbot.waitUntil(lambda: canvas.present_pending, timeout=5000)
    got = _sides(_on_screen(viewer))  # grab: shows the frame, draws one, shows it
    assert max(abs(g - v) for g, v in zip(got, (LEFT // 2, RIGHT // 2), strict=True)) <= 2
    assert not canvas.present_pending
    assert len(shown) == 2
    assert sorted(fences.deleted) == fences.inserted


def test_the_config_can_ask_for_frames_swapped_at_once(qtbot: QtBot, display: None) -> None:
    with _opened(defer_present=False) as viewer:
        canvas = _canvas(viewer)
        qtbot.waitUntil(_gl_window(viewer).isExposed, timeout=5000)
        frames = viewer.backend.stats.frames
        viewer.layers[0].contrast_limits = (0, 510)
        viewer.wait_until_idle()
        qtbot.waitUntil(lambda: viewer.backend.stats.frames > frames, timeout=5000)
        assert not canvas.present_pending
        assert canvas.fences is None
        got = _sides(_screen(viewer))
        assert max(abs(g - v) for g, v in zip(got, (LEFT // 2, RIGHT // 2), strict=True)) <= 2


def test_a_fence_that_never_signals_cannot_keep_a_frame_off_the_screen(
    qtbot: QtBot, still_viewer: Viewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = still_viewer
    canvas, fences, shown = _gated(qtbot, viewer, monkeypatch, wait_s=0.3)
    viewer.layers[0].contrast_limits = (0, 510)
    viewer.wait_until_idle()
    qtbot.waitUntil(lambda: canvas.present_pending, timeout=5000)
    # never released: swapped anyway after the wait (the swap then waits itself)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    assert fences.released == set()
    assert fences.deleted == [0]
    got = _sides(_screen(viewer))
    assert max(abs(g - v) for g, v in zip(got, (LEFT // 2, RIGHT // 2), strict=True)) <= 2


def test_closing_or_resizing_with_a_frame_in_flight_loses_nothing(
    qtbot: QtBot, display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _opened(motion_scale=1.0) as viewer:
        window = _window(viewer)
        canvas, fences, shown = _gated(qtbot, viewer, monkeypatch)
        viewer.layers[0].contrast_limits = (0, 510)
        viewer.wait_until_idle()
        qtbot.waitUntil(lambda: canvas.present_pending, timeout=5000)
        width = canvas.width()
        window.resize(window.width() + 40, window.height())  # a new size asks for a frame
        qtbot.waitUntil(lambda: canvas.width() > width, timeout=5000)
        qtbot.wait(20)
        assert shown == []  # the frame at the old size still waits
        fences.release()
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
        # the frame asked for by the resize comes next, at the new size
        qtbot.waitUntil(lambda: fences.inserted == [0, 1], timeout=5000)
        assert canvas.present_pending
        viewer.close()  # with that frame in flight: its fence is let go, nothing raises
        assert not canvas.present_pending
        assert sorted(fences.deleted) == [0, 1]
