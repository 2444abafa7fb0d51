"""The Viewer facade: what scripts, notebooks and the CLI use.

``Viewer`` ties the parts together without owning their logic:

- the Qt-free :class:`~tilescope.models.viewer_model.ViewerModel` (dims, camera, layers);
- a :class:`~tilescope.slicing.slicer.LayerSlicer` that slices every layer in a worker
  (asynchronous by default; ``force_sync()`` for scripts and tests);
- a :class:`~tilescope.render.base.RenderBackend` that draws frozen
  :class:`~tilescope.render.plan.RenderPlan` values;
- optionally a Qt window (``show=True``), the only part that needs a display.

Data flow: a model change marks the viewer dirty; on the main thread the viewer rebuilds each
layer's slice request (metadata only) and submits only those that differ from the last one;
slice results come back through :class:`~tilescope.hop.MainThreadQueue`; each flush turns the
models and the latest results into one plan and hands it to the backend, which applies only the
difference. The main thread never reads layer data.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt

from tilescope.alarm import Alarm, QuietTimer
from tilescope.cancel import CancelToken
from tilescope.collector import RestCollector
from tilescope.data.dask_support import DaskReads
from tilescope.data.io import read_path
from tilescope.data.layer_input import image_specs
from tilescope.data.priority import set_background_nice
from tilescope.data.remote import RemoteOptions
from tilescope.errors import DataSourceError, TilescopeError, ViewerClosedError
from tilescope.hop import MainThreadQueue
from tilescope.loading.config import get_config
from tilescope.loading.loader import ChunkLoader
from tilescope.models.admission import check_fits_dims, describe_keywords, user_error
from tilescope.models.camera import Camera, clamp_center, clamp_zoom
from tilescope.models.dims import Dims
from tilescope.models.dims_mapping import layer_axes
from tilescope.models.layerlist import LayerList
from tilescope.models.layers import Image, Labels, Layer, Points
from tilescope.models.playback import Player
from tilescope.models.viewer_model import ViewerModel
from tilescope.perf import PerfMonitor, PerfStats
from tilescope.render.base import RenderBackend
from tilescope.render.build import build_plan, plan_key
from tilescope.render.plan import TILE_FAILED, CameraView, TiledDraw
from tilescope.render.tiled import LayerFrame, TiledFrames, is_tiled
from tilescope.slicing.prefetch import VolumePrefetcher
from tilescope.slicing.requests import (
    ImageSliceRequest,
    ImageSliceResponse,
    SliceRequest,
    SliceResponse,
    build_slice_request,
    request_signature,
)
from tilescope.slicing.slicer import LayerSlicer
from tilescope.tiles.geometry import pixel_containing
from tilescope.tiles.view import update_view_from_world

__all__ = ["CursorInfo", "LayerStatus", "Viewer"]

DEFAULT_SIZE: tuple[int, int] = (768, 1024)

L = TypeVar("L", bound=Layer)


@dataclass(frozen=True, slots=True)
class CursorInfo:
    """What is under a canvas position: world coordinates and the top layer's value there.

    The window formats it (with axis labels) in :func:`tilescope.views.status.format_cursor`.
    """

    world: tuple[float, ...]
    layer_name: str | None = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class LayerStatus:
    """A layer's loading state as shown to the user."""

    state: str  # "ready" | "loading" | "error" | "hidden" | "removed"
    message: str = ""

    def __str__(self) -> str:
        return self.state if not self.message else f"{self.state}: {self.message}"


class Viewer:
    """An n-D image viewer, in a window (``show=True``) or headless (``show=False``).

    Parameters
    ----------
    show
        Open a Qt window. ``show=False`` never needs a display: rendering goes through EGL.
    size
        Canvas size ``(height, width)`` in pixels.
    title
        Window title.
    ndisplay
        2 or 3 displayed dimensions.
    backend
        A render backend to use instead of the default vispy one (tests pass fakes).
    slice_timeout_s
        A slice read still running after this long is reported as failed (the layer shows
        the error and the next request retries), so nothing stays "loading" forever.
    slice_workers
        Worker threads that read slices.
    slice_reads_per_layer
        At most this many reads of one layer run at once (superseded reads that ignore their
        cancellation still count), so one hung or slow source cannot take every worker.
        Default: half the workers, rounded up.
    """

    def __init__(
        self,
        *,
        show: bool = True,
        size: tuple[int, int] = DEFAULT_SIZE,
        title: str = "tilescope",
        ndisplay: int = 2,
        backend: RenderBackend | None = None,
        slice_timeout_s: float = 60.0,
        slice_workers: int = 4,
        slice_reads_per_layer: int | None = None,
    ) -> None:
        if show:
            from tilescope.views.app import get_app

            get_app()  # a clear NoDisplayError before any GL or Qt work
        own_backend = backend is None
        if backend is None:
            from tilescope.render import create_backend

            backend = create_backend(show=show, size=size)
        self._backend = backend
        self.perf = PerfMonitor()
        self._hop = MainThreadQueue()
        config = get_config()
        set_background_nice(config.loader_defaults.background_nice)  # before any worker starts
        try:
            self._slicer = LayerSlicer(
                self._hop,
                max_workers=slice_workers,
                timeout_s=slice_timeout_s,
                per_layer_limit=slice_reads_per_layer,
            )
        except BaseException:
            if own_backend:
                backend.close()  # a refused setting leaves no canvas of ours behind
            raise
        self.model = ViewerModel(ndisplay=ndisplay, canvas_size=size)
        self._tiles_posted = threading.Lock()
        self._tiles_pending = False
        self._loader = ChunkLoader(config, notify=self._on_tiles_posted, timeout_s=slice_timeout_s)
        settings = config.render
        if os.environ.get("TILESCOPE_DEBUG_TILES", "").strip() not in ("", "0"):
            settings = dataclasses.replace(settings, debug_tiles=True)
        self._tiles = TiledFrames(self._loader, settings)
        # 3D volumes (layers the slicer reads whole): their slices near and ahead, prefetched
        # into the loader's RAM cache (see slicing/prefetch.py)
        self._volumes = VolumePrefetcher(
            self._hop,
            self._loader.cache,
            config.prefetch,
            visible_busy=self._slicer.waiting,
            read_task=lambda request: _as_task(request, self._slicer.dask),
            timeout_s=slice_timeout_s,
        )
        self._volumes.playing = lambda: self._play_speed() is not None
        self._frames: dict[int, LayerFrame] = {}
        self._recorded: dict[int, tuple[tuple[Any, ...], Any]] = {}  # see _record_view
        #: sliced layers' statuses as their reads left them (the player's note is added)
        self._slice_status: dict[int, tuple[Layer, LayerStatus]] = {}
        self._more_tiles = False
        self._last_view_change = -math.inf
        self._awaiting_tiles: dict[int, LayerFrame] = {}
        #: frames of layers whose visual the backend has not made yet (reported once it has)
        self._unmade_tiles: dict[int, LayerFrame] = {}
        #: Called as ``callback(layer_id, frame, time.perf_counter())`` after a frame of a
        #: tiled layer is on screen (its tile counts say how complete it is).
        self.frame_shown: list[Callable[[int, LayerFrame, float], None]] = []
        self._responses: dict[int, SliceResponse] = {}
        self._signatures: dict[int, tuple[Any, ...]] = {}
        self._status: dict[int, LayerStatus] = {}
        self._disconnects: dict[int, Callable[[], None]] = {}
        self._closers: dict[int, Callable[[], None]] = {}
        self._flush_posted = False
        self._prefetch_posted = False
        self._prepare_posted = False
        self._closed = False
        self._window: Any = None
        self.status_changed: list[Callable[[Layer, LayerStatus], None]] = []
        #: Called as ``callback(response, time.perf_counter())`` once a slice is on screen.
        self.slice_shown: list[Callable[[SliceResponse, float], None]] = []
        self._fresh: dict[int, SliceResponse] = {}
        self._last_plan_key: tuple[Any, ...] | None = None
        self._awaiting_frame: dict[int, SliceResponse] = {}
        #: Plays a dims axis (:meth:`play`); a window's play button ticks it, scripts call
        #: ``player.tick()`` from their loop.
        self.player = Player(self.model.dims, self.step_shown)
        # a frame when the slider or the view comes to rest (see _wake_at_rest)
        self._rest_alarm = Alarm(self._on_rest, "tilescope-rest")
        self._rest_due: float | None = None
        # full garbage collections wait until the user rests (see collector.py)
        self._gc_alarm = Alarm(lambda: self._hop.post(self._collect_at_rest), "tilescope-gc")
        self._collector = RestCollector(self._gc_alarm.arm)
        # a window may draw moving frames at a lower resolution (see render/vispy/_motion.py)
        self._motion_alarm = Alarm(lambda: self._hop.post(self._motion_settled), "tilescope-motion")
        self._motion = QuietTimer(self._motion_alarm.arm, MOTION_SETTLE_S)
        self._tiles.prefetcher.target_speed = self._play_speed
        self._backend.on_camera_changed(self._on_backend_camera)
        self._backend.on_resized(self._on_backend_resized)
        self._backend.on_frame(self._on_frame)

        self.model.dims.events.changed.connect(self._on_view_changed)
        self.model.camera.events.changed.connect(self._on_camera_changed)
        self.model.layers.events.inserted.connect(self._on_layer_inserted)
        self.model.layers.events.removed.connect(self._on_layer_removed)
        self.model.layers.events.reordered.connect(self._schedule_flush)
        self.model.layers.events.moved.connect(self._schedule_flush)
        if show:
            from tilescope.views.window import open_window

            try:
                self._window = open_window(self, title=title)
            except BaseException:
                self.close()  # no worker thread or canvas outlives a failed start
                raise
        _tune_interpreter(interactive=show)
        self._schedule_flush()

    # ---- public API ---------------------------------------------------------------------
    @property
    def dims(self) -> Dims:
        self._check_open()
        return self.model.dims

    @property
    def camera(self) -> Camera:
        self._check_open()
        return self.model.camera

    @property
    def layers(self) -> LayerList[Any]:
        self._check_open()
        return self.model.layers

    @property
    def backend(self) -> RenderBackend:
        return self._backend

    @property
    def window(self) -> Any:
        """The Qt window, or ``None`` for a headless viewer."""
        return self._window

    @property
    def hop(self) -> MainThreadQueue:
        """The queue carrying worker results to the main thread (the Qt window drains it)."""
        return self._hop

    @property
    def slicer(self) -> LayerSlicer:
        return self._slicer

    @property
    def volume_prefetch(self) -> VolumePrefetcher:
        """Prefetches the slices near and ahead of 3D volumes (layers sliced whole)."""
        return self._volumes

    @property
    def loader(self) -> ChunkLoader:
        """Loads the tiles of 2D Image and Labels layers in worker threads."""
        return self._loader

    @property
    def debug_tiles(self) -> bool:
        """Outline every drawn tile in a colour per level (also ``TILESCOPE_DEBUG_TILES=1``)."""
        return self._tiles.debug

    @debug_tiles.setter
    def debug_tiles(self, value: bool) -> None:
        self._tiles.debug = bool(value)
        self._schedule_flush()

    @property
    def show_placeholders(self) -> bool:
        """Mark tiles drawn coarser than ideal while the ideal ones load (on by default)."""
        return self._tiles.show_placeholders

    @show_placeholders.setter
    def show_placeholders(self, value: bool) -> None:
        self._tiles.show_placeholders = bool(value)
        self._schedule_flush()

    def layer_frame(self, layer: Layer) -> LayerFrame | None:
        """The last frame's tile counts of a tiled layer (None for a sliced one)."""
        return self._frames.get(layer.layer_id)

    @overload
    def add_image(self, data: Any, *, channel_axis: None = None, **kwargs: Any) -> Image: ...

    @overload
    def add_image(self, data: Any, *, channel_axis: int, **kwargs: Any) -> list[Image]: ...

    def add_image(
        self, data: Any, *, channel_axis: int | None = None, **kwargs: Any
    ) -> Image | list[Image]:
        """Add an image layer (napari's keywords: contrast_limits, colormap, scale, ...).

        ``channel_axis=k`` adds one layer per index along axis ``k`` and returns the list
        (napari's semantics: per-channel keyword lists, additive blending, default colormaps;
        see :mod:`tilescope.data.channels`). An xarray ``DataArray`` brings its ``dims`` as
        axis labels and regular coordinates as ``scale``/``translate``.
        Returns at once: the slice is read in a worker (see :meth:`wait_until_idle`).
        Atomic: a refused keyword raises a ``ValueError``/``TypeError`` subclass naming it,
        and leaves the viewer as it was.
        """
        self._check_open()
        specs = image_specs(data, channel_axis, kwargs)
        with self._atomic() as added:
            for spec in specs:
                make = functools.partial(Image, spec.data, **spec.kwargs)
                added.append(self._add(make, "image", spec.kwargs))
        layers = cast(list[Image], added)
        self._label_axes(layers)
        return layers if channel_axis is not None else layers[0]

    def add_labels(self, data: Any, **kwargs: Any) -> Labels:
        """Add a labels layer (integer data, exact per-label colours). Atomic."""
        return self._add(lambda: Labels(data, **kwargs), "labels", kwargs)

    def add_points(self, data: Any = None, **kwargs: Any) -> Points:
        """Add a points layer (``(N, D)`` coordinates). Atomic."""
        return self._add(lambda: Points(data, **kwargs), "points", kwargs)

    def open(
        self, path: str | os.PathLike[str], *, remote: RemoteOptions | None = None
    ) -> list[Layer]:
        """Open a ``.npy``, TIFF, zarr or OME-Zarr path, or a URL, lazily and add its layers.

        ``remote`` sets the timeout and concurrency of URL reads (default: from the
        environment, see :class:`~tilescope.data.remote.RemoteOptions`). Axis labels from the
        file's metadata become ``dims.axis_labels``. A file kept open for lazy reads (TIFF) is
        closed when its last layer is removed or the viewer closes, or at once if its data
        cannot become a layer.
        """
        self._check_open()
        specs = read_path(path, remote=remote)
        with self._atomic() as added:  # a file whose second layer is refused adds none
            for n, spec in enumerate(specs):
                kwargs = {"name": spec.name, **spec.kwargs} if spec.name else dict(spec.kwargs)
                add = self.add_labels if spec.layer_type == "labels" else self.add_image
                try:
                    layer: Layer = add(spec.data, **kwargs)
                except BaseException:
                    for later in specs[n:]:  # never added: close what they hold now
                        if later.close is not None:
                            later.close()
                    raise
                if spec.close is not None:
                    self._closers[layer.layer_id] = spec.close
                added.append(layer)
        self._label_axes(added)
        return added

    def reset_view(self) -> None:
        """Fit the camera to the layers."""
        self._check_open()
        self.model.reset_view(self.model.canvas_size)

    def retry(self) -> None:
        """Retry every failed read now: tiles waiting out their back-off and layers whose
        slice failed (after fixing a source, say; otherwise retries come on their own)."""
        self._check_open()
        self._loader.retry()
        self._tiles.forget_failures()
        for layer in self._layer_models():
            if self.layer_status(layer).state == "error":
                self._signatures.pop(layer.layer_id, None)  # re-sliced by the refresh below
        self._refresh_slices()

    def play(self, axis: int | None = None, fps: float = 10.0) -> Player:
        """Play world ``axis`` (default: the first sliced one) at ``fps``, looping.

        Every step is shown (at the best level resident when its time comes) before the
        next; when the data cannot keep the rate, frames wait and the layer status says at
        what rate and level it runs. In a window the slider's play button shows it; headless,
        call ``viewer.player.tick()`` from your loop.
        """
        if axis is None:
            sliced = self.model.dims.not_displayed
            if not sliced:
                raise ValueError("nothing to play: every axis is displayed")
            axis = sliced[0]
        self.player.play(axis, fps)
        return self.player

    def stop(self) -> None:
        """Stop playing; the current slice refines to full detail."""
        self.player.stop()

    def _play_speed(self) -> float | None:
        """The playing rate (prefetch picks levels that keep it), None when not playing."""
        return self.player.fps if self.player.playing_axis is not None else None

    def step_shown(self) -> bool:
        """Whether the current slice is on screen: every visible layer draws its own slice
        (tiled layers at any level, not a nearby slice standing in; a failed tile counts as
        shown). The player waits for it before each step."""
        dims = self.model.dims.state
        for layer in self._layer_models():
            if not layer.visible:
                continue
            if not is_tiled(layer, dims):
                if self._slicer.pending():
                    return False
                continue
            frame = self._frames.get(layer.layer_id)
            if frame is None or frame.stand_in is not None:
                return False
            if frame.draw is None:
                continue  # nothing of it in view
            if not frame.draw.quads and not frame.settled:
                return False
        return True

    def layer_status(self, layer: Layer) -> LayerStatus:
        """``ready``, ``loading``, ``error: message`` or ``removed`` for ``layer``.

        Still answers after :meth:`close` (a report, not an action).
        """
        return self._status.get(layer.layer_id, LayerStatus("loading"))

    @contextmanager
    def force_sync(self) -> Iterator[None]:
        """Slice and load tiles synchronously inside this block (for scripts and tests)."""
        self._check_open()
        before = self._loader.force_synchronous
        self._loader.force_synchronous = True
        try:
            with self._slicer.force_sync():
                yield
        finally:
            self._loader.force_synchronous = before

    def wait_until_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until every pending slice has arrived and every visible tile is at the ideal
        level or failed (marked on screen); False on timeout. Scripts only."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not self._slicer.wait_until_idle(left):
                self._hop.drain()
                return False
            self._hop.drain()
            self._flush()
            if self._idle():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self._tiles.backlog:
                continue  # uploads left over from the last frame's budget
            left = 0.05 if deadline is None else min(0.05, max(deadline - time.monotonic(), 0.0))
            self._hop.wait_posted(left)

    def _idle(self) -> bool:
        """Nothing left to show: no slice pending, every tiled layer settled, no backlog."""
        if self._slicer.pending() or self._tiles.backlog:
            return False
        return all(frame.settled for frame in self._frames.values())

    def screenshot(
        self,
        path: str | os.PathLike[str] | None = None,
        size: tuple[int, int] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = 60.0,
    ) -> npt.NDArray[np.uint8]:
        """Render the canvas to an ``(h, w, 4)`` RGBA array; also write a PNG to ``path``.

        By default waits for pending slices first (``wait=False`` takes what is there now).
        Works with no display at all.
        """
        self._check_open()
        if wait:
            self.wait_until_idle(timeout)
        else:
            self._hop.drain()
        self._flush()
        with self.perf.task("screenshot"):
            image = self._backend.screenshot(size)
        if path is not None:
            _write_png(Path(path), image)
        return image

    def cursor_info(self, canvas_xy: Sequence[float]) -> CursorInfo | None:
        """World coordinate under a canvas pixel and the top visible layer's value there.

        Uses only slices already in RAM: never reads layer data. ``None`` after :meth:`close`
        (the window may still ask while it closes).
        """
        if self._closed:
            return None
        try:
            shown = self._backend.canvas_to_world(canvas_xy)
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
            return None
        dims = self.model.dims.state
        world = list(dims.point)
        for axis, value in zip(dims.displayed, shown, strict=False):
            world[axis] = float(value)
        for layer in reversed(self._layer_models()):
            if not layer.visible:
                continue
            if layer.layer_id in self._frames:
                value = self._tiled_value(layer, shown)
                if value is not None:
                    return CursorInfo(tuple(world), layer.name, value)
                continue
            resp = self._responses.get(layer.layer_id)
            if not isinstance(resp, ImageSliceResponse) or resp.empty:
                continue
            value = _value_at(resp, shown)
            if value is not None:
                return CursorInfo(tuple(world), layer.name, value)
        return CursorInfo(tuple(world))

    def _tiled_value(self, layer: Layer, shown: Sequence[float]) -> Any:
        frame = self._frames.get(layer.layer_id)
        if frame is None or frame.draw is None or len(shown) != 2:
            return None
        inv = np.linalg.inv(frame.draw.transform)
        data = inv @ np.append(np.asarray(shown, dtype=np.float64), 1.0)
        return self._tiles.value_at(layer, (float(data[0]), float(data[1])))

    @property
    def perf_stats(self) -> PerfStats:
        return self.perf.stats()

    def run(self) -> int:
        """Enter the Qt event loop until the window closes (returns its exit status)."""
        self._check_open()
        if self._window is None:
            raise TilescopeError("run() needs a window: create the Viewer with show=True")
        from tilescope.views.app import run_event_loop

        return run_event_loop()

    def close(self) -> None:
        """Stop workers, release the canvas and close the window. Safe to call twice.

        Returns promptly whatever the reads do: a read still running is abandoned (its
        thread exits when the read returns) and its result dropped. Afterwards every call
        that would act (``add_*``, ``open``, ``screenshot``, ``wait_until_idle``,
        ``force_sync``, ``reset_view``, ``run``, and ``dims``/``camera``/``layers``, through
        which slider and camera changes go) raises :class:`~tilescope.errors.ViewerClosedError`;
        ``layer_status`` and ``perf`` still report. The models in ``viewer.model`` outlive
        the viewer as plain evented objects: changing them drives nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._rest_alarm.close()
        self._gc_alarm.close()
        self._collector.close()
        self._motion_alarm.close()
        self._slicer.shutdown()  # never waits for a running read
        self._volumes.close()  # nor for a running prefetch
        self._tiles.close()
        self._loader.close()  # never waits for a running load either
        # the models outlive the viewer: they stop driving it (nothing is sliced or drawn)
        self.model.dims.events.changed.disconnect(self._on_view_changed)
        self.model.camera.events.changed.disconnect(self._on_camera_changed)
        self.model.layers.events.inserted.disconnect(self._on_layer_inserted)
        self.model.layers.events.removed.disconnect(self._on_layer_removed)
        self.model.layers.events.reordered.disconnect(self._schedule_flush)
        self.model.layers.events.moved.disconnect(self._schedule_flush)
        for disconnect in self._disconnects.values():
            disconnect()
        self._disconnects.clear()
        if self._window is not None:
            self._window.close()
            self._window = None
        self._backend.close()
        self.perf.close()
        for closer in self._closers.values():
            closer()
        self._closers.clear()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- layers -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ViewerClosedError(
                "this viewer is closed; create a new tilescope.Viewer to show more data"
            )

    def _add(self, make: Callable[[], L], kind: str, kwargs: dict[str, Any]) -> L:
        """Build, check and insert a layer atomically: on any failure nothing is left behind.

        psygnal wraps exceptions raised by ``inserted`` handlers in ``EmitLoopError`` after
        the layer is already in the list, so what can be checked is checked first
        (:mod:`tilescope.models.admission`), and a late failure is rolled back and re-raised
        as the typed error its handler raised.
        """
        self._check_open()
        layer = make()
        what, given = f"{kind} layer {layer.name!r}", describe_keywords(kwargs)
        check_fits_dims(self._layer_models(), layer, self.model.dims.state, what=what, given=given)
        dims, camera = self.model.dims.state, self.model.camera.state
        try:
            self.model.add_layer(layer)
        except Exception as e:
            if layer in self.model.layers:
                self.model.layers.remove(layer)
            self._status.pop(layer.layer_id, None)
            self.model.dims.set_state(dims)
            self.model.camera.set_state(camera)
            raise user_error(e, what=what, given=given) from None
        return layer

    @contextmanager
    def _atomic(self) -> Iterator[list[Layer]]:
        """Add several layers as one call: if one fails, those added before it go too."""
        dims, camera = self.model.dims.state, self.model.camera.state
        added: list[Layer] = []
        try:
            yield added
        except BaseException:
            for layer in reversed(added):
                if layer in self.model.layers:
                    self.model.layers.remove(layer)
                self._status.pop(layer.layer_id, None)
            self.model.dims.set_state(dims)
            self.model.camera.set_state(camera)
            raise

    def _label_axes(self, layers: Sequence[Layer]) -> None:
        """Right-align the ``axis_labels`` a layer's metadata carries onto ``dims``."""
        labels = list(self.model.dims.axis_labels)
        for layer in layers:
            given = layer.metadata.get("axis_labels") if layer.metadata else None
            if isinstance(given, tuple | list) and 0 < len(given) <= len(labels):
                labels[len(labels) - len(given) :] = [str(v) for v in given]
        if len(set(labels)) == len(labels) and tuple(labels) != self.model.dims.axis_labels:
            self.model.dims.axis_labels = labels

    def _layer_models(self) -> list[Layer]:
        return [cast(Layer, layer) for layer in self.model.layers]

    def _on_layer_inserted(self, index: int, layer: Layer) -> None:
        with self.perf.task("layer_added"):
            self._collector.activity()
            changed = layer.events.changed

            def on_changed(*_: Any) -> None:
                self._collector.activity()  # a contrast drag is the user's too
                self._refresh_layer(layer)

            changed.connect(on_changed)
            self._disconnects[layer.layer_id] = lambda: changed.disconnect(on_changed)
            self._update_views()
            self._refresh_slices()

    def _on_layer_removed(self, index: int, layer: Layer) -> None:
        key = layer.layer_id
        self._collector.sweep_soon()  # its objects may be frozen (see collector.py)
        disconnect = self._disconnects.pop(key, None)
        if disconnect is not None:
            disconnect()
        self._slicer.cancel(key)
        self._volumes.forget(key)
        self._tiles.drop(key)
        # its cached tiles and volumes are of no use to any other layer (a volume of numpy
        # data is a view: it would keep the whole array alive until evicted)
        self._loader.cache.clear(key)
        self._frames.pop(key, None)
        self._recorded.pop(key, None)
        self._slice_status.pop(key, None)
        self._responses.pop(key, None)
        self._signatures.pop(key, None)
        self._set_status(layer, LayerStatus("removed"))
        closer = self._closers.pop(key, None)
        if closer is not None:
            closer()
        self._refresh_slices()

    # ---- change handling (main thread) --------------------------------------------------
    def _on_view_changed(self, *_: Any) -> None:
        with self.perf.task("view_changed"):
            self._note_view_change()
            self._update_views()
            self._refresh_slices()

    def _on_camera_changed(self, *_: Any) -> None:
        """Camera moves come in bursts (a drag): tiled layers re-plan in the next frame, once
        for the whole burst, from what is resident."""
        with self.perf.task("view_changed"):
            self._note_view_change()
            self._update_views()
            self._refresh_slices(tiles_now=False)

    def _note_view_change(self) -> None:
        """A view change after a rest (a zoom step, a click on the slider, a script) loads at
        once; within a burst (a drag, a scrub) the pools' delay queues hold new loads back,
        so views passed through are not fetched."""
        now = time.monotonic()
        # quiet for twice the longest delay: a burst's events (10-60 Hz) come well within it,
        # even with a late timer tick
        rest_s = 2 * max(p.settings.delay_queue_ms for p in self._loader.pools) / 1000.0
        self._loader.no_delay = now - self._last_view_change >= rest_s
        self._last_view_change = now
        self._collector.activity()
        if self._backend.motion_frames:
            self._backend.set_motion(True)
            self._motion.touch()

    def _motion_settled(self) -> None:
        """The motion alarm (posted): once no view change came for ``MOTION_SETTLE_S``, the
        window draws at full resolution again."""
        if not self._closed and self._motion.expired():
            self._backend.set_motion(False)

    def _update_views(self) -> None:
        """Tell multiscale layers what is in view so they pick their level (napari 2D)."""
        dims = self.model.dims.state
        if dims.ndisplay != 2:
            return
        canvas = self.model.canvas_size
        try:
            lo, hi = self.model.camera.view_rect(canvas)
        except TilescopeError:
            return
        for layer in self.model.layers:
            if isinstance(layer, Image | Labels) and layer.multiscale and not is_tiled(layer, dims):
                update_view_from_world(layer, lo, hi, canvas, dims)

    def _refresh_slices(self, tiles_now: bool = True) -> None:
        """Re-slice what changed. With ``tiles_now`` (a new layer, a slider step) tiled layers
        re-plan at once, so their loads start before this returns; else in the next frame.

        The frame itself (draws, uploads, the backend's apply) is the posted flush's, a task
        of its own: planning a slider step and drawing it in one task took 10-12 ms of CPU
        with five tiled layers, each half 5-6 ms. The flush finds the plans made here
        unchanged (``TiledFrames.resolve``'s last frame) unless tiles came. (A script adding
        layers in a row gets one flush for all of them; the backend then makes one new
        visual per frame, the others in tasks of their own.)
        """
        for layer in self._layer_models():
            self._refresh_layer(layer)
        if tiles_now and (
            self._frames
            or any(
                layer.visible and is_tiled(layer, self.model.dims.state)
                for layer in self._layer_models()
            )
        ):
            self._tiles.accept(self._loader.drain())
            self._resolve_tiles()  # asks the loader for the new tiles; drawn by the flush
        self._schedule_flush()

    def _refresh_layer(self, layer: Layer) -> None:
        """Resubmit ``layer``'s slice if its request changed; otherwise just redraw."""
        if self._closed:
            return
        if not layer.visible:  # sliced when shown again (its `changed` brings it back here)
            self._signatures.pop(layer.layer_id, None)
            self._responses.pop(layer.layer_id, None)  # never shown again once out of date
            self._slicer.cancel(layer.layer_id)
            self._volumes.forget(layer.layer_id)
            self._loader.set_wanted(layer.layer_id, ())  # its atlas stays for a quick return
            self._frames.pop(layer.layer_id, None)
            self._set_status(layer, LayerStatus("hidden"))  # nothing is loading for it
            self._schedule_flush()
            return
        if is_tiled(layer, self.model.dims.state):  # resolved each frame from its tiles
            if layer.layer_id in self._signatures:
                self._signatures.pop(layer.layer_id)
                self._responses.pop(layer.layer_id, None)
                self._slicer.cancel(layer.layer_id)
                self._volumes.forget(layer.layer_id)
            self._schedule_flush()
            return
        if layer.layer_id in self._frames:  # no longer tiled (3D, projection): slice it
            self._frames.pop(layer.layer_id)
            self._tiles.drop(layer.layer_id)
        try:
            request = build_slice_request(layer, self.model.dims.state)
        except TilescopeError as e:
            self._set_status(layer, LayerStatus("error", str(e)))
            self._schedule_flush()
            return
        sig = request_signature(request)
        key = layer.layer_id
        if self._signatures.get(key) != sig or self._status.get(key, LayerStatus("")).state == (
            "error"
        ):
            self._signatures[key] = sig
            self._submit_slice(layer, request)
            if isinstance(request, ImageSliceRequest):
                self._volumes.plan(layer, self.model.dims.state, request)
        self._schedule_flush()

    def _submit_slice(self, layer: Layer, request: SliceRequest) -> None:
        """Slice ``layer``: from a prefetched volume at once, by waiting for its running
        prefetch, or by a read of its own."""
        task: Callable[[CancelToken], Any] | None = None
        if isinstance(request, ImageSliceRequest) and not request.empty:
            cached = self._volumes.take(request)
            if cached is not None:
                self._slicer.cancel(layer.layer_id)  # the step before's read is not wanted
                self._on_slice_done(layer, cached)
                return
            task = self._volumes.adopt(request)
        shown = self._responses.get(layer.layer_id)
        # the slice on screen stays there until this one arrives: say it is not this slice
        stands_in = isinstance(shown, ImageSliceResponse) and not shown.empty
        note = "the slice shown before stands in" if stands_in else ""
        self._set_slice_status(layer, LayerStatus("loading", note))
        self._slicer.submit(
            layer.layer_id,
            task or _as_task(request, self._slicer.dask),
            lambda resp: self._on_slice_done(layer, resp),
            lambda exc: self._on_slice_error(layer, exc),
            label=f"layer {layer.name!r}",
        )

    def _on_slice_done(self, layer: Layer, response: SliceResponse) -> None:
        with self.perf.task("apply_slice"):
            self._responses[layer.layer_id] = response
            if isinstance(layer, Image) and isinstance(response, ImageSliceResponse):
                estimate = response.contrast_limits_estimate
                if estimate is not None:
                    # lazy data: default contrast limits come from the first slice's values
                    limits, limits_range = estimate
                    layer.apply_contrast_limits_estimate(
                        limits, limits_range, response.data_version
                    )
            self._set_slice_status(layer, LayerStatus("ready"))
            self._fresh[layer.layer_id] = response
            self._volumes.keep(response)  # scrubbing back shows it at once
            self._volumes.pump()  # no visible read may be left: prefetch can go on
            self._schedule_flush()

    def _on_slice_error(self, layer: Layer, exc: BaseException) -> None:
        # Keep the last good slice on screen; the next request for this slice retries.
        self._signatures.pop(layer.layer_id, None)
        self._set_status(layer, LayerStatus("error", str(exc) or type(exc).__name__))
        self._volumes.pump()
        self._schedule_flush()

    def _set_slice_status(self, layer: Layer, status: LayerStatus) -> None:
        """A sliced layer's status; while a player runs below its rate, with that said."""
        self._slice_status[layer.layer_id] = (layer, status)
        note = self.player.note()
        if note is not None:
            status = LayerStatus(
                status.state, f"{status.message}; {note}" if status.message else note
            )
        self._set_status(layer, status)

    def _refresh_play_notes(self) -> None:
        """Each frame: a player's rate changes while a slice is held (no slice event comes)."""
        dims = self.model.dims.state
        for layer_id, (layer, status) in list(self._slice_status.items()):
            if is_tiled(layer, dims):  # tiled now: its frames say its status
                del self._slice_status[layer_id]
            elif self._status.get(layer_id, status).state in ("loading", "ready"):
                self._set_slice_status(layer, status)

    def _set_status(self, layer: Layer, status: LayerStatus) -> None:
        if self._status.get(layer.layer_id) == status:
            return
        self._status[layer.layer_id] = status
        layer.status = str(status)
        for callback in list(self.status_changed):
            callback(layer, status)

    def _on_backend_camera(self, view: CameraView) -> None:
        with self.perf.task("camera_input"):
            self.model.camera.update(  # canvas input stays within what can be drawn
                center=clamp_center(view.center), zoom=clamp_zoom(view.zoom), angles=view.angles
            )

    def _on_backend_resized(self, size: tuple[int, int]) -> None:
        self.model.canvas_size = size
        self._on_view_changed()

    # ---- drawing ------------------------------------------------------------------------
    def _schedule_flush(self, *_: Any) -> None:
        """Coalesce redraw requests: one flush per drain of the main-thread queue."""
        if not self._flush_posted and not self._closed:
            self._flush_posted = True
            self._hop.post(self._flush)

    def _on_tiles_posted(self) -> None:
        """Loader results are waiting (worker threads): one coalesced hop to the main thread."""
        with self._tiles_posted:
            if self._tiles_pending:
                return
            self._tiles_pending = True
        self._hop.post(self._on_tiles_ready)

    def _on_tiles_ready(self) -> None:
        with self._tiles_posted:
            self._tiles_pending = False
        if self._rest_due is not None and time.monotonic() >= self._rest_due:
            self._rest_due = None  # this frame is the one the rest alarm asked for
        self._schedule_flush()

    def _flush(self) -> None:
        """One frame: drain finished tiles, resolve every layer, apply the difference."""
        self._flush_posted = False
        if self._closed:
            return
        self._slicer.poll()
        with self.perf.task("apply_plan"):
            self._tiles.accept(self._loader.drain())
            tiled = self._resolve_tiles()
            plan = build_plan(self.model, self._responses, tiled)
            key = plan_key(plan)
            # an unchanged frame is not redrawn; tile uploads always go to the backend
            if key != self._last_plan_key or self._tiles.has_uploads:
                self._last_plan_key = key
                self._backend.apply(plan)
                self._await_frames({k: f for k, f in self._frames.items() if k in tiled})
            self._tiles.applied()  # the uploads are in the backend's hands now
        if self._slice_status:
            self._refresh_play_notes()
            self._volumes.replan_rested(self._layer_models(), self.model.dims.state)
        self._awaiting_frame.update(self._fresh)
        self._fresh.clear()
        if self._backend.wants_prepare and not self._prepare_posted:
            self._prepare_posted = True  # its own task, after this frame
            self._hop.post(self._prepare_render)
        if self._tiles.prefetcher.pending and not self._prefetch_posted:
            self._prefetch_posted = True  # its own task: the frame never waits for it
            self._hop.post(self._prefetch)
        # Uploads left over from this frame's budget go in the next frame, after this one is
        # painted (a window); headless, wait_until_idle() resolves frames until none is left.
        self._more_tiles = bool(self._tiles.backlog)
        self._wake_at_rest()
        self._collector.poke()

    def _await_frames(self, frames: dict[int, LayerFrame]) -> None:
        """Report ``frames`` (and those held before) after the next paint, except a layer's
        whose visual the backend has yet to make: it is not on screen yet."""
        pending = self._backend.pending_layers
        held, self._unmade_tiles = {**self._unmade_tiles, **frames}, {}
        for key, frame in held.items():
            if key in pending:
                self._unmade_tiles[key] = frame
            elif key in self._frames:  # not removed meanwhile
                self._awaiting_tiles[key] = frame

    def _collect_at_rest(self) -> None:
        """The collector's alarm (posted): a deferred full garbage collection if the user
        rested; timed as an idle task (``perf.IDLE_TASKS``) only when one ran."""
        if self._closed:
            return
        start, cpu = time.perf_counter(), time.thread_time()
        if self._collector.rest():
            ms, cpu_ms = (time.perf_counter() - start) * 1e3, (time.thread_time() - cpu) * 1e3
            self.perf.record("collect_at_rest", start, ms, cpu_ms)

    def _prepare_render(self) -> None:
        """What the renderer makes ahead of the next frames (a tiled layer's next visual or
        page texture), one piece per task."""
        self._prepare_posted = False
        if self._closed:
            return
        with self.perf.task("prepare"):
            more = self._backend.prepare()
            if self._unmade_tiles:  # a visual made: its layer's frame is on the next paint
                self._await_frames({})
        if more:
            self._prepare_posted = True
            self._hop.post(self._prepare_render)

    def _prefetch(self) -> None:
        """The slice prefetch the last frames noted (see ``render/prefetch.py``)."""
        self._prefetch_posted = False
        if self._closed:
            return
        with self.perf.task("prefetch"):
            self._tiles.prefetcher.run_pending()

    def _wake_at_rest(self) -> None:
        """A frame when the slider comes to rest (prefetch then fetches both sides of it)
        or the view settles (prefetch then fetches around it)."""
        waits = (self._tiles.prefetcher.idle_in(), self._volumes.idle_in())
        wait = min((w for w in waits if w is not None), default=None)
        if wait is None:
            return
        due = time.monotonic() + wait + 0.01
        if self._rest_due is not None and self._rest_due <= due:
            return  # a frame is already coming by then
        self._rest_due = due
        self._rest_alarm.arm(wait + 0.01)

    def _on_rest(self) -> None:
        """The rest alarm (its thread): one coalesced frame on the main thread."""
        self._on_tiles_posted()

    def _resolve_tiles(self) -> dict[int, TiledDraw]:
        """Each visible tiled layer's draw for this frame; updates their status and progress."""
        dims = self.model.dims.state
        draws: dict[int, TiledDraw] = {}
        if dims.ndisplay != 2:
            return draws
        canvas = self.model.canvas_size
        try:
            rect = self.model.camera.view_rect(canvas)
        except TilescopeError:
            return draws
        resolved: list[tuple[Image | Labels, LayerFrame | TilescopeError]] = []
        # every layer's loads in one hold of the loader's lock, and one auto-sync budget;
        # statuses (callbacks into user code) are set once it is let go
        with self._loader.frame():
            for layer in self._layer_models():
                if not is_tiled(layer, dims):
                    continue
                if not layer.visible:
                    hidden = self._tiles.hidden(layer)
                    if hidden is not None:
                        draws[layer.layer_id] = hidden
                    continue
                assert isinstance(layer, Image | Labels)
                try:
                    resolved.append((layer, self._tiles.resolve(layer, dims, rect, canvas)))
                except TilescopeError as e:
                    resolved.append((layer, e))
        for layer, frame in resolved:
            if isinstance(frame, TilescopeError):
                self._set_status(layer, LayerStatus("error", str(frame)))
                continue
            self._frames[layer.layer_id] = frame
            if frame.draw is not None:
                draws[layer.layer_id] = frame.draw
            layer.loading_progress = frame.progress
            self._set_status(layer, _play_status(_tile_status(layer, frame), frame, self.player))
            if frame.corner_pixels is not None:
                _record_view(layer, frame, dims, self._recorded)
        return draws

    def _on_frame(self, start: float, duration_ms: float) -> None:
        """A frame was drawn (main thread): time it, and report slices now on screen."""
        self.perf.record("paint", start, duration_ms)
        if self._more_tiles:
            self._more_tiles = False
            self._schedule_flush()
        if self._awaiting_tiles:
            frames, self._awaiting_tiles = self._awaiting_tiles, {}
            now = time.perf_counter()
            for layer_id, frame in frames.items():
                for tile_callback in list(self.frame_shown):
                    tile_callback(layer_id, frame, now)
        if not self._awaiting_frame:
            return
        shown, self._awaiting_frame = self._awaiting_frame, {}
        now = time.perf_counter()
        for response in shown.values():
            for callback in list(self.slice_shown):
                callback(response, now)


_tuned = False

#: A view with no camera or slider change for this long has settled (full-resolution frames).
MOTION_SETTLE_S = 0.15


def _tune_interpreter(interactive: bool) -> None:
    """Keep the main thread's stalls short while a viewer runs (once per process).

    - After Qt, vispy, numpy and dask are imported the heap holds hundreds of thousands of
      long-lived objects, and each full (generation 2) garbage collection walks them all:
      40-60 ms with the GIL held, a visible freeze whichever thread triggers it (seen by the
      async-slicing benchmark's heartbeat). ``gc.freeze()`` moves what exists now out of the
      collector's reach; later garbage is collected as usual.
    - With a window, the GIL switch interval drops from 5 ms to 1 ms: the main thread gives
      up the GIL around every Qt call and then waits up to one interval for a busy worker to
      hand it back. Measured on the benchmark: slice-change handling 12 ms -> 6 ms worst
      case, for 1.2 ms of actual work.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    if interactive:
        gc.collect()
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    gc.freeze()


def _as_task(request: SliceRequest, dask: DaskReads) -> Callable[[CancelToken], SliceResponse]:
    """The worker's task: dask data is computed on the slicer's one shared dask pool."""
    if isinstance(request, ImageSliceRequest):

        def task(token: CancelToken) -> SliceResponse:
            return request(token, compute=lambda obj: dask.compute(obj, token))

        return task
    return request


def _value_at(resp: ImageSliceResponse, shown: Sequence[float]) -> Any:
    """The slice's value at world coordinates ``shown`` of the displayed axes, or None.

    ``slice_to_world`` places coarse pixels by the shared level geometry
    (:mod:`tilescope.tiles.geometry`); its inverse gives slice-index coordinates, and
    the pixel whose cell contains them is read.
    """
    k = resp.slice_to_world.shape[0] - 1
    if len(shown) != k:
        return None
    inv = np.linalg.inv(resp.slice_to_world)
    idx = inv @ np.append(np.asarray(shown, dtype=np.float64), 1.0)
    pos = [pixel_containing(float(v)) for v in idx[:k]]
    data = resp.data
    if any(p < 0 or p >= n for p, n in zip(pos, data.shape[:k], strict=True)):
        return None
    return data[tuple(pos)]


def _tile_status(layer: Layer, frame: LayerFrame) -> LayerStatus:
    """What the layer list and status bar say about a tiled layer."""
    if frame.failed:
        key, error = frame.failed[0]
        more = f" (and {len(frame.failed) - 1} more)" if len(frame.failed) > 1 else ""
        cause = error.__cause__ if error.__cause__ is not None else error
        return LayerStatus(
            "error",
            f"layer {layer.name!r}: tile at level {key.level}, row {key.row}, col {key.col} "
            f"failed{more}: {type(cause).__name__}: {cause}; retried with back-off",
        )
    if frame.over_budget:
        return LayerStatus(
            "error",
            f"layer {layer.name!r}: {frame.over_budget} tiles of the view do not fit the VRAM "
            "budget (render.vram_budget_bytes in TILESCOPE_OCTREE's config); coarser tiles "
            "stand in",
        )
    if frame.stand_in is not None:
        return LayerStatus(
            "loading",
            f"{frame.resident}/{frame.wanted} tiles; a nearby slice stands in (striped)",
        )
    if frame.resident < frame.wanted:
        return LayerStatus("loading", f"{frame.resident}/{frame.wanted} tiles")
    return LayerStatus("ready")


def _play_status(status: LayerStatus, frame: LayerFrame, player: Player) -> LayerStatus:
    """While playing below the requested rate, the status says so and at what level."""
    note = player.note()
    if note is None or frame.draw is None:
        return status
    levels = [q.level for q in frame.draw.quads if q.state != TILE_FAILED]
    if levels:
        note += f"; shown at level {min(levels)} (full detail: level {frame.ideal_level})"
    state = "error" if status.state == "error" else "loading"
    return LayerStatus(state, f"{status.message}; {note}" if status.message else note)


def _record_view(
    layer: Image | Labels,
    frame: LayerFrame,
    dims: Any,
    recorded: dict[int, tuple[tuple[Any, ...], Any]],
) -> None:
    """napari's ``data_level``/``corner_pixels`` from the frame (stored levels only), unless
    ``recorded`` (layer id -> what the last recorded frame said, the corner array it left on
    the layer) says this is recorded already: every frame asks."""
    assert frame.corner_pixels is not None
    axes = layer_axes(dims, layer.ndim).displayed_layer
    seen = (frame.ideal_level, frame.corner_pixels.tobytes(), axes, layer.data_level)
    last = recorded.get(layer.layer_id)
    if last is not None and last[0] == seen and last[1] is layer.corner_pixels:
        return
    _record(layer, frame, dims)
    recorded[layer.layer_id] = (seen, layer.corner_pixels)


def _record(layer: Image | Labels, frame: LayerFrame, dims: Any) -> None:
    level = frame.ideal_level
    n = layer.level_shapes.shape[0]
    if level >= n or frame.corner_pixels is None:
        return
    axes = layer_axes(dims, layer.ndim).displayed_layer
    # plain lists: numpy's fancy indexing lets the GIL go, a wait behind busy workers
    rows = [[0] * layer.ndim, [0] * layer.ndim]
    for row, values in zip(rows, frame.corner_pixels.tolist(), strict=True):
        for axis, value in zip(axes, values, strict=True):
            row[axis] = value
    if level == layer.data_level and rows == layer.corner_pixels.tolist():
        return
    corners = np.array(rows, dtype=np.int64)
    layer.set_view(level, corners, axes, redraw=False)  # the frame is drawn already


def _write_png(path: Path, image: npt.NDArray[np.uint8]) -> None:
    import imageio.v3 as iio

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, image, extension=".png")
    except OSError as e:
        raise DataSourceError(f"cannot write the screenshot to {str(path)!r}: {e}") from e
