"""Fixtures for loader tests (fakes live in ``loading_fakes.py``)."""

from __future__ import annotations

import pytest
from loading_fakes import Executors

from tilescope.loading.delay_queue import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def executors() -> Executors:
    return Executors()
