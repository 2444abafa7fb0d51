"""Fixtures for the Qt views tests.

Widget-only tests (sliders, layer list, controls bound to models) need Qt but no OpenGL,
so without a display they run on Qt's ``offscreen`` platform. Tests that need the vispy
canvas (a real GL context: a display or Xvfb) request :func:`display` and skip with the
reason when there is none. Run all of them with ``xvfb-run -a python -m pytest tests/views``.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from tilescope.views.app import display_problem

    if not os.environ.get("QT_QPA_PLATFORM") and display_problem() is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # widgets work; GL tests skip below


@pytest.fixture
def display() -> None:
    """Skip the test unless a window with an OpenGL canvas can be opened."""
    from tilescope.views.app import display_problem

    problem = display_problem()
    if problem is not None:
        pytest.skip(f"needs a display with OpenGL (run under xvfb-run -a): {problem}")
