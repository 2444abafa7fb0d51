"""Visible tiles: ideal level, exact visible set, centre-out order, margins."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.grid import Position, TileGrid, build_tile_grid
from tilescope.tiles.intersection import visible_tiles
from tilescope.tiles.levels import ideal_level


def overlaps_view(
    grid: TileGrid, pos: Position, lo: tuple[float, float], hi: tuple[float, float]
) -> bool:
    """Exact: does the tile's footprint overlap the view (data coords) with positive area?"""
    lvl = grid.levels[pos[0]]
    y0, y1, x0, x1 = lvl.pixel_bounds(pos[1], pos[2])
    h0, w0 = grid.shape0
    fy = Fraction(h0, lvl.shape[0])
    fx = Fraction(w0, lvl.shape[1])
    half = Fraction(1, 2)
    vy0, vy1 = Fraction(lo[0]) + half, Fraction(hi[0]) + half
    vx0, vx1 = Fraction(lo[1]) + half, Fraction(hi[1]) + half
    return y0 * fy < vy1 and vy0 < y1 * fy and x0 * fx < vx1 and vx0 < x1 * fx


@st.composite
def scenes(
    draw: st.DrawFn,
) -> tuple[TileGrid, tuple[float, float], tuple[float, float], tuple[int, int]]:
    h = draw(st.integers(1, 3000))
    w = draw(st.integers(1, 3000))
    shapes = [(h, w)]
    for _ in range(draw(st.integers(0, 4))):
        ph, pw = shapes[-1]
        shapes.append((max(ph // 2, 1), max(pw // 2, 1)))
    grid = build_tile_grid(
        shapes, draw(st.sampled_from([32, 64, 256])), draw(st.sampled_from([64, 512]))
    )
    canvas = (draw(st.integers(10, 1200)), draw(st.integers(10, 1200)))
    zoom = draw(st.floats(1 / 64, 8))
    cy = draw(st.floats(-0.3, 1.3)) * h
    cx = draw(st.floats(-0.3, 1.3)) * w
    half = (canvas[0] / zoom / 2, canvas[1] / zoom / 2)
    return grid, (cy - half[0], cx - half[1]), (cy + half[0], cx + half[1]), canvas


@settings(max_examples=60, deadline=None)
@given(scene=scenes(), margin=st.integers(0, 2))
def test_visible_tiles_exact_and_centre_out(
    scene: tuple[TileGrid, tuple[float, float], tuple[float, float], tuple[int, int]],
    margin: int,
) -> None:
    grid, lo, hi, canvas = scene
    view = visible_tiles(grid, lo, hi, canvas, margin=margin)
    assert view.level == ideal_level(lo, hi, canvas, grid.downsample_factors())
    expected = {p for p in grid.positions(view.level) if overlaps_view(grid, p, lo, hi)}
    assert set(view.visible) == expected
    assert len(view.visible) == len(expected)
    assert expected == {(view.level, r, c) for r in view.rows for c in view.cols}
    dists = [view.distances[p] for p in view.visible]
    assert dists == sorted(dists)
    cy, cx = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
    for p in view.visible:
        ty, tx = grid.tile_center(p)
        assert view.distances[p] == pytest.approx(math.hypot(ty - cy, tx - cx))
    # margin: disjoint ring(s) around the visible tiles, also centre-out
    assert not set(view.margin) & set(view.visible)
    if view.visible:
        rows = [p[1] for p in view.visible]
        cols = [p[2] for p in view.visible]
        for p in view.margin:
            assert min(rows) - margin <= p[1] <= max(rows) + margin
            assert min(cols) - margin <= p[2] <= max(cols) + margin
        n_rows = min(max(rows) + margin, grid.levels[view.level].nrows - 1) - max(
            min(rows) - margin, 0
        )
        n_cols = min(max(cols) + margin, grid.levels[view.level].ncols - 1) - max(
            min(cols) - margin, 0
        )
        assert len(view.margin) + len(view.visible) == (n_rows + 1) * (n_cols + 1)
    else:
        assert view.margin == ()
    mdists = [view.distances[p] for p in view.margin]
    assert mdists == sorted(mdists)


def test_zoomed_out_huge_array_uses_computed_level() -> None:
    grid = build_tile_grid([(16384, 16384)], 256, 1024)
    view = visible_tiles(grid, (-0.5, -0.5), (16383.5, 16383.5), (1000, 1000))
    assert view.level == grid.root_level  # one 1024² computed root, not 4096 level-0 tiles
    assert view.visible == ((grid.root_level, 0, 0),)


def test_locked_level_and_bad_margin() -> None:
    grid = build_tile_grid([(1024, 1024), (512, 512), (256, 256)], 128, 256)
    view = visible_tiles(grid, (0, 0), (1023, 1023), (100, 100), locked_level=0)
    assert view.level == 0
    assert len(view.visible) == 64
    with pytest.raises(ValueError, match="margin"):
        visible_tiles(grid, (0, 0), (10, 10), (100, 100), margin=-1)


def test_view_outside_data_has_no_tiles() -> None:
    grid = build_tile_grid([(1024, 1024), (512, 512)], 128, 512)
    view = visible_tiles(grid, (2000, 2000), (2500, 2500), (500, 500), margin=1)
    assert view.visible == ()
    assert view.margin == ()
