"""Rendering: a backend-free frame description and the backends that draw it.

Build a :class:`RenderPlan` per frame and hand it to a backend::

    from tilescope.render import CameraView, ImageDraw, RenderPlan, create_backend

    backend = create_backend(show=False)            # headless (EGL), no display needed
    plan = RenderPlan(
        ndisplay=2,
        camera=CameraView(center=(255.5, 255.5), zoom=1.0),
        layers=(ImageDraw(key=1, data=image, transform=np.eye(3), contrast_limits=(0, 255)),),
        canvas_size=(512, 512),
    )
    backend.apply(plan)
    rgba = backend.screenshot()                     # (512, 512, 4) uint8

Importing this package does not import vispy; :func:`create_backend` does.
"""

from __future__ import annotations

from tilescope.render.base import CameraCallback, RenderBackend, RenderStats, ResizeCallback
from tilescope.render.plan import (
    RGBA,
    Blending,
    CameraView,
    Draw,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    Rendering,
    RenderPlan,
)

__all__ = [
    "RGBA",
    "Blending",
    "CameraCallback",
    "CameraView",
    "Draw",
    "ImageDraw",
    "LabelColormap",
    "LabelsDraw",
    "PointsDraw",
    "RenderBackend",
    "RenderPlan",
    "RenderStats",
    "Rendering",
    "ResizeCallback",
    "create_backend",
]


def create_backend(*, show: bool = False, size: tuple[int, int] = (512, 512)) -> RenderBackend:
    """A new render backend (vispy).

    ``show=False`` renders headless through EGL and needs no display (a hidden
    Qt canvas only if EGL is missing and a Qt application with a display runs);
    ``show=True`` makes a Qt canvas whose ``backend.native`` widget the caller
    embeds in a window. Both kinds coexist in one process, made in any order. ``size`` is the
    initial canvas ``(height, width)``. Raises
    :class:`~tilescope.errors.RenderError` when no OpenGL context can be created
    (the message names the packages to install) and
    :class:`~tilescope.errors.NoDisplayError` for ``show=True`` without a display.
    """
    from tilescope.render.vispy import VispyBackend

    return VispyBackend(show=show, size=size)
