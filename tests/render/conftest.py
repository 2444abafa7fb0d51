"""Fixtures for render tests: a headless backend, and helpers for pixel references.

vispy allows one GUI/GL application backend per process and EGL and Qt contexts
cannot be mixed. When a display is available (for example under ``xvfb-run``)
and the session may also open Qt windows, the backend fixture makes sure a
QApplication exists first, so every canvas in the session is a (hidden) Qt one;
without a display, canvases use EGL. The pure-EGL path is checked in a
subprocess either way (``test_egl_subprocess``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from render_helpers import BackendFactory

from tilescope.errors import RenderError
from tilescope.render import RenderBackend, create_backend


def _want_qt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _ensure_app_choice() -> None:
    if _want_qt():
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is None:
            QApplication([])


@pytest.fixture
def make_backend() -> Iterator[BackendFactory]:
    """Create headless backends (closed after the test); skip only if GL is unavailable."""
    made: list[RenderBackend] = []

    def make(size: tuple[int, int] = (64, 64)) -> RenderBackend:
        _ensure_app_choice()
        try:
            backend = create_backend(show=False, size=size)
        except RenderError as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"no OpenGL context for headless rendering: {exc}")
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: BackendFactory) -> RenderBackend:
    """A 64x64 headless backend."""
    return make_backend((64, 64))
