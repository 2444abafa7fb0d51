"""Splitting multichannel data the way napari's ``channel_axis`` does, lazily."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given
from hypothesis import strategies as st

from tilescope.data.channels import ChannelView, default_channel_colormaps, split_channels
from tilescope.errors import LayerDataError, LayerPropertyError


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, ["gray"]),
        (2, ["magenta", "green"]),
        (3, ["cyan", "yellow", "magenta"]),
        (8, ["cyan", "yellow", "magenta", "red", "green", "blue", "cyan", "yellow"]),
    ],
)
def test_default_colormaps_are_napari_s(n: int, expected: list[str]) -> None:
    assert default_channel_colormaps(n) == expected


def test_numpy_channels_are_views_with_napari_defaults() -> None:
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(4, 3, 5)
    specs = split_channels(data, 1, {})
    assert len(specs) == 3
    for i, spec in enumerate(specs):
        assert np.shares_memory(spec.data, data)
        np.testing.assert_array_equal(spec.data, data[:, i])
        assert spec.kwargs["blending"] == "additive"
        assert spec.kwargs["name"] == f"Image [{i}]"
    assert [s.kwargs["colormap"] for s in specs] == ["cyan", "yellow", "magenta"]


def test_per_channel_lists_and_single_values() -> None:
    data = np.zeros((2, 8, 8), np.uint16)
    specs = split_channels(
        data,
        0,
        {
            "name": ["a", "b"],
            "colormap": ["red", "blue"],
            "contrast_limits": [(0, 10), (5, 50)],
            "opacity": 0.5,
            "gamma": [1.0, 2.0],
            "visible": [True, False],
            "blending": "translucent",
            "scale": (2.0, 3.0),
            "translate": [(0.0, 0.0), (1.0, 1.0)],
        },
    )
    a, b = (s.kwargs for s in specs)
    assert (a["name"], b["name"]) == ("a", "b")
    assert (a["colormap"], b["colormap"]) == ("red", "blue")
    assert (a["contrast_limits"], b["contrast_limits"]) == ((0, 10), (5, 50))
    assert a["opacity"] == b["opacity"] == 0.5
    assert (a["gamma"], b["gamma"]) == (1.0, 2.0)
    assert (a["visible"], b["visible"]) == (True, False)
    assert a["blending"] == b["blending"] == "translucent"
    assert a["scale"] == b["scale"] == (2.0, 3.0)  # one sequence: for every channel
    assert (a["translate"], b["translate"]) == ((0.0, 0.0), (1.0, 1.0))


def test_single_contrast_limits_pair_applies_to_all() -> None:
    specs = split_channels(np.zeros((3, 4, 4)), 0, {"contrast_limits": (0, 1)})
    assert [s.kwargs["contrast_limits"] for s in specs] == [(0, 1)] * 3


def test_single_name_is_numbered() -> None:
    specs = split_channels(np.zeros((2, 4, 4)), 0, {"name": "cells"})
    assert [s.kwargs["name"] for s in specs] == ["cells [0]", "cells [1]"]


def test_wrong_length_list_is_refused() -> None:
    with pytest.raises(LayerPropertyError, match=r"colormap has 2 entries.*3 channels"):
        split_channels(np.zeros((3, 4, 4)), 0, {"colormap": ["red", "green"]})


@pytest.mark.parametrize("axis", [3, -4])
def test_axis_outside_the_data(axis: int) -> None:
    with pytest.raises(LayerDataError, match=r"channel_axis=.* outside data with 3 axes"):
        split_channels(np.zeros((2, 4, 4)), axis, {})


def test_pyramid_is_split_level_by_level() -> None:
    levels = [np.arange(2 * 8 * 8).reshape(2, 8, 8), np.arange(2 * 4 * 4).reshape(2, 4, 4)]
    specs = split_channels(levels, 0, {})
    assert all(isinstance(s.data, list) and len(s.data) == 2 for s in specs)
    np.testing.assert_array_equal(specs[1].data[1], levels[1][1])
    with pytest.raises(LayerDataError, match=r"level 1 .* every level needs the 2 channels"):
        split_channels([levels[0], np.zeros((3, 4, 4))], 0, {})


def test_dask_stays_dask() -> None:
    data = da.zeros((2, 16, 16), chunks=(1, 8, 8))
    specs = split_channels(data, 0, {})
    assert all(isinstance(s.data, da.Array) for s in specs)


def test_zarr_channels_are_lazy_views_keeping_chunks(tmp_path: Path) -> None:
    z = zarr.create_array(tmp_path / "a.zarr", shape=(16, 3, 20), chunks=(8, 1, 10), dtype="i4")
    full = np.arange(16 * 3 * 20, dtype=np.int32).reshape(16, 3, 20)
    z[:] = full
    (_, spec, _) = split_channels(z, 1, {})
    view = spec.data
    assert isinstance(view, ChannelView)
    assert view.shape == (16, 20)
    assert view.ndim == 2
    assert view.dtype == np.int32
    assert view.chunks == (8, 10)
    np.testing.assert_array_equal(view[2:5, 3:9], full[2:5, 1, 3:9])
    np.testing.assert_array_equal(view[..., 4], full[:, 1, 4])
    np.testing.assert_array_equal(np.asarray(view), full[:, 1])


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    data=st.data(),
)
def test_channel_view_matches_numpy_indexing(shape: list[int], data: st.DataObject) -> None:
    arr = np.arange(int(np.prod(shape))).reshape(shape)
    axis = data.draw(st.integers(0, len(shape) - 1))
    index = data.draw(st.integers(0, shape[axis] - 1))
    view = ChannelView(arr, axis, index)
    expected = np.take(arr, index, axis=axis)
    key = tuple(
        data.draw(st.one_of(st.integers(0, n - 1), st.just(slice(None)), st.just(slice(0, n, 2))))
        for n in expected.shape
    )
    np.testing.assert_array_equal(view[key], expected[key])
