"""Session-wide test setup.

vispy picks one application backend per process, and EGL and Qt GL contexts do not mix.
When a display exists (``./run test`` runs pytest under Xvfb), a QApplication is created
before any canvas so every canvas in the session is a Qt one (hidden canvases render
offscreen too); without a display, canvases use EGL and Qt tests skip.
"""

from __future__ import annotations

import os
import sys

import pytest


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_API", "pyside6")
    if has_display():
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is None:
            QApplication([])
