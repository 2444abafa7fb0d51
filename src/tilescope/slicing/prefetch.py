"""Prefetch for scrubbing layers the slicer reads whole: 3D volumes near and ahead.

Tiled (2D) layers prefetch tiles (``render/prefetch.py``). A layer the slicer reads in one
piece — a 3D volume, the coarsest level of a multiscale in full — prefetches whole slice
requests instead. Each time the viewer slices such a layer (main thread, no data reads),
:meth:`VolumePrefetcher.plan`:

1. follows the slider on the layer's sliced world axes
   (:class:`~tilescope.tiles.prefetch.SliderMotion`) and lists the slices ahead of a moving
   slider (those it reaches while one of the layer's measured prefetch reads runs, and the
   next, :func:`~tilescope.tiles.prefetch.steps_ahead`; at most ``prefetch.direction_steps``,
   all of them before a read or the speed was measured and while a player plays, wrapping
   then) and the warm neighbourhood (``prefetch.radius`` on each side) with
   :func:`~tilescope.tiles.prefetch.prefetch_slices`;
   When a slider that moved comes to rest (``prefetch.idle_after_s``), the viewer's rest
   alarm re-plans (:meth:`VolumePrefetcher.replan_rested`): the neighbourhood then covers
   the side a fast drag skipped too;
2. builds each slice's request exactly as the viewer would at that slider position, so a
   prefetched response is the one the viewer asks for when the slider gets there;
3. keeps the ones already cached (marked recently used), cancels prefetches no longer
   wanted, and queues the rest, nearest first: the slices ahead always, the neighbourhood
   as far as ``prefetch.budget_bytes`` allows for all of it (at least the nearest slice on
   each side).

The queue runs on a :class:`~tilescope.slicing.slicer.LayerSlicer` of its own
(``prefetch.num_workers`` workers, the viewer's read timeout), so a prefetch never holds a
worker a visible read needs, and it starts one only while no visible read waits for a worker:
it never runs ahead of a visible read (as the tile loader's prefetch pool).
Results go into the loader's RAM cache under :class:`VolumeKey`, sharing
the tiles' byte budget (least recently used first out), so memory stays bounded however long
the scrub.

On a slider step the viewer calls :meth:`VolumePrefetcher.take`: a cached response is shown at
once, with no read. A step to a slice whose prefetch is running calls :meth:`adopt` and waits
for that read in a visible worker (its timeout, cancellation and error handling are the
visible slicer's) instead of reading the slice again. A failed prefetch is dropped — if the
slider reaches that slice its visible read shows the error — and not tried again for
:data:`FAILED_BACKOFF_S`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tilescope.cancel import Cancelled, CancelToken
from tilescope.hop import MainThreadQueue
from tilescope.loading.cache import ChunkCache
from tilescope.loading.config import PrefetchSettings
from tilescope.models.dims import DimsState
from tilescope.models.layers.base import Layer
from tilescope.slicing.requests import (
    ImageSliceRequest,
    ImageSliceResponse,
    build_slice_request,
    request_signature,
)
from tilescope.slicing.slicer import LayerSlicer
from tilescope.tiles.prefetch import SliderMotion, prefetch_slices, steps_ahead

__all__ = ["FAILED_BACKOFF_S", "VolumeKey", "VolumePrefetcher"]

#: A slice whose prefetch failed is not prefetched again for this long.
FAILED_BACKOFF_S = 5.0
#: How often a visible read waiting on a running prefetch checks its own cancellation.
_ADOPT_POLL_S = 0.05

Slice = tuple[int, ...]
ReadTask = Callable[[CancelToken], Any]


@dataclass(frozen=True, slots=True)
class VolumeKey:
    """The RAM cache's key of a prefetched slice: its layer and its request's signature."""

    layer_id: int
    signature: tuple[Any, ...]


@dataclass
class _Flight:
    request: ImageSliceRequest
    future: Future[ImageSliceResponse] = field(default_factory=Future)
    adopted: bool = False  # a visible read waits for it: never cancelled by a re-plan
    started: float = 0.0  # the prefetcher's clock when it was submitted


@dataclass
class _Layer:
    motion: SliderMotion
    axes: tuple[int, ...] = ()  # the sliced world axes followed
    moving: bool = False  # the slider moved when this layer was last planned
    queue: list[tuple[VolumeKey, ImageSliceRequest]] = field(default_factory=list)
    #: How long its last prefetches took, submit to result on the main thread (seconds).
    load_s: deque[float] = field(default_factory=lambda: deque(maxlen=16))


class VolumePrefetcher:
    """Warm neighbourhood and direction-of-travel prefetch of whole slices (module doc).

    ``visible_busy`` says whether a visible read waits for a worker; ``read_task``
    turns a request into the task a worker runs (the viewer's: dask on its shared pool);
    ``playing`` says whether a player loops (the slices ahead then wrap around).
    Main thread only, except the tasks themselves.
    """

    def __init__(
        self,
        hop: MainThreadQueue,
        cache: ChunkCache,
        settings: PrefetchSettings,
        *,
        visible_busy: Callable[[], bool],
        read_task: Callable[[ImageSliceRequest], ReadTask],
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        slicer: LayerSlicer | None = None,
    ) -> None:
        self._cache = cache
        self._settings = settings
        self._visible_busy = visible_busy
        self._read_task = read_task
        self._clock = clock
        workers = max(1, settings.num_workers)
        self._slicer = slicer or LayerSlicer(
            hop, max_workers=workers, timeout_s=timeout_s, per_layer_limit=workers, clock=clock
        )
        self._workers = workers
        self._layers: dict[int, _Layer] = {}
        self._flights: dict[VolumeKey, _Flight] = {}
        self._failed: dict[VolumeKey, float] = {}
        self.playing: Callable[[], bool] = lambda: False
        self.completed = 0  # prefetches cached (tests, benchmarks)
        self.hits = 0  # slider steps shown from a prefetched slice
        self.adopted = 0  # slider steps that waited for a running prefetch

    @property
    def slicer(self) -> LayerSlicer:
        """The prefetch's own slicer (tests wait on it)."""
        return self._slicer

    def planned(self, layer_id: int) -> tuple[ImageSliceRequest, ...]:
        """The layer's prefetches running, then queued in order (tests, benchmarks)."""
        state = self._layers.get(layer_id)
        queue = () if state is None else tuple(r for _, r in state.queue)
        running = tuple(f.request for k, f in self._flights.items() if k.layer_id == layer_id)
        return running + queue

    # ---- the viewer's slider step -----------------------------------------------------
    def take(self, request: ImageSliceRequest) -> ImageSliceResponse | None:
        """The cached response for ``request``, rebound to it, or None."""
        if not self._settings.enabled:
            return None
        cached = self._cache.lookup(_key(request))
        if not isinstance(cached, ImageSliceResponse):
            return None
        self.hits += 1
        return dataclasses.replace(cached, request=request)

    def keep(self, response: object) -> None:
        """Cache a visible read's response too: scrubbing back shows it at once."""
        if (
            self._settings.enabled
            and isinstance(response, ImageSliceResponse)
            and not response.empty
            and response.layer_id in self._layers
        ):
            request = response.request
            self._cache.put(_key(request), response)

    def adopt(self, request: ImageSliceRequest) -> ReadTask | None:
        """A visible task that waits for the running prefetch of ``request``, or None."""
        flight = self._flights.get(_key(request))
        if flight is None:
            return None
        flight.adopted = True
        self.adopted += 1
        future = flight.future

        def wait(token: CancelToken) -> ImageSliceResponse:
            while True:
                token.raise_if_cancelled()
                try:
                    response = future.result(timeout=_ADOPT_POLL_S)
                except FutureTimeout:
                    continue
                except CancelledError:
                    raise Cancelled() from None
                return dataclasses.replace(response, request=request)

        return wait

    # ---- planning (main thread) -------------------------------------------------------
    def plan(self, layer: Layer, dims: DimsState, here: ImageSliceRequest | None = None) -> None:
        """Re-plan ``layer``'s prefetch around the slice ``dims`` shows (module doc);
        ``here`` is that slice's request when the caller has built it already."""
        if not self._settings.enabled:
            return
        lid = layer.layer_id
        axes = tuple(a for a in dims.not_displayed if dims.nsteps[a] > 1)
        state = self._layers.get(lid)
        if state is None or state.axes != axes:  # a new layer, or other sliced axes
            tracker = SliderMotion(self._clock, idle_after_s=self._settings.idle_after_s)
            state = self._layers[lid] = _Layer(tracker, axes)
        if not axes:
            self._replace(lid, state, [])
            return
        current = tuple(dims.current_step[a] for a in axes)
        state.motion.update(current)
        motion = state.motion.motion()
        state.moving = motion.moving
        # as many slices ahead as the slider reaches while one read runs, and the next (all
        # direction_steps until a read and the speed were measured, and while a player
        # plays: one held by late volumes moves slower than its rate, and fewer slices ahead
        # would keep it slow)
        load_s = sum(state.load_s) / len(state.load_s) if state.load_s else 0.0
        speed = motion.speed if motion.measured and not self.playing() else math.inf
        ahead, near = prefetch_slices(
            current,
            [dims.nsteps[a] for a in axes],
            motion,
            self._settings.radius,
            steps_ahead(self._settings.direction_steps, speed, load_s),
            wrap=self.playing(),
        )
        if here is None:
            here = self._request(layer, dims, axes, current)
        if here is None or here.empty:  # outside the data: nothing around it to read
            return
        here_key = _key(here)
        per_slice = max(_estimated_bytes(here), 1)
        wanted: list[tuple[VolumeKey, ImageSliceRequest]] = []
        resident = 0  # slices kept: cached or wanted
        sides: set[tuple[int, int]] = set()  # (axis, sign) with a neighbour kept
        now = self._clock()
        for steps, near_side in [(s, None) for s in ahead] + [(s, _side(s, current)) for s in near]:
            if near_side is not None:
                if near_side in sides and (resident + 1) * per_slice > self._settings.budget_bytes:
                    continue  # past the budget: only the nearest slice on each side
                sides.add(near_side)
            request = self._request(layer, dims, axes, steps)
            if request is None:
                continue
            key = _key(request)
            if key == here_key or any(k == key for k, _ in wanted):
                continue
            resident += 1
            if key in self._cache:
                self._cache.lookup(key)  # keep it warm: most recently used
                continue
            failed = self._failed.get(key)
            if failed is not None and now - failed < FAILED_BACKOFF_S:
                continue
            wanted.append((key, request))
        self._replace(lid, state, wanted, keep=here_key)
        self.pump()

    def idle_in(self) -> float | None:
        """Seconds until a layer planned while its slider moved comes to rest (None: none
        did): the owner calls :meth:`replan_rested` then."""
        waits = [
            w
            for st in self._layers.values()
            if st.moving and (w := st.motion.idle_in()) is not None
        ]
        return min(waits, default=None)

    def replan_rested(self, layers: Sequence[Layer], dims: DimsState) -> None:
        """Re-plan the layers planned while their slider moved that are at rest now: the
        neighbourhood then covers both sides (while moving, not the side just passed)."""
        for layer in layers:
            state = self._layers.get(layer.layer_id)
            if state is not None and state.moving and not state.motion.motion().moving:
                self.plan(layer, dims)

    def _request(
        self, layer: Layer, dims: DimsState, axes: tuple[int, ...], steps: Slice
    ) -> ImageSliceRequest | None:
        point = list(dims.point)
        for a, i in zip(axes, steps, strict=True):
            rng = dims.range[a]
            point[a] = rng.start + i * rng.step
        try:
            request = build_slice_request(layer, dataclasses.replace(dims, point=tuple(point)))
        except Exception:  # the viewer reports its own request's errors; nothing to prefetch
            return None
        if not isinstance(request, ImageSliceRequest) or request.empty:
            return None
        return request

    def _replace(
        self,
        lid: int,
        state: _Layer,
        wanted: list[tuple[VolumeKey, ImageSliceRequest]],
        keep: VolumeKey | None = None,
    ) -> None:
        """``wanted`` replaces the layer's queue; its running prefetches not in it (nor
        adopted, nor ``keep``: the slice now shown) are cancelled."""
        keys = {k for k, _ in wanted}
        for key, flight in list(self._flights.items()):
            if key.layer_id != lid or key in keys or key == keep or flight.adopted:
                continue
            self._slicer.cancel(key)
            del self._flights[key]
            flight.future.cancel()
        state.queue = [(k, r) for k, r in wanted if k not in self._flights]

    def forget(self, layer_id: int) -> None:
        """The layer is gone or no longer sliced whole: cancel everything it asked for."""
        state = self._layers.pop(layer_id, None)
        if state is None:
            return
        self._replace(layer_id, state, [])
        self._failed = {k: t for k, t in self._failed.items() if k.layer_id != layer_id}

    # ---- running (main thread) --------------------------------------------------------
    def pump(self) -> None:
        """Start queued prefetches while workers are free and no visible read waits."""
        while len(self._flights) < self._workers and not self._visible_busy():
            item = self._next()
            if item is None:
                return
            key, request = item
            flight = _Flight(request, started=self._clock())
            self._flights[key] = flight
            self._slicer.submit(
                key,
                self._read_task(request),
                functools.partial(self._done, key, flight),
                functools.partial(self._error, key, flight),
                label=f"{request.describe()} (prefetch)",
            )

    def _next(self) -> tuple[VolumeKey, ImageSliceRequest] | None:
        """The nearest queued slice of the layer queued longest ago (round robin)."""
        for lid, state in list(self._layers.items()):
            while state.queue:
                key, request = state.queue.pop(0)
                if key in self._cache or key in self._flights:
                    continue
                self._layers[lid] = self._layers.pop(lid)  # to the back: layers take turns
                return key, request
        return None

    def _done(self, key: VolumeKey, flight: _Flight, response: Any) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        state = self._layers.get(key.layer_id)
        if state is not None:
            state.load_s.append(self._clock() - flight.started)
        if isinstance(response, ImageSliceResponse):
            self._cache.put(key, response)
            self.completed += 1
            if not flight.future.done():
                flight.future.set_result(response)
        self.pump()

    def _error(self, key: VolumeKey, flight: _Flight, exc: BaseException) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        now = self._clock()
        if len(self._failed) >= 256:  # a long faulty session: forget back-offs that ended
            self._failed = {k: t for k, t in self._failed.items() if now - t < FAILED_BACKOFF_S}
        self._failed[key] = now
        if not flight.future.done():
            flight.future.set_exception(exc)
        self.pump()

    def close(self) -> None:
        """Cancel every prefetch; never waits for a running read."""
        for state in self._layers.values():
            state.queue.clear()
        for flight in self._flights.values():
            flight.future.cancel()
        self._flights.clear()
        self._slicer.shutdown()


def _key(request: ImageSliceRequest) -> VolumeKey:
    """The cache key of the slice ``request`` reads."""
    return VolumeKey(request.layer_id, request_signature(request))


def _side(steps: Slice, current: Slice) -> tuple[int, int]:
    """The (axis, sign) of a neighbouring slice: the one axis it differs on, and which way."""
    for axis, (s, c) in enumerate(zip(steps, current, strict=True)):
        if s != c:
            return axis, 1 if s > c else -1
    return 0, 0


def _estimated_bytes(request: ImageSliceRequest) -> int:
    """Bytes one slice like ``request`` holds once read (its data, as read)."""
    try:
        shape = request.expected_shape()
    except Exception:
        return 0
    return math.prod(shape) * np.dtype(request.dtype).itemsize
