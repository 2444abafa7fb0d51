"""Scrubbing a z-stack: cancellation on slice change, a warm neighbourhood, a nearby slice
standing in, play at the requested rate, memory within the cache budget.

The stack is a gated fake: reads block on an Event the test controls, and every read
records its plane, so a test knows exactly which planes were read when. Play uses a fake
clock. No sleeps: waits are on Events and conditions with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from gated_array import WAIT, GatedArray
from tilescope.loading.config import OctreeConfig, set_config
from tilescope.loading.delay_queue import FakeClock
from tilescope.models.playback import Player
from tilescope.render.plan import TILE_PLACEHOLDER
from tilescope.tiles.grid import TileKey
from tilescope.viewer import Viewer

pytestmark = pytest.mark.gl

NZ = 16


class GatedStack(GatedArray):
    """A (z, 128, 128) stack of constant planes ``z / (NZ - 1)``; reads block on ``gate``."""

    def __init__(self, nz: int = NZ) -> None:
        super().__init__(
            np.stack([np.full((128, 128), z / (nz - 1), np.float32) for z in range(nz)])
        )


def _config(**prefetch: Any) -> OctreeConfig:
    return OctreeConfig.from_dict(
        {
            "loader_defaults": {"delay_queue_ms": 0, "num_workers": 2, "auto_sync_ms": 0},
            "octree": {
                "loaders": {"0": {"delay_queue_ms": 0}},
                "tile_size": 64,
                "max_root_size": 64,
                "margin_tiles": 0,
            },
            # a small budget: the neighbourhood is prefetched at the root level (64² tiles);
            # at rest as soon as a step is drawn: the neighbourhood is both sides, at once
            # (the motion and the slices ahead of it are tested with a fake clock in
            # tests/render/test_slice_prefetcher.py)
            "prefetch": {
                "idle_after_s": 0,
                "radius": 2,
                "direction_steps": 2,
                "num_workers": 1,
                "budget_bytes": 200_000,
                **prefetch,
            },
        }
    )


def _viewer(config: OctreeConfig) -> Viewer:
    previous = set_config(config)
    try:
        return Viewer(show=False, size=(128, 128))
    finally:
        set_config(previous)


@pytest.fixture
def viewer() -> Iterator[Viewer]:
    v = _viewer(_config())
    yield v
    v.close()


def _prefetch_idle(viewer: Viewer) -> None:
    """Wait (bounded) until the loader has no prefetch queued or running."""
    deadline = time.monotonic() + WAIT
    while True:
        stats = viewer.loader.stats
        if stats.prefetch_queued == 0 and stats.prefetch_running == 0:
            return
        assert time.monotonic() < deadline, f"prefetch never finished: {stats}"
        viewer.wait_until_idle(0.01)


def _centre(img: np.ndarray) -> int:
    return int(img[img.shape[0] // 2, img.shape[1] // 2, 0])


def _gray(z: int) -> int:
    return round(z / (NZ - 1) * 255)


def _root_key(viewer: Viewer, z: int) -> TileKey:
    (layer,) = viewer.layers
    return TileKey(layer.layer_id, layer.data_version, (z,), 1, 0, 0, (1, 2))


def _settle_at(viewer: Viewer, z: int) -> None:
    viewer.dims.set_current_step(0, z)
    assert viewer.wait_until_idle(WAIT)
    _prefetch_idle(viewer)


def test_a_slice_change_cancels_the_old_slice_and_its_neighbourhood(viewer: Viewer) -> None:
    arr = GatedStack()
    viewer.add_image(arr, contrast_limits=(0, 1))
    _settle_at(viewer, 8)  # warm: 6..10 (and what the first frames at 0 and 7 loaded)
    assert arr.reads_of(3) == arr.reads_of(4) == 0
    arr.gate.clear()
    viewer.dims.set_current_step(0, 3)
    arr.wait_for(lambda: arr.started.count(3) == 2)  # both visible workers blocked on z=3
    viewer.dims.set_current_step(0, 12)  # before any z=3 tile finished
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)
    _prefetch_idle(viewer)
    assert arr.reads_of(3) == 2  # the queued z=3 tiles never started
    assert arr.reads_of(4) == 0  # nor z=3's neighbourhood
    (layer,) = viewer.layers
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.slice0 == (12,)
    assert frame.settled
    viewer.show_placeholders = False
    assert _centre(viewer.screenshot()) == pytest.approx(_gray(12), abs=1)
    # z=12's neighbourhood was prefetched and stays
    for z in (10, 11, 13, 14):
        assert arr.reads_of(z) > 0
        assert viewer.loader.cache.is_pinned(_root_key(viewer, z))


def test_a_slider_step_asks_for_its_tiles_at_once_and_draws_them_in_the_next_task(
    viewer: Viewer,
) -> None:
    """The step's own task plans (its loads start before ``set_current_step`` returns); the
    frame (draws, uploads, the backend's apply) is the posted flush's, a task of its own, so
    neither holds the main thread for both."""
    arr = GatedStack()
    viewer.add_image(arr, contrast_limits=(0, 1))
    _settle_at(viewer, 8)
    applied: list[Any] = []
    real_apply = viewer.backend.apply
    viewer.backend.apply = lambda plan: (applied.append(plan), real_apply(plan))  # type: ignore[method-assign]
    arr.gate.clear()
    viewer.dims.set_current_step(0, 3)  # cold: z=3 is outside the warm neighbourhood
    arr.wait_for(lambda: arr.started.count(3) >= 1)  # asked for within the step's task
    assert applied == []  # not drawn in it
    viewer.hop.drain()  # the posted flush
    assert len(applied) == 1
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)
    frame = viewer.layer_frame(viewer.layers[0])
    assert frame is not None
    assert frame.slice0 == (3,)
    assert frame.settled


def test_the_warm_neighbourhood_shows_a_step_at_once_without_a_read(viewer: Viewer) -> None:
    arr = GatedStack()
    viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.show_placeholders = False
    _settle_at(viewer, 8)
    cache = viewer.loader.cache
    for z in (6, 7, 9, 10):
        assert cache.is_pinned(_root_key(viewer, z))
    # unpinned tiles flooding the cache never push the neighbourhood out
    for i in range(4 * cache.budget_bytes // (64 * 64 * 4)):
        cache.put(("flood", i), np.zeros((64, 64), np.float32))
    for z in (6, 7, 9, 10):
        assert cache.is_pinned(_root_key(viewer, z))
    arr.gate.clear()
    finished = arr.finished
    viewer.dims.set_current_step(0, 9)
    shot = viewer.screenshot(wait=False)  # the same frame: no read has finished
    assert arr.finished == finished
    assert _centre(shot) == pytest.approx(_gray(9), abs=1)
    (layer,) = viewer.layers
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.draw is not None
    assert frame.slice0 == (9,)
    assert frame.stand_in is None
    assert {q.state for q in frame.draw.quads} == {TILE_PLACEHOLDER}  # coarse: it refines
    assert viewer.step_shown()
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.settled
    assert frame.resident == frame.wanted


def test_a_step_into_the_warm_neighbourhood_plans_the_layer_once(viewer: Viewer) -> None:
    """The step's cached tiles are asked for before its uploads and drawn in the same pass:
    no second planning pass, no search for a nearby slice to stand in."""
    arr = GatedStack()
    viewer.add_image(arr, contrast_limits=(0, 1))
    _settle_at(viewer, 8)
    assert viewer.loader.cache.is_pinned(_root_key(viewer, 9))
    tiles = viewer._tiles
    calls: dict[str, int] = {"_resolve": 0, "_stand_in": 0}

    def counted(name: str) -> Any:
        real = getattr(tiles, name)

        def call(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        return call

    for name in calls:
        setattr(tiles, name, counted(name))
    viewer.show_placeholders = False
    arr.gate.clear()  # nothing may be read: the step is answered from RAM
    finished = arr.finished
    viewer.dims.set_current_step(0, 9)
    assert calls == {"_resolve": 1, "_stand_in": 0}
    shot = viewer.screenshot(wait=False)
    assert arr.finished == finished
    assert _centre(shot) == pytest.approx(_gray(9), abs=1)
    frame = viewer.layer_frame(viewer.layers[0])
    assert frame is not None
    assert frame.slice0 == (9,)
    assert frame.stand_in is None  # its own (coarse) tiles
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)


def test_a_cold_slice_shows_the_nearest_resident_slice_marked_as_placeholder(
    viewer: Viewer,
) -> None:
    arr = GatedStack()
    layer = viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.show_placeholders = False
    _settle_at(viewer, 8)
    arr.gate.clear()
    viewer.dims.set_current_step(0, 15)  # far from the warm neighbourhood
    shot = viewer.screenshot(wait=False)
    assert _centre(shot) == pytest.approx(_gray(8), abs=1)  # slice 8 stands in
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.draw is not None
    assert frame.stand_in == (0, (8,))
    assert frame.draw.quads
    assert {q.state for q in frame.draw.quads} == {TILE_PLACEHOLDER}
    assert "nearby slice stands in" in str(viewer.layer_status(layer))
    assert not viewer.step_shown()  # play would wait for slice 15's own data
    arr.gate.set()
    assert _centre(viewer.screenshot()) == pytest.approx(_gray(15), abs=1)
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.stand_in is None


def test_the_stand_in_follows_what_became_resident(viewer: Viewer) -> None:
    """The resident slices are grouped once per atlas change (the search walks every key):
    a slice that became resident since is found the next time one stands in."""
    arr = GatedStack()
    layer = viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.show_placeholders = False
    _settle_at(viewer, 8)
    arr.gate.clear()
    viewer.dims.set_current_step(0, 15)
    viewer.screenshot(wait=False)
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.stand_in == (0, (8,))
    arr.gate.set()
    _settle_at(viewer, 15)
    arr.gate.clear()
    # cold (outside both neighbourhoods), nearer 15 than 8: 15 stands in, though the first
    # search grouped the atlas when only 8 and its first neighbours were drawn
    viewer.dims.set_current_step(0, 12)
    shot = viewer.screenshot(wait=False)
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.stand_in == (0, (15,))
    assert _centre(shot) == pytest.approx(_gray(15), abs=1)
    arr.gate.set()


def test_no_stand_in_when_switched_off() -> None:
    v = _viewer(_config(stand_in=False))
    try:
        arr = GatedStack()
        layer = v.add_image(arr, contrast_limits=(0, 1))
        _settle_at(v, 8)
        arr.gate.clear()
        v.dims.set_current_step(0, 15)
        assert _centre(v.screenshot(wait=False)) == 0
        frame = v.layer_frame(layer)
        assert frame is not None
        assert frame.stand_in is None
        arr.gate.set()
    finally:
        arr.gate.set()
        v.close()


def test_play_shows_every_step_at_the_rate_and_holds_a_late_one(viewer: Viewer) -> None:
    arr = GatedStack()
    layer = viewer.add_image(arr, contrast_limits=(0, 1))
    _settle_at(viewer, 11)  # warm: 9..13
    clock = FakeClock()
    player = Player(viewer.dims, viewer.step_shown, clock)
    viewer.player = player
    arr.gate.clear()
    player.play(0, fps=10)
    shown = []
    for _ in range(2):  # 12 and 13 are warm: one step per 0.1 s with every read blocked
        clock.advance(0.1)
        assert player.tick()
        shown.append(_centre(viewer.screenshot(wait=False)))
    assert shown == [pytest.approx(_gray(z), abs=1) for z in (12, 13)]
    # 14 is not warm (prefetch waits behind the blocked visible loads): a nearby slice
    # stands in, so the player holds 14 instead of skipping it
    clock.advance(0.1)
    assert player.tick()
    assert viewer.dims.current_step[0] == 14
    assert player.achieved_fps == pytest.approx(10.0)
    for _ in range(5):
        clock.advance(0.1)
        assert not player.tick()
    assert player.held == 5
    assert viewer.dims.current_step[0] == 14
    note = player.note()
    assert note is not None
    assert "of 10 fps" in note
    viewer.screenshot(wait=False)
    assert "of 10 fps" in str(viewer.layer_status(layer))
    arr.gate.set()
    viewer.screenshot()
    clock.advance(0.1)
    assert player.tick()
    assert viewer.dims.current_step[0] == 15  # no step skipped
    player.stop()


def test_memory_stays_within_a_small_cache_budget() -> None:
    cfg = _config().to_dict()
    cfg["cache"] = {"budget_bytes": 300_000}
    v = _viewer(OctreeConfig.from_dict(cfg))
    try:
        arr = GatedStack()
        v.add_image(arr, contrast_limits=(0, 1))
        cache = v.loader.cache
        peak = 0
        for z in [*range(NZ), *range(NZ - 1, -1, -3)]:
            v.dims.set_current_step(0, z)
            assert v.wait_until_idle(WAIT)
            stats = cache.stats
            peak = max(peak, stats.bytes)
            assert stats.pinned_bytes <= cache.budget_bytes // 2
        assert 0 < peak <= cache.budget_bytes
        assert cache.stats.evictions > 0  # the scrub needed more than the budget holds
    finally:
        v.close()


def test_at_rest_the_side_behind_the_motion_is_fetched_too() -> None:
    # a real clock: the viewer wakes itself when the motion comes to rest (no frame needed)
    v = _viewer(_config(idle_after_s=0.05))
    try:
        arr = GatedStack()
        v.add_image(arr, contrast_limits=(0, 1))
        v.dims.set_current_step(0, 12)  # moving up: 10 and 11 lie behind the motion
        assert v.wait_until_idle(WAIT)
        # no frame is asked for from here on: only the viewer's own wake-up at rest posts
        # one (headless, the main-thread queue is run here)
        deadline = time.monotonic() + WAIT
        while not (arr.reads_of(10) and arr.reads_of(11)):
            assert time.monotonic() < deadline, "the side behind was never fetched"
            v.hop.wait_posted(0.1)
            v.hop.drain()
        _prefetch_idle(v)
        for z in (10, 11, 13, 14):
            assert v.loader.cache.is_pinned(_root_key(v, z))
    finally:
        v.close()


def test_viewer_play_and_stop(viewer: Viewer) -> None:
    viewer.add_image(np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError, match="every axis is displayed"):
        viewer.play()
    viewer.layers.clear()
    viewer.add_image(GatedStack(), contrast_limits=(0, 1))
    player = viewer.play(fps=5)
    assert player is viewer.player
    assert (player.playing_axis, player.fps) == (0, 5)
    viewer.stop()
    assert player.playing_axis is None


def test_a_thick_slice_steps_at_once_from_its_prefetched_neighbours(viewer: Viewer) -> None:
    """A max projection over three planes: at rest the thick slices around it are
    prefetched (projected in the worker), so a step shows its projection without a read."""
    arr = GatedStack()
    layer = viewer.add_image(arr, contrast_limits=(0, 1), projection_mode="max")
    viewer.show_placeholders = False
    viewer.dims.update(margin_left=(1.0, 0.0, 0.0), margin_right=(1.0, 0.0, 0.0))
    _settle_at(viewer, 8)
    assert _centre(viewer.screenshot()) == pytest.approx(_gray(9), abs=1)  # max of 7..9
    arr.gate.clear()
    finished = arr.finished
    viewer.dims.set_current_step(0, 9)
    shot = viewer.screenshot(wait=False)  # the same frame: no read has finished
    assert arr.finished == finished
    assert _centre(shot) == pytest.approx(_gray(10), abs=1)  # max of 8..10
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.slice0 == (9,)
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)
