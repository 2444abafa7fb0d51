"""Planning cost per frame: ideal level + visible tiles + coverage plan, one layer.

A 4-level pyramid (32768² at level 0, factor 2, 256² tiles) on a 1920×1080
canvas; the camera pans (and in one scenario zooms) every frame.  Target: under
1 ms per layer per frame for planning.  The last line adds the loader's
main-thread side (``want_plan`` -> ``set_wanted_keys``: cancelling tiles that
left the view, queueing new ones) in the worst cold case, where every frame of
a fast pan changes the wanted set; the executor never runs anything there.
The "draw rects" lines time :func:`~tilescope.tiles.quads.disjoint_rects` alone
on each frame's draw set (mixed levels: the coarse tiles split around finer ones).

Run either way::

    .venv/bin/python benchmarks/bench_tiles.py
    .venv/bin/python -m pytest -m benchmark -s -o addopts="" benchmarks/bench_tiles.py
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.tile_requests import tile_requests, want_plan
from tilescope.tiles.coverage import CoveragePlan, plan_coverage
from tilescope.tiles.grid import Position, TileSlice
from tilescope.tiles.intersection import visible_tiles
from tilescope.tiles.quads import disjoint_rects
from tilescope.tiles.source import TileSource

CANVAS = (1080, 1920)  # (h, w) screen pixels
LEVEL0 = 32768
NLEVELS = 4
FRAMES = 400
TARGET_MS = 1.0


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    tiles: float
    draws: float
    loads: float

    def line(self) -> str:
        verdict = "ok" if self.mean_ms < TARGET_MS else "OVER"
        return (
            f"{self.name:<34} mean {self.mean_ms:6.3f} ms  p50 {self.p50_ms:6.3f}  "
            f"p95 {self.p95_ms:6.3f}  max {self.max_ms:6.3f}  | visible {self.tiles:5.1f} "
            f"draw {self.draws:5.1f} load {self.loads:5.1f}  [{verdict}]"
        )


def pyramid_source() -> TileSource:
    class Shape:
        """Shape-only stand-in for a level array (planning never reads data)."""

        def __init__(self, n: int) -> None:
            self.shape = (n, n)
            self.ndim = 2
            self.dtype = np.dtype(np.uint16)

        def __getitem__(self, index: object) -> np.ndarray:
            raise AssertionError("planning must not read data")

    levels = [Shape(LEVEL0 // 2**lvl) for lvl in range(NLEVELS)]
    return TileSource.create(levels, (0, 1), layer_id=1, tile_shape=256, max_root_size=8192)


class _NeverRuns(Executor):
    """Accepts work and never runs it: the benchmark times the main-thread side only."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Future()


def run_scenario(
    name: str,
    tiles: TileSlice,
    zoom_at: Callable[[int], float],
    resident: set[Position],
    loads_per_frame: int = 0,
    with_requests: TileSource | None = None,
    loader: ChunkLoader | None = None,
    rects_only: bool = False,
) -> Result:
    """Pan diagonally for FRAMES frames; optionally mark some planned loads resident.

    ``rects_only`` times only the frame's draw rectangles; ``draws`` then counts
    the rectangles (not the tiles).
    """
    grid = tiles.grid
    times: list[float] = []
    counts: list[tuple[int, int, int]] = []
    plan: CoveragePlan | None = None
    for i in range(FRAMES):
        zoom = zoom_at(i)
        cy = 9000.0 + 7.0 * i
        cx = 11000.0 + 11.0 * i
        hy, hx = CANVAS[0] / zoom / 2, CANVAS[1] / zoom / 2
        t0 = time.perf_counter()
        view = visible_tiles(grid, (cy - hy, cx - hx), (cy + hy, cx + hx), CANVAS, margin=1)
        plan = plan_coverage(tiles, view, resident)
        if with_requests is not None:
            if loader is not None:
                want_plan(loader, plan, with_requests)
            else:
                tile_requests(plan, with_requests)
        ndraw = len(plan.draw)
        if rects_only:
            draw = [k.position for k in plan.draw]
            t0 = time.perf_counter()
            rects = disjoint_rects(grid, draw)
            ndraw = sum(len(r) for r in rects.values())
        times.append(time.perf_counter() - t0)
        counts.append((len(view.visible), ndraw, len(plan.load)))
        for load in plan.load[:loads_per_frame]:  # loads finishing between frames
            resident.add(load.key.position)
    ms = sorted(t * 1000 for t in times)
    return Result(
        name,
        statistics.fmean(ms),
        ms[len(ms) // 2],
        ms[int(len(ms) * 0.95)],
        ms[-1],
        statistics.fmean(c[0] for c in counts),
        statistics.fmean(c[1] for c in counts),
        statistics.fmean(c[2] for c in counts),
    )


def sweep_zoom(frame: int) -> float:
    """Zoom oscillating between 1/8 and 2 over ~250 frames (crosses every level)."""
    return 2.0 ** (-3 + 4 * (0.5 + 0.5 * math.sin(frame / 40)))


def run_all() -> list[Result]:
    source = pyramid_source()
    grid = source.grid
    tiles = source.tile_slice(())
    root = set(grid.positions(grid.root_level))
    everything = {p for lvl in range(grid.nlevels) for p in grid.positions(lvl)}
    assert grid.nlevels == NLEVELS
    rng = random.Random(0)
    mixed = root | {
        p for lvl in (0, 1) for p in grid.positions(lvl) if rng.random() < 0.8 - lvl / 2
    }
    results = [
        run_scenario("cold pan, zoom 0.7 (root only)", tiles, lambda i: 0.7, set(root)),
        run_scenario("cold pan, zoom 0.51 (worst level)", tiles, lambda i: 0.51, set(root)),
        run_scenario("warm pan, zoom 0.7 (all resident)", tiles, lambda i: 0.7, set(everything)),
        run_scenario(
            "zoomed out, finer resident",
            tiles,
            lambda i: 0.3,
            set(grid.positions(0)) | root,
        ),
        run_scenario(
            "pan+zoom sweep, 8 loads/frame",
            tiles,
            sweep_zoom,
            set(root),
            loads_per_frame=8,
        ),
        run_scenario(
            "sweep + building requests",
            tiles,
            sweep_zoom,
            set(root),
            loads_per_frame=8,
            with_requests=source,
        ),
    ]
    results += [
        run_scenario(
            "draw rects, 0.51, 80% l0 50% l1",
            tiles,
            lambda i: 0.51,
            set(mixed),
            rects_only=True,
        ),
        run_scenario(
            "draw rects, zoomed out, finer res.",
            tiles,
            lambda i: 0.3,
            set(grid.positions(0)) | root,
            rects_only=True,
        ),
        run_scenario(
            "draw rects, sweep, 8 loads/frame", tiles, sweep_zoom, set(root), 8, rects_only=True
        ),
    ]
    with ChunkLoader(
        OctreeConfig(),
        cache=ChunkCache(10**9),
        clock=FakeClock(),
        executor_factory=lambda settings: _NeverRuns(),
        dispatch_thread=False,
    ) as loader:
        results.append(
            run_scenario(
                "cold pan 0.51 + want_plan (loader)",
                tiles,
                lambda i: 0.51,
                set(root),
                with_requests=source,
                loader=loader,
            )
        )
    return results


def report() -> list[Result]:
    print(
        f"\ntile planning per frame, one layer: {NLEVELS}-level pyramid "
        f"({LEVEL0}² level 0, 256² tiles), canvas {CANVAS[1]}x{CANVAS[0]}, "
        f"{FRAMES} frames each, target < {TARGET_MS} ms"
    )
    results = run_all()
    for r in results:
        print(r.line())
    return results


@pytest.mark.benchmark
def test_bench_tile_planning() -> None:
    results = report()
    assert all(r.tiles > 0 for r in results)


if __name__ == "__main__":
    report()
