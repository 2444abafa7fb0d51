"""Whether this process can show a window with an OpenGL canvas; imports neither Qt nor vispy.

One answer for all who ask: the Qt application (:func:`tilescope.views.app.get_app`), the
vispy backend choosing an app for a new canvas, and the command line choosing between a
window and a screenshot. A window needs a real display: X11/Wayland on Linux (Xvfb works),
the native one on macOS/Windows. ``QT_QPA_PLATFORM=offscreen`` gives Qt widgets but no
OpenGL context for the canvas, so it counts as *no display*.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HEADLESS_QT_PLATFORMS", "display_problem"]

HEADLESS_QT_PLATFORMS = frozenset({"offscreen", "minimal", "vnc"})
"""Qt platform plugins without an OpenGL context for a canvas."""


def display_problem() -> str | None:
    """Why no window can be shown here, or ``None`` when a display is available."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if platform in HEADLESS_QT_PLATFORMS:
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
            "neither DISPLAY nor WAYLAND_DISPLAY is set; for a window, run under a virtual "
            "display (xvfb-run -a ...)"
        )
    return None
