"""Tile grids: level layout, root tiles, computed levels, exact overlap relations."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.geometry import level_factor, level_pixel_to_data
from tilescope.tiles.grid import LevelGrid, TileGrid, TileKey, TileSlice, build_tile_grid


def test_pyramid_levels_and_root() -> None:
    grid = build_tile_grid([(2048, 3000), (1024, 1500), (512, 750), (256, 375)], 256, 512)
    assert grid.nlevels == 4
    assert grid.n_stored == 4
    assert [(lvl.nrows, lvl.ncols) for lvl in grid.levels] == [(8, 12), (4, 6), (2, 3), (1, 1)]
    assert grid.levels[3].tile_shape == (256, 375)  # large root tile, one tile
    assert grid.levels[3].pixel_bounds(0, 0) == (0, 256, 0, 375)
    assert grid.levels[0].pixel_bounds(7, 11) == (1792, 2048, 2816, 3000)  # edge tile is smaller


def test_coarsest_level_too_big_for_root_is_tiled_unless_computed() -> None:
    shapes = [(4096, 4096), (2048, 2048)]
    tiled = build_tile_grid(shapes, 256, max_root_size=1024)  # auto: multiscale -> no computed
    assert tiled.nlevels == 2
    assert (tiled.levels[1].nrows, tiled.levels[1].ncols) == (8, 8)
    computed = build_tile_grid(shapes, 256, max_root_size=1024, coarser_levels="always")
    assert [lvl.shape for lvl in computed.levels] == [(4096, 4096), (2048, 2048), (1024, 1024)]
    assert [lvl.stored for lvl in computed.levels] == [True, True, False]
    assert computed.levels[2].ntiles == 1


def test_single_level_huge_array_gets_level_zero_grid_and_computed_levels() -> None:
    grid = build_tile_grid([(16384, 16384)], 256, max_root_size=1024)
    assert grid.levels[0].ntiles == 64 * 64
    assert [lvl.shape[0] for lvl in grid.levels] == [16384, 8192, 4096, 2048, 1024]
    assert grid.n_stored == 1
    assert grid.levels[-1].ntiles == 1
    never = build_tile_grid([(16384, 16384)], 256, max_root_size=1024, coarser_levels="never")
    assert never.nlevels == 1


def test_small_image_is_one_tile() -> None:
    grid = build_tile_grid([(300, 700)], 256, max_root_size=1024)
    assert grid.nlevels == 1
    assert grid.levels[0].ntiles == 1
    assert grid.levels[0].tile_shape == (300, 700)


def test_odd_shapes_computed_levels_round_up() -> None:
    grid = build_tile_grid([(1001, 777)], 64, max_root_size=200)
    assert [lvl.shape for lvl in grid.levels] == [(1001, 777), (501, 389), (251, 195), (126, 98)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"level_shapes": []}, "at least one", id="no-levels"),
        pytest.param({"level_shapes": [(10, 10)], "tile_shape": 0}, "positive", id="tile-0"),
        pytest.param({"level_shapes": [(10, 10)], "tile_shape": (1, 2, 3)}, "pair", id="tile-3"),
        pytest.param({"level_shapes": [(10, 10), (20, 5)]}, "must not grow", id="growing"),
        pytest.param({"level_shapes": [(10, 10)], "coarser_levels": "x"}, "coarser", id="mode"),
    ],
)
def test_bad_grid_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_tile_grid(**kwargs)  # type: ignore[arg-type]


def test_pixel_bounds_out_of_grid() -> None:
    lvl = LevelGrid(0, (100, 100), (64, 64), True)
    with pytest.raises(IndexError):
        lvl.pixel_bounds(2, 0)


def test_tile_key_is_a_frozen_hashable_value() -> None:
    a = TileKey(1, 0, (3,), 2, 4, 5)
    b = TileKey(1, 0, (3,), 2, 4, 5)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, TileKey(2, 0, (3,), 2, 4, 5)}) == 2  # the layer id is part of the key
    assert a != TileKey(2, 0, (3,), 2, 4, 5)
    assert a != TileKey(1, 1, (3,), 2, 4, 5)  # and so is the data version
    with pytest.raises(AttributeError):
        a.row = 3  # type: ignore[misc]
    assert a.position == (2, 4, 5)
    assert a.to_json()["slice"] == [3]


def test_tile_slice_memoizes_keys_and_owns() -> None:
    grid = build_tile_grid([(512, 512), (256, 256)], 128, 256)
    ts = TileSlice(grid, layer_id=7, data_version=1, level_slices=((4,), (2,)))
    k = ts.key((1, 0, 0))
    assert k is ts.key((1, 0, 0))
    assert k == TileKey(7, 1, (2,), 1, 0, 0)
    assert ts.owns(k)
    assert not ts.owns(TileKey(7, 1, (3,), 1, 0, 0))
    assert not ts.owns(TileKey(7, 2, (2,), 1, 0, 0))
    with pytest.raises(ValueError, match="level_slices"):
        TileSlice(grid, 7, 1, ((4,),))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(6, 8),  # layer
            st.integers(0, 2),  # version
            st.integers(0, 3),  # plane
            st.integers(0, 1),  # level
            st.sampled_from([(1, 2), (2, 1)]),
            st.sampled_from([(), ((0, 2),), ((1, 3),)]),
        ),
        max_size=40,
    ),
    st.integers(0, 3),
    st.booleans(),
)
def test_owned_positions_are_those_owns_accepts(
    keys: list[tuple[int, int, int, int, tuple[int, int], tuple[tuple[int, int], ...]]],
    plane: int,
    thick: bool,
) -> None:
    grid = build_tile_grid([(512, 512), (256, 256)], 128, 256)
    windows = (((1, 3),), ((0, 2),)) if thick else ()
    ts = TileSlice(
        grid,
        layer_id=7,
        data_version=1,
        level_slices=((plane,), (plane // 2,)),
        level_windows=windows,
        projection="max" if thick else "none",
    )
    tile_keys = [
        TileKey(lid, ver, (z,), lvl, 0, 1, shown, window, "max" if window else "none")
        for lid, ver, z, lvl, shown, window in keys
    ] + [ts.key((1, 0, 0)), ts.key((0, 1, 1))]
    assert ts.owned_positions(tile_keys) == {k.position for k in tile_keys if ts.owns(k)}


def test_level_to_data_and_bounds_geometry() -> None:
    grid = build_tile_grid([(1024, 1024), (512, 512), (256, 256)], 256, 256)
    assert grid.level_to_data(2) == (4.0, 4.0, 1.5, 1.5)
    # level-2 root covers exactly the level-0 data extent
    assert grid.tile_data_bounds((2, 0, 0)) == (-0.5, 1023.5, -0.5, 1023.5)
    assert grid.tile_data_bounds((0, 1, 2)) == (255.5, 511.5, 511.5, 767.5)
    assert grid.tile_center((0, 0, 0)) == (127.5, 127.5)


@st.composite
def grids(draw: st.DrawFn) -> TileGrid:
    h = draw(st.integers(1, 400))
    w = draw(st.integers(1, 400))
    shapes = [(h, w)]
    for _ in range(draw(st.integers(0, 4))):
        ph, pw = shapes[-1]
        shapes.append((draw(st.integers(1, ph)), draw(st.integers(1, pw))))
    tile = (draw(st.integers(4, 64)), draw(st.integers(4, 64)))
    root = draw(st.integers(4, 128))
    mode = draw(st.sampled_from(["auto", "always", "never"]))
    return build_tile_grid(shapes, tile, root, mode)  # type: ignore[arg-type]


def footprint(grid: TileGrid, pos: tuple[int, int, int]) -> tuple[Fraction, ...]:
    """Exact normalized footprint (y0, y1, x0, x1) in [0, 1]."""
    lvl = grid.levels[pos[0]]
    y0, y1, x0, x1 = lvl.pixel_bounds(pos[1], pos[2])
    h, w = lvl.shape
    return (Fraction(y0, h), Fraction(y1, h), Fraction(x0, w), Fraction(x1, w))


@settings(max_examples=60, deadline=None)
@given(grid=grids(), data=st.data())
def test_overlapping_equals_exact_brute_force(grid: TileGrid, data: st.DataObject) -> None:
    src_level = data.draw(st.integers(0, grid.root_level))
    dst_level = data.draw(st.integers(0, grid.root_level))
    pos = data.draw(st.sampled_from(grid.positions(src_level)))
    a = footprint(grid, pos)
    expected = {
        q
        for q in grid.positions(dst_level)
        if (b := footprint(grid, q))[0] < a[1] and a[0] < b[1] and b[2] < a[3] and a[2] < b[3]
    }
    got = grid.overlapping(pos, dst_level)
    assert set(got) == expected
    assert len(got) == len(expected)
    for q in got:  # symmetric relation
        assert pos in grid.overlapping(q, src_level)


@settings(max_examples=40, deadline=None)
@given(grid=grids())
def test_every_level_tiles_partition_the_plane(grid: TileGrid) -> None:
    for lvl in grid.levels:
        area = sum(
            (b[1] - b[0]) * (b[3] - b[2])
            for b in (footprint(grid, p) for p in grid.positions(lvl.level))
        )
        assert area == 1
    assert grid.parents((grid.root_level, 0, 0)) == ()
    assert grid.children((0, 0, 0)) == ()


@settings(max_examples=60, deadline=None)
@given(
    grid=grids(),
    data=st.data(),
    rect=st.tuples(
        st.floats(-50, 450), st.floats(0.01, 500), st.floats(-50, 450), st.floats(0.01, 500)
    ),
    margin=st.integers(0, 2),
)
def test_tiles_in_edge_rect_equals_brute_force(
    grid: TileGrid,
    data: st.DataObject,
    rect: tuple[float, float, float, float],
    margin: int,
) -> None:
    level = data.draw(st.integers(0, grid.root_level))
    y0, dy, x0, dx = rect
    y1, x1 = y0 + dy, x0 + dx
    rows, cols = grid.tiles_in_edge_rect(level, y0, y1, x0, x1)
    h0, w0 = grid.shape0
    hits = set()
    # exact: a tile that starts where the rectangle ends does not overlap it (in floats,
    # 60/88 * 88 < 60.0 said it did)
    ey0, ey1, ex0, ex1 = (Fraction(v) for v in (y0, y1, x0, x1))
    for pos in grid.positions(level):
        fy0, fy1, fx0, fx1 = footprint(grid, pos)
        if fy0 * h0 < ey1 and ey0 < fy1 * h0 and fx0 * w0 < ex1 and ex0 < fx1 * w0:
            hits.add(pos)
    got = {(level, r, c) for r in rows for c in cols}
    assert got == hits
    if margin and hits:
        mrows, mcols = grid.tiles_in_edge_rect(level, y0, y1, x0, x1, margin)
        assert mrows.start == max(rows.start - margin, 0)
        assert mrows.stop == min(rows.stop + margin, grid.levels[level].nrows)
        assert mcols.start == max(cols.start - margin, 0)


def test_tile_key_pickles_across_processes_with_other_hash_seeds() -> None:
    """Keys go to worker processes: the cached hash (it covers a str) is rebuilt there."""
    code = (
        "import pickle, sys\n"
        "from tilescope.tiles.grid import TileKey\n"
        "k = TileKey(1, 2, (3,), 1, 4, 5, (2, 0), ((1, 3),), 'max')\n"
        "if sys.argv[1] == 'dump':\n"
        "    sys.stdout.buffer.write(pickle.dumps(k))\n"
        "else:\n"
        "    got = pickle.loads(sys.stdin.buffer.read())\n"
        "    print(got == k, hash(got) == hash(k), got in {k})\n"
    )

    def run(seed: str, arg: str, data: bytes = b"") -> bytes:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        return subprocess.run(
            [sys.executable, "-c", code, arg], input=data, env=env, capture_output=True, check=True
        ).stdout

    assert run("2", "load", run("1", "dump")).split() == [b"True", b"True", b"True"]


@settings(max_examples=100, deadline=None)
@given(
    h0=st.integers(1, 300),
    w0=st.integers(1, 300),
    data=st.data(),
    tile=st.integers(1, 64),
)
def test_grid_places_coarse_pixels_by_the_shared_geometry(
    h0: int, w0: int, data: st.DataObject, tile: int
) -> None:
    h = data.draw(st.integers(1, h0))
    w = data.draw(st.integers(1, w0))
    grid = build_tile_grid([(h0, w0), (h, w)], tile, max_root_size=tile)
    sy, ty = level_pixel_to_data(level_factor(h0, h))
    sx, tx = level_pixel_to_data(level_factor(w0, w))
    assert grid.level_to_data(1) == (sy, sx, ty, tx)
    for pos in grid.positions(1)[:4] + grid.positions(1)[-2:]:
        y0, y1, x0, x1 = grid.levels[1].pixel_bounds(pos[1], pos[2])
        # the tile's data box runs from half a coarse pixel before its first pixel
        # centre to half a coarse pixel after its last
        box = grid.tile_data_bounds(pos)
        expected = (
            y0 * sy + ty - sy / 2,
            (y1 - 1) * sy + ty + sy / 2,
            x0 * sx + tx - sx / 2,
            (x1 - 1) * sx + tx + sx / 2,
        )
        assert box == pytest.approx(expected, abs=1e-9)
        centre = grid.tile_center(pos)
        assert centre == pytest.approx(
            ((y0 + y1 - 1) / 2 * sy + ty, (x0 + x1 - 1) / 2 * sx + tx), abs=1e-9
        )
