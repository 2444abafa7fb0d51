"""One level geometry for the slicer and the tile engine: where coarse pixels sit, which plane.

Every place that relates a pyramid level to level 0 uses these functions: the tile
grid (:mod:`tilescope.tiles.grid`), the tile source's planes and thick-slice windows
(:mod:`tilescope.tiles.source`), 2D and 3D slice requests
(:mod:`tilescope.slicing.requests`) and the viewer's cursor lookup.  Pure integer and
float math, any thread.

Conventions (the project's decision, DESIGN.md "Joining tiles to the screen"):

* Data coordinates put level-0 pixel centres on integers: level-0 pixel ``j`` covers
  ``[j - 0.5, j + 0.5)``.
* Level ``l`` has ``n_l`` pixels along an axis of ``n0`` level-0 pixels; its factor is
  ``f = n0 / n_l`` (napari's formula; not necessarily an integer).  Level-``l`` pixel
  ``i`` covers level-0 pixels ``[i * f, (i + 1) * f)`` (edge coordinates), the footprint
  of a box-mean pyramid, so its centre is at data coordinate ``f * i + (f - 1) / 2``.
  napari 0.9 puts it at ``f * i``, half a coarse pixel off its footprint.
* A coarse level shows the plane that *contains* the level-0 plane asked for: level-0
  plane ``i0`` (centre ``i0``, edges ``[i0, i0 + 1)``) falls in level-``l`` plane
  ``floor((i0 + 0.5) / f)``.  A thick slice's level-0 window ``[start0, stop0)`` becomes
  every level-``l`` plane that overlaps it.

Plane and window functions use exact integer arithmetic on the shapes (no rounding
surprises for non-halving pyramids such as 1000 -> 333).
"""

from __future__ import annotations

import math

__all__ = [
    "Window",
    "data_to_level_index",
    "level_factor",
    "level_pixel_to_data",
    "pixel_containing",
    "plane_at_level",
    "window_at_level",
]

Window = tuple[int, int]
"""A half-open index range ``[start, stop)`` along one axis."""


def level_factor(n0: int, n_l: int) -> float:
    """``n0 / n_l``: how many level-0 pixels one level-``l`` pixel spans along an axis."""
    if n0 < 1 or n_l < 1:
        raise ValueError(f"axis sizes must be positive, got n0={n0}, n_l={n_l}")
    return n0 / n_l


def level_pixel_to_data(f: float) -> tuple[float, float]:
    """``(scale, offset)`` with ``data = index * scale + offset`` for a level of factor ``f``.

    ``scale = f`` and ``offset = (f - 1) / 2``: the centre of a coarse pixel's footprint
    in level-0 data coordinates (0 for level 0).
    """
    return (f, (f - 1.0) / 2.0)


def pixel_containing(coord: float) -> int:
    """The pixel index whose cell ``[i - 0.5, i + 0.5)`` contains ``coord`` (unclipped)."""
    return math.floor(coord + 0.5)


def data_to_level_index(coord0: float, f: float) -> int:
    """The level pixel (factor ``f``) containing level-0 data coordinate ``coord0``.

    The inverse of :func:`level_pixel_to_data`: ``floor((coord0 + 0.5) / f)``, unclipped
    (callers check the range).  Used for cursor lookups.
    """
    return math.floor((coord0 + 0.5) / f)


def plane_at_level(index0: int, n0: int, n_l: int) -> int:
    """The level-``l`` plane containing level-0 plane ``index0``, clipped to ``[0, n_l)``.

    ``floor((index0 + 0.5) * n_l / n0)``, computed exactly with integers.
    """
    if n0 < 1 or n_l < 1:
        raise ValueError(f"axis sizes must be positive, got n0={n0}, n_l={n_l}")
    k = ((2 * index0 + 1) * n_l) // (2 * n0)
    return min(max(k, 0), n_l - 1)


def window_at_level(window0: Window, n0: int, n_l: int) -> Window:
    """The level-``l`` planes overlapping the level-0 window ``[start0, stop0)``.

    ``[floor(start0 / f), ceil(stop0 / f))`` (exact integers), clipped to ``[0, n_l)``
    and never empty.  A one-plane window ``(i0, i0 + 1)`` always includes
    :func:`plane_at_level` of ``i0``; with a non-integer ``f`` it may include a second
    plane that the level-0 plane straddles.
    """
    if n0 < 1 or n_l < 1:
        raise ValueError(f"axis sizes must be positive, got n0={n0}, n_l={n_l}")
    start0, stop0 = window0
    if not start0 < stop0:
        raise ValueError(f"window {window0!r} is empty; it must be [start, stop) with start < stop")
    start = min(max((start0 * n_l) // n0, 0), n_l - 1)
    stop = min(max(-((-stop0 * n_l) // n0), start + 1), n_l)
    return (start, stop)
