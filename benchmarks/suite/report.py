"""The suite's table (stdout) and plots (PNG, matplotlib) from its JSON document."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("tilescope", "napari", "napari-async")
COLORS = {
    "tilescope": "tab:blue",
    "napari": "tab:red",
    "napari-async": "tab:orange",
    "napari-pr9067": "tab:green",
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, no GPU (Mesa llvmpipe), Xvfb"


def _f(v: Any, fmt: str = "{:.0f}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return fmt.format(v)


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """One run's headline numbers (what the table prints)."""
    settled = [s for s in run["steps"] if s["settle"]]
    ttfc = [s["ttfc_ms"] for s in settled if s["ttfc_ms"] is not None and s["exposed"] > 0]
    tti = [s["tti_ms"] for s in settled if s["tti_ms"] is not None and s["exposed"] > 0]
    pairs = [(s["tti_ms"], s["bound_ms"]) for s in settled if s["tti_ms"] and s["bound_ms"]]
    exposed = sum(s["exposed"] for s in settled)
    req = sum(s["requests"] for s in settled)
    nbytes = sum(s["bytes"] for s in settled)
    cb = run.get("chunk_bytes") or 0
    ex = run.get("extra", {})
    loads, never = ex.get("loads_completed"), ex.get("loads_never_drawn")
    if run["engine"] == "napari-pr9067":  # no reliable "view at final detail" signal found
        ttfc = tti = []
        pairs = []
    return {
        "hb_max": run.get("heartbeat_max_ms"),
        "hb_p99": run.get("heartbeat_p99_ms"),
        "task_max": ex.get("perf_max_ms", run.get("draw_max_ms")),
        "task_p99": ex.get("perf_p99_ms", run.get("draw_p99_ms")),
        "ttfc_med": float(np.median(ttfc)) if ttfc else None,
        "tti_med": float(np.median(tti)) if tti else None,
        "tti_bound": (sum(p[0] for p in pairs) / sum(p[1] for p in pairs)) if pairs else None,
        "rest_tti": None if run["engine"] == "napari-pr9067" else run.get("rest_tti_ms"),
        "req_per_exposed": req / exposed if exposed else None,
        "bytes_per_exposed": nbytes / (exposed * cb) if exposed and cb else None,
        "never_drawn": (never / loads) if loads else None,
        "rss": run.get("peak_rss_mb"),
        "budget": ex.get("cache_budget_mb"),
        "settle_timeouts": ex.get("settle_timeouts"),
    }


def table(doc: dict[str, Any]) -> str:
    head = (
        f"{'wl':<3} {'engine':<13} {'hb max':>7} {'hb p99':>6} {'task max':>8} {'p99':>5} "
        f"{'TTFC':>6} {'TTI':>6} {'TTI/bd':>6} {'rest':>6} {'req/ch':>6} {'B/ch':>5} "
        f"{'waste':>5} {'RSS MB':>7} {'budget':>6}"
    )
    lines = [
        f"tilescope benchmark suite — {'QUICK mode (shrunk sizes)' if doc['quick'] else 'full'}"
        f"; {doc['machine']}; {doc['when']}",
        "times in ms; TTFC/TTI: medians over settled steps that exposed new chunks; "
        "TTI/bd: sum TTI / sum bound ceil(exposed/concurrency)*latency; rest: last step -> "
        "ideal; req/ch, B/ch: requests "
        "and bytes per newly exposed chunk; waste: loads completed but never drawn; "
        "* = stopped by its time budget before the last step",
        head,
        "-" * len(head),
    ]
    for key in doc["workloads"]:
        for run in doc["runs"]:
            if run["workload"] != key:
                continue
            if run.get("failed"):
                lines.append(f"{key:<3} {run['engine']:<13} FAILED (see the log above)")
                continue
            s = summary(run)
            name = run["engine"] + ("*" if run.get("extra", {}).get("cut_short") else "")
            lines.append(
                f"{key:<3} {name:<13} {_f(s['hb_max'], '{:.1f}'):>7} "
                f"{_f(s['hb_p99'], '{:.1f}'):>6} {_f(s['task_max'], '{:.1f}'):>8} "
                f"{_f(s['task_p99'], '{:.1f}'):>5} {_f(s['ttfc_med']):>6} {_f(s['tti_med']):>6} "
                f"{_f(s['tti_bound'], '{:.2f}'):>6} {_f(s['rest_tti']):>6} "
                f"{_f(s['req_per_exposed'], '{:.2f}'):>6} {_f(s['bytes_per_exposed'], '{:.2f}'):>5}"
                f" {_f(None if s['never_drawn'] is None else 100 * s['never_drawn'], '{:.0f}%'):>5}"
                f" {_f(s['rss']):>7} {_f(s['budget']):>6}"
            )
    lines.append("")
    lines.extend(f"  {k}: {v}" for k, v in doc["workloads"].items())
    return "\n".join(lines)


def plot(doc: dict[str, Any], out_dir: Path, suffix: str = "") -> list[Path]:
    """tti-per-step.png (per settled step: each engine and the bound) and stalls.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(doc["workloads"])
    runs = [r for r in doc["runs"] if not r.get("failed")]
    out: list[Path] = []
    fig, axes = plt.subplots(len(keys), 1, figsize=(10, 2.6 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        bound_drawn = False
        for run in runs:
            if run["workload"] != key or run["engine"] == "napari-pr9067":
                continue
            steps = [s for s in run["steps"] if s["settle"]]
            x = np.arange(len(steps))
            y = [np.nan if s["tti_ms"] is None else s["tti_ms"] for s in steps]
            ax.plot(x, y, "o-", color=COLORS.get(run["engine"]), label=run["engine"])
            if run["engine"] == "tilescope" and not bound_drawn:
                b = [s["bound_ms"] or np.nan for s in steps]  # 0: nothing new to fetch
                ax.plot(x, b, "k--", label="bound ceil(chunks/conc)×lat")
                bound_drawn = True
                ax.set_xticks(x, [s["name"] for s in steps], rotation=20, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("time to ideal (ms)")
        ax.set_title(doc["workloads"][key], fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out_dir / f"tti-per-step{suffix}.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    out.append(p)

    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for run in runs:
            if run["workload"] != key:
                continue
            g = np.sort(np.asarray(run["heartbeat_gaps_ms"] or [4.0]))[::-1]
            ax.step(
                g,
                np.arange(1, g.size + 1),
                where="post",
                color=COLORS.get(run["engine"]),
                label=run["engine"],
            )
        ax.axvline(16, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("main-thread stall (ms)")
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("stalls at least this long")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / f"stalls{suffix}.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    out.append(p)
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The table as Markdown (for the README)."""
    cols = [
        ("workload", None),
        ("engine", None),
        ("heartbeat max / p99 ms", ("hb_max", "hb_p99", "{:.0f}")),
        ("task or draw max / p99 ms", ("task_max", "task_p99", "{:.0f}")),
        ("TTFC ms", ("ttfc_med", None, "{:.0f}")),
        ("TTI ms", ("tti_med", None, "{:.0f}")),
        ("TTI / bound", ("tti_bound", None, "{:.2f}")),
        ("rest → ideal ms", ("rest_tti", None, "{:.0f}")),
        ("requests / exposed chunk", ("req_per_exposed", None, "{:.2f}")),
        ("bytes / exposed chunk", ("bytes_per_exposed", None, "{:.2f}")),
        ("never drawn", ("never_drawn", None, "{:.0%}")),
        ("peak RSS MB", ("rss", None, "{:.0f}")),
    ]
    out = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for key in doc["workloads"]:
        for run in doc["runs"]:
            if run["workload"] != key:
                continue
            if run.get("failed"):
                out.append(f"| {key} | {run['engine']} | failed |" + " |" * (len(cols) - 3))
                continue
            s = summary(run)
            cut = " (cut short)" if run.get("extra", {}).get("cut_short") else ""
            cells = [key, run["engine"] + cut]
            for _, spec in cols[2:]:
                assert spec is not None
                a, b, fmt = spec
                v = _f(s[a], fmt)
                cells.append(v if b is None else f"{v} / {_f(s[b], fmt)}")
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def compare(docs: list[dict[str, Any]]) -> str:
    """Headline numbers of several runs side by side (Markdown): reproducibility."""
    keys = ("hb_max", "hb_p99", "tti_med", "tti_bound", "rest_tti")
    head = "| workload | engine | " + " | ".join(
        f"{k} (run {i + 1})" for k in keys for i in range(len(docs))
    )
    out = [head + " |", "|" + "---|" * (2 + len(keys) * len(docs))]
    first = docs[0]
    for key in first["workloads"]:
        for run in first["runs"]:
            if run["workload"] != key or run.get("failed"):
                continue
            peers = []
            for d in docs:
                m = [r for r in d["runs"] if r["workload"] == key and r["engine"] == run["engine"]]
                peers.append(summary(m[0]) if m and not m[0].get("failed") else None)
            cells = [key, run["engine"]]
            for k in keys:
                fmt = "{:.2f}" if k == "tti_bound" else "{:.0f}"
                cells += [_f(None if p is None else p[k], fmt) for p in peers]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys

    loaded = [json.loads(Path(a).read_text()) for a in sys.argv[1:]]
    print(markdown(loaded[-1]))
    if len(loaded) > 1:
        print()
        print(compare(loaded))
