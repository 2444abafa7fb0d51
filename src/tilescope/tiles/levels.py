"""Multiscale level choice: which pyramid level a 2D view should show.

These functions reproduce napari 0.9's 2D semantics exactly
(``napari.layers.utils.layer_utils.compute_multiscale_level`` and
``compute_multiscale_level_and_corners``, plus the floor/ceil of the view's data
bounding box done in ``Layer._update_draw``), so ``layer.data_level`` and
``layer.corner_pixels`` mean what napari users expect.  The tile engine's ideal
level (:func:`ideal_level`) is the same rule, so the level the layer reports is
the level whose tiles are loaded.

The rule: the *ideal* level is the coarsest level that still shows **more than
one data pixel per screen pixel** along every axis that matters, i.e. the lowest
resolution that never has to be magnified by the GPU.  Axes whose requested
extent already fits within the canvas, and axes that are not downsampled across
the pyramid, are ignored (napari's "active dims").  When no axis is active the
answer is level 0.  The comparison is strict (``>``), like napari: a view that
shows exactly one level-1 pixel per screen pixel picks level 0.

Pure numpy; no Qt, no GPU.  Safe to call from any thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "compute_multiscale_level",
    "compute_multiscale_level_and_corners",
    "downsample_factors_from_shapes",
    "ideal_level",
    "level_and_corners_for_view",
    "view_bbox_int",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _as_factors(downsample_factors: npt.ArrayLike) -> FloatArray:
    factors = np.asarray(downsample_factors, dtype=np.float64)
    if factors.ndim != 2 or factors.shape[0] == 0:
        raise ValueError(
            "downsample_factors must be a non-empty (levels, ndim) array, "
            f"got shape {factors.shape}"
        )
    return factors


def compute_multiscale_level(
    requested_shape: npt.ArrayLike,
    shape_threshold: npt.ArrayLike,
    downsample_factors: npt.ArrayLike,
) -> int:
    """Return the pyramid level to view for a requested field of view.

    Parameters
    ----------
    requested_shape
        Shape ``(D,)`` of the field of view in level-0 data pixels.
    shape_threshold
        Shape ``(D,)`` of the canvas in screen pixels (same axis order).
    downsample_factors
        ``(levels, D)`` downsampling of each level relative to level 0
        (row 0 is all ones), increasing with the level.

    Returns
    -------
    int
        The coarsest level ``l`` with ``requested / factors[l] > threshold`` on
        every *active* axis (an axis that exceeds the threshold at level 0 and
        is downsampled somewhere in the pyramid); 0 when no axis is active.
        Identical to napari 0.9.
    """
    requested = np.asarray(requested_shape, dtype=np.float64)
    threshold = np.asarray(shape_threshold, dtype=np.float64)
    factors = _as_factors(downsample_factors)
    scaled = requested / factors
    active = (requested > threshold) & np.any(factors > 1, axis=0)
    if not np.any(active):
        return 0
    ok = np.flatnonzero(np.all((scaled > threshold)[:, active], axis=1))
    return int(ok[-1]) if ok.size else 0


def compute_multiscale_level_and_corners(
    corner_pixels: npt.ArrayLike,
    shape_threshold: npt.ArrayLike,
    downsample_factors: npt.ArrayLike,
) -> tuple[int, IntArray]:
    """Return the level to view and the corner pixels at that level.

    ``corner_pixels`` is ``(2, D)``: the min and max corners of the view in
    level-0 data pixels.  The level is :func:`compute_multiscale_level` of
    ``corner_pixels[1] - corner_pixels[0]``; the corners are divided by that
    level's factors and rounded outward (floor of the min, ceil of the max),
    exactly as napari 0.9 does.  No clipping to the data shape happens here.
    """
    corners_in = np.asarray(corner_pixels, dtype=np.float64)
    if corners_in.ndim != 2 or corners_in.shape[0] != 2:
        raise ValueError(f"corner_pixels must have shape (2, D), got {corners_in.shape}")
    factors = _as_factors(downsample_factors)
    level = compute_multiscale_level(corners_in[1] - corners_in[0], shape_threshold, factors)
    scaled = corners_in / factors[level]
    corners = np.array([np.floor(scaled[0]), np.ceil(scaled[1])]).astype(np.int64)
    return level, corners


def view_bbox_int(view_min: npt.ArrayLike, view_max: npt.ArrayLike) -> IntArray:
    """Round a view rectangle in data coordinates outward to integer pixels.

    Returns the ``(2, D)`` array ``[floor(min(a, b)), ceil(max(a, b))]``, which is
    what napari passes to :func:`compute_multiscale_level_and_corners`.
    """
    lo = np.asarray(view_min, dtype=np.float64)
    hi = np.asarray(view_max, dtype=np.float64)
    if lo.shape != hi.shape or lo.ndim != 1:
        raise ValueError(
            f"view_min and view_max must be 1-D of equal length, got {lo.shape} and {hi.shape}"
        )
    return np.stack([np.floor(np.minimum(lo, hi)), np.ceil(np.maximum(lo, hi))]).astype(np.int64)


def ideal_level(
    view_min: npt.ArrayLike,
    view_max: npt.ArrayLike,
    canvas_shape: Sequence[int] | npt.ArrayLike,
    downsample_factors: npt.ArrayLike,
    locked_level: int | None = None,
) -> int:
    """Return the ideal level for a 2D view (napari's automatic ``data_level``).

    Parameters
    ----------
    view_min, view_max
        Opposite corners of the view rectangle in level-0 data coordinates of the
        displayed axes (any order; rounded outward to whole pixels like napari).
    canvas_shape
        Canvas size in screen pixels, same axis order as the view (``(h, w)``).
    downsample_factors
        ``(levels, ndisplay)`` factors of the displayed axes.
    locked_level
        When not ``None``, that level is returned (napari's
        ``locked_data_level``); it must be a valid level index.

    Returns
    -------
    int
        The coarsest level that still has more than one data pixel per screen
        pixel on every active axis; see the module docstring.
    """
    # Pure python on purpose: this runs every frame for every layer, and numpy's
    # per-call overhead dominates arrays this small.  Same rule, same float64
    # arithmetic as compute_multiscale_level (the tests check they agree).
    if isinstance(downsample_factors, tuple) and downsample_factors:
        rows = cast(tuple[tuple[float, ...], ...], downsample_factors)
    else:
        rows = tuple(tuple(row) for row in _as_factors(downsample_factors).tolist())
    nlevels = len(rows)
    if locked_level is not None:
        if not 0 <= locked_level < nlevels:
            raise ValueError(
                f"locked_level {locked_level} is out of range for a pyramid of "
                f"{nlevels} levels; use 0..{nlevels - 1} or None"
            )
        return int(locked_level)
    lo = [float(v) for v in cast(Sequence[float], view_min)]
    hi = [float(v) for v in cast(Sequence[float], view_max)]
    canvas = [float(v) for v in cast(Sequence[float], canvas_shape)]
    ndim = len(lo)
    if len(hi) != ndim or len(canvas) != ndim or len(rows[0]) != ndim:
        raise ValueError(
            f"view ({ndim} axes), canvas_shape {tuple(canvas)} and downsample factors "
            f"({len(rows[0])} axes) must describe the same displayed axes"
        )
    requested = [
        float(math.ceil(max(a, b)) - math.floor(min(a, b))) for a, b in zip(lo, hi, strict=True)
    ]
    active = [
        d for d in range(ndim) if requested[d] > canvas[d] and any(row[d] > 1 for row in rows)
    ]
    if not active:
        return 0
    for level in range(nlevels - 1, 0, -1):
        row = rows[level]
        if all(requested[d] / row[d] > canvas[d] for d in active):
            return level
    return 0


def downsample_factors_from_shapes(
    level_shapes: Sequence[Sequence[int]] | npt.ArrayLike,
) -> FloatArray:
    """Return napari's downsample factors ``shapes[0] / shapes[l]`` as ``(levels, D)``."""
    shapes = np.asarray(level_shapes, dtype=np.float64)
    if shapes.ndim != 2 or shapes.shape[0] == 0:
        raise ValueError(
            f"level_shapes must be a non-empty (levels, ndim) array, got {shapes.shape}"
        )
    if np.any(shapes <= 0):
        raise ValueError("every level shape must be positive along every axis")
    result: FloatArray = shapes[0] / shapes
    return result


def level_and_corners_for_view(
    view_min: npt.ArrayLike,
    view_max: npt.ArrayLike,
    canvas_shape: Sequence[int] | npt.ArrayLike,
    level_shapes: Sequence[Sequence[int]] | npt.ArrayLike,
    locked_level: int | None = None,
    previous: tuple[int, IntArray] | None = None,
) -> tuple[int, IntArray] | None:
    """Return ``(data_level, corner_pixels)`` of a 2D multiscale view, napari-style.

    All arguments concern the displayed axes only.  ``corner_pixels`` is
    ``(2, ndisplay)`` inclusive pixel bounds at ``data_level``, clipped to
    ``[0, shape - 1]`` of that level.  With ``locked_level`` the corners are
    that level's full extent (napari's ``locked_data_level``).

    ``previous`` is the layer's current ``(data_level, corner_pixels)``.  Like
    napari, the previous value is kept (and returned) when the view is empty
    after clipping (it lies outside the data), or when the level is unchanged
    and the new corners lie inside the previous ones (napari only refreshes when
    the view leaves the region already fetched).  ``None`` is returned when
    the view is empty and there is no previous value.  Chunk-boundary expansion (napari's
    ``expand_corners_to_chunk_boundaries``) is not done here; tiles already
    align reads to tile boundaries.
    """
    shapes = np.asarray(level_shapes, dtype=np.int64)
    factors = downsample_factors_from_shapes(shapes)
    if locked_level is not None:
        level = ideal_level(view_min, view_max, canvas_shape, factors, locked_level)
        full = np.zeros((2, shapes.shape[1]), dtype=np.int64)
        full[1] = shapes[level] - 1
        return level, full
    bbox = view_bbox_int(view_min, view_max)
    canvas = np.asarray(canvas_shape, dtype=np.float64)
    if canvas.shape != (bbox.shape[1],):
        raise ValueError(
            f"canvas_shape {tuple(canvas.tolist())} does not match the view's "
            f"{bbox.shape[1]} displayed axes"
        )
    level, scaled = compute_multiscale_level_and_corners(bbox, canvas, factors)
    corners = np.clip(scaled, 0, shapes[level] - 1).astype(np.int64)
    if np.any(corners[1] - corners[0] == 0):
        return previous
    if previous is not None:
        prev_level, prev_corners = previous
        if (
            prev_level == level
            and np.all(corners[0] >= prev_corners[0])
            and np.all(corners[1] <= prev_corners[1])
        ):
            return previous
    return level, corners
