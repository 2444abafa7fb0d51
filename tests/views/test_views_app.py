"""The no-display error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.qt


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
