"""Exact integer "u" coordinates shared by every level of a :class:`TileGrid`.

Per axis, ``U`` is the least common multiple of every level's size along that
axis.  Level ``l`` pixel ``i`` then starts at the integer ``i * U / size_l``
and every level spans ``[0, U)``, so tile edges of different levels compare
(and meet) exactly, also for pyramids whose sizes do not halve.  Level-0 *edge*
coordinate ``e`` (pixel centre + 0.5) is ``e * U / size_0`` u units.

Used by the coverage plan (hidden tiles) and the draw rectangles
(:mod:`tilescope.tiles.quads`); computed once per grid (memoized).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from tilescope.tiles.grid import Position, TileGrid

__all__ = ["URect", "UnitGrid", "unit_grid"]

#: ``(y0, y1, x0, x1)`` in u units, half-open.
URect = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class UnitGrid:
    """The u-unit geometry of one grid (see module doc)."""

    span: tuple[int, int]
    """``(Uy, Ux)``: u units across the data, per axis."""
    per_pixel0: tuple[int, int]
    """u units per level-0 pixel, per axis (``U / size_0``)."""
    per_pixel: tuple[tuple[int, int], ...]
    """Per level: u units per pixel of that level, per axis."""
    tiles: tuple[tuple[int, int, int, int], ...]
    """Per level: ``(u per tile row, u per tile column, nrows, ncols)``."""

    def tile_rect(self, pos: Position) -> URect:
        """A tile's footprint in u units, clipped to the data (edge tiles are smaller)."""
        ty, tx, nrows, ncols = self.tiles[pos[0]]
        r, c = pos[1], pos[2]
        if not (0 <= r < nrows and 0 <= c < ncols):
            raise IndexError(f"tile {pos} is outside the grid")
        uy, ux = self.span
        return (r * ty, min((r + 1) * ty, uy), c * tx, min((c + 1) * tx, ux))

    def to_edges(self, rect: URect) -> tuple[float, float, float, float]:
        """A u-unit rectangle in level-0 edge coordinates (each edge correctly rounded)."""
        ky, kx = self.per_pixel0
        return (rect[0] / ky, rect[1] / ky, rect[2] / kx, rect[3] / kx)


@lru_cache(maxsize=64)
def unit_grid(grid: TileGrid) -> UnitGrid:
    """The :class:`UnitGrid` of ``grid`` (memoized: grids are immutable values)."""
    uy = math.lcm(*(lvl.shape[0] for lvl in grid.levels))
    ux = math.lcm(*(lvl.shape[1] for lvl in grid.levels))
    per_pixel = tuple((uy // lvl.shape[0], ux // lvl.shape[1]) for lvl in grid.levels)
    tiles = tuple(
        (ay * lvl.tile_shape[0], ax * lvl.tile_shape[1], lvl.nrows, lvl.ncols)
        for (ay, ax), lvl in zip(per_pixel, grid.levels, strict=True)
    )
    return UnitGrid(span=(uy, ux), per_pixel0=per_pixel[0], per_pixel=per_pixel, tiles=tiles)
