"""Write ``levels.json``: napari 0.9's multiscale level choice on fixed inputs.

Runs under napari's own virtual environment, NOT tilescope's::

    QT_QPA_PLATFORM=offscreen /work/napari-venv/bin/python \
        tests/napari_reference/gen_levels.py

It rewrites ``tests/napari_reference/levels.json`` next to this file; commit
both.  ``tests/tiles/test_levels_napari.py`` loads the JSON and checks that
``tilescope.tiles.levels`` gives the same answers.

Three groups of cases, all from a seeded RNG (deterministic):

* ``level``: ``compute_multiscale_level(requested_shape, shape_threshold,
  downsample_factors)`` on random anisotropic pyramids.
* ``corners``: ``compute_multiscale_level_and_corners(corner_pixels, ...)``.
* ``layer``: an ``Image`` layer with multiscale numpy data, driven through
  ``Layer._update_draw`` with five successive view rectangles in world
  coordinates (identity transform) and a canvas size, recording
  ``data_level`` and ``corner_pixels`` after each; this covers napari's
  floor/ceil of the view, its clipping to the level's shape and its rule of
  keeping the previous corners while the view stays inside them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import napari
import numpy as np
from napari.layers import Image
from napari.layers.utils.layer_utils import (
    compute_multiscale_level,
    compute_multiscale_level_and_corners,
)

OUT = Path(__file__).with_name("levels.json")


def random_factors(rng: np.random.Generator, ndim: int) -> np.ndarray:
    nlevels = int(rng.integers(1, 7))
    rows = [np.ones(ndim)]
    for _ in range(nlevels - 1):
        step = rng.choice([1.0, 1.5, 2.0, 2.0, 2.0, 3.0, 4.0], size=ndim)
        rows.append(rows[-1] * step)
    return np.array(rows)


def level_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for _ in range(400):
        ndim = int(rng.integers(1, 4))
        factors = random_factors(rng, ndim)
        requested = np.round(rng.uniform(1, 2e5, size=ndim) ** rng.uniform(0.5, 1.0), 3)
        threshold = rng.integers(1, 4000, size=ndim).astype(float)
        level = compute_multiscale_level(requested, threshold, factors)
        cases.append(
            {
                "requested_shape": requested.tolist(),
                "shape_threshold": threshold.tolist(),
                "downsample_factors": factors.tolist(),
                "level": int(level),
            }
        )
    return cases


def corner_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for _ in range(300):
        factors = random_factors(rng, 2)
        lo = rng.integers(-5000, 50000, size=2)
        hi = lo + rng.integers(0, 60000, size=2)
        corner_pixels = np.stack([lo, hi])
        threshold = rng.integers(1, 3000, size=2).astype(float)
        level, corners = compute_multiscale_level_and_corners(corner_pixels, threshold, factors)
        cases.append(
            {
                "corner_pixels": corner_pixels.tolist(),
                "shape_threshold": threshold.tolist(),
                "downsample_factors": factors.tolist(),
                "level": int(level),
                "corners": np.asarray(corners).astype(int).tolist(),
            }
        )
    return cases


def layer_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    cases = []
    for _ in range(60):
        nlevels = int(rng.integers(2, 6))
        base = np.array([int(rng.integers(600, 5000)), int(rng.integers(600, 5000))])
        shapes = [tuple(int(s) for s in np.maximum(base // (2**lvl), 1)) for lvl in range(nlevels)]
        data = [np.zeros(s, dtype=np.uint8) for s in shapes]
        layer = Image(data, multiscale=True)
        canvas = (int(rng.integers(100, 1500)), int(rng.integers(100, 1500)))
        steps = []
        for _step in range(5):  # successive views on the same layer (napari keeps state)
            zoom = float(np.exp(rng.uniform(np.log(1 / 32), np.log(4))))
            center = rng.uniform(-0.1, 1.1, size=2) * base
            half = np.array(canvas, dtype=float) / zoom / 2
            view = np.stack([center - half, center + half])
            layer._update_draw(
                scale_factor=1 / zoom, corner_pixels_displayed=view, shape_threshold=canvas
            )
            steps.append(
                {
                    "view_min": view[0].tolist(),
                    "view_max": view[1].tolist(),
                    "data_level": int(layer.data_level),
                    "corner_pixels": np.asarray(layer.corner_pixels).astype(int).tolist(),
                }
            )
        cases.append(
            {
                "level_shapes": [list(s) for s in shapes],
                "canvas_shape": list(canvas),
                "steps": steps,
            }
        )
    return cases


def main() -> None:
    rng = np.random.default_rng(20260501)
    payload = {
        "napari_version": napari.__version__,
        "level": level_cases(rng),
        "corners": corner_cases(rng),
        "layer": layer_cases(rng),
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {OUT} ({sum(len(v) for v in payload.values() if isinstance(v, list))} cases)")


if __name__ == "__main__":
    main()
