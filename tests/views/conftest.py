"""Fixtures for the Qt views tests.

Widget-only tests (sliders, layer list, controls bound to models) need Qt but no OpenGL,
so without a display pytest-qt's QApplication is created on Qt's ``offscreen`` platform
(a ``-platform`` argument, not ``QT_QPA_PLATFORM``: nothing leaks into the environment
that later tests or their subprocesses see). Tests that need the vispy canvas (a real GL
context: a display or Xvfb) request :func:`display` and skip with the reason when there
is none. Run all of them with ``xvfb-run -a python -m pytest tests/views``.
"""

from __future__ import annotations

import pytest

from tilescope.render.display import display_problem


@pytest.fixture(scope="session")
def qapp_args(pytestconfig: pytest.Config) -> list[str]:
    """pytest-qt's QApplication arguments: the offscreen platform when there is no display."""
    args = [str(pytestconfig.getini("qt_qapp_name"))]
    if display_problem() is not None:
        args += ["-platform", "offscreen"]  # widgets work; GL tests skip
    return args


@pytest.fixture
def display() -> None:
    """Skip the test unless a window with an OpenGL canvas can be opened."""
    problem = display_problem()
    if problem is not None:
        pytest.skip(f"needs a display with OpenGL (run under xvfb-run -a): {problem}")
