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

A frame is shown when it is finished, not waited for (``render.defer_present``): after the
draw, a GL fence goes after the frame's commands and the main thread returns to the event
loop; a 1 ms timer asks the fence whether the rasteriser is done, and only then swaps. With
software OpenGL the rasteriser's threads take 10 ms for a 768² image, which the swap used to
wait through on the main thread (its frame: 9-10 ms, deferred: 2 ms). A frame may finish in
two steps (:meth:`WindowCanvasBackend.finish_later`): a motion frame's scene is drawn into a
small render target, and scaling that up into the window must wait for that scene, so it is
done once the fence says the scene is finished, with a second fence before the swap. A draw
asked for while a frame waits to be shown comes right after that frame is shown, so no frame
is lost and frames never queue. Where the context has no fences (before GL 3.2 without
``ARB_sync``), every frame swaps at once, as before.

Qt is reached through vispy's Qt backend module (the PySide6 vispy already imported): the
render layer imports no Qt binding itself.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any

from vispy.app.backends import _qt as _vispy_qt

from tilescope.render.vispy._gl import FenceSource, FrameFences

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

#: A frame the rasteriser has not finished after this long is swapped anyway (the swap then
#: waits for it): a fence that never signals cannot keep a frame off the screen.
_PRESENT_WAIT_S = 0.5


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
        #: Whether frames are shown when finished (see the module doc); set before the first.
        self.defer_present = True
        #: The fences that tell when a frame is finished: made at the first deferred frame
        #: (None where the context has none); tests put a fake here before it.
        self.fences: FenceSource | None = None
        self._fences_made = False
        #: Told after each frame deferred is shown, with the main thread's milliseconds on
        #: it since its draw (its last step, if any, and the swap).
        self.on_presented: Callable[[float], None] | None = None
        self._pending: object | None = None  # the fence of the frame waiting to be shown
        self._finish: Callable[[], None] | None = None  # its last step (finish_later)
        self._after_ms = 0.0
        self._pending_since = 0.0
        self._paint_wanted = False
        self._poll = QtCore.QTimer(self)
        self._poll.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._poll.setInterval(1)
        self._poll.timeout.connect(self._check_present)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.WheelFocus)
        self._initialized = True

    # -- what vispy asks of a backend -------------------------------------------------

    def isValid(self) -> bool:
        """Whether the canvas has a GL context (always, once made: see the class doc)."""
        return bool(self._context.isValid())

    @property
    def present_pending(self) -> bool:
        """Whether a frame has been drawn and waits for the rasteriser to be shown."""
        return self._pending is not None

    def _vispy_set_current(self) -> None:
        if self._vispy_canvas is None:
            return
        self._make_current()

    def _make_current(self) -> None:
        if self._gl_window.isExposed():
            self._context.makeCurrent(self._gl_window)
        else:
            self._context.makeCurrent(self._offscreen)

    def _vispy_swap_buffers(self) -> None:
        if self._vispy_canvas is None or not self._gl_window.isExposed():
            return
        fences = self._frame_fences()
        if fences is None:
            self._context.swapBuffers(self._gl_window)
            return
        self._pending = fences.insert()
        self._pending_since = time.perf_counter()
        self._after_ms = 0.0
        self._poll.start()

    def finish_later(self, finish: Callable[[], None]) -> bool:
        """In a draw: run ``finish`` (the frame's last drawing, which needs what was drawn so
        far finished) once the rasteriser has finished the frame so far, then show the frame
        when that is done too. False where frames are not deferred: the caller runs it now."""
        if not self._gl_window.isExposed() or self._frame_fences() is None:
            return False
        self._finish = finish
        return True

    def _frame_fences(self) -> FenceSource | None:
        if not self.defer_present:
            return None
        if not self._fences_made:
            self._fences_made = True
            if self.fences is None:
                self.fences = FrameFences.for_current_context()
        return self.fences

    def _vispy_update(self) -> None:
        if self._vispy_canvas is not None:
            self._gl_window.requestUpdate()

    def _vispy_close(self) -> None:
        self._drop_fence()
        self._finish = None
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
        self._paint_wanted = False  # the frame drawn here is the one asked for
        self.present()
        self._paint()
        self.present()
        area = () if rect is None else (rect.x(), rect.y(), rect.width(), rect.height())
        return self._gl_window.screen().grabWindow(self._gl_window.winId(), *area)

    # -- internals ----------------------------------------------------------------------

    def present(self) -> None:
        """Show the frame waiting to be shown, if any, now (its last step, then the swap,
        wait for the rasteriser), then draw the frame asked for meanwhile, if any."""
        start = time.perf_counter()
        if not self._drop_fence():
            return
        self._run_finish()
        if self._gl_window.isExposed():
            self._context.swapBuffers(self._gl_window)
        self._after_ms += (time.perf_counter() - start) * 1e3
        if self.on_presented is not None:
            self.on_presented(self._after_ms)
        if self._paint_wanted:
            self._paint_wanted = False
            self._paint()

    def _drop_fence(self) -> bool:
        """Stop polling and let the waiting frame's fence go; whether a frame was waiting
        (its context is current afterwards)."""
        fence, self._pending = self._pending, None
        self._poll.stop()
        if fence is None:
            return False
        self._make_current()
        if self.fences is not None:
            self.fences.delete(fence)
        return True

    def _run_finish(self) -> None:
        finish, self._finish = self._finish, None
        if finish is not None:
            finish()

    def _check_present(self) -> None:
        """The poll timer: once the rasteriser has finished the waiting frame, run its last
        step if it has one (and wait for that in turn), else show it."""
        fences = self.fences
        if self._pending is None or fences is None:
            self._poll.stop()
            return
        start = time.perf_counter()
        self._make_current()
        late = start - self._pending_since > _PRESENT_WAIT_S
        if not late and not fences.signaled(self._pending):
            return
        if self._finish is None or late:
            self.present()
            return
        fences.delete(self._pending)
        self._run_finish()
        self._pending = fences.insert()
        self._after_ms += (time.perf_counter() - start) * 1e3

    def _paint(self) -> None:
        if self._vispy_canvas is None or not self._gl_window.isExposed():
            return
        if self._pending is not None:  # drawn once the frame before is shown
            self._paint_wanted = True
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
