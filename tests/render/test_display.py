"""Display detection: one answer for the Qt application, the vispy backend and the CLI."""

from __future__ import annotations

import sys

import pytest

from tilescope.render.display import display_problem


@pytest.mark.parametrize(
    ("env", "platform", "problem"),
    [
        pytest.param({"DISPLAY": ":0"}, "linux", None, id="x11"),
        pytest.param({"WAYLAND_DISPLAY": "wayland-0"}, "linux", None, id="wayland"),
        pytest.param({}, "linux", "DISPLAY", id="linux-without-display"),
        pytest.param(
            {"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"},
            "linux",
            "offscreen",
            id="offscreen-has-no-gl",
        ),
        pytest.param({"QT_QPA_PLATFORM": "xcb"}, "linux", None, id="explicit-platform"),
        pytest.param({}, "darwin", None, id="macos"),
    ],
)
def test_display_problem(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    platform: str,
    problem: str | None,
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", platform)
    found = display_problem()
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
