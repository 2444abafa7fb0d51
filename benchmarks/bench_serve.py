"""Reading a zarr array over HTTP from ``tilescope serve`` (latency injected), with zarr alone.

A 2048² uint16 array in 64 chunks of 256², served on 127.0.0.1 with 50 ms per request, read
whole with zarr-python 3 (fsspec + aiohttp) at its default async concurrency (10) and at 64.
Each line prints the wall time of ``array[:]`` (metadata already fetched; best and median of
5 reads) against the bound ``ceil(64 / concurrency) × 50 ms`` — plus the per-response transfer
time when a bandwidth cap is set — and the requests and bytes the server counted per read.
This measures the server and zarr's HTTP path, the floor under any viewer reading through it.

Run either way::

    .venv/bin/python benchmarks/bench_serve.py
    ./run bench -k serve
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from tilescope.data.serve import SlowHTTPServer

SHAPE = (2048, 2048)
CHUNK = (256, 256)
LATENCY_MS = 50.0
REPEATS = 5


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    best_s: float
    median_s: float
    bound_s: float
    requests: float
    megabytes: float

    def line(self) -> str:
        return (
            f"{self.name:<48} best {self.best_s:5.3f} s  median {self.median_s:5.3f} s  "
            f"bound {self.bound_s:5.3f} s  ({self.best_s / self.bound_s:4.2f}x)  "
            f"{self.requests:.0f} requests, {self.megabytes:.1f} MB per read"
        )


def _write_store(root: Path) -> tuple[np.ndarray[Any, Any], int]:
    data = np.random.default_rng(0).integers(0, 65535, SHAPE, dtype=np.uint16)
    arr = zarr.create_array(root / "a.zarr", shape=SHAPE, chunks=CHUNK, dtype=data.dtype)
    arr[:] = data
    chunk_files = [p for p in (root / "a.zarr" / "c").rglob("*") if p.is_file()]
    return data, max(p.stat().st_size for p in chunk_files)


def _scenario(
    root: Path,
    data: np.ndarray[Any, Any],
    largest_chunk: int,
    concurrency: int,
    bandwidth_mbps: float | None = None,
) -> Result:
    chunks = math.prod(s // c for s, c in zip(SHAPE, CHUNK, strict=True))
    per_request = LATENCY_MS / 1000 + (
        largest_chunk * 8 / (bandwidth_mbps * 1e6) if bandwidth_mbps else 0.0
    )
    bound = math.ceil(chunks / concurrency) * per_request
    times = []
    requests = bytes_sent = 0
    with (
        SlowHTTPServer(root, latency_ms=LATENCY_MS, bandwidth_mbps=bandwidth_mbps) as server,
        zarr.config.set({"async.concurrency": concurrency}),
    ):
        for _ in range(REPEATS):
            remote = zarr.open_array(server.url + "a.zarr", mode="r")
            before = server.stats()
            t0 = time.perf_counter()
            got = remote[:]
            times.append(time.perf_counter() - t0)
            after = server.stats()
            requests = after.requests - before.requests
            bytes_sent = after.bytes_sent - before.bytes_sent
            assert np.array_equal(got, data)
    cap = f", {bandwidth_mbps:g} Mbit/s per response" if bandwidth_mbps else ""
    return Result(
        f"concurrency {concurrency:>2}, {LATENCY_MS:g} ms{cap}",
        min(times),
        statistics.median(times),
        bound,
        requests,
        bytes_sent / 1e6,
    )


def report() -> list[Result]:
    default = int(zarr.config.get("async.concurrency"))
    print(
        f"\nzarr over HTTP from tilescope serve: {SHAPE[0]}x{SHAPE[1]} uint16, "
        f"{CHUNK[0]}² chunks (64), {LATENCY_MS:g} ms per request; zarr's default async "
        f"concurrency is {default}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, largest = _write_store(root)
        results = [
            _scenario(root, data, largest, default),
            _scenario(root, data, largest, 64),
            _scenario(root, data, largest, default, bandwidth_mbps=100.0),
        ]
    for r in results:
        print(r.line())
    return results


@pytest.mark.benchmark
def test_bench_zarr_over_slow_http() -> None:
    results = report()
    assert all(r.requests >= 64 for r in results)
    assert all(r.best_s >= r.bound_s * 0.99 for r in results)  # latency really applied


if __name__ == "__main__":
    report()
