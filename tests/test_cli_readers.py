"""``tilescope view`` on OME-Zarr, TIFF and URLs: exit 0 only for a complete picture."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from headless import run_headless
from http_server import LocalHTTPServer
from ome_writers import write_ome_zarr

pytestmark = pytest.mark.gl


def _view(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_headless(
        [sys.executable, "-m", "tilescope", "view", *args, "--size", "96x64"], cwd, env
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tilescope: error:")]


def test_view_local_ome_zarr_screenshot(tmp_path: Path) -> None:
    write_ome_zarr(tmp_path / "img.zarr", "0.5")
    r = _view("img.zarr", "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    img = iio.imread(tmp_path / "shot.png")
    assert img.shape[:2] == (64, 96)
    assert img[..., 0].max() > 0  # the red DAPI channel shows


def test_view_url_screenshot(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.4", labels=False)
    r = _view(http_server.url("img.zarr"), "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert iio.imread(tmp_path / "shot.png")[..., 0].max() > 0


def test_view_url_404_is_one_error_line_exit_2(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    url = http_server.url("missing.zarr")
    r = _view(url, "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 2
    (line,) = _error_lines(r.stderr)
    assert url in line
    assert "no zarr metadata found" in line
    assert "Traceback" not in r.stderr


def test_view_url_timeout_exit_2(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    http_server.hang("img.zarr/zarr.json")
    r = _view(
        http_server.url("img.zarr"),
        "--screenshot",
        "shot.png",
        cwd=tmp_path,
        env={"TILESCOPE_REMOTE_TIMEOUT_S": "0.5"},
    )
    assert r.returncode == 2
    (line,) = _error_lines(r.stderr)
    assert "timed out" in line


def test_failed_layer_makes_screenshot_exit_1(tmp_path: Path, http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    for level in ("s0", "s1", "s2"):
        http_server.fail(f"img.zarr/{level}/c/", 500)
    r = _view(http_server.url("img.zarr"), "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    failed = [line for line in r.stderr.splitlines() if "is incomplete" in line]
    assert len(failed) == 1  # GFP is inactive (hidden): only DAPI is on the picture
    assert "'DAPI'" in failed[0]
    assert "500" in failed[0]


def test_unknown_tiff_codec_exit_2_names_imagecodecs(tmp_path: Path) -> None:
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, np.zeros((32, 32), np.uint8), tile=(16, 16))
    with tifffile.TiffFile(path) as tf:
        offsets = [page.tags["Compression"].valueoffset for page in tf.pages]
        order = tf.byteorder
    with open(path, "r+b") as f:
        for offset in offsets:
            f.seek(offset)
            f.write(struct.pack(order + "H", 33333))
    r = _view("odd.tif", "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 2
    (line,) = _error_lines(r.stderr)
    assert "imagecodecs" in line
    assert not (tmp_path / "shot.png").exists()


def test_jpeg_tiff_pyramid_screenshot(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:256, 0:256]
    data = (128 + 100 * np.sin(yy / 20) * np.cos(xx / 20)).astype(np.uint8)
    with tifffile.TiffWriter(tmp_path / "slide.tif") as tw:
        tw.write(data, subifds=1, tile=(64, 64), compression="jpeg")
        tw.write(data[::2, ::2], subfiletype=1, tile=(64, 64), compression="jpeg")
    r = _view("slide.tif", "--screenshot", "shot.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    img = iio.imread(tmp_path / "shot.png")
    assert img[..., 0].std() > 10  # a picture, not a black canvas
