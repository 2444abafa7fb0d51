"""Backend selection errors: missing EGL says what to install; windows need a display."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any
from unittest.mock import MagicMock

import pytest

from tilescope.errors import NoDisplayError, RenderError
from tilescope.render import RenderBackend, create_backend
from tilescope.render.vispy import _app


def test_missing_egl_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> str:
        raise OSError("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(_app, "_use_app", broken)
    monkeypatch.setattr(_app, "_qt_app_running", lambda: False)
    with pytest.raises(RenderError, match="libegl1 libegl-mesa0 libgl1-mesa-dri libgl1"):
        create_backend(show=False)


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"DISPLAY": None, "WAYLAND_DISPLAY": None}, id="no-display"),
        pytest.param({"DISPLAY": ":99", "QT_QPA_PLATFORM": "offscreen"}, id="qt-offscreen"),
    ],
)
def test_window_without_display_raises(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("display detection is Linux-specific")
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    with pytest.raises(NoDisplayError, match="show=False"):
        create_backend(show=True)


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


@pytest.mark.gl
def test_egl_renders_without_any_display() -> None:
    """The pure headless path in a fresh interpreter with no display at all."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("EGL_PLATFORM", None)  # the backend sets it itself
    result = subprocess.run(
        [sys.executable, "-c", _EGL_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0 and "cannot start headless OpenGL" in result.stderr:
        pytest.skip(f"EGL unavailable on this machine: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    assert "EGL OK" in result.stdout
