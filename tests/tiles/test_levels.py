"""Level choice: brute-force agreement, monotonicity in zoom, locked levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilescope.tiles.levels import (
    compute_multiscale_level,
    compute_multiscale_level_and_corners,
    downsample_factors_from_shapes,
    ideal_level,
    level_and_corners_for_view,
    view_bbox_int,
)


def brute_force_level(
    requested: list[float], threshold: list[float], factors: list[list[float]]
) -> int:
    """The definition, spelled out axis by axis and level by level.

    An axis "matters" when the requested extent is wider than the canvas and the
    pyramid downsamples it at some level.  The chosen level is the coarsest one
    showing more than one data pixel per screen pixel on every axis that
    matters; level 0 when no axis matters.
    """
    ndim = len(requested)
    matters = [
        requested[d] > threshold[d] and any(row[d] > 1 for row in factors) for d in range(ndim)
    ]
    if not any(matters):
        return 0
    best = 0
    for level, row in enumerate(factors):
        pixels_per_screen_pixel = [requested[d] / row[d] / threshold[d] for d in range(ndim)]
        if all(pixels_per_screen_pixel[d] > 1 for d in range(ndim) if matters[d]):
            best = level
    return best


@st.composite
def pyramids(draw: st.DrawFn, ndim: int = 2) -> list[list[float]]:
    """Increasing downsample factors, row 0 all ones (some axes maybe never downsampled)."""
    nlevels = draw(st.integers(1, 6))
    rows = [[1.0] * ndim]
    for _ in range(nlevels - 1):
        prev = rows[-1]
        rows.append(
            [prev[d] * draw(st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.0])) for d in range(ndim)]
        )
    return rows


@settings(max_examples=120, deadline=None)
@given(
    factors=pyramids(),
    threshold=st.lists(st.integers(1, 4000), min_size=2, max_size=2),
    data=st.data(),
)
def test_level_equals_brute_force(
    factors: list[list[float]], threshold: list[int], data: st.DataObject
) -> None:
    # Half the axes sit exactly on a level's boundary (one data pixel per screen pixel),
    # where the strict ">" of the definition decides.
    requested = [
        data.draw(
            st.one_of(
                st.floats(1, 1e6),
                st.sampled_from([threshold[d] * row[d] for row in factors]),
            )
        )
        for d in range(2)
    ]
    got = compute_multiscale_level(np.array(requested), np.array(threshold), np.array(factors))
    assert got == brute_force_level(requested, [float(t) for t in threshold], factors)


@settings(max_examples=80, deadline=None)
@given(
    nlevels=st.integers(1, 8),
    base=st.sampled_from([2.0, 3.0, 1.5]),
    canvas=st.tuples(st.integers(50, 2000), st.integers(50, 2000)),
    center=st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)),
    zooms=st.lists(st.floats(1e-3, 1e2), min_size=2, max_size=6),
)
def test_ideal_level_monotone_in_zoom(
    nlevels: int,
    base: float,
    canvas: tuple[int, int],
    center: tuple[float, float],
    zooms: list[float],
) -> None:
    """Zooming out (more data per screen pixel) never picks a finer level."""
    factors = np.array([[base**lvl, base**lvl] for lvl in range(nlevels)])
    levels = []
    for zoom in sorted(zooms, reverse=True):  # decreasing zoom = zooming out
        half = np.array(canvas, dtype=float) / zoom / 2
        lo, hi = np.array(center) - half, np.array(center) + half
        levels.append(ideal_level(lo, hi, canvas, factors))
    assert levels == sorted(levels)


@settings(max_examples=100, deadline=None)
@given(
    factors=pyramids(),
    canvas=st.tuples(st.integers(1, 3000), st.integers(1, 3000)),
    data=st.data(),
)
def test_ideal_level_is_napari_rule_on_rounded_bbox(
    factors: list[list[float]], canvas: tuple[int, int], data: st.DataObject
) -> None:
    # Some views start on a whole pixel and span exactly one data pixel per screen
    # pixel at some level: the boundary where the strict ">" decides.
    start = st.one_of(st.floats(-1e4, 1e4), st.integers(-10_000, 10_000))
    lo = [data.draw(start) for _ in range(2)]
    size = [
        data.draw(
            st.one_of(st.floats(0, 1e5), st.sampled_from([canvas[d] * r[d] for r in factors]))
        )
        for d in range(2)
    ]
    hi = (lo[0] + size[0], lo[1] + size[1])
    got = ideal_level(lo, hi, canvas, factors)
    requested = [
        float(math.ceil(hi[d]) - math.floor(lo[d])) for d in range(2)
    ]  # napari rounds the bbox outward
    assert got == brute_force_level(requested, [float(c) for c in canvas], factors)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        pytest.param((4096, 4096), 1, id="2x-pixels-level1"),
        pytest.param((4097, 4097), 2, id="just-over-4x"),
        pytest.param((2048, 2048), 0, id="exactly-1-per-screen-px-at-level1-is-level0"),
        pytest.param((500, 500), 0, id="zoomed-in"),
        pytest.param((100000, 100000), 3, id="zoomed-far-out-coarsest"),
        pytest.param((100000, 100), 3, id="one-axis-active"),
    ],
)
def test_level_examples(requested: tuple[int, int], expected: int) -> None:
    factors = [[1, 1], [2, 2], [4, 4], [8, 8]]
    assert compute_multiscale_level(requested, (1024, 1024), factors) == expected


def test_corners_are_rounded_outward_at_level() -> None:
    level, corners = compute_multiscale_level_and_corners(
        np.array([[3, 5], [4103, 4107]]), (1024, 1024), [[1, 1], [2, 2], [4, 4]]
    )
    assert level == 2
    np.testing.assert_array_equal(corners, [[0, 1], [1026, 1027]])
    assert corners.dtype == np.int64


def test_locked_level_wins_and_is_validated() -> None:
    factors = [[1, 1], [2, 2], [4, 4]]
    assert ideal_level((0, 0), (10, 10), (100, 100), factors, locked_level=2) == 2
    with pytest.raises(ValueError, match="out of range"):
        ideal_level((0, 0), (10, 10), (100, 100), factors, locked_level=3)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(np.ones(3), id="1d"),
        pytest.param(np.ones((0, 2)), id="no-levels"),
    ],
)
def test_bad_factors_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="downsample_factors"):
        compute_multiscale_level((10, 10), (5, 5), bad)


def test_downsample_factors_from_shapes_matches_napari_formula() -> None:
    shapes = [(1000, 3000), (500, 1500), (250, 750)]
    np.testing.assert_allclose(downsample_factors_from_shapes(shapes), [[1, 1], [2, 2], [4, 4]])
    with pytest.raises(ValueError, match="positive"):
        downsample_factors_from_shapes([(10, 0)])


def test_view_bbox_int_orders_and_rounds() -> None:
    np.testing.assert_array_equal(view_bbox_int((5.5, -1.2), (2.1, 3.0)), [[2, -2], [6, 3]])


def test_level_and_corners_for_view_locked_and_outside() -> None:
    shapes = [(4000, 3000), (2000, 1500), (1000, 750)]
    level, corners = level_and_corners_for_view(
        (0, 0), (10, 10), (500, 500), shapes, locked_level=1
    ) or (None, None)
    assert level == 1
    np.testing.assert_array_equal(corners, [[0, 0], [1999, 1499]])
    # A view entirely outside the data: no previous state -> None; else the previous one.
    assert level_and_corners_for_view((-900, -900), (-500, -500), (100, 100), shapes) is None
    prev = (2, np.array([[0, 0], [999, 749]]))
    got = level_and_corners_for_view((-900, -900), (-500, -500), (100, 100), shapes, previous=prev)
    assert got is prev


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    ndim=st.integers(1, 3),
)
def test_ideal_level_fast_path_equals_numpy_path(data: st.DataObject, ndim: int) -> None:
    factors = data.draw(pyramids(ndim))
    lo = data.draw(st.lists(st.floats(-1e5, 1e5), min_size=ndim, max_size=ndim))
    size = data.draw(st.lists(st.floats(0, 1e5), min_size=ndim, max_size=ndim))
    canvas = data.draw(st.lists(st.integers(1, 4000), min_size=ndim, max_size=ndim))
    hi = [a + b for a, b in zip(lo, size, strict=True)]
    bbox = view_bbox_int(lo, hi)
    expected, _ = compute_multiscale_level_and_corners(bbox, canvas, factors)
    assert ideal_level(lo, hi, canvas, factors) == expected
    assert ideal_level(lo, hi, canvas, tuple(tuple(r) for r in factors)) == expected
    assert ideal_level(lo, hi, canvas, np.array(factors)) == expected
