"""The Points layer model: N points in D dimensions with sizes and colours.

In-slice rule (used by :mod:`tilescope.slicing`): along every sliced axis a point
is in the slice when its coordinate lies within the thick-slice window
``[point - margin_left, point + margin_right]`` (data units), or, where the
thickness is 0, within half its size of the slice point.
"""

from __future__ import annotations

from typing import Any, ClassVar, Unpack

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from tilescope.errors import LayerDataError, LayerPropertyError
from tilescope.models.layers._fields import LayerField, boolean, real_in
from tilescope.models.layers.base import Layer, LayerEvents, LayerOptions
from tilescope.models.layers.colors import to_rgba, to_rgba_array
from tilescope.models.transforms import FloatArray, frozen_array

__all__ = ["Points", "PointsEvents"]

#: The largest point size (world units) the renderer can draw: it draws in float32.
MAX_POINT_SIZE = 1e20

ColorArray = npt.NDArray[np.float32]


class PointsEvents(LayerEvents):
    """Points signals (each carries the new value)."""

    size = Signal(object)
    face_color = Signal(object)
    edge_color = Signal(object)
    edge_width = Signal(float)
    edge_width_is_relative = Signal(bool)


class Points(Layer):
    """A points layer.

    Parameters
    ----------
    data
        ``(N, D)`` coordinates in data space; ``None`` for no points (then ``ndim``
        gives D, default 2).
    size
        Diameter in data units: one number or one per point.
    face_color, edge_color
        One colour or one per point.
    edge_width, edge_width_is_relative
        Border width: a fraction of the size when relative (napari's default), else
        data units.
    **options
        The options every layer takes (:class:`~tilescope.models.layers.base.LayerOptions`).
    """

    _events_class: ClassVar[type[LayerEvents]] = PointsEvents
    _default_name: ClassVar[str] = "Points"
    events: PointsEvents

    def __init__(
        self,
        data: Any = None,
        *,
        ndim: int | None = None,
        size: Any = 10.0,
        face_color: Any = "white",
        edge_color: Any = "dimgray",
        edge_width: float = 0.05,
        edge_width_is_relative: bool = True,
        **options: Unpack[LayerOptions],
    ) -> None:
        coords = self._validate_data(data, ndim)
        n = coords.shape[0]
        self._data = coords
        self._ndim = int(coords.shape[1])
        self._size = self._validate_size(size, n)
        self._face_color = to_rgba_array(face_color, n, "face_color")
        self._edge_color = to_rgba_array(edge_color, n, "edge_color")
        self._defaults = {
            "size": float(self._size[0]) if n and np.all(self._size == self._size[0]) else 10.0,
            "face_color": self._single_or(face_color, "white"),
            "edge_color": self._single_or(edge_color, "dimgray"),
        }
        self._init_fields(edge_width=edge_width, edge_width_is_relative=edge_width_is_relative)
        super().__init__(**options)

    # validation ---------------------------------------------------------
    @staticmethod
    def _validate_data(data: Any, ndim: int | None) -> FloatArray:
        if ndim is not None and (not isinstance(ndim, int) or ndim < 1):
            raise LayerDataError(f"ndim must be a positive int, got {ndim!r}")
        if data is None:
            return frozen_array(np.empty((0, ndim or 2)))
        try:
            arr = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise LayerDataError(f"Points data must be an (N, D) array of numbers ({e})") from e
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, ndim or 2)
        if arr.ndim != 2:
            raise LayerDataError(
                f"Points data must be an (N, D) array (one row per point), got shape {arr.shape}"
            )
        if arr.shape[1] < 1:
            raise LayerDataError(
                f"Points data needs at least 1 coordinate per point, got {arr.shape}"
            )
        if ndim is not None and arr.shape[1] != ndim:
            raise LayerDataError(f"Points data has {arr.shape[1]} columns but ndim={ndim}")
        if not np.all(np.isfinite(arr)):
            raise LayerDataError("Points coordinates must be finite (no NaN or inf)")
        return frozen_array(arr)

    @staticmethod
    def _validate_size(size: Any, n: int) -> FloatArray:
        try:
            arr = np.asarray(size, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise LayerPropertyError(f"size must be a number or one per point, got {size!r}") from e
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        elif arr.shape != (n,):
            raise LayerPropertyError(
                f"size must be one number or {n} numbers (one per point), got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > MAX_POINT_SIZE):
            raise LayerPropertyError(
                f"point sizes must be finite, >= 0 and <= {MAX_POINT_SIZE:g} (what the renderer "
                f"can draw), got {size!r}"
            )
        return frozen_array(arr)

    @staticmethod
    def _single_or(value: Any, default: str) -> Any:
        try:
            return to_rgba(value)
        except LayerPropertyError:
            return default

    # data ---------------------------------------------------------------
    @property
    def data(self) -> FloatArray:
        """``(N, D)`` read-only point coordinates in data space."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        coords = self._validate_data(value, None)
        n = coords.shape[0]
        changes: dict[str, Any] = {"data": coords, "data_version": self._data_version + 1}
        if coords.shape[1] != self._ndim:
            changes["ndim"] = int(coords.shape[1])
            changes["transform"] = self._transform.with_ndim(int(coords.shape[1]))
        if n != self._data.shape[0]:
            changes["size"] = self._validate_size(self._defaults["size"], n)
            changes["face_color"] = to_rgba_array(self._defaults["face_color"], n)
            changes["edge_color"] = to_rgba_array(self._defaults["edge_color"], n)
        self._apply(changes, always=frozenset({"data"}))

    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self._data.shape[0])

    def _extent_data(self) -> FloatArray:
        if self.n_points == 0:
            return np.full((2, self.ndim), np.nan)
        return np.stack([self._data.min(axis=0), self._data.max(axis=0)])

    def _extent_data_augmented(self) -> FloatArray:
        # Every point is drawn as a disc of its size: widen by the largest radius (napari).
        radius = float(np.max(self._size)) / 2 if self.n_points else 0.0
        out: FloatArray = self._extent_data() + np.array([[-radius], [radius]])
        return out

    # per-point values ---------------------------------------------------
    @property
    def size(self) -> FloatArray:
        """``(N,)`` diameters in data units."""
        return self._size

    @size.setter
    def size(self, value: Any) -> None:
        new = self._validate_size(value, self.n_points)
        if np.ndim(value) == 0:
            self._defaults["size"] = float(value)
        self._update(size=new)

    @property
    def face_color(self) -> ColorArray:
        """``(N, 4)`` RGBA fill colours."""
        return self._face_color

    @face_color.setter
    def face_color(self, value: Any) -> None:
        self._set_colors("face_color", value)

    @property
    def edge_color(self) -> ColorArray:
        """``(N, 4)`` RGBA border colours."""
        return self._edge_color

    @edge_color.setter
    def edge_color(self, value: Any) -> None:
        self._set_colors("edge_color", value)

    def _set_colors(self, field: str, value: Any) -> None:
        """Set ``face_color`` or ``edge_color``; a single colour also becomes the default
        of points added later by replacing :attr:`data`."""
        new = to_rgba_array(value, self.n_points, field)
        self._defaults[field] = self._single_or(value, self._defaults[field])
        self._update(**{field: new})

    edge_width = LayerField(
        real_in("edge_width", 0.0),
        "Border width (fraction of the size when :attr:`edge_width_is_relative`).",
    )
    edge_width_is_relative = LayerField(
        boolean("edge_width_is_relative"),
        "Whether :attr:`edge_width` is a fraction of each point's size.",
    )
