"""2D Image and Labels layers drawn from tiles: pixels, progress, failures, reuse.

Pixel references are computed independently in numpy: for each screen pixel centre, the world
coordinate it shows, the ideal level's pixel that covers it (level-l pixel i spans level-0
edges ``[i, i+1) * f``), and that pixel's colour. Slow data is a gated fake (reads block on
an Event the test controls) or counts its reads: deterministic, no sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from tilescope.data.protocol import MultiScaleData
from tilescope.loading.config import OctreeConfig, set_config
from tilescope.render.tiled import LayerFrame
from tilescope.viewer import Viewer

pytestmark = pytest.mark.gl

WAIT = 20.0


class CountingArray:
    """An array that counts (and optionally gates or fails) its reads."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data
        self.reads: list[Any] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_when: Any = None
        self.permits: threading.Semaphore | None = None
        self.lock = threading.Lock()

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)

    def __getitem__(self, key: Any) -> np.ndarray:
        with self.lock:
            self.reads.append(key)
        assert self.gate.wait(WAIT)
        if self.permits is not None:
            assert self.permits.acquire(timeout=WAIT)
        if self.fail_when is not None and self.fail_when(key):
            raise OSError(f"chunk {key} is corrupt")
        return self._data[key]


@pytest.fixture(autouse=True)
def _fast_config() -> Iterator[None]:
    """No delay queue (loads start at once), no prefetch margin, 64² tiles, few workers."""
    previous = set_config(
        OctreeConfig.from_dict(
            {
                "loader_defaults": {"delay_queue_ms": 0, "num_workers": 2, "auto_sync_ms": 0},
                "octree": {
                    "loaders": {"0": {"delay_queue_ms": 0}, "2": {"delay_queue_ms": 0}},
                    "tile_size": 64,
                    "max_root_size": 64,
                    "margin_tiles": 0,
                },
            }
        )
    )
    yield
    set_config(previous)


def _screen_to_data(viewer: Viewer, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 data coordinates (y, x) at each screen pixel centre (identity transform)."""
    h, w = shape
    cam = viewer.camera
    cy, cx = cam.center[-2:]
    z = cam.zoom
    ys = cy + (np.arange(h) + 0.5 - h / 2) / z
    xs = cx + (np.arange(w) + 0.5 - w / 2) / z
    return ys, xs


def _reference(
    viewer: Viewer,
    levels: list[np.ndarray],
    level: int,
    shape: tuple[int, int],
    clim: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Gray uint8 reference of ``levels[level]`` on screen, and the mask of covered pixels."""
    ys, xs = _screen_to_data(viewer, shape)
    h0, w0 = levels[0].shape[-2:]
    hl, wl = levels[level].shape[-2:]
    # level-0 edge coordinate (data + 0.5) -> level pixel
    iy = np.floor((ys + 0.5) * hl / h0).astype(int)
    ix = np.floor((xs + 0.5) * wl / w0).astype(int)
    inside = (iy >= 0) & (iy < hl)
    inside_x = (ix >= 0) & (ix < wl)
    mask = inside[:, None] & inside_x[None, :]
    vals = levels[level][np.clip(iy, 0, hl - 1)][:, np.clip(ix, 0, wl - 1)].astype(np.float64)
    t = np.clip((vals - clim[0]) / (clim[1] - clim[0]), 0, 1)
    return np.round(t * 255).astype(np.int16), mask


def _shot_and_frame(viewer: Viewer, layer: Any) -> tuple[np.ndarray, LayerFrame]:
    """A screenshot (waiting for the ideal level) as int16, and the frame it drew."""
    shot = viewer.screenshot().astype(np.int16)
    frame = viewer.layer_frame(layer)
    assert frame is not None
    return shot, frame


def _pyramid(n: int = 256, levels: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Independent random levels of multiples of 40 (gray steps of 10 at limits 0..1000): a
    pixel from the wrong place or the wrong level differs by far more than rounding."""
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, 26, (n >> lvl, n >> lvl)) * 40).astype(np.uint16) for lvl in range(levels)
    ]


def _assert_pixels(shot: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Equal up to the GPU's colour rounding (1 of 255); data steps are 10 apart."""
    diff = np.abs(shot - ref)
    if mask is not None:
        diff = diff[mask]
    assert diff.max(initial=0) <= 1, f"{(diff > 1).sum()} pixels differ by up to {diff.max()}"


@pytest.mark.parametrize("zoom", [pytest.param(2.3, id="level0"), pytest.param(0.4, id="level1")])
def test_loaded_multiscale_equals_numpy_reference_of_the_ideal_level(zoom: float) -> None:
    levels = _pyramid()
    with Viewer(show=False, size=(96, 128)) as viewer:
        layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1000))
        viewer.camera.update(center=(100.37, 90.61), zoom=zoom)
        shot, frame = _shot_and_frame(viewer, layer)
        assert frame.settled
        assert frame.progress == 1.0
        assert str(viewer.layer_status(layer)) == "ready"
        ref, mask = _reference(viewer, levels, frame.ideal_level, (96, 128), (0, 1000))
        assert frame.ideal_level == (0 if zoom > 1 else 1)
        _assert_pixels(shot[..., 0], ref, mask)
        assert np.all(shot[..., 0][~mask] == 0)


def test_single_scale_16384_array_streams_through_level_zero_views() -> None:
    data = np.empty((16384, 16384), np.uint8)  # 256 MiB: never copied whole, never uploaded
    rng = np.random.default_rng(3)
    window = (slice(9000, 9200), slice(12000, 12200))
    data[window] = (rng.integers(0, 26, (200, 200)) * 10).astype(np.uint8)
    with Viewer(show=False, size=(80, 100)) as viewer:
        layer = viewer.add_image(data, contrast_limits=(0, 255))
        viewer.camera.update(center=(9100.3, 12100.7), zoom=3.1)
        shot, frame = _shot_and_frame(viewer, layer)
        assert frame.ideal_level == 0
        assert frame.settled
        ref, mask = _reference(viewer, [data], 0, (80, 100), (0, 255))
        assert mask.all()
        _assert_pixels(shot[..., 0], ref)


def test_labels_are_exact_and_nearest_sampled() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, (150, 170)).astype(np.int64) * 1_000_003  # needs the index
    colors = {
        0: (0.0, 0.0, 0.0, 0.0),
        1_000_003: (1.0, 0.0, 0.0, 1.0),
        2_000_006: (0.0, 1.0, 0.0, 1.0),
        3_000_009: (0.0, 0.0, 1.0, 1.0),
        4_000_012: (1.0, 1.0, 0.0, 1.0),
    }
    with Viewer(show=False, size=(64, 64)) as viewer:
        layer = viewer.add_labels(labels, color=colors, opacity=1.0)
        viewer.camera.update(center=(70.4, 80.3), zoom=1.7)
        shot = viewer.screenshot().astype(np.int16)
        assert str(viewer.layer_status(layer)) == "ready"
        ys, xs = _screen_to_data(viewer, (64, 64))
        iy = np.floor(ys + 0.5).astype(int)
        ix = np.floor(xs + 0.5).astype(int)
        vals = labels[iy][:, ix]
        lut = {k: np.round(np.array(v[:3]) * 255) for k, v in colors.items()}
        ref = np.stack([lut[int(v)] for v in vals.ravel()]).reshape(64, 64, 3)
        np.testing.assert_array_equal(shot[..., :3], ref)
        info = viewer.cursor_info((10.5, 20.5))  # the centre of screen pixel (20, 10)
        assert info is not None
        assert info.value == int(vals[20, 10])


def test_half_transparent_layer_while_coarse_and_fine_tiles_mix() -> None:
    """No darker overlap, no seams while loading; placeholders marked, then not."""
    levels = [np.full((n, n), 800, np.uint16) for n in (256, 128, 64)]  # root: one tile
    fine = CountingArray(levels[0])
    with Viewer(show=False, size=(128, 128)) as viewer:
        bg = viewer.add_image(
            np.full((256, 256), 1.0, np.float32), contrast_limits=(0, 1), name="bg"
        )
        layer = viewer.add_image(
            MultiScaleData([fine, levels[1], levels[2]]),
            contrast_limits=(0, 1000),
            opacity=0.5,
            colormap="red",
        )
        viewer.camera.update(center=(63.5, 63.5), zoom=2.0)  # level-0 tiles (0..1, 0..1)
        viewer.screenshot()
        fine.gate.clear()  # level-0 reads block from now on
        viewer.camera.update(center=(127.5, 127.5), zoom=1.0)  # level-0 tiles (1..2, 1..2)

        def mixed_ready() -> bool:
            """Everything but the gated reads has arrived: the white layer's new tiles (not
            gated, but read in the background like any other) and the coarse stand-in."""
            under, over = viewer.layer_frame(bg), viewer.layer_frame(layer)
            return (
                under is not None
                and under.resident == under.wanted
                and over is not None
                and over.draw is not None
                and any(q.level > 0 for q in over.draw.quads)
            )

        mixed = _shot_when(viewer, mixed_ready)
        over = viewer.layer_frame(layer)
        assert over is not None
        assert (over.resident, over.wanted) == (1, 4)  # the gate held: one fine tile, reused
        fine.gate.set()
        final = viewer.screenshot().astype(np.int16)
    red = np.round(0.5 * 0.8 * 255 + 0.5 * 255)
    green = np.round(0.5 * 255)
    # loaded: uniform, no seams at tile borders, no darker overlaps
    assert np.all(np.abs(final[..., 0] - red) <= 1)
    assert np.all(np.abs(final[..., 1] - green) <= 1)
    # while mixed: tile (1, 1) is fine (top-left quadrant on screen), the rest stands in
    # coarse, marked by diagonal stripes: (x + y) mod 12 < 1.5 in GL window coordinates
    r, c = np.mgrid[0:128, 0:128]
    stripe = (c - r + 128) % 12 <= 1
    coarse = (r >= 64) | (c >= 64)
    marked = (np.abs(mixed[..., 0] - red) > 1) | (np.abs(mixed[..., 1] - green) > 1)
    np.testing.assert_array_equal(marked, stripe & coarse)


def test_progressive_zoom_reaches_detail_tile_by_tile_without_holes() -> None:
    levels = _pyramid(256, 3)
    fine = CountingArray(levels[0])
    with Viewer(show=False, size=(256, 256)) as viewer:
        layer = viewer.add_image(
            MultiScaleData([fine, levels[1], levels[2]]), contrast_limits=(0, 1000), visible=False
        )
        viewer.camera.update(center=(127.5, 127.5), zoom=0.4)  # ideal level 1
        layer.visible = True  # hidden until now: no level-0 tile was ever loaded
        viewer.screenshot()
        fine.permits = threading.Semaphore(0)  # each level-0 read now waits for a permit
        viewer.camera.update(center=(127.5, 127.5), zoom=1.0)  # ideal level 0: 16 tiles
        first = viewer.screenshot(wait=False).astype(np.int16)
        assert np.all(first[..., 3] == 255)
        frame = viewer.layer_frame(layer)
        assert frame is not None
        assert frame.resident == 0
        assert frame.wanted == 16
        ref_fine, _ = _reference(viewer, levels, 0, (256, 256), (0, 1000))
        ref_coarse, _ = _reference(viewer, levels, 1, (256, 256), (0, 1000))
        for step in range(1, 17):
            fine.permits.release()  # one more tile may load
            shot = _shot_when(viewer, lambda n=step: _resident(viewer, layer) >= n)
            frame = viewer.layer_frame(layer)
            assert frame is not None
            assert frame.resident == step
            # every pixel shows either the fine or the coarse reference: never a hole
            gray = shot[..., 0]
            is_fine = np.abs(gray - ref_fine) <= 1
            is_coarse = np.abs(gray - ref_coarse) <= 1
            stripes = np.abs(gray - ref_coarse) > 1  # placeholder marks on coarse tiles
            assert np.all(is_fine | is_coarse | stripes)
            assert shot[..., 3].min() == 255
            if step < 16:  # part of the view is at full detail, the rest still coarse
                assert 0 < is_fine.mean() < 1
        final = viewer.screenshot().astype(np.int16)
        _assert_pixels(final[..., 0], ref_fine)


def _resident(viewer: Viewer, layer: Any) -> int:
    frame = viewer.layer_frame(layer)
    return 0 if frame is None else frame.resident


def _shot_when(viewer: Viewer, ready: Any) -> np.ndarray:
    """Screenshots of what is on screen now, until ``ready()`` (bounded by WAIT seconds)."""
    deadline = threading.Event()
    timer = threading.Timer(WAIT, deadline.set)
    timer.start()
    try:
        while True:
            shot = viewer.screenshot(wait=False).astype(np.int16)
            if ready():
                return shot
            assert not deadline.is_set(), "the tile never arrived"
            viewer.hop.wait_posted(0.05)
    finally:
        timer.cancel()


def test_a_pan_reads_only_newly_exposed_tiles() -> None:
    levels = _pyramid(512, 3)
    data = CountingArray(levels[0])
    with Viewer(show=False, size=(128, 128)) as viewer:
        viewer.add_image(MultiScaleData([data, *levels[1:]]), contrast_limits=(0, 1000))
        viewer.camera.update(center=(200.0, 200.0), zoom=1.0)
        viewer.screenshot()
        before = {_key(k) for k in data.reads}
        viewer.camera.update(center=(200.0, 264.0), zoom=1.0)  # one tile column to the right
        viewer.screenshot()
        after = [_key(k) for k in data.reads[len(before) :]]
        assert after, "the pan exposed new tiles"
        assert not set(after) & before, "a tile already fetched was read again"
        # the view [136.5, 264.5) x [200.5, 328.5): rows 2..4 of the newly exposed column 5
        exposed = {((r * 64, r * 64 + 64), (320, 384)) for r in (2, 3, 4)}
        assert len(after) == len(set(after))
        assert set(after) == exposed
        viewer.camera.update(center=(200.0, 200.0), zoom=1.0)  # and back: all resident
        n = len(data.reads)
        viewer.screenshot()
        assert len(data.reads) == n


def _key(index: Any) -> tuple[Any, ...]:
    return tuple((s.start, s.stop) if isinstance(s, slice) else s for s in index)


def test_a_failed_tile_is_marked_named_and_the_rest_loads() -> None:
    data = CountingArray(_pyramid(256, 1)[0])
    data.fail_when = lambda key: (
        isinstance(key[0], slice) and key[0].start == 64 and (key[1].start == 128)
    )
    with Viewer(show=False, size=(128, 128)) as viewer:
        layer = viewer.add_image(data, contrast_limits=(0, 1000), name="slide")
        viewer.camera.update(center=(127.5, 127.5), zoom=1.0)
        shot = viewer.screenshot().astype(np.int16)
        status = str(viewer.layer_status(layer))
        assert status.startswith("error: layer 'slide': tile at level 0, row 1, col 2 failed")
        assert "corrupt" in status
        frame = viewer.layer_frame(layer)
        assert frame is not None
        assert frame.settled
        assert len(frame.failed) == 1
        assert frame.resident == frame.wanted - 1
        # the failed tile's screen area is hatched red (not data, not loading stripes)
        ys, xs = _screen_to_data(viewer, (128, 128))
        rows = (ys >= 63.5) & (ys < 127.5)
        cols = (xs >= 127.5) & (xs < 191.5)
        region = shot[rows][:, cols]
        assert (region[..., 0] > region[..., 1] + 100).mean() > 0.1


def test_rgb_tiles_keep_their_colours() -> None:
    rng = np.random.default_rng(5)
    rgb = (rng.integers(0, 26, (130, 150, 3)) * 10).astype(np.uint8)
    with Viewer(show=False, size=(64, 80)) as viewer:
        layer = viewer.add_image(rgb, rgb=True)
        viewer.camera.update(center=(60.3, 70.6), zoom=1.3)
        shot = viewer.screenshot().astype(np.int16)
        assert str(viewer.layer_status(layer)) == "ready"
        ys, xs = _screen_to_data(viewer, (64, 80))
        ref = rgb[np.floor(ys + 0.5).astype(int)][:, np.floor(xs + 0.5).astype(int)]
        _assert_pixels(shot[..., :3], ref.astype(np.int16))
        assert np.all(shot[..., 3] == 255)


def test_debug_view_outlines_tiles_and_placeholders_can_be_switched_off() -> None:
    data = np.full((256, 256), 500, np.uint16)
    with Viewer(show=False, size=(128, 128)) as viewer:
        viewer.add_image(data, contrast_limits=(0, 1000))
        viewer.camera.update(center=(127.5, 127.5), zoom=1.0)
        plain = viewer.screenshot().astype(np.int16)
        assert np.all(plain[..., :3] == 128)  # uniform: no marks once loaded
        viewer.debug_tiles = True
        outlined = viewer.screenshot().astype(np.int16)
        coloured = np.any(outlined[..., :3] != 128, axis=-1)
        # the border between tiles at level-0 edge 128 (screen 63.5) is outlined both ways
        assert coloured[:, 63:65].all()
        assert coloured[63:65, :].all()
        assert coloured.mean() < 0.2
        viewer.debug_tiles = False
        assert viewer.show_placeholders
        viewer.show_placeholders = False
        np.testing.assert_array_equal(viewer.screenshot().astype(np.int16), plain)


def test_a_failed_tile_is_retried_on_request_without_waiting_out_its_back_off() -> None:
    data = CountingArray(_pyramid(128, 1)[0])
    data.fail_when = lambda key: True
    with Viewer(show=False, size=(64, 64)) as viewer:
        layer = viewer.add_image(data, contrast_limits=(0, 1000))
        viewer.screenshot()
        assert str(viewer.layer_status(layer)).startswith("error: ")
        data.fail_when = None  # the store recovers ...
        n = len(data.reads)
        viewer.retry()  # ... and the user retries now instead of waiting out the back-off
        shot = _shot_when(viewer, lambda: str(viewer.layer_status(layer)) == "ready")
        assert len(data.reads) > n
        assert shot[..., 3].min() == 255


def test_lazy_data_is_never_read_on_the_main_thread() -> None:
    main = threading.get_ident()
    threads: list[int] = []

    class Lazy(CountingArray):
        def __getitem__(self, key: Any) -> np.ndarray:
            threads.append(threading.get_ident())
            return super().__getitem__(key)

    with Viewer(show=False, size=(64, 64)) as viewer:
        viewer.add_image(Lazy(_pyramid(256, 1)[0]), contrast_limits=(0, 1000))
        for zoom in (0.5, 1.0, 2.0, 4.0):
            viewer.camera.zoom = zoom
            viewer.screenshot()
    assert threads
    assert main not in threads


def test_tile_completions_reach_the_main_thread_in_one_coalesced_hop() -> None:
    levels = _pyramid(512, 1)
    data = CountingArray(levels[0])
    data.gate.clear()
    with Viewer(show=False, size=(256, 256)) as viewer:
        posts: list[str] = []
        real_post = viewer.hop.post

        def post(fn: Any, *args: Any) -> None:
            posts.append(getattr(fn, "__name__", ""))
            real_post(fn, *args)

        viewer.hop.post = post  # type: ignore[method-assign]
        viewer.add_image(data, contrast_limits=(0, 1000))
        viewer.camera.update(center=(255.5, 255.5), zoom=1.0)  # 16 tiles of 64² at level 0
        viewer.screenshot(wait=False)
        posts.clear()
        data.gate.set()  # every read finishes while the main thread is busy elsewhere
        deadline = threading.Event()
        while len(data.reads) < 16 and not deadline.wait(0.01):
            pass
        while viewer.loader.stats.running or viewer.loader.stats.queued:
            deadline.wait(0.01)
        assert posts.count("_on_tiles_ready") == 1  # one hop for the whole burst of 16
        assert viewer.wait_until_idle(WAIT)
        frame = viewer.layer_frame(viewer.layers[0])
        assert frame is not None
        assert frame.resident == frame.wanted


def test_a_view_the_vram_budget_cannot_hold_is_said_not_hidden() -> None:
    previous = set_config(
        OctreeConfig.from_dict(
            {
                "octree": {"tile_size": 64, "max_root_size": 64, "margin_tiles": 0},
                "render": {"vram_budget_bytes": 64 * 64 * 4 * 3, "page_size": 64},
            }
        )
    )
    try:
        with Viewer(show=False, size=(256, 256)) as viewer:  # 16 tiles wanted, room for 3
            layer = viewer.add_image(_pyramid(256, 1)[0], contrast_limits=(0, 1000))
            viewer.camera.update(center=(127.5, 127.5), zoom=1.0)
            assert viewer.wait_until_idle(WAIT)  # settles: nothing waits for a slot forever
            status = str(viewer.layer_status(layer))
            frame = viewer.layer_frame(layer)
    finally:
        set_config(previous)
    assert status.startswith("error: layer 'Image': ")
    assert "do not fit the VRAM budget" in status
    assert frame is not None
    assert frame.over_budget > 0
    assert frame.settled


def test_while_panning_only_the_ring_ahead_is_prefetched() -> None:
    previous = set_config(
        OctreeConfig.from_dict(
            {
                "loader_defaults": {"delay_queue_ms": 0, "auto_sync_ms": 0},
                "octree": {
                    "loaders": {"0": {"delay_queue_ms": 0}, "2": {"delay_queue_ms": 0}},
                    "tile_size": 64,
                    "max_root_size": 64,
                    "margin_tiles": 1,
                },
            }
        )
    )
    levels = _pyramid(1024, 3)
    data = CountingArray(levels[0])
    try:
        with Viewer(show=False, size=(128, 128)) as viewer:
            viewer.add_image(MultiScaleData([data, *levels[1:]]), contrast_limits=(0, 1000))
            viewer.camera.update(center=(512.0, 512.0), zoom=1.0)  # rows and cols 7..9 visible
            viewer.screenshot()
            n = len(data.reads)
            viewer.camera.update(center=(512.0, 576.0), zoom=1.0)  # one tile to the right
            viewer.screenshot()
            cols = {k[1].start // 64 for k in data.reads[n:]}
            rows = {k[0].start // 64 for k in data.reads[n:]}
    finally:
        set_config(previous)
    # visible now: cols 8..10 (col 10 was prefetched at rest, in the ring on every side);
    # while panning right the ring ahead is col 11 only (the visible rows and the ring's corners)
    assert cols == {11}
    assert rows <= set(range(6, 11))


def test_a_hung_source_never_starves_the_other_layers_tiles() -> None:
    """Every worker of both pools (2 each) is taken by reads of a store that hangs; a healthy
    layer added afterwards still loads, once those reads count as hung (here at the 0.5 s
    timeout): their threads are replaced and the hung layer is held to half a pool."""
    hung = CountingArray(_pyramid(256, 1)[0])
    hung.gate.clear()
    try:
        with Viewer(show=False, size=(128, 128), slice_timeout_s=0.5) as viewer:
            stuck = viewer.add_image(hung, contrast_limits=(0, 1000), name="stuck")
            viewer.screenshot(wait=False)
            assert _wait_for(lambda: len(hung.reads) >= 2)
            healthy = viewer.add_image(
                CountingArray(_pyramid(128, 1, seed=3)[0]), contrast_limits=(0, 1000), name="ok"
            )
            assert viewer.wait_until_idle(WAIT)
            assert str(viewer.layer_status(healthy)) == "ready"
            status = str(viewer.layer_status(stuck))
            assert status.startswith("error: layer 'stuck': tile at level")
            assert "0.5 s" in status
    finally:
        hung.gate.set()


def _wait_for(condition: Any) -> bool:
    """Poll ``condition`` for up to WAIT s (a worker's progress; no result depends on timing)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_pages_beyond_one_visual_sample_their_own_textures() -> None:
    """One 64² tile per page: 30+ pages, so several visuals of eight page samplers each;
    every pixel still comes from its own tile (a sampler mix-up shows another tile)."""
    levels = _pyramid(512, 1, seed=11)
    with _render_config(page_size=64), Viewer(show=False, size=(320, 352)) as viewer:
        layer = viewer.add_image(levels[0], contrast_limits=(0, 1000))
        viewer.camera.update(center=(200.3, 260.6), zoom=1.0)
        shot, frame = _shot_and_frame(viewer, layer)
        assert frame.ideal_level == 0
        ref, mask = _reference(viewer, levels, 0, (320, 352), (0, 1000))
        _assert_pixels(shot[..., 0], ref, mask)
        pages = viewer._backend._layers[layer.layer_id]._pages  # type: ignore[attr-defined]
        assert pages.visual_count >= 4  # 30+ pages, eight per visual
        viewer.wait_until_idle()
        # whatever visual a next page would need has been made by the viewer's prepare tasks
        # (whether one is needed depends on how many pages the frames made: 3 pages of a
        # 4-sampler visual need none; tests/render/test_vispy_tiled.py checks the making)
        assert not viewer.backend.wants_prepare


def test_the_upload_budget_is_one_for_the_whole_frame() -> None:
    """A budget below one tile's cost: each frame uploads one tile, whatever the layers (it
    was one per layer and frame, so eight layers took eight times the budget)."""
    with _render_config(upload_budget_ms=0.001), Viewer(show=False, size=(128, 128)) as viewer:
        per_frame: list[int] = []
        backend: Any = viewer._backend  # type: ignore[attr-defined]
        apply = backend.apply

        def counting_apply(plan: Any) -> None:
            per_frame.append(sum(len(getattr(d, "uploads", ())) for d in plan.layers))
            apply(plan)

        backend.apply = counting_apply
        layers = [
            viewer.add_image(CountingArray(lv), contrast_limits=(0, 1000), opacity=0.5)
            for lv in (_pyramid(128, 1, seed=s)[0] for s in (1, 2, 3))
        ]
        assert viewer.wait_until_idle(WAIT)
        assert all(str(viewer.layer_status(layer)) == "ready" for layer in layers)
        assert max(per_frame) == 1  # one tile per frame for the three layers together
        assert sum(per_frame) >= 3 * 4  # every level-0 tile of all three got there


def test_zooming_in_after_zooming_out_shows_exactly_the_finer_level() -> None:
    """Zoomed out, level-1 tiles; zoomed in, level-0 ones: nothing of the coarser frame
    stays on screen (the vertex-buffer case is in tests/render/test_vispy_tiled.py)."""
    levels = _pyramid()
    with Viewer(show=False, size=(96, 128)) as viewer:
        layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1000))
        viewer.camera.update(center=(127.5, 127.5), zoom=0.4)
        viewer.screenshot()
        viewer.camera.update(center=(40.3, 50.6), zoom=2.3)
        shot, frame = _shot_and_frame(viewer, layer)
        assert frame.ideal_level == 0
        ref, mask = _reference(viewer, levels, 0, (96, 128), (0, 1000))
        assert mask.all()
        _assert_pixels(shot[..., 0], ref)


def test_stand_ins_of_the_ideal_tiles_pool_are_not_read_while_ideal_tiles_load() -> None:
    """Zoomed in from the whole view (level 2) to level 0: level 1 shares pool 0 with the
    ideal level and would queue behind every level-0 tile, so it is never read; the levels
    of pool 2 (their own workers) stand in meanwhile."""
    levels = [CountingArray(lv) for lv in _pyramid(512, 4)]
    with Viewer(show=False, size=(96, 128)) as viewer:
        layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1000))
        viewer.screenshot()
        first = viewer.layer_frame(layer)
        assert first is not None
        assert first.ideal_level == 2
        assert levels[1].reads == []
        viewer.camera.update(center=(300.37, 200.61), zoom=2.3)
        viewer.screenshot()
        frame = viewer.layer_frame(layer)
        assert frame is not None
        assert frame.ideal_level == 0
        assert frame.settled
        assert len(levels[0].reads) > 0
        assert levels[1].reads == []


@contextmanager
def _render_config(**render: Any) -> Iterator[None]:
    """No delay queue, 64² tiles, and these ``render`` settings, for the block."""
    previous = set_config(
        OctreeConfig.from_dict(
            {
                "loader_defaults": {"delay_queue_ms": 0, "auto_sync_ms": 0},
                "octree": {"tile_size": 64, "max_root_size": 64, "margin_tiles": 0},
                "render": render,
            }
        )
    )
    try:
        yield
    finally:
        set_config(previous)


def test_data_level_and_corner_pixels_follow_the_view_of_a_tiled_layer() -> None:
    """napari's ``data_level``/``corner_pixels``, recorded from each frame (and not redone
    when a frame would record the same): zooming in picks a finer level, corners follow."""
    viewer = Viewer(show=False, size=(64, 64))
    try:
        levels = _pyramid(256, 3)
        layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1000))
        assert viewer.wait_until_idle(WAIT)
        start = viewer.camera.center, viewer.camera.zoom
        first = layer.data_level, layer.corner_pixels.copy()
        assert first[0] > 0  # the whole image in 64²: a coarse level
        viewer.camera.update(center=(96.0, 96.0), zoom=2.0)  # [80, 112)²: within tile (1, 1)
        assert viewer.wait_until_idle(WAIT)
        assert layer.data_level == 0
        np.testing.assert_array_equal(layer.corner_pixels, [[64, 64], [127, 127]])
        viewer.camera.update(center=(160.0, 32.0))  # a pan at the same level: tile (2, 0)
        assert viewer.wait_until_idle(WAIT)
        assert layer.data_level == 0
        np.testing.assert_array_equal(layer.corner_pixels, [[128, 0], [191, 63]])
        viewer.camera.update(center=start[0], zoom=start[1])  # back out
        assert viewer.wait_until_idle(WAIT)
        assert layer.data_level == first[0]
        np.testing.assert_array_equal(layer.corner_pixels, first[1])
    finally:
        viewer.close()


def test_uint16_tiles_take_half_the_page_bytes_of_float_and_draw_the_same() -> None:
    """A uint16 image keeps its dtype in tiles and pages (r16): the same picture as its
    float32 copy (checked against the numpy reference), in half the atlas bytes."""
    levels = _pyramid(256, 2, seed=3)
    used: dict[str, int] = {}
    for data in (levels, [lvl.astype(np.float32) for lvl in levels]):
        with Viewer(show=False, size=(96, 128)) as viewer:
            layer = viewer.add_image(data, multiscale=True, contrast_limits=(0, 1000))
            viewer.camera.update(center=(100.37, 90.61), zoom=2.3)
            shot, frame = _shot_and_frame(viewer, layer)
            ref, mask = _reference(viewer, levels, frame.ideal_level, (96, 128), (0, 1000))
            _assert_pixels(shot[..., 0], ref, mask)
            state = viewer._tiles._layers[layer.layer_id]  # type: ignore[attr-defined]
            pages = state.atlas.pages
            used[str(data[0].dtype)] = state.atlas.used_bytes
            assert state.atlas.used_bytes == sum(
                p.shape[0] * p.shape[1] * data[0].dtype.itemsize for p in pages
            )
            assert state.texel == str(data[0].dtype)
    assert used["uint16"] * 2 == used["float32"]


class _FloatReads(CountingArray):
    """Says uint16, reads float64 (a source whose dtype is declared wrong)."""

    dtype = property(lambda self: np.dtype(np.uint16))

    def __getitem__(self, key: Any) -> np.ndarray:
        return super().__getitem__(key).astype(np.float64) + 0.5


def test_a_read_of_another_dtype_than_declared_fails_the_tile_and_says_why() -> None:
    """Its values would wrap or truncate in a uint16 page: a failed tile, never a picture."""
    data = _FloatReads(_pyramid(128, 1)[0])
    with Viewer(show=False, size=(64, 64)) as viewer:
        layer = viewer.add_image(data, contrast_limits=(0, 1000), name="declared")
        viewer.screenshot()
        status = str(viewer.layer_status(layer))
        assert status.startswith("error: layer 'declared'")
        assert "returned float64 pixels where the layer's data is uint16" in status
        frame = viewer.layer_frame(layer)
        assert frame is not None
        assert frame.failed
        assert frame.resident == 0


def test_a_hidden_layer_lets_go_of_the_page_made_ahead_for_it() -> None:
    """A hidden layer adds no page: its announcement leaves the shared budget and the page
    texture made ahead is deleted; shown again, both come back."""
    levels = _pyramid(256, 1, seed=4)
    # one 64² tile a page: every page is full, so the next one is always announced
    with _render_config(page_size=64), Viewer(show=False, size=(256, 256)) as viewer:
        layer = viewer.add_image(levels[0], contrast_limits=(0, 1000))
        viewer.camera.update(center=(127.5, 127.5), zoom=1.0)
        viewer.screenshot()
        viewer.wait_until_idle()
        state = viewer._tiles._layers[layer.layer_id]  # type: ignore[attr-defined]
        pages = viewer._backend._layers[layer.layer_id]._pages  # type: ignore[attr-defined]
        budget = viewer._tiles._budget  # type: ignore[attr-defined]
        assert state.atlas.upcoming_page() == (64, 64)
        assert pages._spare_page is not None
        assert budget._ahead
        layer.visible = False
        viewer.screenshot()
        viewer.wait_until_idle()
        assert pages._spare_page is None
        assert not budget._ahead
        layer.visible = True
        viewer.screenshot()
        viewer.wait_until_idle()
        assert pages._spare_page is not None
        assert budget._ahead


def test_a_stack_of_small_planes_gets_pages_of_four_planes_a_single_plane_none_larger() -> None:
    """A 300² image's pages never exceed its level 0 (in whole slots); the same planes in a
    stack get pages twice as wide and high, so a scrub adds a page per four planes, not one
    per plane. Every plane still draws its own values."""
    plane = np.full((300, 300), 500, np.uint16)
    stack = np.stack([np.full((300, 300), 100 * (z + 1), np.uint16) for z in range(6)])
    with Viewer(show=False, size=(64, 64)) as viewer:
        layer = viewer.add_image(plane, contrast_limits=(0, 1000))
        viewer.screenshot()
        state = viewer._tiles._layers[layer.layer_id]  # type: ignore[attr-defined]
        sh, sw = state.atlas.slot_shape
        assert state.atlas.page_shape == (-(-300 // sh) * sh, -(-300 // sw) * sw)
    with Viewer(show=False, size=(320, 320)) as viewer:  # every tile of a plane in view
        layer = viewer.add_image(stack, contrast_limits=(0, 1000))
        viewer.camera.update(center=(149.5, 149.5), zoom=1.0)
        for z in range(6):
            viewer.dims.set_current_step(0, z)
            shot = viewer.screenshot()
            grey = shot[10:-10, 10:-10, 0].astype(int)
            assert (abs(grey - round(255 * (z + 1) / 10)) <= 1).all(), z
        state = viewer._tiles._layers[layer.layer_id]  # type: ignore[attr-defined]
        sh, sw = state.atlas.slot_shape
        assert state.atlas.page_shape == (-(-300 // sh) * sh * 2, -(-300 // sw) * sw * 2)
        # every plane's tiles (and those of coarser levels, if any) resident, four planes'
        # worth a page: a quarter of the pages plane-sized ones would take
        per_plane = -(-300 // sh) * -(-300 // sw)
        tiles = len(state.atlas)
        assert tiles >= 6 * per_plane
        assert len(state.atlas.pages) == -(-tiles // (4 * per_plane)) < -(-tiles // per_plane)


def test_a_tiled_layer_moved_after_it_is_drawn_is_drawn_at_its_new_place() -> None:
    """The backend skips a draw's matrix while its transform is the same object: a moved
    layer brings a new one, and the layer moves on screen (pixels on a 64² canvas)."""
    v = Viewer(show=False, size=(64, 64))
    try:
        data = np.zeros((64, 64), np.float32)
        data[:, :32] = 1.0  # left half bright
        layer = v.add_image(data, contrast_limits=(0, 1))
        before = v.screenshot()[..., 0].astype(int)
        assert before[32, 16] == 255
        assert before[32, 48] == 0
        layer.translate = (0.0, 32.0)  # half a canvas to the right
        after = v.screenshot()[..., 0].astype(int)
        assert after[32, 16] == 0  # nothing of the layer left there
        assert after[32, 48] == 255
    finally:
        v.close()


def test_a_layer_waiting_for_its_visual_is_reported_shown_only_once_it_has_one() -> None:
    """Two layers added in a row: the frame leaves both visuals for prepare steps;
    ``frame_shown`` must not report either as on screen before it has one."""
    with Viewer(show=False, size=(64, 64)) as v:
        a = v.add_image(np.zeros((64, 64), np.float32))
        b = v.add_image(np.ones((64, 64), np.float32), opacity=0.5)
        while v.hop.drain(budget_s=0) and not v.backend.pending_layers:
            pass  # one task at a time, up to the flush that leaves the visuals for later
        assert v.backend.pending_layers == {a.layer_id, b.layer_id}
        awaiting = v._awaiting_tiles  # type: ignore[attr-defined]
        assert a.layer_id not in awaiting
        assert b.layer_id not in awaiting
        v.hop.drain()  # the prepare steps make the visuals
        assert not v.backend.pending_layers
        assert {a.layer_id, b.layer_id} <= set(v._awaiting_tiles)  # type: ignore[attr-defined]


def test_a_pending_tiled_layer_is_made_in_steps_as_if_made_ahead() -> None:
    """A frame makes no new tiled visual (12-14 ms of CPU): each new layer with nothing
    made ahead for its kind gets its adaptor, then its first visual, then its draw, each
    in a prepare step of its own, and the adaptor that ends up drawing it is the one made
    ahead. Once a layer of a kind is shown, the next one's adaptor is made ahead."""
    with Viewer(show=False, size=(64, 64)) as v:
        backend = v.backend
        layers = [v.add_image(np.full((64, 64), i, np.float32), opacity=0.5) for i in range(3)]
        while v.hop.drain(budget_s=0) and not backend.pending_layers:
            pass
        assert backend.pending_layers == {layer.layer_id for layer in layers}
        steps: list[tuple[int, bool]] = []  # (pending layers, an adaptor made ahead) per step
        made_ahead: list[object] = []
        while backend.pending_layers:
            assert backend.wants_prepare
            backend.prepare()
            ahead = list(backend._ahead.values())  # type: ignore[attr-defined]
            made_ahead.extend(a for a in ahead if a not in made_ahead)
            steps.append((len(backend.pending_layers), bool(ahead)))
        assert steps == [s for n in (3, 2, 1) for s in ((n, True), (n, True), (n - 1, False))]
        shown = backend._layers  # type: ignore[attr-defined]
        assert all(shown[layer.layer_id] in made_ahead for layer in layers)
        v.wait_until_idle(10)
        assert len(backend._ahead) == 1  # type: ignore[attr-defined]
        d = v.add_image(np.ones((64, 64), np.float32), opacity=0.5)
        made = backend._layers  # type: ignore[attr-defined]
        while v.hop.drain(budget_s=0) and d.layer_id not in made:
            assert not backend.pending_layers  # taken from what was made ahead, in the frame
        assert d.layer_id in made
