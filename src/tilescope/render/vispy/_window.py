"""A window's canvas that draws straight into a native OpenGL window.

vispy's Qt canvas is a ``QOpenGLWidget``: it draws into a framebuffer object, and Qt then
composites that texture, with the rest of the window, into the window's own OpenGL surface
and swaps it, on every frame. With software OpenGL (Mesa llvmpipe, on every machine without
a GPU) that composition costs the main thread 9-10 ms a frame for a 1116 x 794 window, more
than drawing a 768² image: a ``QOpenGLWidget`` that only clears took 8.9-9.8 ms per update,
a native OpenGL window of the same size in the same layout 1.6-1.7 ms (clear and swap).

:class:`WindowCanvasBackend` is a vispy canvas backend whose widget holds a native child
window (``QWidget.createWindowContainer``) with its own context: a frame is the scene drawn
into the window's back buffer and one swap; the rest of the main window stays a plain raster
backing store, repainted only when its widgets change. Input arriving at the native window is
sent on to the widget, so the widget's event filters and vispy's handlers see it as before;
the native window never takes keyboard focus, so shortcuts and key handling stay with the
widgets. ``grab()`` draws a frame and reads the window back from the screen (what the user
sees). Hidden Qt canvases (no window to show) keep vispy's ``QOpenGLWidget``.

Qt is reached through vispy's Qt backend module (the PySide6 vispy already imported): the
render layer imports no Qt binding itself.
"""

from __future__ import annotations

import types
from typing import Any

from vispy.app.backends import _qt as _vispy_qt

__all__ = ["WindowCanvasBackend", "window_backend_module"]

QtCore: Any = _vispy_qt.QtCore
QtGui: Any = _vispy_qt.QtGui
QtWidgets: Any = _vispy_qt.QtWidgets

_EventType = QtCore.QEvent.Type
#: Events of the native window handled by the canvas widget (its filters see them too).
_FORWARDED = frozenset(
    {
        _EventType.MouseButtonPress,
        _EventType.MouseButtonRelease,
        _EventType.MouseButtonDblClick,
        _EventType.MouseMove,
        _EventType.Wheel,
        _EventType.NativeGesture,
        _EventType.Enter,
        _EventType.Leave,
        _EventType.KeyPress,
        _EventType.KeyRelease,
    }
)


class _GLWindow(QtGui.QWindow):  # type: ignore[misc]
    """The native window the canvas draws into; it paints on Qt's update requests."""

    def __init__(self, owner: WindowCanvasBackend) -> None:
        super().__init__()
        self._owner = owner
        self.setSurfaceType(QtGui.QSurface.SurfaceType.OpenGLSurface)
        # Keyboard focus stays with the widgets (the canvas widget takes it on a click).
        self.setFlag(QtCore.Qt.WindowType.WindowDoesNotAcceptFocus, True)

    def event(self, ev: Any) -> bool:
        kind = ev.type()
        if kind == _EventType.UpdateRequest:
            self._owner._paint()
            return True
        if kind in _FORWARDED:
            if kind == _EventType.MouseButtonPress:
                self._owner._take_focus()
            QtWidgets.QApplication.sendEvent(self._owner, ev)
            return True
        return bool(super().event(ev))

    def exposeEvent(self, ev: Any) -> None:
        if self.isExposed():
            self._owner._paint()


class WindowCanvasBackend(_vispy_qt.QtBaseCanvasBackend, QtWidgets.QWidget):  # type: ignore[misc]
    """A vispy canvas backend: a QWidget whose contents are a native OpenGL window.

    The context exists from the start (current on an offscreen surface until the window is
    exposed), so GL objects can be made and limits queried before the first frame.
    """

    def _init_specific(self, p: Any, kwargs: dict[str, Any]) -> None:
        if kwargs.get("shareWidget") is not None:
            raise RuntimeError("a window canvas does not share its context with a widget")
        p.context.shared.add_ref("qt", self)
        if p.context.shared.ref is not self:
            raise RuntimeError("a window canvas does not share its GL context")
        fmt = _vispy_qt._set_config(p.context.config)
        fmt.setSwapInterval(1 if p.vsync else 0)
        # An opaque window: with an alpha channel a compositing window manager would show
        # the desktop through pixels the scene leaves transparent.
        fmt.setAlphaBufferSize(0)
        QtWidgets.QWidget.__init__(self, p.parent)
        self._gl_window = _GLWindow(self)
        self._gl_window.setFormat(fmt)
        self._container = QtWidgets.QWidget.createWindowContainer(self._gl_window, self)
        self._container.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self._context = QtGui.QOpenGLContext(self)
        self._context.setFormat(fmt)
        if not self._context.create():
            raise RuntimeError("cannot create an OpenGL context for the window")
        self._offscreen = QtGui.QOffscreenSurface()
        self._offscreen.setFormat(self._context.format())
        self._offscreen.create()
        self._context.makeCurrent(self._offscreen)
        self._gl_initialized = False
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.WheelFocus)
        self._initialized = True

    # -- what vispy asks of a backend -------------------------------------------------

    def isValid(self) -> bool:
        """Whether the canvas has a GL context (always, once made: see the class doc)."""
        return bool(self._context.isValid())

    def _vispy_set_current(self) -> None:
        if self._vispy_canvas is None:
            return
        if self._gl_window.isExposed():
            self._context.makeCurrent(self._gl_window)
        else:
            self._context.makeCurrent(self._offscreen)

    def _vispy_swap_buffers(self) -> None:
        if self._vispy_canvas is not None and self._gl_window.isExposed():
            self._context.swapBuffers(self._gl_window)

    def _vispy_update(self) -> None:
        if self._vispy_canvas is not None:
            self._gl_window.requestUpdate()

    def _vispy_close(self) -> None:
        self.close()
        self._context.doneCurrent()
        self._offscreen.destroy()

    def resizeEvent(self, ev: Any) -> None:
        self._container.setGeometry(self.rect())
        self.resizeGL(self.width(), self.height())

    def resizeGL(self, w: int, h: int) -> None:
        """The canvas's size changed (or its screen): tell vispy, in pixels and physical."""
        if self._vispy_canvas is None:
            return
        ratio = self.devicePixelRatioF()
        physical = (int(w * ratio), int(h * ratio))
        self._vispy_set_physical_size(*physical)
        self._vispy_canvas.events.resize(size=(w, h), physical_size=physical)
        self._gl_window.requestUpdate()

    def grab(self, rect: Any = None) -> Any:
        """The canvas (or ``rect`` of it) as it is on screen, after drawing a frame: a
        ``QPixmap``, as ``QWidget.grab`` gives (which cannot see a native child window)."""
        self._paint()
        area = () if rect is None else (rect.x(), rect.y(), rect.width(), rect.height())
        return self._gl_window.screen().grabWindow(self._gl_window.winId(), *area)

    # -- internals ----------------------------------------------------------------------

    def _paint(self) -> None:
        if self._vispy_canvas is None or not self._gl_window.isExposed():
            return
        self._context.makeCurrent(self._gl_window)
        if not self._gl_initialized:
            self._gl_initialized = True
            self._vispy_canvas.events.initialize()
        # vispy's draw event draws the scene and swaps (its swap_buffers handler)
        self._vispy_canvas.events.draw(region=None)

    def _take_focus(self) -> None:
        if self.focusPolicy() & QtCore.Qt.FocusPolicy.ClickFocus:
            self.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)


def window_backend_module(qt_module: types.ModuleType) -> types.ModuleType:
    """vispy's Qt backend module ``qt_module`` with :class:`WindowCanvasBackend` as its
    canvas backend (its application and timers unchanged)."""
    module = types.ModuleType(f"{qt_module.__name__}_window")
    module.__dict__.update({k: v for k, v in vars(qt_module).items() if not k.startswith("__")})
    module.CanvasBackend = WindowCanvasBackend  # type: ignore[attr-defined]
    return module
