"""``tilescope pyramid`` and ``tilescope serve`` as a user runs them: real processes, real files,
a real HTTP server and a real dask.distributed scheduler."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaozarrs
import zarr

from served import tilescope_serve


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tilescope", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _mean2(a: np.ndarray) -> np.ndarray[Any, Any]:
    """One mean level of an even-sized (y, x) uint16 image, by strided sums."""
    total = sum(a[dy::2, dx::2].astype(np.int64) for dy in (0, 1) for dx in (0, 1))
    return np.rint(total / 4).astype(a.dtype)


@pytest.fixture
def image(tmp_path: Path) -> np.ndarray[Any, Any]:
    a = np.random.default_rng(0).integers(0, 65535, (128, 192), dtype=np.uint16)
    np.save(tmp_path / "img.npy", a)
    return a


def test_pyramid_writes_a_valid_ome_zarr(tmp_path: Path, image: np.ndarray[Any, Any]) -> None:
    r = _run("pyramid", "img.npy", "out.zarr", "--chunks", "32", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote out.zarr (4 levels: s0 128x192, s1 64x96, s2 32x48, s3 16x24)" in r.stdout
    assert "24/24" in r.stderr  # the progress bar of s0: 4 x 6 chunks
    yaozarrs.validate_zarr_store(str(tmp_path / "out.zarr"))
    s1 = zarr.open_array(str(tmp_path / "out.zarr" / "s1"), mode="r")
    assert s1.chunks == (32, 32)
    assert np.array_equal(s1[:], _mean2(image))


def test_pyramid_of_labels_tiff_with_levels_axes_and_scale(tmp_path: Path) -> None:
    import tifffile

    labels = np.zeros((3, 40, 40), dtype=np.uint16)
    labels[:, 10:30, 5:25] = 7
    labels[1, :2, :] = 3
    tifffile.imwrite(tmp_path / "labels.tif", labels, photometric="minisblack")
    r = _run(
        "pyramid", "labels.tif", "labels.zarr", "--labels", "--levels", "2", "--axes", "zyx",
        "--scale", "2,0.5,0.5", "--units", "µm", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    yaozarrs.validate_zarr_store(str(tmp_path / "labels.zarr"))
    doc = json.loads((tmp_path / "labels.zarr" / "zarr.json").read_text(encoding="utf-8"))
    ms = doc["attributes"]["ome"]["multiscales"][0]
    assert ms["type"] == "mode"
    assert [a.get("unit") for a in ms["axes"]] == ["micrometer"] * 3
    assert ms["datasets"][1]["coordinateTransformations"][0]["scale"] == [2.0, 1.0, 1.0]
    s1 = zarr.open_array(str(tmp_path / "labels.zarr" / "s1"), mode="r")[:]
    assert s1.shape == (3, 20, 20)
    assert set(np.unique(s1)) <= {0, 3, 7}  # the mode never invents a label


def test_pyramid_of_an_rgb_tiff_puts_channels_first(tmp_path: Path) -> None:
    import tifffile

    rgb = np.random.default_rng(2).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "photo.tif", rgb, photometric="rgb", tile=(32, 32))
    r = _run("pyramid", "photo.tif", "photo.zarr", "--chunks", "32", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    yaozarrs.validate_zarr_store(str(tmp_path / "photo.zarr"))
    ome = json.loads((tmp_path / "photo.zarr" / "zarr.json").read_text(encoding="utf-8"))
    ome = ome["attributes"]["ome"]
    assert [a["name"] for a in ome["multiscales"][0]["axes"]] == ["c", "y", "x"]
    channels = ome["omero"]["channels"]
    assert [(c["label"], c["color"]) for c in channels] == [
        ("red", "FF0000"),
        ("green", "00FF00"),
        ("blue", "0000FF"),
    ]
    assert channels[0]["window"] == {"min": 0, "max": 255, "start": 0, "end": 255}
    s0 = zarr.open_array(str(tmp_path / "photo.zarr" / "s0"), mode="r")[:]
    assert np.array_equal(s0, np.moveaxis(rgb, -1, 0))


def test_pyramid_on_a_dask_distributed_cluster(tmp_path: Path, image: np.ndarray[Any, Any]) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        r = _run(
            "pyramid", "img.npy", "out.zarr", "--chunks", "64", "--scheduler",
            cluster.scheduler_address, cwd=tmp_path,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "6/6" in r.stderr  # the progress bar of s0 (2 x 3 chunks), fed by the cluster
    s0 = zarr.open_array(str(tmp_path / "out.zarr" / "s0"), mode="r")
    s1 = zarr.open_array(str(tmp_path / "out.zarr" / "s1"), mode="r")
    assert np.array_equal(s0[:], image)
    assert np.array_equal(s1[:], _mean2(image))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("missing.npy", "o.zarr"), "does not exist", id="missing-input"),
        pytest.param(("img.npy", "o.zarr", "--chunks", "a,b"), "comma-separated", id="chunks-text"),
        pytest.param(("img.npy", "o.zarr", "--chunks", "1,2,3"), "3 values", id="chunks-count"),
        pytest.param(("img.npy", "o.zarr", "--levels", "0"), "at least 1", id="levels-zero"),
        pytest.param(("img.npy", "o.zarr", "--axes", "cx"), "two space axes", id="axes"),
        pytest.param(("notes.txt", "o.zarr"), "unsupported format", id="unsupported-input"),
        pytest.param(("img.npy", "no/such/dir/o.zarr"), "does not exist", id="output-parent"),
    ],
)
def test_pyramid_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    image: np.ndarray[Any, Any],
    args: tuple[str, ...],
    message: str,
) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    r = _run("pyramid", *args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tilescope: error: ")
    assert message in lines[0]
    assert not (tmp_path / "o.zarr").exists()


def test_pyramid_refuses_an_existing_output_unless_overwrite(
    tmp_path: Path,
    image: np.ndarray[Any, Any],
) -> None:
    assert _run("pyramid", "img.npy", "o.zarr", "--quiet", cwd=tmp_path).returncode == 0
    r = _run("pyramid", "img.npy", "o.zarr", cwd=tmp_path)
    assert r.returncode == 2
    assert "already exists: pass --overwrite" in r.stderr
    r = _run("pyramid", "img.npy", "o.zarr", "--overwrite", "--chunks", "64", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert zarr.open_array(str(tmp_path / "o.zarr" / "s0"), mode="r").chunks == (64, 64)


# -- tilescope serve --------------------------------------------------------------------------


@pytest.fixture
def served(
    tmp_path: Path, image: np.ndarray[Any, Any]
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``tilescope serve`` on a pyramid with 80 ms latency; yields its URL and the process."""
    from tilescope.data.pyramid import write_pyramid

    write_pyramid(image, tmp_path / "p.zarr", chunks=64, progress=False)
    with tilescope_serve(
        tmp_path, latency_ms=80, fail=["p.zarr/s0/c/1/*"], capture_stderr=True
    ) as server:
        yield server


def test_serve_serves_a_pyramid_that_zarr_reads_with_the_latency_applied(
    served: tuple[str, subprocess.Popen[str]],
    image: np.ndarray[Any, Any],
) -> None:
    url, proc = served
    t0 = time.perf_counter()
    group = zarr.open_group(url + "p.zarr", mode="r")
    s1 = group["s1"]
    got = s1[:]
    elapsed = time.perf_counter() - t0
    assert np.array_equal(got, _mean2(image))
    # the group's zarr.json, then s1's, then its chunks: three round trips at least
    assert elapsed >= 3 * 0.080
    assert np.array_equal(group["s0"][:64, :], image[:64, :])  # chunk row 0 is not failed
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(url + "p.zarr/s0/c/1/0", timeout=10)
    assert failed.value.code == 500
    failed.value.close()

    _assert_stops_cleanly(proc, signal.SIGINT)  # Ctrl-C


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """As ``kill``, systemd or ``docker stop`` stop it."""
    with tilescope_serve(tmp_path, capture_stderr=True) as (_, proc):
        _assert_stops_cleanly(proc, signal.SIGTERM)


def _assert_stops_cleanly(proc: subprocess.Popen[str], signum: signal.Signals) -> None:
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # say where it was stuck
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"tilescope serve did not stop within 10 s of {signum.name}; threads:\n{err}")
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_serve_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    r = _run("serve", "nowhere", "--port", "0", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "tilescope: error: cannot serve 'nowhere': it is not a directory."
    ]


def test_serve_a_taken_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tilescope.data.serve import SlowHTTPServer

    with SlowHTTPServer(tmp_path) as taken:
        r = _run("serve", ".", "--port", str(taken.port), cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--port" in lines[0]
