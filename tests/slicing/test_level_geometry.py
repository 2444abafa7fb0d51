"""Slicer and tiles share one level geometry: same plane, same coarse pixel position.

The slicer (:mod:`tilescope.slicing.requests`) and the tile engine
(:mod:`tilescope.tiles.source`, :mod:`tilescope.tiles.grid`) both use
:mod:`tilescope.tiles.geometry`; these tests put the two side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.models.dims import DimsState, RangeTuple
from tilescope.models.layers import Image
from tilescope.slicing import ImageSliceRequest, build_slice_request
from tilescope.slicing.projection import thick_window
from tilescope.tiles.source import TileSource


def dims_at(
    point: tuple[float, ...], ndisplay: int = 2, margin: tuple[float, ...] | None = None
) -> DimsState:
    n = len(point)
    return DimsState(
        ndim=n,
        ndisplay=ndisplay,
        order=tuple(range(n)),
        axis_labels=tuple(str(i) for i in range(n)),
        range=tuple(RangeTuple(0.0, 100.0, 1.0) for _ in range(n)),
        point=tuple(float(p) for p in point),
        margin_left=margin or (0.0,) * n,
        margin_right=margin or (0.0,) * n,
    )


def request_for(layer: Image, dims: DimsState) -> ImageSliceRequest:
    request = build_slice_request(layer, dims)
    assert isinstance(request, ImageSliceRequest)
    return request


def labelled_pyramid(shapes: list[tuple[int, ...]]) -> list[npt.NDArray[Any]]:
    """Levels whose every value is unique (level * 1e6 + flat index): reads are traceable."""
    return [
        (np.arange(int(np.prod(s)), dtype=np.float64) + 1e6 * lvl).reshape(s)
        for lvl, s in enumerate(shapes)
    ]


def test_z3_level1_of_a_2x_pyramid_slicer_and_tiles_show_plane_1() -> None:
    levels = labelled_pyramid([(8, 16, 16), (4, 8, 8)])
    layer = Image(levels)
    layer.locked_data_level = 1
    request = request_for(layer, dims_at((3, 0, 0)))
    assert request.level == 1
    assert request.windows == ((1, 2),)  # napari: round(3 / 2) = 2
    source = TileSource.create(levels, (1, 2), layer_id=1, tile_shape=8, max_root_size=8)
    assert source.slice_at_level((3,), 1) == (1,)
    response = request()
    np.testing.assert_array_equal(response.data, levels[1][1])
    tile = source.read_tile(source.tile_slice((3,)).key((1, 0, 0)))
    np.testing.assert_array_equal(tile, response.data)


def test_slice_to_world_places_a_coarse_pixel_where_the_tiles_do() -> None:
    levels = labelled_pyramid([(2, 64, 64), (2, 32, 32), (2, 16, 16)])
    layer = Image(levels)  # 2D default: the coarsest level in full
    response = request_for(layer, dims_at((0, 0, 0)))()
    assert response.level == 2
    # level-2 pixel i covers level-0 pixels 4i..4i+3: centre 4i + 1.5
    np.testing.assert_allclose(response.slice_to_world, [[4, 0, 1.5], [0, 4, 1.5], [0, 0, 1]])
    source = TileSource.create(levels, (1, 2), layer_id=1, tile_shape=16, max_root_size=16)
    sy, sx, ty, tx = source.grid.level_to_data(2)
    assert (sy, sx, ty, tx) == (4.0, 4.0, 1.5, 1.5)
    for i, j in ((0, 0), (3, 7), (15, 15)):
        world = response.slice_to_world @ np.array([i, j, 1.0])
        np.testing.assert_allclose(world[:2], (i * sy + ty, j * sx + tx))
    # the tile's data box in level-0 coordinates is the response's pixel extent
    ymin, ymax, xmin, xmax = source.grid.tile_data_bounds((2, 0, 0))
    corner = response.slice_to_world @ np.array([-0.5, -0.5, 1.0])
    far = response.slice_to_world @ np.array([15.5, 15.5, 1.0])
    np.testing.assert_allclose([corner[0], far[0], corner[1], far[1]], [ymin, ymax, xmin, xmax])


@st.composite
def pyramids(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """2-4 levels of ``(z, y, x)`` that never grow: halving and non-halving sizes."""
    shape = (draw(st.integers(1, 12)), draw(st.integers(2, 24)), draw(st.integers(2, 24)))
    shapes = [shape]
    for _ in range(draw(st.integers(1, 3))):
        prev = shapes[-1]
        if prev[1] * prev[2] == 1:
            break
        # each level strictly smaller (a pyramid), any sizes: not only halving
        shapes.append(
            draw(
                st.tuples(
                    st.integers(1, prev[0]), st.integers(1, prev[1]), st.integers(1, prev[2])
                ).filter(lambda s, p=prev: s[1] * s[2] < p[1] * p[2])  # type: ignore[misc]
            )
        )
    return shapes


@settings(max_examples=80, deadline=None)
@given(
    shapes=pyramids(),
    data=st.data(),
    mode=st.sampled_from(["none", "none", "sum", "max", "mean"]),
)
def test_slicer_and_tiles_agree_on_random_pyramids(
    shapes: list[tuple[int, int, int]], data: st.DataObject, mode: str
) -> None:
    levels = labelled_pyramid(shapes)
    level = data.draw(st.integers(0, len(shapes) - 1))
    z = data.draw(st.integers(0, shapes[0][0] - 1))
    margin = float(data.draw(st.integers(0, 3))) if mode != "none" else 0.0
    layer = Image(levels, projection_mode=mode)
    layer.locked_data_level = level
    request = request_for(layer, dims_at((z, 0, 0), margin=(margin, 0.0, 0.0)))
    assert request.level == level
    source = TileSource.create(levels, (1, 2), layer_id=1, tile_shape=8, max_root_size=8)
    assert source.grid.nlevels == len(shapes)
    if mode == "none":
        tiles = source.tile_slice((z,))
        (k,) = tiles.level_slices[level]
        assert request.windows == ((k, k + 1),)
    else:
        window0 = thick_window(z, margin, margin, shapes[0][0])
        assert window0 is not None
        tiles = source.tile_slice((z,), [window0], mode)
        assert request.windows == tiles.level_windows[level]
    # same pixel positions: the response's map equals the grid's level -> data map
    sy, sx, ty, tx = source.grid.level_to_data(level)
    np.testing.assert_allclose(
        request.slice_to_world, [[sy, 0, ty], [0, sx, tx], [0, 0, 1]], rtol=1e-12
    )
    # same pixels: a tile equals the response's pixels at the same place
    response = request()
    key = tiles.key((level, 0, 0))
    y0, y1, x0, x1 = source.grid.levels[level].pixel_bounds(0, 0)
    np.testing.assert_allclose(source.read_tile(key), response.data[y0:y1, x0:x1], rtol=1e-12)


def test_3d_slicing_of_a_pyramid_uses_the_same_plane_and_offset_rules() -> None:
    levels = labelled_pyramid([(4, 8, 16, 16), (2, 4, 8, 8)])
    layer = Image(levels)  # 3D: the coarsest level in full
    request = request_for(layer, dims_at((3, 0, 0, 0), ndisplay=3))
    assert request.level == 1
    # t = 3 at level 1: plane 1, which holds level-0 planes 2 and 3 (napari: plane 2)
    source = TileSource.create(levels, (2, 3), layer_id=1, tile_shape=8, max_root_size=8)
    assert source.slice_at_level((3, 0), 1) == (1, 0)
    assert request.windows == ((1, 2),)
    response = request()
    np.testing.assert_array_equal(response.data, levels[1][1])
    # every displayed axis: scale f = 2, offset (f - 1) / 2 = 0.5 (the grid's map)
    _, _, ty, tx = source.grid.level_to_data(1)
    assert (ty, tx) == (0.5, 0.5)
    np.testing.assert_allclose(
        response.slice_to_world,
        [[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 2, 0.5], [0, 0, 0, 1]],
    )
