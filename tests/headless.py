"""Run a command in a fresh, headless Python process (vispy picks its app once per process)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def run_headless(
    cmd: Sequence[str],
    cwd: Path,
    env_extra: dict[str, str] | None = None,
    *,
    display: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with no display (unless ``display``) and EGL surfaceless rendering."""
    env = dict(os.environ)
    if not display:
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
            env.pop(name, None)
    env["EGL_PLATFORM"] = "surfaceless"
    env.update(env_extra or {})
    return subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
