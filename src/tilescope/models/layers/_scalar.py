"""Shared state of image-like layers (Image, Labels): array data, pyramids, levels.

Holds the layer data (one array or a :class:`~tilescope.data.MultiScaleData`), the
level shapes and downsample factors, and napari's ``data_level``,
``locked_data_level`` and ``corner_pixels``.  Nothing here reads array values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from tilescope.data.protocol import ArrayLike, MultiScaleData, shape_of
from tilescope.errors import LayerPropertyError
from tilescope.models.dims import DimsState
from tilescope.models.dims_mapping import data_slice_point, layer_axes, plane_to_world
from tilescope.models.layers.base import Layer, LayerEvents
from tilescope.models.transforms import Affine, FloatArray, frozen_array
from tilescope.tiles.levels import level_and_corners_for_view

__all__ = ["ScalarFieldEvents", "ScalarFieldLayer"]

IntArray = npt.NDArray[np.int64]


class ScalarFieldEvents(LayerEvents):
    """Layer signals plus the multiscale level state."""

    data_level = Signal(int)
    locked_data_level = Signal(object)
    corner_pixels = Signal(object)


class ScalarFieldLayer(Layer):
    """Base of layers whose data is a (possibly multiscale) array."""

    _events_class: ClassVar[type[LayerEvents]] = ScalarFieldEvents
    events: ScalarFieldEvents

    #: Number of trailing data axes that are not layer axes (1 for RGB images).
    _channel_axes: int = 0

    def _init_data(self, data: ArrayLike | MultiScaleData) -> None:
        """Set data-derived state before ``Layer.__init__`` (which needs ``_ndim``)."""
        self._data = data
        self._ndim = len(shape_of(data)) - self._channel_axes
        self._data_level = self._initial_level(data)
        self._locked_data_level: int | None = None
        self._corner_pixels = self._initial_corners(data, self._data_level)
        self._view_axes: tuple[int, ...] | None = None

    def _initial_level(self, data: ArrayLike | MultiScaleData) -> int:
        # napari starts a pyramid at its coarsest level until the first view update.
        return len(data) - 1 if isinstance(data, MultiScaleData) else 0

    def _initial_corners(
        self, data: ArrayLike | MultiScaleData, level: int, channel_axes: int | None = None
    ) -> IntArray:
        shapes = self._level_shapes_of(data, channel_axes)
        ndim = shapes.shape[1]
        corners = np.zeros((2, ndim), dtype=np.int64)
        shown = list(range(max(0, ndim - 2), ndim))
        corners[1, shown] = shapes[level, shown] - 1
        return frozen_array(corners, np.int64)

    def _level_shapes_of(
        self, data: ArrayLike | MultiScaleData, channel_axes: int | None = None
    ) -> IntArray:
        if isinstance(data, MultiScaleData):
            shapes = data.level_shapes
        else:
            shapes = np.array([shape_of(data)], dtype=np.int64)
        channels = self._channel_axes if channel_axes is None else channel_axes
        if channels:
            shapes = shapes[:, :-channels]
        return frozen_array(shapes, np.int64)

    # data ---------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The layer data: one array, or a :class:`MultiScaleData` pyramid."""
        return self._data

    @property
    def multiscale(self) -> bool:
        """True when the data is a pyramid."""
        return isinstance(self._data, MultiScaleData)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The data's dtype."""
        return np.dtype(self._data.dtype)

    @property
    def level_shapes(self) -> IntArray:
        """``(levels, ndim)`` shape of each level (without an RGB channel axis)."""
        return self._level_shapes_of(self._data)

    @property
    def downsample_factors(self) -> FloatArray:
        """``(levels, ndim)`` ``level_shapes[0] / level_shapes[level]`` (napari)."""
        shapes = self.level_shapes.astype(np.float64)
        out: FloatArray = shapes[0] / shapes
        return out

    def level_data(self, level: int) -> ArrayLike:
        """The array of one level (level 0 is the data itself when not multiscale)."""
        if isinstance(self._data, MultiScaleData):
            return self._data[level]  # type: ignore[no-any-return]
        if level != 0:
            raise LayerPropertyError(f"level {level} requested from single-scale data")
        return self._data

    def _extent_data(self) -> FloatArray:
        shape = self.level_shapes[0].astype(np.float64)
        return np.stack([np.zeros_like(shape), shape - 1])

    def _extent_data_augmented(self) -> FloatArray:
        # A pixel centred at i covers [i - 0.5, i + 0.5] (napari).
        out: FloatArray = self._extent_data() + np.array([[-0.5], [0.5]])
        return out

    def _data_changes(self, new: ArrayLike | MultiScaleData, channel_axes: int) -> dict[str, Any]:
        """Everything that changes when data is replaced by validated ``new``; assigns nothing."""
        ndim = len(shape_of(new)) - channel_axes
        level = self._initial_level(new)
        return {
            "data": new,
            "channel_axes": channel_axes,
            "ndim": ndim,
            "transform": self._transform.with_ndim(ndim),
            "data_version": self._data_version + 1,
            "data_level": level,
            "locked_data_level": None,
            "corner_pixels": self._initial_corners(new, level, channel_axes),
            "view_axes": None,
        }

    # levels -------------------------------------------------------------
    @property
    def data_level(self) -> int:
        """The pyramid level being shown (0 for single-scale data)."""
        return self._data_level

    @property
    def locked_data_level(self) -> int | None:
        """A level forced by the user, or ``None`` for automatic choice."""
        return self._locked_data_level

    @locked_data_level.setter
    def locked_data_level(self, level: int | None) -> None:
        if level is None:
            self._update(locked_data_level=None)
            return
        n = self.level_shapes.shape[0]
        if not isinstance(level, int | np.integer) or isinstance(level, bool) or not 0 <= level < n:
            raise LayerPropertyError(
                f"locked_data_level must be None or a level in 0..{n - 1}, got {level!r}"
            )
        level = int(level)
        shapes = self.level_shapes
        axes = self._view_axes or tuple(range(max(0, self.ndim - 2), self.ndim))
        corners = np.zeros((2, self.ndim), dtype=np.int64)
        corners[1, list(axes)] = shapes[level, list(axes)] - 1
        self._update(
            locked_data_level=level, data_level=level, corner_pixels=frozen_array(corners, np.int64)
        )

    @property
    def view_axes(self) -> tuple[int, ...] | None:
        """Displayed layer axes of the last :meth:`update_view` (``None`` before any).

        :attr:`corner_pixels` describe a view of exactly these axes.
        """
        return self._view_axes

    @property
    def corner_pixels(self) -> IntArray:
        """``(2, ndim)`` inclusive data-pixel bounds of the view at :attr:`data_level`.

        Only the displayed axes are meaningful (others are 0), like napari.
        """
        return self._corner_pixels

    def update_view(
        self,
        corner_pixels_level0: npt.ArrayLike,
        canvas_shape: Sequence[int],
        displayed: Sequence[int] | None = None,
    ) -> None:
        """Choose :attr:`data_level` and :attr:`corner_pixels` for a view (napari 2D rules).

        Parameters
        ----------
        corner_pixels_level0
            ``(2, k)`` min/max corners of the view in level-0 data coordinates of the
            displayed layer axes (display order); rounded outward to whole pixels.
        canvas_shape
            Canvas size in screen pixels per displayed axis (same order), e.g. ``(h, w)``.
        displayed
            The displayed layer axes; default: the last ``len(canvas_shape)`` axes.

        In 2D, a pyramid gets the coarsest level with more than one data pixel per
        screen pixel (:func:`tilescope.tiles.levels.level_and_corners_for_view`);
        ``locked_data_level`` overrides it.  In 3D a pyramid shows its coarsest level
        in full (napari).  Single-scale data stays at level 0 with the view clipped
        to the data.
        """
        box = np.asarray(corner_pixels_level0, dtype=np.float64)
        k = len(canvas_shape)
        axes = (
            tuple(range(self.ndim - k, self.ndim))
            if displayed is None
            else tuple(int(a) for a in displayed)
        )
        valid_axes = len(axes) == k and all(0 <= a < self.ndim for a in axes)
        if box.shape != (2, len(axes)) or not valid_axes:
            raise LayerPropertyError(
                f"update_view needs corners of shape (2, {k}) for displayed layer axes within "
                f"0..{self.ndim - 1}; got corners {box.shape} and axes {axes}"
            )
        if not np.all(np.isfinite(box)):
            raise LayerPropertyError(f"view corners must be finite, got {box.tolist()}")
        shapes = self.level_shapes
        ax = list(axes)
        corners = np.zeros((2, self.ndim), dtype=np.int64)
        if not self.multiscale:
            lo = np.floor(box.min(axis=0))
            hi = np.ceil(box.max(axis=0))
            corners[:, ax] = np.clip(np.stack([lo, hi]), 0, shapes[0, ax] - 1)
            self._update(
                data_level=0, corner_pixels=frozen_array(corners, np.int64), view_axes=axes
            )
            return
        locked = self._locked_data_level
        if k == 3 and locked is None:
            level = shapes.shape[0] - 1
            corners[1, ax] = shapes[level, ax] - 1
            self._update(
                data_level=level, corner_pixels=frozen_array(corners, np.int64), view_axes=axes
            )
            return
        previous = None
        if self._view_axes == axes:
            previous = (self._data_level, np.asarray(self._corner_pixels[:, ax]))
        result = level_and_corners_for_view(
            box[0], box[1], tuple(canvas_shape), shapes[:, ax], locked, previous
        )
        if result is None:
            return
        level, sub = result
        corners[:, ax] = sub
        self._update(
            data_level=int(level), corner_pixels=frozen_array(corners, np.int64), view_axes=axes
        )

    def update_view_from_world(
        self,
        view_min: npt.ArrayLike,
        view_max: npt.ArrayLike,
        canvas_shape: Sequence[int],
        dims: DimsState,
    ) -> None:
        """:meth:`update_view` from a world view rectangle (e.g. ``Camera.view_rect``).

        ``view_min``/``view_max`` are world coordinates of ``dims.displayed`` (display
        order).  The rectangle's corners are mapped to data coordinates of the
        displayed layer axes on the current slice plane (the inverse of the slice's
        placement in the world, see :func:`~tilescope.models.dims_mapping.plane_to_world`;
        napari's ``_update_draw`` for axis-aligned transforms).  Displayed world axes
        the layer lacks are ignored.
        """
        axes = layer_axes(dims, self.ndim)
        present = [i for i, a in enumerate(axes.displayed) if a is not None]
        layer_disp = list(axes.displayed_layer)
        if not layer_disp:
            return
        lo = np.asarray(view_min, dtype=np.float64)[present]
        hi = np.asarray(view_max, dtype=np.float64)[present]
        grids = np.meshgrid(*[[a, b] for a, b in zip(lo, hi, strict=True)], indexing="ij")
        pts = np.stack([g.ravel() for g in grids], axis=1)
        point, _, _ = data_slice_point(self._transform, dims, axes)
        plane = Affine(plane_to_world(self._transform, axes, point))
        to_data = plane.inverse if plane.is_invertible else None
        if to_data is None:  # the plane is seen edge-on: fall back to napari's block
            to_data = self._transform.data_to_world.subset(layer_disp).inverse
        data_pts = to_data(pts)
        box = np.stack([data_pts.min(axis=0), data_pts.max(axis=0)])
        canvas = [canvas_shape[i] for i in present]
        self.update_view(box, canvas, layer_disp)
