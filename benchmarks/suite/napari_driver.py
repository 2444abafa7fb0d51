"""Run one workload through napari (its own venv; never imports tilescope); write JSON.

The same steps, heartbeat and runner as the tilescope driver (``common.py``). napari 0.9
has no tiles: after a step, the view shows new data once the layer's slice for that view has
been set (``layer.events.set_data``, with ``layer.loaded`` true: no async slice pending) and a
canvas draw that started after it has finished. That is both its time to first coverage and
its time to ideal. Every vispy draw is timed, napari's own ``on_draw`` (where it picks the
level and, without async, reads the data) included. ``NAPARI_ASYNC=1`` turns async slicing on.

    NAPARI_ASYNC=1 python napari_driver.py W1 --url URL --stats-url URL --out F [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
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

#: napari PR #9067's experimental progressive loading (its own venv; ``NAPARI_PROGRESSIVE_LOADING``)
PROGRESSIVE = os.environ.get("NAPARI_PROGRESSIVE_LOADING") == "1"


class NapariEngine:
    def __init__(self, viewer: Any, layers: list[Any]) -> None:
        self.viewer = viewer
        self.layers = layers
        self.gen = 0
        self.set_gen: dict[int, int] = {}
        self.drawn_gen: dict[int, int] = {}
        self.runner: Runner | None = None
        self.draw_ms: list[float] = []
        self.draws = 0
        self.before: list[tuple[int, bytes]] = []
        self._draw_t0 = 0.0
        self._pending: dict[int, int] = {}
        self.set_gen = dict.fromkeys(range(len(layers)), 0)  # add_image may have sliced already
        for i, layer in enumerate(layers):
            layer.events.set_data.connect(lambda _e=None, i=i: self._on_set(i))
        canvas = viewer.window._qt_viewer.canvas._scene_canvas
        canvas.events.draw.connect(self._draw_start, position="first")
        canvas.events.draw.connect(self._draw_end, position="last")

    def _on_set(self, i: int) -> None:
        self.set_gen[i] = self.gen

    def _draw_start(self, _event: Any = None) -> None:
        self._draw_t0 = time.perf_counter()
        self._pending = dict(self.set_gen)  # slices set before this draw are in it

    def _draw_end(self, _event: Any = None) -> None:
        now = time.perf_counter()
        self.draw_ms.append((now - self._draw_t0) * 1e3)
        self.drawn_gen.update(self._pending)
        self.draws += 1
        if self.runner is not None:
            self.runner.frame(now)

    def _view(self) -> list[tuple[int, bytes]]:
        return [
            (int(x.data_level) if x.multiscale else 0, x.corner_pixels.tobytes())
            for x in self.layers
        ]

    def apply(self, step: Step) -> None:
        self.gen += 1
        self.draws = 0
        self.before = self._view()
        if step.camera is not None:
            cy, cx, zoom = step.camera
            cam = self.viewer.scene.camera
            cam.center = (cy, cx) if len(cam.center) == 2 else (cam.center[0], cy, cx)
            cam.zoom = zoom
        if step.plane is not None:
            self.viewer.dims.set_current_step(0, step.plane)

    def state(self, step: Step) -> tuple[bool, bool]:
        if not all(getattr(x, "loaded", True) for x in self.layers):
            return False, False
        if (
            step.plane is None
            and self.draws > 0
            and all(self.set_gen.get(i) != self.gen for i in range(len(self.layers)))
            and self._view() == self.before
        ):  # drawn, and napari kept its level and region: nothing to load for this view
            return True, True
        for i in range(len(self.layers)):
            if self.drawn_gen.get(i, -1) != self.gen:
                return False, False
        if PROGRESSIVE:  # new data shown; ideal once every loader's fetch pass has ended
            loaders = [x.metadata.get("progressive_loader") for x in self.layers]
            return True, all(getattr(x, "_worker", None) is None for x in loaders)
        return True, True

    def view_chunks(self) -> set[tuple[int, ...]]:
        out: set[tuple[int, ...]] = set()
        for i, layer in enumerate(self.layers):
            level = int(layer.data_level) if layer.multiscale else 0
            cp = layer.corner_pixels  # (2, ndim) at data_level, inclusive-ish
            s = tuple(int(v) for v in self.viewer.dims.current_step[: layer.ndim - 2])
            for r in range(int(cp[0, -2]) // CHUNK, max(int(cp[1, -2]) - 1, 0) // CHUNK + 1):
                for c in range(int(cp[0, -1]) // CHUNK, max(int(cp[1, -1]) - 1, 0) // CHUNK + 1):
                    out.add((i, *s, level, r, c))
        return out


def _levels(url: str) -> list[Any]:
    import zarr

    group = zarr.open_group(url, mode="r")
    attrs = group.attrs.asdict()
    ms = attrs.get("ome", attrs)["multiscales"][0]
    return [group[d["path"]] for d in ms["datasets"]]


def run(
    wl: Workload,
    quick: bool,
    url: str | None,
    stats_url: str | None,
    concurrency: int,
    budget_s: float,
) -> RunRecord:
    import dask
    import napari
    from qtpy.QtWidgets import QApplication

    dask.config.set(scheduler="threads", num_workers=2)
    viewer = napari.Viewer(show=True, title=f"bench {wl.key} (napari)")
    canvas = viewer.window._qt_viewer.canvas
    canvas.native.setFixedSize(CANVAS[1], CANVAS[0])
    app = QApplication.instance()
    if wl.kind == "zarr":
        assert url is not None
        levels = _levels(url)
        if wl.channels > 1:
            layers = viewer.add_image(
                levels,
                multiscale=True,
                channel_axis=0,
                blending="additive",
                contrast_limits=[(0, 4000)] * wl.channels,
            )
        else:
            layers = [viewer.add_image(levels, multiscale=True, contrast_limits=(0, 4000))]
    elif wl.kind == "numpy":
        layers = [viewer.add_image(numpy_stack(wl.shape), contrast_limits=(0, 65535))]
    else:
        layers = [viewer.add_image(slow_stack(wl.shape), contrast_limits=(0, 40000))]
    layers = list(viewer.layers)  # progressive loading replaces the layers it streams
    if len(wl.shape) == 3 and wl.channels == 1:
        viewer.dims.set_current_step(0, 0)  # viewers open a stack at its middle plane
    if wl.initial is not None:
        cy, cx, zoom = wl.initial
        viewer.scene.camera.center = (cy, cx)
        viewer.scene.camera.zoom = zoom
    engine = NapariEngine(viewer, list(layers))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 120.0:  # let the first view load and draw
        app.processEvents()
        if engine.state(Step("initial"))[1]:
            break
        time.sleep(0.005)
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < 0.5:
        app.processEvents()
        time.sleep(0.005)
    engine.draw_ms.clear()
    name = "napari-async" if os.environ.get("NAPARI_ASYNC") == "1" else "napari"
    record = RunRecord("napari-pr9067" if PROGRESSIVE else name, wl.key, quick)
    record.extra["canvas"] = [int(v) for v in canvas.size]
    runner = Runner(app, engine, wl, record, concurrency=concurrency, stats_url=stats_url)
    engine.runner = runner
    runner.run(budget_s)
    record.draw_ms = engine.draw_ms
    record.extra["napari_version"] = napari.__version__
    record.peak_rss_mb = peak_rss_mb()  # (napari tears its window down when the app quits)
    return record


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--url")
    p.add_argument("--stats-url")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--budget-s", type=float, default=600.0, help="stop the steps after this")
    a = p.parse_args()
    wl = workloads(a.quick)[a.workload]
    rec = run(wl, a.quick, a.url, a.stats_url, a.concurrency, a.budget_s)
    write_json(a.out, rec.to_json())
    os._exit(0)


if __name__ == "__main__":
    main()
