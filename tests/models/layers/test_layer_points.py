"""The Points model: N x D coordinates, sizes and colours."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tilescope.errors import LayerDataError, LayerPropertyError
from tilescope.models.layers import Points


def test_defaults_and_extent() -> None:
    pts = Points(np.array([[0.0, 1.0], [4.0, -2.0], [2.0, 3.0]]))
    assert pts.ndim == 2
    assert pts.n_points == 3
    np.testing.assert_array_equal(pts.size, [10.0, 10.0, 10.0])
    np.testing.assert_array_equal(pts.face_color, np.ones((3, 4)))
    assert pts.edge_color.shape == (3, 4)
    np.testing.assert_array_equal(pts.extent.data, [[0, -2], [4, 3]])
    assert pts.edge_width == 0.05
    assert pts.edge_width_is_relative


def test_empty_points() -> None:
    pts = Points(ndim=3)
    assert pts.ndim == 3
    assert pts.n_points == 0
    assert np.all(np.isnan(pts.extent.data))
    assert np.all(np.isnan(pts.extent.world))
    assert Points().ndim == 2
    assert Points([]).n_points == 0


def test_per_point_values() -> None:
    pts = Points(np.zeros((3, 2)), size=[1, 2, 3], face_color=["red", "green", "blue"])
    np.testing.assert_array_equal(pts.size, [1, 2, 3])
    np.testing.assert_allclose(
        pts.face_color[:, :3], [[1, 0, 0], [0, 128 / 255, 0], [0, 0, 1]], rtol=1e-6
    )
    pts.face_color = np.array([[1.0, 0.0, 0.0, 0.5]] * 3)
    np.testing.assert_array_equal(pts.face_color[:, 3], [0.5] * 3)


def test_replacing_data_with_other_count_resets_per_point_values() -> None:
    pts = Points(np.zeros((3, 2)), size=4.0, face_color="red")
    seen: list[Any] = []
    pts.events.data.connect(seen.append)
    pts.data = np.ones((5, 2))
    assert pts.n_points == 5
    np.testing.assert_array_equal(pts.size, [4.0] * 5)
    np.testing.assert_array_equal(pts.face_color, [[1, 0, 0, 1]] * 5)
    assert pts.data_version == 1
    assert len(seen) == 1


def test_replacing_data_with_other_ndim() -> None:
    pts = Points(np.zeros((3, 2)), scale=(2.0, 3.0))
    pts.data = np.zeros((3, 4))
    assert pts.ndim == 4
    np.testing.assert_array_equal(pts.scale, [1, 1, 2, 3])


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        pytest.param(np.zeros(3), {}, id="1d"),
        pytest.param(np.zeros((2, 2, 2)), {}, id="3d"),
        pytest.param(np.array([[np.nan, 1.0]]), {}, id="nan"),
        pytest.param(np.zeros((2, 3)), {"ndim": 2}, id="ndim-mismatch"),
        pytest.param([["a", "b"]], {}, id="strings"),
    ],
)
def test_bad_data(data: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(LayerDataError):
        Points(data, **kwargs)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("size", -1.0, id="size-negative"),
        pytest.param("size", [1.0, 2.0], id="size-count"),
        pytest.param("size", np.nan, id="size-nan"),
        pytest.param("face_color", "nocolour", id="face"),
        pytest.param("face_color", ["red", "blue"], id="face-count"),
        pytest.param("edge_color", np.zeros((3, 5)), id="edge-shape"),
        pytest.param("edge_width", -0.1, id="edge-width"),
        pytest.param("edge_width_is_relative", "yes", id="relative"),
    ],
)
def test_bad_properties_change_nothing(field: str, value: Any) -> None:
    pts = Points(np.zeros((3, 2)))
    fields = ("size", "face_color", "edge_color", "edge_width", "edge_width_is_relative")
    before = {k: np.copy(getattr(pts, k)) for k in fields}
    calls: list[str] = []
    pts.events.changed.connect(lambda: calls.append("changed"))
    with pytest.raises(LayerPropertyError):
        setattr(pts, field, value)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(pts, k), v)
    assert calls == []
    pts.data = np.ones((5, 2))  # the defaults for new points were not changed either
    np.testing.assert_array_equal(pts.size, [10.0] * 5)
    np.testing.assert_array_equal(pts.face_color, [[1.0, 1.0, 1.0, 1.0]] * 5)


def test_bad_data_assignment_changes_nothing() -> None:
    pts = Points(np.zeros((3, 2)))
    with pytest.raises(LayerDataError):
        pts.data = np.zeros((3, 2, 1))
    assert pts.n_points == 3
    assert pts.data_version == 0


def test_data_is_read_only() -> None:
    pts = Points(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="read-only"):
        pts.data[0, 0] = 1.0


def test_a_size_the_renderer_cannot_draw_is_refused() -> None:
    with pytest.raises(LayerPropertyError, match="sizes"):
        Points(np.zeros((2, 2)), size=3.4e38)
