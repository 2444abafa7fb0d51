"""The Image layer model: an n-D array (or pyramid) shown through a colormap.

napari's vocabulary (``contrast_limits``, ``colormap``, ``gamma``, ``rgb``,
``multiscale``, ``projection_mode``, ``rendering``, ``data_level``, ...) with one
difference: default contrast limits come from real values of any array type,
cheaply (see :mod:`tilescope.models.layers._range`), where napari gives
``(0, 1)`` for float dask/zarr data.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Unpack

import numpy as np
from psygnal import Signal

from tilescope.data.protocol import ArrayLike, MultiScaleData, as_layer_data, shape_of
from tilescope.errors import LayerDataError, LayerPropertyError
from tilescope.models.layers._fields import LayerField, one_of, real_in
from tilescope.models.layers._range import (
    estimate_contrast_limits,
    is_in_memory,
    provisional_contrast_limits,
)
from tilescope.models.layers._scalar import ScalarFieldEvents, ScalarFieldLayer
from tilescope.models.layers.base import LayerEvents, LayerOptions
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
    **options
        The options every layer takes (:class:`~tilescope.models.layers.base.LayerOptions`:
        name, visible, opacity, blending, metadata and the transform).
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
        **options: Unpack[LayerOptions],
    ) -> None:
        prepared, is_rgb = self._prepare_image(data, multiscale, rgb)
        self._rgb = is_rgb
        self._rgb_auto = rgb is None
        self._channel_axes = 1 if is_rgb else 0
        self._init_data(prepared)
        self._init_fields(
            colormap=colormap,
            gamma=gamma,
            interpolation=interpolation,
            rendering=rendering,
            projection_mode=projection_mode,
        )
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
        self._init_fields(
            iso_threshold=sum(self._contrast_limits) / 2 if iso_threshold is None else iso_threshold
        )
        super().__init__(**options)

    @staticmethod
    def _auto_contrast(
        data: ArrayLike | MultiScaleData, rgb: bool
    ) -> tuple[tuple[tuple[float, float], tuple[float, float]], bool]:
        """Default ``(limits, range)`` and whether they still await an estimate."""
        if is_in_memory(data):
            return estimate_contrast_limits(data, rgb=rgb), False
        provisional, final = provisional_contrast_limits(np.dtype(data.dtype))
        return (provisional, provisional), not final

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

    # data ---------------------------------------------------------------
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

    colormap = LayerField(coerce_colormap, "A :class:`cmap.Colormap` (ignored for RGB images).")
    gamma = LayerField(real_in("gamma", 0.0, low_open=True), "Gamma correction exponent (> 0).")
    interpolation = LayerField(
        one_of("interpolation", INTERPOLATIONS, _INTERPOLATION_ALIASES),
        "2D interpolation kernel (vispy's names; napari's ``cubic`` means ``bicubic``).",
    )
    rendering = LayerField(
        one_of("rendering", RENDERINGS),
        "3D rendering mode: mip, translucent, iso, minip, attenuated_mip or average.",
    )
    iso_threshold = LayerField(real_in("iso_threshold"), "Threshold of the ``iso`` rendering mode.")
    projection_mode = LayerField(
        one_of("projection_mode", IMAGE_PROJECTION_MODES),
        "How a thick slice is projected: none, sum, mean, max or min.",
    )
