"""The u-unit geometry shared by coverage planning and draw rectangles."""

from __future__ import annotations

import pytest

from tilescope.tiles.grid import LevelGrid, TileGrid, build_tile_grid
from tilescope.tiles.units import unit_grid


def irregular() -> TileGrid:
    """Sizes 10 -> 4 -> 3 (not halving) and 6 -> 6 -> 1, tiles 4x4, 3x3, one root tile."""
    return TileGrid(
        levels=(
            LevelGrid(0, (10, 6), (4, 4), stored=True),
            LevelGrid(1, (4, 6), (3, 3), stored=True),
            LevelGrid(2, (3, 1), (3, 1), stored=True),
        )
    )


def test_spans_are_the_lcm_of_the_level_sizes() -> None:
    units = unit_grid(irregular())
    assert units.span == (60, 6)
    assert units.per_pixel0 == (6, 1)
    assert units.per_pixel == ((6, 1), (15, 1), (20, 6))
    assert units.tiles == ((24, 4, 3, 2), (45, 3, 2, 2), (60, 6, 1, 1))


def test_tile_rects_are_clipped_to_the_data_and_convert_to_edges() -> None:
    grid = irregular()
    units = unit_grid(grid)
    assert units.tile_rect((0, 2, 1)) == (48, 60, 4, 6)
    assert units.tile_rect((1, 1, 0)) == (45, 60, 0, 3)
    for lvl in range(grid.nlevels):
        for pos in grid.positions(lvl):
            edges = units.to_edges(units.tile_rect(pos))
            assert edges == pytest.approx(grid.tile_edge_bounds(pos), rel=1e-12)
    with pytest.raises(IndexError):
        units.tile_rect((1, 2, 0))


def test_memoized_per_grid_value() -> None:
    a = build_tile_grid([(64, 64), (32, 32)], tile_shape=16, max_root_size=32)
    b = build_tile_grid([(64, 64), (32, 32)], tile_shape=16, max_root_size=32)
    assert unit_grid(a) is unit_grid(b)
