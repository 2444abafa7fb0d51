"""tilescope's level choice agrees with napari 0.9 on the recorded cases.

The cases come from ``tests/napari_reference/gen_levels.py`` (run under napari's
own venv); see its docstring for how to regenerate ``levels.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tilescope.tiles.levels import (
    compute_multiscale_level,
    compute_multiscale_level_and_corners,
    level_and_corners_for_view,
)

REFERENCE = json.loads((Path(__file__).parents[1] / "napari_reference" / "levels.json").read_text())


def test_reference_is_napari_09() -> None:
    assert REFERENCE["napari_version"].startswith("0.9")
    assert len(REFERENCE["level"]) >= 100
    assert len({c["level"] for c in REFERENCE["level"]}) >= 4  # the cases are not all trivial


def test_compute_multiscale_level_matches_napari() -> None:
    for case in REFERENCE["level"]:
        got = compute_multiscale_level(
            case["requested_shape"], case["shape_threshold"], case["downsample_factors"]
        )
        assert got == case["level"], case


def test_compute_multiscale_level_and_corners_matches_napari() -> None:
    for case in REFERENCE["corners"]:
        level, corners = compute_multiscale_level_and_corners(
            np.array(case["corner_pixels"]), case["shape_threshold"], case["downsample_factors"]
        )
        assert level == case["level"], case
        np.testing.assert_array_equal(corners, case["corners"], err_msg=str(case))


def test_layer_data_level_and_corner_pixels_match_napari() -> None:
    kept_previous = 0
    updated = 0
    for case in REFERENCE["layer"]:
        # A fresh napari layer starts at the coarsest level, full extent.
        shapes = np.array(case["level_shapes"])
        state: tuple[int, np.ndarray] | None = (
            len(shapes) - 1,
            np.stack([np.zeros(2, dtype=np.int64), shapes[-1] - 1]),
        )
        for step in case["steps"]:
            got = level_and_corners_for_view(
                step["view_min"],
                step["view_max"],
                case["canvas_shape"],
                case["level_shapes"],
                previous=state,
            )
            assert got is not None
            kept_previous += got is state
            updated += got is not state
            level, corners = got
            assert level == step["data_level"], (case, step)
            np.testing.assert_array_equal(corners, step["corner_pixels"], err_msg=str(step))
            state = got
    assert kept_previous > 10
    assert updated > 100
