"""Session-wide test setup.

``./run test`` runs pytest under Xvfb, so Qt window tests get a display; headless viewers
render through EGL either way (each canvas owns its vispy app, so EGL and Qt canvases coexist
in one process). Without a display, Qt window tests skip with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from http_server import LocalHTTPServer


def pytest_configure() -> None:
    os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[LocalHTTPServer]:
    """A real HTTP server over ``tmp_path/www`` (see ``tests/http_server.py``)."""
    root = tmp_path / "www"
    root.mkdir()
    server = LocalHTTPServer(root)
    try:
        yield server
    finally:
        server.close()
