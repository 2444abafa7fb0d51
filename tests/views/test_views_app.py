"""Display detection and the no-display error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tilescope.views.app import display_problem

pytestmark = pytest.mark.qt


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


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="display variables are X11/Wayland"
)
def test_no_display_raises_a_clear_error_instead_of_aborting() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    code = (
        "from tilescope.errors import NoDisplayError\n"
        "from tilescope.views.app import get_app\n"
        "try:\n"
        "    get_app()\n"
        "except NoDisplayError as e:\n"
        "    print('NoDisplayError:', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "NoDisplayError: cannot open a tilescope window" in result.stdout
    assert "xvfb-run" in result.stdout
