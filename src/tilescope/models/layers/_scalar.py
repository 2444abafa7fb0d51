"""Shared state of image-like layers (Image, Labels): array data, pyramids, levels.

Holds the layer data (one array or a :class:`~tilescope.data.MultiScaleData`), the
level shapes and downsample factors, and napari's ``data_level``,
``locked_data_level`` and ``corner_pixels``.  Nothing here reads array values.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from tilescope.data.protocol import ArrayLike, MultiScaleData, shape_of
from tilescope.errors import LayerPropertyError
from tilescope.models.layers.base import Layer, LayerEvents
from tilescope.models.transforms import FloatArray, frozen_array

__all__ = ["ScalarFieldEvents", "ScalarFieldLayer"]

IntArray = npt.NDArray[np.int64]


def _whole_level_corners(
    shapes: IntArray, level: int, axes: Sequence[int] | None = None
) -> IntArray:
    """``(2, ndim)`` corner pixels spanning all of ``level`` along ``axes`` (others 0).

    ``axes`` defaults to the last two: the 2D view before any view update (napari).
    """
    ndim = shapes.shape[1]
    shown = list(range(max(0, ndim - 2), ndim) if axes is None else axes)
    corners = np.zeros((2, ndim), dtype=np.int64)
    corners[1, shown] = shapes[level, shown] - 1
    return frozen_array(corners, np.int64)


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
        return _whole_level_corners(self._level_shapes_of(data, channel_axes), level)

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
        """The layer data: one array, or a :class:`MultiScaleData` pyramid.

        Assigning replaces it through :meth:`set_data`.
        """
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self.set_data(value)

    @abstractmethod
    def set_data(self, data: Any, multiscale: bool | None = None) -> None:
        """Replace the data (validated first; on error nothing changes)."""

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
        corners = _whole_level_corners(self.level_shapes, level, self._view_axes or None)
        self._update(locked_data_level=level, data_level=level, corner_pixels=corners)

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

    def set_view(
        self,
        data_level: int,
        corner_pixels: npt.ArrayLike,
        view_axes: Sequence[int],
        *,
        redraw: bool = True,
    ) -> None:
        """Record the level and region chosen for the current view (one ``changed``).

        Called by :func:`tilescope.tiles.view.update_view`, which applies napari's rules;
        this only checks the values fit the layer. ``redraw=False``: the values come from a
        frame already drawn (tiled layers), so only ``data_level``/``corner_pixels`` signal,
        not ``changed`` (which would re-plan the frame and re-check the layer extents).
        """
        n = self.level_shapes.shape[0]
        if not 0 <= int(data_level) < n:
            raise LayerPropertyError(f"data_level must be in 0..{n - 1}, got {data_level!r}")
        corners = np.asarray(corner_pixels)
        if corners.shape != (2, self.ndim):
            raise LayerPropertyError(
                f"corner_pixels must have shape (2, {self.ndim}), got {corners.shape}"
            )
        axes = tuple(int(a) for a in view_axes)
        if not all(0 <= a < self.ndim for a in axes):
            raise LayerPropertyError(f"view axes must be within 0..{self.ndim - 1}, got {axes}")
        self._apply(
            {
                "data_level": int(data_level),
                "corner_pixels": frozen_array(corners, np.int64),
                "view_axes": axes,
            },
            redraw=redraw,
        )
