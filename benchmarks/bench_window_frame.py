"""What one frame in a window costs the main thread: native GL window vs QOpenGLWidget.

A 768² window (the main window around it: layer dock, sliders, status bar) shows a 2048²
uint16 image, loaded and at rest. Each of 60 frames is asked for with ``canvas.update()``
and the event loop runs for 50 ms with a 1 ms heartbeat timer; the frame's cost is the
longest heartbeat gap in that time (everything the main thread did for the frame: the
scene, Qt's composition if any, the swap), set beside tilescope's ``paint`` task (the
draw, plus the swap where that comes later). Run for three canvases:

- ``native window, deferred``: the default; vispy draws into a native window, which is
  swapped once a GL fence says the rasteriser has finished (``render.defer_present``);
- ``native window, at once``: the same window swapped right after the draw, waiting for
  the rasteriser (``render.defer_present = false``);
- ``QOpenGLWidget``: vispy's widget, which Qt composites with the rest of the window every
  frame (``render.native_window = false``).

An empty scene (the layer hidden) is measured too: the cost of the frame without the image.

Run: ``./run bench --legacy -k window_frame`` or ``python benchmarks/bench_window_frame.py``
(needs a display: ``xvfb-run -a`` without one).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pytest

CANVAS = (768, 768)
FRAMES = 60
WINDOW_MS = 50


@dataclass(frozen=True, slots=True)
class FrameCost:
    canvas: str
    scene: str
    frame_median_ms: float
    frame_p90_ms: float
    frame_max_ms: float
    paint_median_ms: float
    paint_max_ms: float


def _frames(viewer: Any, app: Any, scene: str, canvas: str) -> FrameCost:
    from qtpy.QtCore import QElapsedTimer, Qt, QTimer

    vispy_canvas = viewer.backend.canvas
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    gaps: list[float] = []

    def beat() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(beat)
    heartbeat.start(1)
    per_frame: list[float] = []
    paints: list[float] = []
    try:
        for _ in range(FRAMES):
            viewer.perf.reset()
            gaps.clear()
            last[0] = clock.nsecsElapsed()
            vispy_canvas.update()
            end = time.perf_counter() + WINDOW_MS / 1e3
            while time.perf_counter() < end:
                app.processEvents()
            per_frame.append(max(gaps, default=0.0))
            paint = viewer.perf.stats().by_name.get("paint")
            if paint is not None:
                paints.append(paint.max_ms)
    finally:
        heartbeat.stop()
    f = np.asarray(per_frame)
    p = np.asarray(paints or [np.nan])
    return FrameCost(
        canvas=canvas,
        scene=scene,
        frame_median_ms=round(float(np.median(f)), 2),
        frame_p90_ms=round(float(np.percentile(f, 90)), 2),
        frame_max_ms=round(float(f.max()), 2),
        paint_median_ms=round(float(np.nanmedian(p)), 2),
        paint_max_ms=round(float(np.nanmax(p)), 2),
    )


def run() -> list[FrameCost]:
    import tilescope
    from tilescope.loading.config import OctreeConfig, set_config
    from tilescope.views.app import get_app

    app = get_app()
    yy, xx = np.mgrid[0:2048, 0:2048]
    image = ((yy // 64 + xx // 64) % 2 * 30000 + xx * 10).astype(np.uint16)
    results: list[FrameCost] = []
    canvases = {
        "native, deferred": {"native_window": True, "defer_present": True},
        "native, at once": {"native_window": True, "defer_present": False},
        "QOpenGLWidget": {"native_window": False},
    }
    for canvas, render in canvases.items():
        previous = set_config(OctreeConfig.from_dict({"render": render}))
        try:
            viewer = tilescope.Viewer(show=True, size=CANVAS, title=f"bench: {canvas}")
        finally:
            set_config(previous)
        try:
            layer = viewer.add_image(image, contrast_limits=(0, 60000))
            viewer.wait_until_idle(60)
            for _ in range(40):  # the window shown and settled
                app.processEvents()
                viewer.wait_until_idle(0.01)
            results.append(_frames(viewer, app, "2048² image", canvas))
            layer.visible = False
            viewer.wait_until_idle(10)
            for _ in range(20):
                app.processEvents()
                viewer.wait_until_idle(0.01)
            results.append(_frames(viewer, app, "empty", canvas))
        finally:
            window = viewer.window
            viewer.close()
            if window is not None:
                window.deleteLater()
    return results


def report(results: list[FrameCost]) -> str:
    lines = [
        f"one frame in a {CANVAS[0]}x{CANVAS[1]} canvas at rest, main-thread time per frame "
        f"({FRAMES} frames; the longest 1 ms-heartbeat gap after each update)"
    ]
    lines.extend(
        f"  {r.canvas:>16}, {r.scene:>11}: frame median {r.frame_median_ms:.1f} ms, "
        f"p90 {r.frame_p90_ms:.1f}, max {r.frame_max_ms:.1f}; of it tilescope's paint "
        f"task median {r.paint_median_ms:.1f}, max {r.paint_max_ms:.1f}"
        for r in results
    )
    return "\n".join(lines)


@pytest.mark.benchmark
def test_window_frame_benchmark() -> None:
    from tilescope.render.display import display_problem

    problem = display_problem()
    if problem is not None:
        pytest.skip(f"needs a display for the Qt viewer: {problem}")
    results = run()
    print()
    print(report(results))


if __name__ == "__main__":
    out = run()
    print(report(out))
    if "--json" in sys.argv:
        print(json.dumps([asdict(r) for r in out]))
