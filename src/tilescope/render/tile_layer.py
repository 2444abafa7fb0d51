"""What the frame loop keeps per tiled layer, and what one frame of it resolved to.

:class:`LayerTiles` is the main-thread state of one 2D Image or Labels layer drawn from tiles
(its tile source, atlas, tiles drained but not yet uploaded, failures, and the memos that let
an unchanged frame cost almost nothing); :class:`LayerFrame` is the frozen result of one
frame for that layer. :class:`~tilescope.render.tiled.TiledFrames` owns both. Main thread only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.errors import ChunkLoadError
from tilescope.render.atlas import TextureAtlas
from tilescope.render.plan import TexelName, TiledDraw, TilePage, TileQuad, TileUpload
from tilescope.tiles.convert import LabelIndex, TileKind
from tilescope.tiles.coverage import CoveragePlan
from tilescope.tiles.grid import TileKey, TileSlice
from tilescope.tiles.intersection import ViewTiles
from tilescope.tiles.prefetch import ThickSlice
from tilescope.tiles.source import TileSource

__all__ = ["LayerFrame", "LayerTiles", "Placement"]

#: Slices whose key factories a layer keeps (a scrub revisits its neighbours).
_SLICES_KEPT = 16

#: Resident tiles per (level, slice) at that level.
SliceGroups = dict[tuple[int, tuple[int, ...]], list[TileKey]]


@dataclass(frozen=True, slots=True)
class LayerFrame:
    """One tiled layer's part of a frame."""

    draw: TiledDraw | None
    """What to draw (None: nothing in view, or the slice lies outside the data)."""
    wanted: int
    """Visible tiles at the ideal level."""
    resident: int
    """How many of those are drawn at the ideal level."""
    failed: tuple[tuple[TileKey, ChunkLoadError], ...] = ()
    """Visible ideal tiles whose load failed (each retried with back-off)."""
    over_budget: int = 0
    """Tiles that had to be drawn but found no atlas slot (the VRAM budget is too small)."""
    ideal_level: int = 0
    corner_pixels: npt.NDArray[np.int64] | None = None
    """``(2, 2)`` inclusive pixel bounds of the visible ideal tiles at ``ideal_level``."""
    slice0: tuple[int, ...] = ()
    """Level-0 indices of the not-displayed axes this frame shows."""
    estimating: bool = False
    """Waiting for the root tile that sets provisional contrast limits."""
    stand_in: tuple[int, tuple[int, ...]] | None = None
    """``(level, slice indices at that level)`` of the nearest resident slice drawn in place
    of this one, every tile a placeholder (None: the frame shows its own slice)."""

    @property
    def progress(self) -> float:
        """Resident ideal tiles / wanted, 0..1 (1.0 when nothing is wanted)."""
        return self.resident / self.wanted if self.wanted else 1.0

    @property
    def settled(self) -> bool:
        """Every visible ideal tile is drawn or failed (or cannot be held): nothing to wait for."""
        done = self.resident + len(self.failed) + self.over_budget >= self.wanted
        return done and not self.estimating


@dataclass(eq=False)
class LayerTiles:
    """Main-thread state of one tiled layer."""

    source: TileSource
    signature: tuple[Any, ...]
    kind: TileKind
    atlas: TextureAtlas[TileKey]
    labels: LabelIndex | None
    texel: TexelName = "float32"
    """The dtype of the layer's tiles and page textures (``tiles.convert.texel_dtype``)."""
    arrived: dict[TileKey, np.ndarray] = field(default_factory=dict)
    failed: dict[TileKey, ChunkLoadError] = field(default_factory=dict)
    version: int = 0
    """Bumped whenever the atlas contents (hence the quads) change."""
    memo: tuple[Any, ...] | None = None
    memo_value: tuple[tuple[TileQuad, ...], CoveragePlan, int] | None = None
    estimated: bool = False
    last_draw: frozenset[TileKey] = frozenset()
    no_room: set[TileKey] = field(default_factory=set)
    """Tiles of this view that found no atlas slot (cleared when the view changes)."""
    uploads: list[TileUpload] = field(default_factory=list)
    """Uploads planned this frame, handed to the backend with the next draw."""
    last_tiled: TiledDraw | None = None
    last_frame: LayerFrame | None = None
    resident_memo: tuple[tuple[Any, ...], set[tuple[int, int, int]]] | None = None
    stand_in_groups: tuple[tuple[Any, ...], SliceGroups] | None = None
    """The atlas's plain tiles per (level, slice) for the displayed axes (stand-in search),
    with the (version, displayed axes) they were grouped at."""
    quad_memo: dict[TileKey, tuple[Any, ...]] = field(default_factory=dict)
    """Last frame's quads per drawn tile, with the rectangles, slot and mark they came from."""
    slices: dict[tuple[Any, ...], TileSlice] = field(default_factory=dict)
    """Recent slices' key factories (they memoize their keys: no new keys every frame)."""

    last_geometry: tuple[Any, ...] | None = None
    stand_in: tuple[int, tuple[int, ...]] | None = None
    """The neighbouring slice the last plan drew in place of the current one."""
    last_view: tuple[int, tuple[float, float]] | None = None
    """Ideal level and centre of the last view (to tell the direction of a pan)."""
    motion: tuple[float, float] | None = None
    """Direction of the last pan at this level (None: not panning, or just zoomed)."""
    placement: tuple[tuple[Any, ...], Any, Placement | None] | None = None
    """The last slice placement: ``(key, layer transform, placement)`` (see ``Placement``)."""
    plane_map: tuple[Any, Any, Any] | None = None
    """``(transform, axes, what of the placement depends on them only)`` (``render.tiled``)."""
    view_memo: tuple[tuple[Any, ...], ViewTiles] | None = None
    """The last view's tiles and what they were computed from (the box, canvas, margin,
    locked level and grid)."""
    pages_from: tuple[Any, ...] | None = None
    pages: tuple[TilePage, ...] = ()
    """The draw's pages, made from the atlas's page tuple ``pages_from`` (rebuilt only when
    that changes, so the backend sees the same tuple frame after frame)."""

    def prefetch_ahead(self, view: ViewTiles) -> ViewTiles:
        """Keep only the prefetch ring tiles ahead of a pan (all of them at rest or after a
        zoom): a pan then fetches what it is about to expose, not the ring on every side."""
        if self.last_view is not None and self.last_view[0] == view.level:
            (y0, x0), (y1, x1) = self.last_view[1], view.center
            if (y1, x1) != (y0, x0):
                self.motion = (y1 - y0, x1 - x0)
        else:
            self.motion = None
        self.last_view = (view.level, view.center)
        if self.motion is None or not view.margin:
            return view
        dy, dx = self.motion
        big = 0.25 * max(abs(dy), abs(dx))  # ignore the minor axis of a nearly straight pan
        rows, cols = view.rows, view.cols
        ahead = tuple(
            pos
            for pos in view.margin
            if (dx > big and pos[2] >= cols.stop)
            or (dx < -big and pos[2] < cols.start)
            or (dy > big and pos[1] >= rows.stop)
            or (dy < -big and pos[1] < rows.start)
        )
        return dataclasses.replace(view, margin=ahead)

    def tile_slice(
        self, slice0: tuple[int, ...], windows0: tuple[tuple[int, int], ...], mode: str
    ) -> TileSlice:
        """The key factory of a slice (thick slices are projected in the worker)."""
        memo = (slice0, windows0 if mode != "none" else (), mode)
        tiles = self.slices.pop(memo, None)
        if tiles is None:
            if mode == "none":
                tiles = self.source.tile_slice(slice0)
            else:
                tiles = self.source.tile_slice(slice0, windows0, mode)
        self.slices[memo] = tiles  # most recent last
        while len(self.slices) > _SLICES_KEPT:
            del self.slices[next(iter(self.slices))]
        return tiles


@dataclass(frozen=True, slots=True, eq=False)
class Placement:
    """Where the current slice of a tiled layer lies: its level-0 indices on the sliced axes,
    its tiles, and its plane's data -> world map and inverse. It depends only on the dims,
    the layer's transform and the projection, so camera moves reuse it."""

    slice0: tuple[int, ...]
    tiles: TileSlice
    transform: npt.NDArray[np.float64]
    inverse: npt.NDArray[np.float64] | None
    """None when the plane is seen edge-on (its placement is not invertible)."""
    thick: ThickSlice | None = None
    """A thick slice's projection and window offsets (None: a plain slice)."""
