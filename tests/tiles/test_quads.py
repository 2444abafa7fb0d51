"""Disjoint draw rectangles and texel coordinates, checked against exact rational rasterisation."""

from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.grid import LevelGrid, Position, TileGrid, build_tile_grid
from tilescope.tiles.quads import Rect, disjoint_rects, tile_texcoords

# -- readable examples --------------------------------------------------------


def two_levels() -> TileGrid:
    """16² level 0 in 8² tiles, one 8² root tile above it."""
    return build_tile_grid([(16, 16), (8, 8)], tile_shape=8, max_root_size=8)


def test_coarse_tile_with_one_child_drawn_leaves_an_l_shape_of_two_rects() -> None:
    rects = disjoint_rects(two_levels(), [(1, 0, 0), (0, 0, 0)])
    assert rects[(0, 0, 0)] == ((0.0, 8.0, 0.0, 8.0),)
    # the right half of the top band, then the whole bottom band
    assert rects[(1, 0, 0)] == ((0.0, 8.0, 8.0, 16.0), (8.0, 16.0, 0.0, 16.0))


def test_runs_of_equal_extent_merge_into_one_rect() -> None:
    rects = disjoint_rects(two_levels(), [(1, 0, 0), (0, 0, 0), (0, 1, 0)])
    assert rects[(1, 0, 0)] == ((0.0, 16.0, 8.0, 16.0),)


def test_coarse_tile_around_a_centre_child_is_four_rects() -> None:
    grid = build_tile_grid([(12, 12), (6, 6)], tile_shape=4, max_root_size=6)
    rects = disjoint_rects(grid, [(1, 0, 0), (0, 1, 1)])
    assert rects[(1, 0, 0)] == (
        (0.0, 4.0, 0.0, 12.0),
        (4.0, 8.0, 0.0, 4.0),
        (4.0, 8.0, 8.0, 12.0),
        (8.0, 12.0, 0.0, 12.0),
    )


def test_fully_covered_tile_maps_to_no_rect_and_order_does_not_matter() -> None:
    grid = two_levels()
    children = [(0, r, c) for r in range(2) for c in range(2)]
    rects = disjoint_rects(grid, [*children, (1, 0, 0)])
    assert rects[(1, 0, 0)] == ()
    assert list(rects) == [*children, (1, 0, 0)]
    for child in children:
        assert rects[child] == (grid.tile_edge_bounds(child),)


def test_partial_edge_tiles_are_clipped_to_the_data() -> None:
    grid = build_tile_grid([(10, 7)], tile_shape=4, max_root_size=4, coarser_levels="never")
    rects = disjoint_rects(grid, [(0, 2, 1), (0, 2, 1)])
    assert rects == {(0, 2, 1): ((8.0, 10.0, 4.0, 7.0),)}


def test_non_halving_pyramid_edges_meet_exactly_and_texcoords_are_exact() -> None:
    # level 1 has 3 pixels for level 0's 10: a level-1 pixel spans 10/3 level-0 pixels
    grid = TileGrid(
        levels=(
            LevelGrid(0, (10, 10), (5, 5), stored=True),
            LevelGrid(1, (3, 3), (3, 3), stored=True),
        )
    )
    rects = disjoint_rects(grid, [(1, 0, 0), (0, 0, 0)])
    assert rects[(1, 0, 0)] == ((0.0, 5.0, 5.0, 10.0), (5.0, 10.0, 0.0, 10.0))
    assert tile_texcoords(grid, (1, 0, 0), rects[(1, 0, 0)][0]) == (0.0, 1.5, 1.5, 3.0)
    assert tile_texcoords(grid, (0, 0, 0), rects[(0, 0, 0)][0]) == (0.0, 5.0, 0.0, 5.0)


def test_thirds_edges_are_the_correctly_rounded_rationals() -> None:
    grid = TileGrid(
        levels=(
            LevelGrid(0, (10, 10), (10, 10), stored=True),
            LevelGrid(1, (3, 3), (1, 1), stored=True),
        )
    )
    rects = disjoint_rects(grid, [(1, 1, 1), (1, 0, 0)])
    assert rects[(1, 1, 1)] == ((10 / 3, 20 / 3, 10 / 3, 20 / 3),)
    assert rects[(1, 0, 0)][0][1] == rects[(1, 1, 1)][0][0]  # the shared edge, same float
    assert tile_texcoords(grid, (1, 1, 1), rects[(1, 1, 1)][0]) == (0.0, 1.0, 0.0, 1.0)


def test_texcoords_off_the_grid_use_float_arithmetic() -> None:
    grid = two_levels()
    ty0, ty1, tx0, tx1 = tile_texcoords(grid, (1, 0, 0), (0.3, 8.5, 1.0, 15.9))
    assert (ty0, ty1, tx0, tx1) == pytest.approx((0.15, 4.25, 0.5, 7.95))


def test_position_outside_the_grid_raises() -> None:
    with pytest.raises(IndexError):
        disjoint_rects(two_levels(), [(0, 2, 0)])


def test_empty_draw_set() -> None:
    assert disjoint_rects(two_levels(), []) == {}


# -- properties against an exact reference ------------------------------------


@st.composite
def grids(draw: st.DrawFn) -> TileGrid:
    """Random pyramids: halving or arbitrary non-growing sizes, random tile shapes per level."""
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    nlevels = draw(st.integers(1, 4))
    halving = draw(st.booleans())
    shapes = [(h, w)]
    for _ in range(nlevels - 1):
        ph, pw = shapes[-1]
        if halving:
            shapes.append((-(-ph // 2), -(-pw // 2)))
        else:
            shapes.append((draw(st.integers(1, ph)), draw(st.integers(1, pw))))
    levels = tuple(
        LevelGrid(
            i,
            shape,
            (draw(st.integers(1, max(shape[0], 1) + 2)), draw(st.integers(1, shape[1] + 2))),
            stored=True,
        )
        for i, shape in enumerate(shapes)
    )
    return TileGrid(levels=levels)


@st.composite
def scenes(draw: st.DrawFn) -> tuple[TileGrid, list[Position]]:
    grid = draw(grids())
    everything = [p for lvl in range(grid.nlevels) for p in grid.positions(lvl)]
    draws = draw(st.lists(st.sampled_from(everything), max_size=40))
    # bias: often a random part of one finer level, as a real draw set has
    if grid.nlevels > 1 and draw(st.booleans()):
        lvl = draw(st.integers(0, grid.nlevels - 2))
        level_tiles = grid.positions(lvl)[:60]
        draws.extend(
            p
            for p, keep in zip(
                level_tiles,
                draw(st.lists(st.booleans(), min_size=len(level_tiles), max_size=len(level_tiles))),
                strict=True,
            )
            if keep
        )
    return grid, draws


def edge_table(grid: TileGrid, axis: int) -> list[Fraction]:
    """Every pixel edge of every level along an axis, as exact level-0 edge coordinates."""
    size0 = grid.shape0[axis]
    edges = {
        Fraction(i * size0, lvl.shape[axis])
        for lvl in grid.levels
        for i in range(lvl.shape[axis] + 1)
    }
    return sorted(edges)


def footprint(grid: TileGrid, pos: Position) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """A tile's footprint from pixel bounds, as exact rationals (independent of the u units)."""
    lvl = grid.levels[pos[0]]
    y0, y1, x0, x1 = lvl.pixel_bounds(pos[1], pos[2])
    h0, w0 = grid.shape0
    fy, fx = Fraction(h0, lvl.shape[0]), Fraction(w0, lvl.shape[1])
    return (y0 * fy, y1 * fy, x0 * fx, x1 * fx)


class Raster:
    """Exact rasterisation on the cells between consecutive edges of all levels."""

    def __init__(self, grid: TileGrid) -> None:
        self.ys = edge_table(grid, 0)
        self.xs = edge_table(grid, 1)
        self.from_float_y = {float(v): v for v in self.ys}
        self.from_float_x = {float(v): v for v in self.xs}
        assert len(self.from_float_y) == len(self.ys)  # no two edges round to one float
        assert len(self.from_float_x) == len(self.xs)

    def exact(self, rect: Rect) -> tuple[Fraction, Fraction, Fraction, Fraction]:
        """The rationals behind a float rectangle (KeyError unless every edge is exact)."""
        return (
            self.from_float_y[rect[0]],
            self.from_float_y[rect[1]],
            self.from_float_x[rect[2]],
            self.from_float_x[rect[3]],
        )

    def mask(self, rect: tuple[Fraction, Fraction, Fraction, Fraction]) -> npt.NDArray[np.bool_]:
        out = np.zeros((len(self.ys) - 1, len(self.xs) - 1), dtype=bool)
        y0, y1 = bisect.bisect_left(self.ys, rect[0]), bisect.bisect_left(self.ys, rect[1])
        x0, x1 = bisect.bisect_left(self.xs, rect[2]), bisect.bisect_left(self.xs, rect[3])
        out[y0:y1, x0:x1] = True
        return out


@settings(max_examples=150, deadline=None)
@given(scene=scenes())
def test_rects_are_disjoint_exact_and_cover_the_union_of_footprints(
    scene: tuple[TileGrid, list[Position]],
) -> None:
    grid, drawn = scene
    result = disjoint_rects(grid, drawn)
    assert list(result) == list(dict.fromkeys(drawn))
    raster = Raster(grid)
    shape = (len(raster.ys) - 1, len(raster.xs) - 1)
    count = np.zeros(shape, dtype=np.int32)
    union_footprints = np.zeros(shape, dtype=bool)
    for pos, rects in result.items():
        own = footprint(grid, pos)
        own_mask = raster.mask(own)
        union_footprints |= own_mask
        finer = np.zeros(shape, dtype=bool)
        for other in result:
            if other[0] < pos[0]:
                finer |= raster.mask(footprint(grid, other))
        mine = np.zeros(shape, dtype=np.int32)
        for rect in rects:
            y0, y1, x0, x1 = exact = raster.exact(rect)
            assert y0 < y1
            assert x0 < x1
            assert own[0] <= y0
            assert y1 <= own[1]
            assert own[2] <= x0
            assert x1 <= own[3]
            mine += raster.mask(exact)
        assert mine.max(initial=0) <= 1, f"rects of {pos} overlap"
        # exactly the footprint minus the finer drawn footprints
        np.testing.assert_array_equal(mine.astype(bool), own_mask & ~finer)
        count += mine
    assert count.max(initial=0) <= 1, "rects of different tiles overlap"
    np.testing.assert_array_equal(count.astype(bool), union_footprints)


@settings(max_examples=150, deadline=None)
@given(scene=scenes())
def test_no_two_rects_of_a_tile_could_be_merged(scene: tuple[TileGrid, list[Position]]) -> None:
    grid, drawn = scene
    for rects in disjoint_rects(grid, drawn).values():
        assert list(rects) == sorted(rects, key=lambda r: (r[0], r[2]))
        for i, a in enumerate(rects):
            for b in rects[i + 1 :]:
                side_by_side = (a[0], a[1]) == (b[0], b[1]) and (a[3] == b[2] or b[3] == a[2])
                stacked = (a[2], a[3]) == (b[2], b[3]) and (a[1] == b[0] or b[1] == a[0])
                assert not side_by_side, (a, b)
                assert not stacked, (a, b)


@settings(max_examples=150, deadline=None)
@given(scene=scenes(), data=st.data())
def test_result_does_not_depend_on_draw_order(
    scene: tuple[TileGrid, list[Position]], data: st.DataObject
) -> None:
    grid, drawn = scene
    shuffled = data.draw(st.permutations(drawn))
    a = disjoint_rects(grid, drawn)
    b = disjoint_rects(grid, shuffled)
    assert a == b


@settings(max_examples=150, deadline=None)
@given(scene=scenes())
def test_texcoords_are_exact_and_inside_the_tile(scene: tuple[TileGrid, list[Position]]) -> None:
    grid, drawn = scene
    raster = Raster(grid)
    h0, w0 = grid.shape0
    for pos, rects in disjoint_rects(grid, drawn).items():
        lvl = grid.levels[pos[0]]
        py0, py1, px0, px1 = lvl.pixel_bounds(pos[1], pos[2])
        for rect in rects:
            y0, y1, x0, x1 = raster.exact(rect)
            expected = (
                y0 * lvl.shape[0] / h0 - py0,
                y1 * lvl.shape[0] / h0 - py0,
                x0 * lvl.shape[1] / w0 - px0,
                x1 * lvl.shape[1] / w0 - px0,
            )
            tex = tile_texcoords(grid, pos, rect)
            assert tex == tuple(float(v) for v in expected)
            assert 0 <= tex[0] < tex[1] <= py1 - py0
            assert 0 <= tex[2] < tex[3] <= px1 - px0


@settings(max_examples=60, deadline=None)
@given(grid=grids())
def test_every_tile_alone_maps_to_its_edge_bounds(grid: TileGrid) -> None:
    for lvl in range(grid.nlevels):
        for pos in grid.positions(lvl):
            ((rect,),) = disjoint_rects(grid, [pos]).values()
            assert rect == pytest.approx(grid.tile_edge_bounds(pos), rel=1e-12)
            y0, y1, x0, x1 = grid.levels[lvl].pixel_bounds(pos[1], pos[2])
            assert tile_texcoords(grid, pos, rect) == (0.0, y1 - y0, 0.0, x1 - x0)
