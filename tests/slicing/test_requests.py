"""Slice requests and responses: indices, display order, slice->world, levels, points."""

from __future__ import annotations

import itertools
from typing import Any

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.cancel import Cancelled, CancelToken
from tilescope.errors import ReadValidationError, SliceError
from tilescope.models.dims import Dims, DimsState, RangeTuple
from tilescope.models.layers import Image, Labels, Points
from tilescope.slicing import (
    ImageSliceRequest,
    ImageSliceResponse,
    PointsSliceRequest,
    build_slice_request,
    request_signature,
)
from tilescope.tiles.view import update_view


def make_dims(
    point: tuple[float, ...],
    order: tuple[int, ...] | None = None,
    ndisplay: int = 2,
    margin_left: tuple[float, ...] | None = None,
    margin_right: tuple[float, ...] | None = None,
) -> DimsState:
    n = len(point)
    return DimsState(
        ndim=n,
        ndisplay=ndisplay,
        order=tuple(range(n)) if order is None else order,
        axis_labels=tuple(str(i) for i in range(n)),
        range=tuple(RangeTuple(0.0, 10.0, 1.0) for _ in range(n)),
        point=tuple(float(p) for p in point),
        margin_left=margin_left or (0.0,) * n,
        margin_right=margin_right or (0.0,) * n,
    )


def image_response(layer: Any, dims: DimsState) -> ImageSliceResponse:
    request = build_slice_request(layer, dims)
    assert isinstance(request, ImageSliceRequest)
    response = request()
    assert response.request is request
    return response


class Untouchable:
    """Array metadata without readable values: building a request must not read."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("storage offline")


def test_building_reads_nothing_and_call_errors_are_slice_errors() -> None:
    layer = Image(Untouchable((4, 8, 8)), contrast_limits=(0, 1))
    request = build_slice_request(layer, make_dims((2, 0, 0)))
    with pytest.raises(SliceError, match="storage offline"):
        request()


def test_requests_are_frozen_values() -> None:
    layer = Image(np.zeros((4, 8, 8)))
    request = build_slice_request(layer, make_dims((2, 0, 0)))
    with pytest.raises(AttributeError):
        request.level = 3  # type: ignore[misc]
    assert request.layer_id == layer.layer_id
    assert request.data_version == layer.data_version


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda a: a, id="numpy"),
        pytest.param(lambda a: da.from_array(a, chunks=(1, 3, 3)), id="dask"),
        pytest.param(lambda a: _to_zarr(a), id="zarr"),
    ],
)
def test_point_slice_for_every_array_type(wrap: Any) -> None:
    a = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    layer = Image(wrap(a), scale=(2.0, 1.0, 1.0), translate=(1.0, 0.0, 0.0))
    r = image_response(layer, make_dims((5.2, 0, 0)))  # data z = 2.1 -> 2
    assert not r.empty
    np.testing.assert_array_equal(r.data, a[2])
    np.testing.assert_array_equal(r.slice_to_world, np.eye(3))
    r = image_response(layer, make_dims((5.2, 0, 0), order=(0, 2, 1)))
    np.testing.assert_array_equal(r.data, a[2].T)


def _to_zarr(a: np.ndarray) -> Any:
    z = zarr.create_array(store={}, shape=a.shape, chunks=(1, 3, 3), dtype=a.dtype)
    z[...] = a
    return z


@pytest.mark.parametrize("z", [-2.0, -0.51, 3.6, 10.0], ids=lambda z: f"z={z}")
def test_out_of_range_point_gives_empty_slice(z: float) -> None:
    layer = Image(np.ones((4, 5, 6), np.uint16))
    r = image_response(layer, make_dims((z, 0, 0)))
    assert r.empty
    assert r.data.shape == (1, 1)
    assert r.data.dtype == np.uint16
    assert not r.data.any()


def test_labels_slice_keeps_integers() -> None:
    a = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    layer = Labels(a)
    request = build_slice_request(layer, make_dims((1, 0, 0)))
    assert isinstance(request, ImageSliceRequest)
    assert request.kind == "labels"
    np.testing.assert_array_equal(request().data, a[1])


def test_rgb_keeps_the_channel_last() -> None:
    a = np.random.default_rng(0).integers(0, 255, (3, 40, 50, 3), dtype=np.uint8)
    layer = Image(a)
    assert layer.rgb
    r = image_response(layer, make_dims((1, 0, 0)))
    np.testing.assert_array_equal(r.data, a[1])
    r = image_response(layer, make_dims((1, 0, 0), order=(0, 2, 1)))
    np.testing.assert_array_equal(r.data, a[1].transpose(1, 0, 2))
    empty = image_response(layer, make_dims((7, 0, 0)))
    assert empty.data.shape == (1, 1, 3)


def test_3d_display() -> None:
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    layer = Image(a)
    r = image_response(layer, make_dims((1, 0, 0, 0), ndisplay=3, order=(0, 3, 1, 2)))
    np.testing.assert_array_equal(r.data, a[1].transpose(2, 0, 1))
    assert r.slice_to_world.shape == (4, 4)


def test_thick_projection_over_two_axes() -> None:
    a = np.random.default_rng(1).random((5, 6, 3, 4))
    layer = Image(a, projection_mode="mean")
    dims = make_dims((2, 3, 0, 0), margin_left=(1, 0, 0, 0), margin_right=(1, 2, 0, 0))
    r = image_response(layer, dims)
    np.testing.assert_allclose(r.data, a[1:4, 3:6].mean(axis=(0, 1)))


def test_thickness_ignored_in_none_mode() -> None:
    a = np.random.default_rng(2).random((5, 3, 4))
    layer = Image(a)
    r = image_response(layer, make_dims((2, 0, 0), margin_left=(2, 0, 0), margin_right=(2, 0, 0)))
    np.testing.assert_array_equal(r.data, a[2])


def test_lower_dim_layer_follows_axis_identity_issue_3882() -> None:
    a = np.arange(20).reshape(4, 5)
    layer = Image(a)
    # world order (2, 0, 1): world axes 0 and 1 are displayed; the 2D layer owns
    # world axes 1 and 2, so it shows its axis 0 along display axis 1 and is sliced
    # at world axis 2 = 3.
    r = image_response(layer, make_dims((0, 0, 3), order=(2, 0, 1)))
    assert r.data.shape == (1, 4)
    np.testing.assert_array_equal(r.data[0], a[:, 3])
    np.testing.assert_array_equal(r.slice_to_world, np.eye(3))
    # default order: the plain image
    np.testing.assert_array_equal(image_response(layer, make_dims((0, 0, 0))).data, a)


# --- slice->world ----------------------------------------------------------------

_scale = st.floats(0.25, 4).flatmap(lambda v: st.sampled_from([v, -v]))


@settings(max_examples=80, deadline=None)
@given(
    order=st.permutations(range(3)),
    scale=st.tuples(_scale, _scale, _scale),
    translate=st.tuples(*[st.floats(-20, 20)] * 3),
    angle=st.floats(-180, 180),
    z=st.integers(0, 3),
)
def test_slice_to_world_maps_every_pixel_to_its_world_position(
    order: list[int],
    scale: tuple[float, ...],
    translate: tuple[float, ...],
    angle: float,
    z: int,
) -> None:
    shape = (4, 5, 6)
    a = np.arange(np.prod(shape)).reshape(shape)  # value = flat data index
    order_t = tuple(order)
    displayed = order_t[-2:]
    rot = np.eye(3)
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    rot[np.ix_(displayed, displayed)] = [[c, -s], [s, c]]  # rotation within the displayed plane
    layer = Image(a, scale=scale, translate=translate, rotate=rot, contrast_limits=(0, 1))
    sliced = order_t[0]
    data_point = np.zeros(3)
    data_point[sliced] = z
    world_point = layer.data_to_world(data_point)
    r = image_response(layer, make_dims(tuple(world_point), order=order_t))
    assert not r.empty
    for j in itertools.product(*[range(n) for n in r.data.shape]):
        idx = np.unravel_index(int(r.data[j]), shape)
        world = layer.data_to_world(np.array(idx, float))
        mapped = r.slice_to_world @ np.array([*j, 1.0])
        np.testing.assert_allclose(mapped[:2], world[list(displayed)], atol=1e-8)


def test_shear_into_the_sliced_axis_shifts_the_plane() -> None:
    shear = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]  # x_world = x + 0.5 z
    layer = Image(np.zeros((4, 5, 6)), shear=shear)
    r = image_response(layer, make_dims((2, 0, 0)))
    np.testing.assert_allclose(r.slice_to_world, [[1, 0, 0], [0, 1, 1.0], [0, 0, 1]])


# --- multiscale -----------------------------------------------------------------


def _pyramid() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.random((3, 64, 64)), rng.random((3, 32, 32)), rng.random((3, 16, 16))]


def test_multiscale_default_reads_the_coarsest_level_in_full() -> None:
    levels = _pyramid()
    layer = Image(levels)
    r = image_response(layer, make_dims((1, 0, 0)))
    assert r.level == 2
    np.testing.assert_array_equal(r.data, levels[2][1])
    # level-2 pixel i covers level-0 pixels 4i..4i+3: centred at 4i + 1.5 (napari: 4i)
    np.testing.assert_allclose(r.slice_to_world, [[4, 0, 1.5], [0, 4, 1.5], [0, 0, 1]])


def test_multiscale_reads_the_corner_pixels_region_at_data_level() -> None:
    levels = _pyramid()
    layer = Image(levels, scale=(1.0, 0.5, 0.5))
    update_view(layer, [[10, 20], [40, 50]], (10, 10))
    assert layer.data_level == 1
    (y0, x0), (y1, x1) = layer.corner_pixels[:, 1:]
    assert (y0, x0, y1, x1) == (5, 10, 20, 25)
    request = build_slice_request(layer, make_dims((2, 0, 0)))
    assert isinstance(request, ImageSliceRequest)
    assert request.region == ((5, 21), (10, 26))
    r = request()
    np.testing.assert_array_equal(r.data, levels[1][2, 5:21, 10:26])
    # level-1 pixel (i, j) of the region sits at level-0 data ((5 + i) * 2 + 0.5,
    # (10 + j) * 2 + 0.5), the centre of its 2x2 footprint (napari: no + 0.5); world = data / 2
    np.testing.assert_allclose(r.slice_to_world, [[1, 0, 5.25], [0, 1, 10.25], [0, 0, 1]])


def test_multiscale_3d_uses_coarsest_unless_locked() -> None:
    levels = _pyramid()
    layer = Image(levels)
    dims = make_dims((0, 0, 0), ndisplay=3)
    assert build_slice_request(layer, dims).level == 2  # type: ignore[union-attr]
    layer.locked_data_level = 0
    r = image_response(layer, dims)
    assert r.level == 0
    np.testing.assert_array_equal(r.data, levels[0])


def test_multiscale_sliced_axis_downsampled() -> None:
    base = np.arange(8 * 4 * 4, dtype=float).reshape(8, 4, 4)
    levels = [base, base[::2, ::2, ::2]]
    layer = Image(levels)
    layer.locked_data_level = 1
    update_view(layer, [[0, 0], [3, 3]], (4, 4))
    r = image_response(layer, make_dims((5, 0, 0)))
    assert r.level == 1
    # level-0 plane 5 lies in level-1 plane floor(5.5 / 2) = 2 (planes 4 and 5)
    np.testing.assert_array_equal(r.data, levels[1][2])
    # plane 3 lies in plane 1 (planes 2 and 3); napari reads round(3 / 2) = 2
    r = image_response(layer, make_dims((3, 0, 0)))
    np.testing.assert_array_equal(r.data, levels[1][1])


# --- points ---------------------------------------------------------------------


def test_points_zero_thickness_uses_half_the_size() -> None:
    data = np.array([[0.0, 1.0, 2.0], [1.4, 3.0, 4.0], [2.0, 5.0, 6.0], [1.0, 7.0, 8.0]])
    layer = Points(data, size=[1.0, 1.0, 4.0, 0.0], face_color="red")
    request = build_slice_request(layer, make_dims((1, 0, 0)))
    assert isinstance(request, PointsSliceRequest)
    r = request()
    # |1.4 - 1| <= 1/2, |2 - 1| <= 4/2, and an exact hit of size 0; not |0 - 1| > 1/2
    np.testing.assert_array_equal(r.indices, [1, 2, 3])
    np.testing.assert_array_equal(r.coords, [[3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    np.testing.assert_array_equal(r.face_colors, [[1, 0, 0, 1]] * 3)
    np.testing.assert_array_equal(r.sizes, [1.0, 4.0, 0.0])


def test_points_thick_window_and_world_coords() -> None:
    data = np.array([[0.0, 1.0, 2.0], [1.4, 3.0, 4.0], [3.0, 5.0, 6.0]])
    layer = Points(data, size=0.1, scale=(1.0, 2.0, 2.0), translate=(0.0, 10.0, 0.0))
    dims = make_dims((1, 0, 0), margin_left=(1, 0, 0), margin_right=(0.5, 0, 0), order=(0, 2, 1))
    r = build_slice_request(layer, dims)()
    np.testing.assert_array_equal(r.indices, [0, 1])  # window [0, 1.5]
    np.testing.assert_allclose(r.coords, [[4.0, 12.0], [8.0, 16.0]])  # display order (x, y)
    np.testing.assert_allclose(r.sizes, [0.2, 0.2])  # world units


def test_points_empty_and_all_displayed() -> None:
    empty = Points(ndim=3)
    r = build_slice_request(empty, make_dims((0, 0, 0)))()
    assert r.coords.shape == (0, 2)
    pts = Points(np.array([[1.0, 2.0], [3.0, 4.0]]))
    r = build_slice_request(pts, make_dims((0, 0)))()
    np.testing.assert_array_equal(r.indices, [0, 1])


def test_lower_dim_points_broadcast_along_missing_world_axes() -> None:
    pts = Points(np.array([[1.0, 2.0]]))
    r = build_slice_request(pts, make_dims((7, 0, 0)))()
    np.testing.assert_array_equal(r.coords, [[1.0, 2.0]])


def test_unsupported_layer_type() -> None:
    with pytest.raises(TypeError, match="cannot slice"):
        build_slice_request(object(), make_dims((0, 0)))  # type: ignore[arg-type]


def test_cancelled_token_stops_before_reading() -> None:
    layer = Image(Untouchable((4, 8, 8)), contrast_limits=(0, 1))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_slice_request(layer, make_dims((2, 0, 0)))(token)
    points = build_slice_request(Points(np.zeros((2, 3))), make_dims((0, 0, 0)))
    with pytest.raises(Cancelled):
        points(token)
    live = CancelToken()
    assert (
        build_slice_request(Image(np.ones((2, 3, 3))), make_dims((1, 0, 0)))(live).data.sum() == 9
    )


def test_request_signature_changes_only_with_what_is_read() -> None:
    layer = Image(np.zeros((4, 8, 8), np.float32), contrast_limits=(0, 1))
    dims = Dims(3, range=[(0, 3, 1), (0, 7, 1), (0, 7, 1)]).state
    same = request_signature(build_slice_request(layer, dims))
    layer.gamma = 0.5  # display only
    assert request_signature(build_slice_request(layer, dims)) == same
    moved = Dims(3, range=[(0, 3, 1), (0, 7, 1), (0, 7, 1)], point=(2, 0, 0)).state
    assert request_signature(build_slice_request(layer, moved)) != same
    layer.projection_mode = "max"
    assert request_signature(build_slice_request(layer, dims)) != same


class Faulty:
    """Array metadata that promises ``shape``; reads return ``result`` instead."""

    def __init__(self, shape: tuple[int, ...], dtype: Any, result: Any) -> None:
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)
        self.result = result

    def __getitem__(self, key: Any) -> Any:
        return self.result


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        pytest.param(
            np.zeros((7, 5), np.float32), r"shape \(7, 5\), expected \(8, 8\)", id="shape"
        ),
        pytest.param(np.full((8, 8), "x"), "<U1", id="str"),
        pytest.param(np.zeros((8, 8), object), "object", id="object"),
        pytest.param(np.zeros((8, 8), np.complex64), "complex", id="complex"),
    ],
)
def test_a_bad_read_result_is_a_slice_error_naming_the_layer(result: Any, fragment: str) -> None:
    layer = Image(Faulty((3, 8, 8), np.float32, result), name="faulty", contrast_limits=(0, 1))
    request = build_slice_request(layer, make_dims((1, 0, 0)))
    with pytest.raises(ReadValidationError, match=fragment) as info:
        request()
    assert "'faulty'" in str(info.value)


def test_dask_reads_go_through_the_given_compute() -> None:
    arr = da.arange(3 * 4 * 4, chunks=4).reshape((3, 4, 4)).astype(np.float32)
    request = build_slice_request(Image(arr, contrast_limits=(0, 1)), make_dims((2, 0, 0)))
    assert isinstance(request, ImageSliceRequest)
    seen: list[object] = []

    def compute(obj: object) -> np.ndarray:
        seen.append(obj)
        return np.asarray(obj)

    response = request(compute=compute)
    assert len(seen) == 1
    assert isinstance(seen[0], da.Array)
    np.testing.assert_array_equal(response.data, np.asarray(arr[2]))


def test_the_worker_makes_slices_texture_ready() -> None:
    """Labels indexing, dtype conversion and striding happen where the slice is read."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (4, 6, 5)).astype(np.int64) * 10_000_000_019
    response = image_response(Labels(labels), make_dims((0.0, 0.0, 0.0), ndisplay=3))
    assert response.texture is not None
    assert response.texture.dtype == np.float32
    assert response.table is not None
    np.testing.assert_array_equal(response.table[response.texture.astype(int)], labels)
    volume = rng.random((5, 3000, 4)).astype(np.float64)  # taller than a 3D texture
    response = image_response(Image(volume), make_dims((0.0, 0.0, 0.0), ndisplay=3))
    assert response.texture is not None
    assert response.texture.dtype == np.float32
    assert response.strides == (1, 2, 1)
    np.testing.assert_array_equal(response.texture, volume[:, ::2].astype(np.float32))
