"""Writing an OME-Zarr pyramid with ``write_pyramid`` on local dask threads.

A 4096² uint16 image (random, so compression does not flatter the figure) written with 256²
chunks: five levels (s0 ... s4), each computed from the level before as stored. Prints the best
wall time of 3 runs (after a small warm-up run, so imports are not counted) and the input
throughput.

Run either way::

    .venv/bin/python benchmarks/bench_pyramid.py
    ./run bench -k pyramid
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from tilescope.data.pyramid import write_pyramid

SIZE = 4096


def report() -> float:
    data = np.random.default_rng(0).integers(0, 65535, (SIZE, SIZE), dtype=np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        write_pyramid(data[:512, :512], Path(tmp) / "warm-up.zarr", progress=False)
        times = []
        for i in range(3):
            out = Path(tmp) / f"p{i}.zarr"
            t0 = time.perf_counter()
            levels = write_pyramid(data, out, progress=False)
            times.append(time.perf_counter() - t0)
            coarsest = zarr.open_array(str(out / levels[-1].path), mode="r")
            assert coarsest.shape == levels[-1].shape
    elapsed = min(times)
    print(
        f"\nwrite_pyramid {SIZE}² uint16, 256² chunks, local threads: {len(levels)} levels "
        f"({', '.join(lv.path + ' ' + 'x'.join(map(str, lv.shape)) for lv in levels)}) in "
        f"{elapsed:.2f} s = {data.nbytes / 1e6 / elapsed:.0f} MB/s of input"
    )
    return elapsed


@pytest.mark.benchmark
def test_bench_write_pyramid() -> None:
    assert report() > 0


if __name__ == "__main__":
    report()
