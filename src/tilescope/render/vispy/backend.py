"""The vispy render backend: one SceneCanvas, one view, one node per layer.

Runs on the main thread only. Headless it renders through EGL (Mesa llvmpipe
works without GPU or display); in a window it is a Qt widget (``native``). Headless
and windowed backends coexist in one process, created in any order: each canvas has
its own vispy app, and EGL work runs inside :func:`egl_current`, which leaves no EGL
context current afterwards once Qt is loaded (Qt could not make its own current otherwise).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.errors import RenderError
from tilescope.render.base import (
    CameraCallback,
    FrameCallback,
    RenderBackend,
    RenderStats,
    ResizeCallback,
)
from tilescope.render.orientation import camera_basis
from tilescope.render.plan import CameraView, Draw, RenderPlan, TexelName, TiledDraw
from tilescope.render.vispy._app import (
    EGL_PACKAGES,
    destroy_widget,
    dispose_egl_canvas,
    egl_current,
    has_gl_context,
    leave_egl,
    make_offscreen,
    select_app,
)
from tilescope.render.vispy._camera import TURNTABLE_FLIP, apply_camera, read_camera
from tilescope.render.vispy._layers import (
    GLLimits,
    LayerVisual,
    TiledLayerVisual,
    create_layer_visual,
    layer_kind,
)

__all__ = ["VispyBackend"]

_INPUT_EVENTS = ("mouse_move", "mouse_release", "mouse_wheel", "key_press", "touch")


def _with_held_uploads(draw: Draw, held: Draw | None) -> Draw:
    """``draw`` for a layer still waiting for its visual, with the tile uploads of the draw
    it replaces first: a waiting draw is replaced each frame, and tiles uploaded once are
    never sent again (a later upload to the same slot comes after, and wins)."""
    if not isinstance(draw, TiledDraw) or not isinstance(held, TiledDraw) or not held.uploads:
        return draw
    return dataclasses.replace(draw, uploads=held.uploads + draw.uploads)


def _ahead_key(draw: TiledDraw) -> tuple[str, int, TexelName]:
    """What a tiled layer's visual made ahead must match: its kind, channels and texel type."""
    return (draw.kind, draw.channels, draw.texel)


def _tiled_key(draw: Draw) -> tuple[str, int, TexelName] | None:
    """:func:`_ahead_key` of a tiled draw; None for any other draw."""
    return _ahead_key(draw) if isinstance(draw, TiledDraw) else None


def _close(a: CameraView, b: CameraView) -> bool:
    return (
        len(a.center) == len(b.center)
        and bool(np.allclose(a.center, b.center, rtol=1e-9, atol=1e-9))
        and math.isclose(a.zoom, b.zoom, rel_tol=1e-9)
        and bool(np.allclose(a.angles, b.angles, atol=1e-7))
        and math.isclose(a.perspective, b.perspective, abs_tol=1e-9)
    )


class VispyBackend(RenderBackend):
    """A :class:`RenderBackend` drawing with vispy.

    ``show=False`` needs no display (EGL); ``show=True`` creates a Qt canvas
    whose widget (:attr:`native`) the caller embeds in a window or shows.
    ``size`` is the initial canvas size ``(height, width)``.
    """

    def __init__(self, *, show: bool = False, size: tuple[int, int] = (512, 512)) -> None:
        from tilescope.loading.config import get_config

        render = get_config().render
        self._app, app = select_app(show, render.native_window)
        self._show = show
        from vispy import scene

        from tilescope.render.vispy._motion import MotionCanvas

        # motion frames (see _motion.py): only a window's draws, and only if not switched off
        self._motion_scale = render.motion_scale if show else 1.0
        self._motion_paint_ms = render.motion_paint_ms
        self._moving = False
        self._full_paint_ms = 0.0  # the last full-resolution frame's paint
        # a frame drawn and waiting to be shown (a native window, render.defer_present):
        # (its start, the main thread's milliseconds on it, whether at full resolution)
        self._drawn: tuple[float, float, bool] | None = None

        h, w = size
        if self._app != "egl":
            leave_egl()  # a headless canvas may have left its EGL context current
        try:
            with egl_current() if self._app == "egl" else nullcontext():
                self._canvas: Any = MotionCanvas(app=app, size=(w, h), show=False, bgcolor="black")
                if self._app != "egl" and not show:
                    make_offscreen(self._canvas.native)
                self._limits = self._query_limits()
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(
                f"cannot create an OpenGL canvas ({exc}); for headless rendering install "
                f"`{EGL_PACKAGES}`"
            ) from exc
        #: Whether ``prepare`` builds and links the shader programs of visuals made ahead
        #: (a window: its frames would; headless, nothing draws until a screenshot).
        self.programs_ahead = self._app != "egl"
        native = self._canvas.native
        if self._app != "egl" and hasattr(native, "on_presented"):  # the native window canvas
            native.defer_present = render.defer_present
            native.on_presented = self._handle_presented
        self._view: Any = self._canvas.central_widget.add_view(border_width=0)
        self._cam2d: Any = scene.PanZoomCamera(aspect=1, flip=(False, True, False))
        self._cam3d: Any = scene.TurntableCamera(fov=0.0, flip=TURNTABLE_FLIP)
        self._view.camera = self._cam2d
        self._ndisplay = 2
        self._plan: RenderPlan | None = None
        self._camera_view: CameraView | None = None
        #: (camera, canvas size, ndisplay) last set on the vispy camera
        self._applied_camera: tuple[CameraView, tuple[float, float], int] | None = None
        self._camera_stale = False  # headless: the plan's camera is set at the next render
        self._layers: dict[int, LayerVisual] = {}
        #: tiled layer kinds (kind, channels, texel) this canvas has shown, and an adaptor
        #: made ahead for the next layer of each (see prepare)
        self._tiled_kinds: set[tuple[str, int, TexelName]] = set()
        self._ahead: dict[tuple[str, int, TexelName], TiledLayerVisual] = {}
        #: new layers of the last plan whose visual waits for a prepare step (a frame makes
        #: at most one, see _sync_layers): key -> (draw, order, first visible)
        self._pending: dict[int, tuple[Draw, int, bool]] = {}
        self._order: tuple[int, ...] = ()
        self._on_camera: CameraCallback | None = None
        self._on_resize: ResizeCallback | None = None
        self._on_frame: FrameCallback | None = None
        self._frame_start = 0.0
        self._busy = False  # inside apply/screenshot: camera/resize changes are ours
        self._texture_uploads = 0
        self._vertex_uploads = 0
        self._tile_uploads = 0
        self._frames = 0
        self._closed = False
        self._canvas.events.resize.connect(self._handle_resize, position="last")
        self._canvas.events.draw.connect(self._handle_draw_start, position="first")
        # After vispy's own "last" handler, which flushes the GL commands (uploads).
        self._canvas.events.draw.connect(self._handle_draw, position="last")
        for name in _INPUT_EVENTS:
            emitter = getattr(self._canvas.events, name)
            emitter.connect(self._fresh_camera, position="first")  # input moves what is set
            emitter.connect(self._sync_camera, position="last")

    # -- RenderBackend -------------------------------------------------------------

    def apply(self, plan: RenderPlan) -> None:
        self._check_open()
        self._change_scene(lambda: self._apply(plan))

    def _change_scene(self, change: Callable[[], None]) -> None:
        """Run ``change`` (it edits the scene's visuals) with the GL context current, then
        ask for a frame that shows it."""
        self._busy = True
        try:
            with self._gl():
                change()
                if self._app == "egl":
                    # Headless, nothing paints until a screenshot: run the queued GL commands
                    # (tile uploads, vertex data) now, so they never pile up in RAM between
                    # screenshots. A visual's commands join the canvas's queue only when it is
                    # first drawn, so new visuals are joined here.
                    self._join_command_queues()
                    self._canvas.context.flush_commands()
        finally:
            self._busy = False
        self._canvas.update()

    def _join_command_queues(self) -> None:
        """Merge the layers' GL command queues into the canvas's (idempotent, cheap): without
        it a tiled visual not yet drawn kept each of its uploads, array and all, in a queue of
        its own (thousands per soak; every full garbage collection walked them, 30-40 ms)."""
        canvas_queue = self._canvas.context.glir
        for layer in self._layers.values():
            layer.join(canvas_queue)

    def screenshot(self, size: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        self._check_open()
        h, w = size if size is not None else self.canvas_size
        if h < 1 or w < 1:
            raise ValueError(f"screenshot size must be positive (height, width), got {size}")
        if self._app != "egl" and not has_gl_context(self._canvas.native):
            raise RenderError(
                "the canvas has no OpenGL context until its window is shown; show the "
                "window first, or take screenshots from a headless (show=False) viewer"
            )
        self._make_all_pending()  # a screenshot shows the whole plan
        self._busy = True
        try:
            with self._gl():
                img = self._render(w, h)
        except Exception as exc:
            raise RenderError(f"rendering a screenshot failed: {exc}") from exc
        finally:
            self._busy = False
        return np.ascontiguousarray(img, dtype=np.uint8)

    def motion_frame(self, scale: float) -> npt.NDArray[np.uint8]:
        """What a frame drawn while the view moves shows at ``scale`` of the resolution
        (``render.motion_scale``), read back at the canvas size: RGBA uint8 (tests, tools)."""
        self._check_open()
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be > 0 and <= 1, got {scale}")
        self._make_all_pending()
        self._busy = True
        try:
            with self._gl():
                self._fresh_camera()
                img = self._canvas.render_reduced(scale)
        finally:
            self._busy = False
        return np.ascontiguousarray(img, dtype=np.uint8)

    def canvas_to_world(self, xy: Sequence[float]) -> tuple[float, ...]:
        self._check_open()
        self._fresh_camera()
        x, y = float(xy[0]), float(xy[1])
        tr = self._canvas.scene.node_transform(self._view.scene)
        p0 = np.asarray(tr.map([x, y, 0.0, 1.0]), dtype=np.float64)
        p0 = p0[:3] / p0[3]
        if self._ndisplay == 2:
            return (float(p0[1]), float(p0[0]))
        p1 = np.asarray(tr.map([x, y, 0.5, 1.0]), dtype=np.float64)
        ray = p1[:3] / p1[3] - p0
        cam = self._current_camera()
        normal = camera_basis(cam.angles)[2][::-1]
        center = np.asarray(cam.center[::-1], dtype=np.float64)
        denom = float(np.dot(ray, normal))
        t = float(np.dot(center - p0, normal)) / denom if abs(denom) > 1e-12 else 0.0
        p = (p0 + t * ray)[::-1]
        return (float(p[0]), float(p[1]), float(p[2]))

    def world_to_canvas(self, coords: Sequence[float]) -> tuple[float, float]:
        self._check_open()
        if len(coords) != self._ndisplay:
            raise ValueError(
                f"expected {self._ndisplay} world coordinates (displayed axes), got {len(coords)}"
            )
        self._fresh_camera()
        xyz = [float(c) for c in coords][::-1] + [0.0] * (3 - self._ndisplay)
        tr = self._canvas.scene.node_transform(self._view.scene)
        p = np.asarray(tr.imap([*xyz, 1.0]), dtype=np.float64)
        return (float(p[0] / p[3]), float(p[1] / p[3]))

    def on_camera_changed(self, callback: CameraCallback | None) -> None:
        self._on_camera = callback

    def on_resized(self, callback: ResizeCallback | None) -> None:
        self._on_resize = callback

    def on_frame(self, callback: FrameCallback | None) -> None:
        self._on_frame = callback

    @property
    def wants_prepare(self) -> bool:
        if self._closed:
            return False
        programs = self.programs_ahead
        return (
            bool(self._pending)
            or any(lv.wants_prepare(programs) for lv in self._layers.values())
            # (an adaptor made for a pending layer since removed may be of a kind not shown)
            or any(key not in self._ahead for key in self._tiled_kinds)
            # made ahead outside the scene: only its visual (a program is built attached)
            or any(lv.wants_prepare(False) for lv in self._ahead.values())
        )

    @property
    def pending_layers(self) -> frozenset[int]:
        return frozenset(self._pending)

    def prepare(self) -> bool:
        """One step of making things ahead (see ``wants_prepare``): the shown layers' next
        pages first, then a tiled layer adaptor, and its first visual, for the next layer of
        each kind this canvas has shown, so adding a layer does not make them in its task. A
        new layer whose visual the last frame left for later comes before all of them, and
        a tiled one is made in three steps: its adaptor, its first visual (both as made
        ahead), then set to its draw (each 3-6 ms of CPU, 14 ms as one step)."""
        self._check_open()
        if self._pending:
            key = _tiled_key(next(iter(self._pending.values()))[0])
            if key is not None and key not in self._ahead:
                self._ahead[key] = TiledLayerVisual.ahead(key, self._count_tile, self._limits)
            elif key is not None and self._ahead[key].wants_prepare(False):
                with self._gl():
                    self._ahead[key].prepare(self._run_gl, False)
            else:
                self._make_pending(1)
            return self.wants_prepare
        with self._gl():
            for layer in self._layers.values():
                if layer.prepare(self._run_gl, self.programs_ahead):
                    return self.wants_prepare
            for key in self._tiled_kinds:
                if key not in self._ahead:
                    self._ahead[key] = TiledLayerVisual.ahead(key, self._count_tile, self._limits)
                    return self.wants_prepare
            for ahead in self._ahead.values():
                if ahead.prepare(self._run_gl, False):
                    break
        return self.wants_prepare

    def _make_all_pending(self) -> None:
        """Make every visual the last frame left for later (before a frame that must show
        the whole plan: a screenshot, a motion frame)."""
        if self._pending:
            self._make_pending(None)

    def _make_pending(self, n: int | None) -> None:
        """Make ``n`` (None: all) of the visuals the last frame left for later, set to its
        draws, and ask for a frame that shows them."""

        def make() -> None:
            for key in list(self._pending)[:n]:
                draw, order, first = self._pending.pop(key)
                layer = self._layer_visual(draw)
                self._layers[key] = layer
                layer.update(draw, order, first)
            self._canvas._draw_order.clear()  # a new child (see _sync_layers)

        self._change_scene(make)

    def _layer_visual(self, draw: Draw) -> LayerVisual:
        """A new layer's adaptor: the one made ahead for its kind if there is one."""
        if isinstance(draw, TiledDraw):
            key = _ahead_key(draw)
            self._tiled_kinds.add(key)
            ahead = self._ahead.pop(key, None)
            if ahead is not None:
                ahead.node.parent = self._view.scene
                ahead.kind = layer_kind(draw)
                return ahead
        return create_layer_visual(
            draw,
            self._view.scene,
            self._count_texture,
            self._count_vertex,
            self._limits,
            self._count_tile,
        )

    def _run_gl(self, queue: Any) -> None:
        """Run a new GL object's queued commands (its creation) now, outside a frame, then
        join its queue to the canvas's so its later commands go with the frames. A window
        not shown yet has no context: its commands then wait for the first frame."""
        context = self._canvas.context
        if self._app == "egl" or has_gl_context(self._canvas.native):
            if self._app != "egl":
                self._canvas.set_current()  # a window's context is current only in paints
            queue.flush(context.shared.parser)
        context.glir.associate(queue)

    @property
    def motion_frames(self) -> bool:
        return self._motion_scale < 1.0

    def set_motion(self, moving: bool) -> None:
        if moving == self._moving or self._closed:
            return
        self._moving = moving
        if not moving and self._canvas.motion_scale < 1.0:
            self._canvas.update()  # the settled view, at full resolution

    @property
    def canvas_size(self) -> tuple[int, int]:
        w, h = self._canvas.size
        return (int(h), int(w))

    @property
    def native(self) -> Any:
        return self._canvas.native if self._show else None

    @property
    def stats(self) -> RenderStats:
        return RenderStats(
            self._texture_uploads, self._vertex_uploads, self._frames, self._tile_uploads
        )

    @property
    def camera(self) -> CameraView | None:
        self._fresh_camera()
        return self._current_camera() if self._camera_view is not None else None

    @property
    def canvas(self) -> Any:
        """The vispy ``SceneCanvas`` (for vispy-specific needs such as its mouse events)."""
        return self._canvas

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for layer in (*self._layers.values(), *self._ahead.values()):
            layer.remove()
        self._layers.clear()
        self._ahead.clear()
        self._pending.clear()
        self._on_camera = self._on_resize = None
        self._on_frame = None
        native = self._canvas.native
        backend = self._canvas._backend
        self._canvas.close()
        if self._app == "egl":
            dispose_egl_canvas(backend)
        else:
            destroy_widget(native)

    # -- internals -----------------------------------------------------------------

    def _gl(self) -> AbstractContextManager[None]:
        """Where GL work on this canvas runs (EGL: made current, released afterwards)."""
        return egl_current(self._canvas) if self._app == "egl" else nullcontext()

    def _render(self, w: int, h: int) -> Any:
        """Draw the scene at ``w`` x ``h`` and read it back; the canvas keeps its size."""
        self._fresh_camera()
        old = tuple(self._canvas.size)
        old_physical = tuple(self._canvas.physical_size)
        try:
            if old != (w, h) or old_physical != (w, h):
                self._resize_canvas(w, h)
            start = time.perf_counter()
            img = self._canvas.render(size=(w, h), alpha=True)
            self._frames += 1
            if self._on_frame is not None:  # render() draws without a draw event
                self._on_frame(start, (time.perf_counter() - start) * 1e3)
        finally:
            if tuple(self._canvas.size) != old:
                self._resize_canvas(*old)
            if self._app != "egl" and tuple(self._canvas.physical_size) != old_physical:
                self._canvas._backend._vispy_set_physical_size(*old_physical)
        return img

    def _check_open(self) -> None:
        if self._closed:
            raise RenderError("this render backend was closed")

    def _query_limits(self) -> GLLimits:
        """The context's texture limits; defaults while a window's canvas has no context."""
        if self._app != "egl" and not has_gl_context(self._canvas.native):
            return GLLimits()  # not shown yet: whatever is current is not this canvas's
        from vispy.gloo import gl

        self._canvas.set_current()
        try:
            max2d = int(gl.glGetParameter(gl.GL_MAX_TEXTURE_SIZE))
            max3d = int(gl.glGetParameter(gl.GL_MAX_3D_TEXTURE_SIZE))
        except Exception:  # not all GL wrappers expose the 3D limit
            return GLLimits()
        if max2d < 1 or max3d < 1:
            return GLLimits()
        return GLLimits(max_texture_2d=max2d, max_texture_3d=max3d)

    def _count_texture(self) -> None:
        self._texture_uploads += 1

    def _count_vertex(self) -> None:
        self._vertex_uploads += 1

    def _count_tile(self) -> None:
        self._tile_uploads += 1

    def _size_wh(self) -> tuple[float, float]:
        w, h = self._view.size
        return (float(w), float(h))

    def _apply(self, plan: RenderPlan) -> None:
        prev = self._plan
        self._plan = plan
        if not self._show:  # headless: the plan sizes the canvas; a window sizes itself
            h, w = plan.canvas_size
            if tuple(self._canvas.size) != (w, h):
                self._resize_canvas(w, h)
        if prev is None or prev.background != plan.background:
            self._canvas.bgcolor = plan.background
        if plan.ndisplay != self._ndisplay:
            self._view.camera = self._cam3d if plan.ndisplay == 3 else self._cam2d
            self._ndisplay = plan.ndisplay
        self._sync_layers(plan)
        self._camera_view = plan.camera
        # A camera set is dear in vispy (every visual's transform chain and shaders are
        # updated, about 1 ms for nine layers): a frame for arrived tiles, camera unchanged,
        # skips it, and headless it waits for the next render (no frame is drawn until then).
        if self._applied_camera != (plan.camera, self._size_wh(), self._ndisplay):
            if self._show:
                self._reapply_camera()
            else:
                self._camera_stale = True

    def _sync_layers(self, plan: RenderPlan) -> None:
        """Bring the visuals in line with ``plan``. A frame makes at most one new visual,
        and never a tiled one (12-14 ms of CPU, more with a program to link): the other new
        layers wait for ``prepare`` steps, as main-thread tasks of their own (a tiled one in
        three), so a script adding layers in a row never holds the main thread for all of
        them. A tiled layer whose adaptor was made ahead (``prepare``) takes it here."""
        wanted = {d.key: d for d in plan.layers}
        held, self._pending = self._pending, {}  # this plan's draws replace the last one's
        for key in list(self._layers):
            draw = wanted.get(key)
            old = self._layers[key]
            if draw is None or layer_kind(draw) != old.kind:
                old.remove()
                del self._layers[key]
        first_visible = next((d.key for d in plan.layers if d.visible), None)
        made = False
        for order, draw in enumerate(plan.layers):
            layer = self._layers.get(draw.key)
            first = draw.key == first_visible
            if layer is None:
                if draw.key in held:
                    draw = _with_held_uploads(draw, held[draw.key][0])
                kind = _tiled_key(draw)
                ahead = kind is not None and kind in self._ahead
                if (made or kind is not None) and not ahead:
                    self._pending[draw.key] = (draw, order, first)
                    continue
                made = made or not ahead
                layer = self._layer_visual(draw)
                self._layers[draw.key] = layer
            layer.update(draw, order, first)
        keys = tuple(wanted)
        if keys != self._order:
            # vispy caches the draw order and refreshes it only when children change
            self._canvas._draw_order.clear()
            self._order = keys

    def _resize_canvas(self, w: int, h: int) -> None:
        """Resize the canvas now (EGL sends no resize event; a hidden Qt widget defers it)."""
        self._canvas.size = (w, h)
        if self._app != "egl":
            # Qt updates the physical size only when the widget is shown and repainted;
            # until then vispy would scale the scene by a stale pixel ratio.
            self._canvas._backend._vispy_set_physical_size(w, h)
        if tuple(self._canvas.central_widget.size) != (w, h):
            self._canvas.central_widget.size = (w, h)
        self._reapply_camera()

    def _fresh_camera(self, event: Any = None) -> None:
        """Headless: set the camera the last plan asked for, before anything uses it."""
        if self._camera_stale:
            self._reapply_camera()

    def _reapply_camera(self) -> None:
        self._camera_stale = False
        if self._camera_view is not None:
            size = self._size_wh()
            apply_camera(self._cam2d, self._cam3d, self._camera_view, size)
            self._applied_camera = (self._camera_view, size, self._ndisplay)

    def _current_camera(self) -> CameraView:
        return read_camera(self._view.camera, self._ndisplay, self._size_wh())

    def _handle_resize(self, event: Any) -> None:
        if self._busy or self._closed:
            return
        self._reapply_camera()
        if self._on_resize is not None:
            self._on_resize(self.canvas_size)

    def _handle_draw_start(self, event: Any) -> None:
        self._frame_start = time.perf_counter()
        slow = self._full_paint_ms > self._motion_paint_ms
        # points are sized in screen pixels: in a smaller target they would grow for the
        # frames of a move, so a scene with points stays at full resolution
        points = any(layer.kind[0] == "PointsDraw" for layer in self._layers.values())
        reduce = self._moving and slow and not points
        self._canvas.motion_scale = self._motion_scale if reduce else 1.0

    def _handle_draw(self, event: Any) -> None:
        self._frames += 1
        ms = (time.perf_counter() - self._frame_start) * 1e3
        full = self._canvas.motion_scale >= 1.0
        if getattr(self._canvas.native, "present_pending", False):
            self._drawn = (self._frame_start, ms, full)  # finished in _handle_presented
            return
        self._frame_done(self._frame_start, ms, ms, full)

    def _handle_presented(self, after_ms: float) -> None:
        """The native window showed the frame drawn last (once the rasteriser finished it);
        ``after_ms``: the main thread's time on it since the draw (last step and swap)."""
        drawn, self._drawn = self._drawn, None
        if drawn is None or self._closed:
            return
        start, draw_ms, full = drawn
        self._frame_done(start, draw_ms + after_ms, (time.perf_counter() - start) * 1e3, full)

    def _frame_done(self, start: float, main_ms: float, total_ms: float, full: bool) -> None:
        """A frame is on screen: ``main_ms`` of the main thread's time went into it (the
        draw, and the rest if deferred), ``total_ms`` from its start to being shown."""
        if full:
            self._full_paint_ms = total_ms  # how slow frames are: motion frames if slow
        if self._on_frame is not None:
            self._on_frame(start, main_ms)

    def _sync_camera(self, event: Any) -> None:
        """After user input: report the camera if the user moved it."""
        if self._busy or self._closed or self._camera_view is None:
            return
        now = self._current_camera()
        if _close(now, self._camera_view):
            return
        self._camera_view = now
        self._applied_camera = (now, self._size_wh(), self._ndisplay)  # vispy shows it now
        if self._on_camera is not None:
            self._on_camera(now)
