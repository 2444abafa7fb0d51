"""Fault-injection soak at full size: 10,000 camera moves and 1,000 slice changes, headless.

Layers: a 3-level zarr v3 pyramid (20 x 512², zstd chunks of 64², written by zarr-python at
run time) read with zarr-python over real HTTP from a local server that injects HTTP 500s,
hangs, truncated and corrupt chunks and slow responses; and four in-memory sources whose
reads raise, hang (released at the end), or return the wrong shape or dtype. Every 50 slice
changes the script pauses until idle (hung reads time out and show). Then faults stop, hangs
are released, one more change asks for everything, and every layer must be ready.

Printed: main-thread max and p99 (tilescope's own task timing), per task, failed and timed-out
reads, errors shown per layer, final statuses, fault counts, RSS before/after, close() time.
Targets (issue 10): zero crashes, nothing left loading or in error once faults stop, RSS
within a fixed overhead, close() < 1 s; main thread max <= 16 ms and p99 <= 8 ms headless.
The fault server runs in the same process, so its threads compete for the GIL with the viewer's
main thread: the main-thread figures include that contention.

Run: ``./run bench -k soak`` or ``python benchmarks/bench_soak.py [MOVES SLICES]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fault_injection import SoakResult, run_soak

MOVES = 10_000
SLICE_CHANGES = 1_000


def soak(moves: int = MOVES, slice_changes: int = SLICE_CHANGES) -> SoakResult:
    with tempfile.TemporaryDirectory(prefix="tilescope-soak-") as tmp:
        return run_soak(Path(tmp), moves=moves, slice_changes=slice_changes)


@pytest.mark.benchmark
@pytest.mark.timeout(1800)
def test_fault_soak_benchmark() -> None:
    result = soak()
    print()
    print(result.report())
    print(json.dumps(asdict(result)))
    assert result.problems() == []


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    r = soak(*args)
    print(r.report())
    problems = r.problems()
    print("problems:", problems or "none")
    sys.exit(1 if problems else 0)
