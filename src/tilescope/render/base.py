"""The narrow interface every render backend implements.

The viewer talks to a backend through :class:`RenderBackend` only: it builds a
:class:`~tilescope.render.plan.RenderPlan` per frame and calls
:meth:`RenderBackend.apply`; the backend works out what changed. Everything
here runs on the main (GUI) thread, the only thread that touches the GPU.
The interface is small enough to fake with ``MagicMock(spec=RenderBackend)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.render.plan import CameraView, RenderPlan

__all__ = ["CameraCallback", "FrameCallback", "RenderBackend", "RenderStats", "ResizeCallback"]

CameraCallback = Callable[[CameraView], None]
"""Called with the new camera values after the user moved the camera on the canvas."""

ResizeCallback = Callable[[tuple[int, int]], None]
"""Called with the new ``(height, width)`` after the canvas widget was resized."""
FrameCallback = Callable[[float, float], None]
"""Called once each frame is on screen with its start (``time.perf_counter()`` s) and the
main thread's time on it (ms: the draw, and the swap where that comes later)."""


@dataclass(frozen=True, slots=True)
class RenderStats:
    """Counters since the backend was created (for tests and benchmarks).

    ``texture_uploads`` counts whole-texture uploads of layer data (2D images,
    volumes, label slices); ``vertex_uploads`` counts point-set uploads;
    ``frames`` counts frames drawn (screenshots included); ``tile_uploads`` counts tiles
    copied into an atlas page (one sub-image upload each, never a whole texture).
    """

    texture_uploads: int = 0
    vertex_uploads: int = 0
    frames: int = 0
    tile_uploads: int = 0


class RenderBackend(ABC):
    """Draws :class:`RenderPlan` frames on a canvas, on screen or headless.

    Canvas positions are ``(x, y)`` in logical pixels from the top-left corner
    of the canvas (what Qt and vispy mouse events report); world coordinates are
    those of the displayed axes, in display order.
    """

    @abstractmethod
    def apply(self, plan: RenderPlan) -> None:
        """Make the canvas show ``plan``, changing only what differs from the last plan.

        Display-only changes (contrast limits, colormap, gamma, opacity,
        blending, order, visibility, camera) never re-upload layer data. In a
        window this schedules a redraw; headless, the next :meth:`screenshot`
        draws it.
        """

    @property
    def motion_frames(self) -> bool:
        """Whether frames drawn while the view moves differ (see :meth:`set_motion`)."""
        return False

    def set_motion(self, moving: bool) -> None:  # noqa: B027 - optional, a no-op by default
        """The view is moving (camera, slider, play) or has settled. A window whose
        full-resolution frames are slow draws moving frames at a lower resolution, and the
        settled view again at full resolution; elsewhere nothing changes."""

    @property
    def wants_prepare(self) -> bool:
        """Whether :meth:`prepare` has something to make ahead (cheap: asked every frame)."""
        return False

    def prepare(self) -> bool:
        """Make one thing the next frames will likely need (a tiled layer's next visual or
        next page texture), as a main-thread task of its own instead of inside a frame; True
        if more is left."""
        return False

    @property
    def pending_layers(self) -> frozenset[int]:
        """Layers of the last plan not drawn yet: their visual waits for a :meth:`prepare`
        step (a frame makes one new visual at most)."""
        return frozenset()

    @abstractmethod
    def screenshot(self, size: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        """Render the current plan offscreen; return ``(height, width, 4)`` RGBA uint8.

        ``size`` is ``(height, width)``; by default the canvas size. A different
        size keeps the camera centre and fits the canvas's field of view into
        the image (uniform scale), like a higher-resolution export.
        """

    @abstractmethod
    def canvas_to_world(self, xy: Sequence[float]) -> tuple[float, ...]:
        """World coordinates (display order) under canvas position ``(x, y)``.

        In 3D, the point on the plane through the camera centre facing the camera.
        """

    @abstractmethod
    def world_to_canvas(self, coords: Sequence[float]) -> tuple[float, float]:
        """Canvas position ``(x, y)`` of world coordinates ``coords`` (display order)."""

    @abstractmethod
    def on_camera_changed(self, callback: CameraCallback | None) -> None:
        """Register the one callback told when user interaction moves the camera.

        It is not called for camera changes made by :meth:`apply`. ``None`` clears it.
        """

    @abstractmethod
    def on_resized(self, callback: ResizeCallback | None) -> None:
        """Register the one callback told when the canvas widget changes size."""

    @abstractmethod
    def on_frame(self, callback: FrameCallback | None) -> None:
        """Register the one callback told once each frame is on screen (uploads included).

        This is how main-thread instrumentation times drawing, and how a viewer knows
        that what it applied is now on screen.
        """

    @property
    @abstractmethod
    def canvas_size(self) -> tuple[int, int]:
        """Current canvas size ``(height, width)`` in logical pixels."""

    @property
    @abstractmethod
    def camera(self) -> CameraView | None:
        """The camera the canvas shows now (after any user interaction); None before a plan."""

    @property
    @abstractmethod
    def native(self) -> Any:
        """The native widget to embed in a GUI (a ``QWidget`` for Qt), or ``None`` headless."""

    @property
    @abstractmethod
    def stats(self) -> RenderStats:
        """Upload and frame counters since creation."""

    @abstractmethod
    def close(self) -> None:
        """Release the canvas and its GPU resources; safe to call twice."""

    def __enter__(self) -> RenderBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
