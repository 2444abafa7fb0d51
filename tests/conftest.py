"""Session-wide test setup.

``./run test`` runs pytest under Xvfb, so Qt window tests get a display; headless viewers
render through EGL either way (each canvas owns its vispy app, so EGL and Qt canvases coexist
in one process). Without a display, Qt window tests skip with the reason.
"""

from __future__ import annotations

import os


def pytest_configure() -> None:
    os.environ.setdefault("QT_API", "pyside6")
