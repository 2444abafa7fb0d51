"""The Qt window around a real Viewer: it opens, its widgets drive the models, and the
picture on the canvas follows (pixels read back from the on-screen canvas).

Needs a display with OpenGL: run under ``xvfb-run -a``; skipped (with the reason) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pytestqt.qtbot import QtBot
from qtpy.QtCore import QPoint, Qt
from qtpy.QtGui import QImage

from checker_picture import CENTER, ZOOM, alternation, picture
from tilescope.loading.config import OctreeConfig, set_config
from tilescope.viewer import Viewer
from tilescope.views.window import ViewerWindow

pytestmark = pytest.mark.qt

PLANES = (0, 60, 120, 180, 240)
"""Constant grey value of each plane of the test stack."""


def stack() -> npt.NDArray[np.uint8]:
    return np.stack([np.full((24, 32), v, np.uint8) for v in PLANES])


@pytest.fixture
def viewer(display: None, qtbot: QtBot) -> Iterator[Viewer]:
    v = Viewer(show=True, size=(96, 128), title="tilescope test")
    window = v.window
    assert isinstance(window, ViewerWindow)
    try:
        yield v
    finally:
        v.close()
        window.deleteLater()


def window_of(viewer: Viewer) -> ViewerWindow:
    window = viewer.window
    assert isinstance(window, ViewerWindow)
    return window


def centre_rgb(viewer: Viewer) -> tuple[int, int, int]:
    """The colour at the middle of the on-screen canvas (what the user sees)."""
    image = window_of(viewer).canvas.grab().toImage()
    r, g, b, _ = image.pixelColor(image.width() // 2, image.height() // 2).getRgb()
    return (r, g, b)


def wait_for_centre(qtbot: QtBot, viewer: Viewer, expected: tuple[int, int, int]) -> None:
    """Run the event loop (worker results arrive through the Qt waker) until the canvas
    centre shows ``expected`` (within 2 levels per channel)."""

    def matches() -> None:
        got = centre_rgb(viewer)
        assert np.abs(np.subtract(got, expected)).max() <= 2, f"centre is {got}"

    qtbot.waitUntil(matches, timeout=5000)


def grey(v: int) -> tuple[int, int, int]:
    return (v, v, v)


def select(viewer: Viewer, layer: Any) -> None:
    window_of(viewer).layer_list.select(layer)


def test_window_opens_with_canvas_sliders_list_and_controls(qtbot: QtBot, viewer: Viewer) -> None:
    layer = viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    window = window_of(viewer)
    qtbot.waitExposed(window)
    assert window.isVisible()
    assert window.canvas is viewer.backend.native
    assert window.canvas.width() == 128  # the window grew around the viewer's canvas size
    assert [row.nsteps for row in window.sliders.rows] == [5]
    assert window.layer_list.selected is layer
    assert window.layer_controls.layer is layer
    wait_for_centre(qtbot, viewer, grey(120))  # napari starts on the middle plane
    qtbot.waitUntil(lambda: window.status.layer_label.text() == "planes: ready", timeout=5000)


def test_moving_a_slider_changes_dims_and_the_rendered_slice(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    window = window_of(viewer)
    wait_for_centre(qtbot, viewer, grey(120))
    window.sliders.slider(0).slider.setValue(4)
    assert viewer.dims.current_step[0] == 4
    wait_for_centre(qtbot, viewer, grey(240))
    window.sliders.slider(0).spin.setValue(1)
    wait_for_centre(qtbot, viewer, grey(60))
    # and the other way: the model moves the slider
    viewer.dims.set_current_step(0, 3)
    assert window.sliders.slider(0).slider.value() == 3
    wait_for_centre(qtbot, viewer, grey(180))


def test_play_button_steps_through_the_planes(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    window = window_of(viewer)
    window.sliders.fps = 50
    seen: set[int] = set()
    viewer.dims.events.current_step.connect(lambda steps: seen.add(steps[0]))
    window.sliders.slider(0).play_button.click()
    qtbot.waitUntil(lambda: seen >= {0, 1, 2, 3, 4}, timeout=5000)  # looped through all
    window.sliders.stop()


def test_opacity_contrast_gamma_and_colormap_controls_change_the_picture(
    qtbot: QtBot, viewer: Viewer
) -> None:
    layer = viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    controls = window_of(viewer).layer_controls
    wait_for_centre(qtbot, viewer, grey(120))

    controls.contrast.setValue((0.0, 120.0))
    assert layer.contrast_limits == (0.0, 120.0)
    wait_for_centre(qtbot, viewer, grey(255))

    controls.contrast.setValue((0.0, 240.0))
    wait_for_centre(qtbot, viewer, grey(128))

    controls.gamma.setValue(2.0)
    assert layer.gamma == 2.0
    wait_for_centre(qtbot, viewer, grey(round(255 * 0.5**2)))
    controls.gamma.setValue(1.0)

    controls.opacity.setValue(0.5)
    assert layer.opacity == 0.5
    wait_for_centre(qtbot, viewer, grey(64))  # half of 128 over the black background
    controls.opacity.setValue(1.0)

    controls.colormap.setCurrentText("red")
    controls.colormap.activated.emit(controls.colormap.currentIndex())
    assert layer.colormap.name == "cmap:red"
    wait_for_centre(qtbot, viewer, (128, 0, 0))


def test_blending_visibility_and_order_change_the_picture(qtbot: QtBot, viewer: Viewer) -> None:
    plane = np.full((24, 32), 200, np.uint8)
    red = viewer.add_image(plane, name="red", colormap="red", contrast_limits=(0, 200))
    green = viewer.add_image(plane, name="green", colormap="green", contrast_limits=(0, 200))
    window = window_of(viewer)
    wait_for_centre(qtbot, viewer, (0, 255, 0))  # green is on top and opaque

    select(viewer, green)
    window.layer_controls.blending.setCurrentText("additive")
    window.layer_controls.blending.activated.emit(window.layer_controls.blending.currentIndex())
    assert green.blending == "additive"
    wait_for_centre(qtbot, viewer, (255, 255, 0))  # red + green

    window.layer_list.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # top row: green
    assert green.visible is False
    wait_for_centre(qtbot, viewer, (255, 0, 0))
    window.layer_list.list.item(0).setCheckState(Qt.CheckState.Checked)

    green.blending = "translucent"
    wait_for_centre(qtbot, viewer, (0, 255, 0))
    select(viewer, red)
    window.layer_list.up_button.click()  # red moves on top
    assert [layer.name for layer in viewer.layers] == ["green", "red"]
    assert [row.name for row in window.layer_list.rows] == ["red", "green"]
    wait_for_centre(qtbot, viewer, (255, 0, 0))


def test_3d_button_toggles_ndisplay_and_rebuilds_sliders(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    window = window_of(viewer)
    rendering = window.layer_controls.rendering
    wait_for_centre(qtbot, viewer, grey(120))
    assert not rendering.isVisible()  # a 3D-only control
    window.ndisplay_button.click()
    assert viewer.dims.ndisplay == 3
    assert window.sliders.rows == ()
    assert window.ndisplay_button.text() == "2D"
    assert rendering.isVisible()
    wait_for_centre(qtbot, viewer, grey(240))  # maximum intensity projection of the planes
    rendering.setCurrentText("minip")
    rendering.activated.emit(rendering.currentIndex())
    wait_for_centre(qtbot, viewer, grey(0))  # minimum intensity projection
    viewer.dims.ndisplay = 2
    assert not window.ndisplay_button.isChecked()
    assert not rendering.isVisible()
    assert [row.nsteps for row in window.sliders.rows] == [5]


def test_status_bar_shows_world_coordinate_and_value_under_the_cursor(
    qtbot: QtBot, viewer: Viewer
) -> None:
    viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    viewer.dims.axis_labels = ("z", "y", "x")
    window = window_of(viewer)
    wait_for_centre(qtbot, viewer, grey(120))
    canvas = window.canvas
    qtbot.mouseMove(canvas, QPoint(canvas.width() // 2, canvas.height() // 2))
    qtbot.waitUntil(lambda: "planes: 120" in window.status.cursor_label.text(), timeout=3000)
    text = window.status.cursor_label.text()
    assert text.startswith("z=2 y=")
    viewer.dims.set_current_step(0, 4)  # the cursor stays; the slice under it changes
    qtbot.waitUntil(lambda: "planes: 240" in window.status.cursor_label.text(), timeout=3000)
    assert window.status.cursor_label.text().startswith("z=4 ")


def test_status_bar_shows_the_units_of_the_data(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(
        stack(),
        name="planes",
        scale=(2.0, 0.5, 0.5),
        metadata={"axis_labels": ("z", "y", "x"), "units": ("micrometer",) * 3},
    )
    window = window_of(viewer)
    wait_for_centre(qtbot, viewer, grey(120))
    canvas = window.canvas
    # off the centre: the previous test left the pointer there (no move event again)
    qtbot.mouseMove(canvas, QPoint(canvas.width() // 2 + 3, canvas.height() // 2 + 3))
    qtbot.waitUntil(lambda: "planes:" in window.status.cursor_label.text(), timeout=3000)
    text = window.status.cursor_label.text()
    assert text.startswith("z=4 µm y=")
    assert text.count("µm") == 3


class FailingArray:
    """An array whose reads fail, like a file on a disk that went away."""

    shape = (4, 16, 16)
    dtype = np.dtype(np.uint16)
    ndim = 3

    def __getitem__(self, key: Any) -> Any:
        raise OSError("disk went away")

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise OSError("disk went away")


def test_status_bar_shows_the_selected_layers_error(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(FailingArray(), name="broken", contrast_limits=(0, 100))
    window = window_of(viewer)
    qtbot.waitUntil(lambda: "error" in window.status.layer_label.text(), timeout=5000)
    assert window.status.layer_label.text().startswith("broken: error")
    assert "disk went away" in window.status.layer_label.text()


def test_closing_the_viewer_closes_the_window(qtbot: QtBot, display: None) -> None:
    v = Viewer(show=True, size=(64, 64))
    window = window_of(v)
    qtbot.waitExposed(window)
    v.close()
    assert not window.isVisible()
    assert v.window is None
    window.deleteLater()


def test_keyboard_shortcuts(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.add_image(stack(), name="planes", contrast_limits=(0, 255))
    window = window_of(viewer)
    qtbot.waitExposed(window)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus, timeout=2000)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert viewer.dims.current_step[0] == 3
    qtbot.keyClick(window.canvas, Qt.Key.Key_Left)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Left)
    assert viewer.dims.current_step[0] == 1
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert viewer.dims.ndisplay == 3
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert viewer.dims.ndisplay == 2


def _motion_viewer() -> Viewer:
    """A window whose every moving frame is a motion frame (``render.motion_paint_ms`` 0),
    showing :func:`checker_picture.picture` 1:1."""
    previous = set_config(OctreeConfig.from_dict({"render": {"motion_paint_ms": 0}}))
    try:
        viewer = Viewer(show=True, size=(64, 96), title="tilescope test")
    finally:
        set_config(previous)
    viewer.add_image(picture(), contrast_limits=(0, 255))
    viewer.camera.update(center=CENTER, zoom=ZOOM)
    viewer.wait_until_idle()
    return viewer


def _on_screen(viewer: Viewer) -> npt.NDArray[np.uint8]:
    """The canvas as the user sees it, RGBA (grabbing draws a frame)."""
    image = window_of(viewer).canvas.grab().toImage()
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w, line = image.height(), image.width(), image.bytesPerLine()
    rgba = np.frombuffer(image.constBits(), np.uint8, h * line).reshape(h, line)
    return rgba[:, : 4 * w].reshape(h, w, 4).copy()


def test_a_moving_view_draws_at_lower_resolution_and_the_settled_view_at_full(
    qtbot: QtBot, display: None
) -> None:
    """A 1-pixel checkerboard, resolved at rest, is not while the camera moves, and is again
    once the view settles (the window redraws it at full resolution by itself)."""
    viewer = _motion_viewer()
    window = window_of(viewer)
    try:
        assert viewer.backend.motion_frames
        qtbot.waitUntil(lambda: alternation(_on_screen(viewer)) > 100, timeout=5000)
        viewer.camera.update(center=CENTER, zoom=ZOOM * 1.0001)  # a move the eye cannot see
        assert alternation(_on_screen(viewer)) < 40
        qtbot.waitUntil(lambda: alternation(_on_screen(viewer)) > 100, timeout=5000)
    finally:
        viewer.close()
        window.deleteLater()


def test_a_scene_with_points_moves_at_full_resolution(qtbot: QtBot, display: None) -> None:
    """Points are sized in screen pixels: a motion frame would draw them larger, so a scene
    with points never uses one."""
    viewer = _motion_viewer()
    window = window_of(viewer)
    try:
        viewer.add_points(np.array([[60.0, 90.0]]), size=2)  # away from the checkerboard
        qtbot.waitUntil(lambda: alternation(_on_screen(viewer)) > 100, timeout=5000)
        viewer.camera.update(center=CENTER, zoom=ZOOM * 1.0001)
        assert alternation(_on_screen(viewer)) > 100
    finally:
        viewer.close()
        window.deleteLater()
