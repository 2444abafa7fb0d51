"""The Qt application, created once and only where a display exists.

Without a display (:func:`~tilescope.render.display.display_problem`), :func:`get_app`
raises :class:`~tilescope.errors.NoDisplayError` instead of letting Qt abort the process.
"""

from __future__ import annotations

import sys

from qtpy.QtCore import QCoreApplication, Qt
from qtpy.QtWidgets import QApplication

from tilescope.errors import NoDisplayError
from tilescope.render.display import display_problem

__all__ = ["get_app", "run_event_loop"]


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
        raise NoDisplayError(
            f"cannot open a tilescope window: {problem}; without a display use "
            "Viewer(show=False) and viewer.screenshot()"
        )
    # Lets several GL canvases (and vispy's Qt backend) share textures; must precede the app.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts, True)
    app = QApplication([sys.argv[0] if sys.argv and sys.argv[0] else "tilescope"])
    app.setApplicationName("tilescope")
    return app


def run_event_loop() -> int:
    """Enter the Qt event loop until the last window closes; return its exit status."""
    return get_app().exec()
