"""Camera mapping between CameraView and vispy's PanZoom/Turntable parameters (no GL)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilescope.render.orientation import view_and_up_from_angles
from tilescope.render.vispy._camera import (
    angles_from_turntable,
    panzoom_rect,
    turntable_from_angles,
)

angle = st.floats(-180.0, 180.0, allow_nan=False)


@given(st.tuples(angle, angle, angle))
def test_turntable_round_trip_keeps_view_and_up(angles: tuple[float, float, float]) -> None:
    azimuth, elevation, roll = turntable_from_angles(angles)
    assert -90.0 <= elevation <= 90.0  # vispy clamps elevation to this range
    back = angles_from_turntable(azimuth, elevation, roll)
    for got, want in zip(
        view_and_up_from_angles(back), view_and_up_from_angles(angles), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-7)


@given(angle, st.floats(-90.0, 90.0), angle)
def test_turntable_parameters_round_trip(azimuth: float, elevation: float, roll: float) -> None:
    angles = angles_from_turntable(azimuth, elevation, roll)
    again = angles_from_turntable(*turntable_from_angles(angles))
    for got, want in zip(
        view_and_up_from_angles(again), view_and_up_from_angles(angles), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-7)


def test_default_angles_look_down_from_above() -> None:
    azimuth, elevation, roll = turntable_from_angles((0.0, 0.0, 0.0))
    assert (azimuth, elevation, roll) == pytest.approx((0.0, -90.0, 0.0))


def test_panzoom_rect_centres_the_view() -> None:
    x, y, w, h = panzoom_rect((10.0, -4.0), 2.0, (100.0, 50.0))
    assert (w, h) == (50.0, 25.0)
    assert (x + w / 2, y + h / 2) == (-4.0, 10.0)  # vispy x is the column, y the row
