"""A backend-free description of one frame: what to draw, where, and how.

A :class:`RenderPlan` is a frozen value built on the main thread from the
viewer's models (camera, dims, layers and their latest slices). A render
backend (:class:`~tilescope.render.base.RenderBackend`) compares each new plan
with the previous one and applies only the difference: display settings
(contrast limits, colormap, gamma, opacity, blending, order, visibility) never
re-upload texture data; only a new slice array (``data is not previous.data``)
or a new ``data_version`` does.

Coordinate convention (napari's): everything is in *display order*. In 2D,
display axis 0 is vertical (rows, pointing down on screen) and display axis 1
horizontal (columns, pointing right). In 3D the display axes are
(plane, row, column). Backends translate to their own conventions (vispy's
x/y/z are the reverse of display order) internally.

This module imports no GPU or GUI library.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt
from cmap import Colormap

from tilescope.models.layers.image import INTERPOLATIONS as IMAGE_INTERPOLATIONS

__all__ = [
    "INTERPOLATIONS",
    "RGBA",
    "Blending",
    "CameraView",
    "Draw",
    "ImageDraw",
    "LabelColormap",
    "LabelsDraw",
    "PointsDraw",
    "RenderPlan",
    "Rendering",
    "TEXEL_SCALE",
    "TILE_FAILED",
    "TILE_FINAL",
    "TILE_PLACEHOLDER",
    "TexelName",
    "TilePage",
    "TileQuad",
    "TileUpload",
    "TiledDraw",
]

Blending: TypeAlias = Literal["translucent", "additive", "opaque", "minimum"]
"""How a layer's pixels combine with what is below them (napari's modes)."""

Rendering: TypeAlias = Literal["mip", "translucent", "iso", "minip", "average", "attenuated_mip"]
"""How a 3D image volume is projected onto the screen."""

RGBA: TypeAlias = tuple[float, float, float, float]
"""A colour, four floats in [0, 1]."""

INTERPOLATIONS: frozenset[str] = IMAGE_INTERPOLATIONS | {"cubic", "quadric", "sinc"}
"""Interpolation kernels an image may use: the image layer's (napari's names) and vispy's
own names (``cubic`` is napari's ``bicubic``)."""

_BLENDINGS: frozenset[str] = frozenset(get_args(Blending))
_RENDERINGS: frozenset[str] = frozenset(get_args(Rendering))


def _check_common(kind: str, key: int, opacity: float, blending: str) -> None:
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"{kind} {key}: opacity must be in [0, 1], got {opacity!r}")
    if blending not in _BLENDINGS:
        raise ValueError(
            f"{kind} {key}: blending must be one of {sorted(_BLENDINGS)}, got {blending!r}"
        )


def _check_display(
    kind: str, key: int, contrast_limits: tuple[float, float], gamma: float
) -> tuple[float, float]:
    """Validated contrast limits (as floats) and gamma of an image-like draw."""
    lo, hi = (float(v) for v in contrast_limits)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(
            f"{kind} {key}: contrast_limits must be finite with min <= max, got {contrast_limits!r}"
        )
    if not gamma > 0:
        raise ValueError(f"{kind} {key}: gamma must be > 0, got {gamma!r}")
    return (lo, hi)


#: Transforms that passed :func:`_as_transform` (read-only, so they stay valid), by id.
_CHECKED: weakref.WeakValueDictionary[int, npt.NDArray[np.float64]] = weakref.WeakValueDictionary()


def checked_transform(
    matrix: npt.ArrayLike, ndisplay: int, kind: str, key: int
) -> npt.NDArray[np.float64]:
    """``matrix`` as a read-only ``(ndisplay + 1)²`` homogeneous float64 matrix, or a
    ``ValueError`` naming the layer. Passing the result again costs nothing: a frame reuses
    its layer's checked transform while the view moves."""
    return _as_transform(matrix, ndisplay, kind, key)


def _as_transform(
    matrix: npt.ArrayLike, ndisplay: int, kind: str, key: int
) -> npt.NDArray[np.float64]:
    n = ndisplay + 1
    if (
        isinstance(matrix, np.ndarray)
        and _CHECKED.get(id(matrix)) is matrix
        and matrix.shape == (n, n)
    ):
        return matrix
    m = np.array(matrix, dtype=np.float64)
    if m.shape != (n, n):
        raise ValueError(
            f"{kind} {key}: transform must be a {n}x{n} homogeneous matrix for "
            f"{ndisplay} displayed axes, got shape {m.shape}"
        )
    # plain comparisons: np.allclose costs more than the rest of a small check together
    last = m[-1]
    if float(np.abs(last[:-1]).max(initial=0.0)) > 1e-8 or abs(float(last[-1]) - 1.0) > 1e-8 + 1e-5:
        raise ValueError(f"{kind} {key}: the transform's last row must be (0, ..., 0, 1)")
    if not np.isfinite(m).all() or abs(_det(m[:-1, :-1])) < 1e-12:
        raise ValueError(f"{kind} {key}: the transform must be finite and invertible")
    m.setflags(write=False)
    _CHECKED[id(m)] = m
    return m


def _det(a: npt.NDArray[np.float64]) -> float:
    """Determinant (closed form in 2D, the common case)."""
    if a.shape == (2, 2):
        return float(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0])
    return float(np.linalg.det(a))


@dataclass(frozen=True, slots=True)
class CameraView:
    """Camera values for one frame (the render-side copy of the camera model's state).

    ``center`` is in world coordinates of the displayed axes, display order
    (length 2 in 2D, 3 in 3D). ``zoom`` is screen pixels per world unit.
    ``angles`` are napari's Euler angles in degrees (3D only): with
    ``(0, 0, 0)`` the camera looks along display axis 0 with rows pointing down
    and columns right. ``perspective`` is the field of view in degrees
    (0 = orthographic, 3D only).
    """

    center: tuple[float, ...]
    zoom: float
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0)
    perspective: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.zoom) and self.zoom > 0):
            raise ValueError(f"camera zoom must be a positive finite number, got {self.zoom!r}")
        if len(self.center) not in (2, 3):
            raise ValueError(f"camera center must have 2 or 3 values, got {self.center!r}")
        if not 0.0 <= self.perspective < 180.0:
            raise ValueError(f"camera perspective must be in [0, 180), got {self.perspective!r}")


@dataclass(frozen=True, slots=True, eq=False)
class ImageDraw:
    """One image layer's slice and display settings.

    ``data`` is the slice in display order: 2D ``(rows, cols)``, a 3D volume
    ``(planes, rows, cols)``, or either with a trailing RGB(A) channel when
    ``rgb``. ``transform`` maps slice-array index coordinates (pixel centres,
    display order) to world coordinates of the displayed axes (display order).
    The backend re-uploads the texture only when ``data`` is a different object
    or ``data_version`` changed.
    """

    key: int
    data: np.ndarray
    transform: npt.NDArray[np.float64]
    contrast_limits: tuple[float, float]
    colormap: Colormap = field(default_factory=lambda: Colormap("gray"))
    data_version: int = 0
    rgb: bool = False
    gamma: float = 1.0
    opacity: float = 1.0
    blending: Blending = "translucent"
    interpolation: str = "nearest"
    visible: bool = True
    rendering: Rendering = "mip"
    iso_threshold: float = 0.5
    attenuation: float = 0.05

    def __post_init__(self) -> None:
        _check_common("image", self.key, self.opacity, self.blending)
        nd = self.data.ndim - (1 if self.rgb else 0)
        if nd not in (2, 3):
            raise ValueError(
                f"image {self.key}: slice data must be 2D or 3D (plus a channel axis "
                f"when rgb), got shape {self.data.shape}"
            )
        if self.rgb and self.data.shape[-1] not in (3, 4):
            raise ValueError(
                f"image {self.key}: rgb data needs 3 or 4 channels last, got {self.data.shape}"
            )
        object.__setattr__(self, "transform", _as_transform(self.transform, nd, "image", self.key))
        limits = _check_display("image", self.key, self.contrast_limits, self.gamma)
        object.__setattr__(self, "contrast_limits", limits)
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"image {self.key}: interpolation must be one of {sorted(INTERPOLATIONS)}, "
                f"got {self.interpolation!r}"
            )
        if self.rendering not in _RENDERINGS:
            raise ValueError(
                f"image {self.key}: rendering must be one of {sorted(_RENDERINGS)}, "
                f"got {self.rendering!r}"
            )

    @property
    def ndisplay(self) -> int:
        """Number of displayed axes this slice covers (2 or 3)."""
        return int(self.transform.shape[0]) - 1


LabelColorFunc: TypeAlias = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.floating]]
"""Vectorised default colours: ``labels (K,) -> RGBA (K, 4)`` floats in [0, 1]."""


@dataclass(frozen=True, slots=True, eq=False)
class LabelColormap:
    """Exact label -> RGBA colours.

    ``colors`` lists explicit colours; labels not listed get ``default(labels)``
    when given, else transparent. ``background`` is always fully transparent.
    Bump ``version`` whenever the colours change (the backend re-uploads only
    the small colour table then, never the label data).
    """

    colors: Mapping[int, RGBA] = field(default_factory=dict)
    default: LabelColorFunc | None = None
    background: int = 0
    version: int = 0

    def map(self, labels: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Colours of ``labels`` (any int array) as float32 RGBA, shape ``labels.shape + (4,)``."""
        lab = np.asarray(labels).astype(np.int64, copy=False)
        flat = lab.ravel()
        out = np.zeros((flat.size, 4), dtype=np.float32)
        if self.default is not None and flat.size:
            out[:] = np.asarray(self.default(flat), dtype=np.float32).reshape(flat.size, 4)
        if self.colors and flat.size:
            keys = np.fromiter(self.colors.keys(), dtype=np.int64, count=len(self.colors))
            order = np.argsort(keys)
            keys = keys[order]
            values = np.asarray(list(self.colors.values()), dtype=np.float32)[order]
            idx = np.clip(np.searchsorted(keys, flat), 0, keys.size - 1)
            hit = keys[idx] == flat
            out[hit] = values[idx[hit]]
        out[flat == self.background] = 0.0
        return out.reshape((*lab.shape, 4))


@dataclass(frozen=True, slots=True, eq=False)
class LabelsDraw:
    """One labels layer's integer slice and its exact colours (always nearest-sampled).

    ``data`` and ``transform`` follow :class:`ImageDraw` (2D or 3D integer slice). When the
    worker already indexed the labels, ``data`` holds float32 colour-table indices and
    ``table`` the label of each index.
    """

    key: int
    data: np.ndarray
    transform: npt.NDArray[np.float64]
    colormap: LabelColormap = field(default_factory=LabelColormap)
    table: npt.NDArray[np.int64] | None = None
    data_version: int = 0
    opacity: float = 1.0
    blending: Blending = "translucent"
    visible: bool = True

    def __post_init__(self) -> None:
        _check_common("labels", self.key, self.opacity, self.blending)
        if self.data.ndim not in (2, 3):
            raise ValueError(
                f"labels {self.key}: slice data must be 2D or 3D, got shape {self.data.shape}"
            )
        indexed = self.table is not None and self.data.dtype == np.float32
        if not (
            indexed or np.issubdtype(self.data.dtype, np.integer) or self.data.dtype == np.bool_
        ):
            raise ValueError(
                f"labels {self.key}: slice data must be integer, got dtype {self.data.dtype}"
            )
        object.__setattr__(
            self, "transform", _as_transform(self.transform, self.data.ndim, "labels", self.key)
        )

    @property
    def ndisplay(self) -> int:
        """Number of displayed axes this slice covers (2 or 3)."""
        return self.data.ndim


@dataclass(frozen=True, slots=True, eq=False)
class PointsDraw:
    """One points layer's in-slice points, already in world coordinates.

    ``coords`` is ``(N, ndisplay)`` world coordinates of the displayed axes in
    display order; ``sizes`` are diameters in world units (scalar or ``(N,)``);
    ``face_colors``/``edge_colors`` are ``(N, 4)`` RGBA floats. ``edge_width``
    is a fraction of the size when ``edge_width_is_relative`` (napari's
    default), else in world units. Bump ``data_version`` when the points or
    their per-point values change.
    """

    key: int
    coords: npt.NDArray[np.float64]
    sizes: npt.NDArray[np.float64]
    face_colors: npt.NDArray[np.float32]
    edge_colors: npt.NDArray[np.float32]
    edge_width: float = 0.05
    edge_width_is_relative: bool = True
    data_version: int = 0
    opacity: float = 1.0
    blending: Blending = "translucent"
    visible: bool = True

    def __post_init__(self) -> None:
        _check_common("points", self.key, self.opacity, self.blending)
        coords = np.array(self.coords, dtype=np.float64, ndmin=2)
        if coords.size == 0:
            coords = coords.reshape(0, coords.shape[-1] if coords.ndim == 2 else 2)
        if coords.ndim != 2 or coords.shape[1] not in (2, 3):
            raise ValueError(
                f"points {self.key}: coords must be (N, 2) or (N, 3), got {coords.shape}"
            )
        n = coords.shape[0]
        sizes = np.broadcast_to(np.asarray(self.sizes, dtype=np.float64), (n,)).copy()
        if np.any(sizes < 0):
            raise ValueError(f"points {self.key}: sizes must be >= 0")
        face = np.broadcast_to(np.asarray(self.face_colors, dtype=np.float32), (n, 4)).copy()
        edge = np.broadcast_to(np.asarray(self.edge_colors, dtype=np.float32), (n, 4)).copy()
        if self.edge_width < 0:
            raise ValueError(f"points {self.key}: edge_width must be >= 0")
        for name, arr in (
            ("coords", coords),
            ("sizes", sizes),
            ("face_colors", face),
            ("edge_colors", edge),
        ):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def ndisplay(self) -> int:
        """Number of displayed axes of the coordinates (2 or 3)."""
        return int(self.coords.shape[1])


_GRAY = Colormap("gray")

TILE_FINAL = 0
"""A tile drawn at the ideal level: final data."""
TILE_PLACEHOLDER = 1
"""A tile drawn coarser (or finer) than ideal while the ideal one loads: marked on screen."""
TILE_FAILED = 2
"""A tile whose load failed: drawn marked as failed (over whatever stands in for it)."""


@dataclass(frozen=True, slots=True)
class TilePage:
    """One backing texture of a layer's atlas: ``shape`` texels of ``channels`` float32."""

    page: int
    shape: tuple[int, int]


TexelName: TypeAlias = Literal["float32", "uint16", "uint8"]
"""The dtype of a tiled layer's tiles and page textures; integer texels are sampled
normalised (value / 65535 or / 255), so the backend scales the contrast limits alike."""

#: What a texel of each dtype samples as, over the data value (normalised integer textures).
TEXEL_SCALE: dict[str, float] = {"float32": 1.0, "uint16": 1.0 / 65535.0, "uint8": 1.0 / 255.0}


@dataclass(frozen=True, slots=True, eq=False)
class TileUpload:
    """Tile pixels to copy into a page at texel offset ``(y, x)`` (one sub-image upload).

    ``data`` is of the draw's ``texel`` dtype, ``(h, w)`` or ``(h, w, 4)``, C-contiguous:
    workers converted it.
    """

    page: int
    y: int
    x: int
    data: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True)
class TileQuad:
    """One rectangle to draw from one tile.

    ``rect`` is ``(y0, y1, x0, x1)`` in level-0 *edge* coordinates of the layer's displayed
    axes (a data coordinate + 0.5); ``tex`` the same rectangle in texels of ``page``;
    ``slot`` the tile's whole texel box in the page ``(y0, y1, x0, x1)`` (sampling is clamped
    inside it, so neighbouring slots never bleed in). ``page`` is -1 for a failed tile that
    has no pixels to show. Quads of one layer never overlap: no pixel is drawn twice.
    """

    page: int
    rect: tuple[float, float, float, float]
    tex: tuple[float, float, float, float]
    slot: tuple[float, float, float, float]
    level: int
    state: int = TILE_FINAL


@dataclass(frozen=True, slots=True, eq=False)
class TiledDraw:
    """A 2D Image or Labels layer drawn from tiles in a texture atlas.

    ``transform`` maps level-0 data coordinates of the displayed axes (display order, pixel
    centres on integers) to world coordinates. ``pages`` are the layer's backing textures;
    ``uploads`` the sub-images to copy in before drawing this frame; ``quads`` what to draw,
    each in one page. Contrast limits, colormap and gamma (images) or the label colours
    (labels: ``lut`` gives the label of each colour-table index) apply in the shader, so
    changing them never re-uploads a tile. ``show_placeholders`` marks tiles that are not
    final; ``debug`` outlines every tile in a colour per level. The backend compares
    ``quads`` and ``pages`` with the previous draw's to know what to redo. ``next_page`` is
    the shape of the page the atlas is about to add (see ``TextureAtlas.upcoming_page``),
    for the backend to make its texture ahead of need; None when no page is coming soon.
    ``texel`` is the dtype of the tiles and pages (uint8 and uint16 only for 1-channel images).
    """

    key: int
    kind: Literal["image", "labels"]
    transform: npt.NDArray[np.float64]
    pages: tuple[TilePage, ...]
    quads: tuple[TileQuad, ...]
    uploads: tuple[TileUpload, ...] = ()
    channels: int = 1
    contrast_limits: tuple[float, float] = (0.0, 1.0)
    colormap: Colormap = field(default_factory=lambda: _GRAY)  # shared: compared by identity
    gamma: float = 1.0
    label_colormap: LabelColormap | None = None
    lut: npt.NDArray[np.int64] | None = None
    lut_version: int = 0
    opacity: float = 1.0
    blending: Blending = "translucent"
    interpolation: str = "nearest"
    visible: bool = True
    show_placeholders: bool = True
    debug: bool = False
    data_version: int = 0
    next_page: tuple[int, int] | None = None
    texel: TexelName = "float32"

    def __post_init__(self) -> None:
        _check_common(self.kind, self.key, self.opacity, self.blending)
        object.__setattr__(self, "transform", _as_transform(self.transform, 2, self.kind, self.key))
        if self.channels not in (1, 4):
            raise ValueError(f"{self.kind} {self.key}: tiles have 1 or 4 channels")
        if self.texel not in TEXEL_SCALE or (
            self.texel != "float32" and (self.kind != "image" or self.channels != 1)
        ):
            raise ValueError(
                f"{self.kind} {self.key}: texel {self.texel!r} is not one of float32, or "
                "uint16 / uint8 for a 1-channel image"
            )
        limits = _check_display(self.kind, self.key, self.contrast_limits, self.gamma)
        object.__setattr__(self, "contrast_limits", limits)
        if self.kind == "labels" and (self.label_colormap is None or self.lut is None):
            raise ValueError(f"labels {self.key}: a tiled labels draw needs its colours and lut")

    @property
    def ndisplay(self) -> int:
        """Tiled draws are 2D."""
        return 2

    @property
    def rgb(self) -> bool:
        """Whether tiles hold RGBA colours."""
        return self.channels == 4


Draw: TypeAlias = ImageDraw | LabelsDraw | PointsDraw | TiledDraw
"""Any one layer's drawing instructions."""


@dataclass(frozen=True, slots=True, eq=False)
class RenderPlan:
    """Everything a backend needs to draw one frame.

    ``layers`` are drawn in order, bottom to top. ``canvas_size`` is
    ``(height, width)`` in screen pixels: a headless canvas is resized to it;
    a canvas inside a window keeps the window's size (it reports its own size).
    Every draw's ``ndisplay`` must equal the plan's; keys must be unique.
    """

    ndisplay: Literal[2, 3]
    camera: CameraView
    layers: tuple[Draw, ...] = ()
    canvas_size: tuple[int, int] = (512, 512)
    background: RGBA = (0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if self.ndisplay not in (2, 3):
            raise ValueError(f"ndisplay must be 2 or 3, got {self.ndisplay!r}")
        if len(self.camera.center) != self.ndisplay:
            raise ValueError(
                f"camera center {self.camera.center!r} must have ndisplay={self.ndisplay} values"
            )
        h, w = self.canvas_size
        if h < 1 or w < 1:
            raise ValueError(
                f"canvas_size must be positive (height, width), got {self.canvas_size}"
            )
        object.__setattr__(self, "layers", tuple(self.layers))
        keys = [d.key for d in self.layers]
        if len(set(keys)) != len(keys):
            raise ValueError(f"layer keys must be unique, got {keys}")
        for d in self.layers:
            if d.ndisplay != self.ndisplay:
                raise ValueError(
                    f"layer {d.key} has {d.ndisplay} displayed axes but the plan has "
                    f"ndisplay={self.ndisplay}"
                )
        if len(self.background) != 4:
            raise ValueError(f"background must be RGBA, got {self.background!r}")
