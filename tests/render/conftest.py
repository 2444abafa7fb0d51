"""Fixtures for render tests: headless backends, closed after each test.

Headless backends render through EGL whether or not a Qt application runs (under
``xvfb-run`` the session has one, so these tests also check that EGL canvases and
Qt windows coexist). The pure-EGL path with no display at all, and headless and
windowed viewers created in either order, are checked in fresh subprocesses
(``test_app.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from render_helpers import BackendFactory

from tilescope.errors import RenderError
from tilescope.render import RenderBackend, create_backend


@pytest.fixture
def make_backend() -> Iterator[BackendFactory]:
    """Create headless backends (closed after the test); skip only if GL is unavailable."""
    made: list[RenderBackend] = []

    def make(size: tuple[int, int] = (64, 64)) -> RenderBackend:
        try:
            backend = create_backend(show=False, size=size)
        except RenderError as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"no OpenGL context for headless rendering: {exc}")
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: BackendFactory) -> RenderBackend:
    """A 64x64 headless backend."""
    return make_backend((64, 64))
