"""add_image's input adaptation: xarray DataArrays (dims, coords, units) and channel splits."""

from __future__ import annotations

import numpy as np
import xarray as xr

from tilescope.data.layer_input import image_specs, is_xarray, unwrap_xarray


def _arr(**coords: object) -> xr.DataArray:
    return xr.DataArray(np.zeros((3, 4, 5), np.float32), dims=("z", "y", "x"), coords=coords)


def test_regular_coords_become_scale_and_translate() -> None:
    arr = _arr(z=[10.0, 12.0, 14.0], x=0.5 + 0.25 * np.arange(5))
    data, kw = unwrap_xarray(arr, {})
    assert isinstance(data, np.ndarray)
    assert kw["scale"] == (2.0, 1.0, 0.25)
    assert kw["translate"] == (10.0, 0.0, 0.5)
    assert kw["metadata"]["axis_labels"] == ("z", "y", "x")
    assert "units" not in kw["metadata"]


def test_irregular_or_non_numeric_coords_keep_pixels() -> None:
    arr = _arr(z=[0.0, 1.0, 3.0], y=list("abcd"))
    _, kw = unwrap_xarray(arr, {})
    assert kw["scale"] == (1.0, 1.0, 1.0)
    assert kw["translate"] == (0.0, 0.0, 0.0)


def test_explicit_keywords_and_units() -> None:
    arr = _arr(x=np.arange(5) * 2.0)
    arr.coords["x"].attrs["units"] = "micrometer"
    _, kw = unwrap_xarray(arr, {"scale": (1, 1, 1), "metadata": {"axis_labels": ("a", "b", "c")}})
    assert kw["scale"] == (1, 1, 1)
    assert kw["metadata"]["axis_labels"] == ("a", "b", "c")
    assert kw["metadata"]["units"] == (None, None, "micrometer")


def test_pyramid_of_dataarrays_and_plain_arrays_pass_through() -> None:
    levels = [_arr(y=np.arange(4) * 3.0), _arr()]
    data, kw = unwrap_xarray(levels, {})
    assert all(isinstance(level, np.ndarray) for level in data)
    assert kw["scale"] == (1.0, 3.0, 1.0)
    plain = np.zeros((2, 2))
    assert unwrap_xarray(plain, {"name": "p"}) == (plain, {"name": "p"})
    assert not is_xarray(plain)
    assert is_xarray(levels[0])


def test_channel_split_drops_the_channel_axis_from_derived_keywords() -> None:
    arr = xr.DataArray(np.zeros((2, 4, 5)), dims=("c", "y", "x"), coords={"y": np.arange(4) * 0.5})
    specs = image_specs(arr, 0, {})
    assert len(specs) == 2
    assert specs[0].kwargs["scale"] == (0.5, 1.0)
    assert specs[0].kwargs["metadata"]["axis_labels"] == ("y", "x")
    given = image_specs(arr, 0, {"scale": (2.0, 2.0)})
    assert given[1].kwargs["scale"] == (2.0, 2.0)
