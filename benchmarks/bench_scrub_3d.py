"""Scrubbing a time series of 3D volumes over HTTP at 20 Hz: with and without volume prefetch.

Workload: an OME-Zarr pyramid of 40 time points of 32 x 512² uint16 (chunks 1 x 16 x 128²,
y/x downsampled to 128²), written with ``tilescope.data.pyramid.write_pyramid`` (once: kept
in the system temp folder) and served by ``tilescope serve`` (a child process, as a remote
server would not share the viewer's GIL) with 50 ms per request; opened with
``viewer.open(url)`` in a headless 3D viewer, which shows the coarsest level in full (32 x
128², 2 chunks per time point). The slider waits at t = 4 until the volume and its
prefetched neighbourhood are in, then moves across 30 time points at 20 Hz (one step per 50
ms, from the script's loop) and rests. Run twice: prefetch on (the default config), and
``prefetch.enabled = false`` (every step reads its volume, as napari does).

Printed per run:

- per step, the time from the step to its volume applied to the renderer (the slice result
  handed over for drawing; headless, so the paint is not included) — and how many steps
  were shown within 50 ms, before the next step;
- steps shown from the prefetch cache at once, steps that waited for a running prefetch, and
  visible reads;
- prefetched volumes never shown (waste; the warm neighbourhood around the resting slice is
  counted apart: it is for the next move);
- after the last step: the time until it is shown;
- RSS and the RAM cache's peak against its budget; main-thread task max and p99;
- then play (``viewer.play(0, fps=20)``, ticked by the script's loop) for 2 s from the resting
  slice: steps taken, ticks that held a volume not yet shown, steps skipped.

Run: ``./run bench --legacy -k scrub_3d`` or ``python benchmarks/bench_scrub_3d.py [--quick]``
(``--quick``: 16 time points, 10 steps).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from served import tilescope_serve

LATENCY_MS = 50.0
RATE_HZ = 20.0
START = 4
PLAY_FPS = 20.0
PLAY_S = 2.0
SHAPE = (32, 512, 512)  # z, y, x of one time point
CHUNKS = (1, 16, 128, 128)


@dataclass(frozen=True, slots=True)
class Result:
    prefetch: bool
    steps: int
    shown_ms: list[float]
    within_50ms: int
    from_cache: int
    adopted: int
    visible_reads: int
    prefetched: int
    prefetched_never_shown: int
    prefetched_around_rest: int
    rest_ms: float
    rss_mb: tuple[float, float]
    cache_peak_mb: float
    cache_budget_mb: float
    perf_max_ms: float
    perf_p99_ms: float
    play_steps: int
    play_held: int
    play_skipped: int


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_series(times: int) -> Path:
    """The served folder holding ``series.ome.zarr`` (written on first use)."""
    import dask.array as da

    from tilescope.data.pyramid import write_pyramid

    root = Path(tempfile.gettempdir()) / f"tilescope-bench-scrub3d-{times}"
    if (root / "done").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (t0, t1), (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        z = np.arange(z0, z1, dtype=np.uint32)[:, None, None]
        y = np.arange(y0, y1, dtype=np.uint32)[None, :, None]
        x = np.arange(x0, x1, dtype=np.uint32)[None, None, :]
        vol = (((y // 32) ^ (x // 32) ^ z) % 64 * 400).astype(np.uint16)
        return np.stack([vol + np.uint16(1000 * (t % 16)) for t in range(t0, t1)])

    series = da.map_blocks(
        block, chunks=((1,) * times, (SHAPE[0],), (SHAPE[1],), (SHAPE[2],)), dtype=np.uint16
    )
    write_pyramid(
        series, root / "series.ome.zarr", axes="tzyx", chunks=CHUNKS, levels=3, progress=False
    )
    (root / "done").write_text("ok\n")
    return root


def run(times: int, steps: int, prefetch: bool) -> Result:
    import tilescope
    from tilescope.loading.config import get_config, set_config
    from tilescope.slicing.prefetch import VolumeKey
    from tilescope.slicing.requests import request_signature

    root = ensure_series(times)
    config = get_config()
    if not prefetch:
        config = dataclasses.replace(
            config, prefetch=dataclasses.replace(config.prefetch, enabled=False)
        )
    previous = set_config(config)
    try:
        viewer = tilescope.Viewer(show=False, size=(256, 256), ndisplay=3)
    finally:
        set_config(previous)
    try:
        with tilescope_serve(root, latency_ms=LATENCY_MS) as (url, _):
            (layer,) = viewer.open(url + "series.ome.zarr")
            volumes = viewer.volume_prefetch
            fetched: list[Any] = []
            done = volumes._done  # benchmark only: which volumes the prefetch brought in

            def counting_done(key: Any, flight: Any, response: Any) -> None:
                fetched.append(key)
                done(key, flight, response)

            volumes._done = counting_done  # type: ignore[method-assign]
            viewer.dims.set_current_step(0, START)
            viewer.wait_until_idle(60)
            volumes.slicer.wait_until_idle(60)
            viewer.wait_until_idle(60)

            shown: set[Any] = set()  # the keys of the volumes shown
            ready_at: dict[int, float] = {}
            changed_at: dict[int, float] = {}
            applied = viewer._on_slice_done  # benchmark only: each slice handed to the renderer

            def on_slice_done(lay: Any, response: Any) -> None:
                applied(lay, response)
                if lay is layer:
                    t = int(response.request.windows[0][0])
                    ready_at.setdefault(t, time.perf_counter())
                    shown.add(VolumeKey(layer.layer_id, request_signature(response.request)))

            viewer._on_slice_done = on_slice_done  # type: ignore[method-assign]
            viewer.perf.reset()
            rss0 = _rss_mb()
            cache_peak = 0
            hits0, adopted0 = volumes.hits, volumes.adopted
            submitted0 = viewer.slicer.stats.submitted
            n_fetched0 = len(fetched)
            planes = [START + 1 + i for i in range(steps)]
            t_start = time.perf_counter()
            for i, t in enumerate(planes):
                changed_at[t] = time.perf_counter()
                viewer.dims.set_current_step(0, t)
                due = t_start + (i + 1) / RATE_HZ
                while (left := due - time.perf_counter()) > 0:
                    viewer.hop.wait_posted(left)
                    viewer.hop.drain()
                cache_peak = max(cache_peak, viewer.loader.cache.stats.bytes)
            last = planes[-1]
            viewer.wait_until_idle(60)
            fetched_before_rest = len(fetched)
            volumes.slicer.wait_until_idle(60)
            perf = viewer.perf.stats()
            lat = [(ready_at[t] - changed_at[t]) * 1e3 if t in ready_at else np.nan for t in planes]
            run_fetched = fetched[n_fetched0:fetched_before_rest]
            scrub = {
                "shown_ms": [round(float(v), 1) for v in lat],
                "within_50ms": sum(1 for v in lat if v <= 50.0),
                "from_cache": volumes.hits - hits0,
                "adopted": volumes.adopted - adopted0,
                "visible_reads": viewer.slicer.stats.submitted - submitted0,
                "prefetched": len(run_fetched),
                "prefetched_never_shown": sum(1 for k in run_fetched if k not in shown),
                "prefetched_around_rest": len(fetched) - fetched_before_rest,
                "rest_ms": (ready_at[last] - changed_at[last]) * 1e3
                if last in ready_at
                else np.nan,
                "rss_mb": (rss0, _rss_mb()),
            }
            # play from the resting slice (headless: the script's loop ticks the player)
            played: list[int] = []
            viewer.dims.events.current_step.connect(lambda s: played.append(int(s[0])))
            player = viewer.play(0, fps=PLAY_FPS)
            end = time.perf_counter() + PLAY_S
            while (left := end - time.perf_counter()) > 0:
                viewer.hop.wait_posted(min(left, 0.002))
                viewer.hop.drain()
                player.tick()
            viewer.stop()
            return Result(
                prefetch=prefetch,
                steps=steps,
                **scrub,
                cache_peak_mb=cache_peak / 2**20,
                cache_budget_mb=viewer.loader.cache.budget_bytes / 2**20,
                perf_max_ms=perf.max_ms,
                perf_p99_ms=perf.p99_ms,
                play_steps=len(played),
                play_held=player.held,
                play_skipped=sum(b != (a + 1) % times for a, b in itertools.pairwise(played)),
            )
    finally:
        viewer.close()


def report(r: Result) -> str:
    lat = np.asarray(r.shown_ms)
    return "\n".join(
        [
            f"3D scrub, prefetch {'on' if r.prefetch else 'off'}: {r.steps} steps at "
            f"{RATE_HZ:g} Hz over {SHAPE[0]} x {SHAPE[1] // 4}² volumes (the coarsest level, "
            f"2 chunks each) at {LATENCY_MS:.0f} ms per request",
            f"  step -> volume applied: median {np.nanmedian(lat):.1f} ms, "
            f"p90 {np.nanpercentile(lat, 90):.1f} ms, max {np.nanmax(lat):.1f} ms; "
            f"{r.within_50ms}/{r.steps} within 50 ms; "
            f"{int(np.isnan(lat).sum())} steps never shown (passed before their volume came)",
            f"  shown from the prefetch cache {r.from_cache}, waited for a running prefetch "
            f"{r.adopted}, visible reads {r.visible_reads}",
            f"  prefetched {r.prefetched} volumes during the scrub, {r.prefetched_never_shown} "
            f"never shown; then {r.prefetched_around_rest} around the resting slice (for the "
            "next move, not counted)",
            f"  last step -> shown: {r.rest_ms:.1f} ms; RSS {r.rss_mb[0]:.0f} -> "
            f"{r.rss_mb[1]:.0f} MB; RAM cache peak {r.cache_peak_mb:.1f} MB of "
            f"{r.cache_budget_mb:.0f} MB; main thread max {r.perf_max_ms:.1f} ms, "
            f"p99 {r.perf_p99_ms:.1f} ms",
            f"  play at {PLAY_FPS:g} fps for {PLAY_S:g} s: {r.play_steps} steps "
            f"({r.play_steps / PLAY_S:g} fps), {r.play_held} ticks held a late volume, "
            f"{r.play_skipped} steps skipped",
        ]
    )


def _sizes(argv: list[str]) -> tuple[int, int]:
    quick = "--quick" in argv or os.environ.get("TILESCOPE_BENCH_QUICK", "") not in ("", "0")
    return (16, 10) if quick else (40, 30)


@pytest.mark.benchmark
def test_scrub_3d_benchmark() -> None:
    times, steps = _sizes([])
    for prefetch in (True, False):
        r = run(times, steps, prefetch)
        print()
        print(report(r))
        print(json.dumps(asdict(r)))


if __name__ == "__main__":
    n, k = _sizes(sys.argv[1:])
    for on in (True, False):
        print(report(run(n, k, on)))
