"""Which data indices a (thick) slice reads, and how a thick slice is projected.

Pure functions on numbers and numpy arrays; any thread.  The reducer
:func:`project` lives in :mod:`tilescope.tiles.projection` (the tile source computes
projections per tile too; ``tiles`` sits below ``slicing``) and is re-exported here.

Index rules (pixel centres sit at integer data coordinates):

* ``projection_mode='none'``: the slice reads index ``round(point)`` (numpy's
  round-half-to-even, like napari); a point whose rounded index is outside
  ``0..n-1`` gives an empty (transparent) slice, like napari.
* thick modes (``sum``, ``mean``, ``max``, ``min``): the window is
  ``[point - margin_left, point + margin_right]``; every index whose pixel centre
  lies in the window is read.  When no centre lies in it (a window thinner than a
  pixel), the index ``round(point)`` is read, as in ``none`` mode; when that is
  outside the data too, the slice is empty.

napari 0.9 (``_ScalarFieldSliceRequest._data_slice_to_slices``) instead reads
``range(round(lo), round(hi))`` — plus ``round(hi)`` itself only when ``hi`` is a
whole number — with round-half-to-even.  Both agree whenever the point and
margins are whole numbers (the usual case: ``dims.thickness`` of whole steps).
Otherwise napari's window can leave out the current plane itself (point 1 with
margins (1, 0.4) reads only plane 0) and is asymmetric for symmetric margins
(point 29, thickness 1 reads planes 28 and 29).  tilescope reads exactly the
planes whose centres the window covers.
"""

from __future__ import annotations

import math

import numpy as np

from tilescope.tiles.geometry import Window
from tilescope.tiles.projection import project

__all__ = [
    "Window",
    "point_index",
    "project",
    "thick_bounds",
    "thick_window",
    "window_indices",
]

#: Tolerance (data units) for "a pixel centre lies on the window's edge".
_EPS = 1e-9


def point_index(point: float, size: int) -> int | None:
    """The index a ``none``-mode slice reads at ``point``, or ``None`` when out of range."""
    if not math.isfinite(point):
        return None
    i = int(np.round(point))
    return i if 0 <= i < size else None


def thick_bounds(point: float, margin_left: float, margin_right: float) -> Window:
    """The planes ``[start, stop)`` between ``point - margin_left`` and ``point +
    margin_right`` (either sign convention), before clipping to the data (finite input)."""
    a, b = point - margin_left, point + margin_right
    lo, hi = min(a, b), max(a, b)
    return (math.ceil(lo - _EPS), math.floor(hi + _EPS) + 1)


def thick_window(point: float, margin_left: float, margin_right: float, size: int) -> Window | None:
    """The index range a thick slice reads (see the module docstring), or ``None`` if empty.

    Margins may be given in either sign convention: the window is the interval
    between ``point - margin_left`` and ``point + margin_right``, whichever is lower.
    """
    if not (math.isfinite(point) and math.isfinite(margin_left) and math.isfinite(margin_right)):
        return None
    lo, hi = thick_bounds(point, margin_left, margin_right)
    start = max(lo, 0)
    stop = min(hi, size)
    if start < stop:
        return (start, stop)
    i = point_index(point, size)
    return None if i is None else (i, i + 1)


def window_indices(
    point: float, margin_left: float, margin_right: float, size: int, mode: str
) -> Window | None:
    """The ``[start, stop)`` read along one sliced axis for ``mode``, or ``None`` (empty)."""
    if mode == "none":
        i = point_index(point, size)
        return None if i is None else (i, i + 1)
    return thick_window(point, margin_left, margin_right, size)
