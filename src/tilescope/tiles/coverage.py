"""The coverage plan: what to draw now and what to load next, for one layer and frame.

Given the ideal tiles of a view (:func:`~tilescope.tiles.intersection.visible_tiles`)
and the set of tiles that are *resident* (loaded and drawable), for each visible
ideal tile, centre-out:

1. if it is resident, draw it;
2. else, if its finer children are all resident (zooming out), draw them; with
   ``finer_depth`` > 1 (default 2) a missing child also counts when its own
   children all are, so zooming out two levels at once keeps the sharp data
   (``finer_depth=1`` is the one-level rule);
3. else draw its closest resident ancestor: the nearest coarser level at which
   every tile overlapping it is resident.

Every non-resident ideal tile (visible or margin) is loaded with priority
``(0, distance)``.  For quick coverage, the non-resident ancestors of a
non-resident visible tile that finer tiles do not cover are loaded too — those
up to ``coverage_levels`` above the ideal level and finer than its closest
resident ancestor, plus the root level's — with priority
``(level offset, distance)``.  Nothing finer than
the ideal level is ever requested.  Loads are sorted by priority, smallest
first (ideal tiles first, nearest the centre first); the loader gives each level
offset its own pool (see :mod:`tilescope.loading`), so coarse coverage is not
stuck behind ideal tiles.

The draw set is ordered coarse to fine, and a drawn tile whose in-view area is
entirely covered by finer drawn tiles is dropped (it would be invisible and,
with opacity < 1, would blend with itself); the test is exact, also for
pyramids whose level sizes do not halve (see :class:`_Cover`).

``resident`` is a set of positions ``(level, row, col)`` of the current
:class:`~tilescope.tiles.grid.TileSlice` (plain tuples hash and compare fast):
planning a full-HD frame costs well under a millisecond
(``benchmarks/bench_tiles.py``).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from tilescope.tiles.grid import Position, TileGrid, TileKey, TileSlice
from tilescope.tiles.intersection import ViewTiles, tile_distance
from tilescope.tiles.units import unit_grid

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


class _Cover:
    """Exact in-view and hidden tests for the draw set of one frame.

    Coordinates are integer "u" units per axis (:mod:`tilescope.tiles.units`):
    with ``U`` the least common multiple of every level's size along the axis,
    level ``l`` pixel ``i`` starts at ``i * U / size_l`` (an integer) and every
    level spans ``[0, U)``.  Tile edges of all levels therefore compare exactly, even for
    pyramids whose sizes do not halve; only the view's edges are floats (Python
    compares ints and floats exactly).  A tile is hidden when the part of its
    in-view region -- clipped step by step to each finer tile it is split into --
    is covered by drawn finer tiles; clipping keeps the test exact where a
    finer tile sticks out of its coarser neighbour (irregular pyramids).
    """

    __slots__ = ("_drawn", "_finest", "_levels", "_memo", "_view")

    def __init__(self, grid: TileGrid, view: ViewTiles, drawn: Set[Position], finest: int) -> None:
        units = unit_grid(grid)
        uy, ux = units.span
        # per level: (u per tile row, u per tile column, nrows, ncols)
        self._levels = units.tiles
        ky, kx = units.per_pixel0
        # data coordinates -> edge coordinates (+0.5) -> u, clipped to the data
        self._view = (
            max((view.view_min[0] + 0.5) * ky, 0),
            min((view.view_max[0] + 0.5) * ky, uy),
            max((view.view_min[1] + 0.5) * kx, 0),
            min((view.view_max[1] + 0.5) * kx, ux),
        )
        self._drawn = drawn
        self._finest = finest
        self._memo: dict[tuple[int, float, float, float, float], bool] = {}

    def _in_view_rect(self, pos: Position) -> tuple[float, float, float, float] | None:
        """The tile's footprint clipped to the view (u units), or None when they do not overlap."""
        ty, tx, _, _ = self._levels[pos[0]]
        vy0, vy1, vx0, vx1 = self._view
        # tile extents past the data's end are clipped by the view (itself clipped to the data)
        y0 = max(pos[1] * ty, vy0)
        y1 = min((pos[1] + 1) * ty, vy1)
        x0 = max(pos[2] * tx, vx0)
        x1 = min((pos[2] + 1) * tx, vx1)
        if y0 >= y1 or x0 >= x1:
            return None
        return (y0, y1, x0, x1)

    def in_view(self, pos: Position) -> bool:
        """Whether the tile overlaps the view with positive area."""
        ty, tx, _, _ = self._levels[pos[0]]
        vy0, vy1, vx0, vx1 = self._view
        r, c = pos[1], pos[2]
        return r * ty < vy1 and (r + 1) * ty > vy0 and c * tx < vx1 and (c + 1) * tx > vx0

    def hidden(self, pos: Position) -> bool:
        """Whether the tile's in-view area is entirely covered by finer drawn tiles."""
        if pos[0] <= self._finest:
            return False
        rect = self._in_view_rect(pos)
        return rect is None or self._covered(pos[0] - 1, rect)

    def _covered(self, level: int, rect: tuple[float, float, float, float]) -> bool:
        """Whether ``rect`` is covered by drawn tiles of ``level`` or finer (memoized)."""
        memo_key = (level, *rect)
        result = self._memo.get(memo_key)
        if result is None:
            result = self._memo[memo_key] = self._covered_uncached(level, rect)
        return result

    def _covered_uncached(self, level: int, rect: tuple[float, float, float, float]) -> bool:
        y0, y1, x0, x1 = rect
        ty, tx, nrows, ncols = self._levels[level]
        for r in range(max(int(y0 // ty), 0), min(-int(-y1 // ty), nrows)):
            for c in range(max(int(x0 // tx), 0), min(-int(-x1 // tx), ncols)):
                if (level, r, c) in self._drawn:
                    continue
                if level <= self._finest:
                    return False
                part = (
                    max(y0, r * ty),
                    min(y1, (r + 1) * ty),
                    max(x0, c * tx),
                    min(x1, (c + 1) * tx),
                )
                if not self._covered(level - 1, part):
                    return False
        return True


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
    n_ideal_resident = len(drawn_ideal)  # before hidden ones are dropped

    # drop stand-ins outside the view, and drawn tiles whose in-view area finer
    # drawn tiles cover entirely
    drawn_finer = list(finer_drawn)
    drawn_coarser = list(coarser_drawn)
    if drawn_finer or drawn_coarser:
        drawn = {*finer_drawn, *coarser_drawn, *drawn_ideal}
        cover = _Cover(grid, view, drawn, min(p[0] for p in drawn))
        drawn_finer = [
            p
            for p in drawn_finer
            if (p not in finer_border or cover.in_view(p)) and not cover.hidden(p)
        ]
        drawn_coarser = [p for p in drawn_coarser if cover.in_view(p) and not cover.hidden(p)]
        drawn_ideal = [p for p in drawn_ideal if not cover.hidden(p)]
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
        n_ideal_resident=n_ideal_resident,
    )
