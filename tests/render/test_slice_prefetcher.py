"""SlicePrefetcher: which tiles of which slices each frame asks for, in what order, pinned.

No GL: a real ChunkLoader without a dispatch thread (its set_prefetch calls are recorded),
a FakeClock for the slider's motion.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig, PrefetchSettings
from tilescope.loading.delay_queue import FakeClock
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.render.prefetch import MAX_PLAN_TILES, SlicePrefetcher
from tilescope.tiles.intersection import ViewTiles, visible_tiles
from tilescope.tiles.prefetch import ThickSlice
from tilescope.tiles.source import TileSource

NZ = 32


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[LoadRequest]] = []

    def __call__(self, layer_id: int, requests: Any) -> None:
        self.calls.append(list(requests))


@pytest.fixture
def loader() -> Iterator[ChunkLoader]:
    ld = ChunkLoader(OctreeConfig(), cache=ChunkCache(10**7), dispatch_thread=False)
    yield ld
    ld.close()


def source() -> TileSource:
    # 32 planes of 256²: levels 256² (16 tiles of 64²), 128² (4), 64² (root, 1)
    stack = np.zeros((NZ, 256, 256), np.float32)
    return TileSource.create([stack], (1, 2), layer_id=1, tile_shape=64, max_root_size=64)


def full_view(src: TileSource) -> ViewTiles:
    return visible_tiles(src.grid, (0.0, 0.0), (255.0, 255.0), (256, 256))


def make(
    loader: ChunkLoader, clock: FakeClock, **settings: Any
) -> tuple[SlicePrefetcher, Recorder]:
    rec = Recorder()
    loader.set_prefetch = rec  # type: ignore[method-assign]
    return SlicePrefetcher(loader, PrefetchSettings(**settings), clock), rec


def summary(requests: list[LoadRequest]) -> list[tuple[int, int, bool]]:
    """(plane, level, pinned) per request, runs of one plane and level collapsed."""
    out: list[tuple[int, int, bool]] = []
    for r in requests:
        item = (r.key.slice[0], r.key.level, r.pinned)
        if not out or out[-1] != item:
            out.append(item)
    return out


def test_at_rest_the_neighbourhood_at_the_finest_level_that_fits(loader: ChunkLoader) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    assert view.level == 0
    # one slice at level 1: 4 tiles x 64² x 4 B = 64 KiB; 4 neighbours need 256 KiB
    prefetcher, rec = make(loader, clock, radius=2, budget_bytes=256 << 10)
    plan = prefetcher.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    assert plan is not None
    assert not plan.motion.moving
    assert plan.near_level == 1
    assert summary(rec.calls[-1]) == [(11, 1, True), (9, 1, True), (12, 1, True), (8, 1, True)]
    assert len(rec.calls[-1]) == 16
    # the same frame again asks nothing new
    prefetcher.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    assert len(rec.calls) == 1
    # a smaller budget: the coarsest level
    small, rec2 = make(loader, clock, radius=2, budget_bytes=1)
    plan = small.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    assert plan is not None
    assert plan.near_level == 2
    assert len(rec2.calls[-1]) == 4


def test_a_fast_slider_gets_the_slices_ahead_coarse_first(loader: ChunkLoader) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    prefetcher, rec = make(
        loader, clock, radius=1, budget_bytes=10**9, direction_steps=3, num_workers=2
    )
    for z in range(10, 16):  # 20 steps per second
        prefetcher.plan(src, (z,), view, coverage_levels=2, bytes_per_pixel=4)
        clock.advance(0.05)
    plan = prefetcher.last[1]
    assert plan.motion.direction == 1
    assert plan.motion.speed == pytest.approx(20.0)
    # at 20 Hz a 50 ms load started now is too late for the next slice, in time for the one
    # after: those two, not direction_steps' three
    assert plan.ahead == ((16,), (17,))
    assert plan.ahead_level == 2  # at 50 ms per load, only the root keeps up with 20 Hz
    assert plan.near_level == 2  # nor would a finer neighbourhood arrive before the slider
    assert summary(rec.calls[-1]) == [(16, 2, True), (17, 2, True)]
    # the slider stops: at rest after idle_after_s, the slices ahead are dropped
    clock.advance(1.0)
    prefetcher.plan(src, (15,), view, coverage_levels=2, bytes_per_pixel=4)
    assert prefetcher.last[1].ahead == ()
    assert {r.key.slice[0] for r in rec.calls[-1]} == {14, 16}  # both sides at rest


@pytest.mark.parametrize(
    ("load_s", "steps_per_s", "ahead"),
    [(0.05, 20, 2), (0.12, 20, 3), (1.0, 20, 5), (0.05, 4, 1), (0.3, 4, 2)],
)
def test_the_slices_ahead_are_those_reached_while_a_load_runs(
    loader: ChunkLoader, load_s: float, steps_per_s: float, ahead: int
) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    prefetcher, _ = make(loader, clock, radius=1, budget_bytes=10**9, direction_steps=5)
    loader.mean_load_s = lambda layer_id: load_s  # type: ignore[method-assign]
    for z in range(4, 10):
        prefetcher.plan(src, (z,), view, coverage_levels=2, bytes_per_pixel=4)
        clock.advance(1 / steps_per_s)
    plan = prefetcher.last[1]
    assert plan.motion.speed == pytest.approx(steps_per_s)
    # floor(speed x load) + 1 slices: up to the first reached after a load, at most 5
    assert plan.ahead == tuple((10 + i,) for i in range(ahead))


def test_a_slow_slider_gets_full_detail_ahead_after_the_coarse_level(
    loader: ChunkLoader,
) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    prefetcher, rec = make(
        loader, clock, radius=1, budget_bytes=128 << 10, direction_steps=2, num_workers=2
    )
    for z in (10, 11, 12):  # two steps per second: level 0 (8 rounds of 50 ms) keeps up
        prefetcher.plan(src, (z,), view, coverage_levels=2, bytes_per_pixel=4)
        clock.advance(0.5)
    plan = prefetcher.last[1]
    assert plan.motion.speed == pytest.approx(2.0)
    assert (plan.ahead_level, plan.near_level) == (0, 1)  # the budget holds level 1 only
    # one slice ahead: at two steps per second a 50 ms load started now is in time for the
    # next one (the next step asks for 14, still in time)
    assert summary(rec.calls[-1]) == [
        (13, 2, True),  # ahead: the root first, something to show at once
        (13, 1, True),  # then the neighbourhood's level (pinned like the neighbourhood)
        (13, 0, False),  # then the speed level's full detail
    ]


def test_a_player_s_rate_picks_the_level_and_the_slices_ahead_wrap(
    loader: ChunkLoader,
) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    prefetcher, _ = make(loader, clock, radius=0, direction_steps=3, num_workers=2)
    prefetcher.target_speed = lambda: 20.0  # playing at 20 fps, though held to 2 steps/s
    for z in (29, 30):
        prefetcher.plan(src, (z,), view, coverage_levels=2, bytes_per_pixel=4)
        clock.advance(0.5)
    plan = prefetcher.last[1]
    assert plan.motion.speed == pytest.approx(2.0)
    assert plan.ahead_level == 2  # chosen for 20 steps per second, not the 2 measured
    # a playing player loops; two ahead for 20 steps/s and 50 ms loads (one at the 2 steps/s
    # measured)
    assert plan.ahead == ((31,), (0,))


def test_nothing_for_2d_data_and_disabled(loader: ChunkLoader) -> None:
    clock = FakeClock()
    flat = TileSource.create(
        [np.zeros((256, 256), np.float32)], (0, 1), layer_id=1, tile_shape=64, max_root_size=64
    )
    prefetcher, rec = make(loader, clock)
    assert prefetcher.plan(flat, (), full_view(flat), 2, 4) is None
    off, rec_off = make(loader, clock, enabled=False)
    src = source()
    assert off.plan(src, (3,), full_view(src), 2, 4) is None
    assert rec.calls == []
    assert rec_off.calls == []


def test_while_the_camera_moves_the_neighbourhood_waits_for_the_view_to_settle(
    loader: ChunkLoader,
) -> None:
    clock = FakeClock()
    src = source()
    prefetcher, rec = make(loader, clock, radius=1)
    prefetcher.plan(src, (10,), full_view(src), coverage_levels=2, bytes_per_pixel=4)
    assert len(rec.calls) == 1
    assert prefetcher.idle_in() is None
    views = [visible_tiles(src.grid, (0.0, x), (127.0, x + 127.0), (128, 128)) for x in (0.0, 64.0)]
    for view in views:  # a drag: each frame a new view, the slider still
        clock.advance(0.05)
        prefetcher.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    assert len(rec.calls) == 1  # nothing re-planned for views passed through
    wait = prefetcher.idle_in()
    assert wait == pytest.approx(0.2)  # the owner is told when to ask again
    clock.advance(0.2)
    prefetcher.refresh(1)
    assert len(rec.calls) == 2  # settled: the last view's neighbourhood
    cols = {r.key.col for r in rec.calls[-1] if r.key.level == 0}
    assert cols == {1, 2}  # level-0 tiles of x 64..191 only
    assert prefetcher.idle_in() is None
    clock.advance(0.05)
    prefetcher.plan(src, (11,), views[-1], coverage_levels=2, bytes_per_pixel=4)
    assert len(rec.calls) == 3  # a slider step re-plans at once


def test_a_thick_slice_prefetches_the_thick_slices_around_it(loader: ChunkLoader) -> None:
    clock = FakeClock()
    src = source()
    prefetcher, rec = make(loader, clock, radius=1, budget_bytes=1)  # the root level only
    thick = ThickSlice("max", ((-1, 2),))  # planes z-1 .. z+1
    prefetcher.plan(src, (10,), full_view(src), 2, 4, thick)
    (requests,) = rec.calls
    keys = {(r.key.slice, r.key.window, r.key.projection) for r in requests}
    # the root level (2) halves nothing along z: slices 9 and 11, windows around them
    assert keys == {((9,), ((8, 11),), "max"), ((11,), ((10, 13),), "max")}
    prefetcher.plan(src, (0,), full_view(src), 2, 4, thick)  # at the edge: clipped
    windows = {r.key.window for r in rec.calls[-1]}
    assert windows == {((0, 3),)}


def test_one_plan_asks_for_a_bounded_number_of_tiles(loader: ChunkLoader) -> None:
    """A wide view of a fine level for every neighbour would be a thousand requests built on
    the main thread; a coarser level keeps each part of the plan within MAX_PLAN_TILES."""
    clock = FakeClock()
    stack = np.zeros((NZ, 1024, 1024), np.float32)  # level 0: 256 tiles of 64²
    src = TileSource.create([stack], (1, 2), layer_id=1, tile_shape=64, max_root_size=64)
    view = visible_tiles(src.grid, (0.0, 0.0), (1023.0, 1023.0), (1024, 1024))
    assert len(view.visible) == 256
    prefetcher, rec = make(loader, clock, radius=2, budget_bytes=1 << 30)
    plan = prefetcher.plan(src, (10,), view, coverage_levels=4, bytes_per_pixel=4)
    assert plan is not None
    assert plan.near_level == 2  # 16 tiles x 4 slices; level 1 would be 64 x 4
    assert len(rec.calls[-1]) <= MAX_PLAN_TILES


@pytest.mark.parametrize("warm", [False, True])
def test_a_slice_ahead_resident_at_the_neighbourhood_level_gets_no_coarser_tiles(
    loader: ChunkLoader, warm: bool
) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    # at rest: the neighbourhood (planes 7-13) at level 1 (4 tiles a slice)
    prefetcher, rec = make(loader, clock, radius=3, budget_bytes=384 << 10, direction_steps=1)
    prefetcher.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    warmed = [r.key for r in rec.calls[-1] if r.key.slice == (13,)]
    assert {k.level for k in warmed} == {1}
    if warm:  # the neighbourhood's loads of plane 13 arrived
        for key in warmed:
            loader.cache.put(key, np.zeros((64, 64), np.float32), pinned=True)
    for z in (11, 12):  # two steps per second
        clock.advance(0.5)
        prefetcher.plan(src, (z,), view, coverage_levels=2, bytes_per_pixel=4)
    plan = prefetcher.last[1]
    assert plan.motion.measured
    assert plan.ahead == ((13,),)
    assert plan.near_level == 1
    ahead_root = [r for r in rec.calls[-1] if r.key.slice == (13,) and r.key.level == 2]
    # plane 13 will be drawn from its level-1 tiles: its root tile would never be
    assert len(ahead_root) == (0 if warm else 1)


def test_a_first_step_asks_for_coarse_tiles_only(loader: ChunkLoader) -> None:
    clock = FakeClock()
    src = source()
    view = full_view(src)
    prefetcher, rec = make(loader, clock, radius=1, budget_bytes=10**9, direction_steps=3)
    prefetcher.plan(src, (10,), view, coverage_levels=2, bytes_per_pixel=4)
    clock.advance(2.0)
    prefetcher.plan(src, (11,), view, coverage_levels=2, bytes_per_pixel=4)
    plan = prefetcher.last[1]
    # one step: its speed is a guess; a drag would pass finer tiles before they arrived
    assert plan.motion.moving
    assert not plan.motion.measured
    assert plan.ahead == ((12,), (13,), (14,))  # direction_steps: the speed is unknown
    assert (plan.ahead_level, plan.near_level) == (2, 2)
    assert {r.key.level for r in rec.calls[-1]} == {2}
