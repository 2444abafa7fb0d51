"""Which tiles a view needs: the ideal level and its visible tiles, centre-out.

The view is a rectangle in level-0 data coordinates of the displayed axes
(pixel centres on integers, as ``Layer.world_to_data`` gives; for a rotated view
pass its axis-aligned bounding box) plus the canvas size in screen pixels.  The
ideal level is :func:`tilescope.tiles.levels.ideal_level` over the grid's levels
(stored *and* computed), so zooming far out of a huge single-level array picks a
computed coarse level instead of thousands of level-0 tiles.

Pure functions over frozen values; safe on any thread, fast enough to run every
frame (see ``benchmarks/bench_tiles.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tilescope.tiles.grid import Position, TileGrid
from tilescope.tiles.levels import ideal_level

__all__ = ["ViewTiles", "tile_distance", "visible_tiles"]


@dataclass(frozen=True, slots=True)
class ViewTiles:
    """The ideal level of a view and its tiles.

    ``visible`` are the tiles overlapping the view; ``margin`` the extra ring(s)
    around them (prefetch, never drawn), both ordered centre-out (by distance of
    the tile centre from the view centre, then row, then column).
    ``distances`` maps every position in either tuple to that distance in
    level-0 data pixels.
    """

    level: int
    visible: tuple[Position, ...]
    margin: tuple[Position, ...]
    distances: dict[Position, float]
    center: tuple[float, float]
    view_min: tuple[float, float]
    view_max: tuple[float, float]
    canvas_shape: tuple[int, int]
    rows: range = range(0)
    """Tile rows of the visible tiles."""
    cols: range = range(0)
    """Tile columns of the visible tiles."""

    def __hash__(self) -> int:
        return hash((self.level, self.visible, self.margin, self.view_min, self.view_max))


def tile_distance(grid: TileGrid, pos: Position, center: tuple[float, float]) -> float:
    """Distance from a tile's centre to ``center`` (level-0 data coordinates)."""
    cy, cx = grid.tile_center(pos)
    return math.hypot(cy - center[0], cx - center[1])


def visible_tiles(
    grid: TileGrid,
    view_min: Sequence[float],
    view_max: Sequence[float],
    canvas_shape: Sequence[int],
    *,
    margin: int = 0,
    locked_level: int | None = None,
) -> ViewTiles:
    """Return the ideal level and the tiles of that level a view needs.

    Parameters
    ----------
    grid
        The layer's tile grid.
    view_min, view_max
        Opposite corners of the view in level-0 data coordinates ``(y, x)``.
    canvas_shape
        ``(h, w)`` of the canvas in screen pixels.
    margin
        Extra rings of tiles around the visible ones, loaded but not drawn.
    locked_level
        Use this level instead of the automatic choice (``locked_data_level``).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0 tiles, got {margin}")
    lo = (float(min(view_min[0], view_max[0])), float(min(view_min[1], view_max[1])))
    hi = (float(max(view_min[0], view_max[0])), float(max(view_min[1], view_max[1])))
    canvas = (int(canvas_shape[0]), int(canvas_shape[1]))
    level = ideal_level(lo, hi, canvas, grid.factors, locked_level)
    center = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)
    # data coords -> edge coords (+0.5)
    y0, y1, x0, x1 = lo[0] + 0.5, hi[0] + 0.5, lo[1] + 0.5, hi[1] + 0.5
    vis_rows, vis_cols = grid.tiles_in_edge_rect(level, y0, y1, x0, x1)
    rows, cols = vis_rows, vis_cols
    if margin and vis_rows and vis_cols:
        rows, cols = grid.tiles_in_edge_rect(level, y0, y1, x0, x1, margin=margin)
    # distances row by row: tile centres depend on the row or the column only
    hypot = math.hypot
    cy, cx = center
    dxs = [grid.tile_center((level, 0, c))[1] - cx for c in cols]
    visible: list[tuple[float, int, int]] = []
    ring: list[tuple[float, int, int]] = []
    for r in rows:
        dy = grid.tile_center((level, r, 0))[0] - cy
        row_visible = r in vis_rows
        for c, dx in zip(cols, dxs, strict=True):
            item = (hypot(dy, dx), r, c)
            if row_visible and c in vis_cols:
                visible.append(item)
            else:
                ring.append(item)
    visible.sort()
    ring.sort()
    distances = {(level, r, c): d for d, r, c in visible}
    distances.update({(level, r, c): d for d, r, c in ring})
    return ViewTiles(
        level=level,
        visible=tuple((level, r, c) for _, r, c in visible),
        margin=tuple((level, r, c) for _, r, c in ring),
        distances=distances,
        center=center,
        view_min=lo,
        view_max=hi,
        canvas_shape=canvas,
        rows=vis_rows if vis_cols else range(0),
        cols=vis_cols if vis_rows else range(0),
    )
