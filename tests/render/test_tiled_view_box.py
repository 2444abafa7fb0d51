"""``_view_box``: a world view rectangle's bounds in level-0 data coordinates."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tilescope.render.tiled import _view_box

finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    st.lists(finite, min_size=6, max_size=6),
    st.tuples(finite, finite, finite, finite),
)
def test_the_bounds_are_those_of_the_four_mapped_corners(
    entries: list[float], rect: tuple[float, float, float, float]
) -> None:
    inv = np.array([entries[:3], entries[3:], [0.0, 0.0, 1.0]])
    y0, x0, y1, x1 = rect
    box = _view_box(inv, ((y0, x0), (y1, x1)))
    corners = np.array([[y0, y0, y1, y1], [x0, x1, x0, x1], [1.0, 1.0, 1.0, 1.0]])
    mapped = (inv @ corners)[:2]  # the reference: numpy's product
    assert box is not None
    np.testing.assert_allclose(box, [mapped.min(axis=1), mapped.max(axis=1)], rtol=1e-12, atol=1e-6)


def test_a_view_that_maps_to_no_finite_point_has_no_box() -> None:
    inv = np.array([[math.inf, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert _view_box(inv, ((0.0, 0.0), (1.0, 1.0))) is None
