"""TIFF files written by tifffile: compressed pyramids, OME metadata, RGB, missing codecs."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tilescope.data.io import read_path
from tilescope.errors import UnsupportedFormatError


def _levels(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else [data]


def _smooth(shape: tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray[Any, Any]:
    """A smooth picture (JPEG keeps it close) with some texture."""
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    base = 100 + 60 * np.sin(yy / 9.0) * np.cos(xx / 13.0)
    return np.broadcast_to(base, shape).astype(dtype)


def _write_pyramid(path: Path, data: np.ndarray[Any, Any], compression: str, **kw: Any) -> None:
    opts = {"tile": (64, 64), "compression": compression, **kw}
    with tifffile.TiffWriter(path) as tw:
        tw.write(data, subifds=2, **opts)
        tw.write(data[..., ::2, ::2], subfiletype=1, **opts)
        tw.write(data[..., ::4, ::4], subfiletype=1, **opts)


@pytest.mark.parametrize("compression", ["jpeg", "lzw", "zstd", "jpeg2000", "deflate"])
def test_compressed_pyramid_levels_decode(tmp_path: Path, compression: str) -> None:
    data = _smooth((256, 320))
    path = tmp_path / f"slide_{compression}.tif"
    _write_pyramid(path, data, compression)
    (spec,) = read_path(path)
    levels = _levels(spec.data)
    assert [lv.shape for lv in levels] == [(256, 320), (128, 160), (64, 80)]
    with tifffile.TiffFile(path) as tf:
        for i, level in enumerate(levels):
            expected = tf.series[0].levels[i].asarray()  # tifffile's own decoding
            np.testing.assert_array_equal(np.asarray(level[:]), expected)
            assert level.chunks == (64, 64)  # tiles are the chunks: no level read whole
    if compression != "jpeg":
        np.testing.assert_array_equal(np.asarray(levels[1][:]), data[::2, ::2])
    else:
        assert np.abs(np.asarray(levels[0][:]).astype(int) - data).max() < 12
    region = np.asarray(levels[0][64:128, 128:192])
    np.testing.assert_array_equal(region, np.asarray(levels[0][:])[64:128, 128:192])
    assert spec.close is not None
    spec.close()


def test_ome_tiff_channels_physical_size_and_names(tmp_path: Path) -> None:
    data = np.stack([_smooth((128, 128), np.uint16) * (c + 1) for c in range(3)])
    path = tmp_path / "cells.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        opts = {"tile": (64, 64), "compression": "zstd", "photometric": "minisblack"}
        tw.write(
            data,
            subifds=1,
            metadata={
                "axes": "CYX",
                "PhysicalSizeX": 0.25,
                "PhysicalSizeY": 0.5,
                "Channel": {"Name": ["DAPI", "GFP", "RFP"]},
            },
            **opts,
        )
        tw.write(data[:, ::2, ::2], subfiletype=1, **opts)
    specs = read_path(path)
    assert [s.name for s in specs] == ["DAPI", "GFP", "RFP"]
    for c, spec in enumerate(specs):
        levels = _levels(spec.data)
        assert [lv.shape for lv in levels] == [(128, 128), (64, 64)]
        np.testing.assert_array_equal(np.asarray(levels[0][:]), data[c])
        np.testing.assert_array_equal(np.asarray(levels[1][:]), data[c, ::2, ::2])
        assert spec.kwargs["scale"] == (0.5, 0.25)
        assert spec.kwargs["metadata"]["axis_labels"] == ("y", "x")
        assert spec.kwargs["metadata"]["units"] == ("micrometer", "micrometer")
        assert spec.kwargs["blending"] == "additive"
    assert [s.kwargs["colormap"] for s in specs] == ["cyan", "yellow", "magenta"]
    # one file, closed once every channel layer let go of it
    specs[0].close()  # type: ignore[misc]
    assert np.asarray(_levels(specs[1].data)[0][:2, :2]).shape == (2, 2)
    for spec in specs[1:]:
        spec.close()  # type: ignore[misc]


def test_rgb_stays_rgb(tmp_path: Path) -> None:
    rgb = np.stack([_smooth((128, 128)), _smooth((128, 128)) // 2, _smooth((128, 128)) // 3], -1)
    path = tmp_path / "rgb.tif"
    opts: dict[str, Any] = {"tile": (64, 64), "compression": "jpeg", "photometric": "rgb"}
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb, subifds=1, **opts)
        tw.write(rgb[::2, ::2], subfiletype=1, **opts)
    (spec,) = read_path(path)
    assert spec.kwargs["rgb"] is True
    assert [lv.shape for lv in _levels(spec.data)] == [(128, 128, 3), (64, 64, 3)]
    with tifffile.TiffFile(path) as tf:
        expected = tf.series[0].levels[1].asarray()
    np.testing.assert_array_equal(np.asarray(_levels(spec.data)[1][:]), expected)
    assert spec.kwargs["scale"] == (1.0, 1.0)
    assert spec.close is not None
    spec.close()


def test_resolution_tags_give_micrometre_scale(tmp_path: Path) -> None:
    path = tmp_path / "res.tif"
    # 20000 pixels per centimetre = 0.5 µm per pixel
    tifffile.imwrite(
        path, _smooth((64, 64)), resolution=(20000, 20000), resolutionunit="CENTIMETER"
    )
    (spec,) = read_path(path)
    assert spec.kwargs["scale"] == pytest.approx((0.5, 0.5))
    assert spec.kwargs["metadata"]["units"] == ("micrometer", "micrometer")
    assert spec.close is not None
    spec.close()


def _patch_compression(path: Path, value: int) -> None:
    """Rewrite the Compression tag of every IFD in place (a codec nobody has)."""
    with tifffile.TiffFile(path) as tf:
        offsets = [page.tags["Compression"].valueoffset for page in tf.pages]
        byteorder = tf.byteorder
    with open(path, "r+b") as f:
        for offset in offsets:
            f.seek(offset)
            f.write(struct.pack(byteorder + "H", value))


def test_missing_codec_is_a_clear_error_at_open(tmp_path: Path) -> None:
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, _smooth((64, 64)), tile=(32, 32))
    _patch_compression(path, 33333)
    with pytest.raises(UnsupportedFormatError, match=r"odd.tif.*compressed with.*imagecodecs"):
        read_path(path)


def test_svs_layout_levels_and_mpp(tmp_path: Path) -> None:
    """Aperio's layout (levels as top-level pages after a thumbnail), written by tifffile."""
    yy, xx = np.mgrid[0:512, 0:768]
    rgb = np.stack([(128 + 100 * np.sin(yy / 20) * np.cos(xx / 30)).astype(np.uint8)] * 3, -1)
    head = "Aperio Image Library v12.0.15\r\n"
    opts: dict[str, Any] = {"compression": "jpeg", "photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(tmp_path / "slide.svs") as tw:
        tw.write(rgb, tile=(256, 256), description=head + "768x512|MPP = 0.4990", **opts)
        tw.write(rgb[::8, ::8], description=head + "thumbnail", **opts)
        tw.write(rgb[::2, ::2], tile=(256, 256), description=head + "level 1", **opts)
        tw.write(rgb[::4, ::4], tile=(256, 256), description=head + "level 2", **opts)
    (spec,) = read_path(tmp_path / "slide.svs")
    levels = _levels(spec.data)
    assert [lv.shape for lv in levels] == [(512, 768, 3), (256, 384, 3), (128, 192, 3)]
    assert spec.kwargs["rgb"] is True
    assert spec.kwargs["scale"] == (0.499, 0.499)
    with tifffile.TiffFile(tmp_path / "slide.svs") as tf:
        np.testing.assert_array_equal(np.asarray(levels[2][:]), tf.series[0].levels[2].asarray())
    assert spec.close is not None
    spec.close()


def test_ome_tiff_z_stack_physical_size_z(tmp_path: Path) -> None:
    data = np.stack([_smooth((64, 64), np.uint16) + z for z in range(4)])
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path,
        data,
        ome=True,
        tile=(32, 32),
        compression="lzw",
        metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0, "PhysicalSizeY": 0.5, "PhysicalSizeX": 0.5},
    )
    (spec,) = read_path(path)
    assert spec.kwargs["scale"] == (2.0, 0.5, 0.5)
    assert spec.kwargs["metadata"]["axis_labels"] == ("z", "y", "x")
    np.testing.assert_array_equal(np.asarray(spec.data[2, 10:20, 30:40]), data[2, 10:20, 30:40])
    assert spec.close is not None
    spec.close()
