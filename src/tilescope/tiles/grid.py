"""Tile grids: every level of a 2D image pyramid cut into tiles, and tile keys.

A :class:`TileGrid` describes the *displayed* two axes of a layer at every
level: the levels stored in the data (a multiscale pyramid, or just the one
array of a non-multiscale image) and, optionally, coarser levels that tilescope
computes lazily from the level below (inside loader workers, never on the main
thread; see :mod:`tilescope.tiles.source`).  Each level is a row-major grid of
tiles of ``tile_shape`` pixels (edge tiles are smaller); the coarsest level, the
*root*, may be one large tile up to ``max_root_size`` pixels per axis.

Geometry (:mod:`tilescope.tiles.geometry`, shared with the slicer).  All levels
span the same region of level-0 data: level ``l`` pixel ``i`` covers level-0
*edge* coordinates ``[i, i + 1) * shape0 / shape_l`` (edge coordinates are
pixel-centre data coordinates + 0.5), so its centre is at data coordinate
``f * i + (f - 1) / 2``.  This is the geometry of a block-averaged pyramid; it
differs from napari 0.9, which puts the centre of level-``l`` pixel ``i`` at
level-0 coordinate ``f * i`` and so shifts coarse levels by ``(f - 1) / 2``
pixels.  Because every level spans exactly
``[0, shape0)``, coverage questions (does this coarse tile cover that fine one?)
are answered exactly with integer arithmetic: see :meth:`TileGrid.overlapping`.

Pure python/numpy, no Qt, no GPU.  Grids and keys are immutable values, safe to
share between threads; the grid memoizes overlap queries internally (a plain
dict; concurrent use can at worst compute an entry twice).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tilescope.tiles.geometry import Window, level_pixel_to_data

__all__ = [
    "CoarserLevels",
    "LevelGrid",
    "Position",
    "TileGrid",
    "TileKey",
    "TileSlice",
    "build_tile_grid",
]

#: ``(level, row, col)`` of a tile within one :class:`TileSlice`.
Position = tuple[int, int, int]

#: When to add lazily computed levels above the coarsest stored one:
#: ``"auto"`` only for single-level (non-multiscale) data, ``"always"``, ``"never"``.
CoarserLevels = Literal["auto", "always", "never"]


@dataclass(frozen=True, slots=True)
class TileKey:
    """Identity of one tile's data: hashable, cheap to compare, includes the layer.

    ``slice`` holds the indices of the layer's not-displayed axes *at this key's
    level* (data-axis order), so coarse tiles are shared by the neighbouring
    slices that map to the same coarse plane.  ``displayed`` names the two data
    axes shown (display order): two views of one volume along different axes never
    share a key.  A thick slice has ``projection`` ``"sum"``, ``"mean"``, ``"max"``
    or ``"min"`` and ``window``, per not-displayed axis, the half-open
    ``[start, stop)`` planes at this key's level that it reduces over (empty for a
    plain slice, ``projection="none"``).  The fields after ``col`` have defaults so
    that keys of single-view 2D sources can still be built positionally.
    """

    layer_id: int
    data_version: int
    slice: tuple[int, ...]
    level: int
    row: int
    col: int
    displayed: tuple[int, ...] = ()
    window: tuple[tuple[int, int], ...] = ()
    projection: str = "none"
    # keys are hashed many times per frame (sets, dicts, the cache): hash once
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "_hash",
            hash(self._fields()),
        )

    def _fields(self) -> tuple[Any, ...]:
        """Every identifying field, in constructor order (hash and pickle use it)."""
        return (
            self.layer_id,
            self.data_version,
            self.slice,
            self.level,
            self.row,
            self.col,
            self.displayed,
            self.window,
            self.projection,
        )

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[TileKey], tuple[object, ...]]:
        # rebuild through __init__: the cached hash covers a str (``projection``),
        # whose hash differs between processes, so it must never travel in a pickle
        return (TileKey, self._fields())

    @property
    def position(self) -> Position:
        """``(level, row, col)``."""
        return (self.level, self.row, self.col)

    def to_json(self) -> dict[str, object]:
        """A JSON-serialisable dict (used by the loader's log)."""
        return {
            "layer_id": self.layer_id,
            "data_version": self.data_version,
            "slice": list(self.slice),
            "level": self.level,
            "row": self.row,
            "col": self.col,
            "displayed": list(self.displayed),
            "window": [list(w) for w in self.window],
            "projection": self.projection,
        }


@dataclass(frozen=True, slots=True)
class LevelGrid:
    """The tiles of one level: ``shape`` pixels cut into ``tile_shape`` tiles."""

    level: int
    shape: tuple[int, int]
    tile_shape: tuple[int, int]
    stored: bool
    """True when the level exists in the data; False when computed from ``level - 1``."""

    def __post_init__(self) -> None:
        if min(self.shape) < 1 or min(self.tile_shape) < 1:
            raise ValueError(
                f"level {self.level}: shape {self.shape} and tile_shape "
                f"{self.tile_shape} must be positive"
            )

    @property
    def nrows(self) -> int:
        """Number of tile rows."""
        return -(-self.shape[0] // self.tile_shape[0])

    @property
    def ncols(self) -> int:
        """Number of tile columns."""
        return -(-self.shape[1] // self.tile_shape[1])

    @property
    def ntiles(self) -> int:
        """Number of tiles."""
        return self.nrows * self.ncols

    def pixel_bounds(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``: the tile's half-open pixel range at this level."""
        if not (0 <= row < self.nrows and 0 <= col < self.ncols):
            raise IndexError(
                f"tile ({row}, {col}) outside level {self.level}'s {self.nrows}x{self.ncols} grid"
            )
        th, tw = self.tile_shape
        return (
            row * th,
            min((row + 1) * th, self.shape[0]),
            col * tw,
            min((col + 1) * tw, self.shape[1]),
        )


@dataclass(frozen=True, slots=True)
class TileGrid:
    """Tile grids of every level of one layer's displayed plane (see module doc)."""

    levels: tuple[LevelGrid, ...]
    _overlap_memo: dict[tuple[Position, int], tuple[Position, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # per level: (h, w, tile_h, tile_w, factor_y, factor_x), for the per-frame hot paths
    _geom: tuple[tuple[int, int, int, int, float, float], ...] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a TileGrid needs at least one level")
        for i, lvl in enumerate(self.levels):
            if lvl.level != i:
                raise ValueError(f"level grids must be numbered 0..n-1, got {lvl.level} at {i}")
            if i and (lvl.shape[0] > self.levels[i - 1].shape[0]) | (
                lvl.shape[1] > self.levels[i - 1].shape[1]
            ):
                raise ValueError(
                    f"level {i} shape {lvl.shape} is larger than level {i - 1}'s "
                    f"{self.levels[i - 1].shape}; levels must not grow"
                )
        h0, w0 = self.levels[0].shape
        geom = tuple(
            (*lvl.shape, *lvl.tile_shape, h0 / lvl.shape[0], w0 / lvl.shape[1])
            for lvl in self.levels
        )
        object.__setattr__(self, "_geom", geom)

    # -- basic facts ---------------------------------------------------------
    @property
    def nlevels(self) -> int:
        """Number of levels, stored and computed."""
        return len(self.levels)

    @property
    def n_stored(self) -> int:
        """Number of levels stored in the data (the rest are computed)."""
        return sum(1 for lvl in self.levels if lvl.stored)

    @property
    def root_level(self) -> int:
        """The coarsest level."""
        return len(self.levels) - 1

    @property
    def shape0(self) -> tuple[int, int]:
        """Level-0 shape of the displayed plane."""
        return self.levels[0].shape

    def downsample_factors(self) -> npt.NDArray[np.float64]:
        """``(levels, 2)`` factors ``shape0 / shape_l`` (napari's formula), all levels."""
        return np.array(self.factors, dtype=np.float64)

    @property
    def factors(self) -> tuple[tuple[float, float], ...]:
        """Per level ``(fy, fx) = shape0 / shape_l`` as plain floats (per-frame hot path)."""
        return tuple((g[4], g[5]) for g in self._geom)

    def positions(self, level: int) -> list[Position]:
        """Every tile position of ``level`` (row-major)."""
        lvl = self.levels[level]
        return [(level, r, c) for r in range(lvl.nrows) for c in range(lvl.ncols)]

    # -- geometry ------------------------------------------------------------
    def tile_edge_bounds(self, pos: Position) -> tuple[float, float, float, float]:
        """``(y0, y1, x0, x1)`` of a tile in level-0 *edge* coordinates (``[0, shape0)``)."""
        h, w, th, tw, fy, fx = self._geom[pos[0]]
        y0 = pos[1] * th
        x0 = pos[2] * tw
        if not (0 <= y0 < h and 0 <= x0 < w):
            raise IndexError(f"tile {pos} is outside the grid")
        return (y0 * fy, min(y0 + th, h) * fy, x0 * fx, min(x0 + tw, w) * fx)

    def tile_data_bounds(self, pos: Position) -> tuple[float, float, float, float]:
        """``(ymin, ymax, xmin, xmax)``: the region a tile covers, level-0 data coordinates.

        Data coordinates put pixel centres on integers, so level-0 pixel ``j``
        covers ``[j - 0.5, j + 0.5)``.
        """
        y0, y1, x0, x1 = self.tile_edge_bounds(pos)
        return (y0 - 0.5, y1 - 0.5, x0 - 0.5, x1 - 0.5)

    def tile_center(self, pos: Position) -> tuple[float, float]:
        """Centre of a tile in level-0 data coordinates (called per tile per frame: kept lean)."""
        h, w, th, tw, fy, fx = self._geom[pos[0]]
        y0 = pos[1] * th
        x0 = pos[2] * tw
        y1 = min(y0 + th, h)
        x1 = min(x0 + tw, w)
        return ((y0 + y1) * 0.5 * fy - 0.5, (x0 + x1) * 0.5 * fx - 0.5)

    def level_to_data(self, level: int) -> tuple[float, float, float, float]:
        """``(sy, sx, ty, tx)``: level pixel index -> level-0 data coordinate.

        ``data = index * s + t`` from :func:`~tilescope.tiles.geometry.level_pixel_to_data`
        (``s = shape0 / shape_l``, ``t = (s - 1) / 2``: pixel centres of a block-averaged
        pyramid, the slicer's geometry too).  A tile's own array index ``(i, j)`` maps
        to level index ``(y0 + i, x0 + j)``.
        """
        sy, ty = level_pixel_to_data(self._geom[level][4])
        sx, tx = level_pixel_to_data(self._geom[level][5])
        return (sy, sx, ty, tx)

    # -- relations between levels -------------------------------------------
    def overlapping(self, pos: Position, level: int) -> tuple[Position, ...]:
        """Tiles of ``level`` whose footprint overlaps ``pos``'s with positive area.

        Exact (integer cross-multiplication, no floating point).  For a
        power-of-two pyramid with equal tile shapes this is the single parent
        (``level = pos.level + 1``) or the up-to-four children (``- 1``).
        """
        memo_key = (pos, level)
        hit = self._overlap_memo.get(memo_key)
        if hit is not None:
            return hit
        src = self.levels[pos[0]]
        dst = self.levels[level]
        y0, y1, x0, x1 = src.pixel_bounds(pos[1], pos[2])
        hs, ws = src.shape
        hd, wd = dst.shape
        # pixel range at `level` overlapping [y0, y1) * hd / hs (floor / ceil)
        py0 = (y0 * hd) // hs
        py1 = -((-y1 * hd) // hs)
        px0 = (x0 * wd) // ws
        px1 = -((-x1 * wd) // ws)
        th, tw = dst.tile_shape
        rows = range(py0 // th, (py1 - 1) // th + 1)
        cols = range(px0 // tw, (px1 - 1) // tw + 1)
        result = tuple((level, r, c) for r in rows for c in cols)
        self._overlap_memo[memo_key] = result
        return result

    def parents(self, pos: Position) -> tuple[Position, ...]:
        """Overlapping tiles one level coarser (empty at the root)."""
        if pos[0] >= self.root_level:
            return ()
        return self.overlapping(pos, pos[0] + 1)

    def children(self, pos: Position) -> tuple[Position, ...]:
        """Overlapping tiles one level finer (empty at level 0)."""
        if pos[0] == 0:
            return ()
        return self.overlapping(pos, pos[0] - 1)

    def tiles_in_edge_rect(
        self, level: int, y0: float, y1: float, x0: float, x1: float, margin: int = 0
    ) -> tuple[range, range]:
        """Row and column ranges of ``level``'s tiles overlapping a level-0 edge rectangle.

        The rectangle is clipped to the data; ``margin`` adds that many tiles on
        every side (still clipped).  Empty ranges when nothing overlaps.
        """
        lvl = self.levels[level]
        h0, w0 = self.levels[0].shape
        h, w = lvl.shape
        th, tw = lvl.tile_shape
        ly0, ly1 = y0 * h / h0, y1 * h / h0
        lx0, lx1 = x0 * w / w0, x1 * w / w0
        if ly1 <= 0 or lx1 <= 0 or ly0 >= h or lx0 >= w or ly1 <= ly0 or lx1 <= lx0:
            return range(0), range(0)
        r0 = max(math.floor(max(ly0, 0.0) / th) - margin, 0)
        r1 = min(math.ceil(min(ly1, float(h)) / th) + margin, lvl.nrows)
        c0 = max(math.floor(max(lx0, 0.0) / tw) - margin, 0)
        c1 = min(math.ceil(min(lx1, float(w)) / tw) + margin, lvl.ncols)
        return range(r0, r1), range(c0, c1)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        pair = (value, value)
    else:
        items = tuple(int(v) for v in value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        pair = (items[0], items[1])
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return pair


def build_tile_grid(
    level_shapes: Sequence[Sequence[int]],
    tile_shape: int | Sequence[int] = 256,
    max_root_size: int | Sequence[int] = 1024,
    coarser_levels: CoarserLevels = "auto",
) -> TileGrid:
    """Build the tile grid of a displayed plane.

    Parameters
    ----------
    level_shapes
        ``(rows, cols)`` of the displayed axes at every stored level, finest
        first (one entry for non-multiscale data).  Must not grow.
    tile_shape
        Tile size in pixels (int or pair).  Default 256².
    max_root_size
        The coarsest level becomes a single (possibly large) root tile when it
        fits within this size on both axes; otherwise it is cut into tiles.
    coarser_levels
        Whether to add computed levels (each half the one below, rounded up)
        above the coarsest stored level until it fits ``max_root_size``:
        ``"auto"`` does so only for single-level data (a huge in-RAM array gets
        a level-zero grid of views plus coarse levels computed in workers),
        ``"always"``, or ``"never"``.
    """
    tshape = _pair(tile_shape, "tile_shape")
    rmax = _pair(max_root_size, "max_root_size")
    if coarser_levels not in ("auto", "always", "never"):
        raise ValueError(
            f"coarser_levels must be 'auto', 'always' or 'never', not {coarser_levels!r}"
        )
    shapes = [_pair(tuple(s), "level shape") for s in level_shapes]
    if not shapes:
        raise ValueError("level_shapes must name at least one level")
    stored = len(shapes)
    compute = coarser_levels == "always" or (coarser_levels == "auto" and stored == 1)
    if compute:
        while shapes[-1][0] > rmax[0] or shapes[-1][1] > rmax[1]:
            h, w = shapes[-1]
            shapes.append((-(-h // 2), -(-w // 2)))
    levels = []
    for i, shape in enumerate(shapes):
        is_root = i == len(shapes) - 1
        fits_root = shape[0] <= rmax[0] and shape[1] <= rmax[1]
        tile = shape if is_root and fits_root else tshape
        levels.append(LevelGrid(level=i, shape=shape, tile_shape=tile, stored=i < stored))
    return TileGrid(levels=tuple(levels))


@dataclass(frozen=True, slots=True)
class TileSlice:
    """The tiles of one layer view, data version and slice: makes :class:`TileKey` values.

    ``level_slices[l]`` holds the not-displayed indices at level ``l``; ``displayed``
    the shown data axes (display order).  A thick slice has ``projection`` other than
    ``"none"`` and ``level_windows[l]``, the ``[start, stop)`` planes per not-displayed
    axis at level ``l`` (empty for a plain slice).  Keys are memoized so that planning
    a frame does not rebuild hundreds of key objects.  Build one with
    :meth:`tilescope.tiles.source.TileSource.tile_slice`.
    """

    grid: TileGrid
    layer_id: int
    data_version: int
    level_slices: tuple[tuple[int, ...], ...]
    displayed: tuple[int, ...] = ()
    level_windows: tuple[tuple[Window, ...], ...] = ()
    projection: str = "none"
    _keys: dict[Position, TileKey] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.level_slices) != self.grid.nlevels:
            raise ValueError(
                f"level_slices has {len(self.level_slices)} entries for {self.grid.nlevels} levels"
            )
        if (self.projection == "none") != (not self.level_windows):
            raise ValueError(
                "a thick slice (projection other than 'none') needs level_windows, "
                f"a plain one none; got projection={self.projection!r} with "
                f"{len(self.level_windows)} level windows"
            )
        if self.level_windows and len(self.level_windows) != self.grid.nlevels:
            raise ValueError(
                f"level_windows has {len(self.level_windows)} entries "
                f"for {self.grid.nlevels} levels"
            )

    def window(self, level: int) -> tuple[Window, ...]:
        """The thick-slice windows at ``level`` (empty for a plain slice)."""
        return self.level_windows[level] if self.level_windows else ()

    def key(self, pos: Position) -> TileKey:
        """The :class:`TileKey` of a position."""
        key = self._keys.get(pos)
        if key is None:
            level, row, col = pos
            key = TileKey(
                self.layer_id,
                self.data_version,
                self.level_slices[level],
                level,
                row,
                col,
                self.displayed,
                self.window(level),
                self.projection,
            )
            self._keys[pos] = key
        return key

    def owned_positions(self, keys: Iterable[TileKey]) -> set[Position]:
        """The positions of the ``keys`` this slice :meth:`owns`: one pass over, e.g., every
        tile an atlas holds (hundreds, each slice's), without a call per key."""
        planes = {
            (lvl, self.level_slices[lvl], self.window(lvl)) for lvl in range(self.grid.nlevels)
        }
        lid, version, shown, projection = (
            self.layer_id,
            self.data_version,
            self.displayed,
            self.projection,
        )
        return {
            (k.level, k.row, k.col)
            for k in keys
            if k.layer_id == lid
            and (k.level, k.slice, k.window) in planes
            and k.data_version == version
            and k.displayed == shown
            and k.projection == projection
        }

    def owns(self, key: TileKey) -> bool:
        """Whether ``key`` belongs to this layer, version, view and slice."""
        return (
            key.layer_id == self.layer_id
            and key.data_version == self.data_version
            and 0 <= key.level < self.grid.nlevels
            and key.slice == self.level_slices[key.level]
            and key.displayed == self.displayed
            and key.projection == self.projection
            and key.window == self.window(key.level)
        )
