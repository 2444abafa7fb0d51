"""A layer's ``data_level`` and ``corner_pixels`` for the current view (napari's 2D rules).

:mod:`tilescope.tiles.levels` holds the pure level math; this module applies it to an
image-like layer: from the view rectangle (level-0 data coordinates, or world coordinates
through the layer's transform) and the canvas size in screen pixels, it picks the level and
the data region in view and records them with ``layer.set_view``. It lives above the models
(it reads a layer and its transform) so the models never depend on tile math.

Main thread: it only reads metadata (shapes, transforms), never array values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tilescope.errors import LayerPropertyError
from tilescope.models.dims import DimsState
from tilescope.models.dims_mapping import data_slice_point, layer_axes, plane_to_world
from tilescope.models.layers._scalar import ScalarFieldLayer
from tilescope.models.transforms import Affine
from tilescope.tiles.levels import level_and_corners_for_view

__all__ = ["update_view", "update_view_from_world", "view_box_in_data"]


def update_view(
    layer: ScalarFieldLayer,
    corner_pixels_level0: npt.ArrayLike,
    canvas_shape: Sequence[int],
    displayed: Sequence[int] | None = None,
) -> None:
    """Choose ``layer.data_level`` and ``layer.corner_pixels`` for a view.

    Parameters
    ----------
    corner_pixels_level0
        ``(2, k)`` min/max corners of the view in level-0 data coordinates of the
        displayed layer axes (display order); rounded outward to whole pixels.
    canvas_shape
        Canvas size in screen pixels per displayed axis (same order), e.g. ``(h, w)``.
    displayed
        The displayed layer axes; default: the last ``len(canvas_shape)`` axes.

    In 2D, a pyramid gets the coarsest level with more than one data pixel per screen
    pixel (:func:`~tilescope.tiles.levels.level_and_corners_for_view`);
    ``locked_data_level`` overrides it. In 3D a pyramid shows its coarsest level in full
    (napari). Single-scale data stays at level 0 with the view clipped to the data.
    """
    box = np.asarray(corner_pixels_level0, dtype=np.float64)
    ndim = layer.ndim
    k = len(canvas_shape)
    axes = tuple(range(ndim - k, ndim)) if displayed is None else tuple(int(a) for a in displayed)
    valid_axes = len(axes) == k and all(0 <= a < ndim for a in axes)
    if box.shape != (2, len(axes)) or not valid_axes:
        raise LayerPropertyError(
            f"update_view needs corners of shape (2, {k}) for displayed layer axes within "
            f"0..{ndim - 1}; got corners {box.shape} and axes {axes}"
        )
    if not np.all(np.isfinite(box)):
        raise LayerPropertyError(f"view corners must be finite, got {box.tolist()}")
    shapes = layer.level_shapes
    ax = list(axes)
    corners = np.zeros((2, ndim), dtype=np.int64)
    if not layer.multiscale:
        lo = np.floor(box.min(axis=0))
        hi = np.ceil(box.max(axis=0))
        corners[:, ax] = np.clip(np.stack([lo, hi]), 0, shapes[0, ax] - 1)
        layer.set_view(0, corners, axes)
        return
    locked = layer.locked_data_level
    if k == 3 and locked is None:
        level = shapes.shape[0] - 1
        corners[1, ax] = shapes[level, ax] - 1
        layer.set_view(level, corners, axes)
        return
    previous = None
    if layer.view_axes == axes:
        previous = (layer.data_level, np.asarray(layer.corner_pixels[:, ax]))
    result = level_and_corners_for_view(
        box[0], box[1], tuple(canvas_shape), shapes[:, ax], locked, previous
    )
    if result is None:
        return
    level, sub = result
    corners[:, ax] = sub
    layer.set_view(int(level), corners, axes)


def view_box_in_data(
    layer: ScalarFieldLayer,
    view_min: npt.ArrayLike,
    view_max: npt.ArrayLike,
    dims: DimsState,
) -> tuple[npt.NDArray[np.float64], list[int], list[int]] | None:
    """A world view rectangle as a box in data coordinates of the displayed layer axes.

    ``view_min``/``view_max`` are world coordinates of ``dims.displayed`` (display order).
    Returns ``(box, layer_axes, present)``: ``box`` is ``(2, k)`` min/max data coordinates of
    the displayed layer axes ``layer_axes`` (display order), and ``present`` the positions in
    ``dims.displayed`` those axes sit at; ``None`` when the layer has no displayed axis. The
    rectangle's corners are mapped through the inverse of the slice plane's placement in the
    world (:func:`~tilescope.models.dims_mapping.plane_to_world`; napari's ``_update_draw``
    for axis-aligned transforms).
    """
    axes = layer_axes(dims, layer.ndim)
    present = [i for i, a in enumerate(axes.displayed) if a is not None]
    layer_disp = list(axes.displayed_layer)
    if not layer_disp:
        return None
    lo = np.asarray(view_min, dtype=np.float64)[present]
    hi = np.asarray(view_max, dtype=np.float64)[present]
    grids = np.meshgrid(*[[a, b] for a, b in zip(lo, hi, strict=True)], indexing="ij")
    pts = np.stack([g.ravel() for g in grids], axis=1)
    transform = layer.transform
    point, _, _ = data_slice_point(transform, dims, axes)
    plane = Affine(plane_to_world(transform, axes, point))
    to_data = plane.inverse if plane.is_invertible else None
    if to_data is None:  # the plane is seen edge-on: fall back to napari's block
        to_data = transform.data_to_world.subset(layer_disp).inverse
    data_pts = to_data(pts)
    box = np.stack([data_pts.min(axis=0), data_pts.max(axis=0)])
    return box, layer_disp, present


def update_view_from_world(
    layer: ScalarFieldLayer,
    view_min: npt.ArrayLike,
    view_max: npt.ArrayLike,
    canvas_shape: Sequence[int],
    dims: DimsState,
) -> None:
    """:func:`update_view` from a world view rectangle (e.g. ``Camera.view_rect``).

    See :func:`view_box_in_data`; displayed world axes the layer lacks are ignored.
    """
    found = view_box_in_data(layer, view_min, view_max, dims)
    if found is None:
        return
    box, layer_disp, present = found
    canvas = [canvas_shape[i] for i in present]
    update_view(layer, box, canvas, layer_disp)
