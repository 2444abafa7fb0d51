"""Choosing vispy's application backend: EGL headless, or Qt (PySide6) for windows.

vispy picks one application backend per process. Headless canvases use EGL on
Mesa (llvmpipe works without any GPU or display) with ``EGL_PLATFORM=surfaceless``;
canvases meant for a window use PySide6. If a Qt application is already
running, Qt is used either way (a hidden Qt canvas renders offscreen too).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from tilescope.errors import NoDisplayError, RenderError

__all__ = ["EGL_PACKAGES", "destroy_widget", "has_gl_context", "make_offscreen", "select_app"]

EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libgl1"
"""Debian/Ubuntu packages that provide headless OpenGL through EGL on Mesa."""

AppName = Literal["egl", "pyside6"]


def _qt_app_running() -> bool:
    widgets = sys.modules.get("PySide6.QtWidgets")
    return widgets is not None and widgets.QApplication.instance() is not None


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _use_app(name: AppName) -> str:
    """Select ``name`` as vispy's app (or keep the one already selected); return its name."""
    import vispy.app

    try:
        app = vispy.app.use_app(name)
    except RuntimeError as exc:
        if "Can only select a backend once" not in str(exc):
            raise
        app = vispy.app.use_app()
    return str(app.backend_name).lower()


def select_app(show: bool) -> AppName:
    """Select the vispy app backend for a new canvas and return which one is in use.

    ``show=True`` needs a display and uses Qt; ``show=False`` uses EGL unless a
    Qt application is already running. Raises :class:`NoDisplayError` when a
    window is asked for without a display, and :class:`RenderError` when no
    OpenGL context can be had (naming the packages to install).
    """
    want: AppName = "pyside6" if (show or _qt_app_running()) else "egl"
    if want == "pyside6" and not _has_display():
        raise NoDisplayError(
            "a window was requested but there is no display (DISPLAY/WAYLAND_DISPLAY unset "
            "or QT_QPA_PLATFORM=offscreen); use show=False for headless rendering and "
            "screenshots, or run under `xvfb-run -a`"
        )
    if want == "egl":
        # Read by Mesa's libEGL when the display is opened (on backend import).
        os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    try:
        name = _use_app(want)
    except Exception as exc:  # vispy wraps import/driver failures in several types
        if want == "egl":
            raise RenderError(
                "cannot start headless OpenGL (vispy's EGL backend failed: "
                f"{exc}). Install Mesa's EGL and GL drivers, e.g. "
                f"`sudo apt-get install -y {EGL_PACKAGES}`"
            ) from exc
        raise RenderError(f"cannot start vispy's Qt backend (PySide6): {exc}") from exc
    if "egl" in name:
        if show:
            raise RenderError(
                "vispy already uses its headless EGL backend in this process, so no window "
                "can be opened; create windowed viewers before any headless one"
            )
        return "egl"
    if "pyside6" in name or "qt" in name:
        return "pyside6"
    raise RenderError(
        f"vispy is already using the {name!r} backend in this process; tilescope needs "
        "'egl' (headless) or 'pyside6' (windows)"
    )


def make_offscreen(native: Any) -> None:
    """Give a hidden Qt canvas its own GL context without ever showing it on screen.

    A never-shown QOpenGLWidget has no context, and vispy would then draw with
    whichever context happens to be current. Uses the already loaded PySide6
    (this module does not import Qt itself).
    """
    qtcore = sys.modules.get("PySide6.QtCore")
    if qtcore is None:  # pragma: no cover - only called for the Qt backend
        return
    native.setAttribute(qtcore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    native.show()


def has_gl_context(native: Any) -> bool:
    """Whether a Qt canvas widget has a valid GL context (it has been shown)."""
    is_valid = getattr(native, "isValid", None)
    return bool(is_valid()) if callable(is_valid) else True


def destroy_widget(native: Any) -> None:
    """Delete a closed Qt canvas widget now rather than whenever Python collects it.

    A QOpenGLWidget destroyed during garbage collection releases its context in the
    middle of whatever another canvas is drawing at that moment.
    """
    qtcore = sys.modules.get("PySide6.QtCore")
    if qtcore is None:  # pragma: no cover - only called for the Qt backend
        return
    native.deleteLater()
    qtcore.QCoreApplication.sendPostedEvents(native, qtcore.QEvent.Type.DeferredDelete)
