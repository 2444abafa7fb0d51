"""The coverage plan: what to draw now and what to load next, for one layer and frame.

Given the ideal tiles of a view (:func:`~tilescope.tiles.intersection.visible_tiles`)
and the set of tiles that are *resident* (loaded and drawable), for each visible
ideal tile, centre-out:

1. if it is resident, draw it;
2. else, if its finer children are all resident (zooming out) — recursively up
   to ``finer_depth`` levels, a child counting as covered when it is resident or
   its own children are — draw those finer tiles;
3. else draw its closest resident ancestor: the nearest coarser level at which
   every tile overlapping it is resident.

Every non-resident ideal tile (visible or margin) is loaded with priority
``(0, distance)``.  For quick coverage, the non-resident ancestors of a
non-resident visible tile are loaded too — those up to ``coverage_levels``
above the ideal level and finer than its closest resident ancestor, plus the
root level's — with priority ``(level offset, distance)``.  Nothing finer than
the ideal level is ever requested.  Loads are sorted by priority, smallest
first (ideal tiles first, nearest the centre first); the loader gives each level
offset its own pool (see :mod:`tilescope.loading`), so coarse coverage is not
stuck behind ideal tiles.

The draw set is ordered coarse to fine, and a drawn tile whose in-view area is
entirely covered by finer drawn tiles is dropped (it would be invisible and,
with opacity < 1, would blend with itself).

``resident`` is a set of positions ``(level, row, col)`` of the current
:class:`~tilescope.tiles.grid.TileSlice`; keeping it per slice makes planning a
frame cost tens of microseconds, not milliseconds (``benchmarks/bench_tiles.py``).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from tilescope.tiles.grid import Position, TileGrid, TileKey, TileSlice
from tilescope.tiles.intersection import ViewTiles, tile_distance

__all__ = ["CoveragePlan", "TileLoad", "plan_coverage"]


@dataclass(frozen=True, slots=True)
class TileLoad:
    """One tile to load and its priority; smaller priorities load first."""

    key: TileKey
    level_offset: int
    """``key.level - ideal level`` (>= 0: never finer than ideal)."""
    distance: float
    """Distance of the tile centre from the view centre, level-0 data pixels."""

    @property
    def priority(self) -> tuple[int, float]:
        """``(level_offset, distance)``."""
        return (self.level_offset, self.distance)


@dataclass(frozen=True, slots=True)
class CoveragePlan:
    """The frozen result of :func:`plan_coverage`."""

    ideal_level: int
    draw: tuple[TileKey, ...]
    """Tiles to draw, coarse to fine (then centre-out)."""
    load: tuple[TileLoad, ...]
    """Tiles to load, by ascending priority."""
    ideal: tuple[TileKey, ...]
    """The visible ideal tiles, centre-out (margin tiles excluded)."""
    n_ideal_resident: int
    """How many of ``ideal`` are resident (per-layer progress: resident / wanted)."""

    @property
    def progress(self) -> float:
        """Fraction of the visible ideal tiles that are resident (1.0 when none are needed)."""
        return self.n_ideal_resident / len(self.ideal) if self.ideal else 1.0

    @property
    def complete(self) -> bool:
        """Every visible ideal tile is resident: the view shows final data."""
        return self.n_ideal_resident == len(self.ideal)


def _finer_cover(
    grid: TileGrid,
    pos: Position,
    resident: Set[Position],
    depth: int,
    out: list[Position],
) -> bool:
    """Whether ``pos`` is covered by resident finer tiles; appends them to ``out``."""
    children = grid.children(pos)
    if not children or depth <= 0:
        return False
    mark = len(out)
    for child in children:
        if child in resident:
            out.append(child)
        elif not _finer_cover(grid, child, resident, depth - 1, out):
            del out[mark:]
            return False
    return True


def _in_view(grid: TileGrid, pos: Position, view: ViewTiles) -> bool:
    y0, y1, x0, x1 = grid.tile_data_bounds(pos)
    vmin, vmax = view.view_min, view.view_max
    return y1 > vmin[0] and y0 < vmax[0] and x1 > vmin[1] and x0 < vmax[1]


def _hidden(
    grid: TileGrid,
    pos: Position,
    drawn: Set[Position],
    finest: int,
    view: ViewTiles,
    memo: dict[Position, bool],
) -> bool:
    """Whether ``pos``'s in-view area is entirely covered by finer drawn tiles."""
    cached = memo.get(pos)
    if cached is not None:
        return cached
    result = pos[0] > finest
    if result:
        for child in grid.children(pos):
            if child in drawn or not _in_view(grid, child, view):
                continue
            if not _hidden(grid, child, drawn, finest, view, memo):
                result = False
                break
    memo[pos] = result
    return result


def plan_coverage(
    tiles: TileSlice,
    view: ViewTiles,
    resident: Set[Position],
    *,
    coverage_levels: int = 2,
    finer_depth: int = 2,
) -> CoveragePlan:
    """Plan one frame of one layer; see the module docstring for the rules.

    Parameters
    ----------
    tiles
        The layer's current slice (grid + key factory).
    view
        The view's ideal level and tiles.
    resident
        Positions of the current slice whose data is drawable.
    coverage_levels
        Load non-resident ancestors up to this many levels above ideal (the
        root is always requested when needed).
    finer_depth
        How many levels finer than ideal may stand in for an ideal tile.
    """
    grid = tiles.grid
    root = grid.root_level
    ideal = view.level
    distances = view.distances
    center = view.center
    draw: set[Position] = set()
    loads: dict[Position, tuple[int, float]] = {}
    n_resident = 0
    finer: list[Position] = []

    for pos in view.visible:
        if pos in resident:
            draw.add(pos)
            n_resident += 1
            continue
        loads[pos] = (0, distances[pos])
        finer.clear()
        if _finer_cover(grid, pos, resident, finer_depth, finer):
            draw.update(finer)
            continue
        wanted_ancestors: list[Position] = []
        for level in range(ideal + 1, root + 1):
            parents = grid.overlapping(pos, level)
            missing = [p for p in parents if p not in resident]
            if not missing:
                draw.update(parents)
                break
            if level - ideal <= coverage_levels or level == root:
                wanted_ancestors.extend(missing)
        for anc in wanted_ancestors:
            if anc not in loads:
                loads[anc] = (anc[0] - ideal, tile_distance(grid, anc, center))
    for pos in view.margin:
        if pos not in resident:
            loads[pos] = (0, distances[pos])

    # drop drawn stand-ins (finer or coarser than ideal) that are outside the view,
    # or whose in-view area finer drawn tiles cover entirely
    if draw:
        finest = min(p[0] for p in draw)
        memo: dict[Position, bool] = {}
        hidden = [
            p
            for p in draw
            if (p[0] != ideal and not _in_view(grid, p, view))
            or (p[0] > finest and _hidden(grid, p, draw, finest, view, memo))
        ]
        draw.difference_update(hidden)

    def draw_order(p: Position) -> tuple[int, float, int, int]:
        d = distances.get(p)
        return (-p[0], tile_distance(grid, p, center) if d is None else d, p[1], p[2])

    key = tiles.key
    ordered_loads = sorted(loads.items(), key=lambda kv: (kv[1], kv[0][1], kv[0][2]))
    return CoveragePlan(
        ideal_level=ideal,
        draw=tuple(key(p) for p in sorted(draw, key=draw_order)),
        load=tuple(TileLoad(key(p), off, dist) for p, (off, dist) in ordered_loads),
        ideal=tuple(key(p) for p in view.visible),
        n_ideal_resident=n_resident,
    )
