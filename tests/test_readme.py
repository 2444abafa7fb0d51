"""The README's commands and Python example stay true."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from headless import run_headless

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines()]
    assert commands[:2] == ["./run demo", "./run test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./run test" in ci


@pytest.mark.gl
def test_python_example_runs(tmp_path: Path) -> None:
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    script = tmp_path / "example.py"
    script.write_text(block.group(1), encoding="utf-8")
    r = run_headless([sys.executable, str(script)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(300, 400, 4) ready" in r.stdout
    assert (tmp_path / "shot.png").stat().st_size > 0
