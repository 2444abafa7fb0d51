"""Viewer.open / tilescope.open / add_image(channel_axis=...) on real files and URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import tilescope
from http_server import LocalHTTPServer
from ome_writers import write_ome_zarr
from tilescope.data.remote import RemoteOptions
from tilescope.errors import DataSourceError
from tilescope.models.layers import Image, Labels
from tilescope.viewer import Viewer

pytestmark = pytest.mark.gl


@pytest.fixture
def viewer() -> Iterator[Viewer]:
    v = Viewer(show=False, size=(64, 96))
    yield v
    v.close()


def test_open_ome_zarr_makes_channel_and_label_layers(viewer: Viewer, tmp_path: Path) -> None:
    write_ome_zarr(tmp_path / "img.zarr", "0.5")
    layers = viewer.open(tmp_path / "img.zarr")
    dapi, gfp, cells = layers
    assert isinstance(dapi, Image)
    assert isinstance(gfp, Image)
    assert isinstance(cells, Labels)
    assert (dapi.name, gfp.name, cells.name) == ("DAPI", "GFP", "cells")
    assert dapi.blending == gfp.blending == "additive"
    assert dapi.contrast_limits == (10.0, 900.0)
    assert (dapi.visible, gfp.visible) == (True, False)
    assert tuple(dapi.colormap(1.0).rgba) == (1.0, 0.0, 0.0, 1.0)
    assert dapi.multiscale
    assert len(dapi.data) == 3
    np.testing.assert_allclose(dapi.scale, (2.0, 0.5, 0.5))
    np.testing.assert_allclose(cells.scale, dapi.scale)
    assert viewer.dims.axis_labels == ("z", "y", "x")
    assert dapi.metadata["units"] == ("micrometer",) * 3
    viewer.screenshot()
    assert str(viewer.layer_status(dapi)) == "ready"


def test_open_a_url_like_a_path(viewer: Viewer, http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.4", labels=False)
    layers = viewer.open(http_server.url("img.zarr"), remote=RemoteOptions(timeout_s=5))
    assert [layer.name for layer in layers] == ["DAPI", "GFP"]
    viewer.screenshot()
    assert str(viewer.layer_status(layers[0])) == "ready"


def test_chunks_failing_over_http_put_the_layer_in_error(
    viewer: Viewer, http_server: LocalHTTPServer
) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    for level in ("s0", "s1", "s2"):  # chunks fail, metadata (s0/zarr.json...) does not
        http_server.fail(f"img.zarr/{level}/c/", 500)
    (dapi, _) = viewer.open(http_server.url("img.zarr"), remote=RemoteOptions(timeout_s=5))
    viewer.screenshot()
    status = viewer.layer_status(dapi)
    assert status.state == "error"
    assert "500" in status.message


def test_tilescope_open_returns_a_viewer(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((8, 8), np.float32))
    v = tilescope.open(tmp_path / "a.npy", show=False, size=(32, 32))
    try:
        assert [layer.name for layer in v.layers] == ["a"]
    finally:
        v.close()
    with pytest.raises(DataSourceError, match=r"does not exist"):
        tilescope.open(tmp_path / "missing.npy", show=False)


def test_add_image_channel_axis_returns_a_layer_per_channel(viewer: Viewer) -> None:
    data = np.stack([np.full((8, 8), v, np.float32) for v in (0.1, 0.5, 0.9)], axis=-1)
    layers = viewer.add_image(data, channel_axis=-1, name=["r", "g", "b"], contrast_limits=(0, 1))
    assert [layer.name for layer in layers] == ["r", "g", "b"]
    assert [layer.colormap.name for layer in layers] == ["cmap:cyan", "cmap:yellow", "cmap:magenta"]
    assert all(layer.blending == "additive" for layer in layers)
    assert all(layer.contrast_limits == (0, 1) for layer in layers)
    assert all(layer.data.shape == (8, 8) for layer in layers)
    two = viewer.add_image(
        [data, data[::2, ::2]], channel_axis=2, colormap=["red", "blue", "green"]
    )
    assert all(layer.multiscale for layer in two)
    assert [layer.colormap.name for layer in two] == ["cmap:red", "cmap:blue", "cmap:green"]


def test_add_image_xarray_brings_labels_and_coords(viewer: Viewer) -> None:
    arr = xr.DataArray(
        np.zeros((2, 10, 20), np.float32),
        dims=("c", "y", "x"),
        coords={"y": 5.0 + 0.5 * np.arange(10), "x": 0.25 * np.arange(20)},
    )
    layer = viewer.add_image(arr)
    np.testing.assert_allclose(layer.scale, (1.0, 0.5, 0.25))
    np.testing.assert_allclose(layer.translate, (0.0, 5.0, 0.0))
    assert viewer.dims.axis_labels == ("c", "y", "x")
    viewer.layers.remove(layer)
    chans = viewer.add_image(arr, channel_axis=0)
    assert len(chans) == 2
    np.testing.assert_allclose(chans[0].scale, (0.5, 0.25))
    assert chans[0].metadata["axis_labels"] == ("y", "x")


def test_xarray_with_irregular_coords_keeps_unit_scale(viewer: Viewer) -> None:
    arr = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), coords={"y": [0.0, 1.0, 5.0, 6.0]})
    layer = viewer.add_image(arr, translate=(3.0, 3.0))
    np.testing.assert_allclose(layer.scale, (1.0, 1.0))
    np.testing.assert_allclose(layer.translate, (3.0, 3.0))


def test_disk_and_http_render_identical_screenshots(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    write_ome_zarr(tmp_path / "img.zarr", "0.5")
    write_ome_zarr(http_server.root / "img.zarr", "0.5")
    shots = []
    for source in (str(tmp_path / "img.zarr"), http_server.url("img.zarr")):
        v = Viewer(show=False, size=(64, 96))
        try:
            layers = v.open(source, remote=RemoteOptions(timeout_s=5))
            shots.append(v.screenshot())
            assert all(str(v.layer_status(layer)) == "ready" for layer in layers if layer.visible)
        finally:
            v.close()
    assert shots[0][..., :3].max() > 0
    np.testing.assert_array_equal(shots[0], shots[1])


def test_a_pyramid_from_disk_and_through_tilescope_serve_renders_identically(
    tmp_path: Path,
) -> None:
    from tilescope.data.pyramid import write_pyramid
    from tilescope.data.serve import SlowHTTPServer

    rng = np.random.default_rng(7)
    write_pyramid(
        rng.integers(0, 4000, (700, 900), dtype=np.uint16),
        tmp_path / "p.zarr",
        chunks=128,
        axes="yx",
        progress=False,
    )
    shots = []
    with SlowHTTPServer(tmp_path, latency_ms=20) as server:
        for source in (str(tmp_path / "p.zarr"), f"{server.url}/p.zarr"):
            with Viewer(show=False, size=(96, 128)) as v:
                (layer,) = v.open(source)
                v.camera.update(center=(350.2, 420.7), zoom=0.7)
                shots.append(v.screenshot())
                assert str(v.layer_status(layer)) == "ready"
        assert server.stats().requests > 0
    assert shots[0][..., :3].std() > 0
    np.testing.assert_array_equal(shots[0], shots[1])


def test_one_chunk_answering_500_fails_only_its_tile_and_says_where(tmp_path: Path) -> None:
    from tilescope.data.pyramid import write_pyramid
    from tilescope.data.serve import SlowHTTPServer, fail_paths

    rng = np.random.default_rng(8)
    write_pyramid(
        rng.integers(0, 4000, (512, 512), dtype=np.uint16),
        tmp_path / "p.zarr",
        chunks=128,
        axes="yx",
        progress=False,
    )
    with (
        SlowHTTPServer(tmp_path, faults=fail_paths("p.zarr/s0/c/1/2")) as server,
        Viewer(show=False, size=(256, 256)) as v,
    ):
        (layer,) = v.open(f"{server.url}/p.zarr")
        v.camera.update(center=(255.5, 255.5), zoom=0.6)  # level 0; tiles of 2 x 2 chunks
        shot = v.screenshot()
        frame = v.layer_frame(layer)
        status = str(v.layer_status(layer))
    assert frame is not None
    assert frame.ideal_level == 0
    assert [key.position for key, _ in frame.failed] == [(0, 0, 1)]  # holds chunk (1, 2)
    assert frame.wanted == 4
    assert frame.resident == 3  # the rest reached full detail
    assert status.startswith("error: layer 'p': tile at level 0, row 0, col 1 failed")
    assert "p.zarr/s0" in status
    assert "500" in status
    assert shot[..., 3].min() == 255


def test_zarr_arrays_of_the_callers_own_read_by_chunk_and_fail_saying_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``add_image([zarr arrays])`` (napari's idiom) reads its tiles chunk by chunk, not
    through zarr-python's indexing (broken here to prove it), and a truncated chunk fails
    its tile with a status naming the array."""
    import zarr

    values = np.random.default_rng(3).integers(0, 4000, (256, 256), dtype=np.uint16)
    levels = []
    for lvl in range(2):
        f = 2**lvl
        a = zarr.create_array(
            str(tmp_path / "p.zarr" / str(lvl)),
            shape=(256 // f, 256 // f),
            chunks=(64, 64),
            dtype="u2",
        )
        a[:] = values[::f, ::f]
        levels.append(zarr.open_array(str(tmp_path / "p.zarr" / str(lvl)), mode="r"))

    def no_zarr_indexing(self: object, key: object) -> None:
        raise AssertionError("read through zarr-python's indexing")

    monkeypatch.setattr(zarr.Array, "__getitem__", no_zarr_indexing)
    with Viewer(show=False, size=(256, 256)) as v:
        layer = v.add_image(levels, multiscale=True, contrast_limits=(0, 4000))
        v.camera.update(center=(127.5, 127.5), zoom=1.0)  # level 0
        shot = v.screenshot()
        assert v.layer_status(layer).state == "ready"
    expected = np.round(values.astype(np.float64) / 4000 * 255)
    np.testing.assert_allclose(shot[..., 0], expected, atol=1)
    # sliced whole (3D) as well: a volume of a caller's zarr array, with the same reader
    volume = zarr.create_array(
        str(tmp_path / "v.zarr"), shape=(8, 32, 32), chunks=(4, 16, 16), dtype="u2"
    )
    volume[:] = 2000
    with Viewer(show=False, size=(64, 64)) as v:
        layer = v.add_image(
            zarr.open_array(str(tmp_path / "v.zarr"), mode="r"), contrast_limits=(0, 4000)
        )
        v.dims.ndisplay = 3
        shot3d = v.screenshot()
        assert v.layer_status(layer).state == "ready"
    assert shot3d[32, 32, 0] == pytest.approx(128, abs=2)  # 2000 of (0, 4000), any depth
    chunk = tmp_path / "p.zarr" / "0" / "c" / "3" / "3"
    chunk.write_bytes(chunk.read_bytes()[:10])  # truncated
    with Viewer(show=False, size=(256, 256)) as v:
        layer = v.add_image(levels, multiscale=True, contrast_limits=(0, 4000))
        v.camera.update(center=(127.5, 127.5), zoom=1.0)
        v.screenshot()
        frame = v.layer_frame(layer)
        status = str(v.layer_status(layer))
    assert frame is not None
    assert len(frame.failed) == 1
    assert status.startswith("error: layer 'Image': tile at level 0")
    assert "p.zarr/0' failed" in status  # which array, not zarr's bare codec error
