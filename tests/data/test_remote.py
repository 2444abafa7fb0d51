"""URLs read through the same zarr path as local files, against a real local HTTP server."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from http_server import LocalHTTPServer
from ome_writers import write_ome_zarr
from tilescope.data.io import read_path
from tilescope.data.remote import RemoteOptions, is_url, url_name
from tilescope.errors import ConfigError, DataSourceError

FAST = RemoteOptions(timeout_s=5.0, concurrency=4)


def _levels(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else [data]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_over_http_equals_local(http_server: LocalHTTPServer, version: str) -> None:
    local = http_server.root / "img.zarr"
    write_ome_zarr(local, version)
    remote_specs = read_path(http_server.url("img.zarr"), remote=FAST)
    local_specs = read_path(local)
    assert [(s.name, s.layer_type) for s in remote_specs] == [
        (s.name, s.layer_type) for s in local_specs
    ]
    for r, loc in zip(remote_specs, local_specs, strict=True):
        assert {k: v for k, v in r.kwargs.items() if k != "colormap"} == {
            k: v for k, v in loc.kwargs.items() if k != "colormap"
        }
        for rl, ll in zip(_levels(r.data), _levels(loc.data), strict=True):
            np.testing.assert_array_equal(np.asarray(rl[:]), np.asarray(ll[:]))
    assert any(p.startswith("img.zarr/") for p in http_server.requests)


def test_plain_pyramid_group_over_http_needs_no_listing(http_server: LocalHTTPServer) -> None:
    g = zarr.open_group(http_server.root / "pyr.zarr", mode="w")
    g.create_array("0", shape=(16, 16), chunks=(8, 8), dtype="u2")[:] = 9
    g.create_array("1", shape=(8, 8), chunks=(8, 8), dtype="u2")
    (spec,) = read_path(http_server.url("pyr.zarr/"), remote=FAST)
    assert spec.name == "pyr"
    assert [lv.shape for lv in spec.data] == [(16, 16), (8, 8)]
    assert int(np.asarray(spec.data[0][:]).sum()) == 9 * 256


def test_404_names_the_url(http_server: LocalHTTPServer) -> None:
    url = http_server.url("nothing.zarr")
    with pytest.raises(DataSourceError, match=r"no zarr metadata found") as info:
        read_path(url, remote=FAST)
    assert url in str(info.value)


def test_500_says_the_server_failed(http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    http_server.fail("img.zarr/zarr.json", 500)
    url = http_server.url("img.zarr")
    with pytest.raises(DataSourceError, match=r"HTTP 500.*server failed") as info:
        read_path(url, remote=FAST)
    assert url in str(info.value)


def test_missing_level_over_http(http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    http_server.fail("img.zarr/s2/", 404)
    with pytest.raises(DataSourceError, match=r"level 2 \('s2'\).*cannot be opened"):
        read_path(http_server.url("img.zarr"), remote=FAST)


def test_garbled_metadata_over_http(http_server: LocalHTTPServer) -> None:
    store = http_server.root / "img.zarr"
    write_ome_zarr(store, "0.5", labels=False)
    (store / "zarr.json").write_text("{oops")
    with pytest.raises(DataSourceError, match=r"not valid JSON"):
        read_path(http_server.url("img.zarr"), remote=FAST)


def test_a_server_that_never_answers_times_out(http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    http_server.hang("img.zarr/zarr.json")  # held until the fixture releases it
    start = time.monotonic()
    with pytest.raises(DataSourceError, match=r"timed out") as info:
        read_path(http_server.url("img.zarr"), remote=RemoteOptions(timeout_s=0.5))
    assert time.monotonic() - start < 10
    assert "img.zarr" in str(info.value)


def test_requests_in_flight_are_bounded(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    z = zarr.create_array(root / "a.zarr", shape=(64, 64), chunks=(8, 8), dtype="u1")
    z[:] = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    server = LocalHTTPServer(root, latency_s=0.01)
    try:
        (spec,) = read_path(server.url("a.zarr"), remote=RemoteOptions(concurrency=2))
        np.testing.assert_array_equal(np.asarray(spec.data[:]), z[:])
        assert len(server.requests) >= 64
        assert server.max_in_flight <= 2
    finally:
        server.close()
        zarr.config.set({"async.concurrency": RemoteOptions().concurrency})


@pytest.mark.parametrize(("scheme", "package"), [("s3", "s3fs"), ("gs", "gcsfs")])
def test_cloud_url_without_its_package_names_it(scheme: str, package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(DataSourceError, match=rf"needs the '{package}' package.*pip install"):
        read_path(f"{scheme}://bucket/img.zarr")


def test_unknown_protocol() -> None:
    with pytest.raises(DataSourceError, match=r"unknown protocol 'nope'"):
        read_path("nope://host/img.zarr")


def test_tiff_urls_are_refused_clearly() -> None:
    with pytest.raises(Exception, match=r"TIFF files are read from local paths only"):
        read_path("http://127.0.0.1:9/slide.svs")


def test_url_helpers() -> None:
    assert is_url("https://host/a.zarr")
    assert not is_url("/tmp/a.zarr")
    assert not is_url("file:///tmp/a.zarr")
    assert url_name("https://host/data/cells.ome.zarr/") == "cells.ome"
    assert url_name("s3://bucket/img.zarr?x=1") == "img"


def test_remote_options_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"timeout_s"):
        RemoteOptions(timeout_s=0)
    with pytest.raises(ConfigError, match=r"concurrency"):
        RemoteOptions(concurrency=0)
    monkeypatch.setenv("TILESCOPE_REMOTE_TIMEOUT_S", "2.5")
    monkeypatch.setenv("TILESCOPE_REMOTE_CONCURRENCY", "3")
    assert RemoteOptions.from_env() == RemoteOptions(timeout_s=2.5, concurrency=3)
    monkeypatch.setenv("TILESCOPE_REMOTE_CONCURRENCY", "many")
    with pytest.raises(ConfigError, match=r"TILESCOPE_REMOTE_CONCURRENCY='many'"):
        RemoteOptions.from_env()


def test_storage_options_reach_fsspec(http_server: LocalHTTPServer) -> None:
    (http_server.root / "a.zarr").mkdir()
    z = zarr.create_array(http_server.root / "a.zarr", shape=(4, 4), dtype="u1", overwrite=True)
    z[:] = 1
    opts = RemoteOptions(storage_options=(("headers", {"X-Test": "1"}),))
    (spec,) = read_path(http_server.url("a.zarr"), remote=opts)
    assert json.loads((http_server.root / "a.zarr" / "zarr.json").read_text())["shape"] == [4, 4]
    assert int(np.asarray(spec.data[:]).sum()) == 16


def test_chunk_read_failures_name_the_array_and_the_cause(http_server: LocalHTTPServer) -> None:
    write_ome_zarr(http_server.root / "img.zarr", "0.5", labels=False)
    dapi = read_path(http_server.url("img.zarr"), remote=RemoteOptions(timeout_s=0.5))[0]
    level0, level1 = _levels(dapi.data)[:2]
    http_server.hang("img.zarr/s0/c/")
    with pytest.raises(DataSourceError, match=r"reading 'http://.*/img.zarr/s0' failed: .*timed"):
        level0[0:4, 0:4]
    http_server.fail("img.zarr/s1/c/", 500)
    with pytest.raises(DataSourceError, match=r"reading '.*/img.zarr/s1' failed: HTTP 500"):
        level1[0:4, 0:4]
