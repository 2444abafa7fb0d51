"""OME-Zarr 0.4 / 0.5 written by ome-zarr-py: levels, transforms, axes, channels, labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

from ome_writers import OMERO, write_ome_zarr
from tilescope.data.io import read_path
from tilescope.data.spec import LayerSpec
from tilescope.errors import DataSourceError, UnsupportedFormatError

VERSIONS = [pytest.param("0.4", id="ngff-0.4-zarr-v2"), pytest.param("0.5", id="ngff-0.5-zarr-v3")]


def _levels(spec: LayerSpec) -> list[Any]:
    return list(spec.data) if isinstance(spec.data, list) else [spec.data]


def _meta_file(path: Path) -> Path:
    return path / ("zarr.json" if (path / "zarr.json").exists() else ".zattrs")


def _edit_attrs(path: Path, edit: Any) -> None:
    """Apply ``edit(ome_dict)`` to a group's OME attributes, in place (v2 or v3)."""
    f = _meta_file(path)
    doc = json.loads(f.read_text())
    ome = doc["attributes"]["ome"] if f.name == "zarr.json" else doc
    edit(ome)
    f.write_text(json.dumps(doc))


@pytest.mark.parametrize("version", VERSIONS)
def test_image_channels_levels_and_metadata(tmp_path: Path, version: str) -> None:
    path = tmp_path / "img.zarr"
    data = write_ome_zarr(path, version)
    specs = read_path(path)
    images = [s for s in specs if s.layer_type == "image"]
    assert [s.name for s in images] == ["DAPI", "GFP"]
    # every level, read back through ome-zarr-py's own reader, equals ours pixel for pixel
    node = next(iter(Reader(parse_url(str(path)))()))  # the image node comes first
    theirs = [np.asarray(level) for level in node.data]
    assert len(theirs) == 3
    for c, spec in enumerate(images):
        ours = _levels(spec)
        assert [lv.shape for lv in ours] == [t.shape[1:] for t in theirs]
        for level, expected in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(np.asarray(level), expected[c])
        np.testing.assert_array_equal(np.asarray(ours[0]), data[c])
        kw = spec.kwargs
        assert kw["scale"] == (2.0, 0.5, 0.5)
        assert kw["translate"] == (0.0, 0.0, 0.0)
        assert kw["metadata"]["axis_labels"] == ("z", "y", "x")
        assert kw["metadata"]["units"] == ("micrometer",) * 3
        assert kw["multiscale"] is True
        assert kw["blending"] == "additive"
    channels = OMERO["channels"]
    assert [s.kwargs["contrast_limits"] for s in images] == [
        (ch["window"]["start"], ch["window"]["end"]) for ch in channels
    ]
    assert [s.kwargs["visible"] for s in images] == [True, False]
    red, green = (s.kwargs["colormap"] for s in images)
    assert tuple(red(1.0).rgba) == (1.0, 0.0, 0.0, 1.0)
    assert tuple(green(1.0).rgba) == (0.0, 1.0, 0.0, 1.0)
    assert tuple(red(0.0).rgba) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_labels_are_aligned_labels_layers(tmp_path: Path, version: str) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, version)
    (labels,) = [s for s in read_path(path) if s.layer_type == "labels"]
    assert labels.name == "cells"
    assert labels.kwargs["scale"] == (2.0, 0.5, 0.5)
    assert labels.kwargs["translate"] == (0.0, 0.0, 0.0)
    level0 = np.asarray(_levels(labels)[0])
    assert level0.shape == (3, 64, 96)
    assert set(np.unique(level0)) == {0, 3}
    assert level0[1, 20, 40] == 3
    assert level0[1, 40, 40] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_without_omero_channels_get_napari_defaults(tmp_path: Path, version: str) -> None:
    path = tmp_path / "plain.zarr"
    write_ome_zarr(path, version, labels=False, omero=False)
    specs = read_path(path)
    assert [s.name for s in specs] == ["image [0]", "image [1]"]
    assert [s.kwargs["colormap"] for s in specs] == ["magenta", "green"]
    assert all("contrast_limits" not in s.kwargs for s in specs)


@pytest.mark.parametrize("version", VERSIONS)
def test_no_channel_axis_is_one_layer(tmp_path: Path, version: str) -> None:
    path = tmp_path / "yx.zarr"
    data = np.arange(64 * 48, dtype=np.float32).reshape(64, 48)
    fmt_root = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    from ome_zarr.format import FormatV04, FormatV05

    write_image(
        data,
        fmt_root,
        axes="yx",
        fmt=FormatV04() if version == "0.4" else FormatV05(),
        scale_factors=[2],
        scale={"y": 0.25, "x": 0.125},
    )
    (spec,) = read_path(path)
    assert spec.kwargs["scale"] == (0.25, 0.125)
    np.testing.assert_array_equal(np.asarray(_levels(spec)[0]), data)
    assert "colormap" not in spec.kwargs


def test_transforms_compose_dataset_and_multiscale_level(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    write_ome_zarr(path, "0.5", labels=False)

    def edit(ome: dict[str, Any]) -> None:
        ms = ome["multiscales"][0]
        for ds in ms["datasets"]:
            ds["coordinateTransformations"][1]["translation"] = [0.0, 4.0, 10.0, 20.0]
        ms["coordinateTransformations"] = [{"type": "scale", "scale": [1.0, 1.0, 3.0, 3.0]}]

    _edit_attrs(path, edit)
    spec = read_path(path)[0]
    # world = outer_scale * (scale * x + translation)
    assert spec.kwargs["scale"] == (2.0, 1.5, 1.5)
    assert spec.kwargs["translate"] == (4.0, 30.0, 60.0)


def test_inconsistent_level_scale_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.zarr"
    write_ome_zarr(path, "0.5", labels=False)

    def edit(ome: dict[str, Any]) -> None:
        # level 1 is 2x smaller than level 0 but claims 3x larger pixels
        ome["multiscales"][0]["datasets"][1]["coordinateTransformations"][0]["scale"] = [
            1.0,
            2.0,
            1.5,
            1.5,
        ]

    _edit_attrs(path, edit)
    with pytest.raises(DataSourceError, match=r"level 's1'.*does not match level 0"):
        read_path(path)


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_level_names_it(tmp_path: Path, version: str) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, version, labels=False)
    shutil.rmtree(path / "s1")
    with pytest.raises(DataSourceError, match=r"level 1 \('s1'\).*cannot be opened") as info:
        read_path(path)
    assert "img.zarr" in str(info.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_inconsistent_axes(tmp_path: Path, version: str) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, version, labels=False)

    def edit(ome: dict[str, Any]) -> None:
        ms = ome["multiscales"][0]
        ms["axes"] = ms["axes"][1:]
        for ds in ms["datasets"]:
            for t in ds["coordinateTransformations"]:
                key = "scale" if t["type"] == "scale" else "translation"
                t[key] = t[key][1:]

    _edit_attrs(path, edit)
    with pytest.raises(
        DataSourceError, match=r"lists 3 axes \['z', 'y', 'x'\] but level 's0' has 4"
    ):
        read_path(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("zarr.json", "{not json", id="garbled-zarr.json"),
        pytest.param(".zattrs", "{not json", id="garbled-.zattrs"),
    ],
)
def test_garbled_metadata(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5" if name == "zarr.json" else "0.4", labels=False)
    (path / name).write_text(content)
    with pytest.raises(DataSourceError, match=r"not valid JSON.*rewrite it") as info:
        read_path(path)
    assert "img.zarr" in str(info.value)


def test_missing_metadata(tmp_path: Path) -> None:
    path = tmp_path / "empty.zarr"
    path.mkdir()
    with pytest.raises(DataSourceError, match=r"no zarr metadata found"):
        read_path(path)


def test_invalid_ome_metadata_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5", labels=False)

    def edit(ome: dict[str, Any]) -> None:
        ome["multiscales"][0]["datasets"] = []

    _edit_attrs(path, edit)
    with pytest.raises(DataSourceError, match=r"invalid OME-Zarr image metadata.*datasets"):
        read_path(path)


def test_unsupported_version(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.4", labels=False)

    def edit(ome: dict[str, Any]) -> None:
        ome["multiscales"][0]["version"] = "0.3"

    _edit_attrs(path, edit)
    with pytest.raises(UnsupportedFormatError, match=r"version '0.3' is not supported"):
        read_path(path)


def test_unknown_codec_names_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5", labels=False)
    meta = path / "s0" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["codecs"].append({"name": "imagecodecs_nosuch", "configuration": {}})
    meta.write_text(json.dumps(doc))
    with pytest.raises(UnsupportedFormatError, match=r"codec 'imagecodecs_nosuch'.*imagecodecs"):
        read_path(path)


@pytest.mark.parametrize("version", VERSIONS)
def test_plate_says_what_is_there_and_how_to_open_a_field(tmp_path: Path, version: str) -> None:
    from ome_zarr.format import FormatV04, FormatV05

    fmt = FormatV04() if version == "0.4" else FormatV05()
    path = tmp_path / "plate.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    write_plate_metadata(root, ["A", "B"], ["1", "2", "3"], ["A/1", "B/3"], fmt=fmt, field_count=1)
    for well in ("A/1", "B/3"):
        group = root.require_group(well)
        write_well_metadata(group, [{"path": "0"}], fmt=fmt)
        write_image(
            np.full((16, 16), 5, np.uint8),
            group.require_group("0"),
            axes="yx",
            fmt=fmt,
            scale_factors=[],
        )
    with pytest.raises(UnsupportedFormatError) as info:
        read_path(path)
    message = str(info.value)
    assert "plate (2 rows ['A', 'B'], 3 columns ['1', '2', '3'], 2 wells" in message
    assert str(path / "A" / "1" / "0") in message
    with pytest.raises(UnsupportedFormatError, match=r"well with 1 fields"):
        read_path(path / "A" / "1")
    (field,) = read_path(path / "A" / "1" / "0")
    assert np.asarray(_levels(field)[0]).max() == 5


def test_plain_zarr_group_of_numbered_levels_still_opens(tmp_path: Path) -> None:
    g = zarr.open_group(tmp_path / "pyr.zarr", mode="w")
    a = g.create_array("0", shape=(16, 16), chunks=(8, 8), dtype="u2")
    a[:] = 3
    g.create_array("1", shape=(8, 8), chunks=(8, 8), dtype="u2")
    (spec,) = read_path(tmp_path / "pyr.zarr")
    assert [lv.shape for lv in spec.data] == [(16, 16), (8, 8)]
    assert int(np.asarray(spec.data[0][:]).sum()) == 3 * 256


def test_faulty_omero_block_keeps_the_image_with_default_colours(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5", labels=False)

    def edit(ome: dict[str, Any]) -> None:
        ome["omero"]["channels"][0]["window"] = {"start": "low"}

    _edit_attrs(path, edit)
    specs = read_path(path)
    assert [s.kwargs["colormap"] for s in specs] == ["magenta", "green"]
    assert all("contrast_limits" not in s.kwargs for s in specs)


def test_bioformats2raw_collection_names_an_image_to_open(tmp_path: Path) -> None:
    path = tmp_path / "conv.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    write_ome_zarr(path / "0", "0.4", labels=False)
    with pytest.raises(UnsupportedFormatError, match=r"bioformats2raw collection") as info:
        read_path(path)
    assert str(path / "0") in str(info.value)
    assert [s.name for s in read_path(path / "0")] == ["DAPI", "GFP"]


def test_label_colors_from_image_label_metadata(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5")

    def edit(ome: dict[str, Any]) -> None:
        ome["image-label"]["colors"] = [{"label-value": 3, "rgba": [255, 0, 0, 255]}]

    _edit_attrs(path / "labels" / "cells", edit)
    (labels,) = [s for s in read_path(path) if s.layer_type == "labels"]
    assert labels.kwargs["color"] == {3: (1.0, 0.0, 0.0, 1.0)}


def test_corrupt_chunk_names_the_level(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5", labels=False)
    chunk = next(
        p for p in sorted((path / "s1").rglob("*")) if p.is_file() and p.name != "zarr.json"
    )
    chunk.write_bytes(b"definitely not zstd")
    (dapi, _) = read_path(path)
    level1 = _levels(dapi)[1]
    with pytest.raises(DataSourceError, match=r"reading '.*img.zarr/s1' failed"):
        np.asarray(level1)
    np.testing.assert_array_equal(np.asarray(_levels(dapi)[2]).shape, (3, 16, 24))


def test_lazy_levels_pickle_for_process_executors(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "img.zarr"
    data = write_ome_zarr(path, "0.4", labels=False)
    (dapi, _) = read_path(path)
    level0 = pickle.loads(pickle.dumps(_levels(dapi)[0]))
    np.testing.assert_array_equal(level0[1, 5:9, 7:20], data[0, 1, 5:9, 7:20])


def test_a_bad_index_is_not_reported_as_a_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "img.zarr"
    write_ome_zarr(path, "0.5")
    (labels,) = [s for s in read_path(path) if s.layer_type == "labels"]
    level0 = _levels(labels)[0]  # the zarr array itself, not a channel view
    assert level0.ndim == 3
    with pytest.raises(IndexError):
        level0[0, 0, 0, 0]
