"""Scrubbing a multiscale z-stack over HTTP at 20 Hz, then resting: what the user sees.

Workload: an OME-Zarr pyramid of 64 planes of 4096² uint16 (256² chunks, levels down to
256², y/x downsampled only), written with ``tilescope.data.pyramid.write_pyramid`` (once:
kept in the system temp folder for later runs) and served by ``tilescope serve`` (a child
process, as a remote server would not share the viewer's GIL) with 50 ms per request;
opened with ``viewer.open(url)`` in a real Qt window (Xvfb under ``./run bench``) of 768²,
the whole plane in view. The slider waits at plane 10 (3 in quick mode) until the view and
its warm neighbourhood are loaded, then moves across 40 planes at 20 Hz (one step per 50
ms, driven by a Qt timer) and rests on the last one.
Printed:

- per step, the time from the step to the first frame that draws tiles *of the new plane*
  (at any level; a nearby slice standing in does not count) — target <= 50 ms once the
  neighbourhood is warm; and how many steps showed a stand-in first;
- loads completed but never drawn (the loader's log: every finished read, prefetch
  included, against every tile any frame drew) — target <= 10 % — for the loads queued
  until the resting plane reached full detail; the warm neighbourhood fetched after that
  (for the next move, not this scrub: never drawn unless the slider moves again) is
  counted apart;
- the time from the last step to full detail, against a bound (the level-0 pool's delay
  plus the ideal tiles' reads, ``ceil(tiles / workers) x 50 ms``);
- the process's RSS (start, peak, end) and the RAM cache's peak bytes against its budget;
- the main thread: tilescope's task max and p99, and a 2 ms heartbeat timer's gaps; the
  paints apart, at full resolution and as motion frames (``render.motion_scale``);
- then play (``viewer.play(0, fps=20)``, ticked by the window's play timer) for 2 s from the
  resting plane: steps taken, the rate achieved, ticks that held a late frame, steps skipped.

Run: ``./run bench -k scrub`` or ``python benchmarks/bench_scrub.py [--quick] [--json]``
(``--quick`` or ``TILESCOPE_BENCH_QUICK=1``: 16 planes of 2048², 12 steps).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from served import tilescope_serve

LATENCY_MS = 50.0
RATE_HZ = 20.0
CHUNK = 256
CANVAS = (768, 768)
START = 10
PLAY_FPS = 20.0
PLAY_S = 2.0


@dataclass(frozen=True, slots=True)
class Workload:
    planes: int
    size: int
    steps: int


FULL = Workload(64, 4096, 40)
QUICK = Workload(16, 2048, 12)


@dataclass
class Result:
    workload: dict[str, int]
    start: int
    setup_s: float
    warm_s: float
    steps: int
    first_tile_ms: list[float] = field(default_factory=list)
    never_shown: int = 0
    stand_in_first: int = 0
    completed_loads: int = 0
    never_drawn: int = 0
    prefetched: int = 0
    full_detail_ms: float = float("nan")
    full_detail_bound_ms: float = float("nan")
    ideal_tiles: int = 0
    rss_mb: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cache_peak_mb: float = 0.0
    cache_budget_mb: float = 0.0
    perf_max_ms: float = 0.0
    perf_p99_ms: float = 0.0
    heartbeat_max_gap_ms: float = 0.0
    heartbeat_p99_gap_ms: float = 0.0
    never_drawn_by: dict[str, int] = field(default_factory=dict)
    queued_after_full_detail: int = 0
    never_drawn_before_rest: int = 0
    completed_before_rest: int = 0
    play_steps: int = 0
    play_fps: float = 0.0
    play_held: int = 0
    play_skipped: int = 0
    by_task: dict[str, dict[str, float]] = field(default_factory=dict)
    #: paints by kind: "full" (full resolution) and "motion" (``render.motion_scale``)
    paints: dict[str, dict[str, float]] = field(default_factory=dict)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pattern(planes: int, size: int) -> Any:
    """A dask stack whose chunks are a cheap per-plane pattern (written once, not timed)."""
    import dask.array as da

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        yy = (np.arange(y0, y1, dtype=np.uint32)[:, None] // 32) % 64
        xx = (np.arange(x0, x1, dtype=np.uint32)[None, :] // 32) % 64
        plane = ((yy ^ xx) * 400).astype(np.uint16)
        return np.stack([plane + np.uint16(1000 * (z % 16)) for z in range(z0, z1)])

    n = size // 1024 if size >= 1024 else 1
    side = size // n
    return da.map_blocks(block, chunks=((1,) * planes, (side,) * n, (side,) * n), dtype=np.uint16)


def ensure_pyramid(w: Workload) -> tuple[Path, float]:
    """The served folder holding ``stack.ome.zarr`` (written on first use); setup seconds."""
    from tilescope.data.pyramid import write_pyramid

    root = Path(tempfile.gettempdir()) / f"tilescope-bench-scrub-{w.planes}x{w.size}"
    done = root / "done"
    if done.exists():
        return root, 0.0
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    write_pyramid(
        _pattern(w.planes, w.size),
        root / "stack.ome.zarr",
        axes="zyx",
        chunks=CHUNK,
        progress=False,
    )
    done.write_text("ok\n")
    return root, time.perf_counter() - t0


def run(w: Workload) -> Result:
    from qtpy.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer

    import tilescope
    from tilescope.loading.config import get_config, set_config
    from tilescope.render.plan import TILE_FAILED
    from tilescope.views.app import get_app

    app = get_app()
    root, setup_s = ensure_pyramid(w)
    log_dir = Path(tempfile.mkdtemp(prefix="tilescope-bench-scrub-log-"))
    log_path = log_dir / "loads.jsonl"
    previous = set_config(get_config().with_loader(log_path=str(log_path)))
    try:
        viewer = tilescope.Viewer(show=True, size=CANVAS, title="bench: scrub")
    finally:
        set_config(previous)
    try:
        with tilescope_serve(root, latency_ms=LATENCY_MS) as (url, _):
            (layer,) = viewer.open(url + "stack.ome.zarr")
            # local event loops: QApplication.quit() would close the window (Qt 6)
            result = _measure(
                viewer,
                layer,
                w,
                app,
                setup_s,
                log_path,
                TILE_FAILED,
                QTimer,
                QElapsedTimer,
                Qt,
                QEventLoop,
            )
            viewer.close()  # before the server stops: its last loads would fail to connect
            return result
    finally:
        viewer.close()
        shutil.rmtree(log_dir, ignore_errors=True)


def _measure(
    viewer: Any,
    layer: Any,
    w: Workload,
    app: Any,
    setup_s: float,
    log_path: Path,
    tile_failed: int,
    QTimer: Any,
    QElapsedTimer: Any,
    Qt: Any,
    QEventLoop: Any,
) -> Result:
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    start = min(START, w.planes - w.steps - 1)
    viewer.dims.set_current_step(0, start)
    viewer.wait_until_idle(120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the warm neighbourhood
        stats = viewer.loader.stats
        if stats.prefetch_queued == 0 and stats.prefetch_running == 0:
            break
        viewer.wait_until_idle(0.05)
        app.processEvents()
    warm_s = time.perf_counter() - t0
    app.processEvents()

    planes = [start + 1 + i for i in range(w.steps)]
    last = planes[-1]
    changed_at: dict[int, float] = {}
    first_tile: dict[int, float] = {}
    stand_in_first: set[int] = set()
    drawn: set[Any] = set()
    full: list[float] = []
    rss: list[float] = [_rss_mb()]
    cache_peak = [0]
    gaps: list[float] = []
    pending = list(planes)
    last_step_mono = [math.inf]
    full_mono = [math.inf]  # when the resting plane showed full detail (the loader's clock)
    tiles_state = viewer._tiles._layers  # benchmark only: the keys each frame drew

    def on_shown(layer_id: int, frame: Any, t: float) -> None:
        state = tiles_state.get(layer_id)
        if state is not None:
            drawn.update(state.last_draw)
        if not frame.slice0 or frame.draw is None:
            return
        plane = int(frame.slice0[0])
        if plane not in changed_at:
            return
        own = frame.stand_in is None and any(q.state != tile_failed for q in frame.draw.quads)
        if plane not in first_tile:
            if own:
                first_tile[plane] = (t - changed_at[plane]) * 1e3
            elif frame.stand_in is not None:
                stand_in_first.add(plane)
        if plane == last and not pending and frame.settled and not full:
            full.append((t - changed_at[plane]) * 1e3)
            full_mono[0] = time.monotonic()
            QTimer.singleShot(300, loop.quit)

    viewer.frame_shown.append(on_shown)
    loop = QEventLoop()

    def step() -> None:
        if not pending:
            return
        plane = pending.pop(0)
        changed_at[plane] = time.perf_counter()
        last_step_mono[0] = time.monotonic()  # the loader's clock
        viewer.dims.set_current_step(0, plane)
        if pending:
            QTimer.singleShot(int(1000 / RATE_HZ), step)

    clock = QElapsedTimer()
    clock.start()
    last_beat = [clock.nsecsElapsed()]

    def beat() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last_beat[0]) / 1e6)
        last_beat[0] = now

    def sample() -> None:
        rss.append(_rss_mb())
        cache_peak[0] = max(cache_peak[0], viewer.loader.cache.stats.bytes)

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(beat)
    sampler = QTimer()
    sampler.timeout.connect(sample)
    # each paint's kind and time (benchmark only: the vispy canvas's motion scale)
    paints: dict[str, list[float]] = {"full": [], "motion": []}
    backend = viewer.backend

    def on_frame(start: float, ms: float) -> None:
        scale = getattr(getattr(backend, "canvas", None), "motion_scale", 1.0)
        paints["full" if scale >= 1.0 else "motion"].append(ms)
        viewer._on_frame(start, ms)

    backend.on_frame(on_frame)
    viewer.perf.reset()
    log_start = log_path.stat().st_size if log_path.exists() else 0
    heartbeat.start(2)
    sampler.start(100)
    QTimer.singleShot(0, step)
    QTimer.singleShot(120_000, loop.quit)  # safety net: never hang a benchmark run
    loop.exec()
    heartbeat.stop()
    sampler.stop()
    viewer.frame_shown.remove(on_shown)  # the play phase below is measured on its own
    backend.on_frame(viewer._on_frame)
    sample()
    perf = viewer.perf.stats()
    frame = viewer.layer_frame(layer)
    config = viewer.loader.config
    pool0 = config.pools()[0]
    wanted = frame.wanted if frame is not None else 0
    bound = pool0.delay_queue_ms + math.ceil(wanted / pool0.num_workers) * LATENCY_MS

    # loads completed during the run (prefetch included) vs the tiles frames drew
    drawn_json = {json.dumps(k.to_json(), sort_keys=True) for k in drawn}
    completed = never = prefetched = 0
    completed_scrub = never_scrub = 0
    never_by: dict[str, int] = {}
    after_rest = 0
    with open(log_path) as f:
        f.seek(log_start)
        for line in f:
            rec = json.loads(line)
            if rec["outcome"] not in ("loaded", "prefetched", "discarded"):
                continue
            if rec["queued"] is not None and rec["queued"] > full_mono[0]:
                after_rest += 1  # the next move's warm neighbourhood
                continue
            completed += 1
            prefetched += rec["outcome"] == "prefetched"
            scrub = rec["finished"] is not None and rec["finished"] <= last_step_mono[0]
            completed_scrub += scrub
            if json.dumps(rec["key"], sort_keys=True) not in drawn_json:
                never += 1
                never_scrub += scrub
                kind = f"{rec['outcome']} level {rec['key']['level']}"
                never_by[kind] = never_by.get(kind, 0) + 1
    # play from the resting plane: every step shown, none skipped
    played: list[int] = []
    viewer.dims.events.current_step.connect(lambda steps: played.append(int(steps[0])))
    player = viewer.play(0, fps=PLAY_FPS)
    QTimer.singleShot(int(PLAY_S * 1000), loop.quit)
    loop.exec()
    viewer.stop()
    skipped = sum(b != (a + 1) % w.planes for a, b in itertools.pairwise(played))

    g = np.asarray(gaps[1:] or [0.0])
    return Result(
        play_steps=len(played),
        play_fps=round(len(played) / PLAY_S, 1),
        play_held=player.held,
        play_skipped=skipped,
        workload=dataclasses.asdict(w),
        start=start,
        setup_s=round(setup_s, 1),
        warm_s=round(warm_s, 2),
        steps=w.steps,
        first_tile_ms=[round(first_tile[p], 1) for p in planes if p in first_tile],
        never_shown=sum(p not in first_tile for p in planes),
        stand_in_first=len(stand_in_first),
        completed_loads=completed,
        never_drawn=never,
        prefetched=prefetched,
        full_detail_ms=round(full[0], 1) if full else float("nan"),
        full_detail_bound_ms=bound,
        ideal_tiles=wanted,
        rss_mb=(round(rss0, 1), round(max(rss), 1), round(rss[-1], 1)),
        cache_peak_mb=round(cache_peak[0] / 2**20, 1),
        cache_budget_mb=round(viewer.loader.cache.budget_bytes / 2**20, 1),
        perf_max_ms=round(perf.max_ms, 2),
        perf_p99_ms=round(perf.p99_ms, 2),
        heartbeat_max_gap_ms=round(float(g.max()), 2),
        heartbeat_p99_gap_ms=round(float(np.percentile(g, 99)), 2),
        never_drawn_by=never_by,
        queued_after_full_detail=after_rest,
        never_drawn_before_rest=never_scrub,
        completed_before_rest=completed_scrub,
        by_task={
            name: {"n": s.count, "max_ms": round(s.max_ms, 2), "p99_ms": round(s.p99_ms, 2)}
            for name, s in perf.by_name.items()
        },
        paints={
            kind: {
                "n": len(ms),
                "median_ms": round(float(np.median(ms)), 2),
                "max_ms": round(max(ms), 2),
            }
            for kind, ms in paints.items()
            if ms
        },
    )


def report(r: Result) -> str:
    w = r.workload
    lat = np.asarray(r.first_tile_ms or [np.nan])
    within = int(np.sum(lat <= 50.0))
    waste = r.never_drawn / r.completed_loads if r.completed_loads else float("nan")
    return "\n".join(
        [
            f"scrub: {w['planes']} x {w['size']}² uint16 OME-Zarr over HTTP, {CHUNK}² chunks, "
            f"{LATENCY_MS:.0f} ms per request; {r.steps} steps at {RATE_HZ:g} Hz from plane "
            f"{r.start}, then rest (setup {r.setup_s:.1f} s, warm-up {r.warm_s:.1f} s)",
            f"  step -> first drawn tile of the new plane: median {np.nanmedian(lat):.0f} ms, "
            f"p90 {np.nanpercentile(lat, 90):.0f} ms, max {np.nanmax(lat):.0f} ms; "
            f"{within}/{r.steps} within 50 ms; {r.never_shown} planes never drawn; "
            f"{r.stand_in_first} showed a nearby slice first",
            f"  loads completed but never drawn: {r.never_drawn}/{r.completed_loads} "
            f"({100 * waste:.1f} %, target <= 10 %; {r.prefetched} were prefetches); "
            f"finished by the last step: {r.never_drawn_before_rest}/{r.completed_before_rest}; "
            f"then {r.queued_after_full_detail} loads of the next move's warm neighbourhood "
            "(queued after full detail, not counted)",
            f"  last step -> full detail: {r.full_detail_ms:.0f} ms "
            f"(bound {r.full_detail_bound_ms:.0f} ms: delay + ceil({r.ideal_tiles} tiles / "
            "workers) x latency)",
            f"  RSS start/peak/end: {r.rss_mb[0]:.0f}/{r.rss_mb[1]:.0f}/{r.rss_mb[2]:.0f} MB; "
            f"RAM cache peak {r.cache_peak_mb:.0f} MB of {r.cache_budget_mb:.0f} MB",
            f"  main thread: tasks max {r.perf_max_ms:.1f} ms, p99 {r.perf_p99_ms:.1f} ms "
            f"(targets 16 / 8 ms); 2 ms heartbeat max gap {r.heartbeat_max_gap_ms:.1f} ms, "
            f"p99 {r.heartbeat_p99_gap_ms:.1f} ms",
            f"  play at {PLAY_FPS:g} fps for {PLAY_S:g} s: {r.play_steps} steps "
            f"({r.play_fps:g} fps), {r.play_held} timer ticks held a late frame, "
            f"{r.play_skipped} steps skipped",
            "  paints: "
            + ", ".join(
                f"{k} resolution n={v['n']:.0f} median {v['median_ms']} / max {v['max_ms']} ms"
                for k, v in r.paints.items()
            ),
            "  per task: "
            + ", ".join(
                f"{k} max {v['max_ms']} / p99 {v['p99_ms']} ms (n={v['n']:.0f})"
                for k, v in r.by_task.items()
            ),
        ]
    )


def _workload(argv: list[str]) -> Workload:
    quick = "--quick" in argv or os.environ.get("TILESCOPE_BENCH_QUICK", "") not in ("", "0")
    return QUICK if quick else FULL


@pytest.mark.benchmark
def test_scrub_benchmark() -> None:
    from tilescope.render.display import display_problem

    problem = display_problem()
    if problem is not None:
        pytest.skip(f"needs a display for the Qt viewer: {problem}")
    r = run(_workload([]))
    print()
    print(report(r))
    print(json.dumps(asdict(r)))


if __name__ == "__main__":
    result = run(_workload(sys.argv[1:]))
    print(report(result))
    if "--json" in sys.argv:
        print(json.dumps(asdict(result)))
