"""Opening and reading an OME-Zarr pyramid from disk and over HTTP; fsspec vs obstore.

An OME-Zarr 0.5 image (2 channels x 2048² uint16, 256² chunks, 4 levels, written by
ome-zarr-py) is served by a local threaded HTTP server that adds a fixed latency to every
request. Printed:

- open time (``read_path``: metadata only, every level and the labels probe) from disk and
  over HTTP at 0 and 50 ms per request;
- time to read 64 chunks (all of level 0 of one channel, 2048² through zarr) over HTTP at
  50 ms per request with zarr's store on fsspec (what tilescope uses) and on obstore, at the
  same zarr concurrency (16).

Run either way (once: the machine is shared)::

    .venv/bin/python benchmarks/bench_remote_read.py
    .venv/bin/python -m pytest -m benchmark -s -o addopts="" benchmarks/bench_remote_read.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from http_server import LocalHTTPServer
from tilescope.data.io import read_path
from tilescope.data.remote import RemoteOptions, open_remote_store

LATENCY_S = 0.05
CONCURRENCY = 16
REPEATS = 3


def _write(root: Path) -> np.ndarray[Any, Any]:
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    data = np.random.default_rng(0).integers(0, 4000, (2, 2048, 2048), dtype=np.uint16)
    group = zarr.open_group(root / "img.zarr", mode="w", zarr_format=3)
    write_image(
        data,
        group,
        axes="cyx",
        fmt=FormatV05(),
        scale_factors=[2, 4, 8],
        scale={"c": 1.0, "y": 0.5, "x": 0.5},
        storage_options={"chunks": (1, 256, 256)},
    )
    return data


def _median_s(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _read_fsspec(url: str) -> np.ndarray[Any, Any]:
    store = open_remote_store(url, RemoteOptions(concurrency=CONCURRENCY))
    return np.asarray(zarr.open_array(store=store, path="s0", mode="r")[0])


def _read_obstore(url: str) -> np.ndarray[Any, Any]:
    from obstore.store import HTTPStore
    from zarr.storage import ObjectStore

    zarr.config.set({"async.concurrency": CONCURRENCY})
    store = ObjectStore(
        HTTPStore.from_url(url, client_options={"allow_http": True}), read_only=True
    )
    return np.asarray(zarr.open_array(store=store, path="s0", mode="r")[0])


def report() -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = _write(root)
        results["open local"] = _median_s(lambda: read_path(root / "img.zarr"), 5)
        server = LocalHTTPServer(root)
        try:
            url = server.url("img.zarr")
            results["open http 0 ms"] = _median_s(lambda: read_path(url))
            server.requests.clear()
            server.latency_s = LATENCY_S
            results["open http 50 ms"] = _median_s(lambda: read_path(url))
            open_requests = len(server.requests) // REPEATS
            for name, read in (("fsspec", _read_fsspec), ("obstore", _read_obstore)):
                server.requests.clear()
                out = read(url)
                np.testing.assert_array_equal(out, data[0])
                chunk_requests = sum("/c/" in p for p in server.requests)
                results[f"read 64 chunks {name}"] = _median_s(lambda r=read: r(url))  # type: ignore[misc]
                results[f"requests {name}"] = chunk_requests
        finally:
            server.close()
    print(
        f"\nOME-Zarr 0.5, 2 x 2048² uint16, 256² chunks, 4 levels; HTTP latency "
        f"{LATENCY_S * 1000:.0f} ms per request; zarr concurrency {CONCURRENCY}; "
        f"median of {REPEATS}"
    )
    print(f"  open (read_path) local           {results['open local'] * 1000:8.1f} ms")
    print(f"  open (read_path) http, 0 ms      {results['open http 0 ms'] * 1000:8.1f} ms")
    print(
        f"  open (read_path) http, 50 ms     {results['open http 50 ms'] * 1000:8.1f} ms"
        f"   ({open_requests} requests)"
    )
    for name in ("fsspec", "obstore"):
        print(
            f"  read 64 chunks, {name:8s} 50 ms {results[f'read 64 chunks {name}'] * 1000:8.1f} ms"
            f"   ({int(results[f'requests {name}'])} chunk requests)"
        )
    return results


@pytest.mark.benchmark
def test_bench_remote_read() -> None:
    results = report()
    assert results["requests fsspec"] == 64


if __name__ == "__main__":
    report()
