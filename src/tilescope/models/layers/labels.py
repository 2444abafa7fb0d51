"""The Labels layer model: an integer array (or pyramid) of segment ids.

Label 0 is the background and always transparent.  Every other label gets the
colour in :attr:`Labels.color` when listed there, else a deterministic
pseudo-random colour (:func:`~tilescope.models.layers.colors.default_label_colors`)
that depends only on the label and :attr:`Labels.seed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Unpack

import numpy as np
import numpy.typing as npt
from psygnal import Signal

from tilescope.data.protocol import ArrayLike, MultiScaleData, as_layer_data, shape_of
from tilescope.errors import LayerDataError, LayerPropertyError
from tilescope.models.layers._fields import real_in
from tilescope.models.layers._scalar import ScalarFieldEvents, ScalarFieldLayer
from tilescope.models.layers.base import LayerEvents, LayerOptions
from tilescope.models.layers.colors import RGBA, default_label_colors, to_rgba

__all__ = ["BACKGROUND_LABEL", "Labels", "LabelsEvents"]

BACKGROUND_LABEL = 0
_TRANSPARENT: RGBA = (0.0, 0.0, 0.0, 0.0)
_validate_seed = real_in("seed", 0.0, 1.0, high_open=True)


class LabelsEvents(ScalarFieldEvents):
    """Labels signals (each carries the new value)."""

    color = Signal(object)
    seed = Signal(float)


class Labels(ScalarFieldLayer):
    """A labels layer.

    Parameters
    ----------
    data
        An integer (or bool) array of at least 2 dimensions, or a pyramid of them.
    color
        ``{label: colour}`` overrides; colours are anything :func:`to_rgba` accepts.
    seed
        Seed in [0, 1) of the default colours.
    **options
        The options every layer takes (:class:`~tilescope.models.layers.base.LayerOptions`);
        ``opacity`` defaults to 0.7 (napari).
    """

    _events_class: ClassVar[type[LayerEvents]] = LabelsEvents
    _default_name: ClassVar[str] = "Labels"
    events: LabelsEvents

    def __init__(
        self,
        data: Any,
        *,
        multiscale: bool | None = None,
        color: Mapping[int, Any] | None = None,
        seed: float = 0.5,
        **options: Unpack[LayerOptions],
    ) -> None:
        self._init_data(self._prepare_labels(data, multiscale))
        self._color = self._validate_color(color)
        self._seed = _validate_seed(seed)
        self._color_version = 0
        options.setdefault("opacity", 0.7)
        super().__init__(**options)

    @staticmethod
    def _prepare_labels(data: Any, multiscale: bool | None) -> ArrayLike | MultiScaleData:
        prepared = as_layer_data(data, multiscale)
        dtype = np.dtype(prepared.dtype)
        if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            raise LayerDataError(
                f"Labels data must be integers, got dtype {dtype}; convert label images with "
                "data.astype(numpy.int32) (or use an Image layer for intensities)"
            )
        shape = shape_of(prepared)
        if len(shape) < 2:
            raise LayerDataError(f"Labels data must have at least 2 dimensions, got shape {shape}")
        if any(n == 0 for n in shape):
            raise LayerDataError(f"Labels data is empty (shape {shape})")
        return prepared

    @staticmethod
    def _validate_color(color: Any) -> dict[int, RGBA]:
        if color is None:
            return {}
        if not isinstance(color, Mapping):
            raise LayerPropertyError(
                f"color must be a mapping {{label: colour}}, got {type(color).__name__}"
            )
        out: dict[int, RGBA] = {}
        for key, value in color.items():
            if isinstance(key, bool) or not isinstance(key, int | np.integer):
                raise LayerPropertyError(f"color keys must be integer labels, got {key!r}")
            out[int(key)] = to_rgba(value, f"color of label {key}")
        return out

    # data ---------------------------------------------------------------
    def set_data(self, data: Any, multiscale: bool | None = None) -> None:
        """Replace the data (validated first; on error nothing changes)."""
        prepared = self._prepare_labels(data, multiscale)
        self._apply(self._data_changes(prepared, 0), always=frozenset({"data"}))

    # colours ------------------------------------------------------------
    @property
    def background_label(self) -> int:
        """The transparent label (0)."""
        return BACKGROUND_LABEL

    @property
    def color(self) -> dict[int, RGBA]:
        """Explicit ``{label: RGBA}`` colours (a copy)."""
        return dict(self._color)

    @color.setter
    def color(self, value: Mapping[int, Any] | None) -> None:
        self._update_colors("color", self._validate_color(value))

    @property
    def seed(self) -> float:
        """Seed of the default colours."""
        return self._seed

    @seed.setter
    def seed(self, value: float) -> None:
        self._update_colors("seed", _validate_seed(value))

    def _update_colors(self, field: str, value: Any) -> None:
        """Set a validated ``color`` or ``seed``, bumping :attr:`color_version` with it."""
        if value != getattr(self, "_" + field):
            self._update(**{field: value, "color_version": self._color_version + 1})

    @property
    def color_version(self) -> int:
        """Bumped whenever any label's colour changes (color or seed)."""
        return self._color_version

    def get_color(self, label: int) -> RGBA:
        """The RGBA colour of one label (background transparent)."""
        if label == BACKGROUND_LABEL:
            return _TRANSPARENT
        if label in self._color:
            return self._color[label]
        r, g, b, a = (float(v) for v in default_label_colors([label], self._seed)[0])
        return (r, g, b, a)

    def default_colors(self, labels: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Vectorised default colours ``(K,) -> (K, 4)`` for this layer's seed."""
        return default_label_colors(labels, self._seed)

    def get_colors(self, labels: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Colours of any integer array: ``labels.shape + (4,)`` float32 RGBA."""
        lab = np.asarray(labels).astype(np.int64)
        flat = lab.ravel()
        out = default_label_colors(flat, self._seed)
        for key, rgba in self._color.items():
            out[flat == key] = rgba
        out[flat == BACKGROUND_LABEL] = _TRANSPARENT
        return out.reshape((*lab.shape, 4))
