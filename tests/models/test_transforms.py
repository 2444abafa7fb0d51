"""Affine values and layer transforms: composition, inverses, validation, extents."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.errors import TransformError
from tilescope.models.transforms import Affine, Transform, rotation_matrix, shear_matrix

# --- Affine --------------------------------------------------------------------


def test_identity_and_apply_shapes() -> None:
    a = Affine.identity(3)
    assert a.ndim == 3
    np.testing.assert_array_equal(a([1.0, 2.0, 3.0]), [1, 2, 3])
    pts = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(a(pts), pts)
    with pytest.raises(TransformError, match="3 coordinates"):
        a([1.0, 2.0])


def test_compose_applies_right_operand_first() -> None:
    scale = Affine.from_scale_translate([2.0, 3.0])
    shift = Affine.from_scale_translate([1.0, 1.0], [10.0, 20.0])
    np.testing.assert_allclose((shift @ scale)([1.0, 1.0]), [12.0, 23.0])
    np.testing.assert_allclose((scale @ shift)([1.0, 1.0]), [22.0, 63.0])
    assert scale.compose(shift) == scale @ shift


def test_inverse_and_singular() -> None:
    a = Affine.from_linear([[0.0, 2.0], [-1.0, 0.0]], [3.0, 4.0])
    np.testing.assert_allclose((a.inverse @ a).matrix, np.eye(3), atol=1e-12)
    singular = Affine.from_linear([[1.0, 2.0], [2.0, 4.0]])
    assert not singular.is_invertible
    with pytest.raises(TransformError, match="singular"):
        _ = singular.inverse


def test_value_semantics_and_read_only() -> None:
    a = Affine.from_scale_translate([2.0, 3.0], [1.0, 1.0])
    b = Affine.from_scale_translate([2.0, 3.0], [1.0, 1.0])
    assert a == b
    assert hash(a) == hash(b)
    assert a != Affine.identity(2)
    assert len({a, b}) == 1
    with pytest.raises(ValueError, match="read-only"):
        a.matrix[0, 0] = 5.0


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        pytest.param(np.eye(3)[:2], "square", id="not-square"),
        pytest.param([[1.0, np.nan, 0.0], [0, 1, 0], [0, 0, 1]], "finite", id="nan"),
        pytest.param([[1.0, 0, 0], [0, 1, 0], [0.5, 0, 1]], "last row", id="projective"),
    ],
)
def test_bad_affine_matrices(matrix: Any, match: str) -> None:
    with pytest.raises(TransformError, match=match):
        Affine(np.asarray(matrix, dtype=float))


def test_subset_and_expand_dims() -> None:
    lin = np.array([[2.0, 0.5, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
    a = Affine.from_linear(lin, [1.0, 2.0, 3.0])
    sub = a.subset([0, 2])
    np.testing.assert_array_equal(sub.linear, [[2.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(sub.translate, [1.0, 3.0])
    big = a.expand_dims(5)
    np.testing.assert_array_equal(big.linear[2:, 2:], lin)
    np.testing.assert_array_equal(big.linear[:2, :2], np.eye(2))
    np.testing.assert_array_equal(big.translate, [0, 0, 1, 2, 3])


def test_scale_of_rotated_map_is_the_scale() -> None:
    rot = rotation_matrix(30.0, 2)
    a = Affine.from_linear(rot @ np.diag([2.0, 5.0]))
    assert not a.is_diagonal
    np.testing.assert_allclose(np.abs(a.scale), [2.0, 5.0])
    np.testing.assert_array_equal(Affine.from_scale_translate([-2.0, 3.0]).scale, [-2.0, 3.0])


# --- Transform -----------------------------------------------------------------


def test_composition_order_is_napari() -> None:
    scale, translate = np.array([2.0, 3.0, 4.0]), np.array([1.0, -2.0, 5.0])
    rotate = rotation_matrix((10.0, 20.0, 30.0), 3)
    shear = shear_matrix([0.1, 0.2, 0.3], 3)
    affine = np.array(
        [[1.0, 0.2, 0.0, 7.0], [0.0, 2.0, 0.1, -1.0], [0.3, 0.0, 1.0, 2.0], [0, 0, 0, 1]]
    )
    t = Transform.create(
        3, scale=scale, translate=translate, rotate=rotate, shear=shear, affine=affine
    )
    x = np.array([3.0, -1.0, 2.0])
    phys = rotate @ shear @ (scale * x) + translate
    expected = affine[:3, :3] @ phys + affine[:3, 3]
    np.testing.assert_allclose(t.data_to_world(x), expected)
    np.testing.assert_allclose(t.world_to_data(expected), x)


def test_rotate_angle_2d() -> None:
    t = Transform.create(2, rotate=90.0)
    np.testing.assert_allclose(t.data_to_world([1.0, 0.0]), [0.0, 1.0], atol=1e-12)


def test_rotate_and_shear_embed_bottom_right() -> None:
    t = Transform.create(4, rotate=90.0, shear=[0.5])
    lin = t.data_to_world.linear
    np.testing.assert_allclose(lin[:2, :2], np.eye(2))
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(lin[2:, 2:], rot @ np.array([[1.0, 0.5], [0.0, 1.0]]), atol=1e-12)


def test_shear_vector_fills_upper_triangle_row_by_row() -> None:
    np.testing.assert_array_equal(
        shear_matrix([1.0, 2.0, 3.0], 3), [[1.0, 1.0, 2.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]]
    )


def test_lower_triangular_shear_matrix_is_accepted() -> None:
    sh = np.array([[1.0, 0.0], [0.7, 1.0]])
    t = Transform.create(2, shear=sh)
    np.testing.assert_array_equal(t.shear, sh)


def test_affine_as_linear_matrix() -> None:
    lin = np.array([[0.0, 1.0], [1.0, 0.0]])
    t = Transform.create(2, affine=lin)
    np.testing.assert_array_equal(t.data_to_world([2.0, 5.0]), [5.0, 2.0])
    assert Transform.create(2, affine=Affine.from_linear(lin)) == t


def test_smaller_affine_object_is_right_aligned() -> None:
    t = Transform.create(3, affine=Affine.from_scale_translate([2.0, 3.0], [1.0, 1.0]))
    np.testing.assert_array_equal(t.data_to_world([1.0, 1.0, 1.0]), [1.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"scale": (1.0, 2.0)}, "2 values but the layer has 3", id="scale-length"),
        pytest.param({"scale": (1.0, 0.0, 2.0)}, "scale is 0 on axis 1", id="zero-scale"),
        pytest.param({"scale": 2.0}, "sequence of 3", id="scalar-scale"),
        pytest.param({"translate": (0.0, np.nan, 0.0)}, "finite", id="nan-translate"),
        pytest.param({"translate": (0.0, np.inf, 0.0)}, "finite", id="inf-translate"),
        pytest.param({"rotate": np.zeros((3, 3))}, "singular", id="singular-rotate"),
        pytest.param({"rotate": np.eye(4)}, "4x4", id="rotate-too-big"),
        pytest.param({"rotate": [1.0, 2.0]}, "3 angles", id="rotate-2-values"),
        pytest.param({"rotate": np.nan}, "finite", id="nan-angle"),
        pytest.param({"shear": [1.0, 2.0]}, "k\\(k-1\\)/2", id="shear-length"),
        pytest.param({"shear": [[1.0, 2.0], [3.0, 1.0]]}, "triangular", id="shear-full"),
        pytest.param({"shear": [[0.0, 2.0], [0.0, 1.0]]}, "singular", id="shear-singular"),
        pytest.param({"affine": np.eye(5)[:, :4]}, "homogeneous", id="affine-shape"),
        pytest.param({"affine": np.zeros((4, 4)) + np.eye(4)[3]}, "singular", id="affine-singular"),
        pytest.param({"affine": "nope"}, "affine", id="affine-type"),
    ],
)
def test_invalid_transform_inputs(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TransformError, match=match):
        Transform.create(3, **kwargs)


def test_three_angles_need_3d() -> None:
    with pytest.raises(TransformError, match="at least 3"):
        Transform.create(2, rotate=(1.0, 2.0, 3.0))


def test_replace_validates_and_keeps_the_rest() -> None:
    t = Transform.create(2, scale=(2.0, 3.0), rotate=15.0)
    t2 = t.replace(translate=(5.0, 6.0))
    np.testing.assert_array_equal(t2.scale, [2.0, 3.0])
    np.testing.assert_array_equal(t2.rotate, t.rotate)
    np.testing.assert_array_equal(t2.translate, [5.0, 6.0])
    with pytest.raises(TransformError):
        t.replace(scale=(0.0, 1.0))
    with pytest.raises(TransformError, match="unknown"):
        t.replace(skew=1)


def test_composed_maps_are_built_once_and_follow_replace() -> None:
    t = Transform.create(2, scale=(2.0, 3.0), rotate=15.0)
    assert t.data_to_world is t.data_to_world
    assert t.world_to_data is t.world_to_data
    assert (t.world_to_data @ t.data_to_world).allclose(Affine.identity(2))
    moved = t.replace(translate=(5.0, 6.0))
    np.testing.assert_allclose(moved.data_to_world.translate, [5.0, 6.0])
    np.testing.assert_allclose(moved.world_to_data([5.0, 6.0]), [0.0, 0.0], atol=1e-12)
    assert t == Transform.create(2, scale=(2.0, 3.0), rotate=15.0)  # the cache is not compared


def test_step_is_abs_scale() -> None:
    t = Transform.create(3, scale=(-2.0, 0.5, 3.0), rotate=40.0)
    np.testing.assert_allclose(t.step, [2.0, 0.5, 3.0])


def test_world_extent_of_pixel_centres() -> None:
    t = Transform.create(2, scale=(2.0, -1.0), translate=(10.0, 0.0))
    ext = t.world_extent([[0.0, 0.0], [4.0, 9.0]])
    np.testing.assert_array_equal(ext, [[10.0, -9.0], [18.0, 0.0]])


def test_with_ndim() -> None:
    t = Transform.create(2, scale=(2.0, 3.0), translate=(1.0, 1.0), rotate=30.0)
    up = t.with_ndim(4)
    np.testing.assert_allclose(up.data_to_world([7.0, 7.0, 1.0, 2.0])[:2], [7.0, 7.0])
    np.testing.assert_allclose(up.data_to_world([0.0, 0.0, 1.0, 2.0])[2:], t.data_to_world([1, 2]))
    assert up.with_ndim(2).data_to_world.allclose(t.data_to_world)
    mixed = Transform.create(2, rotate=90.0, scale=(2.0, 3.0))
    down = mixed.with_ndim(1)  # the kept 1x1 block of the rotation is 0: falls back
    np.testing.assert_array_equal(down.scale, [3.0])


# --- properties ----------------------------------------------------------------

_finite = st.floats(-100, 100, allow_nan=False)
_scale = st.floats(0.1, 10).flatmap(lambda v: st.sampled_from([v, -v]))


@st.composite
def transforms(draw: st.DrawFn) -> Transform:
    ndim = draw(st.integers(1, 4))
    scale = draw(st.lists(_scale, min_size=ndim, max_size=ndim))
    translate = draw(st.lists(_finite, min_size=ndim, max_size=ndim))
    rotate: Any = None
    shear: Any = None
    if ndim >= 2 and draw(st.booleans()):
        rotate = draw(st.floats(-360, 360))
    if ndim >= 3 and draw(st.booleans()):
        rotate = draw(st.tuples(*[st.floats(-180, 180)] * 3))
    if ndim >= 2 and draw(st.booleans()):
        k = ndim * (ndim - 1) // 2
        shear = draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k))
    affine: Any = None
    if draw(st.booleans()):
        angle = draw(st.floats(-180, 180))
        lin = np.diag(draw(st.lists(_scale, min_size=ndim, max_size=ndim)))
        if ndim >= 2:
            lin = rotation_matrix(angle, ndim) @ lin
        aff = np.eye(ndim + 1)
        aff[:ndim, :ndim] = lin
        aff[:ndim, ndim] = draw(st.lists(_finite, min_size=ndim, max_size=ndim))
        affine = aff
    return Transform.create(
        ndim, scale=scale, translate=translate, rotate=rotate, shear=shear, affine=affine
    )


@settings(max_examples=200, deadline=None)
@given(t=transforms(), data=st.data())
def test_round_trip(t: Transform, data: st.DataObject) -> None:
    pts = np.array(
        data.draw(st.lists(st.lists(_finite, min_size=t.ndim, max_size=t.ndim), min_size=1))
    )
    back = t.world_to_data(t.data_to_world(pts))
    np.testing.assert_allclose(back, pts, atol=1e-7 * (1 + np.abs(pts).max()))


@settings(max_examples=100, deadline=None)
@given(t=transforms(), data=st.data())
def test_world_extent_is_the_box_of_the_corners(t: Transform, data: st.DataObject) -> None:
    lo = np.array(data.draw(st.lists(_finite, min_size=t.ndim, max_size=t.ndim)))
    size = np.array(data.draw(st.lists(st.floats(0, 50), min_size=t.ndim, max_size=t.ndim)))
    box = np.stack([lo, lo + size])
    corners = np.array(list(itertools.product(*box.T)))
    world = t.data_to_world(corners)
    np.testing.assert_allclose(
        t.world_extent(box), [world.min(axis=0), world.max(axis=0)], atol=1e-9
    )


@settings(max_examples=100, deadline=None)
@given(t=transforms())
def test_step_matches_qr_definition(t: Transform) -> None:
    lin = np.asarray(t.data_to_world.linear)
    _, r = np.linalg.qr(lin)
    assert np.all(t.step > 0)
    if not t.data_to_world.is_diagonal:
        np.testing.assert_allclose(t.step, np.abs(np.diag(r)))
    assert math.isclose(float(np.prod(t.step)), abs(np.linalg.det(lin)), rel_tol=1e-6)


@pytest.mark.parametrize(
    ("part", "value"),
    [
        pytest.param("scale", {"a": 1}, id="scale-dict"),
        pytest.param("translate", {"a": 1}, id="translate-dict"),
        pytest.param("scale", ["a", "b", "c"], id="scale-strings"),
        pytest.param("rotate", "x", id="rotate-str"),
        pytest.param("rotate", {"a": 1}, id="rotate-dict"),
        pytest.param("shear", {"a": 1}, id="shear-dict"),
        pytest.param("shear", ["x"], id="shear-strings"),
    ],
)
def test_non_numeric_parts_are_transform_errors_naming_the_part(part: str, value: Any) -> None:
    with pytest.raises(TransformError, match=part) as info:
        Transform.create(3, **{part: value})
    assert repr(value) in str(info.value)
