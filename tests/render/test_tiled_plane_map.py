"""The tiled frames' per-transform plane map equals data_slice_point and plane_to_world."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.models.dims import Dims
from tilescope.models.dims_mapping import data_slice_point, layer_axes, plane_to_world
from tilescope.models.transforms import Transform
from tilescope.render.tile_layer import LayerTiles
from tilescope.render.tiled import _plane_map

finite = st.floats(-50, 50, allow_nan=False)
scales = st.floats(0.1, 10) | st.floats(-10, -0.1)


@settings(max_examples=80, deadline=None)
@given(
    ndim_world=st.integers(3, 5),
    ndim_layer=st.integers(3, 5),
    scale=st.lists(scales, min_size=5, max_size=5),
    translate=st.lists(finite, min_size=5, max_size=5),
    shear=st.lists(st.floats(-1, 1), min_size=10, max_size=10),
    point=st.lists(finite, min_size=5, max_size=5),
    margins=st.lists(st.floats(0, 5), min_size=10, max_size=10),
    order_seed=st.randoms(use_true_random=False),
)
def test_plane_map_matches_the_model_functions(
    ndim_world: int,
    ndim_layer: int,
    scale: list[float],
    translate: list[float],
    shear: list[float],
    point: list[float],
    margins: list[float],
    order_seed: object,
) -> None:
    ndim_layer = min(ndim_layer, ndim_world)
    n = ndim_layer
    k = n * (n - 1) // 2
    transform = Transform.create(n, scale=scale[:n], translate=translate[:n], shear=shear[:k])
    order = list(range(ndim_world))
    order_seed.shuffle(order)  # type: ignore[attr-defined]
    dims = Dims()
    dims.update(
        ndim=ndim_world,
        range=tuple((-100.0, 100.0, 1.0) for _ in range(ndim_world)),
        order=tuple(order),
        point=tuple(point[:ndim_world]),
        margin_left=tuple(margins[:ndim_world]),
        margin_right=tuple(margins[5 : 5 + ndim_world]),
    )
    state = dims.state
    axes = layer_axes(state, n)
    if len(axes.displayed_layer) != 2:
        return  # a displayed world axis the layer lacks: not drawn tiled
    tiles = LayerTiles.__new__(LayerTiles)
    tiles.plane_map = None
    p, ml, mr, plane_of = _plane_map(transform, axes, tiles).at(state)
    ep, eml, emr = data_slice_point(transform, state, axes)
    np.testing.assert_allclose(p, ep, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ml, eml, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mr, emr, rtol=1e-9, atol=1e-9)
    plane, inverse = plane_of(p)
    expected = plane_to_world(transform, axes, ep)
    np.testing.assert_allclose(plane, expected, rtol=1e-9, atol=1e-9)
    assert inverse is not None
    np.testing.assert_allclose(inverse @ plane, np.eye(3), atol=1e-7)
    assert _plane_map(transform, axes, tiles) is _plane_map(transform, axes, tiles)  # kept
