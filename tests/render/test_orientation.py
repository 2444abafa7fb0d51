"""3D camera orientation math against napari 0.9 (tests/napari_reference/camera_angles.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilescope.render.orientation import (
    angles_from_view_and_up,
    camera_basis,
    view_and_up_from_angles,
)

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "napari_reference" / "camera_angles.json").read_text()
)


@pytest.mark.parametrize(
    "case",
    REFERENCE["directions"],
    ids=lambda c: "angles=" + ",".join(f"{a:.0f}" for a in c["angles"]),
)
def test_view_and_up_match_napari(case: dict[str, Any]) -> None:
    view, up = view_and_up_from_angles(tuple(case["angles"]))
    np.testing.assert_allclose(view, case["view"], atol=1e-12)
    np.testing.assert_allclose(up, case["up"], atol=1e-12)


@pytest.mark.parametrize("case", REFERENCE["angles"], ids=lambda c: f"view={c['view'][0]:.3f}")
def test_angles_from_directions_match_napari(case: dict[str, Any]) -> None:
    got = angles_from_view_and_up(case["view"], case["up"])
    np.testing.assert_allclose(got, case["angles"], atol=1e-9)


angle = st.floats(-180.0, 180.0, allow_nan=False)


@given(st.tuples(angle, angle, angle))
def test_angles_round_trip_to_the_same_view(angles: tuple[float, float, float]) -> None:
    view, up = view_and_up_from_angles(angles)
    again = angles_from_view_and_up(view, up)
    view2, up2 = view_and_up_from_angles(again)
    np.testing.assert_allclose(view2, view, atol=1e-9)
    np.testing.assert_allclose(up2, up, atol=1e-9)


@given(st.tuples(angle, angle, angle))
def test_camera_basis_is_orthonormal(angles: tuple[float, float, float]) -> None:
    basis = camera_basis(angles)
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)


def test_default_view_looks_down_axis_0_rows_down_columns_right() -> None:
    right, down, into = camera_basis((0.0, 0.0, 0.0))
    np.testing.assert_allclose(right, [0, 0, 1], atol=1e-15)
    np.testing.assert_allclose(down, [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(into, [-1, 0, 0], atol=1e-15)
