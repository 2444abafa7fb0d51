"""Choosing a vispy app per canvas: missing EGL says what to install, windows need a
display, and headless (EGL) and windowed (Qt) canvases coexist in one process in either
order (checked in fresh interpreters, as a notebook would create them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any
from unittest.mock import MagicMock

import numpy as np
import pytest

from tilescope.errors import NoDisplayError, RenderError
from tilescope.render import RenderBackend, create_backend
from tilescope.render.vispy import _app


def test_missing_egl_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> Any:
        raise OSError("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(_app, "_vispy_app", broken)
    monkeypatch.setattr(_app, "_qt_gui_platform", lambda: None)
    with pytest.raises(RenderError, match="libegl1 libegl-mesa0 libgl1-mesa-dri libgl1"):
        create_backend(show=False)


@pytest.mark.parametrize(
    ("env", "qt_platform"),
    [
        pytest.param(
            {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None},
            None,
            id="no-display",
        ),
        pytest.param(
            {"DISPLAY": ":99", "QT_QPA_PLATFORM": "offscreen"}, None, id="qt-offscreen-env"
        ),
        pytest.param({"DISPLAY": ":99"}, "offscreen", id="qt-app-on-offscreen-platform"),
    ],
)
def test_window_without_display_raises(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, Any], qt_platform: str | None
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("display detection is Linux-specific")
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.setattr(_app, "_qt_gui_platform", lambda: qt_platform)
    with pytest.raises(NoDisplayError, match="show=False"):
        create_backend(show=True)


@pytest.mark.parametrize(
    ("qt_platform", "expected"),
    [
        pytest.param(None, "egl", id="no-qt-app"),
        pytest.param("offscreen", "egl", id="offscreen-qt-app"),
        pytest.param("xcb", "egl", id="qt-app-with-display"),
    ],
)
def test_headless_canvases_use_egl_whatever_qt_runs(
    monkeypatch: pytest.MonkeyPatch, qt_platform: str | None, expected: str
) -> None:
    monkeypatch.setattr(_app, "_vispy_app", lambda name: f"app:{name}")
    monkeypatch.setattr(_app, "_qt_gui_platform", lambda: qt_platform)
    assert _app.select_app(False) == (expected, f"app:{expected}")


@pytest.mark.gl
@pytest.mark.qt
def test_without_egl_a_running_qt_app_renders_hidden_canvases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback: EGL unavailable, a Qt GUI app with a display: a never-shown Qt canvas."""
    if not _app._has_display():
        pytest.skip("needs a display for the Qt fallback (run under xvfb-run -a)")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    real = _app._vispy_app

    def no_egl(name: _app.AppName) -> Any:
        if name == "egl":
            raise RuntimeError("EGL is not available")
        return real(name)

    monkeypatch.setattr(_app, "_vispy_app", no_egl)
    backend = create_backend(show=False, size=(6, 8))
    try:
        assert backend.native is None  # headless to the caller, though a Qt widget inside
        _check_ramp(backend)
    finally:
        backend.close()


def _check_ramp(backend: RenderBackend) -> None:
    from tilescope.render import CameraView, ImageDraw, RenderPlan

    data = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    plan = RenderPlan(
        2, CameraView((1.0, 1.5), 2.0), (ImageDraw(1, data, np.eye(3), (0, 255)),), (6, 8)
    )
    backend.apply(plan)
    shot = backend.screenshot()
    ref = np.repeat(np.repeat(data, 2, 0), 2, 1)
    assert shot.shape == (6, 8, 4)
    assert np.abs(shot[..., 0].astype(int) - ref).max() <= 1


def test_backend_interface_is_fakeable() -> None:
    fake = MagicMock(spec=RenderBackend)
    fake.screenshot.return_value = None
    fake.apply("plan")
    fake.apply.assert_called_once_with("plan")
    with pytest.raises(AttributeError):
        fake.not_in_the_interface  # noqa: B018


_EGL_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from tilescope.render import CameraView, ImageDraw, RenderPlan, create_backend

    data = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    backend = create_backend(show=False, size=(6, 8))
    assert backend.native is None  # headless: no widget
    backend.apply(RenderPlan(2, CameraView((1.0, 1.5), 2.0),
                  (ImageDraw(1, data, np.eye(3), (0, 255)),), canvas_size=(6, 8)))
    shot = backend.screenshot()
    ref = np.repeat(np.repeat(data, 2, 0), 2, 1)
    assert shot.shape == (6, 8, 4), shot.shape
    assert np.abs(shot[..., 0].astype(int) - ref).max() <= 1, shot[..., 0]
    print("EGL OK")
    """
)


def _fresh_python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter; skip if EGL is missing there, else it must pass."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=90
    )
    if result.returncode != 0 and "cannot start headless OpenGL" in result.stderr:
        pytest.skip(f"EGL unavailable on this machine: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.gl
def test_egl_renders_without_any_display() -> None:
    """The pure headless path in a fresh interpreter with no display at all."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("EGL_PLATFORM", None)  # the backend sets it itself
    result = _fresh_python(_EGL_SCRIPT, env=env)
    assert "EGL OK" in result.stdout


_MIXED_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import tilescope

    HEADLESS, WINDOWED = (40, 200), (220, 90)  # grey values of the left and right halves

    def halves(left, right):
        image = np.empty((24, 32), np.uint8)
        image[:, :16], image[:, 16:] = left, right
        return image

    def make(show, values):
        viewer = tilescope.Viewer(show=show, size=(96, 128))
        viewer.add_image(halves(*values), contrast_limits=(0, 255))
        return viewer

    def sides(rgb):  # red channel left and right of the centre
        h, w = rgb.shape[:2]
        return (int(rgb[h // 2, w // 4, 0]), int(rgb[h // 2, 3 * w // 4, 0]))

    def check(viewer, values, what):
        got = sides(viewer.screenshot())
        assert max(abs(g - v) for g, v in zip(got, values)) <= 2, (what, got, values)

    def on_screen(viewer):  # what Qt itself paints in the window
        from PySide6.QtWidgets import QApplication
        canvas = viewer.window.canvas
        deadline = time.monotonic() + 20
        while True:
            QApplication.instance().processEvents()
            image = canvas.grab().toImage()
            ptr = image.convertToFormat(image.Format.Format_RGBA8888).constBits()
            rgb = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.width(), 4)
            got = sides(rgb)
            if max(abs(g - v) for g, v in zip(got, WINDOWED)) <= 2:
                return
            assert time.monotonic() < deadline, ("on screen", got, WINDOWED)

    first_shows = sys.argv[1] == "windowed-then-headless"
    order = [(first_shows, WINDOWED if first_shows else HEADLESS)]
    order.append((not first_shows, HEADLESS if first_shows else WINDOWED))
    viewers = []
    for show, values in order:
        viewer = make(show, values)
        check(viewer, values, "new")
        viewers.append((viewer, values))
    windowed = next(v for v, values in viewers if values == WINDOWED)
    on_screen(windowed)
    for viewer, values in viewers + viewers:  # interleaved, after Qt painted on screen
        check(viewer, values, "again")
    for viewer, _ in viewers:
        viewer.close()
    print("MIXED OK")
    """
)


@pytest.mark.gl
@pytest.mark.qt
@pytest.mark.parametrize("order", ["headless-then-windowed", "windowed-then-headless"])
def test_headless_and_windowed_viewers_in_one_process(order: str) -> None:
    """Notebook use: ``Viewer(show=False)`` and ``Viewer(show=True)`` in either order,
    both rendering their own data, with no GL context errors from Qt."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display for the window (run under xvfb-run -a, as ./run test)")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "EGL_PLATFORM")}
    result = _fresh_python(_MIXED_SCRIPT, order, env=env)
    assert "MIXED OK" in result.stdout
    assert "make context current" not in result.stderr, result.stderr
    assert "QRhi" not in result.stderr, result.stderr


_OFFSCREEN_QT_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from PySide6.QtWidgets import QApplication
    import tilescope
    from tilescope.errors import NoDisplayError

    app = QApplication(["test", "-platform", "offscreen"])  # widgets only, no GL for canvases
    with tilescope.Viewer(show=False, size=(8, 8)) as viewer:
        viewer.add_image(np.full((4, 4), 100, np.uint8), contrast_limits=(0, 200))
        shot = viewer.screenshot()
        assert abs(int(shot[4, 4, 0]) - 128) <= 2, shot[..., 0]
    try:
        tilescope.Viewer(show=True)
    except NoDisplayError as exc:
        print("NoDisplayError:", exc)
    print("OFFSCREEN OK")
    """
)


@pytest.mark.gl
def test_headless_viewer_beside_an_offscreen_qt_app() -> None:
    """A QApplication on Qt's offscreen platform (widget tests without a display) does not
    stop headless rendering, and a window still says there is no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("EGL_PLATFORM", None)
    result = _fresh_python(_OFFSCREEN_QT_SCRIPT, env=env)
    assert "NoDisplayError: " in result.stdout
    assert "OFFSCREEN OK" in result.stdout
