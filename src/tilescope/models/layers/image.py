"""The Image layer model: an n-D array (or pyramid) shown through a colormap.

napari's vocabulary (``contrast_limits``, ``colormap``, ``gamma``, ``rgb``,
``multiscale``, ``projection_mode``, ``rendering``, ``data_level``, ...) with one
difference: default contrast limits come from real values of any array type,
cheaply (see :mod:`tilescope.models.layers._range`), where napari gives
``(0, 1)`` for float dask/zarr data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from cmap import Colormap
from psygnal import Signal

from tilescope.data.protocol import ArrayLike, MultiScaleData, as_layer_data, shape_of
from tilescope.errors import LayerDataError, LayerPropertyError
from tilescope.models.layers._range import (
    estimate_contrast_limits,
    is_in_memory,
    provisional_contrast_limits,
)
from tilescope.models.layers._scalar import ScalarFieldEvents, ScalarFieldLayer
from tilescope.models.layers.base import LayerEvents
from tilescope.models.layers.colors import coerce_colormap

__all__ = [
    "IMAGE_PROJECTION_MODES",
    "INTERPOLATIONS",
    "RENDERINGS",
    "Image",
    "ImageEvents",
    "guess_rgb",
]

IMAGE_PROJECTION_MODES: frozenset[str] = frozenset({"none", "sum", "mean", "max", "min"})
RENDERINGS: frozenset[str] = frozenset(
    {"mip", "translucent", "iso", "minip", "attenuated_mip", "average"}
)
#: 2D interpolation kernels (vispy's names, as in the render plan); napari's ``cubic``
#: is accepted as an alias of ``bicubic``.
INTERPOLATIONS: frozenset[str] = frozenset(
    {
        "nearest",
        "linear",
        "bicubic",
        "bessel",
        "blackman",
        "catrom",
        "gaussian",
        "hamming",
        "hanning",
        "hermite",
        "kaiser",
        "lanczos",
        "mitchell",
        "spline16",
        "spline36",
    }
)
_INTERPOLATION_ALIASES = {"cubic": "bicubic"}


class ImageEvents(ScalarFieldEvents):
    """Image signals (each carries the new value)."""

    contrast_limits = Signal(object)
    contrast_limits_range = Signal(object)
    contrast_limits_pending = Signal(bool)
    colormap = Signal(object)
    gamma = Signal(float)
    interpolation = Signal(str)
    rendering = Signal(str)
    iso_threshold = Signal(float)
    projection_mode = Signal(str)


def guess_rgb(shape: tuple[int, ...], min_side_len: int = 30) -> bool:
    """napari's guess: 3+ axes, last of length 3 or 4, the two before it longer than 30."""
    return len(shape) > 2 and shape[-1] in (3, 4) and all(d > min_side_len for d in shape[-3:-1])


def _limits(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as e:
        raise LayerPropertyError(f"{name} must be two numbers (min, max), got {value!r}") from e
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise LayerPropertyError(f"{name} must be finite, got {value!r}")
    if lo >= hi:
        raise LayerPropertyError(f"{name} must have min < max, got {value!r}")
    return (lo, hi)


class Image(ScalarFieldLayer):
    """An image layer.

    Parameters
    ----------
    data
        An array (numpy, dask, zarr, ...) of at least 2 layer dimensions, or a list
        of arrays (a pyramid, finest first).
    multiscale
        ``None`` guesses (a list of decreasing sizes is a pyramid).
    rgb
        ``None`` guesses (last axis of length 3/4 after two axes longer than 30).
    contrast_limits
        ``(min, max)``; ``None`` estimates them from data values: at once (bounded
        sample) for in-memory numpy data, else from the first slice read in a worker
        (until then they are provisional: see :attr:`contrast_limits_pending`).
    colormap
        Anything :class:`cmap.Colormap` accepts (``'gray'``, ``'viridis'``, ...).
    gamma, interpolation, rendering, iso_threshold, projection_mode
        Display settings (napari's meanings).
    """

    _events_class: ClassVar[type[LayerEvents]] = ImageEvents
    _default_name: ClassVar[str] = "Image"
    events: ImageEvents

    def __init__(
        self,
        data: Any,
        *,
        multiscale: bool | None = None,
        rgb: bool | None = None,
        contrast_limits: Any = None,
        colormap: Any = "gray",
        gamma: float = 1.0,
        interpolation: str = "nearest",
        rendering: str = "mip",
        iso_threshold: float | None = None,
        projection_mode: str = "none",
        name: str | None = None,
        visible: bool = True,
        opacity: float = 1.0,
        blending: str = "translucent",
        metadata: Mapping[str, Any] | None = None,
        scale: Any = None,
        translate: Any = None,
        rotate: Any = None,
        shear: Any = None,
        affine: Any = None,
    ) -> None:
        prepared, is_rgb = self._prepare_image(data, multiscale, rgb)
        self._rgb = is_rgb
        self._rgb_auto = rgb is None
        self._channel_axes = 1 if is_rgb else 0
        self._init_data(prepared)
        self._colormap = coerce_colormap(colormap)
        self._gamma = self._validate_gamma(gamma)
        self._interpolation = self._validate_interpolation(interpolation)
        self._rendering = self._validate_rendering(rendering)
        self._projection_mode = self._validate_projection_mode(projection_mode)
        if contrast_limits is None:
            self._clims_auto = True
            (self._contrast_limits, self._contrast_limits_range), self._contrast_limits_pending = (
                self._auto_contrast(prepared, is_rgb)
            )
        else:
            self._clims_auto = False
            self._contrast_limits_pending = False
            self._contrast_limits = _limits(contrast_limits, "contrast_limits")
            self._contrast_limits_range = self._contrast_limits
        self._iso_threshold = (
            sum(self._contrast_limits) / 2
            if iso_threshold is None
            else self._validate_iso(iso_threshold)
        )
        super().__init__(
            name=name,
            visible=visible,
            opacity=opacity,
            blending=blending,
            metadata=metadata,
            scale=scale,
            translate=translate,
            rotate=rotate,
            shear=shear,
            affine=affine,
        )

    @staticmethod
    def _auto_contrast(
        data: ArrayLike | MultiScaleData, rgb: bool
    ) -> tuple[tuple[tuple[float, float], tuple[float, float]], bool]:
        """Default ``(limits, range)`` and whether they still await an estimate."""
        provisional, final = provisional_contrast_limits(np.dtype(data.dtype))
        if final:
            return (provisional, provisional), False
        if is_in_memory(data):
            return estimate_contrast_limits(data, rgb=rgb), False
        return (provisional, provisional), True

    # validation ---------------------------------------------------------
    @staticmethod
    def _prepare_image(
        data: Any, multiscale: bool | None, rgb: bool | None
    ) -> tuple[ArrayLike | MultiScaleData, bool]:
        prepared = as_layer_data(data, multiscale)
        shape = shape_of(prepared)
        dtype = np.dtype(prepared.dtype)
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_) or np.issubdtype(
            dtype, np.complexfloating
        ):
            raise LayerDataError(
                f"Image data must be real numbers, got dtype {dtype}; convert it first "
                "(e.g. numpy.abs for complex data)"
            )
        if rgb is None:
            is_rgb = guess_rgb(shape)
        else:
            if not isinstance(rgb, bool | np.bool_):
                raise LayerPropertyError(f"rgb must be True, False or None, got {rgb!r}")
            is_rgb = bool(rgb)
            if is_rgb and (len(shape) < 3 or shape[-1] not in (3, 4)):
                raise LayerDataError(
                    f"rgb=True needs data whose last axis has 3 or 4 channels, got shape {shape}"
                )
        spatial = len(shape) - (1 if is_rgb else 0)
        if spatial < 2:
            raise LayerDataError(
                f"Image data must have at least 2 dimensions"
                f"{' besides the RGB channel' if is_rgb else ''}, got shape {shape}; "
                "for 1-D data add an axis (data[np.newaxis])"
            )
        if any(n == 0 for n in shape):
            raise LayerDataError(f"Image data is empty (shape {shape})")
        return prepared, is_rgb

    @staticmethod
    def _validate_gamma(gamma: Any) -> float:
        try:
            value = float(gamma)
        except (TypeError, ValueError) as e:
            raise LayerPropertyError(f"gamma must be a positive number, got {gamma!r}") from e
        if not (math.isfinite(value) and value > 0):
            raise LayerPropertyError(f"gamma must be a finite number > 0, got {gamma!r}")
        return value

    @staticmethod
    def _validate_interpolation(value: Any) -> str:
        value = _INTERPOLATION_ALIASES.get(value, value)
        if value not in INTERPOLATIONS:
            raise LayerPropertyError(
                f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {value!r}"
            )
        return str(value)

    @staticmethod
    def _validate_rendering(value: Any) -> str:
        if value not in RENDERINGS:
            raise LayerPropertyError(
                f"rendering must be one of {sorted(RENDERINGS)}, got {value!r}"
            )
        return str(value)

    @staticmethod
    def _validate_projection_mode(value: Any) -> str:
        if value not in IMAGE_PROJECTION_MODES:
            raise LayerPropertyError(
                f"projection_mode must be one of {sorted(IMAGE_PROJECTION_MODES)}, got {value!r}"
            )
        return str(value)

    @staticmethod
    def _validate_iso(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError) as e:
            raise LayerPropertyError(f"iso_threshold must be a number, got {value!r}") from e
        if not math.isfinite(v):
            raise LayerPropertyError(f"iso_threshold must be finite, got {value!r}")
        return v

    # data ---------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The image data (array or :class:`MultiScaleData`); assigning replaces it."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self.set_data(value)

    def set_data(self, data: Any, multiscale: bool | None = None, rgb: bool | None = None) -> None:
        """Replace the data (validated first; on error nothing changes).

        ``rgb=None`` keeps an explicit earlier choice when still possible, else guesses.
        Automatic contrast limits are re-estimated; limits set by the user are kept.
        """
        if rgb is None and not self._rgb_auto:
            shape = shape_of(as_layer_data(data, multiscale))
            rgb = self._rgb and len(shape) >= 3 and shape[-1] in (3, 4)
        prepared, is_rgb = self._prepare_image(data, multiscale, rgb)
        changes = self._data_changes(prepared, 1 if is_rgb else 0)
        changes["rgb"] = is_rgb
        if self._clims_auto:
            (lim, rng), pending = self._auto_contrast(prepared, is_rgb)
            changes["contrast_limits"], changes["contrast_limits_range"] = lim, rng
            changes["contrast_limits_pending"] = pending
        self._apply(changes, always=frozenset({"data"}))

    @property
    def rgb(self) -> bool:
        """True when the last data axis holds RGB(A) channels."""
        return self._rgb

    # display settings ---------------------------------------------------
    @property
    def contrast_limits(self) -> tuple[float, float]:
        """``(min, max)`` data values mapped to the ends of the colormap."""
        return self._contrast_limits

    @contrast_limits.setter
    def contrast_limits(self, value: Any) -> None:
        lim = _limits(value, "contrast_limits")
        lo_r, hi_r = self._contrast_limits_range
        rng = (min(lo_r, lim[0]), max(hi_r, lim[1]))
        self._clims_auto = False
        self._update(contrast_limits=lim, contrast_limits_range=rng, contrast_limits_pending=False)

    @property
    def contrast_limits_pending(self) -> bool:
        """True while the default contrast limits are provisional (lazy data, no slice yet).

        Cleared by the first :meth:`apply_contrast_limits_estimate` (normally from the
        first slice, read in a worker), by setting :attr:`contrast_limits`, or by
        :meth:`reset_contrast_limits`.
        """
        return self._contrast_limits_pending

    def apply_contrast_limits_estimate(
        self,
        contrast_limits: tuple[float, float],
        contrast_limits_range: tuple[float, float],
        data_version: int,
    ) -> bool:
        """Adopt limits estimated from real values, if they are still wanted.

        Applied only while :attr:`contrast_limits_pending` and for the current
        ``data_version`` (a stale estimate for replaced data is ignored).  Returns
        whether the estimate was applied.  Invalid limits raise
        :class:`LayerPropertyError` and change nothing.
        """
        lim = _limits(contrast_limits, "contrast_limits")
        rng = _limits(contrast_limits_range, "contrast_limits_range")
        if not self._contrast_limits_pending or data_version != self._data_version:
            return False
        rng = (min(rng[0], lim[0]), max(rng[1], lim[1]))
        self._update(contrast_limits=lim, contrast_limits_range=rng, contrast_limits_pending=False)
        return True

    @property
    def contrast_limits_range(self) -> tuple[float, float]:
        """The range a contrast-limits slider spans (widened to include the limits)."""
        return self._contrast_limits_range

    @contrast_limits_range.setter
    def contrast_limits_range(self, value: Any) -> None:
        rng = _limits(value, "contrast_limits_range")
        lo, hi = self._contrast_limits
        clipped = (min(max(lo, rng[0]), rng[1]), min(max(hi, rng[0]), rng[1]))
        lim = clipped if clipped[0] < clipped[1] else rng
        self._update(contrast_limits_range=rng, contrast_limits=lim)

    def reset_contrast_limits(self) -> None:
        """Estimate contrast limits (and range) from the data now, reading a bounded sample.

        This reads the array on the calling thread (at most
        :data:`~tilescope.models.layers._range.MAX_SAMPLE` elements) even for lazy data.
        """
        lim, rng = estimate_contrast_limits(self._data, rgb=self._rgb)
        self._clims_auto = True
        self._update(contrast_limits=lim, contrast_limits_range=rng, contrast_limits_pending=False)

    @property
    def colormap(self) -> Colormap:
        """A :class:`cmap.Colormap` (ignored for RGB images)."""
        return self._colormap

    @colormap.setter
    def colormap(self, value: Any) -> None:
        self._update(colormap=coerce_colormap(value))

    @property
    def gamma(self) -> float:
        """Gamma correction exponent (> 0)."""
        return self._gamma

    @gamma.setter
    def gamma(self, value: float) -> None:
        self._update(gamma=self._validate_gamma(value))

    @property
    def interpolation(self) -> str:
        """2D interpolation kernel (vispy/napari names)."""
        return self._interpolation

    @interpolation.setter
    def interpolation(self, value: str) -> None:
        self._update(interpolation=self._validate_interpolation(value))

    @property
    def rendering(self) -> str:
        """3D rendering mode: mip, translucent, iso, minip, attenuated_mip or average."""
        return self._rendering

    @rendering.setter
    def rendering(self, value: str) -> None:
        self._update(rendering=self._validate_rendering(value))

    @property
    def iso_threshold(self) -> float:
        """Threshold of the ``iso`` rendering mode."""
        return self._iso_threshold

    @iso_threshold.setter
    def iso_threshold(self, value: float) -> None:
        self._update(iso_threshold=self._validate_iso(value))

    @property
    def projection_mode(self) -> str:
        """How a thick slice is projected: none, sum, mean, max or min."""
        return self._projection_mode

    @projection_mode.setter
    def projection_mode(self, value: str) -> None:
        self._update(projection_mode=self._validate_projection_mode(value))
