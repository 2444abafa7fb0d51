"""Thick-slice projections: reduce a region over its sliced axes (sum, mean, max, min).

Pure numpy, any thread.  The slicer (:mod:`tilescope.slicing.projection` re-exports
:func:`project`) and the tile source (projections computed per tile in loader
workers) share this one reducer, so a tiled thick slice equals the slicer's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["PROJECTION_MODES", "THICK_MODES", "project"]

_REDUCERS: dict[str, Callable[..., npt.NDArray[np.generic]]] = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
}

#: The modes that reduce a window of planes.
THICK_MODES: tuple[str, ...] = tuple(_REDUCERS)

#: Every projection mode: ``"none"`` (a plain slice) and the thick modes.
PROJECTION_MODES: tuple[str, ...] = ("none", *THICK_MODES)


def project(data: np.ndarray, axes: tuple[int, ...], mode: str) -> np.ndarray:
    """Project ``data`` over ``axes`` with ``mode`` (sum, mean, max, min).

    When every projected axis has length 1 the data is returned without reduction
    (dtype kept), like napari; otherwise numpy's reduction decides the dtype
    (``mean`` gives floats, ``sum`` widens integers).
    """
    if mode not in _REDUCERS:
        raise ValueError(f"projection mode must be one of {sorted(_REDUCERS)}, got {mode!r}")
    if not axes:
        return data
    if all(data.shape[a] == 1 for a in axes):
        key = tuple(0 if i in axes else slice(None) for i in range(data.ndim))
        return data[key]
    return np.asarray(_REDUCERS[mode](data, axis=axes))
