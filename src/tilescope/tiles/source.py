"""Where a tile's pixels come from: reading stored levels, computing coarser ones.

A :class:`TileSource` ties a layer's arrays (any object with ``shape``,
``dtype``, ``ndim`` and ``__getitem__``: numpy, dask, zarr, tensorstore...) to
its :class:`~tilescope.tiles.grid.TileGrid`.  The main thread uses it only for
cheap bookkeeping (:meth:`TileSource.tile_slice`, :meth:`TileSource.index`);
:meth:`TileSource.read_tile` is **called in loader workers** — it is where
``np.asarray`` on layer data happens.

Stored levels are read as ``array[index]`` (a view for numpy: a level-zero grid
of a non-multiscale array copies nothing until a tile is read).  Computed levels
are built from the level below: from the child tiles when a ``lookup`` (the
chunk cache) has them all, else by reading the region of the stored level below
in one go, else recursively from the children; each step halves the resolution
(``"mean"`` of 2x2 blocks, or ``"nearest"`` for label data).  A cancel token is
checked between steps.

Thick slices (a key with a ``projection`` and a ``window``) are projected in the
worker: a stored level reads the window's planes and reduces them with
:func:`~tilescope.tiles.projection.project`, the slicer's reducer.  A computed
level of a thick slice is the 2x downsample of the *projected* level below (project
first, then downsample; the same whether it is built from cached child tiles or
from one read of the stored level below), so every level of a projection is the
pyramid of the coarsest stored level's projection.

Dask arrays are computed with the synchronous scheduler (the loader's workers
are the parallelism; no nested thread pools) and with ``callbacks=[]``, which
bypasses globally registered dask callbacks — notably ``dask.cache.Cache``, the
opportunistic cache napari installs — and avoids dask's thread-unsafe swap of
the global callback set.  Dask keeps no computed results, so tilescope's
:class:`~tilescope.loading.cache.ChunkCache` is the only tile cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from tilescope.data.protocol import ArrayLike, shape_of
from tilescope.data.validate import indexed_shape, validate_read
from tilescope.tiles.geometry import Window, plane_at_level, window_at_level
from tilescope.tiles.grid import (
    CoarserLevels,
    Position,
    TileGrid,
    TileKey,
    TileSlice,
    build_tile_grid,
)
from tilescope.tiles.projection import PROJECTION_MODES, project

__all__ = [
    "ArrayLike",
    "CancelCheck",
    "Downsample",
    "TileSource",
    "downsample2",
    "materialize",
]

Downsample = Literal["mean", "nearest"]


class CancelCheck(Protocol):
    """Anything with ``raise_if_cancelled()`` (a loader cancel token)."""

    def raise_if_cancelled(self) -> None: ...


def _is_dask(obj: object) -> bool:
    return type(obj).__module__.split(".", 1)[0] == "dask" and hasattr(obj, "compute")


def materialize(region: object) -> npt.NDArray[Any]:
    """Turn an indexed region of layer data into a numpy array.  Worker threads only.

    Dask collections are computed with ``scheduler="sync"`` and ``callbacks=[]``
    (see the module docstring: no dask-side caching, no nested pools).
    """
    if _is_dask(region):
        computed = region.compute(scheduler="sync", callbacks=[])  # type: ignore[attr-defined]
        return np.asarray(computed)
    return np.asarray(region)


def downsample2(a: npt.NDArray[Any], method: Downsample = "mean") -> npt.NDArray[Any]:
    """Halve the resolution of the first two axes (rounding the size up).

    ``"mean"`` averages 2x2 blocks (odd edges replicate the last row/column;
    integers are rounded back to their dtype); ``"nearest"`` keeps every other
    pixel (for labels, where averaging would invent label values).
    """
    if a.ndim < 2:
        raise ValueError(f"downsample2 needs at least 2 axes, got shape {a.shape}")
    if method == "nearest" or a.dtype == np.bool_:
        return np.ascontiguousarray(a[::2, ::2])
    if method != "mean":
        raise ValueError(f"downsample method must be 'mean' or 'nearest', not {method!r}")
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    small_int = a.dtype.kind in "iu" and a.dtype.itemsize <= 2
    acc_dtype = np.float32 if (small_int or a.dtype == np.float32) else np.float64
    acc: npt.NDArray[np.floating[Any]] = a[0::2, 0::2].astype(acc_dtype)
    acc += a[1::2, 0::2]
    acc += a[0::2, 1::2]
    acc += a[1::2, 1::2]
    acc *= 0.25
    if a.dtype.kind in "iu":
        np.rint(acc, out=acc)
    return acc.astype(a.dtype, copy=False)


@dataclass(frozen=True, slots=True)
class TileSource:
    """A layer's arrays plus its tile grid: knows how to produce any tile.

    ``arrays`` are the stored levels (full n-D), ``displayed`` the two data axes
    shown as (rows, columns).  With ``rgb`` the last axis is a colour channel,
    kept whole and never sliced.  Instances pickle with their arrays, so they can
    be sent to worker processes (cheap for zarr/tensorstore, a copy for numpy).
    """

    arrays: tuple[ArrayLike, ...]
    displayed: tuple[int, int]
    grid: TileGrid
    layer_id: int
    data_version: int
    rgb: bool = False
    downsample: Downsample = "mean"

    @classmethod
    def create(
        cls,
        arrays: Sequence[ArrayLike],
        displayed: tuple[int, int],
        *,
        layer_id: int,
        data_version: int = 0,
        rgb: bool = False,
        tile_shape: int | Sequence[int] = 256,
        max_root_size: int | Sequence[int] = 1024,
        coarser_levels: CoarserLevels = "auto",
        downsample: Downsample = "mean",
    ) -> TileSource:
        """Build the grid from the arrays' shapes and return the source."""
        if not arrays:
            raise ValueError("a TileSource needs at least one array")
        ndim = arrays[0].ndim
        spatial = ndim - 1 if rgb else ndim
        if len(displayed) != 2 or len(set(displayed)) != 2:
            raise ValueError(f"displayed must name two distinct axes, got {displayed!r}")
        if any(not 0 <= d < spatial for d in displayed):
            raise ValueError(f"displayed axes {displayed!r} out of range for {spatial} axes")
        if any(a.ndim != ndim for a in arrays):
            raise ValueError("every level must have the same number of dimensions")
        shapes = [(int(a.shape[displayed[0]]), int(a.shape[displayed[1]])) for a in arrays]
        grid = build_tile_grid(shapes, tile_shape, max_root_size, coarser_levels)
        return cls(tuple(arrays), displayed, grid, layer_id, data_version, rgb, downsample)

    # -- main-thread bookkeeping --------------------------------------------
    @property
    def not_displayed(self) -> tuple[int, ...]:
        """Sliced data axes (data-axis order; excludes the rgb channel axis)."""
        ndim = self.arrays[0].ndim - (1 if self.rgb else 0)
        return tuple(d for d in range(ndim) if d not in self.displayed)

    def _stored_for(self, level: int) -> int:
        # computed levels share the coarsest stored level's planes
        return min(level, len(self.arrays) - 1)

    def slice_at_level(self, slice0: Sequence[int], level: int) -> tuple[int, ...]:
        """Not-displayed indices at ``level`` for level-0 indices ``slice0``.

        The plane that contains the level-0 plane
        (:func:`~tilescope.tiles.geometry.plane_at_level`: ``floor((i + 0.5) / f)``,
        clipped; the slicer's rule too).  Computed levels use the coarsest stored
        level's planes.
        """
        nd = self.not_displayed
        if len(slice0) != len(nd):
            raise ValueError(
                f"slice has {len(slice0)} indices for {len(nd)} not-displayed axes {nd}"
            )
        shape0 = self.arrays[0].shape
        shape = self.arrays[self._stored_for(level)].shape
        return tuple(
            plane_at_level(int(index), int(shape0[axis]), int(shape[axis]))
            for axis, index in zip(nd, slice0, strict=True)
        )

    def windows_at_level(self, windows0: Sequence[Window], level: int) -> tuple[Window, ...]:
        """Thick-slice windows at ``level`` for level-0 windows (one per not-displayed axis).

        Every plane of ``level`` that overlaps the level-0 ``[start, stop)``
        (:func:`~tilescope.tiles.geometry.window_at_level`); computed levels use the
        coarsest stored level's planes.
        """
        nd = self.not_displayed
        if len(windows0) != len(nd):
            raise ValueError(
                f"{len(windows0)} windows for {len(nd)} not-displayed axes {nd}; "
                "give one [start, stop) per not-displayed axis"
            )
        shape0 = self.arrays[0].shape
        shape = self.arrays[self._stored_for(level)].shape
        out = []
        for axis, (start, stop) in zip(nd, windows0, strict=True):
            n0 = int(shape0[axis])
            if not 0 <= start < stop <= n0:
                raise ValueError(
                    f"window [{start}, {stop}) on axis {axis} must be non-empty "
                    f"and within [0, {n0}] (the axis has {n0} planes)"
                )
            out.append(window_at_level((int(start), int(stop)), n0, int(shape[axis])))
        return tuple(out)

    def tile_slice(
        self,
        slice0: Sequence[int],
        windows0: Sequence[Window] | None = None,
        projection: str = "none",
    ) -> TileSlice:
        """The :class:`TileSlice` (key factory) of one slice, given level-0 indices.

        A thick slice: ``projection`` ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``,
        reducing, per not-displayed axis, the level-0 planes ``windows0[j] = [start,
        stop)`` (default: the one plane ``slice0[j]``), mapped to each level with
        :meth:`windows_at_level`.  Tiles of a thick slice are projected in the worker
        (:meth:`read_tile`).  A source without not-displayed axes has nothing to
        project: its keys are plain whatever ``projection`` says.
        """
        if projection not in PROJECTION_MODES:
            raise ValueError(
                f"projection must be one of {list(PROJECTION_MODES)}, got {projection!r}"
            )
        if projection == "none" and windows0 is not None:
            raise ValueError("windows0 is for thick slices: pass a projection other than 'none'")
        nlevels = self.grid.nlevels
        slices = tuple(self.slice_at_level(slice0, lvl) for lvl in range(nlevels))
        if projection == "none" or not self.not_displayed:
            return TileSlice(self.grid, self.layer_id, self.data_version, slices, self.displayed)
        if windows0 is None:
            windows0 = [(int(i), int(i) + 1) for i in slice0]
        windows = tuple(self.windows_at_level(windows0, lvl) for lvl in range(nlevels))
        return TileSlice(
            self.grid, self.layer_id, self.data_version, slices, self.displayed, windows, projection
        )

    def index(self, key: TileKey) -> tuple[int | slice, ...]:
        """The numpy index of a *stored* tile into ``arrays[key.level]``."""
        if key.level >= len(self.arrays):
            raise ValueError(f"level {key.level} is computed, not stored; use read_tile")
        y0, y1, x0, x1 = self.grid.levels[key.level].pixel_bounds(key.row, key.col)
        return self._index(key.level, key.slice, key.window, y0, y1, x0, x1)

    def _index(
        self,
        level: int,
        sl: tuple[int, ...],
        window: tuple[Window, ...],
        y0: int,
        y1: int,
        x0: int,
        x1: int,
    ) -> tuple[int | slice, ...]:
        index: list[int | slice] = [slice(None)] * self.arrays[level].ndim
        if window:
            for axis, (start, stop) in zip(self.not_displayed, window, strict=True):
                index[axis] = slice(start, stop)
        else:
            for axis, i in zip(self.not_displayed, sl, strict=True):
                index[axis] = i
        index[self.displayed[0]] = slice(y0, y1)
        index[self.displayed[1]] = slice(x0, x1)
        return tuple(index)

    # -- worker side -----------------------------------------------------------
    def _read_region(
        self, level: int, key: TileKey, y0: int, y1: int, x0: int, x1: int
    ) -> npt.NDArray[Any]:
        """Read a pixel region of a stored level, displayed axes first (rows, cols[, c]).

        A thick-slice key reads its window on the not-displayed axes and reduces
        them with :func:`~tilescope.tiles.projection.project` (here, in the worker).
        """
        index = self._index(level, key.slice, key.window, y0, y1, x0, x1)
        array = self.arrays[level]
        region = validate_read(  # a wrong shape or an undrawable dtype is a failed load
            materialize(array[index]),
            indexed_shape(shape_of(array), index),
            what=f"layer {key.layer_id} tile (level {level}, row {key.row}, col {key.col})",
        )
        if key.window:
            region = project(region, self.not_displayed, key.projection)
        # after integer indexing (or projecting), the displayed axes keep their
        # relative data order
        if self.displayed[0] > self.displayed[1]:
            region = np.swapaxes(region, 0, 1)
        return region

    def read_tile(
        self,
        key: TileKey,
        cancel: CancelCheck | None = None,
        lookup: Callable[[TileKey], npt.NDArray[Any] | None] | None = None,
        store: Callable[[TileKey, npt.NDArray[Any]], object] | None = None,
    ) -> npt.NDArray[Any]:
        """Return a tile's pixels ``(h, w)`` or ``(h, w, c)``.  **Worker threads only.**

        ``lookup`` returns already-available tiles (the chunk cache); ``store``
        receives intermediate tiles built on the way to a computed tile, so they
        are cached too.  ``cancel.raise_if_cancelled()`` is called between steps.
        """
        if cancel is not None:
            cancel.raise_if_cancelled()
        lvl = self.grid.levels[key.level]
        y0, y1, x0, x1 = lvl.pixel_bounds(key.row, key.col)
        if lvl.stored:
            return self._read_region(key.level, key, y0, y1, x0, x1)
        return self._compute_tile(key, y0, y1, x0, x1, cancel, lookup, store)

    def _compute_tile(
        self,
        key: TileKey,
        y0: int,
        y1: int,
        x0: int,
        x1: int,
        cancel: CancelCheck | None,
        lookup: Callable[[TileKey], npt.NDArray[Any] | None] | None,
        store: Callable[[TileKey, npt.NDArray[Any]], object] | None,
    ) -> npt.NDArray[Any]:
        below = key.level - 1
        below_grid = self.grid.levels[below]
        # level-`below` pixels feeding this tile: [2*y0, 2*y1) clipped
        by0, by1 = 2 * y0, min(2 * y1, below_grid.shape[0])
        bx0, bx1 = 2 * x0, min(2 * x1, below_grid.shape[1])
        th, tw = below_grid.tile_shape
        rows = range(by0 // th, (by1 - 1) // th + 1)
        cols = range(bx0 // tw, (bx1 - 1) // tw + 1)
        # computed levels share the coarsest stored planes (slice and window)
        child_keys = [
            TileKey(
                key.layer_id,
                key.data_version,
                key.slice,
                below,
                r,
                c,
                key.displayed,
                key.window,
                key.projection,
            )
            for r in rows
            for c in cols
        ]
        children: dict[Position, npt.NDArray[Any]] = {}
        if lookup is not None:
            for ck in child_keys:
                found = lookup(ck)
                if found is None:
                    break
                children[ck.position] = found
        if len(children) != len(child_keys):
            if below_grid.stored:
                region = self._read_region(below, key, by0, by1, bx0, bx1)
                return downsample2(region, self.downsample)
            for ck in child_keys:
                if ck.position in children:
                    continue
                if cancel is not None:
                    cancel.raise_if_cancelled()
                tile = self.read_tile(ck, cancel, lookup, store)
                if store is not None:
                    store(ck, tile)
                children[ck.position] = tile
        # stitch children: they cover [rows[0]*th, ...) which starts at by0 exactly
        # when tiles align (equal tile shapes); crop to be safe.
        stitched_rows = [
            np.concatenate([children[(below, r, c)] for c in cols], axis=1) for r in rows
        ]
        stitched = np.concatenate(stitched_rows, axis=0)
        oy, ox = by0 - rows[0] * th, bx0 - cols[0] * tw
        region = stitched[oy : oy + (by1 - by0), ox : ox + (bx1 - bx0)]
        if cancel is not None:
            cancel.raise_if_cancelled()
        return downsample2(region, self.downsample)
