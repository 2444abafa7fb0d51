"""The one level geometry: coarse pixel centres, planes and windows at a level."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.geometry import (
    data_to_level_index,
    level_factor,
    level_pixel_to_data,
    pixel_containing,
    plane_at_level,
    window_at_level,
)


@st.composite
def axis_sizes(draw: st.DrawFn) -> tuple[int, int]:
    """``(n0, n_l)`` with ``1 <= n_l <= n0``: halving and non-halving levels."""
    n0 = draw(st.integers(1, 400))
    n = draw(st.one_of(st.integers(1, n0), st.just(-(-n0 // 2)), st.just(-(-n0 // 4))))
    return n0, n


def test_coarse_pixel_centre_is_the_centre_of_its_footprint() -> None:
    assert level_pixel_to_data(1.0) == (1.0, 0.0)
    assert level_pixel_to_data(2.0) == (2.0, 0.5)
    assert level_pixel_to_data(4.0) == (4.0, 1.5)
    # level-2 pixel 1 of a 4x pyramid covers level-0 pixels 4..7: centre 5.5
    scale, offset = level_pixel_to_data(level_factor(64, 16))
    assert 1 * scale + offset == 5.5


def test_z3_on_a_2x_level_is_plane_1() -> None:
    # level-1 plane 1 covers level-0 planes 2 and 3 (napari: round(3 / 2) = 2)
    assert plane_at_level(3, 8, 4) == 1
    assert [plane_at_level(z, 8, 4) for z in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert plane_at_level(-3, 8, 4) == 0
    assert plane_at_level(99, 8, 4) == 3


@settings(max_examples=300, deadline=None)
@given(sizes=axis_sizes(), data=st.data())
def test_plane_at_level_contains_the_level0_plane(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    n0, n = sizes
    i0 = data.draw(st.integers(0, n0 - 1))
    k = plane_at_level(i0, n0, n)
    f = Fraction(n0, n)
    assert 0 <= k < n
    # the level-0 plane's centre (edge coordinate i0 + 1/2) lies in plane k's footprint
    assert k * f <= i0 + Fraction(1, 2) < (k + 1) * f
    # and the float inverse used for cursor lookups agrees (away from exact ties)
    if (i0 + Fraction(1, 2)) / f != math.floor((i0 + Fraction(1, 2)) / f):
        assert data_to_level_index(float(i0), float(f)) == k


@settings(max_examples=300, deadline=None)
@given(sizes=axis_sizes(), data=st.data())
def test_window_at_level_is_exactly_the_overlapping_planes(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    n0, n = sizes
    start0 = data.draw(st.integers(0, n0 - 1))
    stop0 = data.draw(st.integers(start0 + 1, n0))
    start, stop = window_at_level((start0, stop0), n0, n)
    f = Fraction(n0, n)

    def overlaps(k: int) -> bool:
        return k * f < stop0 and (k + 1) * f > start0

    assert 0 <= start < stop <= n
    assert [k for k in range(n) if overlaps(k)] == list(range(start, stop))
    # a one-plane window holds the plane that contains it
    if stop0 == start0 + 1:
        assert start <= plane_at_level(start0, n0, n) < stop


def test_window_at_level_refuses_empty_windows() -> None:
    with pytest.raises(ValueError, match="empty"):
        window_at_level((3, 3), 8, 4)
    with pytest.raises(ValueError, match="positive"):
        plane_at_level(0, 0, 4)


@settings(max_examples=200, deadline=None)
@given(sizes=axis_sizes(), data=st.data())
def test_data_to_level_index_inverts_level_pixel_to_data(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    n0, n = sizes
    f = level_factor(n0, n)
    scale, offset = level_pixel_to_data(f)
    i = data.draw(st.integers(0, n - 1))
    centre = i * scale + offset
    assert data_to_level_index(centre, f) == i
    # every level-0 data coordinate of the footprint [i f - 0.5, (i + 1) f - 0.5) maps to i
    frac = data.draw(st.floats(0.001, 0.999))
    assert data_to_level_index(i * f - 0.5 + frac * f, f) == i
    assert data_to_level_index(centre, 1.0) == pixel_containing(centre)


def test_pixel_containing_uses_half_open_cells() -> None:
    assert [pixel_containing(v) for v in (-0.5, -0.49, 0.0, 0.49, 0.5, 1.5)] == [0, 0, 0, 0, 1, 2]
    assert pixel_containing(-0.51) == -1
