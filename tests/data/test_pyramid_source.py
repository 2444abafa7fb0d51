"""Inputs for pyramids: OME-Zarr written by ome-zarr-py (0.4 and 0.5) keeps its metadata."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from tilescope.data.pyramid import read_source, write_pyramid
from tilescope.errors import DataSourceError, UnsupportedFormatError


def _ome(path: Path) -> dict[str, Any]:
    doc = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    ome: dict[str, Any] = doc["attributes"]["ome"]
    return ome


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_input_carries_axes_scale_and_channels(tmp_path: Path, version: str) -> None:
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.io import parse_url

    with warnings.catch_warnings():  # ome_zarr.writer builds a deprecated Scaler at import
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_image

    fmt = FormatV04() if version == "0.4" else FormatV05()
    data = np.random.default_rng(7).integers(0, 4000, (2, 64, 96), dtype=np.uint16)
    src = tmp_path / "src.zarr"
    root = zarr.open_group(
        parse_url(str(src), mode="w", fmt=fmt).store, mode="w", zarr_format=fmt.zarr_format
    )
    write_image(
        data,
        root,
        axes="cyx",
        fmt=fmt,
        scale_factors=(),
        scale={"c": 1.0, "y": 0.5, "x": 0.5},
        axes_units={"y": "micrometer", "x": "micrometer"},
        omero={
            "channels": [
                {
                    "label": "red",
                    "color": "FF0000",
                    "active": True,
                    "window": {"min": 0, "max": 4095, "start": 10, "end": 3000},
                },
                {
                    "label": "green",
                    "color": "00FF00",
                    "active": False,
                    "window": {"min": 0, "max": 4095, "start": 20, "end": 2000},
                },
            ]
        },
    )
    source = read_source(src)
    assert source.axes == ("c", "y", "x")
    assert source.scale == (1.0, 0.5, 0.5)
    assert source.units == (None, "micrometer", "micrometer")
    assert source.channels is not None
    assert [c.label for c in source.channels] == ["red", "green"]
    levels = write_pyramid(source, tmp_path / "out.zarr", chunks=32, progress=False)
    yaozarrs.validate_zarr_store(str(tmp_path / "out.zarr"))
    ome = _ome(tmp_path / "out.zarr")
    axes = ome["multiscales"][0]["axes"]
    assert [(a["name"], a.get("unit")) for a in axes] == [
        ("c", None),
        ("y", "micrometer"),
        ("x", "micrometer"),
    ]
    assert levels[1].scale == (1.0, 1.0, 1.0)
    channels = ome["omero"]["channels"]
    assert [(c["label"], c["color"], c["active"]) for c in channels] == [
        ("red", "FF0000", True),
        ("green", "00FF00", False),
    ]
    assert (channels[0]["window"]["start"], channels[0]["window"]["end"]) == (10, 3000)
    got = zarr.open_array(str(tmp_path / "out.zarr" / "s0"))[:]
    assert np.array_equal(got, data)


def test_read_source_errors(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="does not exist"):
        read_source(tmp_path / "missing.npy")
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError):
        read_source(tmp_path / "notes.txt")
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text(
        json.dumps(
            {"zarr_format": 3, "node_type": "group", "attributes": {"ome": {"version": "0.5"}}}
        ),
        encoding="utf-8",
    )
    with pytest.raises(DataSourceError, match="invalid OME-Zarr metadata"):
        read_source(bad)
