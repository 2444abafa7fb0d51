"""Tiled rendering of 2D Image and Labels layers: resolving each frame from what is resident.

Every frame, for every 2D image-like layer, :meth:`TiledFrames.resolve`:

1. maps the camera's view to a box in the layer's level-0 data coordinates and finds the ideal
   level and its visible tiles (:func:`~tilescope.tiles.intersection.visible_tiles`);
2. plans coverage from the tiles *resident* in the layer's texture atlas
   (:func:`~tilescope.tiles.coverage.plan_coverage`: coarse ancestors stand in for missing
   tiles, never a load finer than ideal);
3. uploads finished tiles (drained from the loader, already converted by workers) into atlas
   slots, coarse first, within the frame's upload budget, and re-plans when it did;
4. splits the draw set into rectangles that never overlap (:func:`~tilescope.tiles.quads.
   disjoint_rects`), marks placeholders (tiles drawn coarser than ideal) and failed tiles;
5. hands the layer's wanted tiles to the :class:`~tilescope.loading.loader.ChunkLoader`, which
   cancels what is no longer wanted; tiles already drained but not yet uploaded are not asked
   for again. Tiles the loader answers at once from its RAM cache are uploaded in the same
   frame (a slider step shows a warm slice without waiting for the next frame);
6. asks :class:`~tilescope.render.prefetch.SlicePrefetcher` to prefetch the slices near and
   ahead of the current one (a pool that never runs ahead of a visible load).

A slice with nothing resident at any level shows the nearest slice that has resident tiles
(same layer, data and displayed axes), every tile marked as a placeholder, until its own
tiles arrive (``LayerFrame.stand_in`` names that slice).

The result per layer is a :class:`LayerFrame`: the :class:`~tilescope.render.plan.TiledDraw`
for the backend and the counts behind the layer's status and ``loading_progress``. Nothing
here reads layer data or touches the GPU: workers read, the backend uploads. Main thread only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from tilescope.data.zarr_io import fast_reads
from tilescope.errors import ChunkLoadError, TilescopeError
from tilescope.loading.config import RenderSettings
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadResult
from tilescope.loading.tile_requests import want_plan
from tilescope.models.dims import DimsState
from tilescope.models.dims_mapping import (
    LayerAxes,
    layer_axes,
)
from tilescope.models.layers import Image, Labels, Layer
from tilescope.render.atlas import TextureAtlas, VramBudget
from tilescope.render.plan import (
    TILE_FAILED,
    TILE_FINAL,
    TILE_PLACEHOLDER,
    LabelColormap,
    TexelName,
    TiledDraw,
    TilePage,
    TileQuad,
    TileUpload,
    checked_transform,
)
from tilescope.render.prefetch import SlicePrefetcher
from tilescope.render.tile_layer import LayerFrame, LayerTiles, Placement
from tilescope.slicing.projection import point_index, thick_bounds, window_indices
from tilescope.tiles.chunks import chunk_shape_2d, tile_shape_for_chunks
from tilescope.tiles.convert import (
    DIRECT_LABEL_DTYPES,
    ConvertedArray,
    LabelIndex,
    TileKind,
    texel_dtype,
)
from tilescope.tiles.coverage import CoveragePlan, TileLoad, plan_coverage
from tilescope.tiles.grid import TileKey, TileSlice
from tilescope.tiles.intersection import ViewTiles, visible_tiles
from tilescope.tiles.prefetch import ThickSlice, nearest_slice
from tilescope.tiles.quads import disjoint_rects, tile_texcoords
from tilescope.tiles.source import TileSource
from tilescope.tiles.view import view_box_in_data

__all__ = ["LayerFrame", "TiledFrames", "is_tiled"]

#: Estimated main-thread cost of a tile uploaded in a frame: fixed per tile plus per byte.
#: The copy alone ran at about 5.8 GB/s headless on llvmpipe (64 float32 256² tiles, 16 MiB,
#: in 2.9 ms; 4 GB/s leaves a margin). The whole frame costs more per tile uploaded: its slot,
#: quads and vertices, the sub-image call and the atlas bookkeeping. Frames of a zarr pyramid
#: measured 1.4 ms plus 0.20 ms of CPU per uint16 256² tile (0.17 ms beyond the copy), so the
#: fixed part is 0.15 ms: with 0.05 ms, an 8 ms budget let a burst of small tiles make a 20-30
#: ms frame.
_UPLOAD_MS_PER_TILE = 0.15
_UPLOAD_MS_PER_BYTE = 1.0 / 4e6


def is_tiled(layer: Layer, dims: DimsState) -> bool:
    """Whether ``layer`` renders through tiles in this view: a 2D Image or Labels layer
    showing two of its own axes (3D volumes and Points keep the slicer)."""
    if dims.ndisplay != 2 or not isinstance(layer, Image | Labels):
        return False
    return len(layer_axes(dims, layer.ndim).displayed_layer) == 2


class TiledFrames:
    """Per-layer tile state and the per-frame resolution of tiled layers (main thread).

    Parameters
    ----------
    loader
        Loads tiles in workers; its results are fed back through :meth:`accept`.
    settings
        Upload budget, VRAM budget, page size and marks.
    max_texture
        The GL context's largest 2D texture (pages never exceed it).
    clock
        Monotonic seconds for the slider's speed (tests pass a fake clock).
    """

    def __init__(
        self,
        loader: ChunkLoader,
        settings: RenderSettings,
        max_texture: int = 16384,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._settings = settings
        self._budget = VramBudget(settings.vram_budget_bytes)
        self._max_texture = max_texture
        self._layers: dict[int, LayerTiles] = {}
        self._upload_spent_ms = 0.0  # this frame's uploads, all layers together
        self.debug = settings.debug_tiles
        self.show_placeholders = settings.show_placeholders
        self.prefetcher = SlicePrefetcher(loader, loader.config.prefetch, clock)

    @property
    def loader(self) -> ChunkLoader:
        return self._loader

    # -- results -------------------------------------------------------------------------
    def accept(self, results: Iterable[LoadResult]) -> int:
        """Sort drained loader results into the layers' arrived / failed tiles; returns how
        many belonged to a current layer source."""
        n = 0
        for r in results:
            state = self._layers.get(r.key.layer_id)
            if state is None or r.key.data_version != state.source.data_version:
                continue
            n += 1
            if r.outcome == "failed" or r.data is None:
                error = r.error or ChunkLoadError(f"loading tile {r.key} failed")
                state.failed[r.key] = error
                state.version += 1
            else:
                state.failed.pop(r.key, None)
                if r.key not in state.atlas:
                    state.arrived[r.key] = r.data
        return n

    @property
    def backlog(self) -> int:
        """Tiles drained but not yet uploaded (another frame is needed while > 0)."""
        return sum(len(s.arrived) for s in self._layers.values())

    # -- layers --------------------------------------------------------------------------
    def drop(self, layer_id: int) -> None:
        """Forget a layer (removed, hidden for good, or no longer tiled): cancel its loads."""
        state = self._layers.pop(layer_id, None)
        self._loader.cancel_layer(layer_id)
        self.prefetcher.forget(layer_id)
        if state is not None:
            state.atlas.clear()

    def layer_ids(self) -> tuple[int, ...]:
        return tuple(self._layers)

    def _state(self, layer: Image | Labels, axes: tuple[int, int]) -> LayerTiles:
        kind: TileKind = "labels" if isinstance(layer, Labels) else "image"
        if isinstance(layer, Image) and layer.rgb:
            kind = "rgb"
        # the tile shape follows from the data, so the same data, axes and kind: same source
        signature = (id(layer.data), layer.data_version, axes, kind)
        state = self._layers.get(layer.layer_id)
        if state is not None and state.signature == signature:
            return state
        if state is not None:
            self.drop(layer.layer_id)
        levels = [fast_reads(layer.level_data(lvl)) for lvl in range(layer.level_shapes.shape[0])]
        octree = self._loader.config.octree
        tile = tile_shape_for_chunks(
            chunk_shape_2d(levels[0], axes), octree.tile_size, octree.max_root_size
        )
        labels = None
        if kind == "labels" and np.dtype(layer.dtype) not in DIRECT_LABEL_DTYPES:
            labels = LabelIndex()
        in_ram = all(isinstance(a, np.ndarray) for a in levels)
        # A large root tile is one read. In RAM that is cheap; for a lazy single array whose
        # coarse levels are computed it would be one worker reading every chunk in turn
        # (seconds), so those levels stop at tile size and their tiles load in parallel.
        max_root = octree.max_root_size
        if len(levels) == 1 and not in_ram:
            max_root = min(max_root, max(tile))
        texel = texel_dtype(kind, [a.dtype for a in levels])
        source = TileSource.create(
            [ConvertedArray(a, kind, labels, texel) for a in levels],
            axes,
            layer_id=layer.layer_id,
            data_version=layer.data_version,
            rgb=kind == "rgb",
            tile_shape=tile,
            max_root_size=max_root,
            downsample="nearest" if kind == "labels" else "mean",
        )
        channels = 4 if kind == "rgb" else 1
        page = min(self._settings.page_size, self._max_texture)
        # a small image needs no big page: pages never exceed its level 0 (in whole slots);
        # a stack of small planes gets pages of four planes, so scrubbing adds few pages
        h0, w0 = source.grid.shape0
        shape = levels[0].shape
        stack = 2 if math.prod(n for a, n in enumerate(shape) if a not in axes) > 1 else 1
        page_shape = (
            max(min(page, -(-h0 // tile[0]) * tile[0] * stack), tile[0]),
            max(min(page, -(-w0 // tile[1]) * tile[1] * stack), tile[1]),
        )
        atlas: TextureAtlas[TileKey] = TextureAtlas(
            self._budget,
            bytes_per_texel=texel.itemsize * channels,
            slot_shape=tile,
            page_shape=page_shape,
            max_texture=self._max_texture,
            max_page_bytes=self._settings.page_bytes,
        )
        state = LayerTiles(source, signature, kind, atlas, labels, cast(TexelName, texel.name))
        self._layers[layer.layer_id] = state
        self._loader.allow_auto_sync(
            layer.layer_id, in_ram and source.grid.n_stored == source.grid.nlevels
        )
        return state

    # -- one frame -----------------------------------------------------------------------
    def resolve(
        self,
        layer: Image | Labels,
        dims: DimsState,
        view_rect: tuple[Sequence[float], Sequence[float]],
        canvas: tuple[int, int],
    ) -> LayerFrame:
        """Resolve ``layer``'s part of the frame (see the module docstring)."""
        axes = layer_axes(dims, layer.ndim)
        shown = axes.displayed_layer
        if len(shown) != 2:
            raise TilescopeError(f"layer {layer.name!r} does not show two of its axes")
        state = self._state(layer, (shown[0], shown[1]))
        # Nothing that places or picks tiles changed, nothing arrived, nothing failed: the
        # last frame stands (only display settings may differ); the loader already has it.
        geometry = (
            dims,
            (tuple(view_rect[0]), tuple(view_rect[1])),
            canvas,
            layer.transform,
            layer.locked_data_level,
            getattr(layer, "projection_mode", "none"),
            state.version,
        )
        last = state.last_frame
        if (
            last is not None
            and state.last_geometry == geometry
            and not state.arrived
            and not last.failed
        ):
            draw = last.draw
            if draw is not None:
                draw = self._draw(layer, state, draw.quads, draw.transform)
            self.prefetcher.mark(layer.layer_id)  # the slider may have come to rest
            return dataclasses.replace(last, draw=draw)
        frame = self._resolve(layer, dims, axes, state, view_rect, canvas)
        if self._take_cached(state):  # answered from RAM while planning: draw them now
            frame = self._resolve(layer, dims, axes, state, view_rect, canvas)
        state.last_frame = frame
        state.last_geometry = geometry
        return frame

    def _take_cached(self, state: LayerTiles) -> bool:
        """Accept what the loader posted while this layer planned (cache hits, auto-sync
        loads); True when some of it arrived for this layer."""
        before = len(state.arrived)
        results = self._loader.drain()
        if not results:
            return False
        self.accept(results)
        return len(state.arrived) > before

    def _resolve(
        self,
        layer: Image | Labels,
        dims: DimsState,
        axes: LayerAxes,
        state: LayerTiles,
        view_rect: tuple[Sequence[float], Sequence[float]],
        canvas: tuple[int, int],
    ) -> LayerFrame:
        source = state.source
        placement = self._placement(layer, dims, axes, state)
        if placement is None:  # the slice lies outside the data: nothing to draw
            self._loader.set_wanted(layer.layer_id, ())
            self.prefetcher.none(layer.layer_id)
            return LayerFrame(None, 0, 0)
        slice0, tiles, transform = placement.slice0, placement.tiles, placement.transform
        box = None if placement.inverse is None else _view_box(placement.inverse, view_rect)
        if box is None:  # the plane is seen edge-on: napari's block of the transform
            found = view_box_in_data(layer, view_rect[0], view_rect[1], dims)
            if found is None:
                return LayerFrame(None, 0, 0)
            box = found[0]
        margin, locked = self._loader.config.octree.margin_tiles, layer.locked_data_level
        asked = (box.tobytes(), canvas, margin, locked, source.grid)
        memo = state.view_memo
        if memo is not None and memo[0] == asked:  # a frame for arrived tiles: same view
            view = memo[1]
        else:
            view = visible_tiles(
                source.grid, box[0], box[1], canvas, margin=margin, locked_level=locked
            )
            state.view_memo = (asked, view)
        view = state.prefetch_ahead(view)
        estimate = self._estimate_contrast(layer, state, tiles)
        quads, plan, over = self._plan(state, tiles, view, estimate)
        octree = self._loader.config.octree
        channels = 4 if state.kind == "rgb" else 1
        self.prefetcher.note(
            source, slice0, view, octree.coverage_levels, 4 * channels, placement.thick
        )
        draw = self._draw(layer, state, quads, transform)
        failed = tuple((key, state.failed[key]) for key in plan.ideal if key in state.failed)
        return LayerFrame(
            draw,
            len(plan.ideal),
            plan.n_ideal_resident,
            failed,
            over,
            view.level,
            _corners(source, view),
            tuple(slice0),
            estimate is not None,
            state.stand_in,
        )

    def _placement(
        self, layer: Image | Labels, dims: DimsState, axes: LayerAxes, state: LayerTiles
    ) -> Placement | None:
        """Where the current slice lies (None: outside the data); memoized per layer while the
        dims, the transform and the projection stay (camera moves change none of them)."""
        mode = layer.projection_mode if isinstance(layer, Image) else "none"
        key = (dims, axes, mode, state.source)
        memo = state.placement
        if memo is not None and memo[1] is layer.transform and memo[0] == key:
            return memo[2]
        point, left, right, plane_of = _plane_map(layer.transform, axes, state).at(dims)
        shapes0 = layer.level_shapes[0]
        slice0: list[int] = []
        windows0: list[tuple[int, int]] = []
        offsets: list[tuple[int, int]] = []
        placement: Placement | None = None
        for axis, p, ml, mr in zip(axes.not_displayed, point, left, right, strict=True):
            n = int(shapes0[axis])
            index = point_index(float(p), n)
            window = window_indices(float(p), float(ml), float(mr), n, mode)
            if window is None:
                break
            s0 = window[0] if index is None else index
            slice0.append(s0)
            windows0.append(window)
            if mode != "none":  # the window around s0 before clipping, for the prefetch
                lo, hi = thick_bounds(float(p), float(ml), float(mr))
                offsets.append((lo - s0, hi - s0))
        else:
            tiles = state.tile_slice(tuple(slice0), tuple(windows0), mode)
            plane, inverse = plane_of(point)
            if inverse is not None:
                kind = "labels" if isinstance(layer, Labels) else "image"
                plane = checked_transform(plane, 2, kind, layer.layer_id)
            # else the draw refuses the plane, naming the layer
            thick = ThickSlice(mode, tuple(offsets)) if mode != "none" else None
            placement = Placement(tuple(slice0), tiles, plane, inverse, thick)
        state.placement = (key, layer.transform, placement)
        return placement

    def _plan(
        self, state: LayerTiles, tiles: TileSlice, view: ViewTiles, estimate: TileKey | None
    ) -> tuple[tuple[TileQuad, ...], CoveragePlan, int]:
        """Coverage, the loader told what to load (``estimate``: see ``_want``), uploads within
        the budget, and quads (memoized while nothing changed)."""
        memo = (tiles.level_slices, view, state.version)
        if not state.arrived and state.memo == memo and state.memo_value is not None:
            state.atlas.touch(state.last_draw)
            self._want(state, state.memo_value[1], estimate)
            return state.memo_value
        if state.memo is not None and state.memo[:2] != memo[:2]:
            state.no_room.clear()
        octree = self._loader.config.octree
        coverage = octree.coverage_levels
        finer = octree.finer_depth

        def plan_now() -> CoveragePlan:
            # the slice's resident positions change only when the atlas does (version)
            memo = (tiles.level_slices, tiles.level_windows, tiles.projection, state.version)
            if state.resident_memo is None or state.resident_memo[0] != memo:
                resident = tiles.owned_positions(state.atlas.keys)
                state.resident_memo = (memo, resident)
            return plan_coverage(
                tiles, view, state.resident_memo[1], coverage_levels=coverage, finer_depth=finer
            )

        plan = plan_now()
        new_view = not state.arrived
        if new_view:
            # A new view or slice: asked for before the uploads, what the RAM cache holds (a
            # slider step's prefetched coarse tiles, a pan back) is posted at once and
            # uploaded in this pass. Asked for after, it made the caller resolve the layer
            # twice, quads and stand-in search included. (A frame for arrived tiles asks
            # once, after its uploads: its cache hits are rare and the caller still takes
            # them.)
            self._want(state, plan, estimate)
            self._take_cached(state)
        uploads = self._upload(state, tiles, plan)
        if uploads:
            plan = plan_now()
        if uploads or not new_view:
            self._want(state, plan, estimate)  # after uploads: what they made resident, let go
        draw_keys = [k for k in plan.draw if k in state.atlas]
        # visible ideal tiles that arrived but found no slot: the budget cannot hold the view
        over = sum(1 for k in plan.ideal if k in state.no_room)
        state.atlas.touch(draw_keys)
        state.last_draw = frozenset(draw_keys)
        state.stand_in = None
        if draw_keys or tiles.projection != "none" or not self.prefetcher.settings.stand_in:
            quads = self._quads(state, tiles, plan, draw_keys, view.level)
        else:  # nothing of this slice is resident: the nearest resident slice stands in
            stand_in = self._stand_in(state, tiles, view)
            state.atlas.touch(stand_in)
            quads = self._quads(state, tiles, plan, stand_in, -1)
        value = (quads, plan, over)
        state.uploads.extend(uploads)
        state.memo = (tiles.level_slices, view, state.version)
        state.memo_value = value
        return value

    def _stand_in(self, state: LayerTiles, tiles: TileSlice, view: ViewTiles) -> list[TileKey]:
        """The resident tiles in view of the nearest slice that has some (placeholders for a
        slice with nothing resident yet); sets ``state.stand_in``."""
        # a walk over every resident key (thousands): regrouped only when the atlas changed
        memo_key = (state.version, tiles.displayed)
        memo = state.stand_in_groups
        if memo is not None and memo[0] == memo_key:
            groups = memo[1]
        else:
            groups = {}
            for key in state.atlas.keys:
                if key.projection == "none" and key.displayed == tiles.displayed:
                    groups.setdefault((key.level, key.slice), []).append(key)
            state.stand_in_groups = (memo_key, groups)
        if not groups:
            return []
        source = state.source
        nd = source.not_displayed
        n_stored = len(source.arrays)
        planes = [
            tuple(int(source.arrays[min(lvl, n_stored - 1)].shape[a]) for a in nd)
            for lvl in range(source.grid.nlevels)
        ]
        found = nearest_slice(tiles.level_slices, groups, planes)
        if found is None:
            return []
        level = found[0]
        in_view = set(
            visible_tiles(
                source.grid, view.view_min, view.view_max, view.canvas_shape, locked_level=level
            ).visible
        )
        keys = [k for k in groups[found] if k.position in in_view]
        if keys:
            state.stand_in = found
        return keys

    def _upload(self, state: LayerTiles, tiles: TileSlice, plan: CoveragePlan) -> list[TileUpload]:
        """Allocate slots for arrived tiles the plan wants, coarse first, within the budget."""
        if not state.arrived:
            return []
        wanted = {load.key: load for load in plan.load}
        for key in [k for k in state.arrived if k not in wanted]:
            del state.arrived[key]  # no longer wanted for this view; the RAM cache has it
        order = sorted(
            (k for k in state.arrived if k in wanted),
            key=lambda k: (-k.level, wanted[k].distance),
        )
        # one budget for the frame, shared by every layer (at least one tile per frame)
        budget = self._settings.upload_budget_ms - self._upload_spent_ms
        spent = 0.0
        first = self._upload_spent_ms == 0.0
        protected = set(plan.draw) | set(state.last_draw)
        uploads: list[TileUpload] = []
        for key in order:
            data = state.arrived[key]
            cost = _UPLOAD_MS_PER_TILE + data.nbytes * _UPLOAD_MS_PER_BYTE
            if (uploads or not first) and spent + cost > budget:
                break
            slot = state.atlas.allocate(key, (int(data.shape[0]), int(data.shape[1])), protected)
            if slot is None:  # the VRAM budget cannot hold more of this view
                state.no_room.add(key)  # not asked for again while the view stays
                del state.arrived[key]
                continue
            del state.arrived[key]
            uploads.append(TileUpload(slot.page, slot.y, slot.x, data))
            protected.add(key)
            spent += cost
        self._upload_spent_ms += spent
        if uploads:
            state.version += 1
        return uploads

    def _quads(
        self,
        state: LayerTiles,
        tiles: TileSlice,
        plan: CoveragePlan,
        draw_keys: Sequence[TileKey],
        ideal: int,
    ) -> tuple[TileQuad, ...]:
        grid = tiles.grid
        positions = [k.position for k in draw_keys]
        rects = disjoint_rects(grid, positions)
        quads: list[TileQuad] = []
        memo: dict[TileKey, tuple[Any, ...]] = {}
        previous = state.quad_memo
        for key, pos in zip(draw_keys, positions, strict=True):
            slot = state.atlas.lookup(key)
            if slot is None:
                continue
            tile_state = TILE_FINAL if pos[0] == ideal else TILE_PLACEHOLDER
            tile_rects = rects.get(pos, ())
            # a tile drawn again with the same rectangles, slot and mark: the same quads
            hit = previous.get(key)
            if hit is not None and hit[:3] == (tile_rects, slot, tile_state):
                memo[key] = hit
                quads.extend(hit[3])
                continue
            start = len(quads)
            lvl = grid.levels[pos[0]]
            y0, y1, x0, x1 = lvl.pixel_bounds(pos[1], pos[2])
            box = (
                float(slot.y),
                float(slot.y + y1 - y0),
                float(slot.x),
                float(slot.x + x1 - x0),
            )
            for rect in tile_rects:
                ty0, ty1, tx0, tx1 = tile_texcoords(grid, pos, rect)
                tex = (slot.y + ty0, slot.y + ty1, slot.x + tx0, slot.x + tx1)
                quads.append(TileQuad(slot.page, rect, tex, box, pos[0], tile_state))
            memo[key] = (tile_rects, slot, tile_state, tuple(quads[start:]))
        state.quad_memo = memo
        for key in plan.ideal:
            if key in state.failed:
                rect = grid.tile_edge_bounds(key.position)
                quads.append(TileQuad(-1, rect, rect, rect, key.level, TILE_FAILED))
        return tuple(quads)

    def _want(self, state: LayerTiles, plan: CoveragePlan, extra: TileKey | None) -> None:
        """Tell the loader what this layer wants (not tiles already here, drawn or arrived);
        ``extra`` is a tile wanted besides the plan's (the root, for contrast limits).

        A coarser stand-in served by the same pool as the ideal tiles is not read while
        ideal tiles are: it would queue behind all of them (a pool runs finer levels first)
        and arrive with or after the tiles it stands in for, never to be drawn. Stand-ins
        in the RAM cache, and those from the coarser levels' own pool (which load beside
        the ideal tiles), are still asked for and shown first.
        """
        skip = state.arrived.keys() | state.no_room
        loads = plan.load
        if skip:
            loads = tuple(load for load in loads if load.key not in skip)
        loader = self._loader
        ideal_pool = loader.pool_for(0)
        if any(load.level_offset == 0 for load in loads):
            loads = tuple(
                load
                for load in loads
                if load.level_offset == 0
                or loader.pool_for(load.level_offset) is not ideal_pool
                or load.key in loader.cache  # in RAM: shown at once, no read
            )
        if extra is not None and all(load.key != extra for load in loads):
            loads = (TileLoad(extra, max(extra.level - plan.ideal_level, 0), 0.0), *loads)
        if loads is not plan.load:
            plan = CoveragePlan(
                plan.ideal_level, plan.draw, loads, plan.ideal, plan.n_ideal_resident
            )
        want_plan(self._loader, plan, state.source)

    def _estimate_contrast(
        self, layer: Layer, state: LayerTiles, tiles: TileSlice
    ) -> TileKey | None:
        """Lazy data: provisional contrast limits come from the root tile (the coarsest level:
        the same tile whatever arrives first, so the picture never depends on timing).

        Returns the root tile's key while it is still needed (the loader is asked for it).
        """
        if state.estimated or not isinstance(layer, Image) or not layer.contrast_limits_pending:
            return None
        key = tiles.key((state.source.grid.root_level, 0, 0))
        data = self._loader.cache.peek(key)
        if data is None:
            return None if key in state.failed else key  # a failed root: keep the defaults
        from tilescope.models.layers._range import limits_from_values

        values = data[..., :3] if state.kind == "rgb" else data
        limits, limits_range = limits_from_values(values, np.dtype(layer.dtype), True)
        layer.apply_contrast_limits_estimate(limits, limits_range, layer.data_version)
        state.estimated = True
        return None

    def _draw(
        self,
        layer: Image | Labels,
        state: LayerTiles,
        quads: tuple[TileQuad, ...],
        transform: npt.NDArray[np.float64],
    ) -> TiledDraw:
        uploads = tuple(state.uploads)
        specs = state.atlas.pages
        if state.pages_from is not specs:  # the same tuple until a page comes or goes
            state.pages_from = specs
            state.pages = tuple(TilePage(p.page, p.shape) for p in specs)
        pages = state.pages
        common: dict[str, Any] = {
            "key": layer.layer_id,
            "transform": transform,
            "pages": pages,
            "quads": quads,
            "uploads": uploads,
            "opacity": layer.opacity,
            "blending": layer.blending,
            "visible": layer.visible,
            "show_placeholders": self.show_placeholders,
            "debug": self.debug,
            "data_version": layer.data_version,
            "next_page": state.atlas.upcoming_page(),
            "texel": state.texel,
        }
        if isinstance(layer, Labels):
            if state.labels is not None:
                lut, lut_version = state.labels.table()
            else:
                lut = np.arange(1 << (8 * np.dtype(layer.dtype).itemsize), dtype=np.int64)
                lut_version = 0
            colormap = LabelColormap(
                colors=layer.color,
                default=layer.default_colors,
                background=layer.background_label,
                version=layer.color_version,
            )
            draw = TiledDraw(
                kind="labels",
                label_colormap=colormap,
                lut=lut,
                lut_version=lut_version,
                **common,
            )
        else:
            draw = TiledDraw(
                kind="image",
                channels=4 if state.kind == "rgb" else 1,
                contrast_limits=layer.contrast_limits,
                colormap=layer.colormap,
                gamma=layer.gamma,
                interpolation=layer.interpolation,
                **common,
            )
        state.last_tiled = draw
        return draw

    def hidden(self, layer: Layer) -> TiledDraw | None:
        """A hidden layer's last draw, invisible: the backend keeps its atlas pages (they hold
        the resident tiles), so showing the layer again is instant. A hidden layer adds no
        page: nothing is announced, and a page texture made ahead is let go."""
        state = self._layers.get(layer.layer_id)
        if state is None or state.last_tiled is None:
            return None
        state.atlas.withdraw_upcoming()
        return dataclasses.replace(state.last_tiled, visible=False, uploads=(), next_page=None)

    def forget_failures(self) -> None:
        """Failed tiles are wanted again like any other (``ChunkLoader.retry`` clears their
        back-off): the next frame asks for them."""
        for state in self._layers.values():
            if state.failed:
                state.failed.clear()
                state.version += 1

    def applied(self) -> None:
        """The last resolved draws went to the backend: their uploads are done (the next
        frame has its own upload budget)."""
        self._upload_spent_ms = 0.0
        for state in self._layers.values():
            state.uploads.clear()

    @property
    def has_uploads(self) -> bool:
        """Some resolved draw carries uploads the backend has not had yet."""
        return any(state.uploads for state in self._layers.values())

    # -- queries -------------------------------------------------------------------------
    def value_at(self, layer: Layer, data_point: Sequence[float]) -> Any:
        """The value of the finest drawn tile under level-0 data coordinates ``data_point``
        (displayed axes), from tiles already in RAM; None when none is there."""
        state = self._layers.get(layer.layer_id)
        if state is None:
            return None
        grid = state.source.grid
        y, x = (float(v) + 0.5 for v in data_point)  # edge coordinates
        best: tuple[int, TileKey] | None = None
        for key in state.last_draw:
            y0, y1, x0, x1 = grid.tile_edge_bounds(key.position)
            if y0 <= y < y1 and x0 <= x < x1 and (best is None or key.level < best[0]):
                best = (key.level, key)
        if best is None:
            return None
        key = best[1]
        data = self._loader.cache.peek(key)
        if data is None:
            return None
        fy, fx = grid.factors[key.level]
        lvl = grid.levels[key.level]
        ty0, _, tx0, _ = lvl.pixel_bounds(key.row, key.col)
        r = min(max(math.floor(y / fy) - ty0, 0), data.shape[0] - 1)
        c = min(max(math.floor(x / fx) - tx0, 0), data.shape[1] - 1)
        value = data[r, c]
        if state.kind == "labels":
            index = int(value)
            if state.labels is not None:
                table, _ = state.labels.table()
                return int(table[index]) if index < table.size else None
            return index
        if state.kind == "rgb":
            return tuple(float(v) for v in value[:3])
        return float(value)

    def close(self) -> None:
        for layer_id in list(self._layers):
            self.drop(layer_id)


@dataclass(frozen=True, slots=True, eq=False)
class _PlaneMap:
    """The parts of :func:`data_slice_point` and :func:`plane_to_world` that depend only on a
    layer's transform and axes, so a slider step costs a few small products (it made the
    transform's subset and checked it every step)."""

    world_axes: npt.NDArray[np.intp]
    w2d_linear: npt.NDArray[np.float64]
    w2d_translate: npt.NDArray[np.float64]
    linear: npt.NDArray[np.float64]
    """Data -> world of the displayed axes, ``(2, 2)``."""
    cross: npt.NDArray[np.float64]
    """How the sliced data axes move the plane in world, ``(2, len(not_displayed))``."""
    translate: npt.NDArray[np.float64]
    inverse_linear: npt.NDArray[np.float64] | None

    def at(
        self, dims: DimsState
    ) -> tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], Any]],
    ]:
        """``(point, margin_left, margin_right)`` in data coordinates of the sliced axes (as
        :func:`data_slice_point`), and the plane's placement for a point."""
        ax = self.world_axes
        lin = self.w2d_linear
        p = lin @ np.asarray(dims.point, dtype=np.float64)[ax] + self.w2d_translate
        ml = lin @ np.asarray(dims.margin_left, dtype=np.float64)[ax]
        mr = lin @ np.asarray(dims.margin_right, dtype=np.float64)[ax]
        return p, ml, mr, self.plane

    def plane(
        self, point: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
        """``(3, 3)`` plane -> world map at ``point`` (as :func:`plane_to_world`) and its
        inverse (None: not invertible)."""
        t = self.translate + (self.cross @ point if point.size else 0.0)
        plane = np.eye(3)
        plane[:2, :2] = self.linear
        plane[:2, 2] = t
        inv_lin = self.inverse_linear
        if inv_lin is None:
            return plane, None
        inverse = np.eye(3)
        inverse[:2, :2] = inv_lin
        inverse[:2, 2] = -(inv_lin @ t)
        if not np.all(np.isfinite(inverse)):
            return plane, None
        return plane, inverse


def _plane_map(transform: Any, axes: LayerAxes, state: LayerTiles) -> _PlaneMap:
    """``state``'s :class:`_PlaneMap` for ``transform`` and ``axes`` (kept while both stay)."""
    memo = state.plane_map
    if memo is not None and memo[0] is transform and memo[1] == axes:
        return cast(_PlaneMap, memo[2])
    shown = list(axes.displayed_layer)
    nd = list(axes.not_displayed)
    off = axes.ndim_world - axes.ndim_layer
    w2d = transform.world_to_data
    idx = np.array(nd, dtype=np.intp)
    w = transform.data_to_world.matrix
    linear = np.array(w[np.ix_(shown, shown)], dtype=np.float64)
    try:
        inverse_linear: npt.NDArray[np.float64] | None = np.asarray(
            np.linalg.inv(linear), np.float64
        )
    except np.linalg.LinAlgError:
        inverse_linear = None
    pm = _PlaneMap(
        world_axes=idx + off,
        w2d_linear=np.array(w2d.linear[np.ix_(idx, idx)], dtype=np.float64),
        w2d_translate=np.array(w2d.translate[idx], dtype=np.float64),
        linear=linear,
        cross=np.array(w[np.ix_(shown, nd)], dtype=np.float64).reshape(len(shown), len(nd)),
        translate=np.array(w[shown, -1], dtype=np.float64),
        inverse_linear=inverse_linear,
    )
    state.plane_map = (transform, axes, pm)
    return pm


def _view_box(
    inv: npt.NDArray[np.float64], view_rect: tuple[Sequence[float], Sequence[float]]
) -> npt.NDArray[np.float64] | None:
    """``(2, 2)`` min/max level-0 data coordinates of a world view rectangle, through
    ``inv``, the inverse of the slice plane's placement (None: not finite)."""
    (y0, x0), (y1, x1) = view_rect
    # plain floats: a 3x3 by 3x4 product and its bounds cost more in numpy's overheads
    (a, b, c), (d, e, f) = inv.tolist()[:2]
    corners = ((y0, x0), (y0, x1), (y1, x0), (y1, x1))
    ys = [a * y + b * x + c for y, x in corners]
    xs = [d * y + e * x + f for y, x in corners]
    if not all(map(math.isfinite, ys + xs)):
        return None
    return np.array([[min(ys), min(xs)], [max(ys), max(xs)]], dtype=np.float64)


def _corners(source: TileSource, view: ViewTiles) -> npt.NDArray[np.int64] | None:
    """Inclusive pixel bounds, at the ideal level, of the visible ideal tiles."""
    if not view.rows or not view.cols:
        return None
    lvl = source.grid.levels[view.level]
    y0, _, x0, _ = lvl.pixel_bounds(view.rows.start, view.cols.start)
    _, y1, _, x1 = lvl.pixel_bounds(view.rows.stop - 1, view.cols.stop - 1)
    return np.array([[y0, x0], [y1 - 1, x1 - 1]], dtype=np.int64)
