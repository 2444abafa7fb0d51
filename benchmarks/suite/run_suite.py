"""The benchmark suite (issue 12): W1-W5 through tilescope, optionally napari, and the bound.

``./run bench`` runs this (then the older ``benchmarks/bench_*.py``); ``./run bench --quick``
shrinks every workload; ``./run bench --peer napari`` adds napari 0.9 (installed in its own
virtual environment under ``.bench-cache/``, async slicing off and on). Generated data is
cached in ``.bench-cache/data``; results go to ``benchmarks/results/latest[-quick].json`` and
PNG plots beside it; a table is printed.

Each (engine, workload) runs in a fresh process (peak RSS is that workload's). The zarr
workloads are served by tilescope's slow HTTP server (50 ms per request) from this process;
drivers read its request and byte counters from a small stats endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from common import CHUNK, LATENCY_MS, Workload, workloads  # noqa: E402

CACHE = ROOT / ".bench-cache"
NAPARI_SPEC = ["napari==0.9.*", "PySide6-Essentials>=6.7,<6.12"]
NAPARI_EXTRA = ["zarr>=3.0.8,<3.2", "fsspec>=2024.6", "aiohttp>=3.9,<4", "dask[array]"]
DRIVER_TIMEOUT_S = 600


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------
def _pattern(shape: tuple[int, ...], seed: int) -> Any:
    """A lazily computed uint16 image: smooth structure plus 6 bits of noise per pixel."""
    import dask.array as da

    chunks = (*(1 for _ in shape[:-2]), 2048, 2048)

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        loc = block_info[None]["array-location"]
        idx = block_info[None]["chunk-location"]
        (y0, y1), (x0, x1) = loc[-2], loc[-1]
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        lead = sum(int(v) for v in idx[:-2])
        base = 1500 + 900 * np.sin(yy / (211 + 13 * lead)) * np.cos(xx / 307) + 200 * lead
        rng = np.random.default_rng(seed + hash(tuple(idx)) % 1000)
        noise = rng.integers(0, 64, base.shape, dtype=np.uint16)
        out = (np.clip(base, 0, 60000).astype(np.uint16) + noise)[(None,) * (len(shape) - 2)]
        return out

    return da.map_blocks(block, chunks=da.core.normalize_chunks(chunks, shape), dtype=np.uint16)


def dataset(wl: Workload) -> Path:
    """The workload's OME-Zarr pyramid, written once by ``write_pyramid`` and cached."""
    from tilescope.data.pyramid import write_pyramid

    name = f"{wl.key}-{'x'.join(map(str, wl.shape))}.ome.zarr"
    path = CACHE / "data" / name
    if (path / ".complete").exists():
        return path
    log(f"writing {name} (once; cached in {path.parent})")
    t0 = time.perf_counter()
    axes = "cyx" if wl.channels > 1 else ("zyx" if len(wl.shape) == 3 else "yx")
    write_pyramid(
        _pattern(wl.shape, 1),
        path,
        chunks=CHUNK,
        axes=axes,
        overwrite=True,
        progress=False,
    )
    (path / ".complete").write_text("ok")
    log(f"  wrote {name} in {time.perf_counter() - t0:.0f} s")
    return path


def chunk_bytes(path: Path) -> float:
    """Mean stored size of a level-0 chunk file (bytes on the wire per chunk)."""
    meta = json.loads((path / "zarr.json").read_text())["attributes"]["ome"]["multiscales"][0]
    level0 = path / meta["datasets"][0]["path"]
    sizes = [f.stat().st_size for f in level0.rglob("*") if f.is_file() and f.name != "zarr.json"]
    return float(np.mean(sizes)) if sizes else 0.0


class _Stats:
    """A tiny local endpoint returning the data server's counters as JSON."""

    def __init__(self, server: Any) -> None:
        data_server = server

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                s = data_server.stats()
                body = json.dumps({"requests": s.requests, "bytes_sent": s.bytes_sent}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


# -- peers --------------------------------------------------------------------------------------
def napari_python() -> Path:
    """The napari venv's python, created and installed on first use."""
    venv = CACHE / "napari-venv"
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        log(f"installing {' '.join(NAPARI_SPEC)} into {venv} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *NAPARI_SPEC, *NAPARI_EXTRA], check=True
        )
        stamp.write_text("ok")
    return py


def pr9067_python() -> Path | None:
    """The venv of napari PR #9067 (progressive loading), built from a local source tree.

    GitHub is not reachable from every machine, so the source is not downloaded here: put a
    checkout of the PR's head (``refs/pull/9067/head`` of napari) at ``$NAPARI_PR9067_SRC``
    or ``.bench-cache/napari-pr9067-src``.
    """
    venv = CACHE / "napari-pr9067-venv"
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists():
        return py
    src = Path(os.environ.get("NAPARI_PR9067_SRC", CACHE / "napari-pr9067-src"))
    if not (src / "pyproject.toml").exists():
        log(f"napari-pr9067: no source tree at {src}; skipped (see run_suite.pr9067_python)")
        return None
    log(f"installing napari PR #9067 from {src} into {venv} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION": "0.9.3.dev9067"}
    pkgs = [str(src), NAPARI_SPEC[1], *NAPARI_EXTRA]
    subprocess.run([str(py), "-m", "pip", "install", "-q", *pkgs], check=True, env=env)
    stamp.write_text("ok")
    return py


# -- running --------------------------------------------------------------------------------
def run_driver(
    cmd: list[str], out: Path, env: dict[str, str] | None = None
) -> dict[str, Any] | None:
    t0 = time.perf_counter()
    e = {**os.environ, **(env or {})}
    try:
        p = subprocess.run(cmd, env=e, timeout=DRIVER_TIMEOUT_S, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        log(f"  timed out after {DRIVER_TIMEOUT_S} s: {' '.join(cmd[1:3])}")
        return None
    if p.returncode != 0 or not out.exists():
        log(f"  failed (rc {p.returncode}): {p.stderr[-2000:]}")
        return None
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer steps")
    ap.add_argument("--peer", action="append", default=[], choices=["napari", "napari-pr9067"])
    ap.add_argument("--only", help="comma-separated workloads, e.g. W1,W3")
    ap.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/)")
    a = ap.parse_args(argv)
    from tilescope.data.serve import SlowHTTPServer

    wls = workloads(a.quick)
    keys = a.only.split(",") if a.only else list(wls)
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    out_json = a.out or results_dir / ("latest-quick.json" if a.quick else "latest.json")
    tmp = CACHE / "runs" / time.strftime("%Y%m%d-%H%M%S")
    tmp.mkdir(parents=True, exist_ok=True)
    log(
        f"mode: {'QUICK (shrunk sizes and step counts)' if a.quick else 'full'}; "
        f"workloads {','.join(keys)}; peers: {','.join(a.peer) or 'none'}"
    )
    (CACHE / "data").mkdir(parents=True, exist_ok=True)
    paths = {k: dataset(wls[k]) for k in keys if wls[k].kind == "zarr"}
    engines: list[tuple[str, list[str], dict[str, str]]] = [
        ("tilescope", [sys.executable, str(HERE / "tilescope_driver.py")], {})
    ]
    if "napari" in a.peer:
        py = str(napari_python())
        drv = str(HERE / "napari_driver.py")
        engines.append(("napari", [py, drv], {"NAPARI_ASYNC": "0"}))
        engines.append(("napari-async", [py, drv], {"NAPARI_ASYNC": "1"}))
    if "napari-pr9067" in a.peer:
        py9067 = pr9067_python()
        if py9067 is not None:
            drv = str(HERE / "napari_driver.py")
            env = {"NAPARI_PROGRESSIVE_LOADING": "1"}
            engines.append(("napari-pr9067", [str(py9067), drv], env))
    runs: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    data_dir = CACHE / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with SlowHTTPServer(data_dir, latency_ms=LATENCY_MS) as server:
        stats = _Stats(server)
        try:
            for key in keys:
                wl = wls[key]
                for name, cmd, env in engines:
                    if name == "napari-pr9067" and wl.kind != "zarr":
                        continue  # progressive loading streams chunked multiscale data only
                    out = tmp / f"{name}-{key}.json"
                    budget = (
                        (25 if a.quick else 60) if name != "tilescope" else (40 if a.quick else 120)
                    )
                    args = [*cmd, key, "--out", str(out), "--budget-s", str(budget)]
                    if a.quick:
                        args.append("--quick")
                    if key in paths:
                        args += ["--url", f"{server.url}/{paths[key].name}"]
                        args += ["--stats-url", stats.url]
                    log(f"{key} {name}: {wl.title}")
                    rec = run_driver(args, out, env)
                    if rec is None:
                        runs.append({"engine": name, "workload": key, "failed": True})
                        continue
                    if key in paths:
                        rec["chunk_bytes"] = chunk_bytes(paths[key])
                    runs.append(rec)
        finally:
            stats.close()
    from report import machine, plot, table

    doc = {
        "quick": a.quick,
        "command": "./run bench"
        + (" --quick" if a.quick else "")
        + "".join(f" --peer {p}" for p in a.peer),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "workloads": {k: wls[k].title for k in keys},
        "runs": runs,
    }
    out_json.write_text(json.dumps(doc, indent=1))
    print(table(doc))
    pngs = plot(doc, out_json.parent, suffix="-quick" if a.quick else "")
    log(f"results: {out_json}; plots: {', '.join(str(p) for p in pngs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
