"""Cheap default contrast limits: never read a whole huge array, never block on I/O.

napari 0.9 computes the range of a numpy array in full, but gives any other array
(dask, zarr) the dtype's limits for integers and ``(0, 1)`` for floats, which
users see as a black or white screen.  Here every array gets limits from real
values, at a bounded cost:

* ``uint8`` is ``(0, 255)`` and ``bool`` ``(0, 1)`` without reading anything (napari);
* an in-memory numpy array (:func:`is_in_memory`) is estimated at once by
  :func:`estimate_contrast_limits`: a pyramid at its coarsest level; at most
  :data:`MAX_SAMPLE` elements read whole; a larger array in one central block of
  at most :data:`MAX_SAMPLE` elements (the middle index of every leading axis and
  a centred window of the last two, spatial, axes);
* anything else (dask, zarr, memory-mapped files: reads may block) starts with
  :func:`provisional_contrast_limits` and is estimated from its first slice, which
  is read in a worker anyway (:func:`limits_from_values`; see
  ``Image.apply_contrast_limits_estimate``).  :func:`estimate_contrast_limits` can
  also be called explicitly (``Image.reset_contrast_limits``).

When only a sample was read, integer data gets its dtype's limits as
``contrast_limits_range`` (the slider can still reach every value); otherwise the
range is the limits themselves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tilescope.data.protocol import ArrayLike, MultiScaleData, shape_of

__all__ = [
    "MAX_SAMPLE",
    "ContrastEstimate",
    "estimate_contrast_limits",
    "is_in_memory",
    "limits_from_values",
    "provisional_contrast_limits",
]

ContrastEstimate = tuple[tuple[float, float], tuple[float, float]]
"""``(contrast_limits, contrast_limits_range)``."""

#: Most elements read to estimate contrast limits (4 Mi).
MAX_SAMPLE = 1 << 22


def _central_key(shape: tuple[int, ...], channels: int, budget: int) -> tuple[Any, ...]:
    """Index of a central block of at most ``budget`` elements (channels kept whole)."""
    spatial_end = len(shape) - (1 if channels > 1 else 0)
    lead = spatial_end - 2 if spatial_end >= 2 else 0
    key: list[Any] = [n // 2 for n in shape[:lead]]
    per_plane = max(1, budget // channels)
    dims = shape[lead:spatial_end]
    if len(dims) == 2:
        h, w = dims
        if h * w > per_plane:
            side = max(1, math.isqrt(per_plane))
            wh = min(h, side)
            ww = min(w, per_plane // wh)
            wh = min(h, per_plane // ww)
            h0, w0 = (h - wh) // 2, (w - ww) // 2
            key += [slice(h0, h0 + wh), slice(w0, w0 + ww)]
        else:
            key += [slice(None), slice(None)]
    else:
        (n,) = dims
        m = min(n, per_plane)
        key.append(slice((n - m) // 2, (n - m) // 2 + m))
    if channels > 1:
        key.append(slice(None))
    return tuple(key)


def _finite_range(values: np.ndarray) -> tuple[float, float] | None:
    if values.size == 0:
        return None
    if np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.complexfloating):
        values = values[np.isfinite(values)]
        if values.size == 0:
            return None
    return float(np.min(values)), float(np.max(values))


def _sampled_level(data: ArrayLike | MultiScaleData) -> ArrayLike:
    """The array contrast limits are estimated from: a pyramid's coarsest level."""
    return data[len(data) - 1] if isinstance(data, MultiScaleData) else data


def is_in_memory(data: ArrayLike | MultiScaleData) -> bool:
    """True when the level sampled for contrast limits is a numpy array in RAM.

    Only then are default contrast limits computed on the spot; anything else
    (dask, zarr, a memory-mapped file, ...) may block on I/O or computation and is
    estimated from its first slice instead, in a worker.
    """
    arr = _sampled_level(data)
    return isinstance(arr, np.ndarray) and not isinstance(arr, np.memmap)


def provisional_contrast_limits(dtype: np.dtype[Any]) -> tuple[tuple[float, float], bool]:
    """Limits usable before any value is read, and whether they are final.

    ``uint8`` -> ``(0, 255)`` and ``bool`` -> ``(0, 1)`` are final (napari's
    convention); other integers get their dtype's range and floats ``(0, 1)``
    until an estimate arrives.
    """
    if dtype == np.uint8:
        return (0.0, 255.0), True
    if dtype == np.bool_:
        return (0.0, 1.0), True
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return (float(info.min), float(info.max)), False
    return (0.0, 1.0), False


def limits_from_values(values: np.ndarray, dtype: np.dtype[Any], sampled: bool) -> ContrastEstimate:
    """Limits and slider range from values that were read (a sample, or a slice).

    Equal min and max widen like napari; no finite value gives ``(0, 1)``.  When
    the values are only part of the data (``sampled``), integer data gets its
    dtype's range as the slider range.
    """
    found = _finite_range(values)
    lo, hi = found if found is not None else (0.0, 1.0)
    if lo == hi:
        lo, hi = min(lo, 0.0), max(hi, 1.0)
    limits = (lo, hi)
    if sampled and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return limits, (float(min(info.min, lo)), float(max(info.max, hi)))
    return limits, limits


def estimate_contrast_limits(
    data: ArrayLike | MultiScaleData, rgb: bool = False
) -> ContrastEstimate:
    """Return ``(contrast_limits, contrast_limits_range)`` for layer data.

    Reads at most :data:`MAX_SAMPLE` elements (see the module docstring).  Equal
    min and max widen like napari (``(min(v, 0), max(v, 1))``); no finite value at
    all gives ``(0, 1)``.
    """
    dtype = np.dtype(data.dtype)
    provisional, final = provisional_contrast_limits(dtype)
    if final:
        return provisional, provisional
    arr = _sampled_level(data)
    shape = shape_of(arr)
    size = math.prod(shape)
    channels = shape[-1] if rgb else 1
    sampled = size > MAX_SAMPLE
    key = _central_key(shape, channels, MAX_SAMPLE) if sampled else (Ellipsis,)
    return limits_from_values(np.asarray(arr[key]), dtype, sampled)
