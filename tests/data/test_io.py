"""Opening files: lazily, with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from tilescope.data.io import read_path
from tilescope.errors import DataSourceError, TilescopeError, UnsupportedFormatError


def test_npy_is_memory_mapped(tmp_path: Path) -> None:
    arr = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    np.save(tmp_path / "a.npy", arr)
    (spec,) = read_path(tmp_path / "a.npy")
    assert isinstance(spec.data, np.memmap)
    assert spec.name == "a"
    np.testing.assert_array_equal(np.asarray(spec.data), arr)


def test_tiff_plain_and_pyramidal(tmp_path: Path) -> None:
    arr = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)) % 1000
    tifffile.imwrite(tmp_path / "plain.tif", arr)
    (spec,) = read_path(tmp_path / "plain.tif")
    np.testing.assert_array_equal(np.asarray(spec.data[:]), arr)
    assert spec.close is not None
    spec.close()

    with tifffile.TiffWriter(tmp_path / "pyr.tif") as tw:
        tw.write(arr, subifds=2, tile=(16, 16))
        tw.write(arr[::2, ::2], subfiletype=1, tile=(16, 16))
        tw.write(arr[::4, ::4], subfiletype=1, tile=(16, 16))
    (spec,) = read_path(tmp_path / "pyr.tif")
    assert [lv.shape for lv in spec.data] == [(64, 64), (32, 32), (16, 16)]
    np.testing.assert_array_equal(spec.data[1][:], arr[::2, ::2])
    assert spec.close is not None
    spec.close()


def test_zarr_array_and_pyramid_group(tmp_path: Path) -> None:
    z = zarr.create_array(tmp_path / "one.zarr", shape=(8, 8), chunks=(4, 4), dtype="u1")
    z[:] = 7
    (spec,) = read_path(tmp_path / "one.zarr")
    assert spec.name == "one"
    assert spec.data.shape == (8, 8)

    g = zarr.open_group(tmp_path / "pyr.zarr", mode="w")
    g.create_array("0", shape=(16, 16), chunks=(8, 8), dtype="u2")
    g.create_array("1", shape=(8, 8), chunks=(8, 8), dtype="u2")
    (spec,) = read_path(tmp_path / "pyr.zarr")
    assert [lv.shape for lv in spec.data] == [(16, 16), (8, 8)]


def test_zarr_group_without_levels_names_its_arrays(tmp_path: Path) -> None:
    g = zarr.open_group(tmp_path / "g.zarr", mode="w")
    g.create_array("raw", shape=(4, 4), dtype="u1")
    with pytest.raises(UnsupportedFormatError, match=r"raw"):
        read_path(tmp_path / "g.zarr")


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        pytest.param("missing.npy", None, DataSourceError, id="missing"),
        pytest.param("notes.txt", b"hello", UnsupportedFormatError, id="unknown-suffix"),
        pytest.param("corrupt.npy", b"not numpy", DataSourceError, id="corrupt-npy"),
        pytest.param("corrupt.tif", b"II*\x00garbage", DataSourceError, id="corrupt-tif"),
    ],
)
def test_bad_paths_raise_clear_typed_errors(
    tmp_path: Path, name: str, content: bytes | None, error: type[TilescopeError]
) -> None:
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(error) as info:
        read_path(p)
    assert name in str(info.value)
