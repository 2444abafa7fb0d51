"""3D camera orientation math (napari 0.9 conventions), backend-free.

napari describes a 3D camera by Euler angles ``(rx, ry, rz)`` in degrees about
the three displayed axes (display order). With angles ``(0, 0, 0)`` (napari's
default orientation ``('towards', 'down', 'right')``) the camera looks along
``-axis0`` (axis 0 points towards the viewer), display axis 1 points down the
screen and axis 2 right. All vectors here are in display order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "angles_from_view_and_up",
    "camera_basis",
    "rotation_from_angles",
    "view_and_up_from_angles",
]

_BASE_VIEW = np.array([-1.0, 0.0, 0.0])
_BASE_UP = np.array([0.0, -1.0, 0.0])

Vec3 = tuple[float, float, float]


def _rx(a: float) -> npt.NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> npt.NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> npt.NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_angles(angles: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    """The camera rotation for napari angles (intrinsic XYZ of the negated angles)."""
    a, b, c = np.radians(-np.asarray(angles, dtype=np.float64))
    return _rx(a) @ _ry(b) @ _rz(c)


def view_and_up_from_angles(angles: tuple[float, float, float]) -> tuple[Vec3, Vec3]:
    """View direction (into the screen) and up direction for napari angles."""
    rot = rotation_from_angles(angles)
    view = rot @ _BASE_VIEW
    up = rot @ _BASE_UP
    return (float(view[0]), float(view[1]), float(view[2])), (
        float(up[0]),
        float(up[1]),
        float(up[2]),
    )


def camera_basis(angles: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    """Rows: world directions of screen right, screen down, and into the screen."""
    view, up = (np.asarray(v) for v in view_and_up_from_angles(angles))
    right = np.cross(view, up)
    return np.stack([right, -up, view])


def angles_from_view_and_up(view: npt.ArrayLike, up: npt.ArrayLike) -> Vec3:
    """napari angles whose camera looks along ``view`` with ``up`` pointing up on screen.

    The inverse of :func:`view_and_up_from_angles` (up to Euler-angle ambiguity:
    the returned angles give the same view and up directions).
    """
    v = np.asarray(view, dtype=np.float64)
    v = v / np.linalg.norm(v)
    u = np.asarray(up, dtype=np.float64)
    u = u - np.dot(u, v) * v
    u = u / np.linalg.norm(u)
    cam = np.stack([v, u, np.cross(v, u)], axis=1)
    home = np.stack([_BASE_VIEW, _BASE_UP, np.cross(_BASE_VIEW, _BASE_UP)], axis=1)
    r = cam @ home.T
    # r = Rx(a) Ry(b) Rz(c); recover (a, b, c) then negate (napari's convention).
    sb = float(np.clip(r[0, 2], -1.0, 1.0))
    b = float(np.arcsin(sb))
    if abs(sb) < 1.0 - 1e-9:
        a = float(np.arctan2(-r[1, 2], r[2, 2]))
        c = float(np.arctan2(-r[0, 1], r[0, 0]))
    else:  # gimbal lock: the third angle is free; choose 0
        a = float(np.arctan2(r[2, 1], r[1, 1]))
        c = 0.0
    ang = -np.degrees([a, b, c])
    return float(ang[0]), float(ang[1]), float(ang[2])
