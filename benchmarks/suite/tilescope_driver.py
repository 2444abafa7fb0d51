"""Run one workload through tilescope in a real Qt window; write its RunRecord as JSON.

Run by the suite (one process per workload, so peak RSS is that workload's)::

    python benchmarks/suite/tilescope_driver.py W1 --url URL --stats-url URL --out F [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CANVAS,
    CHUNK,
    Runner,
    RunRecord,
    Step,
    Workload,
    numpy_stack,
    peak_rss_mb,
    slow_stack,
    workloads,
    write_json,
)

FINAL = 0  # TILE_FINAL


class TilescopeEngine:
    """The runner's view of a tilescope viewer: steps in, coverage and detail out."""

    def __init__(self, viewer: Any, layers: list[Any]) -> None:
        self.shape = _data_shape(layers[0])[-2:]
        self.viewer = viewer
        self.layers = layers
        self.frames: dict[int, Any] = {}
        self.stale: list[Any] = []  # frames resolved before the last step (kept: ids stay unique)
        self.shown: list[tuple[int, tuple[int, ...], Any]] = []  # (layer, slice0, quads)
        self.runner: Runner | None = None
        viewer.frame_shown.append(self._on_shown)

    def _on_shown(self, layer_id: int, frame: Any, t: float) -> None:
        if any(frame is s for s in self.stale):
            return  # resolved before the step was applied: not an answer to it
        self.frames[layer_id] = frame
        if frame.draw is not None:
            self.shown.append((layer_id, tuple(frame.slice0), frame.draw.quads))
        if self.runner is not None:
            self.runner.frame(t)

    def apply(self, step: Step) -> None:
        self.stale = [f for f in (self.viewer.layer_frame(x) for x in self.layers) if f]
        self.frames.clear()
        if step.camera is not None:
            cy, cx, zoom = step.camera
            self.viewer.camera.update(center=(cy, cx), zoom=zoom)
        if step.plane is not None:
            self.viewer.dims.set_current_step(0, step.plane)

    def _visible(self) -> tuple[float, float, float, float]:
        (y0, x0), (y1, x1) = self.viewer.camera.view_rect(self.viewer.model.canvas_size)
        h, w = self.shape
        return max(y0 + 0.5, 0.0), min(y1 + 0.5, h), max(x0 + 0.5, 0.0), min(x1 + 0.5, w)

    def state(self, step: Step) -> tuple[bool, bool]:
        vy0, vy1, vx0, vx1 = self._visible()
        area = max(vy1 - vy0, 0.0) * max(vx1 - vx0, 0.0)
        covered = ideal = True
        for layer in self.layers:
            f = self.frames.get(layer.layer_id)
            if f is None or f.draw is None:
                return False, False
            if step.plane is not None and (not f.slice0 or f.slice0[0] != step.plane):
                return False, False
            some = final = 0.0
            for q in f.draw.quads:
                if q.page < 0:
                    continue
                a = _overlap(q.rect, (vy0, vy1, vx0, vx1))
                some += a
                if q.state == FINAL:
                    final += a
            covered &= some >= 0.999 * area
            ideal &= f.settled and not f.failed and final >= 0.999 * area
        return covered, ideal

    def view_chunks(self) -> set[tuple[int, ...]]:
        out: set[tuple[int, ...]] = set()
        for i, layer in enumerate(self.layers):
            f = self.frames.get(layer.layer_id) or self.viewer.layer_frame(layer)
            if f is None or f.draw is None:
                continue
            s = tuple(f.slice0)
            for q in f.draw.quads:
                if q.state == FINAL:
                    out.add((i, *s, *_chunk(q)))
        return out


def _chunk(q: Any) -> tuple[int, int, int]:
    span = CHUNK * 2**q.level
    return (
        q.level,
        int((q.rect[0] + q.rect[1]) / 2 // span),
        int((q.rect[2] + q.rect[3]) / 2 // span),
    )


def _overlap(r: tuple[float, ...], v: tuple[float, float, float, float]) -> float:
    dy = min(r[1], v[1]) - max(r[0], v[0])
    dx = min(r[3], v[3]) - max(r[2], v[2])
    return dy * dx if dy > 0 and dx > 0 else 0.0


def _data_shape(layer: Any) -> tuple[int, ...]:
    data = layer.data
    level0 = data[0] if isinstance(data, list | tuple) else data
    return tuple(int(n) for n in level0.shape)


def run(
    wl: Workload, quick: bool, url: str | None, stats_url: str | None, budget_s: float
) -> RunRecord:
    import dask

    from tilescope.loading.config import OctreeConfig, get_config, set_config
    from tilescope.viewer import Viewer
    from tilescope.views.app import get_app

    log = Path(tempfile.mkdtemp(prefix="tilescope-bench-")) / "loads.jsonl"
    cfg = get_config().to_dict()
    cfg["loader_defaults"]["log_path"] = str(log)
    set_config(OctreeConfig.from_dict(cfg))
    app = get_app()
    dask.config.set(scheduler="threads", num_workers=2)
    viewer = Viewer(show=True, size=(CANVAS[0], CANVAS[1]), title=f"bench {wl.key}")
    if wl.kind == "zarr":
        assert url is not None
        layers = viewer.open(url)
        for layer in layers:
            if wl.channels > 1:
                layer.blending = "additive"
    elif wl.kind == "numpy":
        layers = [viewer.add_image(numpy_stack(wl.shape), contrast_limits=(0, 65535))]
    else:
        layers = [viewer.add_image(slow_stack(wl.shape), contrast_limits=(0, 40000))]
    if len(wl.shape) == 3 and wl.channels == 1:
        viewer.dims.set_current_step(0, 0)  # viewers open a stack at its middle plane
    if wl.initial is not None:
        cy, cx, zoom = wl.initial
        viewer.camera.update(center=(cy, cx), zoom=zoom)
    engine = TilescopeEngine(viewer, layers)
    # settle the first view before measuring
    deadline = 120.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline:
        app.processEvents()
        if engine.state(Step("initial"))[1]:
            break
        time.sleep(0.005)
    workers = viewer.loader.pools[0].settings.num_workers
    record = RunRecord("tilescope", wl.key, quick)
    runner = Runner(app, engine, wl, record, concurrency=workers, stats_url=stats_url)
    engine.runner = runner
    viewer.perf.reset()
    engine.shown.clear()
    runner.run(budget_s)
    stats = viewer.perf.stats()
    record.extra["concurrency"] = workers
    record.extra["perf_max_ms"] = stats.max_ms
    record.extra["perf_p99_ms"] = stats.p99_ms
    record.extra["perf_tasks"] = stats.count
    record.extra["perf_by_task"] = {
        k: {"n": s.count, "max_ms": round(s.max_ms, 2), "p99_ms": round(s.p99_ms, 2)}
        for k, s in stats.by_name.items()
    }
    record.extra["cache_budget_mb"] = viewer.loader.cache.budget_bytes / 2**20
    viewer.close()
    record.extra.update(_waste(log, engine, layers))
    record.peak_rss_mb = peak_rss_mb()
    return record


def _waste(log: Path, engine: TilescopeEngine, layers: list[Any]) -> dict[str, Any]:
    """Loads completed (loader log) whose tile was never part of a drawn frame."""
    ids = {layer.layer_id for layer in layers}
    drawn: set[tuple[Any, ...]] = set()
    for layer_id, s, quads in engine.shown:
        for q in quads:
            drawn.add((layer_id, s, *_chunk(q)))
    loaded = 0
    never = 0
    if not log.exists():
        return {"loads_completed": None, "loads_never_drawn": None}
    with log.open() as f:
        for line in f:
            rec = json.loads(line)
            if rec["outcome"] not in ("loaded", "discarded"):
                continue
            k = rec["key"]
            if k["layer_id"] not in ids:
                continue
            loaded += 1
            if (k["layer_id"], tuple(k["slice"]), k["level"], k["row"], k["col"]) not in drawn:
                never += 1
    return {"loads_completed": loaded, "loads_never_drawn": never}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--url")
    p.add_argument("--stats-url")
    p.add_argument("--out", required=True)
    p.add_argument("--budget-s", type=float, default=600.0, help="stop the steps after this")
    a = p.parse_args()
    wl = workloads(a.quick)[a.workload]
    rec = run(wl, a.quick, a.url, a.stats_url, a.budget_s)
    write_json(a.out, rec.to_json())
    os._exit(0)  # worker threads of slow loads never hold the benchmark up


if __name__ == "__main__":
    main()
