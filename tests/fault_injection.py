"""Fault injection for soaks: a faulty local HTTP server and faulty in-memory sources.

Shared by the slow soak test (``tests/test_soak.py``) and the benchmark
(``benchmarks/bench_soak.py``). Self-contained on purpose: when ``tilescope serve``
(``src/tilescope/data/serve.py``) lands, :class:`FaultyHTTPServer` can become a fault layer
over it.

- :class:`FaultyHTTPServer` serves a directory (a zarr v3 store written by zarr-python at
  test time) over real HTTP, in a child process (:class:`RemoteFaultServer`, so its threads
  do not share the viewer's GIL); each chunk request draws a fault from a seeded plan: an HTTP 500,
  a hang (until :meth:`FaultyHTTPServer.release` or the client gives up), a truncated body, a
  corrupt body (right length, random bytes: the zstd codec refuses it), or a slow response.
  Metadata (``zarr.json``) is never faulted, so the store always opens.
- :class:`FaultySource` is an in-memory (z, y, x) array whose reads raise, hang (gated,
  released at the end), or return the wrong shape or dtype, by a seeded plan.

Both stop injecting when ``faults_on`` is cleared; everything they hold is released by
``release()``. Deterministic given the seed and the order of requests (thread scheduling may
reorder requests, which changes which read gets which fault, never the kinds or the rates).
"""

from __future__ import annotations

import contextlib
import gc
import http.server
import json
import os
import random
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FaultPlan",
    "FaultyHTTPServer",
    "FaultySource",
    "RemoteFaultServer",
    "SoakResult",
    "rss_bytes",
    "run_soak",
    "write_zarr_pyramid",
]

HANG_LIMIT_S = 30.0  # a hung response never outlives this, whatever happens
CONTROL = "__faults__/"  # path prefix of the remote-control requests


@dataclass
class FaultPlan:
    """Seeded fault draws: ``rates`` maps a fault kind to its probability per request."""

    rates: dict[str, float]
    seed: int = 0
    faults_on: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.faults_on.set()

    def set_rates(self, rates: dict[str, float]) -> None:
        """Change the fault rates from now on (thread-safe)."""
        with self._lock:
            self.rates = dict(rates)

    def count(self, event: str) -> None:
        """Count an event that is not a fault (``connections``: TCP connections accepted)."""
        with self._lock:
            self.counts[event] += 1

    def draw(self) -> str:
        """The fault for the next request (``"ok"`` when none or faults are off)."""
        with self._lock:
            kind = "ok"
            if self.faults_on.is_set():
                r, acc = self._rng.random(), 0.0
                for name, rate in self.rates.items():
                    acc += rate
                    if r < acc:
                        kind = name
                        break
            self.counts[kind] += 1
            return kind


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    # keep-alive, as real stores (S3, nginx, tilescope serve) do: HTTP/1.0 would close every
    # connection and make the client's event loop open one per chunk
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.plan.count("connections")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _file(self, rel: str) -> Path | None:
        """The served file at ``rel`` (None, after a 404, when it is not one under root)."""
        root = self.server.root
        path = (root / rel).resolve()
        if (root not in path.parents and path != root) or not path.is_file():
            self.send_error(404)
            return None
        return path

    def do_GET(self) -> None:
        rel = self.path.split("?", 1)[0].lstrip("/")
        if rel.startswith(CONTROL):
            self._control(rel[len(CONTROL) :])
            return
        path = self._file(rel)
        if path is None:
            return
        body = path.read_bytes()
        kind = "ok" if path.name == "zarr.json" else self.server.plan.draw()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._respond(kind, body)  # the client may give up (its timeout) under faults

    def _control(self, command: str) -> None:
        """The test's remote control (server in another process): faults off, release, counts."""
        if command == "faults-off":
            self.server.plan.faults_on.clear()
        elif command == "release":
            self.server.released.set()
        body = json.dumps(dict(self.server.plan.counts)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        path = self._file(self.path.split("?", 1)[0].lstrip("/"))
        if path is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()

    def _respond(self, kind: str, body: bytes) -> None:
        if kind == "error":
            self.send_error(500, "injected server error")
            return
        if kind == "hang":
            self.server.released.wait(HANG_LIMIT_S)
            kind = "ok"
        if kind == "slow":
            time.sleep(self.server.slow_s)
        if kind == "corrupt":
            body = random.Random(len(body)).randbytes(len(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "truncated":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # zarr fetches a view's chunks at once; the default backlog of 5 drops SYNs, and each
    # dropped one costs the client a 1 s retransmit (a stall that is the server's, not ours)
    request_queue_size = 256
    root: Path
    plan: FaultPlan
    released: threading.Event
    slow_s: float


class FaultyHTTPServer:
    """A real HTTP server on 127.0.0.1 serving ``root`` with faults drawn from ``plan``."""

    def __init__(self, root: Path, plan: FaultPlan, *, slow_s: float = 0.05) -> None:
        self.plan = plan
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.root = root.resolve()
        self._server.plan = plan
        self._server.released = threading.Event()
        self._server.slow_s = slow_s
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def release(self) -> None:
        """Answer every hung request now (and any later one at once)."""
        self._server.released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FaultyHTTPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteFaultServer:
    """:class:`FaultyHTTPServer` in a child process, so that its threads do not compete with
    the viewer's main thread for this process's GIL (a real server would not either)."""

    def __init__(self, root: Path, rates: dict[str, float], seed: int) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                str(root),
                json.dumps(rates),
                str(seed),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()  # the child prints its URL when serving
        if not line.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"fault server did not start: {line!r}")
        self.url = line

    def _command(self, command: str) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/{CONTROL}{command}", timeout=10) as r:
            counts: dict[str, int] = json.loads(r.read())
        return counts

    def faults_off(self) -> None:
        self._command("faults-off")

    def release(self) -> None:
        self._command("release")

    def counts(self) -> dict[str, int]:
        return self._command("counts")

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the child exits when its stdin closes
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> RemoteFaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FaultySource:
    """A float32 array (``(z, y, x)``, or any shape: its value is the index along the first
    axis over ``shape[0] - 1``) whose reads fail by ``plan`` (``raise``, ``hang``, ``shape``,
    ``dtype``); a hung read waits for :meth:`release`."""

    def __init__(self, shape: tuple[int, ...], plan: FaultPlan) -> None:
        z = np.arange(shape[0], dtype=np.float32).reshape((-1,) + (1,) * (len(shape) - 1))
        self._data = np.broadcast_to(z / max(1, shape[0] - 1), shape)
        self.plan = plan
        self.released = threading.Event()

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: np.dtype(np.float32))
    ndim = property(lambda self: self._data.ndim)

    def __getitem__(self, key: Any) -> Any:
        kind = self.plan.draw()
        if kind == "raise":
            raise OSError("injected read failure")
        if kind == "hang":
            self.released.wait(HANG_LIMIT_S)
        out = np.asarray(self._data[key])
        if kind == "shape":
            return out[..., :-1]
        if kind == "dtype":
            return out.astype(object)
        return out

    def release(self) -> None:
        self.released.set()


def write_zarr_pyramid(
    root: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int]
) -> list[str]:
    """Write a 3-level (z, y, x) uint16 pyramid with zarr-python (zstd chunks) under
    ``root``; returns the level paths relative to ``root``."""
    import zarr

    z, y, x = shape
    yy, xx = np.mgrid[0:y, 0:x]
    names = []
    for level in range(3):
        f = 2**level
        name = f"pyramid.zarr/{level}"
        arr = zarr.create_array(
            store=str(root / name),
            shape=(z, y // f, x // f),
            chunks=chunks,
            dtype="uint16",
            overwrite=True,
        )
        for k in range(z):
            plane = ((yy[::f, ::f] + xx[::f, ::f]) * 37 + k * 1000) % 60000
            arr[k] = plane.astype(np.uint16)
        names.append(name)
    return names


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc``)."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


#: Fault rates per chunk request of the HTTP layer, and per read of each in-memory source.
#: How long the viewer may take to be all ready once faults stop (the tile back-off is <= 60 s).
RECOVERY_LIMIT_S = 90.0
FRESH = " (last pause)"  # name suffix of the layers added for the last, all-failing pause
HTTP_FAULTS = {"error": 0.04, "hang": 0.005, "truncated": 0.03, "corrupt": 0.03, "slow": 0.1}
SOURCE_FAULTS = {
    "raises": {"raise": 0.3},
    "hangs": {"hang": 0.3},
    "wrong-shape": {"shape": 0.3},
    "wrong-dtype": {"dtype": 0.3},
}


@dataclass
class SoakResult:
    """What a soak saw; ``problems()`` lists every violated expectation."""

    moves: int
    slice_changes: int
    wall_s: float
    close_s: float
    max_ms: float
    p99_ms: float
    cpu_max_ms: float
    cpu_p99_ms: float
    task_max_ms: dict[str, float]
    task_p99_ms: dict[str, float]
    task_cpu_max_ms: dict[str, float]
    task_cpu_p99_ms: dict[str, float]
    final_status: dict[str, str]
    errors_shown: dict[str, int]
    failed_reads: int
    timed_out: int
    http_faults: dict[str, int]
    source_faults: dict[str, dict[str, int]]
    rss_start_mb: float
    rss_end_mb: float
    rss_budget_mb: float
    recovery_s: float
    #: Full garbage collections the viewer ran once the user rested (idle tasks), longest.
    rest_collections: int = 0
    rest_collection_max_ms: float = 0.0
    #: Full collections CPython ran itself (any thread, during the interaction), longest.
    auto_collections: int = 0
    auto_collection_max_ms: float = 0.0

    def problems(self) -> list[str]:
        out = []
        stuck = {k: v for k, v in self.final_status.items() if v != "ready"}
        if stuck:
            out.append(f"layers not ready once faults stopped: {stuck}")
        out.extend(
            f"no layer of {name!r} ever showed an error: were its faults injected?"
            for name in self.final_status
            if not name.endswith(FRESH)
            and self.errors_shown.get(name, 0) + self.errors_shown.get(name + FRESH, 0) == 0
        )
        if self.rss_end_mb - self.rss_start_mb > self.rss_budget_mb:
            out.append(
                f"RSS grew {self.rss_end_mb - self.rss_start_mb:.0f} MB "
                f"(> {self.rss_budget_mb:.0f} MB: the chunk-cache and texture budgets plus a "
                "fixed overhead)"
            )
        if self.close_s >= 1.0:
            out.append(f"close() took {self.close_s:.2f} s")
        return out

    def report(self) -> str:
        tasks = ", ".join(
            f"{k} {self.task_max_ms[k]:.1f}/{self.task_p99_ms[k]:.1f}"
            + (
                f" (cpu {self.task_cpu_max_ms[k]:.1f}/{self.task_cpu_p99_ms[k]:.1f})"
                if k in self.task_cpu_max_ms
                else ""
            )
            for k in self.task_max_ms
        )
        return (
            f"soak: {self.moves} camera moves + {self.slice_changes} slice changes in "
            f"{self.wall_s:.1f} s; main thread max {self.max_ms:.1f} ms, p99 {self.p99_ms:.1f} ms "
            f"(its own CPU time per task: max {self.cpu_max_ms:.1f} ms, p99 "
            f"{self.cpu_p99_ms:.1f} ms) "
            f"(per task max/p99 ms: {tasks}); sliced reads failed {self.failed_reads}, timed out "
            f"{self.timed_out}; errors shown {self.errors_shown}; final {self.final_status}; "
            f"http faults {self.http_faults}; source faults {self.source_faults}; RSS "
            f"{self.rss_start_mb:.0f} -> {self.rss_end_mb:.0f} MB (growth allowed: "
            f"{self.rss_budget_mb:.0f} MB); "
            f"close {self.close_s * 1e3:.0f} ms; all ready {self.recovery_s:.1f} s after the "
            f"faults stopped; full garbage collections: {self.rest_collections} at rest (max "
            f"{self.rest_collection_max_ms:.1f} ms, not in the figures above), "
            f"{self.auto_collections} by CPython itself (max "
            f"{self.auto_collection_max_ms:.1f} ms)"
        )


class FullCollections:
    """Times the full garbage collections CPython runs itself (``gc.callbacks``), on any
    thread; those the viewer runs at rest (``RestCollector.rest``) are left out."""

    def __init__(self) -> None:
        self.durations_ms: list[float] = []
        self._start: float | None = None

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):  # stopped already
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            from tilescope.collector import RestCollector

            ours = RestCollector.rest.__code__
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not ours:
                frame = frame.f_back
            self._start = time.perf_counter() if frame is None else None
        elif self._start is not None:
            self.durations_ms.append((time.perf_counter() - self._start) * 1000.0)
            self._start = None


def _memory_budget_mb() -> float:
    """What the viewer may legitimately hold: the chunk cache's budget plus the texture
    budget (with Mesa's software GL, as here, textures live in RAM too)."""
    from tilescope.loading.cache import ChunkCache
    from tilescope.loading.config import get_config

    config = get_config()
    cache = ChunkCache(config.cache.budget_bytes, fraction=config.cache.budget_fraction)
    return (cache.budget_bytes + config.render.vram_budget_bytes) / 2**20


def run_soak(
    root: Path,
    *,
    moves: int,
    slice_changes: int,
    seed: int = 0,
    slice_timeout_s: float = 1.0,
    rss_overhead_mb: float = 400.0,
) -> SoakResult:
    """Camera moves and slice changes over a faulty HTTP zarr pyramid and faulty sources.

    Faults are on for the whole run; then they stop, every hang is released, one more slice
    change asks for everything again, and the viewer must settle with every layer ready.
    """
    import aiohttp
    import zarr

    from tilescope.viewer import Viewer

    nz = 20
    names = write_zarr_pyramid(root, (nz, 512, 512), (1, 64, 64))
    plans = {
        name: FaultPlan(dict(r), seed + i + 1) for i, (name, r) in enumerate(SOURCE_FAULTS.items())
    }
    # 512² planes: several tiles per plane, so the tile cache does not hide every fault
    sources = {name: FaultySource((nz, 512, 512), plan) for name, plan in plans.items()}
    errors: Counter[str] = Counter()
    rng = random.Random(seed)
    with RemoteFaultServer(root, dict(HTTP_FAULTS), seed) as server:
        options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=2 * slice_timeout_s)}}
        levels = [
            zarr.open_array(f"{server.url}/{n}", mode="r", storage_options=options) for n in names
        ]
        viewer = Viewer(show=False, size=(256, 256), slice_timeout_s=slice_timeout_s)
        full_gcs = FullCollections()
        try:
            viewer.status_changed.append(
                lambda layer, st: errors.update([layer.name]) if st.state == "error" else None
            )
            viewer.add_image(levels, multiscale=True, name="http", contrast_limits=(0, 60000))
            for name, src in sources.items():
                viewer.add_image(src, name=name, contrast_limits=(0, 1), opacity=0.3)
            viewer.wait_until_idle(10 * slice_timeout_s)
            viewer.perf.reset()
            full_gcs.start()
            rss0 = rss_bytes()
            camera = viewer.camera
            c0, z0 = camera.center, camera.zoom
            every = max(1, moves // max(1, slice_changes))
            changes = 0
            t0 = time.perf_counter()
            for i in range(moves):
                zoom = z0 * 2 ** (3 * rng.random())
                cy = c0[0] + rng.uniform(-200, 200)
                cx = c0[1] + rng.uniform(-200, 200)
                camera.update(center=(cy, cx), zoom=zoom)
                viewer.hop.drain()
                if i % every == every - 1 and changes < slice_changes:
                    viewer.dims.set_current_step(0, rng.randrange(nz))
                    viewer.hop.drain()
                    changes += 1
                    if changes % 50 == 0:  # the user pauses: hung reads time out and show
                        viewer.wait_until_idle(5 * slice_timeout_s)
            # A last pause with one fresh layer per kind of fault whose every read fails (a
            # hang times out), so each kind is shown at least once whatever the draws were
            # (the older layers' planes may all be in the tile cache by now: no reads left).
            for name, rates in SOURCE_FAULTS.items():
                fresh = FaultySource((nz, 512, 512), FaultPlan(dict.fromkeys(rates, 1.0)))
                sources[f"{name}{FRESH}"] = fresh
                viewer.add_image(fresh, name=f"{name}{FRESH}", contrast_limits=(0, 1), opacity=0.3)
            viewer.wait_until_idle(5 * slice_timeout_s)
            # faults stop; everything held is released; one more change retries every layer
            server.faults_off()
            server.release()
            for src in sources.values():
                src.plan.faults_on.clear()
                src.release()
            step = viewer.dims.current_step[0]
            faults_off = time.perf_counter()
            viewer.dims.set_current_step(0, (step + 1) % nz)
            # A tile that failed under faults is retried once its back-off expires (the tile
            # loader doubles it per failure, up to 60 s): wait for that, nothing else happens.
            deadline = faults_off + RECOVERY_LIMIT_S
            while time.perf_counter() < deadline:
                viewer.wait_until_idle(max(0.1, min(5.0, deadline - time.perf_counter())))
                if all(layer.status == "ready" for layer in viewer.layers):
                    break
                viewer.hop.wait_posted(0.2)
            recovery_s = time.perf_counter() - faults_off
            wall = time.perf_counter() - t0
            final = {layer.name: layer.status for layer in viewer.layers}
            stats = viewer.perf.stats()
            full_gcs.stop()
            rss1 = rss_bytes()
            slicer_stats = viewer.slicer.stats
            http_faults = server.counts()
        finally:
            full_gcs.stop()
            c = time.perf_counter()
            viewer.close()
            close_s = time.perf_counter() - c
            for src in sources.values():
                src.release()
    return SoakResult(
        moves=moves,
        slice_changes=changes,
        wall_s=wall,
        close_s=close_s,
        max_ms=stats.max_ms,
        p99_ms=stats.p99_ms,
        cpu_max_ms=stats.cpu.max_ms,
        cpu_p99_ms=stats.cpu.p99_ms,
        task_max_ms={k: t.max_ms for k, t in stats.by_name.items()},
        task_p99_ms={k: t.p99_ms for k, t in stats.by_name.items()},
        task_cpu_max_ms={k: t.max_ms for k, t in stats.cpu_by_name.items()},
        task_cpu_p99_ms={k: t.p99_ms for k, t in stats.cpu_by_name.items()},
        rest_collections=stats.idle.count,
        rest_collection_max_ms=stats.idle.max_ms,
        auto_collections=len(full_gcs.durations_ms),
        auto_collection_max_ms=max(full_gcs.durations_ms, default=0.0),
        final_status=final,
        errors_shown=dict(errors),
        failed_reads=slicer_stats.failed,
        timed_out=slicer_stats.timed_out,
        http_faults=http_faults,
        source_faults={k: dict(src.plan.counts) for k, src in sources.items()},
        rss_start_mb=rss0 / 2**20,
        rss_end_mb=rss1 / 2**20,
        rss_budget_mb=_memory_budget_mb() + rss_overhead_mb,
        recovery_s=recovery_s,
    )


def _serve_main(argv: list[str]) -> None:
    """Child process entry (see :class:`RemoteFaultServer`): serve until stdin closes."""
    root, rates, seed = Path(argv[0]), json.loads(argv[1]), int(argv[2])
    with FaultyHTTPServer(root, FaultPlan(rates, seed)) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # returns when the parent closes our stdin (or dies)


if __name__ == "__main__":
    _serve_main(sys.argv[1:])
