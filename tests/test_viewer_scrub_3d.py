"""Scrubbing a time series of 3D volumes: the neighbourhood and the slices ahead prefetched,
never ahead of a visible read, shown at once, cancelled when no longer wanted, bounded.

The series is a gated fake: every read records its time point and may block on an Event the
test controls. The slider's motion uses a fake clock. No sleeps: waits are on conditions
with a timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from gated_array import WAIT, GatedArray
from tilescope.hop import MainThreadQueue
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import OctreeConfig, PrefetchSettings, set_config
from tilescope.loading.delay_queue import FakeClock
from tilescope.models.dims import Dims
from tilescope.models.layers import Image
from tilescope.slicing.prefetch import VolumeKey, VolumePrefetcher
from tilescope.slicing.requests import (
    ImageSliceRequest,
    build_slice_request,
    request_signature,
)
from tilescope.viewer import Viewer

NT = 12
VOLUME = (4, 16, 16)  # z, y, x of one time point
VOLUME_BYTES = int(np.prod(VOLUME)) * 4


class GatedSeries(GatedArray):
    """A (t, z, y, x) float32 series, time point ``t`` constant ``t / (NT - 1)``; reads
    block on ``gate`` (set by default) and can be made to fail (``fail``)."""

    def __init__(self) -> None:
        data = np.stack([np.full(VOLUME, t / (NT - 1), np.float32) for t in range(NT)])
        super().__init__(data, "time point")


def _settings(**over: Any) -> dict[str, Any]:
    # at rest as soon as a step is shown: the neighbourhood is both sides
    return {"idle_after_s": 0, "radius": 2, "direction_steps": 2, "num_workers": 1, **over}


def _viewer(
    prefetch: dict[str, Any] | None = None, cache: dict[str, Any] | None = None, **kwargs: Any
) -> Viewer:
    """A headless 3D viewer made with these ``prefetch`` settings (over :func:`_settings`),
    ``cache`` settings and Viewer keywords."""
    config: dict[str, Any] = {"prefetch": _settings(**(prefetch or {}))}
    if cache is not None:
        config["cache"] = cache
    previous = set_config(OctreeConfig.from_dict(config))
    try:
        return Viewer(show=False, size=(64, 64), ndisplay=3, **kwargs)
    finally:
        set_config(previous)


@pytest.fixture
def viewer() -> Iterator[Viewer]:
    v = _viewer()
    yield v
    v.close()


def _settle(viewer: Viewer) -> None:
    """Visible reads and every prefetch done (bounded waits)."""
    assert viewer.wait_until_idle(WAIT)
    assert viewer.volume_prefetch.slicer.wait_until_idle(WAIT)
    assert viewer.wait_until_idle(WAIT)


def _cached_times(viewer: Viewer, layer: Image) -> set[int]:
    """The time points of the layer's volumes in the RAM cache."""
    dims = viewer.model.dims.state
    out = set()
    for t in range(NT):
        point = (float(t), *dims.point[1:])
        request = build_slice_request(layer, replace(dims, point=point))
        assert isinstance(request, ImageSliceRequest)
        if VolumeKey(layer.layer_id, request_signature(request)) in viewer.loader.cache:
            out.add(t)
    return out


@pytest.mark.gl
def test_the_neighbourhood_is_prefetched_and_a_step_shows_at_once_without_a_read(
    viewer: Viewer,
) -> None:
    series = GatedSeries()
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    viewer.dims.set_current_step(0, 5)
    _settle(viewer)
    assert _cached_times(viewer, layer) >= {3, 4, 5, 6, 7}
    viewer.dims.set_current_step(0, 6)  # a prefetched neighbour: shown within this call
    assert viewer.layer_status(layer).state == "ready"
    response = viewer._responses[layer.layer_id]
    assert np.allclose(np.asarray(response.data), 6 / (NT - 1))
    assert series.reads_of(6) == 1  # prefetched once, never read again
    assert viewer.volume_prefetch.hits >= 1
    img = viewer.screenshot()
    assert img[..., :3].max() > 0  # the volume is drawn


@pytest.mark.gl
def test_scrubbing_back_shows_a_slice_already_shown_without_a_read(viewer: Viewer) -> None:
    series = GatedSeries()
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    for t in (0, 6):  # 6 is beyond the neighbourhood of 0
        viewer.dims.set_current_step(0, t)
        _settle(viewer)
    assert series.reads_of(0) == 1
    viewer.dims.set_current_step(0, 0)
    assert viewer.layer_status(layer).state == "ready"
    assert series.reads_of(0) == 1


@pytest.mark.gl
def test_a_prefetch_never_starts_while_a_visible_read_waits() -> None:
    viewer = _viewer(slice_workers=1)  # one: a superseded read still running holds it
    try:
        series = GatedSeries()
        layer = viewer.add_image(series, contrast_limits=(0, 1))
        _settle(viewer)  # the first slice (t = 5, mid-range) and its neighbours 3-7
        series.gate.clear()
        before = len(series.started)
        viewer.dims.set_current_step(0, 0)  # cold: its read starts and blocks (and maybe
        series.wait_for(lambda: 0 in series.started[before:])  # the prefetch of 1: allowed)
        viewer.dims.set_current_step(0, 10)  # its read waits for the worker
        assert viewer.slicer.waiting()
        assert viewer.volume_prefetch.planned(layer.layer_id)  # 8, 9, 11 wait too...
        viewer.hop.drain()
        assert viewer.volume_prefetch.slicer.pending() == ()  # ...none has started
        assert set(series.started[before:]) <= {0, 1}
        series.gate.set()
        _settle(viewer)
        after = series.started[before:]
        assert sorted(t for t in after if t not in (0, 1)) == [8, 9, 10, 11]
        assert all(after.index(10) < after.index(t) for t in (8, 9, 11))  # visible first
        assert viewer.layer_status(layer).state == "ready"
    finally:
        viewer.close()


@pytest.mark.gl
def test_a_step_onto_a_running_prefetch_waits_for_it_instead_of_reading_again(
    viewer: Viewer,
) -> None:
    series = GatedSeries()
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    _settle(viewer)  # t = 5 shown, 3-7 prefetched
    series.gate.clear()
    viewer.dims.set_current_step(0, 7)  # from the cache; its neighbour 8 is prefetched
    series.wait_for(lambda: 8 in series.started)
    viewer.dims.set_current_step(0, 8)  # onto the running prefetch
    status = viewer.layer_status(layer)
    assert status.state == "loading"
    assert "the slice shown before stands in" in status.message  # 7 is still on screen
    assert viewer.volume_prefetch.adopted == 1
    series.gate.set()
    _settle(viewer)
    assert series.reads_of(8) == 1
    assert viewer.layer_status(layer).state == "ready"
    assert np.allclose(np.asarray(viewer._responses[layer.layer_id].data), 8 / (NT - 1))


@pytest.mark.gl
def test_a_jump_cancels_the_old_neighbourhood(viewer: Viewer) -> None:
    series = GatedSeries()
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    _settle(viewer)  # t = 5 and 3-7
    series.gate.clear()
    viewer.dims.set_current_step(0, 0)  # its visible read blocks: 1 and 2 wait in the queue
    series.wait_for(lambda: 0 in series.started)
    old = {r.windows for r in viewer.volume_prefetch.planned(layer.layer_id)}
    assert old == {((t, t + 1),) for t in (1, 2)}  # 1 may be running (a visible read runs)
    viewer.dims.set_current_step(0, 10)  # the old neighbourhood is no longer wanted
    new = {r.windows for r in viewer.volume_prefetch.planned(layer.layer_id)}
    assert new == {((t, t + 1),) for t in (8, 9, 11)}
    series.gate.set()
    _settle(viewer)
    assert series.reads_of(2) == 0  # dropped from the queue
    assert series.reads_of(1) <= 1  # told to stop, if it had started


@pytest.mark.gl
def test_a_failed_prefetch_is_not_an_error_until_the_slider_gets_there(viewer: Viewer) -> None:
    series = GatedSeries()
    series.fail = {6}
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    _settle(viewer)  # t = 5, its neighbour 6 prefetched and failed quietly
    assert series.reads_of(6) == 1
    assert viewer.layer_status(layer).state == "ready"
    viewer.dims.set_current_step(0, 6)  # its own read: fails visibly
    _settle(viewer)
    status = viewer.layer_status(layer)
    assert status.state == "error"
    assert "time point 6 is unreadable" in status.message
    series.fail.clear()
    viewer.dims.set_current_step(0, 5)
    viewer.dims.set_current_step(0, 6)  # retried
    _settle(viewer)
    assert viewer.layer_status(layer).state == "ready"


@pytest.mark.gl
def test_a_long_scrub_stays_within_the_cache_budget() -> None:
    budget = 3 * VOLUME_BYTES + VOLUME_BYTES // 2
    viewer = _viewer(cache={"budget_bytes": budget})
    try:
        series = GatedSeries()
        layer = viewer.add_image(series, contrast_limits=(0, 1))
        for t in list(range(NT)) + list(range(NT - 1, -1, -1)):
            viewer.dims.set_current_step(0, t)
            _settle(viewer)
            assert viewer.loader.cache.stats.bytes <= budget
            assert np.allclose(np.asarray(viewer._responses[layer.layer_id].data), t / (NT - 1))
        assert viewer.loader.cache.stats.evictions > 0
    finally:
        viewer.close()


@pytest.mark.gl
def test_prefetch_switched_off_reads_only_what_is_shown() -> None:
    viewer = _viewer({"enabled": False})
    try:
        series = GatedSeries()
        viewer.add_image(series, contrast_limits=(0, 1))
        viewer.dims.set_current_step(0, 4)
        _settle(viewer)
        assert 4 in series.started  # and the first slice, 5, unless its read was dropped
        assert set(series.started) <= {4, 5}
    finally:
        viewer.close()


# ---- the plan, with a fake clock and no reads -------------------------------------------
def _plan_fixture(
    clock: FakeClock, **over: Any
) -> tuple[VolumePrefetcher, Image, Dims, list[ImageSliceRequest]]:
    started: list[ImageSliceRequest] = []
    busy = [True]  # a visible read pending: nothing starts, the queue is the plan

    def read_task(request: ImageSliceRequest) -> Callable[[Any], Any]:
        started.append(request)
        return lambda token: request(token)

    prefetcher = VolumePrefetcher(
        MainThreadQueue(),
        ChunkCache(1 << 30),
        PrefetchSettings(**(_settings(idle_after_s=0.5) | over)),
        visible_busy=lambda: busy[0],
        read_task=read_task,
        timeout_s=10.0,
        clock=clock,
    )
    layer = Image(np.zeros((NT, *VOLUME), np.float32), contrast_limits=(0, 1))
    dims = Dims(4, ndisplay=3, range=[(0, NT - 1, 1), (0, 3, 1), (0, 15, 1), (0, 15, 1)])
    return prefetcher, layer, dims, started


def _times(prefetcher: VolumePrefetcher, layer: Image) -> list[int]:
    return [r.windows[0][0] for r in prefetcher.planned(layer.layer_id) if r.windows]


def test_a_moving_slider_prefetches_the_slices_ahead_first_and_none_behind() -> None:
    clock = FakeClock()
    prefetcher, layer, dims, _ = _plan_fixture(clock, direction_steps=3, radius=1)
    try:
        for t in (4, 5, 6):
            dims.set_current_step(0, t)
            prefetcher.plan(layer, dims.state)
            clock.advance(0.05)
        assert _times(prefetcher, layer) == [7, 8, 9]  # ahead, nearest first; 5 is behind
        clock.advance(1.0)  # at rest: both sides
        prefetcher.plan(layer, dims.state)
        assert _times(prefetcher, layer) == [7, 5]
        dims.set_current_step(0, 5)  # moving down now
        prefetcher.plan(layer, dims.state)
        assert _times(prefetcher, layer) == [4, 3, 2]
    finally:
        prefetcher.close()


def test_a_playing_slider_wraps_the_slices_ahead() -> None:
    clock = FakeClock()
    prefetcher, layer, dims, _ = _plan_fixture(clock, direction_steps=3, radius=1)
    prefetcher.playing = lambda: True
    try:
        for t in (NT - 3, NT - 2):
            dims.set_current_step(0, t)
            prefetcher.plan(layer, dims.state)
            clock.advance(0.05)
        assert _times(prefetcher, layer) == [NT - 1, 0, 1]
    finally:
        prefetcher.close()


def test_the_neighbourhood_is_trimmed_to_the_byte_budget_but_keeps_one_each_side() -> None:
    clock = FakeClock()
    prefetcher, layer, dims, _ = _plan_fixture(
        clock, radius=3, budget_bytes=2 * VOLUME_BYTES, idle_after_s=0
    )
    try:
        dims.set_current_step(0, 6)
        prefetcher.plan(layer, dims.state)
        assert sorted(_times(prefetcher, layer)) == [5, 7]
        prefetcher2, layer2, dims2, _ = _plan_fixture(
            clock, radius=3, budget_bytes=6 * VOLUME_BYTES, idle_after_s=0
        )
        try:
            dims2.set_current_step(0, 6)
            prefetcher2.plan(layer2, dims2.state)
            assert _times(prefetcher2, layer2) == [7, 5, 8, 4, 9, 3]
        finally:
            prefetcher2.close()
    finally:
        prefetcher.close()


def test_nothing_is_prefetched_without_a_sliced_axis() -> None:
    clock = FakeClock()
    prefetcher, _, _, _ = _plan_fixture(clock)
    try:
        volume = Image(np.zeros(VOLUME, np.float32))
        dims = Dims(3, ndisplay=3)
        prefetcher.plan(volume, dims.state)
        assert prefetcher.planned(volume.layer_id) == ()
    finally:
        prefetcher.close()


@pytest.mark.gl
def test_the_first_layer_is_sliced_once_at_the_middle_slice() -> None:
    """Its ranges and the middle slider position arrive as one dims update: slicing at
    position 0 first read a whole volume for nothing."""
    viewer = _viewer({"enabled": False})
    try:
        series = GatedSeries()
        viewer.add_image(series, contrast_limits=(0, 1))
        assert viewer.slicer.stats.submitted == 1
        _settle(viewer)
        assert series.started == [(NT - 1) // 2]
    finally:
        viewer.close()


@pytest.mark.gl
def test_a_dask_series_is_prefetched_on_the_shared_dask_pool(viewer: Viewer) -> None:
    import dask.array as da

    series = da.stack([da.full(VOLUME, t / (NT - 1), dtype=np.float32) for t in range(NT)])
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    _settle(viewer)
    hits = viewer.volume_prefetch.hits
    viewer.dims.set_current_step(0, 6)  # a neighbour of the first slice (5): prefetched
    assert viewer.layer_status(layer).state == "ready"
    assert viewer.volume_prefetch.hits == hits + 1
    response = viewer._responses[layer.layer_id]
    assert np.allclose(np.asarray(response.data), 6 / (NT - 1))


@pytest.mark.gl
def test_a_hung_prefetch_never_holds_a_visible_read_nor_the_prefetch_workers() -> None:
    viewer = _viewer(slice_timeout_s=0.5)
    release = threading.Event()
    try:

        class HangsAtSix(GatedSeries):
            def __getitem__(self, key: Any) -> np.ndarray:
                out = super().__getitem__(key)
                if int(key[0]) == 6:
                    assert release.wait(WAIT)  # the prefetch of 6 hangs until the end
                return out

        series = HangsAtSix()
        layer = viewer.add_image(series, contrast_limits=(0, 1))
        series.wait_for(lambda: 6 in series.started)  # the first prefetch: it hangs
        viewer.dims.set_current_step(0, 9)  # a visible read beside it, on its own workers
        assert viewer.wait_until_idle(WAIT)
        assert viewer.layer_status(layer).state == "ready"
        assert np.allclose(np.asarray(viewer._responses[layer.layer_id].data), 9 / (NT - 1))
        # 6 is no longer wanted (told to stop, it hangs on): past the read timeout a fresh
        # thread takes its worker's place, and the neighbours of 9 are prefetched
        assert viewer.volume_prefetch.slicer.wait_until_idle(WAIT)
        assert viewer.volume_prefetch.slicer.stats.abandoned == 1
        assert {7, 8, 10, 11} <= set(series.started)
        assert viewer.layer_status(layer).state == "ready"  # a prefetch's trouble is quiet
    finally:
        release.set()
        viewer.close()


@pytest.mark.gl
def test_play_holds_a_late_volume_and_the_status_says_at_what_rate() -> None:
    from tilescope.models.playback import Player

    viewer = _viewer({"enabled": False})  # every step reads its volume
    try:
        series = GatedSeries()
        layer = viewer.add_image(series, contrast_limits=(0, 1))
        _settle(viewer)
        clock = FakeClock()
        player = Player(viewer.dims, viewer.step_shown, clock)
        viewer.player = player
        player.play(0, fps=10)
        for _ in range(2):  # reads are quick: one step per 0.1 s
            clock.advance(0.1)
            assert player.tick()
            _settle(viewer)
        series.gate.clear()
        clock.advance(0.1)
        assert player.tick()  # its read blocks
        step = viewer.dims.current_step[0]
        for _ in range(5):
            clock.advance(0.1)
            assert not player.tick()  # held, never skipped
        assert player.held == 5
        viewer.screenshot(wait=False)
        status = viewer.layer_status(layer)
        assert status.state == "loading"
        assert "of 10 fps" in status.message
        assert "the slice shown before stands in" in status.message
        series.gate.set()
        _settle(viewer)
        clock.advance(0.1)
        assert player.tick()
        assert viewer.dims.current_step[0] == step + 1
        player.stop()
        viewer.screenshot(wait=False)
        assert "fps" not in viewer.layer_status(layer).message
    finally:
        viewer.close()


@pytest.mark.gl
@pytest.mark.timeout(300)
def test_scrubbing_faulty_volumes_recovers_everything() -> None:
    """Reads that raise, hang, or return the wrong shape or dtype, visible and prefetched,
    over 300 slider changes (steps and jumps): nothing crashes, nothing stays loading, and
    once the faults stop every layer shows its own slice."""
    from fault_injection import SOURCE_FAULTS, FaultPlan, FaultySource

    viewer = _viewer({"num_workers": 2}, slice_timeout_s=0.3)
    sources = {
        name: FaultySource((NT, *VOLUME), FaultPlan(dict(rates), seed))
        for seed, (name, rates) in enumerate(SOURCE_FAULTS.items())
    }
    rng = np.random.default_rng(0)
    errors: set[str] = set()
    try:
        viewer.status_changed.append(
            lambda lay, st: errors.add(lay.name) if st.state == "error" else None
        )
        layers = {
            name: viewer.add_image(src, name=name, contrast_limits=(0, 1))
            for name, src in sources.items()
        }
        t = viewer.dims.current_step[0]
        for i in range(300):
            t = (
                int(rng.integers(NT))
                if i % 25 == 0
                else min(max(t + rng.choice([-1, 1]), 0), NT - 1)
            )
            viewer.dims.set_current_step(0, t)
            viewer.hop.drain()
            if i % 50 == 49:
                viewer.wait_until_idle(WAIT)  # a pause: hung reads time out and show
        assert errors  # faults were shown
        for src in sources.values():
            src.plan.faults_on.clear()
            src.release()
        viewer.dims.set_current_step(0, (t + 1) % NT)  # one more change retries every layer
        assert viewer.wait_until_idle(WAIT)
        assert viewer.volume_prefetch.slicer.wait_until_idle(WAIT)
        want = viewer.dims.current_step[0] / (NT - 1)
        for name, layer in layers.items():
            assert viewer.layer_status(layer).state == "ready", name
            data = np.asarray(viewer._responses[layer.layer_id].data)
            assert np.allclose(data, want), name
        assert viewer.loader.cache.stats.bytes <= viewer.loader.cache.budget_bytes
    finally:
        for src in sources.values():
            src.release()
        viewer.close()


def test_a_slider_coming_to_rest_is_re_planned_with_both_sides() -> None:
    clock = FakeClock()
    prefetcher, layer, dims, _ = _plan_fixture(clock, direction_steps=2, radius=2)
    try:
        assert prefetcher.idle_in() is None
        for t in (3, 5, 7):  # a fast drag: every other slice
            dims.set_current_step(0, t)
            prefetcher.plan(layer, dims.state)
            clock.advance(0.05)
        assert _times(prefetcher, layer) == [8, 9]  # ahead only: 6 and 5 are behind
        wait = prefetcher.idle_in()
        assert wait == pytest.approx(0.5 - 0.05)
        prefetcher.replan_rested([layer], dims.state)  # still moving: nothing changes
        assert _times(prefetcher, layer) == [8, 9]
        clock.advance(wait + 0.01)
        prefetcher.replan_rested([layer], dims.state)
        assert _times(prefetcher, layer) == [8, 6, 9, 5]  # both sides, nearest first
        assert prefetcher.idle_in() is None  # planned at rest: no wake needed
    finally:
        prefetcher.close()


@pytest.mark.gl
def test_at_rest_the_viewer_fetches_the_side_a_fast_drag_skipped() -> None:
    import time

    viewer = _viewer({"idle_after_s": 0.1, "direction_steps": 1, "radius": 1})
    try:
        series = GatedSeries()
        viewer.add_image(series, contrast_limits=(0, 1))
        _settle(viewer)  # t = 5 and its neighbours 4, 6
        layer_id = viewer.layers[0].layer_id
        for t in (7, 10):  # skipping slices, quicker than idle_after_s
            viewer.dims.set_current_step(0, t)
        planned = {r.windows for r in viewer.volume_prefetch.planned(layer_id)}
        assert ((9, 10),) not in planned  # behind the motion: not while it moves
        assert series.reads_of(9) == 0
        deadline = time.monotonic() + WAIT
        while series.reads_of(9) == 0:  # the rest alarm's frame re-plans both sides
            assert time.monotonic() < deadline, series.started
            viewer.hop.wait_posted(0.05)
            viewer.hop.drain()
        assert series.reads_of(9) == 1
    finally:
        viewer.close()


@pytest.mark.gl
def test_a_removed_layer_leaves_nothing_in_the_ram_cache(viewer: Viewer) -> None:
    series = GatedSeries()
    layer = viewer.add_image(series, contrast_limits=(0, 1))
    _settle(viewer)
    assert viewer.loader.cache.stats.entries >= 5  # the slice shown and its neighbours
    viewer.layers.remove(layer)
    assert viewer.loader.cache.stats.entries == 0


class _HeldSlicer:
    """A prefetch slicer that runs nothing: the test finishes each read when it chooses."""

    def __init__(self) -> None:
        self.reads: list[tuple[Any, Callable[[Any], Any], Callable[[Any], None]]] = []

    def submit(
        self, key: Any, task: Callable[[Any], Any], done: Callable[[Any], None], *_: Any, **__: Any
    ) -> None:
        self.reads.append((key, task, done))

    def cancel(self, key: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass


def test_the_slices_ahead_are_those_a_measured_read_lets_the_slider_reach() -> None:
    clock = FakeClock()
    held = _HeldSlicer()
    prefetcher = VolumePrefetcher(
        MainThreadQueue(),
        ChunkCache(1 << 30),
        PrefetchSettings(**_settings(idle_after_s=0.5, direction_steps=5, radius=1)),
        visible_busy=lambda: False,
        read_task=lambda request: lambda token: request(token),
        timeout_s=10.0,
        clock=clock,
        slicer=held,  # type: ignore[arg-type]
    )
    layer = Image(np.zeros((NT, *VOLUME), np.float32), contrast_limits=(0, 1))
    dims = Dims(4, ndisplay=3, range=[(0, NT - 1, 1), (0, 3, 1), (0, 15, 1), (0, 15, 1)])
    try:
        dims.set_current_step(0, 2)
        prefetcher.plan(layer, dims.state)
        clock.advance(0.06)  # the first read takes 60 ms
        _, task, done = held.reads[0]
        done(task(None))
        for t in (3, 4, 5):  # 20 steps per second
            clock.advance(0.05)
            dims.set_current_step(0, t)
            prefetcher.plan(layer, dims.state)
        # a 60 ms read at 20 Hz: the next two slices (floor(1.2) + 1), not direction_steps' 5
        assert _times(prefetcher, layer) == [6, 7]
        # a player held by late volumes moves slower than its rate: all five stay asked for
        prefetcher.playing = lambda: True
        clock.advance(0.05)
        dims.set_current_step(0, 6)
        prefetcher.plan(layer, dims.state)
        # (6, the slice shown now, is still in the plan: its read is held, as a running one)
        assert [t for t in _times(prefetcher, layer) if t > 6] == [7, 8, 9, 10, 11]
    finally:
        prefetcher.close()
