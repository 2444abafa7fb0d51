"""The README's "Opening data" example runs, on files written by ome-zarr-py and tifffile."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from headless import run_headless
from http_server import LocalHTTPServer
from ome_writers import write_ome_zarr

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.gl


def test_opening_data_example_runs(tmp_path: Path) -> None:
    section = README.split("## Opening data", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    www = tmp_path / "www"
    www.mkdir()
    write_ome_zarr(tmp_path / "cells.ome.zarr", "0.5")
    write_ome_zarr(www / "cells.ome.zarr", "0.4", labels=False)
    data = np.random.default_rng(1).integers(0, 255, (2, 128, 128), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "slide.ome.tif", ome=True) as tw:
        tw.write(data, tile=(64, 64), compression="jpeg", metadata={"axes": "CYX"})
    server = LocalHTTPServer(www)
    try:
        code = block.group(1).replace("http://localhost:8000/", server.url())
        script = tmp_path / "example.py"
        script.write_text(code, encoding="utf-8")
        r = run_headless([sys.executable, str(script)], tmp_path)
    finally:
        server.close()
    assert r.returncode == 0, r.stderr
    assert "['DAPI', 'GFP', 'cells'] ('z', 'y', 'x')" in r.stdout
    assert "['ready', 'ready']" in r.stdout  # DAPI and the labels; GFP is inactive (hidden)
    assert (tmp_path / "cells.png").stat().st_size > 0
    assert any(p.startswith("cells.ome.zarr/") for p in server.requests)
