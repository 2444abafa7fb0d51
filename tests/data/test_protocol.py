"""The array protocol and multiscale pyramids, on numpy, dask and zarr arrays."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest
import zarr

from tilescope.data.protocol import (
    ArrayLike,
    MultiScaleData,
    as_layer_data,
    is_multiscale,
    validate_array,
)
from tilescope.errors import ArrayProtocolError, LayerDataError


def _zarr(shape: tuple[int, ...], dtype: str = "uint16") -> Any:
    return zarr.create_array(store={}, shape=shape, chunks=(8,) * len(shape), dtype=dtype)


class _NoRead:
    """An array-like whose reads fail: validation must never read values."""

    def __init__(self, shape: tuple[int, ...], dtype: str = "float32") -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> Any:
        raise AssertionError("validation read array values")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.zeros((3, 4)), id="numpy"),
        pytest.param(lambda: da.zeros((3, 4), chunks=2), id="dask"),
        pytest.param(lambda: _zarr((3, 4)), id="zarr"),
        pytest.param(lambda: _NoRead((10**6, 10**6)), id="huge-unreadable"),
    ],
)
def test_arrays_satisfy_the_protocol(make: Any) -> None:
    arr = make()
    assert validate_array(arr) is arr
    assert isinstance(arr, ArrayLike)
    assert is_multiscale(arr) is False
    assert as_layer_data(arr) is arr


@pytest.mark.parametrize(
    ("obj", "missing"),
    [
        pytest.param([[1, 2], [3, 4]], ["shape", "dtype", "ndim"], id="nested-list"),
        pytest.param(object(), ["shape", "dtype", "ndim", "__getitem__"], id="object"),
        pytest.param(5, ["shape", "dtype", "ndim", "__getitem__"], id="int"),
    ],
)
def test_missing_attributes_are_named(obj: object, missing: list[str]) -> None:
    with pytest.raises(ArrayProtocolError) as info:
        validate_array(obj, name="my_data")
    msg = str(info.value)
    assert "my_data" in msg
    lacks = msg.split("lacks ", 1)[1].split(". ", 1)[0]
    assert [name.strip(" '") for name in lacks.split(",")] == missing


def test_nested_list_hint() -> None:
    with pytest.raises(ArrayProtocolError, match=r"numpy\.asarray"):
        validate_array([[1, 2]])


def test_unknown_dask_shape_is_rejected_with_fix() -> None:
    x = da.arange(10, chunks=5)
    y = x[x > 3]
    with pytest.raises(ArrayProtocolError, match="compute_chunk_sizes"):
        validate_array(y)


class _BadNdim(_NoRead):
    @property  # type: ignore[override]
    def ndim(self) -> int:
        return 5

    @ndim.setter
    def ndim(self, value: int) -> None:
        pass


def test_ndim_disagreeing_with_shape_is_rejected() -> None:
    with pytest.raises(ArrayProtocolError, match="ndim is 5"):
        validate_array(_BadNdim((2, 3)))


@pytest.mark.parametrize(
    "levels",
    [
        pytest.param([np.zeros((16, 16)), np.zeros((8, 8)), np.zeros((4, 4))], id="numpy"),
        pytest.param(
            [da.zeros((16, 16), chunks=4), da.zeros((8, 8), chunks=4)],
            id="dask",
        ),
        pytest.param([_zarr((16, 16)), _zarr((8, 8)), _zarr((5, 3))], id="zarr-anisotropic"),
        pytest.param([np.zeros((4, 16, 16)), np.zeros((4, 8, 8))], id="z-not-downsampled"),
    ],
)
def test_multiscale_levels(levels: list[Any]) -> None:
    assert is_multiscale(levels)
    ms = as_layer_data(levels)
    assert isinstance(ms, MultiScaleData)
    assert len(ms) == len(levels)
    assert ms.shape == levels[0].shape
    assert ms.ndim == levels[0].ndim
    assert ms.dtype == levels[0].dtype
    assert ms.shapes == tuple(tuple(a.shape) for a in levels)
    np.testing.assert_array_equal(ms.level_shapes, [a.shape for a in levels])
    expected = np.array(levels[0].shape, float) / np.array([a.shape for a in levels], float)
    np.testing.assert_allclose(ms.downsample_factors, expected)
    for i, a in enumerate(levels):
        assert ms[i] is a
    assert list(ms) == levels


def test_single_array_is_not_multiscale_whatever_its_ndim() -> None:
    assert not is_multiscale(np.zeros((5,)))
    assert not is_multiscale(np.zeros((3, 4, 5, 6)))
    assert not is_multiscale(da.zeros((2, 2), chunks=1))


def test_one_element_list_is_unwrapped() -> None:
    a = np.zeros((4, 4))
    assert not is_multiscale([a])
    assert as_layer_data([a]) is a
    ms = as_layer_data([a], multiscale=True)
    assert isinstance(ms, MultiScaleData)
    assert len(ms) == 1


def test_multiscale_true_wraps_one_array() -> None:
    a = np.zeros((4, 4))
    ms = as_layer_data(a, multiscale=True)
    assert isinstance(ms, MultiScaleData)
    assert ms[0] is a


def test_multiscale_false_rejects_a_pyramid() -> None:
    with pytest.raises(LayerDataError, match="multiscale=False"):
        as_layer_data([np.zeros((4, 4)), np.zeros((2, 2))], multiscale=False)


def test_same_size_list_is_ambiguous() -> None:
    with pytest.raises(LayerDataError, match="stack"):
        is_multiscale([np.zeros((4, 4)), np.zeros((4, 4))])


def test_increasing_sizes_are_rejected() -> None:
    with pytest.raises(LayerDataError, match="finest"):
        is_multiscale([np.zeros((2, 2)), np.zeros((4, 4))])


@pytest.mark.parametrize(
    ("levels", "match"),
    [
        pytest.param([], "at least one level", id="empty"),
        pytest.param([np.zeros((4, 4)), np.zeros((2,))], "same ndim", id="ndim"),
        pytest.param(
            [np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint16)], "same dtype", id="dtype"
        ),
        pytest.param([np.zeros((4, 4)), np.zeros((2, 5))], "never growing", id="grows"),
        pytest.param([np.zeros((4, 4)), "not an array"], "level 1", id="not-array"),
        pytest.param([np.zeros((4, 0))], "empty", id="zero-size"),
    ],
)
def test_bad_pyramids(levels: list[Any], match: str) -> None:
    with pytest.raises((LayerDataError, ArrayProtocolError), match=match):
        MultiScaleData(levels)


def test_multiscale_index_by_level_only() -> None:
    ms = MultiScaleData([np.zeros((4, 4)), np.zeros((2, 2))])
    with pytest.raises(TypeError, match="indexed by level"):
        ms[0, 1]
    assert isinstance(ms[1:], MultiScaleData)
    assert len(ms[1:]) == 1


def test_validation_reads_no_values() -> None:
    levels = [_NoRead((10**6, 10**6)), _NoRead((10**5, 10**5))]
    ms = as_layer_data(levels)
    assert isinstance(ms, MultiScaleData)
    assert ms.shape == (10**6, 10**6)
