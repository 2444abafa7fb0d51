"""One vispy node per layer draw, updated in place from successive draws.

Each adaptor compares the new draw with the previous one and touches only what
changed: new slice data (another array object or another ``data_version``) is
the only thing that uploads a texture; contrast limits, colormap, gamma,
opacity, blending, order and visibility are shader uniforms or GL state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cmap import Colormap
from vispy.color import Colormap as VispyColormap
from vispy.visuals.transforms import MatrixTransform

from tilescope.errors import RenderError
from tilescope.render.plan import (
    Blending,
    Draw,
    ImageDraw,
    LabelColormap,
    LabelsDraw,
    PointsDraw,
    TexelName,
    TiledDraw,
)
from tilescope.render.vispy import _visuals
from tilescope.render.vispy._tiled import TiledPages
from tilescope.tiles.convert import for_texture, label_indices, stride_transform

__all__ = ["GLLimits", "LayerVisual", "create_layer_visual", "gl_state", "layer_kind"]

Counter = Callable[[], None]

_VISPY_INTERPOLATION = {"bicubic": "cubic"}  # vispy deprecates the napari name


@dataclass(frozen=True, slots=True)
class GLLimits:
    """Texture size limits of the GL context (slices beyond them are strided down)."""

    max_texture_2d: int = 16384
    max_texture_3d: int = 2048


def gl_state(blending: Blending, first_visible: bool, ndisplay: int) -> dict[str, Any]:
    """Full GL state for napari's blending modes (every field set, none inherited).

    The bottom visible layer blends against the canvas differently, as napari
    does, so a lone additive or minimum layer shows its own colours. In 2D
    depth testing is off: all layers lie in one plane and order decides.
    """
    depth = ndisplay == 3 and blending in ("translucent", "opaque")
    state: dict[str, Any] = {
        "depth_test": depth,
        "cull_face": False,
        "blend": True,
        "blend_equation": "func_add",
        "blend_func": ("src_alpha", "one_minus_src_alpha", "one", "one"),
    }
    if first_visible:
        src, dst = {
            "minimum": ("one", "zero"),
            "additive": ("src_alpha", "zero"),
        }.get(blending, ("src_alpha", "one_minus_src_alpha"))
        state["blend_func"] = (src, dst, "one", "one")
    elif blending == "opaque":
        state["blend"] = False
    elif blending == "additive":
        state["blend_func"] = ("src_alpha", "dst_alpha", "one", "one")
    elif blending == "minimum":
        state["blend_equation"] = "min"
        state["blend_func"] = ("one", "one", "one", "one")
    return state


def layer_kind(draw: Draw) -> tuple[str, int, bool]:
    """Draws of the same kind can share a node; another kind needs a new node."""
    rgb = isinstance(draw, ImageDraw | TiledDraw) and draw.rgb
    return type(draw).__name__, draw.ndisplay, rgb


def to_vispy_colormap(cm: Colormap) -> Any:
    """A vispy colormap with the same colour stops (nearest stays nearest)."""
    stops = cm.color_stops
    colors = np.asarray(stops.color_array, dtype=np.float32)
    controls = np.asarray(stops.stops, dtype=np.float32)
    if cm.interpolation == "nearest":
        n = colors.shape[0]
        return VispyColormap(colors, controls=np.linspace(0.0, 1.0, n + 1), interpolation="zero")
    if colors.shape[0] == 1:
        colors = np.repeat(colors, 2, axis=0)
        controls = np.array([0.0, 1.0], dtype=np.float32)
    controls[0], controls[-1] = 0.0, 1.0
    return VispyColormap(colors, controls=controls, interpolation="linear")


def same_colormap(a: Colormap, b: Colormap) -> bool:
    """Whether two colormaps map alike (cmap's ``==`` fails on stops of different lengths)."""
    if a is b:
        return True
    sa, sb = a.color_stops, b.color_stops
    return (
        a.interpolation == b.interpolation
        and np.array_equal(np.asarray(sa.stops), np.asarray(sb.stops))
        and np.array_equal(np.asarray(sa.color_array), np.asarray(sb.color_array))
    )


def _vispy_matrix(
    transform: npt.NDArray[np.float64], pixel_offset: float
) -> npt.NDArray[np.float64]:
    """vispy's 4x4 (row-vector, xyz) matrix for a display-order homogeneous transform.

    ``pixel_offset`` is applied first in texture space (vispy's 2D images put
    texel i's centre at i + 0.5; the plan puts it at i).
    """
    n = transform.shape[0] - 1
    rev = np.eye(n + 1)
    rev[:n, :n] = np.eye(n)[::-1]
    m = rev @ transform @ rev
    full = np.eye(4)
    full[:n, :n] = m[:n, :n]
    full[:n, 3] = m[:n, n]
    if pixel_offset:
        shift = np.eye(4)
        shift[:n, 3] = pixel_offset
        full = full @ shift
    return full.T


def _normalized(value: float, dtype: np.dtype) -> float:
    """A data value as the shader sees it (normalized integer textures are in [0, 1])."""
    if dtype == np.uint8:
        return value / 255.0
    if dtype == np.uint16:
        return value / 65535.0
    return value


class LayerVisual(ABC):
    """Owns the vispy node(s) of one layer and applies successive draws to them."""

    def __init__(self, node: Any, count_upload: Counter) -> None:
        self.node = node
        self.kind: tuple[str, int, bool] = ("", 0, False)
        self._count_upload = count_upload
        self._prev: Any = None
        self._state: dict[str, Any] | None = None
        self._matrix: npt.NDArray[np.float64] | None = None

    def update(self, draw: Draw, order: int, first_visible: bool) -> None:
        """Apply ``draw`` (drawn ``order``-th from the bottom)."""
        prev = self._prev
        self._update(draw, prev)
        self._prev = draw
        self.node.visible = draw.visible
        self.node.order = order
        if prev is None or prev.opacity != draw.opacity:
            self.node.opacity = draw.opacity
        state = gl_state(draw.blending, first_visible, draw.ndisplay)
        if state != self._state:
            self.node.set_gl_state(**state)
            self._state = state
        self.node.update()

    def _set_matrix(self, matrix: npt.NDArray[np.float64]) -> None:
        if self._matrix is None or not np.array_equal(matrix, self._matrix):
            self.node.transform = MatrixTransform(matrix)
            self._matrix = matrix

    @staticmethod
    def _data_changed(draw: ImageDraw | LabelsDraw, prev: Any) -> bool:
        return prev is None or prev.data is not draw.data or prev.data_version != draw.data_version

    @abstractmethod
    def _update(self, draw: Any, prev: Any) -> None: ...

    def join(self, queue: Any) -> None:
        """Merge this layer's GL command queues into the canvas's ``queue`` (headless: they
        run at apply time even before the layer is first drawn, instead of keeping every
        upload's array until then). The vispy visuals used keep their data in these."""
        for name in ("_texture", "_vbo", "_index_buffer"):
            obj = getattr(self.node, name, None)
            glir = getattr(obj, "glir", None)
            if glir is not None:
                queue.associate(glir)

    def remove(self) -> None:
        """Detach the node from the scene."""
        self.node.parent = None

    def wants_prepare(self, programs: bool) -> bool:
        """Whether :meth:`prepare` has something to make ahead."""
        return False

    def prepare(self, run_gl: Callable[[Any], None], programs: bool) -> bool:
        """Make ahead, outside a frame, one thing this layer's next frames will likely need;
        whether something was made. ``run_gl(queue)`` runs a new GL object's queued
        commands now and joins its queue to the canvas's; ``programs``: shader programs
        are built and linked ahead too (a window; headless, a screenshot would)."""
        return False


class _TextureVisual(LayerVisual):
    """A layer drawn from one texture of its slice (strided down to ``limit`` if needed)."""

    def __init__(self, node: Any, count_upload: Counter, limit: int, ndim: int) -> None:
        node.upload_hook = count_upload
        super().__init__(node, count_upload)
        self._limit = limit
        self._strides: tuple[int, ...] = (1,) * ndim

    def _apply_image_settings(self, draw: ImageDraw, prev: ImageDraw | None) -> None:
        """Colormap, gamma and interpolation: uniforms and sampler state, no upload."""
        node = self.node
        if not draw.rgb and (prev is None or not same_colormap(prev.colormap, draw.colormap)):
            node.cmap = to_vispy_colormap(draw.colormap)
        if prev is None or prev.gamma != draw.gamma:
            node.gamma = draw.gamma
        if prev is None or prev.interpolation != draw.interpolation:
            node.interpolation = _VISPY_INTERPOLATION.get(draw.interpolation, draw.interpolation)


def _volume_node(parent: Any, empty: np.ndarray, **kwargs: Any) -> Any:
    """A ray-cast volume node, nearest-sampled until a draw says otherwise."""
    return _visuals.Volume(
        empty, parent=parent, texture_format="auto", interpolation="nearest", **kwargs
    )


class ImageVisual2D(_TextureVisual):
    """A 2D image (grayscale with colormap, or RGB/RGBA) as one texture."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        node = _visuals.Image(
            np.zeros((1, 1), np.float32),
            parent=parent,
            texture_format="auto",
            interpolation="nearest",
            cmap="grays",
            clim=(0.0, 1.0),
        )
        super().__init__(node, count_upload, limits.max_texture_2d, 2)

    def _update(self, draw: ImageDraw, prev: ImageDraw | None) -> None:
        node = self.node
        if self._data_changed(draw, prev):
            arr, self._strides = for_texture(draw.data, draw.rgb, self._limit)
            node.set_data(arr)
        if prev is None or prev.contrast_limits != draw.contrast_limits:
            node.clim = draw.contrast_limits
        self._apply_image_settings(draw, prev)
        self._set_matrix(_vispy_matrix(stride_transform(draw.transform, self._strides), -0.5))


class ImageVisual3D(_TextureVisual):
    """A 3D image volume rendered by ray casting (mip, translucent, iso, ...)."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        node = _volume_node(parent, np.zeros((1, 1, 1), np.float32), cmap="grays", clim=(0.0, 1.0))
        super().__init__(node, count_upload, limits.max_texture_3d, 3)
        self._dtype = np.dtype(np.float32)

    def _update(self, draw: ImageDraw, prev: ImageDraw | None) -> None:
        node = self.node
        if self._data_changed(draw, prev):
            arr, self._strides = for_texture(draw.data, draw.rgb, self._limit)
            self._dtype = arr.dtype
            node.set_data(arr, clim=draw.contrast_limits)
        elif prev is None or prev.contrast_limits != draw.contrast_limits:
            node.clim = draw.contrast_limits
        self._apply_image_settings(draw, prev)
        if prev is None or prev.rendering != draw.rendering:
            node.method = draw.rendering
        node.threshold = _normalized(draw.iso_threshold, self._dtype)
        if prev is None or prev.attenuation != draw.attenuation:
            node.attenuation = draw.attenuation
        self._set_matrix(_vispy_matrix(stride_transform(draw.transform, self._strides), 0.0))


def same_label_colors(a: LabelColormap, b: LabelColormap) -> bool:
    """Whether two label colormaps colour alike (plans may rebuild them every frame)."""
    return a is b or (
        a.version == b.version
        and a.background == b.background
        and a.default == b.default
        and (a.colors is b.colors or a.colors == b.colors)
    )


def _lut_colors(colormap: LabelColormap, labels: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    rgba = np.clip(colormap.map(labels), 0.0, 1.0)
    return np.round(rgba * 255.0).astype(np.uint8)


class _LabelsTexture(_TextureVisual):
    def _indexed(self, draw: LabelsDraw) -> tuple[np.ndarray, npt.NDArray[np.int64]]:
        """Colour-table indices and table: from the worker when it made them, else here."""
        if draw.table is not None:
            indices, self._strides = for_texture(draw.data, False, self._limit)
            return indices, draw.table
        data, self._strides = for_texture(draw.data, False, self._limit, convert=False)
        try:
            return label_indices(data)
        except ValueError as e:
            raise RenderError(str(e)) from e


class LabelsVisual2D(_LabelsTexture):
    """A 2D labels slice: index texture + colour lookup texture (exact colours)."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        node = _visuals.LabelsImage(parent=parent)
        super().__init__(node, count_upload, limits.max_texture_2d, 2)
        self._lut_labels: npt.NDArray[np.int64] | None = None

    def _update(self, draw: LabelsDraw, prev: LabelsDraw | None) -> None:
        new_table = False
        if self._data_changed(draw, prev):
            indices, table = self._indexed(draw)
            self.node.set_data(indices)
            if self._lut_labels is None or not np.array_equal(table, self._lut_labels):
                self._lut_labels = table
                new_table = True
        recolor = prev is None or not same_label_colors(prev.colormap, draw.colormap)
        if (new_table or recolor) and self._lut_labels is not None:
            self.node.set_lut(_lut_colors(draw.colormap, self._lut_labels))
        self._set_matrix(_vispy_matrix(stride_transform(draw.transform, self._strides), -0.5))


class LabelsVisual3D(_LabelsTexture):
    """A 3D labels slice as a pre-coloured RGBA volume (re-uploaded when colours change)."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        node = _volume_node(
            parent, np.zeros((1, 1, 1, 4), np.uint8), method="translucent", clim=(0.0, 255.0)
        )
        super().__init__(node, count_upload, limits.max_texture_3d, 3)

    def _update(self, draw: LabelsDraw, prev: LabelsDraw | None) -> None:
        recolor = prev is None or not same_label_colors(prev.colormap, draw.colormap)
        if self._data_changed(draw, prev) or recolor:
            indices, table = self._indexed(draw)
            colors = _lut_colors(draw.colormap, table)
            rgba = np.ascontiguousarray(colors[indices.astype(np.int64)])
            self.node.set_data(rgba, clim=(0.0, 255.0))
        self._set_matrix(_vispy_matrix(stride_transform(draw.transform, self._strides), 0.0))


class PointsVisual(LayerVisual):
    """Points as discs sized in world units (2D or 3D)."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        node = _visuals.Markers(parent=parent, scaling="scene", antialias=1.0)
        super().__init__(node, count_upload)

    def _update(self, draw: PointsDraw, prev: PointsDraw | None) -> None:
        changed = (
            prev is None
            or prev.data_version != draw.data_version
            or prev.edge_width != draw.edge_width
            or prev.edge_width_is_relative != draw.edge_width_is_relative
            or not all(
                np.array_equal(getattr(prev, name), getattr(draw, name))
                for name in ("coords", "sizes", "face_colors", "edge_colors")
            )
        )
        if not changed:
            return
        n = draw.coords.shape[0]
        if n == 0:
            self.node.set_data(np.zeros((1, draw.ndisplay), np.float32), size=0.0)
        else:
            width = (
                {"edge_width_rel": draw.edge_width}
                if draw.edge_width_is_relative
                else {"edge_width": draw.edge_width}
            )
            self.node.set_data(
                pos=np.ascontiguousarray(draw.coords[:, ::-1], dtype=np.float32),
                size=draw.sizes.astype(np.float32),
                face_color=draw.face_colors,
                edge_color=draw.edge_colors,
                symbol="disc",
                **width,
            )
        self._count_upload()


class TiledLayerVisual(LayerVisual):
    """A 2D Image or Labels layer drawn from atlas tiles (see :mod:`._tiled`)."""

    def __init__(self, parent: Any, count_upload: Counter, limits: GLLimits) -> None:
        self._pages = TiledPages(parent, count_upload)
        super().__init__(self._pages.node, count_upload)

    def update(self, draw: Draw, order: int, first_visible: bool) -> None:
        assert isinstance(draw, TiledDraw)
        prev: TiledDraw | None = self._prev
        recolor = prev is None or (
            not same_label_colors(prev.label_colormap, draw.label_colormap)
            if draw.label_colormap is not None and prev.label_colormap is not None
            else not same_colormap(prev.colormap, draw.colormap)
        )
        self._pages.apply(draw, prev, gl_state(draw.blending, first_visible, 2), recolor)
        self._prev = draw
        self.node.visible = draw.visible
        self.node.order = order
        # a draw's transform is read-only and reused while it holds: the same one, no work
        if prev is None or draw.transform is not prev.transform:
            self._set_matrix(_vispy_matrix(draw.transform, 0.0))

    def _update(self, draw: Any, prev: Any) -> None:  # update() does it all
        raise NotImplementedError

    def remove(self) -> None:
        self._pages.remove()

    def join(self, queue: Any) -> None:
        self._pages.join(queue)

    def wants_prepare(self, programs: bool) -> bool:
        return self._pages.wants_prepare(programs)

    def prepare(self, run_gl: Callable[[Any], None], programs: bool) -> bool:
        return self._pages.prepare(run_gl, programs)

    @classmethod
    def ahead(
        cls, key: tuple[str, int, TexelName], count_upload: Counter, limits: GLLimits
    ) -> TiledLayerVisual:
        """An adaptor made ahead, outside the scene, for a layer of ``key`` (kind, channels,
        texel) yet to come; its :meth:`prepare` makes its first visual. Adding a layer
        made both then: 5 and 11 ms of one main-thread task (the fault-injection soak)."""
        made = cls(None, count_upload, limits)
        made._pages.expect(*key)
        return made


_FACTORIES: dict[tuple[str, int, bool], Callable[[Any, Counter, GLLimits], LayerVisual]] = {
    ("ImageDraw", 2, False): ImageVisual2D,
    ("ImageDraw", 2, True): ImageVisual2D,
    ("ImageDraw", 3, False): ImageVisual3D,
    ("ImageDraw", 3, True): ImageVisual3D,
    ("LabelsDraw", 2, False): LabelsVisual2D,
    ("LabelsDraw", 3, False): LabelsVisual3D,
    ("PointsDraw", 2, False): PointsVisual,
    ("PointsDraw", 3, False): PointsVisual,
    ("TiledDraw", 2, False): TiledLayerVisual,
    ("TiledDraw", 2, True): TiledLayerVisual,
}


def create_layer_visual(
    draw: Draw,
    parent: Any,
    count_texture: Counter,
    count_vertex: Counter,
    limits: GLLimits,
    count_tile: Counter | None = None,
) -> LayerVisual:
    """A new adaptor (and node under ``parent``) for ``draw``'s kind."""
    kind = layer_kind(draw)
    counter = count_vertex if isinstance(draw, PointsDraw) else count_texture
    if isinstance(draw, TiledDraw) and count_tile is not None:
        counter = count_tile
    layer = _FACTORIES[kind](parent, counter, limits)
    layer.kind = kind
    return layer
