"""Prefetch for scrubbing: each frame, the slices near and ahead of the current one.

Called by :class:`~tilescope.render.tiled.TiledFrames` once per resolved frame of a tiled
layer (main thread, no data reads). From the slice shown, the slider's motion
(:class:`~tilescope.tiles.prefetch.SliderMotion`) and the ``prefetch`` config section it
asks the loader (:meth:`~tilescope.loading.loader.ChunkLoader.set_prefetch`, a pool that
never runs ahead of a visible load) for, in this order:

1. the slices ahead of a moving slider, nearest first, at the coarsest level (a tile or a
   few per slice: something to show the moment it is reached): those it reaches while one
   load runs and the next (:func:`~tilescope.tiles.prefetch.steps_ahead`), at most
   ``direction_steps`` — more would be wasted when it stops;
2. the warm neighbourhood (``radius`` slices on each side), at the finest level whose tiles
   of the view fit ``budget_bytes`` for all of them (else the coarsest) — while the slider
   moves, no finer than the speed level (finer tiles would arrive after it passed) —, cached
   pinned so they stay while the slider is near (the slices ahead too, at that level or
   coarser);
3. the slices ahead again at two levels, coarse to fine: the *speed level* (the finest that
   loads within the time one slice stays on screen at the slider's speed, from the measured
   load time) and the neighbourhood's.

Only levels the layer's coverage plan asks for when it arrives at a slice are prefetched
(the ideal level, ``octree.coverage_levels`` above it, and the root), so a prefetched tile
is drawn as soon as its slice is shown. A thick slice (a projection) prefetches the thick
slices around it: the same window offsets around each neighbouring index
(:class:`~tilescope.tiles.prefetch.ThickSlice`), projected in the worker like its own tiles.

While the camera moves and the slider does not, the prefetch waits for the view to settle
(:data:`VIEW_SETTLE_S` without a change): the neighbourhood of a view passed through in a
drag would never be used, and planning it every frame was a third of a frame's main-thread
work. :meth:`SlicePrefetcher.idle_in` tells the owner when to re-plan.

A frame only notes what to plan (:meth:`SlicePrefetcher.note`, which also follows the
slider's motion); the owner runs the plans afterwards as a task of their own
(:meth:`SlicePrefetcher.run_pending`), so a slider step's frame — the visible tiles' loads,
the draw — never waits for the prefetch of the slices around it.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tilescope.loading.config import PrefetchSettings
from tilescope.loading.loader import ChunkLoader
from tilescope.loading.pool import LoadRequest
from tilescope.loading.tile_requests import TileRead
from tilescope.tiles.intersection import ViewTiles, visible_tiles
from tilescope.tiles.prefetch import (
    Motion,
    SliderMotion,
    ThickSlice,
    level_for_speed,
    level_within_budget,
    prefetch_slices,
    steps_ahead,
)
from tilescope.tiles.source import TileSource

__all__ = ["PrefetchPlan", "SlicePrefetcher"]

#: Assumed duration of one load before any was measured.
DEFAULT_LOAD_S = 0.05
#: Quiet time after a camera change before the neighbourhood of the new view is prefetched.
VIEW_SETTLE_S = 0.2
#: Most tiles one plan asks for, neighbourhood and slices ahead each: building a request
#: costs the main thread tens of microseconds, and a plan of a thousand (a fine level of a
#: wide view for every neighbour) took 30 ms. A coarser level keeps within it.
MAX_PLAN_TILES = 128


@dataclass(frozen=True, slots=True)
class PrefetchPlan:
    """What one frame asked the loader to prefetch (for status, tests and benchmarks)."""

    motion: Motion
    ahead: tuple[tuple[int, ...], ...]
    neighbourhood: tuple[tuple[int, ...], ...]
    near_level: int | None
    ahead_level: int | None
    requests: int


class SlicePrefetcher:
    """Per-layer motion and the prefetch requests of each frame (see the module doc)."""

    def __init__(
        self,
        loader: ChunkLoader,
        settings: PrefetchSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._settings = settings
        self._clock = clock
        self._motion: dict[int, SliderMotion] = {}
        self._levels: dict[int, tuple[ViewTiles, dict[int, int], dict[int, int]]] = {}
        self._memo: dict[int, tuple[object, ...]] = {}
        self._args: dict[
            int, tuple[TileSource, tuple[int, ...], ViewTiles, int, int, ThickSlice | None]
        ] = {}
        #: layer -> (its latest view, when it became so) while a plan waits for it to settle
        self._settling: dict[int, tuple[ViewTiles, float]] = {}
        self._pending: set[int] = set()  # layers noted by a frame, planned by run_pending
        self.last: dict[int, PrefetchPlan] = {}
        #: The rate a player asks for (steps per second; None when not playing): while the
        #: slider moves, levels are chosen for at least this speed. A player that holds late
        #: frames moves slower than it should, and choosing levels from that measured speed
        #: alone would keep it slow. A playing player loops: the slices ahead wrap around.
        self.target_speed: Callable[[], float | None] = lambda: None

    @property
    def settings(self) -> PrefetchSettings:
        return self._settings

    def motion(self, layer_id: int) -> Motion:
        """The slider's motion as seen by ``layer_id`` (at rest before any step)."""
        tracker = self._motion.get(layer_id)
        return Motion() if tracker is None else tracker.motion()

    def forget(self, layer_id: int) -> None:
        """Drop a layer's state (the loader's ``cancel_layer`` cancels its prefetch)."""
        self._motion.pop(layer_id, None)
        self._levels.pop(layer_id, None)
        self._memo.pop(layer_id, None)
        self._args.pop(layer_id, None)
        self._settling.pop(layer_id, None)
        self._pending.discard(layer_id)
        self.last.pop(layer_id, None)

    @property
    def pending(self) -> bool:
        """Some frame noted a plan that :meth:`run_pending` has not run yet."""
        return bool(self._pending)

    def note(
        self,
        source: TileSource,
        slice0: Sequence[int],
        view: ViewTiles,
        coverage_levels: int,
        bytes_per_pixel: int,
        thick: ThickSlice | None = None,
    ) -> None:
        """A frame's part: follow the slider and remember what to plan (cheap); the plan
        itself waits for :meth:`run_pending`."""
        layer_id = source.layer_id
        current = tuple(int(i) for i in slice0)
        self._args[layer_id] = (source, current, view, coverage_levels, bytes_per_pixel, thick)
        self._track(layer_id, current)
        memo = self._memo.get(layer_id)
        if memo is not None and memo[0] == current:
            if memo[1] != view:
                self._unsettled(layer_id, current, view)  # the camera moved: start waiting
            self.mark(layer_id)  # the same slice and view: only if the motion changed
            return
        self._pending.add(layer_id)

    def mark(self, layer_id: int) -> None:
        """A frame that changed nothing for ``layer_id``: re-plan it at the next
        :meth:`run_pending` with its last view if what the plan depends on besides the view
        changed — the slider came to rest (or started), or the view has settled."""
        if layer_id not in self._args:
            return
        settling = self._settling.get(layer_id)
        if settling is not None:
            if self._clock() - settling[1] >= VIEW_SETTLE_S:
                self._pending.add(layer_id)
            return
        tracker = self._motion.get(layer_id)
        last = self.last.get(layer_id)
        if (
            tracker is not None
            and last is not None
            and tracker.motion().moving != last.motion.moving
        ):
            self._pending.add(layer_id)

    def run_pending(self) -> int:
        """Run the plans frames noted; returns how many layers were planned."""
        pending, self._pending = self._pending, set()
        with self._loader.held():  # one hold for all of them (see ChunkLoader.held)
            for layer_id in pending:
                args = self._args.get(layer_id)
                if args is not None:
                    self.plan(*args)
        return len(pending)

    def _track(self, layer_id: int, current: tuple[int, ...]) -> SliderMotion:
        tracker = self._motion.get(layer_id)
        if tracker is None:
            tracker = self._motion[layer_id] = SliderMotion(
                self._clock, idle_after_s=self._settings.idle_after_s
            )
        tracker.update(current)  # the same slice again is no step
        return tracker

    def idle_in(self) -> float | None:
        """Seconds until some layer's slider motion comes to rest (None: all at rest): the
        owner resolves a frame then, so the neighbourhood behind the motion is fetched."""
        waits = [w for t in self._motion.values() if (w := t.idle_in()) is not None]
        if self._settling:
            now = self._clock()
            waits += [max(since + VIEW_SETTLE_S - now, 0.0) for _, since in self._settling.values()]
        return min(waits, default=None)

    def refresh(self, layer_id: int) -> None:
        """Re-plan ``layer_id`` with its last frame's view (a frame that changed nothing):
        only the motion may have changed, e.g. come to rest."""
        args = self._args.get(layer_id)
        if args is not None:
            self.plan(*args)

    def none(self, layer_id: int) -> None:
        """Nothing to prefetch for ``layer_id`` this frame (outside the data, thick slice)."""
        self._args.pop(layer_id, None)
        self._settling.pop(layer_id, None)
        self._pending.discard(layer_id)
        if self._memo.pop(layer_id, None) is not None or layer_id in self.last:
            self._loader.set_prefetch(layer_id, ())
            self.last.pop(layer_id, None)

    def plan(
        self,
        source: TileSource,
        slice0: Sequence[int],
        view: ViewTiles,
        coverage_levels: int,
        bytes_per_pixel: int,
        thick: ThickSlice | None = None,
    ) -> PrefetchPlan | None:
        """Ask the loader for this frame's prefetch of ``source`` around ``slice0`` (with
        ``thick``, of the thick slices around it)."""
        layer_id = source.layer_id
        s = self._settings
        nd = source.not_displayed
        if not s.enabled or not nd or not view.visible:
            self.none(layer_id)
            return None
        current = tuple(int(i) for i in slice0)
        self._args[layer_id] = (source, current, view, coverage_levels, bytes_per_pixel, thick)
        tracker = self._track(layer_id, current)
        if self._unsettled(layer_id, current, view):
            return self.last.get(layer_id)
        motion = tracker.motion()
        shape0 = source.arrays[0].shape
        sizes = [int(shape0[a]) for a in nd]
        target = self.target_speed() if motion.moving else None
        load_s = self._loader.mean_load_s(layer_id) or DEFAULT_LOAD_S
        speed = motion.speed
        if target is not None:
            speed = max(speed, target)
        elif motion.moving and not motion.measured:
            # a first step: a click or the start of a drag. Guessed slow, a drag's first
            # plans ask for fine tiles it passes before they arrive; guessed fast, a click
            # costs a few coarse tiles (and its neighbourhood refines once at rest)
            speed = math.inf
        ahead, near = prefetch_slices(
            current,
            sizes,
            motion,
            s.radius,
            steps_ahead(s.direction_steps, speed, load_s) if motion.moving else 0,
            wrap=target is not None and motion.direction > 0,
        )
        tiles, nbytes = self._view_levels(source, view, coverage_levels, bytes_per_pixel)
        near_level = level_within_budget(
            nbytes,
            len(near) + len(ahead),
            s.budget_bytes,
            view_tiles=tiles,
            max_tiles=MAX_PLAN_TILES,
        )
        speed_level = level_for_speed(tiles, load_s, s.num_workers, speed)
        if speed_level is not None and ahead:  # as many tiles ahead as one plan may ask for
            by_count = level_within_budget(
                nbytes, len(ahead), sys.maxsize, view_tiles=tiles, max_tiles=MAX_PLAN_TILES
            )
            speed_level = max(speed_level, speed_level if by_count is None else by_count)
        ahead_level = speed_level if ahead else None
        if motion.moving and near_level is not None and speed_level is not None:
            # finer than the speed level would arrive after the slider has passed
            near_level = max(near_level, speed_level)
        memo = (current, view, ahead, near, near_level, ahead_level, thick)
        if self._memo.get(layer_id) == memo:
            return self.last.get(layer_id)
        self._memo[layer_id] = memo
        requests: list[LoadRequest] = []
        cache = self._loader.cache
        grid = source.grid
        positions = {
            lvl: visible_tiles(
                grid, view.view_min, view.view_max, view.canvas_shape, locked_level=lvl
            ).visible
            for lvl in tiles
        }

        first_pinned = grid.root_level - self._loader.config.cache.pinned_levels + 1

        def add(slices: Sequence[tuple[int, ...]], level: int | None, is_ahead: bool) -> None:
            if level is None:
                return
            # the neighbourhood's level and coarser stay (pinned), like the root everywhere
            pinned = level >= first_pinned or (near_level is not None and level >= near_level)
            # a slice ahead whose view is held at a finer level (pinned: its neighbourhood,
            # warmed at rest) is drawn from that: coarser tiles of it would never be
            finer = [lvl for lvl in positions if lvl < level and positions[lvl]] if is_ahead else []
            for sl in slices:
                if thick is None:
                    ts = source.tile_slice(sl)
                else:
                    ts = source.tile_slice(sl, thick.windows_at(sl, sizes), thick.projection)
                if any(all(cache.is_pinned(ts.key(p)) for p in positions[f]) for f in finer):
                    continue
                for pos in positions[level]:
                    key = ts.key(pos)
                    requests.append(LoadRequest(key, TileRead(source, key, cache), pinned=pinned))

        if ahead_level is None or near_level is None:
            add(near, near_level, is_ahead=False)
        else:
            # ahead: the coarsest level first (one tile a slice: something to show at once),
            # then the neighbourhood, then ahead at the two chosen levels, coarse to fine
            coarsest = max(tiles)
            coarse, fine = max(ahead_level, near_level), min(ahead_level, near_level)
            add(ahead, coarsest, is_ahead=True)
            add(near, near_level, is_ahead=False)
            for level in sorted({coarse, fine} - {coarsest}, reverse=True):
                add(ahead, level, is_ahead=True)
        self._loader.set_prefetch(layer_id, requests)
        result = PrefetchPlan(motion, ahead, near, near_level, ahead_level, len(requests))
        self.last[layer_id] = result
        return result

    def _unsettled(self, layer_id: int, current: tuple[int, ...], view: ViewTiles) -> bool:
        """The camera moved (the slider did not) less than VIEW_SETTLE_S ago: wait."""
        memo = self._memo.get(layer_id)
        if memo is None or memo[0] != current:  # first plan, or the slider moved: plan now
            self._settling.pop(layer_id, None)
            return False
        if memo[1] == view:
            self._settling.pop(layer_id, None)
            return False
        now = self._clock()
        settling = self._settling.get(layer_id)
        if settling is None or settling[0] != view:
            self._settling[layer_id] = (view, now)
            return True
        if now - settling[1] < VIEW_SETTLE_S:
            return True
        del self._settling[layer_id]
        return False

    def _view_levels(
        self, source: TileSource, view: ViewTiles, coverage_levels: int, bytes_per_pixel: int
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Tiles and bytes of the view per prefetchable level (memoized per view)."""
        memo = self._levels.get(source.layer_id)
        if memo is not None and memo[0] == view:
            return memo[1], memo[2]
        grid = source.grid
        root = grid.root_level
        levels = {*range(view.level, min(view.level + coverage_levels, root) + 1), root}
        tiles: dict[int, int] = {}
        nbytes: dict[int, int] = {}
        for lvl in sorted(levels):
            vt = visible_tiles(
                grid, view.view_min, view.view_max, view.canvas_shape, locked_level=lvl
            )
            tiles[lvl] = len(vt.visible)
            total = 0
            for _, row, col in vt.visible:
                y0, y1, x0, x1 = grid.levels[lvl].pixel_bounds(row, col)
                total += (y1 - y0) * (x1 - x0) * bytes_per_pixel
            nbytes[lvl] = total
        self._levels[source.layer_id] = (view, tiles, nbytes)
        return tiles, nbytes
