"""World <-> layer axis mapping: right-aligned, independent of ``dims.order`` (napari #3882)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.errors import DimsError
from tilescope.models.dims import Dims, DimsState
from tilescope.models.dims_mapping import (
    layer_axes,
    layer_axis_to_world,
    world_axis_to_layer,
    world_to_layer_coords,
)


def make_dims(ndim: int, order: tuple[int, ...] | None = None, ndisplay: int = 2) -> DimsState:
    return Dims(ndim, ndisplay=ndisplay, order=order, range=[(0.0, 9.0, 1.0)] * ndim).state


def test_right_alignment() -> None:
    assert [world_axis_to_layer(w, 4, 2) for w in range(4)] == [None, None, 0, 1]
    assert [layer_axis_to_world(a, 4, 2) for a in range(2)] == [2, 3]
    assert [world_axis_to_layer(w, 3, 3) for w in range(3)] == [0, 1, 2]


def test_bad_axes() -> None:
    with pytest.raises(DimsError, match="at least as many"):
        world_axis_to_layer(0, 2, 3)
    with pytest.raises(DimsError, match="out of range"):
        world_axis_to_layer(5, 3, 2)
    with pytest.raises(DimsError, match="out of range"):
        layer_axis_to_world(2, 3, 2)


def test_default_order_2d_layer_in_3d_world() -> None:
    axes = layer_axes(make_dims(3), 2)
    assert axes.displayed_world == (1, 2)
    assert axes.displayed == (0, 1)
    assert axes.not_displayed == ()


def test_issue_3882_example() -> None:
    """World order (2, 0, 1) displays world axes 0 and 1.

    napari maps a 2D layer's axes to (1, 0) there (transposed); in tilescope the
    layer lacks world axis 0 (a length-1 axis on screen), shows its axis 0 (world 1)
    along the second display axis, and slices its axis 1 (world 2).
    """
    axes = layer_axes(make_dims(3, order=(2, 0, 1)), 2)
    assert axes.displayed_world == (0, 1)
    assert axes.displayed == (None, 0)
    assert axes.not_displayed == (1,)
    assert axes.displayed_layer == (0,)


def test_transposed_display() -> None:
    axes = layer_axes(make_dims(3, order=(0, 2, 1)), 3)
    assert axes.displayed == (2, 1)
    assert axes.not_displayed == (0,)


def test_world_to_layer_coords() -> None:
    np.testing.assert_array_equal(world_to_layer_coords([1.0, 2.0, 3.0], 2), [2.0, 3.0])
    np.testing.assert_array_equal(world_to_layer_coords([5.0], 3), [0.0, 0.0, 5.0])
    np.testing.assert_array_equal(
        world_to_layer_coords([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 2), [[2.0, 3.0], [5.0, 6.0]]
    )
    with pytest.raises(DimsError):
        world_to_layer_coords(np.zeros((2, 2, 2)), 2)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[int, int, int, tuple[int, ...]]:
    ndim_world = draw(st.integers(2, 6))
    ndim_layer = draw(st.integers(1, ndim_world))
    ndisplay = draw(st.sampled_from([2, 3] if ndim_world >= 3 else [2]))
    order = tuple(draw(st.permutations(range(ndim_world))))
    return ndim_world, ndim_layer, ndisplay, order


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_mapping_follows_axis_identity_under_any_order(
    case: tuple[int, int, int, tuple[int, ...]],
) -> None:
    ndim_world, ndim_layer, ndisplay, order = case
    dims = make_dims(ndim_world, order=order, ndisplay=ndisplay)
    axes = layer_axes(dims, ndim_layer)
    off = ndim_world - ndim_layer
    # every displayed world axis maps to the layer axis of the same identity
    for w, a in zip(axes.displayed_world, axes.displayed, strict=True):
        assert a == (w - off if w >= off else None)
    # displayed and sliced layer axes partition the layer's axes
    assert sorted(axes.displayed_layer + axes.not_displayed) == list(range(ndim_layer))
    assert list(axes.not_displayed) == sorted(axes.not_displayed)
    # a sliced layer axis is exactly one whose world axis is not displayed
    for a in axes.not_displayed:
        assert a + off in dims.not_displayed


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_identity_of_each_world_axis_is_order_independent(case: tuple[int, int]) -> None:
    ndim_world, ndim_layer = case
    seen: dict[int, set[int | None]] = {w: set() for w in range(ndim_world)}
    for order in itertools.permutations(range(ndim_world)):
        axes = layer_axes(make_dims(ndim_world, order=order), ndim_layer)
        for w, a in zip(axes.displayed_world, axes.displayed, strict=True):
            seen[w].add(a)
    for mapped in seen.values():
        assert len(mapped) <= 1


def test_data_slice_point_and_plane_to_world() -> None:
    from tilescope.models.dims_mapping import data_slice_point, plane_to_world
    from tilescope.models.transforms import Transform

    shear = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]  # x_world = x + 0.5 z
    t = Transform.create(3, scale=(2.0, 1.0, 1.0), translate=(1.0, 0.0, 0.0), shear=shear)
    dims = Dims(
        3, range=[(0, 9, 1)] * 3, point=(9, 0, 0), margin_left=(2, 0, 0), margin_right=(4, 0, 0)
    ).state
    axes = layer_axes(dims, 3)
    p, ml, mr = data_slice_point(t, dims, axes)
    np.testing.assert_allclose([p[0], ml[0], mr[0]], [4.0, 1.0, 2.0])
    plane = plane_to_world(t, axes, p)
    # data (y, x) on the plane z = 4 sits at world (y, x + 0.5 * 2 * 4)
    np.testing.assert_allclose(plane, [[1, 0, 0], [0, 1, 4.0], [0, 0, 1]])
    full = t.data_to_world([4.0, 3.0, 5.0])
    np.testing.assert_allclose(plane @ [3.0, 5.0, 1.0], [full[1], full[2], 1.0])
