"""Long interaction on the demo: 10,000 camera moves over the demo pyramid, headless.

The workload of issue 10's measurement: the CLI demo's layers (a 16 x 131072² procedural
pyramid computed on demand, and scikit-image's IHC image on top), a 600x800 canvas, the
camera panned and zoomed 10,000 times (one move per main-thread drain). Printed per 1,000
moves: the main thread's longest task and p99 over all tasks and for ``view_changed``, wall
time and the main thread's own CPU time (a long task with little CPU time was waiting for the
GIL or a core, not working); then the full garbage collections seen on the main thread.

Run: ``./run bench -k demo_soak`` or ``python benchmarks/bench_demo_soak.py [MOVES]``.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from typing import Any

import pytest

MOVES = 10_000


def _demo(viewer: Any) -> None:
    """The CLI demo's layers (``tilescope demo``)."""
    from tilescope.cli import load_demo

    load_demo(viewer)


def soak(moves: int = MOVES) -> list[str]:
    from tilescope.viewer import Viewer

    full_gcs: list[tuple[float, float]] = []
    started = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter(), time.thread_time()]
        elif info["generation"] == 2:
            full_gcs.append(
                ((time.perf_counter() - started[0]) * 1e3, (time.thread_time() - started[1]) * 1e3)
            )

    lines = []
    viewer = Viewer(show=False, size=(600, 800))
    try:
        _demo(viewer)
        viewer.wait_until_idle(120)
        viewer.perf.reset()
        gc.callbacks.append(on_gc)
        c0, z0 = viewer.camera.center, viewer.camera.zoom
        t0 = time.perf_counter()
        for i in range(moves):
            zoom = z0 * 2 ** (4 * (0.5 + 0.5 * math.sin(i / 300)))
            center = (c0[0] + 3000 * math.sin(i / 97), c0[1] + 3000 * math.cos(i / 131))
            viewer.camera.update(center=center, zoom=zoom)
            viewer.hop.drain()
            if i % 1000 == 999:
                s = viewer.perf.stats()
                vc, cpu = s.by_name.get("view_changed"), s.cpu_by_name.get("view_changed")
                worst = max(s.by_name, key=lambda k: s.by_name[k].max_ms)
                line = (
                    f"{i + 1:>6} moves: all tasks max {s.max_ms:6.1f} p99 {s.p99_ms:5.1f} ms "
                    f"(longest: {worst}; cpu max {s.cpu.max_ms:5.1f} p99 {s.cpu.p99_ms:4.1f})"
                )
                if vc is not None and cpu is not None:
                    line += (
                        f" | view_changed max {vc.max_ms:5.1f} p99 {vc.p99_ms:4.1f} "
                        f"(cpu max {cpu.max_ms:4.1f} p99 {cpu.p99_ms:4.1f})"
                    )
                lines.append(line)
                print(line, flush=True)
                viewer.perf.reset()
        lines.append(
            f"{moves} moves in {time.perf_counter() - t0:.1f} s; full gcs on the main thread "
            f"(wall ms, cpu ms): {[(round(w, 1), round(c, 1)) for w, c in full_gcs]}"
        )
    finally:
        if on_gc in gc.callbacks:
            gc.callbacks.remove(on_gc)
        viewer.close()
    return lines


@pytest.mark.benchmark
@pytest.mark.timeout(1800)
def test_demo_soak_benchmark() -> None:
    print()
    lines = soak()
    print(lines[-1])
    assert len(lines) == MOVES // 1000 + 1


if __name__ == "__main__":
    out = soak(int(sys.argv[1]) if len(sys.argv) > 1 else MOVES)
    print(out[-1])
