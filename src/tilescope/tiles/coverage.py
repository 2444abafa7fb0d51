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


class _ViewRanges:
    """Per level, the tile rows and columns overlapping the view (computed on demand)."""

    __slots__ = ("_grid", "_ranges", "_rect")

    def __init__(self, grid: TileGrid, view: ViewTiles) -> None:
        self._grid = grid
        self._rect = (
            view.view_min[0] + 0.5,
            view.view_max[0] + 0.5,
            view.view_min[1] + 0.5,
            view.view_max[1] + 0.5,
        )
        self._ranges: dict[int, tuple[range, range]] = {}

    def __call__(self, pos: Position) -> bool:
        ranges = self._ranges.get(pos[0])
        if ranges is None:
            ranges = self._grid.tiles_in_edge_rect(pos[0], *self._rect)
            self._ranges[pos[0]] = ranges
        return pos[1] in ranges[0] and pos[2] in ranges[1]


def _hidden(
    grid: TileGrid,
    pos: Position,
    drawn: Set[Position],
    finest: int,
    in_view: _ViewRanges,
    memo: dict[Position, bool],
) -> bool:
    """Whether ``pos``'s in-view area is entirely covered by finer drawn tiles."""
    cached = memo.get(pos)
    if cached is not None:
        return cached
    result = pos[0] > finest
    if result:
        for child in grid.children(pos):
            if child in drawn or not in_view(child):
                continue
            if not _hidden(grid, child, drawn, finest, in_view, memo):
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
    overlapping = grid.overlapping
    drawn_ideal: list[Position] = []  # already centre-out
    # tiles drawn in place of ideal ones; dicts as insertion-ordered sets
    finer_drawn: dict[Position, None] = {}  # ordered centre-out by the tile they stand in for
    finer_border: set[Position] = set()  # of ideal tiles on the view's edge: may be outside
    # ideal tiles strictly inside these rows/cols lie wholly in the view
    inner_rows = range(view.rows.start + 1, view.rows.stop - 1)
    inner_cols = range(view.cols.start + 1, view.cols.stop - 1)
    coarser_drawn: dict[Position, None] = {}
    loads: dict[Position, tuple[int, float]] = {}
    finer: list[Position] = []
    resolved: dict[tuple[Position, ...], bool] = {}  # ancestor sets already examined

    for pos in view.visible:
        if pos in resident:
            drawn_ideal.append(pos)
            continue
        loads[pos] = (0, distances[pos])
        if pos[0] > 0 and finer_depth > 0:
            finer.clear()
            if _finer_cover(grid, pos, resident, finer_depth, finer):
                finer_drawn.update(dict.fromkeys(finer))
                if pos[1] not in inner_rows or pos[2] not in inner_cols:
                    finer_border.update(finer)
                continue
        for level in range(ideal + 1, root + 1):
            parents = overlapping(pos, level)
            done = resolved.get(parents)
            if done is None:
                missing = [p for p in parents if p not in resident]
                done = not missing
                resolved[parents] = done
                if done:
                    coarser_drawn.update(dict.fromkeys(parents))
                elif level - ideal <= coverage_levels or level == root:
                    for anc in missing:
                        loads[anc] = (level - ideal, tile_distance(grid, anc, center))
            if done:
                break
    for pos in view.margin:
        if pos not in resident:
            loads[pos] = (0, distances[pos])

    # drop stand-ins outside the view, and drawn tiles whose in-view area finer
    # drawn tiles cover entirely
    drawn_finer = list(finer_drawn)
    drawn_coarser = list(coarser_drawn)
    if drawn_finer or drawn_coarser:
        in_view = _ViewRanges(grid, view)
        drawn = {*finer_drawn, *coarser_drawn, *drawn_ideal}
        finest = min(p[0] for p in drawn)
        memo: dict[Position, bool] = {}
        drawn_finer = [
            p
            for p in drawn_finer
            if (p not in finer_border or in_view(p))
            and not (p[0] > finest and _hidden(grid, p, drawn, finest, in_view, memo))
        ]
        drawn_coarser = [
            p
            for p in drawn_coarser
            if in_view(p) and not _hidden(grid, p, drawn, finest, in_view, memo)
        ]
        if finest < ideal:
            drawn_ideal = [
                p for p in drawn_ideal if not _hidden(grid, p, drawn, finest, in_view, memo)
            ]
        drawn_coarser.sort(key=lambda p: (-p[0], tile_distance(grid, p, center), p[1], p[2]))
        drawn_finer.sort(key=lambda p: -p[0])  # stable: keeps centre-out within a level

    key = tiles.key
    draw = [key(p) for p in drawn_coarser]
    draw.extend(key(p) for p in drawn_ideal)
    draw.extend(key(p) for p in drawn_finer)
    ordered_loads = sorted((off, dist, p[1], p[2], p[0]) for p, (off, dist) in loads.items())
    return CoveragePlan(
        ideal_level=ideal,
        draw=tuple(draw),
        load=tuple(TileLoad(key((lvl, r, c)), off, d) for off, d, r, c, lvl in ordered_loads),
        ideal=tuple(key(p) for p in view.visible),
        n_ideal_resident=sum(1 for p in view.visible if p in resident),
    )
