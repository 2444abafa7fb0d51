"""Fault-injection soak (slow): faulty HTTP zarr pyramid + faulty in-memory sources.

Counts scaled down from the benchmark (``benchmarks/bench_soak.py``: 10,000 camera moves and
1,000 slice changes) to stay within a couple of minutes on a small machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fault_injection import run_soak

pytestmark = [pytest.mark.slow, pytest.mark.gl]


@pytest.mark.timeout(600)
def test_soak_under_faults_recovers_everything(tmp_path: Path) -> None:
    result = run_soak(tmp_path, moves=1500, slice_changes=150)
    print(result.report())
    assert result.problems() == []
    assert result.slice_changes == 150
    assert sum(result.errors_shown.values()) > 0  # faults were injected and shown
