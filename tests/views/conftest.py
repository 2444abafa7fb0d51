"""Fixtures for the Qt views tests.

Widget-only tests (sliders, layer list, controls bound to models) need Qt but no OpenGL,
so without a display they run on Qt's ``offscreen`` platform. Tests that need the vispy
canvas (a real GL context: a display or Xvfb) request :func:`display` and skip with the
reason when there is none. Run all of them with ``xvfb-run -a python -m pytest tests/views``.
"""

from __future__ import annotations

import os

import pytest

_NO_DISPLAY: list[str] = []  # why windows cannot open in this session (empty: they can)


def pytest_configure(config: pytest.Config) -> None:
    from tilescope.views.app import display_problem

    problem = display_problem()
    if problem is not None:
        _NO_DISPLAY.append(problem)
        if not os.environ.get("QT_QPA_PLATFORM"):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # widgets work; GL tests skip


@pytest.fixture
def display() -> None:
    """Skip the test unless a window with an OpenGL canvas can be opened."""
    if _NO_DISPLAY:
        pytest.skip(f"needs a display with OpenGL (run under xvfb-run -a): {_NO_DISPLAY[0]}")
