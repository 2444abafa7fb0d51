"""The command line: screenshots without a display, clear errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from headless import run_headless
from tilescope.cli import _parse_size, main

pytestmark = pytest.mark.gl


def _run(
    *args: str, cwd: Path, display: bool = False, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process (vispy's app choice is per process)."""
    return run_headless([sys.executable, "-m", "tilescope", *args], cwd, env_extra, display=display)


@pytest.mark.parametrize(
    "env_extra",
    [
        pytest.param({}, id="no-display"),
        pytest.param({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, id="qt-offscreen"),
    ],
)
def test_view_without_display_writes_a_screenshot(
    tmp_path: Path, env_extra: dict[str, str]
) -> None:
    np.save(tmp_path / "ramp.npy", np.tile(np.linspace(0, 1, 64, dtype=np.float32), (32, 1)))
    r = _run("view", "ramp.npy", "--size", "96x48", cwd=tmp_path, env_extra=env_extra)
    assert r.returncode == 0, r.stderr
    assert "no display" in r.stderr
    shot = tmp_path / "tilescope-view.png"
    assert shot.exists()
    import imageio.v3 as iio

    img = iio.imread(shot)
    assert img.shape[:2] == (48, 96)
    # a ramp: left darker than right
    row = img[24, :, 0].astype(int)
    assert row[20] < row[75]


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        pytest.param(None, ("view", "missing.npy"), "does not exist", id="missing-file"),
        pytest.param(
            ("notes.txt", b"hello"), ("view", "notes.txt"), "unsupported format", id="unknown"
        ),
        pytest.param(("bad.npy", b"garbage"), ("view", "bad.npy"), "cannot read", id="corrupt-npy"),
        pytest.param(("line.npy", None), ("view", "line.npy"), "at least 2", id="1d-array"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    tmp_path: Path, setup: tuple[str, bytes | None] | None, args: tuple[str, ...], message: str
) -> None:
    if setup is not None:
        name, content = setup
        if content is None:
            np.save(tmp_path / name, np.arange(10.0))
        else:
            (tmp_path / name).write_bytes(content)
    r = _run(*args, "--screenshot", "out.png", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.png").exists()


def test_demo_screenshot(tmp_path: Path) -> None:
    r = _run("demo", "--screenshot", "demo.png", "--size", "160x120", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import imageio.v3 as iio

    img = iio.imread(tmp_path / "demo.png")
    assert img.shape[:2] == (120, 160)
    assert img[..., :3].std() > 5  # the pyramid's texture is on screen


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        pytest.param("1024x768", (768, 1024), id="ok"),
        pytest.param("10x10", None, id="too-small"),
        pytest.param("big", None, id="not-a-size"),
    ],
)
def test_size_parsing(text: str, ok: tuple[int, int] | None) -> None:
    import argparse

    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError):
            _parse_size(text)
    else:
        assert _parse_size(text) == ok


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
