"""Choosing a vispy application per canvas: EGL for headless, Qt (PySide6) for windows.

Every canvas gets an explicit vispy ``Application`` (one per backend, shared): vispy's
single *default* app is never used, so headless (EGL) and windowed (Qt) canvases can be
created in either order in one process, as notebooks do.

Headless canvases use EGL on Mesa (llvmpipe works without any GPU or display) with
``EGL_PLATFORM=surfaceless``. When EGL cannot start but a Qt GUI application with a real
display is running, a hidden Qt canvas is used instead. A Qt application on the
``offscreen``/``minimal`` platform has no OpenGL for canvases and never counts.

EGL and Qt (GLX) contexts live side by side but a thread may have only one of them
current: libglvnd refuses ``eglMakeCurrent`` while a GLX context is current, and Qt's
``makeCurrent`` fails while an EGL context is. :func:`egl_current` therefore releases
Qt's context before EGL work and the EGL context after it — once Qt's GUI module is loaded.
Before that there is no Qt context to make room for, so a headless process keeps its EGL
context current between frames (switching costs about 1 ms per frame on llvmpipe) and
:func:`leave_egl` releases it before the first Qt canvas is made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from tilescope.errors import NoDisplayError, RenderError
from tilescope.render.display import HEADLESS_QT_PLATFORMS, display_problem
from tilescope.render.vispy._gl import keep_gil_in_gl_calls

__all__ = [
    "EGL_PACKAGES",
    "destroy_widget",
    "dispose_egl_canvas",
    "egl_current",
    "has_gl_context",
    "leave_egl",
    "make_offscreen",
    "release_qt_context",
    "select_app",
]

EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libgl1"
"""Debian/Ubuntu packages that provide headless OpenGL through EGL on Mesa."""

AppName = Literal["egl", "pyside6"]
_AppKey = Literal["egl", "pyside6", "pyside6-window"]

_apps: dict[_AppKey, Any] = {}  # one vispy Application per backend, created on first use


def _qt_gui_platform() -> str | None:
    """The platform of the running Qt GUI application (``None`` when there is none)."""
    gui = sys.modules.get("PySide6.QtGui")
    if gui is None:
        return None
    app = gui.QGuiApplication.instance()
    if app is None or not isinstance(app, gui.QGuiApplication):
        return None
    return str(gui.QGuiApplication.platformName()).lower()


def _has_display() -> bool:
    """Whether a Qt window with an OpenGL canvas can be shown in this process."""
    platform = _qt_gui_platform()
    if platform is not None:  # Qt already chose; the environment may have changed since
        return platform not in HEADLESS_QT_PLATFORMS
    return display_problem() is None


def _vispy_app(name: _AppKey) -> Any:
    """vispy's ``Application`` for backend ``name`` (never vispy's process-wide default).

    ``"pyside6-window"`` is vispy's PySide6 backend whose canvases draw into a native window
    (see ``_window.py``), for canvases shown in a window.
    """
    app = _apps.get(name)
    if app is None:
        import vispy.app

        keep_gil_in_gl_calls()  # before any GL call (see _gl.py)

        if name == "pyside6-window":
            qt = _vispy_app("pyside6")  # imports vispy's Qt backend with PySide6
            from tilescope.render.vispy._window import window_backend_module

            app = vispy.app.Application("pyside6")
            app._backend_module = window_backend_module(qt.backend_module)
        else:
            if name == "egl":
                # Read by Mesa's libEGL when the display is opened (on backend import).
                os.environ.setdefault("EGL_PLATFORM", "surfaceless")
            app = vispy.app.Application(name)
        _apps[name] = app
    return app


def select_app(show: bool, native_window: bool = True) -> tuple[AppName, Any]:
    """The vispy app for a new canvas: ``(name, vispy.app.Application)``.

    ``show=True`` needs a display and uses Qt, drawing into a native window unless
    ``native_window`` is false (then vispy's ``QOpenGLWidget``); ``show=False`` uses EGL, or
    a hidden Qt canvas when EGL is unavailable but a Qt GUI application with a display runs.
    Raises
    :class:`NoDisplayError` when a window is asked for without a display, and
    :class:`RenderError` when no OpenGL context can be had (naming the packages).
    """
    if show:
        if not _has_display():
            raise NoDisplayError(
                "a window was requested but there is no display (DISPLAY/WAYLAND_DISPLAY "
                "unset or Qt on the offscreen platform); use show=False for headless "
                "rendering and screenshots, or run under `xvfb-run -a`"
            )
        try:
            return "pyside6", _vispy_app("pyside6-window" if native_window else "pyside6")
        except Exception as exc:  # vispy wraps import failures in several types
            raise RenderError(f"cannot start vispy's Qt backend (PySide6): {exc}") from exc
    try:
        return "egl", _vispy_app("egl")
    except Exception as exc:  # vispy wraps import/driver failures in several types
        if _qt_gui_platform() is not None and _has_display():
            return "pyside6", _vispy_app("pyside6")
        raise RenderError(
            "cannot start headless OpenGL (vispy's EGL backend failed: "
            f"{exc}). Install Mesa's EGL and GL drivers, e.g. "
            f"`sudo apt-get install -y {EGL_PACKAGES}`"
        ) from exc


def release_qt_context() -> None:
    """Make no Qt OpenGL context current on this thread (Qt makes its own current again)."""
    gui = sys.modules.get("PySide6.QtGui")
    if gui is None:
        return
    context = gui.QOpenGLContext.currentContext()
    if context is not None:
        context.doneCurrent()


class _EglState:
    """The canvas whose EGL context is current on the (main) thread, if tilescope knows it."""

    current: Any = None


def _qt_loaded() -> bool:
    return "PySide6.QtGui" in sys.modules


def leave_egl() -> None:
    """Make no EGL context current (before Qt GL work in a process that rendered headless)."""
    if _EglState.current is not None:
        _release_egl_context()


def _release_egl_context() -> None:
    _EglState.current = None
    egl_backend = sys.modules.get("vispy.app.backends._egl")
    display = getattr(egl_backend, "_EGL_DISPLAY", None)
    if display is None:
        return
    from vispy.ext import egl

    # The raw call: vispy's wrapper raises where EGL merely reports nothing to release.
    egl._lib.eglMakeCurrent(display, egl.EGL_NO_SURFACE, egl.EGL_NO_SURFACE, egl.EGL_NO_CONTEXT)


@contextmanager
def egl_current(canvas: Any | None = None) -> Iterator[None]:
    """GL work on an EGL canvas: Qt's context released first, the EGL context after.

    With ``canvas`` it is made current on entry; without, the block creates one (vispy's
    EGL canvas makes itself current while it initialises).
    """
    qt = _qt_loaded()
    if qt:
        release_qt_context()
    try:
        if canvas is None:
            _EglState.current = None  # the block makes a new context current
        elif qt or _EglState.current is not canvas:
            canvas.set_current()
            _EglState.current = canvas
        yield
    finally:
        if qt or canvas is None:
            _release_egl_context()


def dispose_egl_canvas(canvas_backend: Any) -> None:
    """Free what vispy keeps of a closed EGL canvas: its context (textures included) and
    its place in the EGL backend's list of windows. vispy frees neither, so each headless
    viewer would hold several MB until the process ends (notebooks make many).

    Only for a context this canvas owns (tilescope never shares EGL contexts).
    """
    egl_backend = sys.modules.get("vispy.app.backends._egl")
    if egl_backend is None:
        return
    windows = getattr(egl_backend, "_VP_EGL_ALL_WINDOWS", [])
    if canvas_backend in windows:
        windows.remove(canvas_backend)
    display = getattr(egl_backend, "_EGL_DISPLAY", None)
    context = getattr(canvas_backend, "_native_context", None)
    if display is None or not context:
        return
    import ctypes

    from vispy.ext import egl

    destroy = egl._lib.eglDestroyContext
    destroy.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
    _release_egl_context()
    destroy(display, context)
    canvas_backend._native_context = None


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
