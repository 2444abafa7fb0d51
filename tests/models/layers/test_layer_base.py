"""Behaviour every layer shares: events, validation that changes nothing, transforms, extent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tilescope.errors import LayerPropertyError, TilescopeError, TransformError
from tilescope.models.layers import Image, Labels, Layer, Points
from tilescope.models.transforms import Affine, Transform


def _layers() -> list[Any]:
    return [
        pytest.param(lambda: Image(np.zeros((4, 5, 6))), id="image"),
        pytest.param(lambda: Labels(np.zeros((4, 5, 6), dtype=np.int32)), id="labels"),
        pytest.param(lambda: Points(np.zeros((3, 3))), id="points"),
    ]


class Recorder:
    """Collects every signal a layer emits, in order."""

    def __init__(self, layer: Layer) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        for name in layer.events:
            layer.events[name].connect(self._make(name))

    def _make(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.calls]


def _state(layer: Layer) -> dict[str, Any]:
    out = {}
    for key in ("name", "visible", "opacity", "blending", "metadata", "transform", "data_version"):
        out[key] = getattr(layer, key)
    return out


@pytest.mark.parametrize("make", _layers())
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        pytest.param("opacity", 1.5, LayerPropertyError, id="opacity>1"),
        pytest.param("opacity", -0.1, LayerPropertyError, id="opacity<0"),
        pytest.param("opacity", float("nan"), LayerPropertyError, id="opacity-nan"),
        pytest.param("opacity", "half", LayerPropertyError, id="opacity-str"),
        pytest.param("blending", "multiply", LayerPropertyError, id="blending"),
        pytest.param("visible", "yes", LayerPropertyError, id="visible"),
        pytest.param("name", 3, LayerPropertyError, id="name"),
        pytest.param("metadata", [1, 2], LayerPropertyError, id="metadata"),
        pytest.param("scale", (1.0, 0.0, 1.0), TransformError, id="zero-scale"),
        pytest.param("scale", (1.0, 2.0), TransformError, id="scale-length"),
        pytest.param("translate", (0.0, np.nan, 0.0), TransformError, id="translate-nan"),
        pytest.param("rotate", np.zeros((2, 2)), TransformError, id="rotate-singular"),
        pytest.param("shear", [[1.0, 1.0], [1.0, 1.0]], TransformError, id="shear-full"),
        pytest.param("affine", np.zeros((5, 5)), TransformError, id="affine-bad"),
        pytest.param("transform", Transform.create(2), TransformError, id="transform-ndim"),
    ],
)
def test_invalid_values_raise_and_change_nothing(
    make: Any, field: str, value: Any, error: type[Exception]
) -> None:
    layer = make()
    before = _state(layer)
    rec = Recorder(layer)
    with pytest.raises(error) as info:
        setattr(layer, field, value)
    assert isinstance(info.value, TilescopeError)
    assert isinstance(info.value, ValueError)
    assert _state(layer) == before
    assert rec.calls == []


@pytest.mark.parametrize("make", _layers())
def test_field_signal_then_one_changed(make: Any) -> None:
    layer = make()
    rec = Recorder(layer)
    layer.opacity = 0.25
    assert rec.calls == [("opacity", (0.25,)), ("changed", ())]
    rec.calls.clear()
    layer.opacity = 0.25  # same value: silent
    assert rec.calls == []
    layer.scale = (2.0, 3.0, 4.0)
    assert rec.names == ["transform", "changed"]
    assert isinstance(rec.calls[0][1][0], Transform)
    np.testing.assert_array_equal(layer.scale, [2.0, 3.0, 4.0])


@pytest.mark.parametrize("make", _layers())
def test_simple_fields_round_trip(make: Any) -> None:
    layer = make()
    layer.name = "cells"
    layer.visible = False
    layer.blending = "additive"
    md = {"a": 1}
    layer.metadata = md
    md["b"] = 2
    assert (layer.name, layer.visible, layer.blending) == ("cells", False, "additive")
    assert layer.metadata == {"a": 1}


def test_layer_ids_are_unique() -> None:
    ids = {Image(np.zeros((2, 2))).layer_id for _ in range(20)}
    assert len(ids) == 20


def test_world_to_data_napari_alignment() -> None:
    layer = Image(np.zeros((4, 5)), scale=(2.0, 4.0), translate=(1.0, 2.0))
    np.testing.assert_allclose(layer.world_to_data([3.0, 10.0]), [1.0, 2.0])
    # longer world coordinates: the last ndim values are used
    np.testing.assert_allclose(layer.world_to_data([99.0, 3.0, 10.0]), [1.0, 2.0])
    # shorter: left-padded with zeros
    np.testing.assert_allclose(layer.world_to_data([10.0]), [-0.5, 2.0])
    np.testing.assert_allclose(layer.data_to_world([1.0, 2.0]), [3.0, 10.0])
    np.testing.assert_allclose(layer.world_to_data([[3.0, 10.0], [1.0, 2.0]]), [[1, 2], [0, 0]])


def test_extent_of_pixel_centres() -> None:
    layer = Image(np.zeros((4, 5)), scale=(2.0, -1.0), translate=(10.0, 0.0))
    ext = layer.extent
    np.testing.assert_array_equal(ext.data, [[0, 0], [3, 4]])
    np.testing.assert_array_equal(ext.world, [[10, -4], [16, 0]])
    np.testing.assert_array_equal(ext.step, [2.0, 1.0])


def test_affine_setter_accepts_napari_forms() -> None:
    layer = Image(np.zeros((4, 5)))
    layer.affine = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 2.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(layer.data_to_world([1.0, 1.0]), [3.0, 5.0])
    layer.affine = Affine.identity(2)
    np.testing.assert_allclose(layer.data_to_world([1.0, 1.0]), [1.0, 1.0])
    layer.rotate = 90.0
    np.testing.assert_allclose(layer.data_to_world([1.0, 0.0]), [0.0, 1.0], atol=1e-12)
    layer.shear = [0.5]
    np.testing.assert_allclose(layer.shear, [[1.0, 0.5], [0.0, 1.0]])


def test_extent_is_kept_until_data_or_transform_changes() -> None:
    layer = Points(np.array([[0.0, 0.0], [4.0, 2.0]]))
    first = layer.extent
    layer.opacity = 0.5  # not an extent change: the same object comes back
    assert layer.extent is first
    layer.scale = (2.0, 1.0)
    np.testing.assert_array_equal(layer.extent.world, [[0, 0], [8, 2]])
    layer.data = np.array([[1.0, 1.0], [3.0, 5.0]])
    np.testing.assert_array_equal(layer.extent.world, [[2, 1], [6, 5]])
