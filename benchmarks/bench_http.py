"""Panning an OME-Zarr pyramid over HTTP: requests and bytes per pan, time to full detail.

A 8192² uint16 pyramid (256² chunks, written by ``tilescope pyramid``'s writer) is served by
``tilescope serve`` with 50 ms added to every request, opened by URL in a headless viewer
(the same zarr/fsspec path as any remote store), and panned by a third of the view at a time.
Printed per pan: chunk requests and bytes against the chunks newly exposed at the ideal
level (target ≤ 1.2×; the prefetch margin ring and coarse coverage tiles are the extra),
and the time to full detail against zarr alone reading the same newly fetched chunks from
the same server with the same concurrency.

Run: ``./run bench -k http`` or ``python benchmarks/bench_http.py``.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SIZE = 8192
CHUNK = 256
LATENCY_MS = 50.0
CANVAS = (768, 1024)


@dataclass
class Pan:
    requests: int
    bytes: int
    chunk_requests: int
    coarse_requests: int
    exposed: int
    exposed_bytes: int
    full_detail_ms: float
    zarr_alone_ms: float


class _Log:
    """Every path the server is asked for (a fault policy that injects nothing)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: list[str] = []

    def __call__(self, request: Any) -> None:
        with self.lock:
            self.paths.append(request.path)
        return None


def _write(root: Path) -> Path:
    from tilescope.data.pyramid import write_pyramid

    out = root / "pan.ome.zarr"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4000, (SIZE, SIZE), dtype=np.uint16)
    write_pyramid(base, out, chunks=CHUNK, axes="yx", progress=False)
    return out


def _visible(viewer: Any, layer: Any, name: str) -> set[str]:
    """Store keys of the level-0 chunks drawn now (tiles are chunk-aligned)."""
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.draw is not None
    return {
        f"{name}/s0/c/{int(q.rect[0]) // CHUNK}/{int(q.rect[2]) // CHUNK}"
        for q in frame.draw.quads
        if q.level == 0
    }


def _level0_chunks(paths: list[str]) -> set[str]:
    return {p for p in paths if "/s0/c/" in p}


def _zarr_alone(url: str, chunks: list[tuple[int, int]], workers: int) -> float:
    """Seconds for zarr alone to read ``chunks`` (row, col) of level 0 from ``url``, with
    ``workers`` threads each reading one chunk at a time (the loader's concurrency)."""
    from concurrent.futures import ThreadPoolExecutor

    import zarr

    arr = zarr.open_array(f"{url}/s0", mode="r")

    def one(rc: tuple[int, int]) -> None:
        r, c = rc
        np.asarray(arr[r * CHUNK : (r + 1) * CHUNK, c * CHUNK : (c + 1) * CHUNK])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, chunks))
    return time.perf_counter() - t0


def run(steps: int = 6) -> list[Pan]:
    from tilescope.data.serve import SlowHTTPServer
    from tilescope.viewer import Viewer

    log = _Log()
    results: list[Pan] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp))
        with SlowHTTPServer(tmp, latency_ms=LATENCY_MS, faults=log) as server:
            url = f"{server.url}/{path.name}"
            viewer = Viewer(show=False, size=CANVAS)
            workers = viewer.loader.pools[0].settings.num_workers
            (layer,) = viewer.open(url)
            viewer.camera.update(center=(4000.0, 2000.0), zoom=1.0)  # level 0
            viewer.wait_until_idle(120)
            visible = _visible(viewer, layer, path.name)
            for i in range(steps):
                before = server.stats()
                n_paths = len(log.paths)
                t0 = time.perf_counter()
                viewer.camera.update(center=(4000.0, 2000.0 + (i + 1) * CANVAS[1] / 3), zoom=1.0)
                viewer.wait_until_idle(120)
                full = (time.perf_counter() - t0) * 1e3
                after = server.stats()
                new_paths = log.paths[n_paths:]
                now_visible = _visible(viewer, layer, path.name)
                exposed = now_visible - visible  # newly on screen, prefetched or not
                visible = now_visible
                coords = sorted(
                    (int(p.split("/")[-2]), int(p.split("/")[-1]))
                    for p in _level0_chunks(new_paths)
                )
                alone = _zarr_alone(url, coords, workers)
                results.append(
                    Pan(
                        after.requests - before.requests,
                        after.bytes_sent - before.bytes_sent,
                        sum(1 for p in new_paths if "/c/" in p),
                        sum(1 for p in new_paths if "/c/" in p and "/s0/" not in p),
                        len(exposed),
                        sum((Path(tmp) / p).stat().st_size for p in exposed),
                        full,
                        alone * 1e3,
                    )
                )
            viewer.close()
    return results


def report(results: list[Pan]) -> str:
    lines = [
        f"http pan: {SIZE}² uint16 OME-Zarr over tilescope serve at {LATENCY_MS:.0f} ms per "
        f"request, {CHUNK}² chunks, canvas {CANVAS[1]}x{CANVAS[0]}, level 0, pans of 1/3 view",
        "   pan  requests  chunk requests (coarse)  newly exposed chunks  bytes sent / exposed  "
        "full detail  zarr alone (same level-0 chunks)",
    ]
    lines.extend(
        f"   {i + 1:>3}  {r.requests:>8}  {r.chunk_requests:>14} ({r.coarse_requests:>2})"
        f"      {r.exposed:>12}  "
        f"{r.bytes / 1e6:>7.2f} / {r.exposed_bytes / 1e6:<5.2f} MB  {r.full_detail_ms:>8.0f} ms"
        f"  {r.zarr_alone_ms:>8.0f} ms"
        for i, r in enumerate(results)
    )
    req = sum(r.chunk_requests for r in results)
    exp = sum(r.exposed for r in results)
    sent = sum(r.bytes for r in results)
    exp_b = sum(r.exposed_bytes for r in results)
    lines.append(
        f"   over all pans: {req} chunk requests for {exp} newly exposed chunks "
        f"({req / max(exp, 1):.2f}x), {sent / max(exp_b, 1):.2f}x their bytes (target <= 1.2x; "
        "the extra is the one-tile prefetch ring and coarse coverage tiles)"
    )
    return "\n".join(lines)


@pytest.mark.benchmark
def test_http_pan_benchmark() -> None:
    print()
    print(report(run()))


if __name__ == "__main__":
    print(report(run()))
