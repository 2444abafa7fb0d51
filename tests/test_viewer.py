"""The Viewer facade, headless: async by default, stale results dropped, errors recover.

Slow data is a gated fake (reads block on an Event the test controls): deterministic.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tilescope.errors import DataSourceError, LayerDataError, TilescopeError
from tilescope.loading.config import OctreeConfig, set_config
from tilescope.viewer import Viewer

pytestmark = pytest.mark.gl

WAIT = 10.0


class GatedArray:
    """A (z, y, x) array whose reads block until ``gate`` is set; can be made to fail."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data
        self.gate = threading.Event()
        self.gate.set()
        self.reads = 0
        self.returned = 0
        self.cond = threading.Condition()
        self.started = threading.Event()
        self.fail: Exception | None = None

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)

    def __getitem__(self, key: Any) -> np.ndarray:
        with self.cond:
            self.reads += 1
        self.started.set()
        try:
            assert self.gate.wait(WAIT)
            if self.fail is not None:
                raise self.fail
            return self._data[key]
        finally:
            with self.cond:
                self.returned += 1
                self.cond.notify_all()

    def wait_all_returned(self) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.returned == self.reads, WAIT)


def _stack() -> np.ndarray:
    """Three 16x16 planes of constant value 0.2, 0.5, 0.8."""
    return np.stack([np.full((16, 16), v, np.float32) for v in (0.2, 0.5, 0.8)])


@pytest.fixture
def viewer() -> Iterator[Viewer]:
    # no prefetch, no neighbouring slice standing in: these tests read planes on purpose
    # (tests/test_viewer_scrub.py tests them on)
    no_scrub = {"prefetch": {"enabled": False, "stand_in": False}}
    previous = set_config(OctreeConfig.from_dict(no_scrub))
    try:
        v = Viewer(show=False, size=(64, 64))
    finally:
        set_config(previous)
    yield v
    v.close()


def _centre_gray(img: np.ndarray) -> int:
    return int(img[img.shape[0] // 2, img.shape[1] // 2, 0])


def test_add_image_returns_at_once_and_screenshot_waits(viewer: Viewer) -> None:
    arr = GatedArray(_stack())
    arr.gate.clear()
    layer = viewer.add_image(arr, contrast_limits=(0, 1))  # returns while the read blocks
    assert arr.started.wait(WAIT)
    assert str(viewer.layer_status(layer)) == "loading: 0/1 tiles"
    empty = viewer.screenshot(wait=False)
    assert _centre_gray(empty) == 0  # nothing on screen yet: the background
    arr.gate.set()
    img = viewer.screenshot()
    assert _centre_gray(img) == pytest.approx(0.5 * 255, abs=2)
    assert str(viewer.layer_status(layer)) == "ready"


def test_slider_change_shows_the_new_plane(viewer: Viewer) -> None:
    viewer.add_image(_stack(), contrast_limits=(0, 1))
    viewer.dims.set_current_step(0, 2)
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.8 * 255, abs=2)
    viewer.dims.set_current_step(0, 0)
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.2 * 255, abs=2)


def test_a_superseded_slice_never_shows(viewer: Viewer) -> None:
    arr = GatedArray(_stack())
    viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.wait_until_idle(WAIT)
    arr.gate.clear()
    arr.started.clear()
    viewer.dims.set_current_step(0, 0)  # blocks in a worker
    assert arr.started.wait(WAIT)
    viewer.dims.set_current_step(0, 2)  # supersedes it
    arr.gate.set()
    assert viewer.wait_until_idle(WAIT)
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.8 * 255, abs=2)
    (layer,) = viewer.layers
    frame = viewer.layer_frame(layer)
    assert frame is not None
    assert frame.slice0 == (2,)
    assert frame.settled


def test_a_failing_read_shows_an_error_keeps_others_and_recovers(viewer: Viewer) -> None:
    good = viewer.add_image(_stack(), contrast_limits=(0, 1), name="good")
    arr = GatedArray(_stack())
    bad = viewer.add_image(arr, contrast_limits=(0, 1), name="bad", opacity=0.0)
    viewer.wait_until_idle(WAIT)
    arr.fail = OSError("chunk 3 is corrupt")
    viewer.dims.set_current_step(0, 2)
    img = viewer.screenshot()
    status = viewer.layer_status(bad)
    assert status.state == "error"
    assert "chunk 3 is corrupt" in status.message
    assert viewer.layer_status(good).state == "ready"
    assert bad.status.startswith("error: ")
    assert "chunk 3 is corrupt" in bad.status
    assert good.status == "ready"
    assert _centre_gray(img) == pytest.approx(0.8 * 255, abs=2)  # the good layer still works
    arr.fail = None
    viewer.dims.set_current_step(0, 1)  # the next request retries
    viewer.wait_until_idle(WAIT)
    assert viewer.layer_status(bad).state == "ready"


def test_display_changes_do_not_reslice(viewer: Viewer) -> None:
    arr = GatedArray(_stack())
    layer = viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.wait_until_idle(WAIT)
    reads = arr.reads
    layer.contrast_limits = (0, 0.5)
    layer.opacity = 0.5
    layer.colormap = "viridis"
    viewer.screenshot()
    assert arr.reads == reads


def test_points_and_labels_slice_asynchronously_too(viewer: Viewer) -> None:
    labels = np.zeros((3, 16, 16), np.int32)
    labels[0, 4:12, 4:12] = 5
    gated = GatedArray(labels)
    gated.gate.clear()
    lab = viewer.add_labels(gated)  # returns while its read blocks in a worker
    assert gated.started.wait(WAIT)
    assert viewer.layer_status(lab).state == "loading"
    pts = viewer.add_points(np.array([[0.0, 8.0, 8.0], [2.0, 2.0, 2.0]]), size=3)
    workers: list[str] = []
    real = viewer.slicer.submit

    def spy(key: Any, task: Any, on_done: Any, on_error: Any, **kwargs: Any) -> int:
        def traced(token: Any) -> Any:
            workers.append(threading.current_thread().name)
            return task(token)

        return real(key, traced, on_done, on_error, **kwargs)

    viewer.slicer.submit = spy  # type: ignore[method-assign]
    viewer.dims.set_current_step(0, 0)  # a new plane for both layers
    gated.gate.set()
    img = viewer.screenshot()
    assert viewer.layer_status(lab).state == "ready"
    assert viewer.layer_status(pts).state == "ready"
    assert workers  # both layers were re-sliced ...
    assert all(name.startswith("tilescope-slice") for name in workers)  # ... off the main thread
    assert img[..., :3].max() > 0


def test_cursor_info_reads_the_slice_in_ram(viewer: Viewer) -> None:
    viewer.add_image(_stack(), contrast_limits=(0, 1), name="stack")
    viewer.screenshot()
    info = viewer.cursor_info((32, 32))
    assert info is not None
    assert info.layer_name == "stack"
    assert float(info.value) == pytest.approx(0.5)
    assert len(info.world) == 3


def test_cursor_info_on_a_coarse_level_reads_the_pixel_whose_footprint_holds_the_point(
    viewer: Viewer,
) -> None:
    """Level-1 pixel i of a 2x pyramid covers level-0 data [2i - 0.5, 2i + 1.5): the
    shared level geometry (napari's i * f convention read pixel round(x / 2))."""
    level0 = np.zeros((32, 32), np.float32)
    level1 = np.arange(256, dtype=np.float32).reshape(16, 16)
    layer = viewer.add_image([level0, level1], contrast_limits=(0, 255), name="pyramid")
    layer.locked_data_level = 1
    viewer.screenshot()
    differs = 0
    for cy in range(2, 62, 3):
        for cx in range(2, 62, 3):
            info = viewer.cursor_info((cx, cy))
            assert info is not None
            y, x = info.world[-2:]
            iy, ix = math.floor((y + 0.5) / 2), math.floor((x + 0.5) / 2)
            if not (0 <= iy < 16 and 0 <= ix < 16):
                continue
            assert info.layer_name == "pyramid"
            assert float(info.value) == level1[iy, ix], (cx, cy, y, x)
            differs += (iy, ix) != (math.floor(y / 2 + 0.5), math.floor(x / 2 + 0.5))
    assert differs > 0  # some probed points tell the two conventions apart


def test_bad_input_raises_typed_errors_and_keeps_layers(viewer: Viewer, tmp_path: Path) -> None:
    viewer.add_image(_stack(), contrast_limits=(0, 1))
    with pytest.raises(LayerDataError, match="at least 2 dimensions"):
        viewer.add_image(np.zeros(5))
    with pytest.raises(DataSourceError, match="does not exist"):
        viewer.open(tmp_path / "nope.npy")
    with pytest.raises(TilescopeError):
        viewer.add_labels(np.zeros((4, 4), np.float32))
    assert len(viewer.layers) == 1
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.5 * 255, abs=2)


def test_open_npy_and_screenshot_to_png(viewer: Viewer, tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", _stack())
    (layer,) = viewer.open(tmp_path / "s.npy")
    assert layer.name == "s"
    out = tmp_path / "shot.png"
    img = viewer.screenshot(out)
    assert out.stat().st_size > 0
    assert img.shape == (64, 64, 4)


def test_close_leaves_no_worker_thread() -> None:
    v = Viewer(show=False, size=(32, 32))
    arr = GatedArray(_stack())
    arr.gate.clear()
    v.add_image(arr)
    assert arr.started.wait(WAIT)
    v.close()  # returns at once: the running read is abandoned, never joined
    arr.gate.set()
    workers = [t for t in threading.enumerate() if t.name.startswith("tilescope-slice")]
    for t in workers:  # each exits once its read returns
        t.join(WAIT)
    assert [t for t in workers if t.is_alive()] == []


def test_slices_and_tiles_are_reported_on_screen_and_paint_is_timed(viewer: Viewer) -> None:
    shown: list[int] = []
    tiled: list[tuple[int, bool]] = []
    viewer.slice_shown.append(lambda resp, t: shown.append(resp.layer_id))
    viewer.frame_shown.append(lambda key, frame, t: tiled.append((key, frame.settled)))
    layer = viewer.add_image(_stack(), contrast_limits=(0, 1))
    points = viewer.add_points(np.array([[1, 8, 8]]), size=2)
    viewer.screenshot()
    assert shown == [points.layer_id]  # points are sliced; the image is drawn from tiles
    assert tiled[-1] == (layer.layer_id, True)
    stats = viewer.perf.stats()
    assert stats.by_name["paint"].count >= 1
    assert stats.by_name["apply_slice"].count >= 1


def test_unchanged_frames_are_not_redrawn(viewer: Viewer) -> None:
    viewer.add_image(_stack(), contrast_limits=(0, 1))
    viewer.add_labels(np.ones((16, 16), np.int32))
    viewer.screenshot()
    backend = viewer.backend
    applied: list[object] = []
    real_apply = backend.apply
    backend.apply = lambda plan: (applied.append(plan), real_apply(plan))  # type: ignore[method-assign]
    viewer.camera.zoom = viewer.camera.zoom  # no change
    viewer.layers[0].opacity = 1.0
    viewer.dims.set_current_step(1, viewer.dims.current_step[1])
    viewer.screenshot()
    assert applied == []
    viewer.layers[0].gamma = 0.5  # a real change is applied
    viewer.screenshot()
    assert len(applied) == 1


class _CountedLock:
    """The loader's lock, counting the main thread's outermost holds."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.holds = 0
        self._depth = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        if threading.current_thread() is threading.main_thread():
            self.holds += self._depth == 0
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is threading.main_thread():
            self._depth -= 1
        self.lock.release()


def test_a_frame_takes_the_loader_lock_once_and_sets_statuses_after(viewer: Viewer) -> None:
    """Each hold the main thread takes may find a worker in it and then cost a GIL
    hand-back: one per frame, whatever the layers. Statuses (user callbacks) are set with
    the lock let go, so a callback can never deadlock a worker finishing a load."""
    for value in (0.2, 0.5, 0.8):
        viewer.add_image(np.full((64, 64), value, np.float32), contrast_limits=(0, 1))
    viewer.screenshot()
    loader: Any = viewer.loader
    counted = _CountedLock(loader._lock)
    loader._lock = counted
    held: list[bool] = []
    set_status = viewer._set_status

    def recorded(layer: Any, status: Any) -> None:
        held.append(counted.lock._is_owned())
        set_status(layer, status)

    viewer._set_status = recorded  # type: ignore[method-assign]
    per_frame: list[int] = []
    resolve = viewer._resolve_tiles

    def frame() -> Any:
        before = counted.holds
        draws = resolve()
        per_frame.append(counted.holds - before)
        return draws

    viewer._resolve_tiles = frame  # type: ignore[method-assign]
    viewer.camera.zoom = viewer.camera.zoom * 2  # every layer re-plans
    viewer.screenshot()
    loader._lock = counted.lock
    assert per_frame
    assert all(n == 1 for n in per_frame), per_frame
    assert len(held) >= 3
    assert not any(held)


def test_points_frames_are_not_redrawn_when_unchanged(viewer: Viewer) -> None:
    pts = viewer.add_points(np.random.default_rng(0).random((100, 2)) * 16, size=2)
    viewer.screenshot()
    applied: list[object] = []
    real_apply = viewer.backend.apply
    viewer.backend.apply = lambda plan: (applied.append(plan), real_apply(plan))  # type: ignore[method-assign]
    viewer.camera.zoom = viewer.camera.zoom
    viewer.screenshot()
    assert applied == []
    pts.face_color = "red"  # new per-point values: re-sliced, redrawn
    viewer.screenshot()
    assert len(applied) == 1


def test_a_read_that_hangs_times_out_into_an_error_and_retries() -> None:
    # 0.5 s: on a loaded 2-core CI machine a healthy retry did not finish within 0.1 s
    v = Viewer(show=False, size=(32, 32), slice_timeout_s=0.5)
    try:
        arr = GatedArray(_stack())
        arr.gate.clear()
        layer = v.add_image(arr, contrast_limits=(0, 1))
        assert arr.started.wait(WAIT)
        assert v.wait_until_idle(WAIT)  # idle: the hung read was abandoned
        assert layer.status.startswith("error: ")
        assert "longer than 0.5 s" in layer.status
        arr.gate.set()
        # Every gated read (the hung one, the neighbours' prefetch) returns first: a
        # prefetch of plane 2 still running at the step would otherwise become that
        # tile's visible load and might reach its own timeout on a loaded machine
        assert arr.wait_all_returned()
        v.dims.set_current_step(0, 2)  # the next request retries and succeeds
        assert v.wait_until_idle(WAIT)
        assert layer.status == "ready"
    finally:
        arr.gate.set()
        v.close()


def test_hidden_layers_are_not_sliced_until_shown(viewer: Viewer) -> None:
    arr = GatedArray(_stack())
    layer = viewer.add_image(arr, contrast_limits=(0, 1), visible=False)
    viewer.dims.set_current_step(0, 2)
    viewer.wait_until_idle(WAIT)
    assert arr.reads == 0
    assert str(viewer.layer_status(layer)) == "hidden"  # not "loading": nothing is
    layer.visible = True
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.8 * 255, abs=2)
    assert arr.reads == 1


def _open_files(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_an_opened_tiff_is_closed_with_its_layer(viewer: Viewer, tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", _stack(), photometric="minisblack")
    tifffile.imwrite(tmp_path / "line.tif", np.arange(10, dtype=np.float32))
    (layer,) = viewer.open(tmp_path / "a.tif")
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.5 * 255, abs=2)
    assert _open_files(tmp_path / "a.tif") == 1
    viewer.layers.remove(layer)
    assert _open_files(tmp_path / "a.tif") == 0
    with pytest.raises(LayerDataError):  # 1-D: no layer, and the file is closed at once
        viewer.open(tmp_path / "line.tif")
    assert _open_files(tmp_path / "line.tif") == 0


def test_a_re_shown_layer_never_shows_its_out_of_date_slice(viewer: Viewer) -> None:
    arr = GatedArray(_stack())
    layer = viewer.add_image(arr, contrast_limits=(0, 1))
    viewer.dims.set_current_step(0, 0)
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.2 * 255, abs=2)
    layer.visible = False
    viewer.dims.set_current_step(0, 2)
    arr.gate.clear()
    layer.visible = True  # the plane-2 read blocks: plane 0 must not stand in for it
    assert _centre_gray(viewer.screenshot(wait=False)) == 0
    arr.gate.set()
    assert _centre_gray(viewer.screenshot()) == pytest.approx(0.8 * 255, abs=2)


def test_a_view_change_after_a_rest_loads_at_once_a_burst_waits(
    viewer: Viewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pools' delay queues hold back loads only within a burst of changes (a drag)."""
    import tilescope.viewer as viewer_module

    now = [1000.0]
    monkeypatch.setattr(viewer_module.time, "monotonic", lambda: now[0])
    viewer.add_image(_stack(), contrast_limits=(0, 1))  # (changes the dims and the camera)
    now[0] += 0.5
    viewer.camera.zoom = 2.0  # half a second after anything else: a single step
    assert viewer.loader.no_delay
    now[0] += 0.02
    viewer.camera.zoom = 2.5  # 20 ms later: a drag or a wheel spin
    assert not viewer.loader.no_delay
    now[0] += 0.5
    viewer.dims.set_current_step(0, 2)  # at rest again
    assert viewer.loader.no_delay
