"""The Labels model: integer data and exact, deterministic per-label colours."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest

from tilescope.errors import ArrayProtocolError, LayerDataError, LayerPropertyError
from tilescope.models.layers import Labels
from tilescope.models.layers.colors import default_label_colors


def test_defaults() -> None:
    layer = Labels(np.arange(12, dtype=np.int32).reshape(3, 4))
    assert layer.opacity == 0.7
    assert layer.ndim == 2
    assert layer.background_label == 0
    assert layer.get_color(0) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.bool_]
)
def test_integer_dtypes(dtype: Any) -> None:
    assert Labels(np.zeros((3, 3), dtype=dtype)).dtype == dtype


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(np.zeros((3, 3), np.float32), "integers", id="float"),
        pytest.param(np.zeros(3, np.int32), "at least 2", id="1d"),
        pytest.param(np.zeros((0, 3), np.int32), "empty", id="empty"),
    ],
)
def test_bad_data(data: Any, match: str) -> None:
    with pytest.raises(LayerDataError, match=match):
        Labels(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(np.zeros((3, 3), np.float32), id="float"),
        pytest.param(np.zeros(3, np.int32), id="1d"),
        pytest.param([[1, 2], [3, 4]], id="nested-list"),
        pytest.param([np.zeros((2, 2), np.int32), np.zeros((4, 4), np.int32)], id="growing"),
    ],
)
def test_bad_set_data_changes_nothing(data: Any) -> None:
    layer = Labels(np.arange(12, dtype=np.int32).reshape(3, 4))
    before = (layer.data, layer.data_version, layer.ndim)
    calls: list[str] = []
    layer.events.changed.connect(lambda: calls.append("changed"))
    with pytest.raises((LayerDataError, ArrayProtocolError)):
        layer.data = data
    assert (layer.data, layer.data_version, layer.ndim) == before
    assert calls == []


def test_multiscale_and_lazy_labels() -> None:
    layer = Labels(
        [
            da.zeros((64, 64), dtype=np.uint32, chunks=16),
            da.zeros((32, 32), dtype=np.uint32, chunks=16),
        ]
    )
    assert layer.multiscale
    assert layer.data_level == 1


def test_default_colours_are_deterministic_distinct_and_opaque() -> None:
    layer = Labels(np.zeros((2, 2), np.int32))
    c = [layer.get_color(i) for i in range(1, 200)]
    assert c == [layer.get_color(i) for i in range(1, 200)]
    assert len(set(c)) == len(c)
    assert all(col[3] == 1.0 for col in c)
    again = Labels(np.zeros((2, 2), np.int32))
    assert again.get_color(17) == layer.get_color(17)


def test_seed_changes_colours_and_version() -> None:
    layer = Labels(np.zeros((2, 2), np.int32))
    before = layer.get_color(5)
    layer.seed = 0.25
    assert layer.get_color(5) != before
    assert layer.color_version == 1
    with pytest.raises(LayerPropertyError):
        layer.seed = 1.5
    assert layer.seed == 0.25


def test_explicit_colours() -> None:
    layer = Labels(np.zeros((2, 2), np.int32), color={3: "red", 4: (0, 0, 1, 0.5)})
    assert layer.get_color(3) == (1.0, 0.0, 0.0, 1.0)
    assert layer.get_color(4) == (0.0, 0.0, 1.0, 0.5)
    seen: list[Any] = []
    layer.events.color.connect(seen.append)
    layer.color = {7: "#00ff00"}
    assert layer.get_color(3) != (1.0, 0.0, 0.0, 1.0)
    assert layer.get_color(7) == (0.0, 1.0, 0.0, 1.0)
    assert seen == [{7: (0.0, 1.0, 0.0, 1.0)}]
    assert layer.color_version == 1


@pytest.mark.parametrize(
    "color",
    [
        pytest.param({1: "not-a-colour"}, id="bad-colour"),
        pytest.param({"a": "red"}, id="bad-key"),
        pytest.param({1.5: "red"}, id="float-key"),
        pytest.param(["red"], id="not-mapping"),
        pytest.param({1: (2.0, 0.0, -1.0)}, id="negative"),
    ],
)
def test_bad_colours_change_nothing(color: Any) -> None:
    layer = Labels(np.zeros((2, 2), np.int32), color={1: "red"})
    with pytest.raises(LayerPropertyError):
        layer.color = color
    assert layer.color == {1: (1.0, 0.0, 0.0, 1.0)}
    assert layer.color_version == 0


def test_vectorised_colours_agree_with_get_color() -> None:
    layer = Labels(np.zeros((2, 2), np.int32), color={2: "red"})
    labels = np.array([[0, 1, 2], [3, 2**31 + 5, 0]], dtype=np.int64)
    colors = layer.get_colors(labels)
    assert colors.shape == (2, 3, 4)
    for idx in np.ndindex(labels.shape):
        np.testing.assert_allclose(colors[idx], layer.get_color(int(labels[idx])), rtol=1e-6)
    np.testing.assert_array_equal(layer.default_colors([5]), default_label_colors([5], 0.5))
