"""Slice requests: frozen callables built on the main thread, run anywhere.

:func:`build_slice_request` reads a layer model and a
:class:`~tilescope.models.dims.DimsState` (metadata only: shapes, transforms,
levels) and returns a frozen request holding everything the slice needs: which
indices to read, how to project, and where the result sits in the world.
Calling the request (``request()``) is the only step that touches array data;
it may block for as long as the array takes, so run it in a worker (e.g. through
:class:`~tilescope.slicing.slicer.LayerSlicer`).

Coordinates: the response's data has the displayed axes in display order (plus a
trailing RGB(A) channel), and ``slice_to_world`` maps its index coordinates
(pixel centres) to world coordinates of the displayed axes, display order.  A
displayed world axis the layer lacks is a length-1 axis at world coordinate 0
(napari #3882's expected behaviour; see :mod:`tilescope.models.dims_mapping`).

The slice plane is placed with the sliced axes at the slice point
(:func:`~tilescope.models.dims_mapping.plane_to_world`): a shear or rotation that
couples a sliced axis into the displayed ones shifts the plane, where napari
drops the coupling.

Multiscale (2D and 3D) uses the tile engine's level geometry,
:mod:`tilescope.tiles.geometry`: level ``L`` pixel ``i`` sits at level-0 data
coordinate ``f * i + (f - 1) / 2`` (``f`` the downsample factor: the centre of the
pixel's footprint in a box-mean pyramid), and a sliced axis shows the level-``L``
plane that contains the level-0 plane of the slice point (``floor((i0 + 0.5) / f)``;
a thick slice reads every level-``L`` plane overlapping its level-0 window).
napari 0.9 instead puts pixel ``i`` at ``f * i`` and reads plane ``round(point / f)``,
which disagrees with the tiles (at z=3 on a 2x level napari shows coarse plane 2,
whose footprint is level-0 planes 4 and 5); see ``docs/napari-differences.md``.

A request may be called with a :class:`~tilescope.cancel.CancelToken` (checked
before the read and before projecting) and a ``compute`` function that turns what
indexing returned into an ndarray (the slicer's shared, cancellable dask pool).  What
the read returned is validated in the worker
(:func:`~tilescope.data.validate.validate_read`): the shape the request asked for and a
numeric or bool dtype, or a :class:`~tilescope.errors.ReadValidationError` naming the
layer; a bad result is a failed read, never a "ready" slice.  An Image whose default contrast limits
are still provisional asks for an estimate from the slice's values
(``ImageSliceResponse.contrast_limits_estimate``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.protocol import ArrayLike, shape_of
from tilescope.data.validate import indexed_shape, validate_read
from tilescope.data.zarr_io import fast_reads
from tilescope.errors import SliceError
from tilescope.models.dims import DimsState
from tilescope.models.dims_mapping import (
    LayerAxes,
    data_slice_point,
    layer_axes,
    plane_to_world,
)
from tilescope.models.layers._range import ContrastEstimate, limits_from_values
from tilescope.models.layers.base import Layer
from tilescope.models.layers.image import Image
from tilescope.models.layers.labels import Labels
from tilescope.models.layers.points import Points
from tilescope.models.transforms import Affine, FloatArray, Transform, frozen_array
from tilescope.slicing.projection import Window, project, window_indices
from tilescope.tiles.convert import for_texture, label_indices
from tilescope.tiles.geometry import level_pixel_to_data, plane_at_level, window_at_level

__all__ = [
    "ImageSliceRequest",
    "ImageSliceResponse",
    "PointsSliceRequest",
    "PointsSliceResponse",
    "SliceRequest",
    "SliceResponse",
    "build_slice_request",
    "request_signature",
]

_request_ids = itertools.count(1)
_EPS = 1e-9


@dataclass(frozen=True, slots=True, eq=False)
class ImageSliceResponse:
    """A slice of an Image or Labels layer.

    ``data`` is ``ndisplay``-D (plus a channel axis when ``rgb``) in display order;
    ``slice_to_world`` is the ``(ndisplay+1)^2`` homogeneous map from its index
    coordinates to world coordinates of the displayed axes.  ``empty`` marks a
    placeholder for a point outside the data: draw nothing.
    ``contrast_limits_estimate`` is ``(limits, range)`` from this slice's values
    when the request asked for it (an Image whose limits were pending); hand it to
    ``Image.apply_contrast_limits_estimate(*estimate, response.data_version)``.
    """

    data: np.ndarray = field(repr=False)
    slice_to_world: FloatArray
    level: int
    empty: bool
    request: ImageSliceRequest = field(repr=False)
    contrast_limits_estimate: ContrastEstimate | None = None
    texture: np.ndarray | None = field(default=None, repr=False)
    """``data`` made ready for a texture in the worker: strided to ``request.max_texture``,
    float32 unless uint8/uint16/float32, labels as float32 colour-table indices."""
    table: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    """Labels: the label of each colour-table index in ``texture``."""
    strides: tuple[int, ...] = ()
    """Stride per spatial axis of ``texture`` relative to ``data`` (empty: none)."""

    @property
    def layer_id(self) -> int:
        """The sliced layer's id."""
        return self.request.layer_id

    @property
    def data_version(self) -> int:
        """The layer's data version when the request was built."""
        return self.request.data_version

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this response holds, so a cache can bound what it keeps
        (``texture`` is often ``data`` or a view of it: counted once)."""
        total = int(self.data.nbytes)
        for arr in (self.texture, self.table):
            if arr is not None and not np.may_share_memory(arr, self.data):
                total += int(arr.nbytes)
        return total


@dataclass(frozen=True, slots=True, eq=False)
class ImageSliceRequest:
    """Everything needed to slice an Image or Labels layer (see the module docstring).

    Attributes
    ----------
    data
        The array of ``level`` (not the whole pyramid).
    displayed
        The layer axis at each displayed world axis (display order); ``None`` where
        the layer lacks that world axis.
    not_displayed
        Sliced layer axes, ascending.
    windows
        ``[start, stop)`` at ``level`` for each sliced axis (``None`` when ``empty``).
    region
        ``[start, stop)`` at ``level`` for each displayed layer axis, in the order of
        ``displayed`` (``None`` entries skipped).
    """

    layer_id: int
    data_version: int
    kind: Literal["image", "labels"]
    data: ArrayLike = field(repr=False)
    dtype: np.dtype[Any]
    level: int
    rgb: bool
    channels: int
    displayed: tuple[int | None, ...]
    not_displayed: tuple[int, ...]
    windows: tuple[Window, ...] | None
    region: tuple[Window, ...]
    projection_mode: str
    slice_to_world: FloatArray = field(repr=False)
    estimate_contrast: bool = False
    layer_name: str = ""
    max_texture: int = 2048
    """Largest texture side the slice is made ready for (most GPUs: 2048 for 3D textures,
    16384 for 2D; the renderer strides further on a smaller GPU)."""
    id: int = field(default_factory=lambda: next(_request_ids))

    @property
    def empty(self) -> bool:
        """True when the slice point lies outside the data (nothing to read)."""
        return self.windows is None

    @property
    def ndisplay(self) -> int:
        """Number of displayed axes."""
        return len(self.displayed)

    def index_key(self) -> tuple[int | slice, ...]:
        """The key used to index :attr:`data` (ints for ``none``-mode sliced axes)."""
        if self.windows is None:
            raise SliceError("an empty slice request reads nothing")
        ndim = len(self.displayed) - self.displayed.count(None) + len(self.not_displayed)
        key: list[int | slice] = [slice(None)] * (ndim + (1 if self.rgb else 0))
        for axis, (start, stop) in zip(self.not_displayed, self.windows, strict=True):
            key[axis] = start if self.projection_mode == "none" else slice(start, stop)
        shown = [a for a in self.displayed if a is not None]
        for axis, (start, stop) in zip(shown, self.region, strict=True):
            key[axis] = slice(start, stop)
        return tuple(key)

    def expected_shape(self) -> tuple[int, ...]:
        """The shape ``data[index_key()]`` must have (what the read is validated against)."""
        return indexed_shape(shape_of(self.data), self.index_key())

    def describe(self) -> str:
        """The read named for messages: ``layer 'cells' (level 2)``."""
        who = f"layer {self.layer_name!r}" if self.layer_name else f"layer {self.layer_id}"
        return f"{who} (level {self.level})"

    def __call__(
        self,
        token: CancelToken | None = None,
        *,
        compute: Callable[[Any], np.ndarray] = np.asarray,
    ) -> ImageSliceResponse:
        """Read and project the slice.  Blocks on the array; call off the main thread.

        ``token`` is checked before the read and before the projection; a cancelled
        token raises :class:`~tilescope.cancel.Cancelled`. ``compute`` turns the indexed
        data into an ndarray (default ``np.asarray``).
        """
        if token is not None:
            token.raise_if_cancelled()
        if self.windows is None:
            shape = (1,) * self.ndisplay + ((self.channels,) if self.rgb else ())
            return ImageSliceResponse(
                data=np.zeros(shape, dtype=self.dtype),
                slice_to_world=self.slice_to_world,
                level=self.level,
                empty=True,
                request=self,
            )
        try:
            raw = compute(self.data[self.index_key()])
        except Cancelled:
            raise
        except Exception as e:
            raise SliceError(
                f"reading the slice of {self.describe()} failed: {str(e) or type(e).__name__}"
            ) from e
        if token is not None:
            token.raise_if_cancelled()
        arr = validate_read(raw, self.expected_shape(), what=self.describe())
        shown = [a for a in self.displayed if a is not None]
        if self.projection_mode == "none":
            kept = sorted(shown)
        else:
            kept = sorted(shown + list(self.not_displayed))
            reduce_axes = tuple(kept.index(a) for a in self.not_displayed)
            arr = project(arr, reduce_axes, self.projection_mode)
            kept = sorted(shown)
        order = [kept.index(a) for a in shown]
        if self.rgb:
            order.append(len(kept))
        arr = np.transpose(arr, order)
        missing = [i for i, a in enumerate(self.displayed) if a is None]
        if missing:
            arr = np.expand_dims(arr, tuple(missing))
        estimate = limits_from_values(arr, self.dtype, True) if self.estimate_contrast else None
        # the conversions a texture needs happen here, in the worker, never in the renderer
        table = None
        if self.kind == "labels":
            strided, strides = for_texture(arr, False, self.max_texture, convert=False)
            texture, table = label_indices(strided)
        else:
            texture, strides = for_texture(arr, self.rgb, self.max_texture)
        return ImageSliceResponse(
            data=arr,
            slice_to_world=self.slice_to_world,
            level=self.level,
            empty=False,
            request=self,
            contrast_limits_estimate=estimate,
            texture=texture,
            table=table,
            strides=strides,
        )


@dataclass(frozen=True, slots=True, eq=False)
class PointsSliceResponse:
    """The in-slice points of a Points layer, in world coordinates of the displayed axes.

    ``coords`` is ``(M, ndisplay)`` (display order); ``indices`` are the rows of the
    layer data kept; ``sizes`` are diameters in world units; colours are ``(M, 4)``.
    """

    coords: FloatArray
    indices: npt.NDArray[np.int64]
    sizes: FloatArray
    face_colors: npt.NDArray[np.float32]
    edge_colors: npt.NDArray[np.float32]
    request: PointsSliceRequest = field(repr=False)

    @property
    def layer_id(self) -> int:
        """The sliced layer's id."""
        return self.request.layer_id


@dataclass(frozen=True, slots=True, eq=False)
class PointsSliceRequest:
    """Everything needed to slice a Points layer.

    A point is kept when, along every sliced axis, its coordinate lies in
    ``[point - margin_left, point + margin_right]`` (axes with a thickness), or
    within half its size of ``point`` (axes of zero thickness).
    """

    layer_id: int
    data_version: int
    data: FloatArray = field(repr=False)
    sizes: FloatArray = field(repr=False)
    face_colors: npt.NDArray[np.float32] = field(repr=False)
    edge_colors: npt.NDArray[np.float32] = field(repr=False)
    displayed: tuple[int | None, ...]
    not_displayed: tuple[int, ...]
    point: FloatArray
    low: FloatArray
    high: FloatArray
    thick: tuple[bool, ...]
    data_to_world: Affine = field(repr=False)
    size_scale: float
    id: int = field(default_factory=lambda: next(_request_ids))

    def in_slice(self) -> npt.NDArray[np.bool_]:
        """``(N,)`` mask of the points in the slice."""
        n = self.data.shape[0]
        keep = np.ones(n, dtype=bool)
        for j, axis in enumerate(self.not_displayed):
            c = self.data[:, axis]
            if self.thick[j]:
                keep &= (c >= self.low[j] - _EPS) & (c <= self.high[j] + _EPS)
            else:
                keep &= np.abs(c - self.point[j]) <= self.sizes / 2 + _EPS
        return keep

    def __call__(self, token: CancelToken | None = None) -> PointsSliceResponse:
        """Select the in-slice points and map them to world coordinates (any thread)."""
        if token is not None:
            token.raise_if_cancelled()
        idx = np.flatnonzero(self.in_slice()).astype(np.int64)
        world = (
            self.data_to_world(self.data[idx]) if idx.size else np.zeros((0, self.data.shape[1]))
        )
        coords = np.zeros((idx.size, len(self.displayed)))
        for m, axis in enumerate(self.displayed):
            if axis is not None:
                coords[:, m] = world[:, axis]
        return PointsSliceResponse(
            coords=frozen_array(coords),
            indices=frozen_array(idx, np.int64),
            sizes=frozen_array(self.sizes[idx] * self.size_scale),
            face_colors=frozen_array(self.face_colors[idx], np.float32),
            edge_colors=frozen_array(self.edge_colors[idx], np.float32),
            request=self,
        )


SliceRequest = ImageSliceRequest | PointsSliceRequest
SliceResponse = ImageSliceResponse | PointsSliceResponse


def build_slice_request(layer: Layer, dims: DimsState) -> SliceRequest:
    """Build the slice request of ``layer`` for the world state ``dims``.

    Reads only metadata (no array values); cheap enough for the main thread.
    """
    if isinstance(layer, Points):
        return _points_request(layer, dims)
    if isinstance(layer, Image | Labels):
        return _image_request(layer, dims)
    raise TypeError(f"cannot slice a {type(layer).__name__} layer")


def _choose_level(
    layer: Image | Labels, axes: LayerAxes, shapes: npt.NDArray[np.int64]
) -> tuple[int, list[Window]]:
    """Level and displayed-axis region (napari: corner pixels in 2D, coarsest in 3D).

    ``shapes`` are the layer's ``level_shapes``.
    """
    shown = list(axes.displayed_layer)
    locked = layer.locked_data_level
    if not layer.multiscale:
        return 0, [(0, int(shapes[0, a])) for a in shown]
    coarsest = shapes.shape[0] - 1
    if len(axes.displayed) == 3 or layer.view_axes != tuple(shown):
        # 3D (napari: coarsest level in full), or the view was never set for these
        # axes: a whole level (the coarsest unless locked) is always valid.
        level = coarsest if locked is None else locked
        return level, [(0, int(shapes[level, a])) for a in shown]
    level = layer.data_level
    corners = layer.corner_pixels
    region = []
    for a in shown:
        n = int(shapes[level, a])
        start = int(np.clip(corners[0, a], 0, n - 1))
        stop = int(np.clip(corners[1, a], start, n - 1)) + 1
        region.append((start, stop))
    return level, region


def _image_request(layer: Image | Labels, dims: DimsState) -> ImageSliceRequest:
    axes = layer_axes(dims, layer.ndim)
    mode = layer.projection_mode if isinstance(layer, Image) else "none"
    shapes = layer.level_shapes
    level, region = _choose_level(layer, axes, shapes)
    factors = layer.downsample_factors
    point, ml, mr = data_slice_point(layer.transform, dims, axes)
    windows: tuple[Window, ...] | None = None
    # Emptiness is decided at level 0 (napari); the level-0 window (or plane) is then
    # mapped to `level` by the shared level geometry.
    level0 = [
        window_indices(p, lo, hi, int(shapes[0, a]), mode)
        for a, p, lo, hi in zip(axes.not_displayed, point, ml, mr, strict=True)
    ]
    found = [w for w in level0 if w is not None]
    if len(found) == len(level0):
        at_level: list[Window] = []
        for a, w0 in zip(axes.not_displayed, found, strict=True):
            n0, n = int(shapes[0, a]), int(shapes[level, a])
            if mode == "none":
                k = plane_at_level(w0[0], n0, n)
                at_level.append((k, k + 1))
            else:
                at_level.append(window_at_level(w0, n0, n))
        windows = tuple(at_level)
    data = fast_reads(layer.level_data(level))  # a caller's zarr array: read chunk by chunk
    rgb = bool(getattr(layer, "rgb", False))
    channels = shape_of(data)[-1] if rgb else 0
    return ImageSliceRequest(
        layer_id=layer.layer_id,
        data_version=layer.data_version,
        kind="image" if isinstance(layer, Image) else "labels",
        data=data,
        dtype=np.dtype(layer.dtype),
        level=level,
        rgb=rgb,
        channels=channels,
        displayed=axes.displayed,
        not_displayed=axes.not_displayed,
        windows=windows,
        region=tuple(region),
        projection_mode=mode,
        slice_to_world=_slice_to_world(layer.transform, axes, point, factors[level], region),
        estimate_contrast=isinstance(layer, Image) and layer.contrast_limits_pending,
        layer_name=layer.name,
        max_texture=2048 if len(axes.displayed) == 3 else 16384,
    )


def _slice_to_world(
    transform: Transform,
    axes: LayerAxes,
    point: FloatArray,
    level_factors: FloatArray,
    region: list[Window],
) -> FloatArray:
    """``(k+1)^2`` map: slice index (display order) -> world coords of the displayed axes.

    ``level_factors`` are the downsample factors of the sliced level, per layer axis;
    region pixel ``j`` is level pixel ``start + j``, placed by
    :func:`~tilescope.tiles.geometry.level_pixel_to_data`.
    """
    k = len(axes.displayed)
    shown = axes.displayed_layer
    s = len(shown)
    # slice index of the layer's own displayed axes -> level-0 data coordinates
    idx_to_data = np.eye(s + 1)
    for i, (a, (start, _)) in enumerate(zip(shown, region, strict=True)):
        scale, offset = level_pixel_to_data(float(level_factors[a]))
        idx_to_data[i, i] = scale
        idx_to_data[i, s] = start * scale + offset
    m = plane_to_world(transform, axes, point) @ idx_to_data
    # display positions the layer lacks are length-1 axes at world coordinate 0
    present = [i for i, a in enumerate(axes.displayed) if a is not None]
    out = np.eye(k + 1)
    for r_i, r in enumerate(present):
        out[r, k] = m[r_i, s]
        for c_i, c in enumerate(present):
            out[r, c] = m[r_i, c_i]
    return frozen_array(out)


def _points_request(layer: Points, dims: DimsState) -> PointsSliceRequest:
    axes = layer_axes(dims, layer.ndim)
    point, ml, mr = data_slice_point(layer.transform, dims, axes)
    a, b = point - ml, point + mr
    low, high = np.minimum(a, b), np.maximum(a, b)
    thick = tuple(bool(h - lo > _EPS) for lo, h in zip(low, high, strict=True))
    step = layer.transform.step
    shown = list(axes.displayed_layer)
    size_scale = float(np.mean(step[shown])) if shown else 1.0
    return PointsSliceRequest(
        layer_id=layer.layer_id,
        data_version=layer.data_version,
        data=layer.data,
        sizes=layer.size,
        face_colors=layer.face_color,
        edge_colors=layer.edge_color,
        displayed=axes.displayed,
        not_displayed=axes.not_displayed,
        point=frozen_array(point),
        low=frozen_array(low),
        high=frozen_array(high),
        thick=thick,
        data_to_world=layer.transform.data_to_world,
        size_scale=size_scale,
    )


def request_signature(req: SliceRequest) -> tuple[Any, ...]:
    """What makes two requests read the same slice: equal signatures, same result.

    Cheap (metadata only, arrays by identity): the viewer compares it on every change to
    resubmit only the layers whose slice really changed.
    """
    if isinstance(req, ImageSliceRequest):
        return (
            "image",
            id(req.data),
            req.data_version,
            req.level,
            req.windows,
            req.region,
            req.projection_mode,
            req.displayed,
            req.not_displayed,
            req.rgb,
            req.slice_to_world.tobytes(),
        )
    return (
        "points",
        id(req.data),
        req.data_version,
        id(req.sizes),
        id(req.face_colors),
        id(req.edge_colors),
        req.displayed,
        req.not_displayed,
        req.point.tobytes(),
        req.low.tobytes(),
        req.high.tobytes(),
        req.thick,
        req.size_scale,
    )
