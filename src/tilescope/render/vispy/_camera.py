"""Mapping :class:`~tilescope.render.plan.CameraView` values to vispy cameras and back.

2D: a ``PanZoomCamera`` with ``aspect=1`` and a flipped y axis (rows down, as
napari) whose ``rect`` is derived from centre, zoom and the view size.
3D: a ``TurntableCamera`` with the z axis flipped (napari's default
orientation is left-handed in vispy's xyz), ``scale_factor = min(w, h) / zoom``
and (azimuth, elevation, roll) solved from napari's Euler angles.

vispy's x, y, z are display axes 2, 1, 0 (the reverse of display order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.render.orientation import angles_from_view_and_up, camera_basis
from tilescope.render.plan import CameraView

__all__ = [
    "TURNTABLE_FLIP",
    "angles_from_turntable",
    "apply_camera",
    "panzoom_rect",
    "read_camera",
    "turntable_from_angles",
]

TURNTABLE_FLIP = (False, False, True)
"""The 3D camera flips vispy's z so napari's orientation is a proper rotation."""

_F = np.diag([1.0, 1.0, -1.0])


def _rot(axis: int, deg: float) -> npt.NDArray[np.float64]:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def _turntable_matrix(azimuth: float, elevation: float, roll: float) -> npt.NDArray[np.float64]:
    """Column-vector rotation of vispy's TurntableCamera (up='+z') for its angles."""
    return _rot(1, roll) @ _rot(2, azimuth) @ _rot(0, -elevation)


def turntable_from_angles(angles: tuple[float, float, float]) -> tuple[float, float, float]:
    """(azimuth, elevation, roll) in degrees that show napari ``angles`` (z flipped)."""
    right, down, view = (v[::-1] for v in camera_basis(angles))
    m = _F @ np.stack([right, view, -down], axis=1)
    sa = float(np.clip(m[1, 0], -1.0, 1.0))
    a = math.degrees(math.asin(sa))
    if abs(sa) < 1.0 - 1e-9:
        r = math.degrees(math.atan2(-m[2, 0], m[0, 0]))
        e = math.degrees(math.atan2(-m[1, 2], m[1, 1]))
        if abs(e) > 90.0:  # the equivalent triple keeps elevation in [-90, 90]
            r, a, e = r + 180.0, 180.0 - a, e - math.copysign(180.0, e)
    else:  # gimbal lock: only roll +/- elevation is defined; take elevation 0
        e = 0.0
        r = math.degrees(math.atan2(m[2, 1] / sa, -m[0, 1] / sa))
    return _wrap(a), -e, _wrap(r)


def angles_from_turntable(
    azimuth: float, elevation: float, roll: float
) -> tuple[float, float, float]:
    """napari angles of a TurntableCamera's orientation (with :data:`TURNTABLE_FLIP`)."""
    b = _F @ _turntable_matrix(azimuth, elevation, roll)
    view = b[:, 1][::-1]
    up = b[:, 2][::-1]
    return angles_from_view_and_up(view, up)


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def panzoom_rect(
    center: tuple[float, ...], zoom: float, size_wh: tuple[float, float]
) -> tuple[float, float, float, float]:
    """PanZoomCamera ``rect`` (x, y, width, height) in vispy coords for a 2D view."""
    w, h = size_wh[0] / zoom, size_wh[1] / zoom
    row, col = center
    return (col - w / 2.0, row - h / 2.0, w, h)


def apply_camera(cam2d: Any, cam3d: Any, view: CameraView, size_wh: tuple[float, float]) -> None:
    """Set the vispy camera matching ``view`` (2D when ``len(view.center) == 2``)."""
    if len(view.center) == 2:
        cam2d.rect = panzoom_rect(view.center, view.zoom, size_wh)
        return
    az, el, roll = turntable_from_angles(view.angles)
    cam3d.set_state(
        {
            "center": tuple(float(c) for c in view.center[::-1]),
            "scale_factor": min(size_wh) / view.zoom,
            "fov": float(view.perspective),
            "azimuth": az,
            "elevation": el,
            "roll": roll,
        }
    )


def read_camera(cam: Any, ndisplay: int, size_wh: tuple[float, float]) -> CameraView:
    """The :class:`CameraView` a vispy camera currently shows."""
    if ndisplay == 2:
        rect = cam.rect
        zoom = min(size_wh[0] / abs(rect.width), size_wh[1] / abs(rect.height))
        cx, cy = rect.center
        return CameraView(center=(float(cy), float(cx)), zoom=float(zoom))
    center = tuple(float(c) for c in cam.center[:3])[::-1]
    angles = angles_from_turntable(cam.azimuth, cam.elevation, cam.roll)
    return CameraView(
        center=center,
        zoom=float(min(size_wh) / cam.scale_factor),
        angles=angles,
        perspective=float(cam.fov),
    )
