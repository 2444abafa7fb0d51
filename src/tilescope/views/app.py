"""The Qt application, created once and only where a display exists.

A window needs a real display: X11/Wayland on Linux (Xvfb works), the native one on
macOS/Windows. ``QT_QPA_PLATFORM=offscreen`` gives Qt widgets but no OpenGL context for
the vispy canvas, so it counts as *no display* here. Without a display,
:func:`get_app` raises :class:`~tilescope.errors.NoDisplayError` instead of letting
Qt abort the process.
"""

from __future__ import annotations

import os
import sys

from qtpy.QtCore import QCoreApplication, Qt
from qtpy.QtWidgets import QApplication

from tilescope.errors import NoDisplayError

__all__ = ["display_problem", "get_app", "run_event_loop"]

_HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc"})


def display_problem() -> str | None:
    """Why no window can be shown here, or ``None`` when a display is available."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if platform in _HEADLESS_PLATFORMS:
        return (
            f"QT_QPA_PLATFORM={platform!r} has no OpenGL context for the canvas; "
            "unset it, or run under a virtual display (xvfb-run -a ...)"
        )
    if platform:
        return None  # an explicit platform plugin (xcb, wayland, eglfs, ...): trust the user
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "neither DISPLAY nor WAYLAND_DISPLAY is set; run under a virtual display "
            "(xvfb-run -a ...), or use Viewer(show=False) and viewer.screenshot()"
        )
    return None


def get_app() -> QApplication:
    """Return the process's QApplication, creating it if needed.

    Raises :class:`~tilescope.errors.NoDisplayError` when there is no display, *before*
    touching Qt (Qt aborts the process when its platform plugin cannot connect).
    """
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    if existing is not None:
        raise NoDisplayError(
            f"a non-GUI Qt application ({type(existing).__name__}) already exists; "
            "tilescope's window needs a QApplication"
        )
    problem = display_problem()
    if problem is not None:
        raise NoDisplayError(f"cannot open a tilescope window: {problem}")
    # Lets several GL canvases (and vispy's Qt backend) share textures; must precede the app.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts, True)
    app = QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "tilescope"])
    app.setApplicationName("tilescope")
    return app


def run_event_loop() -> int:
    """Enter the Qt event loop until the last window closes; return its exit status."""
    return get_app().exec()
