"""What both drivers share: workload scripts, the 2 ms heartbeat, the step runner, RSS.

This module imports only the standard library, numpy, dask and qtpy, never tilescope or
napari: the napari driver runs in its own virtual environment and imports it by path.

A *step* is one user action (a camera move or a slice change). The runner applies each step
from a Qt timer inside the event loop and watches every drawn frame through the engine's
``state()``: the first frame after the step whose view is wholly covered by some level gives
the time to first coverage (TTFC), the first frame whose every visible tile is at the ideal
level gives the time to ideal (TTI). ``settle`` steps wait for ideal (or a timeout) before the
next; burst steps follow at a fixed rate whatever was drawn, then the view rests until ideal.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

LATENCY_MS = 50.0
CHUNK = 256
CANVAS = (768, 1024)  # (height, width) of the viewer's canvas
SETTLE_TIMEOUT_S = 30.0


# -- workloads --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """One user action: ``camera`` = (center_y, center_x, zoom) or ``plane`` for axis 0."""

    name: str
    camera: tuple[float, float, float] | None = None
    plane: int | None = None
    settle: bool = True
    interval_ms: float = 100.0  # burst steps: time to the next step


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload as both drivers see it (sizes already shrunk in quick mode)."""

    key: str
    title: str
    kind: str  # "zarr" (served OME-Zarr), "numpy" (in RAM), "dask" (computed)
    shape: tuple[int, ...]
    channels: int = 1
    initial: tuple[float, float, float] | None = None  # initial camera (cy, cx, zoom)
    steps: tuple[Step, ...] = ()
    latency_ms: float = LATENCY_MS


def _pan_zoom_script(size: int, bursts: int, quick: bool) -> tuple[Step, ...]:
    """Settled zooms, cold pans (each exposing a view of new chunks) and zoom-outs on a
    size² image, then ``bursts`` moves at 10 Hz to places not seen yet, then rest.

    Zooms avoid powers of two (level boundaries): 1.2 is level 0, 0.3 about level 2.
    """
    s = float(size)
    z0 = CANVAS[1] / size  # whole image in view
    fine, mid = 1.2, 0.3
    vw, vh = CANVAS[1] / fine, CANVAS[0] / fine  # data pixels in a view at ``fine``
    q = s / 4
    steps = [
        Step("zoom in x~5", (s / 2, s / 2, mid)),
        Step("zoom in x4 (cold)", (q, q, fine)),
        Step("cold pan 1 view", (q, q + vw, fine)),
        Step("cold pan 1 view", (q, q + 2 * vw, fine)),
        Step("cold pan 1/2 view", (q + vh / 2, q + 2 * vw, fine)),
        Step("pan back (warm)", (q, q, fine)),
        Step("zoom out x4", (q, q, mid)),
        Step("zoom out (whole)", (s / 2, s / 2, z0)),
    ]
    if not quick:
        steps.append(Step("zoom in far (cold)", (3 * q, 3 * q, fine)))
    # the burst: pans and zooms at 10 Hz through places not seen yet, then rest
    rng = np.random.default_rng(12)
    cy, cx, zz = 3 * q, q, fine
    for i in range(bursts):
        if i % 5 == 4:
            zz = mid if zz == fine else fine
        else:
            cy += float(rng.uniform(-0.3, 0.3)) * CANVAS[0] / zz
            cx += float(rng.uniform(0.2, 0.5)) * CANVAS[1] / zz
        cy = min(max(cy, 0.0), s)
        cx = min(max(cx, 0.0), s)
        steps.append(Step(f"burst {i + 1}", (cy, cx, zz), settle=False, interval_ms=100.0))
    return tuple(steps)


def workloads(quick: bool) -> dict[str, Workload]:
    """W1-W5 (issue 12); quick mode shrinks every size and step count."""
    w1 = 4096 if quick else 16384
    w2_planes, w2 = (16, 2048) if quick else (64, 4096)
    w3 = 4096 if quick else 16384
    w4 = 2048 if quick else 4096
    w5_planes = 8
    w2_steps = [Step("plane 1", plane=1), Step("plane 2", plane=2)]
    scrub_n = 10 if quick else 40
    w2_steps += [
        Step(f"scrub {i + 1}", plane=(3 + i) % w2_planes, settle=False, interval_ms=50.0)
        for i in range(scrub_n)
    ]
    w3_steps = [Step(f"plane {p}", plane=p) for p in (1, 2, 0, 1, 2, 0)[: 3 if quick else 6]]
    w5_n = 6 if quick else 20
    w5_steps = [Step("plane 1", plane=1), Step("plane 2", plane=2)]
    w5_steps += [
        Step(f"burst {i + 1}", plane=(3 + i) % w5_planes, settle=False, interval_ms=100.0)
        for i in range(w5_n)
    ]
    return {
        "W1": Workload(
            "W1",
            f"pan/zoom: {w1}² uint16 pyramid over HTTP, 50 ms/request",
            "zarr",
            (w1, w1),
            initial=(w1 / 2, w1 / 2, CANVAS[1] / w1),
            steps=_pan_zoom_script(w1, 10 if quick else 30, quick),
        ),
        "W2": Workload(
            "W2",
            f"slice scrubbing: {w2_planes} x {w2}² multiscale planes over HTTP, "
            f"{scrub_n} planes at 20 Hz",
            "zarr",
            (w2_planes, w2, w2),
            initial=(w2 / 2, w2 / 2, CANVAS[1] / w2),
            steps=tuple(w2_steps),
        ),
        "W3": Workload(
            "W3",
            f"huge in-RAM array: 3 x {w3}² uint16 numpy, slice changes",
            "numpy",
            (3, w3, w3),
            initial=(w3 / 2, w3 / 2, CANVAS[1] / w3),
            steps=tuple(w3_steps),
            latency_ms=0.0,
        ),
        "W4": Workload(
            "W4",
            f"many channels: 8 x {w4}² multiscale channels, additive, pan/zoom over HTTP",
            "zarr",
            (8, w4, w4),
            channels=8,
            initial=(w4 / 2, w4 / 2, CANVAS[1] / w4),
            steps=_pan_zoom_script(w4, 5 if quick else 10, quick),
        ),
        "W5": Workload(
            "W5",
            f"slow computed data: dask stack {w5_planes} x 2048², 50 ms per 256² chunk, "
            f"{w5_n} changes at 10 Hz",
            "dask",
            (w5_planes, 2048, 2048),
            initial=(1024.0, 1024.0, CANVAS[1] / 2048),
            steps=tuple(w5_steps),
        ),
    }


def slow_stack(shape: tuple[int, ...], latency_s: float = LATENCY_MS / 1e3) -> Any:
    """The W5 dask stack: every 256² chunk sleeps ``latency_s``, then returns its pattern."""
    import dask.array as da

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        time.sleep(latency_s)
        assert block_info is not None
        z, y, x = block_info[None]["chunk-location"]
        out = np.empty((1, CHUNK, CHUNK), dtype=np.uint16)
        out[:] = 4000 * (z + 1) + 100 * ((y + x) % 2)
        return out

    planes, h, w = shape
    return da.map_blocks(
        block,
        chunks=((1,) * planes, (CHUNK,) * (h // CHUNK), (CHUNK,) * (w // CHUNK)),
        dtype=np.uint16,
    )


def numpy_stack(shape: tuple[int, ...]) -> np.ndarray:
    """The W3 array: planes whose rows differ (cheap to make, not constant)."""
    rng = np.random.default_rng(0)
    out = np.empty(shape, dtype=np.uint16)
    for z in range(shape[0]):
        out[z] = rng.integers(0, 60000, (1, shape[-1]), dtype=np.uint16)
    return out


# -- measurement ------------------------------------------------------------------------------
class Engine(Protocol):
    """What the runner needs of a viewer (tilescope or napari)."""

    def apply(self, step: Step) -> None: ...

    def state(self, step: Step) -> tuple[bool, bool]:
        """(view wholly covered by some level, every visible tile at the ideal level)."""
        ...

    def view_chunks(self) -> set[tuple[int, ...]]:
        """Ideal-level chunks of the current view, as (channel, level, row, col)."""
        ...


@dataclass
class StepRecord:
    name: str
    settle: bool
    ttfc_ms: float = math.nan
    tti_ms: float = math.nan
    exposed: int = 0
    view_chunks: int = 0
    requests: int = 0
    bytes: int = 0
    bound_ms: float = math.nan


@dataclass
class RunRecord:
    engine: str
    workload: str
    quick: bool
    steps: list[StepRecord] = field(default_factory=list)
    heartbeat_gaps_ms: list[float] = field(default_factory=list)
    draw_ms: list[float] = field(default_factory=list)
    rest_tti_ms: float = math.nan  # last step -> ideal (bursts: the final rest)
    total_requests: int = 0
    total_bytes: int = 0
    peak_rss_mb: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        g = np.asarray(self.heartbeat_gaps_ms or [0.0])
        d["heartbeat_max_ms"] = float(g.max())
        d["heartbeat_p99_ms"] = float(np.percentile(g, 99))
        d["heartbeat_gaps_ms"] = [round(v, 2) for v in self.heartbeat_gaps_ms if v > 4.0]
        d["heartbeat_n"] = len(self.heartbeat_gaps_ms)
        if self.draw_ms:
            d["draw_max_ms"] = float(max(self.draw_ms))
            d["draw_p99_ms"] = float(np.percentile(self.draw_ms, 99))
        d["draw_ms"] = [round(v, 2) for v in self.draw_ms]
        return _clean(d)


def _clean(x: Any) -> Any:
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def server_stats(stats_url: str | None) -> tuple[int, int]:
    """(requests, bytes) served so far by the benchmark's data server (0, 0 without one)."""
    if not stats_url:
        return 0, 0
    with urllib.request.urlopen(stats_url, timeout=5) as r:
        s = json.loads(r.read())
    return int(s["requests"]), int(s["bytes_sent"])


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan


class Runner:
    """Drive a workload's steps in the Qt event loop and time what reaches the screen."""

    def __init__(
        self,
        app: Any,
        engine: Engine,
        workload: Workload,
        record: RunRecord,
        *,
        concurrency: int,
        stats_url: str | None,
    ) -> None:
        from qtpy.QtCore import QElapsedTimer, Qt, QTimer

        self.app = app
        self.engine = engine
        self.workload = workload
        self.record = record
        self.concurrency = concurrency
        self.stats_url = stats_url
        self._QTimer = QTimer
        self._clock = QElapsedTimer()
        self._heartbeat = QTimer()
        self._heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self._heartbeat.timeout.connect(self._beat)
        self._last_beat = 0
        self._i = -1
        self._t0 = 0.0
        self._current: StepRecord | None = None
        self._stats0 = (0, 0)
        self._seen: set[tuple[int, ...]] = set()
        self._resting = False
        self._rest_t0 = 0.0
        self._done = False
        self._timeouts = 0

    # heartbeat: the largest gap between 2 ms ticks bounds any main-thread stall
    def _beat(self) -> None:
        now = self._clock.nsecsElapsed()
        self.record.heartbeat_gaps_ms.append((now - self._last_beat) / 1e6)
        self._last_beat = now

    def run(self, timeout_s: float = 600.0) -> RunRecord:
        """Run every step (at most ``timeout_s``: then ``extra["cut_short"]``)."""
        self._seen = set(self.engine.view_chunks())
        r0 = server_stats(self.stats_url)
        self._clock.start()
        self._last_beat = self._clock.nsecsElapsed()
        self._heartbeat.start(2)
        self._QTimer.singleShot(0, self._next)
        self._QTimer.singleShot(int(timeout_s * 1e3), self._cut_short)
        self.app.exec()
        self._heartbeat.stop()
        if self.record.heartbeat_gaps_ms:
            self.record.heartbeat_gaps_ms.pop(0)
        r1 = server_stats(self.stats_url)
        self.record.total_requests = r1[0] - r0[0]
        self.record.total_bytes = r1[1] - r0[1]
        self.record.extra["settle_timeouts"] = self._timeouts
        return self.record

    def _next(self) -> None:
        if self._done:
            return
        self._i += 1
        steps = self.workload.steps
        if self._i >= len(steps):
            if steps and steps[-1].settle:  # nothing left to rest from
                self.record.rest_tti_ms = self.record.steps[-1].tti_ms
                self._finish()
                return
            self._resting = True
            self._rest_t0 = self._t0
            self._QTimer.singleShot(int(SETTLE_TIMEOUT_S * 1e3), self._rest_timeout)
            self.frame()  # maybe already ideal
            return
        step = steps[self._i]
        self._current = StepRecord(step.name, step.settle)
        self.record.steps.append(self._current)
        if step.settle:
            self._stats0 = server_stats(self.stats_url)
        self._t0 = time.perf_counter()
        self.engine.apply(step)
        if step.settle:
            i = self._i
            self._QTimer.singleShot(int(SETTLE_TIMEOUT_S * 1e3), lambda: self._settle_timeout(i))
        else:
            self._QTimer.singleShot(int(step.interval_ms), self._next)

    def frame(self, now: float | None = None) -> None:
        """Call after every drawn frame (main thread)."""
        if self._done or self._i < 0:
            return
        now = time.perf_counter() if now is None else now
        steps = self.workload.steps
        step = steps[min(self._i, len(steps) - 1)]
        cur = self._current
        if cur is None:
            return
        covered, ideal = self.engine.state(step)
        if covered and math.isnan(cur.ttfc_ms):
            cur.ttfc_ms = (now - self._t0) * 1e3
        if not ideal:
            return
        first = math.isnan(cur.tti_ms)
        if first:
            cur.tti_ms = (now - self._t0) * 1e3
            if math.isnan(cur.ttfc_ms):
                cur.ttfc_ms = cur.tti_ms
        if self._resting:
            self.record.rest_tti_ms = (now - self._rest_t0) * 1e3
            self._finish()
        elif first and step.settle and self._i < len(steps) and steps[self._i] is step:
            self._complete_settled(cur)
            self._QTimer.singleShot(50, self._next)

    def _complete_settled(self, cur: StepRecord) -> None:
        chunks = set(self.engine.view_chunks())
        exposed = chunks - self._seen
        self._seen |= chunks
        r = server_stats(self.stats_url)
        cur.view_chunks = len(chunks)
        cur.exposed = len(exposed)
        cur.requests = r[0] - self._stats0[0]
        cur.bytes = r[1] - self._stats0[1]
        lat = self.workload.latency_ms
        cur.bound_ms = math.ceil(len(exposed) / self.concurrency) * lat if lat else math.nan

    def _settle_timeout(self, i: int) -> None:
        if self._i == i and not self._done and math.isnan(self.record.steps[-1].tti_ms):
            self._timeouts += 1
            self._complete_settled(self.record.steps[-1])
            self._next()

    def _rest_timeout(self) -> None:
        if not self._done:
            self._timeouts += 1
            self._finish()

    def _cut_short(self) -> None:
        if not self._done:
            self.record.extra["cut_short"] = True  # the time budget ran out before the end
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._QTimer.singleShot(200, self.app.quit)


def chunk_of(level: int, y: float, x: float, chunk: int = CHUNK) -> tuple[int, int, int]:
    """(level, row, col) of the level-``level`` chunk holding level-0 point (y, x)."""
    span = chunk * 2**level
    return level, int(y // span), int(x // span)


def write_json(path: str, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(_clean(obj), f, indent=1)


Callback = Callable[[], None]
