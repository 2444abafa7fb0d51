"""The camera: where the canvas looks in the world and how much it magnifies.

:class:`Camera` is an evented intent model over one frozen :class:`CameraState`,
built the same way as :class:`~tilescope.models.dims.Dims`: every setter builds
and validates a complete new state, then swaps it in and emits one coarse
``changed`` plus the per-field signals that changed. Invalid values raise
:class:`~tilescope.errors.CameraError` and change nothing.

Conventions (napari 0.9's ``viewer.camera``, except where noted):

- ``center`` are world coordinates of the *displayed* axes, in display order
  (``dims.displayed``), so it has ``ndisplay`` entries. napari always stores three
  and ignores the first in 2D; tilescope keeps exactly the ones that mean something.
- ``zoom`` is screen pixels per world unit, within ``[ZOOM_MIN, ZOOM_MAX]`` = ``[1e-15, 1e15]``:
  the renderer draws in float32, and beyond these bounds ``zoom`` or ``1 / zoom`` squared
  (both appear in the view matrices) leaves float32's range (about 3e38), so the view matrix
  turns singular (``zoom=1e-300`` did). Camera input from the canvas is clamped to the bounds
  (:func:`clamp_zoom`); a script setting a zoom outside them gets a ``CameraError``.
  Likewise every ``center`` coordinate is within ``±CENTER_MAX`` = ``±1e20`` world units, so
  that ``center * zoom`` stays within float32 too (``center=[1, 3.4e38]`` overflowed).
- ``angles`` are Euler angles in degrees (3D only), ``perspective`` the field of
  view in degrees (0 = orthographic, < 180).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from psygnal import Signal, SignalGroup

from tilescope.errors import CameraError
from tilescope.models._state_model import SettableStateField, StateModel

#: The zooms the renderer can draw (screen pixels per world unit); see the module docstring.
ZOOM_MIN = 1e-15
ZOOM_MAX = 1e15
#: The largest ``|center|`` coordinate the renderer can draw (see the module docstring).
CENTER_MAX = 1e20


def clamp_center(center: Iterable[float]) -> tuple[float, ...]:
    """``center`` with each coordinate brought into ``[-CENTER_MAX, CENTER_MAX]``."""
    return tuple(min(max(float(c), -CENTER_MAX), CENTER_MAX) for c in center)


def clamp_zoom(zoom: float) -> float:
    """``zoom`` brought into ``[ZOOM_MIN, ZOOM_MAX]`` (for camera input and fitting)."""
    return min(max(float(zoom), ZOOM_MIN), ZOOM_MAX)


__all__ = [
    "CENTER_MAX",
    "ZOOM_MAX",
    "ZOOM_MIN",
    "Camera",
    "CameraEvents",
    "CameraState",
    "clamp_center",
    "clamp_zoom",
    "validate_camera_state",
]


@dataclass(frozen=True, slots=True)
class CameraState:
    """Frozen snapshot of :class:`Camera`; what rendering and tile selection read."""

    center: tuple[float, ...]
    zoom: float
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0)
    perspective: float = 0.0

    @property
    def ndisplay(self) -> int:
        """Number of displayed axes the camera is set up for (``len(center)``)."""
        return len(self.center)

    def view_rect(
        self, canvas_size: Sequence[float]
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """World rectangle seen by a 2D canvas of ``canvas_size = (height, width)`` pixels.

        Returns ``(min_corner, max_corner)`` in world coordinates of the two
        displayed axes (display order: row axis, column axis), i.e.
        ``center -/+ canvas_size / (2 * zoom)``.
        """
        if len(self.center) != 2:
            raise CameraError(
                f"Camera.view_rect is defined for a 2D view (center of length 2); this "
                f"camera has center={self.center!r}. In 3D, ask for the coarsest level instead."
            )
        size = _as_floats("canvas_size", canvas_size, 2)
        if any(s <= 0 for s in size):
            raise _fail("canvas_size", canvas_size, "(height, width) > 0 in screen pixels")
        half = (size[0] / (2 * self.zoom), size[1] / (2 * self.zoom))
        return (
            (self.center[0] - half[0], self.center[1] - half[1]),
            (self.center[0] + half[0], self.center[1] + half[1]),
        )

    def world_to_canvas(
        self, world: Sequence[float], canvas_size: Sequence[float]
    ) -> tuple[float, float]:
        """Screen position (row, col pixels) of a point in the displayed world axes (2D)."""
        (lo, _hi) = self.view_rect(canvas_size)
        w = _as_floats("world", world, 2)
        return ((w[0] - lo[0]) * self.zoom, (w[1] - lo[1]) * self.zoom)

    def canvas_to_world(
        self, canvas: Sequence[float], canvas_size: Sequence[float]
    ) -> tuple[float, float]:
        """World position (displayed axes) under screen position ``canvas`` (row, col pixels)."""
        (lo, _hi) = self.view_rect(canvas_size)
        c = _as_floats("canvas", canvas, 2)
        return (lo[0] + c[0] / self.zoom, lo[1] + c[1] / self.zoom)


def _fail(field: str, value: object, expected: str) -> CameraError:
    return CameraError(f"Camera.{field}: expected {expected}, got {value!r}")


def _as_float(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(field, value, "a real number")
    result = float(value)
    if not math.isfinite(result):
        raise _fail(field, value, "a finite number")
    return result


def _as_floats(field: str, value: object, length: int | tuple[int, ...]) -> tuple[float, ...]:
    lengths = (length,) if isinstance(length, int) else length
    expected = " or ".join(str(n) for n in lengths)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _fail(field, value, f"a sequence of {expected} numbers")
    items = tuple(value)
    if len(items) not in lengths:
        raise _fail(field, value, f"{expected} numbers, not {len(items)}")
    return tuple(_as_float(f"{field}[{i}]", v) for i, v in enumerate(items))


def validate_camera_state(
    *, center: object, zoom: object, angles: object, perspective: object
) -> CameraState:
    """Check every field and build a :class:`CameraState` (pure).

    ``center`` has 2 or 3 finite entries, ``zoom`` is finite and > 0, ``angles``
    three finite degrees, ``perspective`` finite degrees in ``[0, 180)``.
    """
    center_t = _as_floats("center", center, (2, 3))
    if any(abs(c) > CENTER_MAX for c in center_t):
        raise _fail(
            "center",
            center,
            f"world coordinates within +-{CENTER_MAX:g} (what the renderer can draw; for data "
            "that far out, change the layer's translate or units)",
        )
    zoom_f = _as_float("zoom", zoom)
    if zoom_f <= 0:
        raise _fail("zoom", zoom, "a zoom > 0 (screen pixels per world unit)")
    if not ZOOM_MIN <= zoom_f <= ZOOM_MAX:
        raise _fail(
            "zoom",
            zoom,
            f"a zoom the renderer can draw, from {ZOOM_MIN:g} to {ZOOM_MAX:g} screen pixels per "
            "world unit (for data with tiny or huge units, change the layer's scale)",
        )
    a = _as_floats("angles", angles, 3)
    persp = _as_float("perspective", perspective)
    if not 0 <= persp < 180:
        raise _fail("perspective", perspective, "a field of view in degrees in [0, 180)")
    return CameraState(center=center_t, zoom=zoom_f, angles=(a[0], a[1], a[2]), perspective=persp)


_FIELDS = ("center", "zoom", "angles", "perspective")


class CameraEvents(SignalGroup):
    """Signals of :class:`Camera`: per-field ones only when the field changed, then ``changed``."""

    changed = Signal(CameraState)
    center = Signal(tuple)
    zoom = Signal(float)
    angles = Signal(tuple)
    perspective = Signal(float)


class Camera(StateModel[CameraState]):
    """Evented camera model (napari's ``viewer.camera``) over a frozen :class:`CameraState`."""

    _signal_order = _FIELDS
    events: CameraEvents

    def __init__(
        self,
        center: Sequence[float] = (0.0, 0.0),
        zoom: float = 1.0,
        angles: Sequence[float] = (0.0, 0.0, 0.0),
        perspective: float = 0.0,
    ) -> None:
        self._state = validate_camera_state(
            center=center, zoom=zoom, angles=angles, perspective=perspective
        )
        self.events = CameraEvents()

    def __repr__(self) -> str:
        return f"Camera({self._state})"

    def set_state(self, state: CameraState) -> None:
        """Replace everything with ``state`` (revalidated)."""
        if not isinstance(state, CameraState):
            raise _fail("state", state, "a CameraState")
        self.update(
            center=state.center, zoom=state.zoom, angles=state.angles, perspective=state.perspective
        )

    def update(self, **changes: Any) -> None:
        """Change several fields in one validated step and one ``changed`` event."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise CameraError(f"Camera has no field(s) {sorted(unknown)}; fields are {_FIELDS}")
        fields: dict[str, object] = {name: getattr(self._state, name) for name in _FIELDS}
        fields.update(changes)
        self._commit(validate_camera_state(**fields))

    center = SettableStateField[tuple[float, ...], Sequence[float]](
        "World coordinates of the view centre, displayed axes in display order."
    )
    zoom = SettableStateField[float, float]("Screen pixels per world unit.")
    angles = SettableStateField[tuple[float, float, float], Sequence[float]](
        "Euler angles in degrees (3D)."
    )
    perspective = SettableStateField[float, float]("Field of view in degrees (0 = orthographic).")

    def view_rect(
        self, canvas_size: Sequence[float]
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """See :meth:`CameraState.view_rect`."""
        return self._state.view_rect(canvas_size)

    def zoom_at(self, factor: float, anchor: Sequence[float]) -> None:
        """Multiply ``zoom`` by ``factor`` keeping world point ``anchor`` fixed on screen (2D).

        ``anchor`` is in world coordinates of the displayed axes; one event.
        """
        f = _as_float("zoom factor", factor)
        if f <= 0:
            raise _fail("zoom factor", factor, "a factor > 0")
        a = _as_floats("anchor", anchor, len(self._state.center))
        zoom = clamp_zoom(self._state.zoom * f)
        f = zoom / self._state.zoom  # stopped at the bounds: the anchor still stays fixed
        center = tuple(ai + (ci - ai) / f for ai, ci in zip(a, self._state.center, strict=True))
        self.update(center=center, zoom=zoom)
