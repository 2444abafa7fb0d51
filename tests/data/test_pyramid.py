"""Whole OME-Zarr pyramids, validated by yaozarrs and read back through readers we did not
write (ome-zarr-py, zarr), against independent numpy references."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import yaozarrs
import zarr
from pyramid_reference import brute_mean, brute_mode

from tilescope.data.pyramid import Channel, PyramidSource, write_pyramid
from tilescope.errors import DataSourceError, PyramidError, UnsupportedFormatError


def strided_mean_pyramid(a: np.ndarray[Any, Any], n: int) -> list[np.ndarray[Any, Any]]:
    """A (..., y, x) mean pyramid by strided sums of the four block corners, each level from
    the rounded one before (a second, vectorised reference for larger arrays)."""
    levels = [a]
    for _ in range(n - 1):
        p = levels[-1]
        h, w = p.shape[-2:]
        padded = np.pad(p, [(0, 0)] * (p.ndim - 2) + [(0, h % 2), (0, w % 2)], mode="edge")
        total = sum(padded[..., dy::2, dx::2].astype(np.int64) for dy in (0, 1) for dx in (0, 1))
        levels.append(np.rint(total / 4).astype(a.dtype))
    return levels


# -- acceptance: round trip through yaozarrs and ome-zarr-py ---------------------------------


def _ome(path: Path) -> dict[str, Any]:
    doc = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    ome: dict[str, Any] = doc["attributes"]["ome"]
    return ome


def test_round_trip_validates_and_reads_back_identically_through_ome_zarr_py(
    tmp_path: Path,
) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    rng = np.random.default_rng(1)
    data = rng.integers(0, 65535, (2, 300, 520), dtype=np.uint16)
    out = tmp_path / "img.zarr"
    levels = write_pyramid(
        data,
        out,
        chunks=64,
        axes="cyx",
        scale=(1.0, 0.5, 0.25),
        translation=(0.0, 10.0, 20.0),
        units="µm",
        channels=[Channel("DAPI", "0000FF", (100, 60000)), Channel("GFP", "00FF00", active=False)],
        progress=False,
    )
    yaozarrs.validate_zarr_store(str(out))  # metadata and structure, OME-Zarr 0.5

    expected = strided_mean_pyramid(data, len(levels))
    assert [lv.shape for lv in levels] == [e.shape for e in expected]
    assert levels[-1].shape[1:] == (19, 33)  # x: 520 -> 260 -> 130 -> 65 -> 33 <= 64
    nodes = list(Reader(parse_url(str(out)))())
    image = nodes[0]
    assert len(image.data) == len(expected)
    for got, want in zip(image.data, expected, strict=True):
        assert np.array_equal(np.asarray(got), want)

    meta = image.metadata
    assert [a["name"] for a in meta["axes"]] == ["c", "y", "x"]
    assert [a.get("unit") for a in meta["axes"]] == [None, "micrometer", "micrometer"]
    assert meta["channel_names"] == ["DAPI", "GFP"]
    assert meta["visible"] == [True, False]
    assert meta["contrast_limits"][0] == [100, 60000]
    # GFP's window is the coarsest level's range of channel 1
    coarsest = expected[-1][1]
    assert meta["contrast_limits"][1] == [int(coarsest.min()), int(coarsest.max())]
    transforms = meta["coordinateTransformations"]
    for n, ts in enumerate(transforms):
        f = 2**n
        assert ts[0] == {"type": "scale", "scale": [1.0, 0.5 * f, 0.25 * f]}
        assert ts[1] == {
            "type": "translation",
            "translation": [0.0, 10.0 + 0.5 * (f - 1) / 2, 20.0 + 0.25 * (f - 1) / 2],
        }
    ome = _ome(out)
    assert ome["version"] == "0.5"
    assert ome["multiscales"][0]["type"] == "mean"
    assert [d["path"] for d in ome["multiscales"][0]["datasets"]] == [
        f"s{n}" for n in range(len(levels))
    ]
    s0 = zarr.open_array(str(out / "s0"), mode="r")
    assert s0.chunks == (1, 64, 64)
    assert s0.metadata.dimension_names == ("c", "y", "x")


def test_default_channels_get_names_colours_and_the_data_range(tmp_path: Path) -> None:
    data = np.zeros((3, 40, 40), dtype=np.uint8)
    for c in range(3):
        data[c] = 10 * (c + 1)
    data[:, :20, :20] = 200
    write_pyramid(data, tmp_path / "a.zarr", axes="cyx", chunks=16, progress=False)
    channels = _ome(tmp_path / "a.zarr")["omero"]["channels"]
    assert [c["label"] for c in channels] == ["channel 0", "channel 1", "channel 2"]
    assert [c["color"] for c in channels] == ["FF0000", "00FF00", "0000FF"]
    assert [(c["window"]["start"], c["window"]["end"]) for c in channels] == [
        (10, 200),
        (20, 200),
        (30, 200),
    ]
    assert channels[0]["window"]["min"] == 0
    assert channels[0]["window"]["max"] == 255


def test_labels_pyramid_is_the_iterated_mode(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (37, 50), dtype=np.int32)
    out = tmp_path / "labels.zarr"
    levels = write_pyramid(labels, out, chunks=8, labels=True, progress=False)
    yaozarrs.validate_zarr_store(str(out))
    ome = _ome(out)
    assert "image-label" in ome
    assert "omero" not in ome
    assert ome["multiscales"][0]["type"] == "mode"
    want = labels
    for lv in levels:
        got = zarr.open_array(str(out / lv.path), mode="r")[:]
        assert np.array_equal(got, want)
        want = brute_mode(want, (0, 1))


def test_z_is_halved_only_when_asked(tmp_path: Path) -> None:
    data = np.random.default_rng(4).random((6, 20, 30), dtype=np.float32)
    flat = write_pyramid(data, tmp_path / "flat.zarr", chunks=8, progress=False)
    deep = write_pyramid(data, tmp_path / "deep.zarr", chunks=8, downsample_z=True, progress=False)
    assert [lv.shape for lv in flat] == [(6, 20, 30), (6, 10, 15), (6, 5, 8)]
    assert [lv.shape for lv in deep] == [(6, 20, 30), (3, 10, 15), (2, 5, 8)]
    assert deep[1].scale == (2.0, 2.0, 2.0)
    assert flat[1].scale == (1.0, 2.0, 2.0)
    got = zarr.open_array(str(tmp_path / "deep.zarr" / "s1"), mode="r")[:]
    np.testing.assert_allclose(got, brute_mean(data, (0, 1, 2)), rtol=1e-6)


def test_t_and_c_are_never_downsampled(tmp_path: Path) -> None:
    data = np.ones((2, 2, 3, 32, 32), dtype=np.uint16)
    levels = write_pyramid(data, tmp_path / "a.zarr", chunks=16, downsample_z=True, progress=False)
    assert [lv.shape for lv in levels] == [(2, 2, 3, 32, 32), (2, 2, 2, 16, 16)]
    assert levels[0].chunks == (1, 1, 1, 16, 16)
    yaozarrs.validate_zarr_store(str(tmp_path / "a.zarr"))


class CountingArray:
    """An array-like recording the size of every read: level 0 must be read chunk by chunk."""

    def __init__(self, data: np.ndarray[Any, Any]) -> None:
        self._data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = data.ndim
        self.largest_read = 0
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        out = self._data[key]
        with self._lock:
            self.largest_read = max(self.largest_read, out.size)
        return out


def test_level_zero_is_read_one_chunk_at_a_time(tmp_path: Path) -> None:
    source = CountingArray(np.arange(200 * 300, dtype=np.int32).reshape(200, 300))
    write_pyramid(source, tmp_path / "a.zarr", chunks=32, progress=False)
    assert 0 < source.largest_read <= 32 * 32
    got = zarr.open_array(str(tmp_path / "a.zarr" / "s0"), mode="r")[:]
    assert np.array_equal(got, source._data)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda a, p: da.from_array(a, chunks=(17, 23)), id="dask"),
        pytest.param(lambda a, p: _zarr_copy(a, p), id="zarr"),
        pytest.param(lambda a, p: [a, a[::2, ::2]], id="list-of-levels"),
    ],
)
def test_dask_zarr_and_pyramid_inputs(tmp_path: Path, make: Any) -> None:
    a = np.random.default_rng(5).integers(0, 1000, (90, 70), dtype=np.uint16)
    levels = write_pyramid(make(a, tmp_path), tmp_path / "out.zarr", chunks=32, progress=False)
    expected = strided_mean_pyramid(a, len(levels))
    for lv, want in zip(levels, expected, strict=True):
        assert np.array_equal(zarr.open_array(str(tmp_path / "out.zarr" / lv.path))[:], want)


def _zarr_copy(a: np.ndarray[Any, Any], tmp_path: Path) -> Any:
    z = zarr.create_array(tmp_path / "in.zarr", shape=a.shape, chunks=(25, 25), dtype=a.dtype)
    z[:] = a
    return z


def test_the_distributed_scheduler_writes_the_same_pyramid(tmp_path: Path) -> None:
    from distributed import LocalCluster

    a = np.random.default_rng(6).integers(0, 255, (2, 100, 80), dtype=np.uint8)
    local = write_pyramid(
        a, tmp_path / "local.zarr", name="img", axes="cyx", chunks=32, progress=False
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        remote = write_pyramid(
            a,
            tmp_path / "remote.zarr",
            name="img",
            axes="cyx",
            chunks=32,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert remote == local
    for lv in local:
        want = zarr.open_array(str(tmp_path / "local.zarr" / lv.path))[:]
        assert np.array_equal(zarr.open_array(str(tmp_path / "remote.zarr" / lv.path))[:], want)
    assert _ome(tmp_path / "remote.zarr") == _ome(tmp_path / "local.zarr")


def test_progress_bar_counts_chunks_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pyramid(np.zeros((64, 64), np.uint8), tmp_path / "a.zarr", chunks=16)
    err = capsys.readouterr().err
    assert "s0 64×64" in err
    assert "16/16" in err
    assert "s2 16×16" in err


# -- errors -----------------------------------------------------------------------------------


def test_an_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    a = np.zeros((8, 8), np.uint8)
    write_pyramid(a, tmp_path / "a.zarr", progress=False)
    with pytest.raises(DataSourceError, match=r"already exists.*--overwrite"):
        write_pyramid(a, tmp_path / "a.zarr", progress=False)
    write_pyramid(a + 1, tmp_path / "a.zarr", overwrite=True, progress=False)
    assert zarr.open_array(str(tmp_path / "a.zarr" / "s0"))[0, 0] == 1
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(DataSourceError, match="not a zarr store"):
        write_pyramid(a, tmp_path / "notes", overwrite=True, progress=False)
    assert (tmp_path / "notes" / "thesis.txt").exists()


def test_overwriting_the_input_itself_is_refused(tmp_path: Path) -> None:
    z = zarr.create_array(tmp_path / "a.zarr", shape=(8, 8), chunks=(8, 8), dtype="u1")
    with pytest.raises(DataSourceError, match="input"):
        write_pyramid(z, tmp_path / "a.zarr", overwrite=True, progress=False)
    assert (tmp_path / "a.zarr" / "zarr.json").exists()


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        pytest.param(
            np.zeros((8, 8)), {"chunks": (8, 8, 8)}, PyramidError, "chunks", id="chunks-count"
        ),
        pytest.param(np.zeros((8, 8)), {"chunks": 0}, PyramidError, "positive", id="chunks-zero"),
        pytest.param(
            np.zeros((8, 8)), {"axes": "cx"}, PyramidError, "two space", id="one-space-axis"
        ),
        pytest.param(np.zeros((8, 8)), {"axes": "xx"}, PyramidError, "unique", id="repeated-axes"),
        pytest.param(
            np.zeros((8, 8)), {"axes": "zyx"}, PyramidError, "3 axis names", id="axes-count"
        ),
        pytest.param(
            np.zeros((8, 8)), {"scale": (1, 0)}, PyramidError, "positive", id="scale-zero"
        ),
        pytest.param(np.zeros((8, 8)), {"units": "parsecs"}, PyramidError, "unit", id="bad-unit"),
        pytest.param(
            np.zeros((8, 8)), {"labels": True}, PyramidError, "integers", id="float-labels"
        ),
        pytest.param(np.zeros(8), {}, PyramidError, "2 to 5", id="1d"),
        pytest.param(
            np.zeros((8, 8), complex), {}, UnsupportedFormatError, "complex", id="complex"
        ),
        pytest.param(
            np.zeros((2, 8, 8)),
            {"axes": "cyx", "channels": [Channel("only one")]},
            PyramidError,
            "1 channel settings",
            id="channel-count",
        ),
        pytest.param("not an array", {}, PyramidError, "need an array", id="not-an-array"),
    ],
)
def test_bad_arguments_are_clear_errors_before_anything_is_written(
    tmp_path: Path, data: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        write_pyramid(data, tmp_path / "out.zarr", progress=False, **kwargs)
    assert not (tmp_path / "out.zarr").exists()


def test_the_source_is_closed_whether_writing_succeeds_or_fails(tmp_path: Path) -> None:
    closed: list[str] = []
    ok = PyramidSource(np.zeros((8, 8), np.uint8), close=lambda: closed.append("ok"))
    write_pyramid(ok, tmp_path / "ok.zarr", progress=False)
    bad = PyramidSource(np.zeros((8, 8), np.uint8), close=lambda: closed.append("bad"))
    with pytest.raises(PyramidError):
        write_pyramid(bad, tmp_path / "bad.zarr", chunks=(1, 2, 3), progress=False)
    assert closed == ["ok", "bad"]


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_data_source_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataSourceError, match="cannot connect to the dask scheduler"):
        write_pyramid(
            np.zeros((8, 8), np.uint8),
            tmp_path / "a.zarr",
            scheduler=f"tcp://127.0.0.1:{port}",
            progress=False,
        )
    assert not (tmp_path / "a.zarr").exists()  # nothing written before the cluster answers
