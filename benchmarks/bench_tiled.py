"""Tiled progressive rendering: detail per tile, no re-reads on pans, no upload stalls.

Three workloads, numbers printed (never asserted beyond "it ran"):

A. **Zoom and pan on a slow pyramid.** A 16384² uint16 pyramid of dask arrays, 256² chunks,
   every chunk taking 50 ms (a remote store's latency), viewed headless on a 1024×768
   canvas. After each camera change the script resolves frames as the event loop would and
   records: time to first detail (the first ideal-level tile drawn), time to full detail
   (every visible tile at the ideal level) and its ratio to the bound
   ``ceil(tiles / concurrency) × latency``; for pans, chunks computed vs tiles newly exposed.
B. **Slice changes on a 3 × 16384² uint16 numpy stack** in a real Qt window (Xvfb when there
   is no screen): the longest main-thread stall seen by a 2 ms heartbeat and tilescope's own
   task timings, and the time from each change to the full plane on screen. napari 0.9 and
   the previous tilescope uploaded the whole 512 MiB plane as one texture (60-125 ms stall).
C. **Eight layers**: eight additive 4096² multiscale channels panned and zoomed together;
   per-frame cost of resolving every layer's tiles and building the plan (``apply_plan``).

Run: ``./run bench -k tiled`` or ``python benchmarks/bench_tiled.py [A|B|C]``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

SIZE = 16384
CHUNK = 256
LATENCY_S = 0.050
CANVAS = (768, 1024)


# -- A: slow pyramid ------------------------------------------------------------------------
class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0

    def add(self) -> None:
        with self.lock:
            self.n += 1


def slow_pyramid(counter: _Counter) -> list[Any]:
    """16384² .. 256² uint16 levels; each 256² chunk sleeps LATENCY_S and counts itself."""
    import dask.array as da

    levels = []
    n = SIZE
    lvl = 0
    while n >= CHUNK:

        def block(block_info: dict[Any, Any] | None = None, level: int = lvl) -> np.ndarray:
            time.sleep(LATENCY_S)
            counter.add()
            assert block_info is not None
            y, x = block_info[None]["chunk-location"]
            out = np.empty((CHUNK, CHUNK), dtype=np.uint16)
            out[:] = 1000 + 500 * level + 40 * ((y + x) % 8)
            return out

        k = n // CHUNK
        levels.append(da.map_blocks(block, chunks=((CHUNK,) * k, (CHUNK,) * k), dtype=np.uint16))
        n //= 2
        lvl += 1
    return levels


@dataclass
class StepResult:
    name: str
    tiles: int
    first_detail_ms: float
    full_detail_ms: float
    bound_ms: float
    chunks_read: int
    newly_exposed: int

    @property
    def ratio(self) -> float:
        return self.full_detail_ms / self.bound_ms if self.bound_ms else math.nan


def _settle(viewer: Any, layer: Any, t0: float, timeout: float = 60.0) -> tuple[float, float]:
    """Resolve frames (as the event loop would) until the layer is settled."""
    first = math.nan
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        viewer.hop.wait_posted(0.002)
        viewer.wait_until_idle(0)
        frame = viewer.layer_frame(layer)
        now = time.perf_counter()
        if frame is None:
            continue
        if math.isnan(first) and frame.resident > 0:
            first = (now - t0) * 1e3
        if frame.settled:
            return first, (now - t0) * 1e3
    return first, math.nan


def run_pyramid(delay_ms: float | None = None) -> list[StepResult]:
    """Workload A; ``delay_ms`` overrides the ideal pool's delay queue (napari's 100 ms)."""
    from tilescope.loading.config import OctreeConfig, get_config, set_config
    from tilescope.viewer import Viewer

    previous = None
    if delay_ms is not None:
        cfg = get_config().to_dict()
        cfg["octree"]["loaders"]["0"]["delay_queue_ms"] = delay_ms
        previous = set_config(OctreeConfig.from_dict(cfg))
    counter = _Counter()
    results: list[StepResult] = []
    try:
        viewer = Viewer(show=False, size=CANVAS)
        workers = viewer.loader.pools[0].settings.num_workers
        layer = viewer.add_image(slow_pyramid(counter), multiscale=True, contrast_limits=(0, 5000))
        viewer.camera.update(center=(8000.0, 8000.0), zoom=1 / 8)
        _settle(viewer, layer, time.perf_counter())
        steps: list[tuple[str, tuple[float, float], float]] = [
            ("zoom in x2", (8000.0, 8000.0), 1 / 4),
            ("zoom in x2", (8100.0, 7900.0), 1 / 2),
            ("pan 1/3 view", (8100.0, 7900.0 + 1024 * 2 / 3), 1 / 2),
            ("pan 1/3 view", (8100.0, 7900.0 + 1024 * 4 / 3), 1 / 2),
            ("pan back", (8100.0, 7900.0), 1 / 2),
            ("zoom out x2", (8100.0, 7900.0), 1 / 4),
            ("zoom out x4", (8100.0, 7900.0), 1 / 16),
        ]
        for name, center, zoom in steps:
            before = viewer.layer_frame(layer)
            resident_before = (
                set() if before is None or before.draw is None else set(_final_keys(before))
            )
            n0 = counter.n
            t0 = time.perf_counter()
            viewer.camera.update(center=center, zoom=zoom)
            first, full = _settle(viewer, layer, t0)
            frame = viewer.layer_frame(layer)
            assert frame is not None
            tiles = frame.wanted
            exposed = len(set(_final_keys(frame)) - resident_before)
            results.append(
                StepResult(
                    name,
                    tiles,
                    first,
                    full,
                    math.ceil(exposed / workers) * LATENCY_S * 1e3,
                    counter.n - n0,
                    exposed,
                )
            )
        viewer.close()
    finally:
        if delay_ms is not None:
            set_config(previous)
    return results


def _final_keys(frame: Any) -> list[tuple[int, float, float]]:
    """The ideal-level tiles a frame draws, as (level, rect) (stable across frames)."""
    return [(q.level, q.rect[0], q.rect[2]) for q in frame.draw.quads if q.state == 0]


def report_pyramid(results: list[StepResult], label: str) -> str:
    lines = [
        f"A. slow pyramid ({label}): {SIZE}² uint16, {CHUNK}² chunks at "
        f"{LATENCY_S * 1e3:.0f} ms each, canvas {CANVAS[1]}x{CANVAS[0]}, headless",
        "   step            tiles  first detail  full detail  bound   ratio  chunks read / "
        "newly exposed",
    ]
    lines.extend(
        f"   {r.name:<15} {r.tiles:>5}  {r.first_detail_ms:>9.0f} ms  "
        f"{r.full_detail_ms:>8.0f} ms  {r.bound_ms:>4.0f} ms  {r.ratio:>5.2f}  "
        f"{r.chunks_read:>4} / {r.newly_exposed}"
        for r in results
    )
    return "\n".join(lines)


# -- B: huge numpy stack in a window -----------------------------------------------------------
@dataclass
class StackResult:
    heartbeat_max_ms: float
    heartbeat_p99_ms: float
    task_max_ms: float
    task_p99_ms: float
    to_full_plane_ms: list[float] = field(default_factory=list)
    by_task: dict[str, float] = field(default_factory=dict)


def run_stack(changes: int = 6) -> StackResult:
    from qtpy.QtCore import QElapsedTimer, Qt, QTimer

    from tilescope.viewer import Viewer
    from tilescope.views.app import get_app

    app = get_app()
    rng = np.random.default_rng(0)
    stack = np.empty((3, SIZE, SIZE), dtype=np.uint16)
    for z in range(3):
        stack[z] = rng.integers(0, 60000, (1, SIZE), dtype=np.uint16)  # rows differ per plane
    viewer = Viewer(show=True, size=(600, 800), title="bench: 3 x 16384² numpy")
    viewer.add_image(stack, contrast_limits=(0, 65535), name="stack")
    viewer.wait_until_idle(120)
    app.processEvents()
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def beat() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    changed_at: dict[int, float] = {}
    full: list[float] = []
    first = viewer.dims.current_step[0]
    planes = [(first + 1 + i) % 3 for i in range(changes)]  # every step changes the plane

    def on_shown(layer_id: int, frame: Any, t: float) -> None:
        if frame.settled and frame.slice0 and frame.slice0[0] in changed_at:
            full.append((t - changed_at.pop(frame.slice0[0])) * 1e3)
            QTimer.singleShot(300, change)

    def change() -> None:
        if not planes:
            app.quit()
            return
        z = planes.pop(0)
        changed_at[z] = time.perf_counter()
        viewer.dims.set_current_step(0, z)

    viewer.frame_shown.append(on_shown)
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(beat)
    viewer.perf.reset()
    heartbeat.start(2)
    QTimer.singleShot(0, change)
    QTimer.singleShot(180_000, app.quit)
    app.exec()
    heartbeat.stop()
    stats = viewer.perf.stats()
    viewer.close()
    g = np.asarray(gaps[1:] or [0.0])
    return StackResult(
        float(g.max()),
        float(np.percentile(g, 99)),
        stats.max_ms,
        stats.p99_ms,
        [round(v) for v in full],
        {name: round(s.max_ms, 1) for name, s in stats.by_name.items()},
    )


def report_stack(r: StackResult) -> str:
    return "\n".join(
        [
            f"B. slice changes on 3 x {SIZE}² uint16 numpy in a Qt window (target stall <= 16 ms;"
            " napari 0.9 and tilescope before tiles: 60-125 ms)",
            f"   heartbeat (2 ms): max gap {r.heartbeat_max_ms:.1f} ms, p99 "
            f"{r.heartbeat_p99_ms:.1f} ms; tilescope tasks: max {r.task_max_ms:.1f} ms, p99 "
            f"{r.task_p99_ms:.1f} ms",
            f"   change -> full plane on screen: {r.to_full_plane_ms} ms",
            "   task max: " + ", ".join(f"{k} {v} ms" for k, v in r.by_task.items()),
        ]
    )


# -- C: eight layers ---------------------------------------------------------------------------
def run_eight(frames: int = 200) -> dict[str, float]:
    """Workload C: warm (every tile the sweep shows is resident) and cold (first visit)."""
    from tilescope.viewer import Viewer

    rng = np.random.default_rng(1)
    viewer = Viewer(show=False, size=CANVAS)
    colors = ["red", "green", "blue", "magenta", "cyan", "yellow", "gray", "orange"]
    for c in colors:
        base = rng.integers(0, 4000, (4096, 4096), dtype=np.uint16)
        levels = [base, base[::2, ::2].copy(), base[::4, ::4].copy(), base[::8, ::8].copy()]
        viewer.add_image(levels, contrast_limits=(0, 4000), colormap=c, blending="additive")
    out: dict[str, float] = {}
    for label in ("cold", "warm"):  # the same sweep twice: the second finds every tile
        viewer.wait_until_idle(120)
        viewer.perf.reset()
        t0 = time.perf_counter()
        for i in range(frames):
            zoom = 0.25 * 2 ** (2 * (0.5 + 0.5 * math.sin(i / 25)))
            viewer.camera.update(
                center=(2048 + 800 * math.sin(i / 17), 2048 + 800 * math.cos(i / 13)), zoom=zoom
            )
            viewer.wait_until_idle(0)  # one frame: drain, resolve every layer, apply
        out[f"{label}_frame_ms"] = (time.perf_counter() - t0) * 1e3 / frames
        s = viewer.perf.stats().by_name.get("apply_plan")
        if s is not None:
            out[f"{label}_apply_plan_p99_ms"] = s.p99_ms
            out[f"{label}_apply_plan_max_ms"] = s.max_ms
    viewer.close()
    return out


def report_eight(r: dict[str, float]) -> str:
    nan = math.nan
    return (
        "C. eight additive 4096² multiscale layers, pan+zoom sweep of 200 frames, headless; "
        "resolve + plan + apply per frame (apply_plan):\n"
        f"   warm (all tiles resident): p99 {r.get('warm_apply_plan_p99_ms', nan):.1f} ms, max "
        f"{r.get('warm_apply_plan_max_ms', nan):.1f} ms, frame {r.get('warm_frame_ms', nan):.1f}"
        " ms mean\n"
        f"   cold (tiles loading in 20 worker threads on 2 cores): p99 "
        f"{r.get('cold_apply_plan_p99_ms', nan):.1f} ms, max "
        f"{r.get('cold_apply_plan_max_ms', nan):.1f} ms, frame "
        f"{r.get('cold_frame_ms', nan):.1f} ms mean"
    )


@pytest.mark.benchmark
def test_tiled_benchmark() -> None:
    from tilescope.render.display import display_problem

    print()
    print(report_pyramid(run_pyramid(), "default config: 100 ms delay queue for ideal tiles"))
    print(report_pyramid(run_pyramid(delay_ms=0), "no delay queue"))
    print(report_eight(run_eight()))
    problem = display_problem()
    if problem is None:
        print(report_stack(run_stack()))
    else:
        print(f"B. skipped: needs a display for the Qt window ({problem})")


if __name__ == "__main__":
    which = sys.argv[1:] or ["A", "B", "C"]
    if "A" in which:
        print(report_pyramid(run_pyramid(), "default config: 100 ms delay queue for ideal tiles"))
        print(report_pyramid(run_pyramid(delay_ms=0), "no delay queue"))
    if "C" in which:
        print(report_eight(run_eight()))
    if "B" in which:
        print(report_stack(run_stack()))
