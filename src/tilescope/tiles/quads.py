"""Disjoint draw rectangles: no pixel is drawn twice by the same layer.

A frame's draw set mixes levels: coarse tiles stand in where finer ones are not
loaded yet.  Drawing a coarse tile whole and the finer tiles over it would blend
twice wherever they overlap (visible at opacity < 1 and with additive or other
blending modes).  :func:`disjoint_rects` instead splits each drawn tile into the
rectangles of its footprint that no drawn tile of a *finer* level covers, so the
rectangles of one layer are pairwise disjoint and together cover exactly the
union of the drawn footprints.  :func:`tile_texcoords` maps such a rectangle to
the tile's own texel coordinates.

Exact: all geometry is integer u units (:mod:`tilescope.tiles.units`), so edges
of different levels meet exactly, also for pyramids whose sizes do not halve;
floats appear only in the returned level-0 edge coordinates (each edge is the
correctly rounded value of its exact rational, so edges shared by rectangles of
different tiles are equal floats).  Runs every frame for every layer: a few
hundred tiles cost well under a millisecond (``benchmarks/bench_tiles.py``).
Pure python, no Qt, no GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from tilescope.tiles.grid import Position, TileGrid
from tilescope.tiles.units import URect, unit_grid

__all__ = ["Rect", "disjoint_rects", "tile_texcoords"]

#: ``(y0, y1, x0, x1)`` in level-0 edge coordinates (pixel centre + 0.5), half-open,
#: as :meth:`TileGrid.tile_edge_bounds`.
Rect = tuple[float, float, float, float]


def disjoint_rects(grid: TileGrid, draw: Sequence[Position]) -> dict[Position, tuple[Rect, ...]]:
    """For each drawn tile, the rectangles of its footprint not covered by finer drawn tiles.

    ``draw`` may list positions of any levels in any order (duplicates count
    once); the result has one entry per distinct position, in first-seen order.
    A tile's footprint is clipped to the data (``[0, shape0)``).  A tile that
    finer drawn tiles cover entirely maps to ``()``; a tile of the finest drawn
    level maps to its whole footprint.  Each tile's rectangles are maximal
    horizontal runs of uncovered area, merged vertically where consecutive runs
    have the same extent (no two of one tile's rectangles share a whole edge),
    sorted by ``(y0, x0)``.  Raises ``IndexError`` for a position outside the grid.
    """
    units = unit_grid(grid)
    tile_rect = units.tile_rect
    footprints = {pos: tile_rect(pos) for pos in draw}  # first-seen order; validates
    by_level: dict[int, dict[tuple[int, int], URect]] = {}
    for pos, rect in footprints.items():
        by_level.setdefault(pos[0], {})[(pos[1], pos[2])] = rect
    levels = sorted(by_level)
    finest = levels[0] if levels else 0
    ky, kx = units.per_pixel0
    result: dict[Position, tuple[Rect, ...]] = {}
    holes: list[URect] = []
    for pos, rect in footprints.items():
        holes.clear()
        if pos[0] != finest:
            for lvl in levels:
                if lvl >= pos[0]:
                    break
                _collect_holes(units.tiles[lvl], by_level[lvl], rect, holes)
        if not holes:
            result[pos] = ((rect[0] / ky, rect[1] / ky, rect[2] / kx, rect[3] / kx),)
        else:
            result[pos] = tuple(
                (r[0] / ky, r[1] / ky, r[2] / kx, r[3] / kx) for r in _subtract(rect, holes)
            )
    return result


def _collect_holes(
    level_tiles: tuple[int, int, int, int],
    drawn: dict[tuple[int, int], URect],
    rect: URect,
    out: list[URect],
) -> None:
    """Append the footprints of one level's drawn tiles overlapping ``rect``, clipped to it."""
    y0, y1, x0, x1 = rect
    ty, tx, nrows, ncols = level_tiles
    r0, r1 = y0 // ty, min(-(-y1 // ty), nrows)
    c0, c1 = x0 // tx, min(-(-x1 // tx), ncols)
    if (r1 - r0) * (c1 - c0) <= len(drawn):
        get = drawn.get
        found = [f for r in range(r0, r1) for c in range(c0, c1) if (f := get((r, c))) is not None]
    else:
        found = [f for (r, c), f in drawn.items() if r0 <= r < r1 and c0 <= c < c1]
    for fy0, fy1, fx0, fx1 in found:  # clip (conditionals: cheaper than min/max calls)
        out.append(
            (
                fy0 if fy0 > y0 else y0,
                fy1 if fy1 < y1 else y1,
                fx0 if fx0 > x0 else x0,
                fx1 if fx1 < x1 else x1,
            )
        )


def _subtract(rect: URect, holes: list[URect]) -> list[URect]:
    """``rect`` minus the union of ``holes`` (each inside ``rect``) as few disjoint rectangles.

    A sweep down the distinct hole edges: within each band the holes spanning it
    leave maximal free runs; a run continuing unchanged into the next band
    extends the same rectangle.
    """
    y0, y1, x0, x1 = rect
    out: list[URect] = []
    if len(holes) == 1:  # the common case, directly: bands above, beside and below
        hy0, hy1, hx0, hx1 = holes[0]
        if hy0 > y0:
            out.append((y0, hy0, x0, x1))
        if hx0 > x0:
            out.append((hy0, hy1, x0, hx0))
        if hx1 < x1:
            out.append((hy0, hy1, hx1, x1))
        if hy1 < y1:
            out.append((hy1, y1, x0, x1))
        return out
    holes.sort()
    ys = sorted({y1, *(h[0] for h in holes), *(h[1] for h in holes)})
    if ys[0] > y0:
        ys.insert(0, y0)
    open_runs: dict[tuple[int, int], int] = {}  # free x run -> y where it started
    active: list[URect] = []
    j, n = 0, len(holes)
    for i in range(len(ys) - 1):
        a = ys[i]
        if active:
            active = [h for h in active if h[1] > a]
        while j < n and holes[j][0] == a:
            active.append(holes[j])
            j += 1
        runs: dict[tuple[int, int], int] = {}
        x = x0
        for c0, c1 in sorted([(h[2], h[3]) for h in active]):
            if c0 > x:
                runs[(x, c0)] = open_runs.pop((x, c0), a)
            if c1 > x:
                x = c1
        if x < x1:
            runs[(x, x1)] = open_runs.pop((x, x1), a)
        for (r0, r1), first in open_runs.items():
            out.append((first, a, r0, r1))
        open_runs = runs
    for (r0, r1), first in open_runs.items():
        out.append((first, y1, r0, r1))
    out.sort(key=lambda r: (r[0], r[2]))
    return out


def tile_texcoords(grid: TileGrid, pos: Position, rect: Rect) -> tuple[float, float, float, float]:
    """``(ty0, ty1, tx0, tx1)``: ``rect`` (level-0 edges) in the tile's own texel coordinates.

    Texel edges: the tile's first pixel spans ``[0, 1)``, its whole footprint
    ``[0, tile_h) x [0, tile_w)`` (the actual, possibly partial, tile shape).
    Level-``l`` pixel ``i`` spans level-0 edges ``[i, i + 1) * shape0 / shape_l``,
    so this is exact for pyramids that do not halve.  Edges on the u grid (every
    edge :func:`disjoint_rects` returns) map to the correctly rounded texel
    coordinate; other edges by plain float arithmetic.
    """
    units = unit_grid(grid)
    level, row, col = pos
    th, tw = grid.levels[level].tile_shape
    ay, ax = units.per_pixel[level]
    ky, kx = units.per_pixel0
    oy, ox = row * th * ay, col * tw * ax
    y0, y1, x0, x1 = rect
    return (
        _texel(y0, ky, ay, oy),
        _texel(y1, ky, ay, oy),
        _texel(x0, kx, ax, ox),
        _texel(x1, kx, ax, ox),
    )


def _texel(edge: float, per_pixel0: int, per_pixel: int, origin: int) -> float:
    """A level-0 edge coordinate -> texel coordinate (the tile's first texel at ``origin`` u)."""
    u = edge * per_pixel0
    exact = round(u)
    if exact / per_pixel0 == edge:  # on the u grid: exact integer arithmetic
        return (exact - origin) / per_pixel
    return (u - origin) / per_pixel
