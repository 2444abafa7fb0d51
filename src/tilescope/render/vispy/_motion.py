"""Motion frames: the scene drawn at a fraction of the window's resolution while the view moves.

With software OpenGL (Mesa llvmpipe, on machines without a GPU) a frame costs what the
rasteriser does, which grows with pixels times layers. On a 768² canvas, one 2048² layer took
10-14 ms to paint and three took 21-32 ms; one layer at 384² took 5 ms. A pan, a zoom or a
slider drag asks for a frame per event. So, as BigDataViewer does, frames drawn while the view
moves go to a smaller render target that is scaled up (linear filtering) into the window. The
first frame after the view settles is drawn at full resolution.

The backend chooses the scale per frame, and only when full-resolution frames are slow
(``render.motion_paint_ms``) and the scene has no points (their markers are sized in screen
pixels). With a GPU every frame stays at full resolution. Screenshots
always draw at full resolution, because ``render()`` draws the scene without a draw event.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from vispy import gloo
from vispy.scene import SceneCanvas

__all__ = ["MotionCanvas"]

_BLIT_VERTEX = """
attribute vec2 a_position;
varying vec2 v_uv;
void main() {
    v_uv = a_position * 0.5 + 0.5;
    gl_Position = vec4(a_position, 0.0, 1.0);
}
"""

_BLIT_FRAGMENT = """
uniform sampler2D u_frame;
varying vec2 v_uv;
void main() {
    gl_FragColor = texture2D(u_frame, v_uv);
}
"""


class MotionCanvas(SceneCanvas):  # type: ignore[misc]
    """A ``SceneCanvas`` that draws at ``motion_scale`` of its resolution while that is < 1.

    ``motion_scale`` is read at each draw event; the backend sets it in the draw event's
    first handler.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.motion_scale = 1.0
        self._low: tuple[Any, Any, tuple[int, int]] | None = None  # fbo, texture, (h, w)
        self._blit: Any = None
        super().__init__(*args, **kwargs)

    def on_draw(self, event: Any) -> None:
        if self.motion_scale >= 1.0 or self._scene is None:
            super().on_draw(event)
            return
        # A draw asked for while this frame draws is swallowed (switching render targets
        # with push_fbo asked for one every frame: a frame loop); it is cleared, as
        # SceneCanvas.on_draw does before drawing, once this frame is drawn.
        self._update_pending = True
        try:
            self.draw_reduced(self.motion_scale, later=True)
        finally:
            self._update_pending = False

    def draw_reduced(self, scale: float, later: bool = False) -> None:
        """Draw the scene into a render target ``scale`` times the framebuffer's size, then
        that target, scaled up, over the whole current framebuffer.

        ``later``: a window that shows frames once finished scales up once the scene is
        finished (sampling the target before that would wait for the rasteriser here).
        """
        w, h = (int(v) for v in self.physical_size)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        if self._low is None or self._low[2] != size:
            texture = gloo.Texture2D(shape=(*size, 4), interpolation="linear")
            fbo = gloo.FrameBuffer(color=texture, depth=gloo.RenderBuffer(size))
            self._low = (fbo, texture, size)
        fbo, texture, _ = self._low
        # The target covers the whole canvas, so only the viewport changes: the scene's
        # transforms (canvas pixels -> normalized device coordinates) stay as they are.
        # push_fbo would recompute every visual's transforms, twice a frame.
        fbo.activate()
        self.context.set_viewport(0, 0, size[1], size[0])
        try:
            self._draw_scene()
        finally:
            fbo.deactivate()
            self.context.set_viewport(*self._viewport())
        finish_later = getattr(self._backend, "finish_later", None)
        if later and finish_later is not None and finish_later(self._scale_up_later):
            return
        self._scale_up(texture)

    def _scale_up(self, texture: Any) -> None:
        if self._blit is None:
            self._blit = gloo.Program(_BLIT_VERTEX, _BLIT_FRAGMENT)
            corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float32)
            self._blit["a_position"] = gloo.VertexBuffer(corners)
        self._blit["u_frame"] = texture
        self.context.set_state(blend=False, depth_test=False, cull_face=False)
        self._blit.draw("triangle_strip")

    def _scale_up_later(self) -> None:
        """The window's last step of a motion frame, after its draw event (see draw_reduced):
        outside a draw, the viewport is set and the commands run here."""
        if self._low is None:
            return
        self.context.set_viewport(*self._viewport())
        self._scale_up(self._low[1])
        self.context.flush_commands()

    def _viewport(self) -> tuple[int, int, int, int]:
        """The viewport drawn to now: the last pushed (``render`` pushes its target's), else
        the whole framebuffer."""
        if self._vp_stack:
            x, y, w, h = self._vp_stack[-1]
            return (int(x), int(y), int(w), int(h))
        w, h = (int(v) for v in self.physical_size)
        return (0, 0, w, h)

    def render_reduced(self, scale: float) -> npt.NDArray[np.uint8]:
        """What a motion frame at ``scale`` shows, read back at full size (tests, tools)."""
        self.set_current()
        w, h = (int(v) for v in self.physical_size)
        target = gloo.FrameBuffer(color=gloo.RenderBuffer((h, w)), depth=gloo.RenderBuffer((h, w)))
        self.push_fbo(target, (0, 0), self.size)
        try:
            self.draw_reduced(scale)
            image: npt.NDArray[np.uint8] = target.read()
        finally:
            self.pop_fbo()
        return image
