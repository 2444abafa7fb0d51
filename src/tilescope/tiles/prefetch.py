"""Scrubbing math: which slices to prefetch, at which level, and the slider's motion.

Pure and Qt-free (main thread, no data reads); :mod:`tilescope.render.prefetch` turns the
answers into loader requests each frame.

* :class:`SliderMotion` measures how fast and in which direction the slice moves, from the
  level-0 slice indices a layer shows (its clock is injectable, so tests are exact).
* :func:`prefetch_slices` lists the slices ahead of a moving slider (direction of travel)
  and the warm neighbourhood (within ``radius`` of the current slice on each sliced axis),
  nearest first.
* :func:`level_within_budget` picks the neighbourhood's level: the finest whose tiles of the
  view, for every neighbouring slice, fit a byte budget (the coarsest when none does).
* :func:`level_for_speed` picks the level of the slices ahead: the finest whose view loads
  within the time one slice stays on screen at the slider's speed.
* :func:`nearest_slice` finds, among the slices with resident tiles, the one nearest the
  current slice: it stands in (as a placeholder) for a slice with nothing resident yet.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ThickSlice",
    "Motion",
    "SliderMotion",
    "level_for_speed",
    "steps_ahead",
    "level_within_budget",
    "nearest_slice",
    "prefetch_slices",
]

Slice = tuple[int, ...]
#: A thick slice's ``[start, stop)`` planes along one sliced axis (level 0).
Window = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Motion:
    """How the slice moves now."""

    axis: int | None = None
    """The sliced axis (position among the not-displayed axes) that moved last; None at rest."""
    direction: int = 0
    """+1 or -1 along ``axis`` while moving, 0 at rest."""
    speed: float = 0.0
    """Steps per second along ``axis`` (0 at rest)."""
    measured: bool = True
    """False on a motion's first step: ``speed`` is then a guess (one step per window)."""

    @property
    def moving(self) -> bool:
        return self.direction != 0


class SliderMotion:
    """The slider's direction and speed, measured from the slices shown over time.

    Parameters
    ----------
    clock
        Monotonic seconds (tests pass a fake clock).
    window_s
        Speed is averaged over the steps of the last ``window_s`` seconds.
    idle_after_s
        A slice that has not changed for this long is at rest.
    jump_steps
        A change of more steps than this is a jump (a click on the slider, a player looping
        back to the start), not motion: it starts a new measurement.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        window_s: float = 0.5,
        idle_after_s: float = 0.5,
        jump_steps: int = 8,
    ) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self._clock = clock
        self._window = window_s
        self._idle = idle_after_s
        self._jump = jump_steps
        self._last: Slice | None = None
        self._events: deque[tuple[float, int, int]] = deque()  # (time, axis, signed steps)

    def update(self, current: Sequence[int]) -> None:
        """Record the slice shown now (call it every frame; unchanged slices are ignored)."""
        cur = tuple(int(i) for i in current)
        last, self._last = self._last, cur
        if last is None or len(last) != len(cur) or last == cur:
            return
        now = self._clock()
        # the axis that moved most is the one being scrubbed
        deltas = [c - p for c, p in zip(cur, last, strict=True)]
        axis = max(range(len(deltas)), key=lambda j: abs(deltas[j]))
        if abs(deltas[axis]) > self._jump:
            self._events.clear()  # a jump: no motion (yet) from here
            return
        if self._events and self._events[-1][1] != axis:
            self._events.clear()  # another axis: a new motion
        self._events.append((now, axis, deltas[axis]))
        self._trim(now)

    def motion(self) -> Motion:
        """The motion now: at rest once no step came for ``idle_after_s``."""
        now = self._clock()
        self._trim(now)
        if not self._events or now - self._events[-1][0] > self._idle:
            return Motion()
        t_last, axis, last_step = self._events[-1]
        steps = sum(s for _, _, s in self._events)
        direction = (steps > 0) - (steps < 0) or ((last_step > 0) - (last_step < 0))
        if len(self._events) < 2:
            # one step: at least one step per window (or per time since it, if longer)
            return Motion(axis, direction, abs(last_step) / self._window, measured=False)
        span = t_last - self._events[0][0]
        moved = sum(abs(s) for _, _, s in list(self._events)[1:])
        speed = moved / span if span > 0 else math.inf
        return Motion(axis, direction, speed)

    def idle_in(self) -> float | None:
        """Seconds until the slider counts as at rest (None: at rest already)."""
        if not self._events:
            return None
        left = self._events[-1][0] + self._idle - self._clock()
        return left if left >= 0 else None

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self._window:
            self._events.popleft()


def prefetch_slices(
    current: Sequence[int],
    sizes: Sequence[int],
    motion: Motion,
    radius: int,
    ahead: int,
    wrap: bool = False,
) -> tuple[tuple[Slice, ...], tuple[Slice, ...]]:
    """``(ahead, neighbourhood)`` slices to prefetch, each nearest first, never ``current``.

    ``current`` and ``sizes`` are per sliced axis. ``ahead``: up to ``ahead`` slices along
    the motion's axis in its direction (none at rest). ``neighbourhood``: slices within
    ``radius`` of ``current`` along each sliced axis (one axis changed at a time); while the
    slider moves, not those behind it on its axis (it has just shown them); slices already
    ahead are not repeated. With ``wrap`` (a player that loops), the slices ahead continue
    from the other end of the motion's axis.
    """
    cur = tuple(int(i) for i in current)
    if len(cur) != len(sizes):
        raise ValueError(f"{len(cur)} indices for {len(sizes)} sliced axes")

    def moved(axis: int, d: int) -> Slice | None:
        i = cur[axis] + d
        if not 0 <= i < sizes[axis]:
            return None
        return (*cur[:axis], i, *cur[axis + 1 :])

    front: list[Slice] = []
    if motion.moving and motion.axis is not None and motion.axis < len(cur):
        axis, n = motion.axis, sizes[motion.axis]
        for d in range(1, min(ahead, n - 1) + 1):
            i = cur[axis] + d * motion.direction
            if wrap:
                i %= n
            elif not 0 <= i < n:
                break
            front.append((*cur[:axis], i, *cur[axis + 1 :]))
    seen = set(front)
    near: list[Slice] = []
    for d in range(1, radius + 1):
        for axis in range(len(cur)):
            along = motion.moving and motion.axis == axis
            signs = (motion.direction,) if along else (1, -1)
            for sign in signs:
                s = moved(axis, sign * d)
                if s is not None and s not in seen:
                    seen.add(s)
                    near.append(s)
    return tuple(front), tuple(near)


def level_within_budget(
    view_bytes: Mapping[int, int],
    n_slices: int,
    budget_bytes: int,
    view_tiles: Mapping[int, int] | None = None,
    max_tiles: int | None = None,
) -> int | None:
    """The finest level whose view tiles for ``n_slices`` slices fit ``budget_bytes`` (and,
    with ``view_tiles``, number at most ``max_tiles``).

    ``view_bytes[level]``: bytes of the tiles of the view at that level for one slice (the
    levels that may be prefetched); ``view_tiles[level]`` their count. The coarsest level when
    none fits; None without levels.
    """
    if not view_bytes:
        return None
    n = max(n_slices, 1)
    for level in sorted(view_bytes):
        if view_bytes[level] * n > budget_bytes:
            continue
        if (
            max_tiles is not None
            and view_tiles is not None
            and view_tiles.get(level, 0) * n > max_tiles
        ):
            continue
        return level
    return max(view_bytes)


def steps_ahead(max_steps: int, speed: float, load_s: float) -> int:
    """How many slices ahead of a slider moving at ``speed`` (steps per second) to request
    now, when a load takes ``load_s``: up to the nearest one it reaches only after a load
    started now has finished (the farthest a load started now is needed for), at most
    ``max_steps``. Farther slices are asked for by later steps still in time; asked for now,
    they are wasted whenever the slider stops. ``max_steps`` when the speed or the load time
    is unknown (0 or not finite).
    """
    if max_steps <= 0:
        return 0
    if not (0 < speed < math.inf) or not (0 < load_s < math.inf):
        return max_steps
    return min(max_steps, math.floor(speed * load_s) + 1)


def level_for_speed(
    view_tiles: Mapping[int, int], load_s: float, workers: int, speed: float
) -> int | None:
    """The finest level whose view loads while one slice is on screen at ``speed``.

    ``view_tiles[level]``: tiles of the view at that level; loads take ``load_s`` each on
    ``workers`` workers; a slice stays ``1 / speed`` seconds. The coarsest level when none
    keeps up; the finest when at rest (``speed`` 0). None without levels.
    """
    if not view_tiles:
        return None
    if not speed > 0:
        return min(view_tiles)
    per_slice = 1.0 / speed
    for level in sorted(view_tiles):
        if math.ceil(view_tiles[level] / max(workers, 1)) * load_s <= per_slice:
            return level
    return max(view_tiles)


def nearest_slice(
    current: Sequence[Slice],
    candidates: Iterable[tuple[int, Slice]],
    planes: Sequence[Sequence[int]],
) -> tuple[int, Slice] | None:
    """The resident ``(level, slice)`` nearest the current slice, in level-0 planes.

    ``current[level]``: the current slice's indices at each level; ``candidates``: levels
    and slices (at that level) with resident tiles; ``planes[level]``: planes per sliced
    axis at each level (``planes[0]`` is level 0). A candidate equal to the current slice at
    its level is skipped (it is the current slice). Distance: the largest level-0 distance of
    the candidate's plane centre from the current level-0 plane over the sliced axes; ties
    go to the finer level, then the lower slice.
    """
    best: tuple[float, int, Slice] | None = None
    cur0 = current[0]
    n0 = planes[0]
    for level, s in candidates:
        if s == current[level] or len(s) != len(cur0):
            continue
        nl = planes[level]
        dist = max(
            (abs((p + 0.5) * a / b - 0.5 - c) for p, a, b, c in zip(s, n0, nl, cur0, strict=True)),
            default=0.0,
        )
        cand = (dist, level, s)
        if best is None or cand < best:
            best = cand
    return None if best is None else (best[1], best[2])


@dataclass(frozen=True, slots=True)
class ThickSlice:
    """A thick slice as prefetch sees it: the projection, and per sliced axis the window
    ``[start, stop)`` relative to the slice's index before clipping to the data, so the
    window of a neighbouring slice is the same offsets around its index."""

    projection: str
    offsets: tuple[tuple[int, int], ...]

    def windows_at(self, slice0: Sequence[int], sizes: Sequence[int]) -> tuple[Window, ...]:
        """The level-0 windows of the thick slice at indices ``slice0`` (clipped to
        ``sizes``; a window clipped to nothing is the slice's own plane, as slicing does)."""
        out: list[Window] = []
        for i, (lo, hi), n in zip(slice0, self.offsets, sizes, strict=True):
            start, stop = max(i + lo, 0), min(i + hi, n)
            out.append((start, stop) if start < stop else (i, i + 1))
        return tuple(out)
