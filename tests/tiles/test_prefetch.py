"""Scrubbing math: slider motion (fake clock), prefetch slices, level choices, stand-ins."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tilescope.loading.delay_queue import FakeClock
from tilescope.slicing.projection import point_index, thick_bounds, thick_window
from tilescope.tiles.prefetch import (
    Motion,
    SliderMotion,
    ThickSlice,
    level_for_speed,
    level_within_budget,
    nearest_slice,
    prefetch_slices,
    steps_ahead,
)


def test_motion_speed_and_direction_from_steps_at_20_hz() -> None:
    clock = FakeClock(10.0)
    motion = SliderMotion(clock, window_s=0.5, idle_after_s=0.25)
    assert motion.motion() == Motion()
    motion.update((5, 30))
    assert not motion.motion().moving  # the first slice seen is no step
    for z in range(31, 41):
        clock.advance(0.05)
        motion.update((5, z))
    m = motion.motion()
    assert (m.axis, m.direction) == (1, 1)
    assert m.speed == pytest.approx(20.0)
    motion.update((5, 40))  # the same slice again is no step
    assert motion.motion().speed == pytest.approx(20.0)
    clock.advance(0.3)
    assert motion.motion() == Motion()  # at rest after idle_after_s


def test_motion_backwards_and_a_single_step() -> None:
    clock = FakeClock()
    motion = SliderMotion(clock, window_s=0.5)
    motion.update((10,))
    clock.advance(1.0)
    motion.update((9,))
    m = motion.motion()
    assert (m.axis, m.direction) == (0, -1)
    assert m.speed == pytest.approx(2.0)  # one step per window
    assert not m.measured  # ... a guess
    for z in (8, 6, 4):  # 1 + 2 + 2 steps in 0.3 s after the one at 9
        clock.advance(0.1)
        motion.update((z,))
    assert motion.motion().speed == pytest.approx(5 / 0.3)
    assert motion.motion().measured
    assert motion.motion().direction == -1


def test_prefetch_slices_ahead_and_neighbourhood() -> None:
    moving = Motion(axis=0, direction=1, speed=20.0)
    ahead, near = prefetch_slices((10, 3), (64, 5), moving, radius=2, ahead=3)
    assert ahead == ((11, 3), (12, 3), (13, 3))
    assert near == ((10, 4), (10, 2), (10, 1))  # nothing behind the motion: just shown
    ahead, near = prefetch_slices((1, 0), (64, 5), Motion(), radius=2, ahead=3)
    assert ahead == ()
    assert near == ((2, 0), (0, 0), (1, 1), (3, 0), (1, 2))
    back = Motion(axis=0, direction=-1, speed=5.0)
    ahead, near = prefetch_slices((1,), (64,), back, radius=1, ahead=4)
    assert ahead == ((0,),)  # the data ends
    assert near == ()
    ahead, near = prefetch_slices((5,), (64,), back, radius=2, ahead=1)
    assert ahead == ((4,),)
    assert near == ((3,),)


@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=3).flatmap(
        lambda sizes: st.tuples(st.just(sizes), st.tuples(*(st.integers(0, n - 1) for n in sizes)))
    ),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from([-1, 0, 1]),
)
def test_prefetch_slices_are_in_range_unique_and_near(
    case: tuple[list[int], tuple[int, ...]], radius: int, n_ahead: int, direction: int
) -> None:
    sizes, current = case
    motion = Motion(0 if direction else None, direction, 10.0 if direction else 0.0)
    ahead, near = prefetch_slices(current, sizes, motion, radius, n_ahead)
    every = (*ahead, *near)
    assert len(set(every)) == len(every)
    assert current not in every
    for s in every:
        assert all(0 <= i < n for i, n in zip(s, sizes, strict=True))
        assert sum(a != b for a, b in zip(s, current, strict=True)) == 1  # one axis moved
    dists = [max(abs(a - b) for a, b in zip(s, current, strict=True)) for s in near]
    assert dists == sorted(dists)
    assert all(d <= radius for d in dists)
    assert len(ahead) <= n_ahead
    expected_near = sum(
        sum(0 <= current[j] + d < sizes[j] for d in (*range(-radius, 0), *range(1, radius + 1)))
        for j in range(len(sizes))
    )
    if not direction:
        assert len(near) == expected_near
    else:  # nothing behind the motion on its axis
        for s in near:
            moved = s[0] - current[0]
            assert moved == 0 or (moved > 0) == (direction > 0)


def test_level_within_budget_picks_the_finest_that_fits() -> None:
    view = {2: 4_000_000, 3: 1_000_000, 5: 65_536}
    assert level_within_budget(view, 4, 16_000_000) == 2
    assert level_within_budget(view, 5, 16_000_000) == 3
    assert level_within_budget(view, 500, 16_000_000) == 5  # the coarsest when none fits
    assert level_within_budget({}, 4, 1) is None


@given(
    st.dictionaries(st.integers(0, 8), st.integers(1, 10**8), min_size=1),
    st.integers(0, 20),
    st.integers(0, 10**9),
)
def test_level_within_budget_fits_unless_coarsest(
    view: dict[int, int], n: int, budget: int
) -> None:
    level = level_within_budget(view, n, budget)
    assert level in view
    if level != max(view):
        assert view[level] * max(n, 1) <= budget
    finer = [lvl for lvl in view if lvl < level]
    assert all(view[lvl] * max(n, 1) > budget for lvl in finer)


def test_level_for_speed_keeps_up_with_the_slider() -> None:
    tiles = {0: 64, 1: 16, 2: 4, 3: 1}
    assert level_for_speed(tiles, 0.05, 2, 0.0) == 0  # at rest: the finest
    assert level_for_speed(tiles, 0.05, 2, 20.0) == 3  # 50 ms per slice: one load per worker
    assert level_for_speed(tiles, 0.05, 2, 10.0) == 2  # 100 ms: two rounds of two
    assert level_for_speed(tiles, 0.01, 2, 4.0) == 1  # 250 ms: 32 rounds take 320
    assert level_for_speed(tiles, 1.0, 1, 20.0) == 3  # nothing keeps up: the coarsest
    assert level_for_speed({}, 0.05, 2, 1.0) is None


@given(
    st.dictionaries(st.integers(0, 8), st.integers(1, 1000), min_size=1),
    st.floats(0.001, 1.0),
    st.integers(1, 8),
    st.floats(0.1, 100.0),
)
def test_level_for_speed_is_the_finest_that_keeps_up(
    tiles: dict[int, int], load_s: float, workers: int, speed: float
) -> None:
    level = level_for_speed(tiles, load_s, workers, speed)
    assert level in tiles

    def keeps_up(lvl: int) -> bool:
        return math.ceil(tiles[lvl] / workers) * load_s <= 1 / speed

    if level != max(tiles):
        assert keeps_up(level)
    assert not any(keeps_up(lvl) for lvl in tiles if lvl < level)


def test_nearest_slice_in_level_0_planes() -> None:
    # 64 planes at level 0, 32 at level 1, 16 at level 2
    planes = [(64,), (32,), (16,)]
    current = [(20,), (10,), (5,)]
    # level 1 plane 12 covers level-0 planes 24-25 (centre 24.5): 4.5 away;
    # level 0 plane 17: 3 away; level 2 plane 5 is the current slice there
    found = nearest_slice(current, [(1, (12,)), (0, (17,)), (2, (5,))], planes)
    assert found == (0, (17,))
    assert nearest_slice(current, [(2, (5,))], planes) is None
    # a tie goes to the lower slice
    assert nearest_slice([(8,), (4,)], [(0, (10,)), (0, (6,))], [(16,), (8,)]) == (0, (6,))


def test_a_jump_is_no_motion() -> None:
    clock = FakeClock()
    motion = SliderMotion(clock, jump_steps=8)
    motion.update((62,))
    clock.advance(0.05)
    motion.update((63,))
    clock.advance(0.05)
    motion.update((0,))  # a player looping back, or a click far along the slider
    assert motion.motion() == Motion()
    for z in (1, 2):
        clock.advance(0.05)
        motion.update((z,))
    m = motion.motion()
    assert (m.direction, m.speed) == (1, pytest.approx(20.0))


def test_slices_ahead_of_a_looping_player_wrap_around() -> None:
    forward = Motion(axis=0, direction=1, speed=20.0)
    ahead, _ = prefetch_slices((62,), (64,), forward, radius=0, ahead=4, wrap=True)
    assert ahead == ((63,), (0,), (1,), (2,))
    ahead, _ = prefetch_slices((62,), (64,), forward, radius=0, ahead=4)
    assert ahead == ((63,),)
    ahead, _ = prefetch_slices((1,), (3,), forward, radius=0, ahead=9, wrap=True)
    assert ahead == ((2,), (0,))  # never the current slice again


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    frac=st.floats(0, 1, exclude_max=True),
    ml=st.floats(0, 6),
    mr=st.floats(0, 6),
    d=st.integers(-5, 5),
)
def test_a_thick_slices_neighbour_window_is_the_one_slicing_reads_there(
    n: int, frac: float, ml: float, mr: float, d: int
) -> None:
    """Window offsets around the index, shifted by d planes and clipped, equal the window
    slicing computes at the point d planes on (so prefetched thick tiles are the ones the
    frame asks for when the slider gets there)."""
    point = frac * n - 0.5 + 1e-6
    s0 = point_index(point, n)
    assume(s0 is not None and 0 <= s0 + d < n)
    assert s0 is not None
    lo, hi = thick_bounds(point, ml, mr)
    thick = ThickSlice("max", ((lo - s0, hi - s0),))
    expected = thick_window(point + d, ml, mr, n)
    assert expected is not None
    assert thick.windows_at((s0 + d,), (n,)) == (expected,)


def test_the_neighbourhood_level_also_keeps_within_a_tile_count() -> None:
    view_bytes = {0: 64 * 1000, 1: 16 * 1000, 2: 4 * 1000}
    view_tiles = {0: 64, 1: 16, 2: 4}
    assert level_within_budget(view_bytes, 4, 10**9) == 0  # bytes alone: the finest
    assert level_within_budget(view_bytes, 4, 10**9, view_tiles=view_tiles, max_tiles=128) == 1
    assert level_within_budget(view_bytes, 4, 10**9, view_tiles=view_tiles, max_tiles=8) == 2


@given(
    st.integers(0, 16),
    st.floats(0, 1e6, allow_nan=False) | st.just(math.inf),
    st.floats(0, 1e3, allow_nan=False) | st.just(math.inf),
)
def test_steps_ahead_cover_a_load_and_never_exceed_the_setting(
    max_steps: int, speed: float, load_s: float
) -> None:
    n = steps_ahead(max_steps, speed, load_s)
    assert 0 <= n <= max_steps
    if max_steps and (speed in (0, math.inf) or load_s in (0, math.inf)):
        assert n == max_steps  # nothing known: the setting
    elif max_steps:
        assert n >= 1
        # the farthest slice asked for is reached only after a load started now finished
        assert n == max_steps or n > speed * load_s
        # and the one before it before that: no slice asked for earlier than it must be
        assert n - 1 <= speed * load_s
