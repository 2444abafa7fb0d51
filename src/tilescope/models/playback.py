"""Playing a dims axis at a chosen rate without ever skipping a frame.

:class:`Player` advances one axis of a :class:`~tilescope.models.dims.Dims` by one step per
``1 / fps`` seconds, looping, but only once the current step is on screen (its ``ready``
callback: the viewer answers whether every visible layer draws its own data for the slice,
at any level). A frame whose data is late is held, never skipped; the measured rate then
drops below the requested one, and :meth:`Player.note` says so. The level a frame shows is
whatever is resident when its time comes (prefetch ahead of the motion picks the level that
keeps the rate); a paused player leaves the slice to refine to full detail.

Qt-free: a timer (the slider's play button, :mod:`tilescope.views.dims_sliders`) or a test
calls :meth:`Player.tick`; the clock is injectable, so tests are exact.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from tilescope.models.dims import Dims

__all__ = ["MAX_FPS", "MIN_FPS", "Player"]

MIN_FPS = 0.1
MAX_FPS = 120.0
#: Steps over which the achieved rate is measured.
RATE_WINDOW = 10


class Player:
    """Advance ``dims`` along one axis at ``fps``, one step at a time, never skipping.

    Parameters
    ----------
    dims
        The dims to advance.
    ready
        Whether the current step is on screen (every visible layer draws its own data).
    clock
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        dims: Dims,
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dims = dims
        self._ready = ready
        self._clock = clock
        self._axis: int | None = None
        self._fps = 10.0
        self._loop = True
        self._last: float | None = None
        self._steps: deque[float] = deque(maxlen=RATE_WINDOW + 1)
        self.held = 0
        """Ticks at which the next step was due but the current one was not on screen."""
        self.frames = 0
        """Steps taken since :meth:`play`."""
        self.changed: list[Callable[[], object]] = []
        """Called after :meth:`play` and :meth:`stop` (a play button shows the state)."""

    @property
    def playing_axis(self) -> int | None:
        """The world axis being played (None: stopped)."""
        return self._axis

    @property
    def fps(self) -> float:
        """The requested rate (steps per second)."""
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if not MIN_FPS <= value <= MAX_FPS:
            raise ValueError(f"fps must be between {MIN_FPS} and {MAX_FPS}, got {value!r}")
        self._fps = float(value)

    @property
    def interval(self) -> float:
        """Seconds between two steps at the requested rate."""
        return 1.0 / self._fps

    def play(self, axis: int, fps: float | None = None, *, loop: bool = True) -> None:
        """Start advancing world axis ``axis`` (a sliced one) from the current step."""
        if not 0 <= axis < self._dims.ndim:
            raise ValueError(f"axis {axis} out of range for {self._dims.ndim} dims")
        if axis in self._dims.displayed:
            raise ValueError(f"axis {axis} is displayed; play one of {self._dims.not_displayed}")
        if fps is not None:
            self.fps = fps
        self._axis = axis
        self._loop = loop
        self._last = self._clock()
        self._steps.clear()
        self._steps.append(self._last)
        self.held = 0
        self.frames = 0
        self._emit()

    def stop(self) -> None:
        """Stop advancing (the current slice then refines to full detail)."""
        was = self._axis
        self._axis = None
        self._last = None
        if was is not None:
            self._emit()

    def _emit(self) -> None:
        for callback in list(self.changed):
            callback()

    def due_in(self) -> float | None:
        """Seconds until the next step is due (0: due now; None: stopped)."""
        if self._axis is None or self._last is None:
            return None
        return max(self._last + self.interval - self._clock(), 0.0)

    def tick(self) -> bool:
        """Take the next step if it is due and the current one is on screen; True if taken."""
        axis = self._axis
        if axis is None or self._last is None:
            return False
        if axis in self._dims.displayed or axis >= self._dims.ndim:
            self.stop()  # the axis is no longer sliced
            return False
        now = self._clock()
        due = self._last + self.interval
        if now < due:
            return False
        if not self._ready():
            self.held += 1
            return False
        nsteps = self._dims.nsteps[axis]
        step = self._dims.current_step[axis] + 1
        if step >= nsteps:
            if not self._loop:
                self.stop()
                return False
            step = 0
        # on time: keep the cadence; late (held or a slow timer): restart it from now
        self._last = due if now - due < self.interval else now
        self._steps.append(now)
        self.frames += 1
        self._dims.set_current_step(axis, step)
        return True

    @property
    def achieved_fps(self) -> float | None:
        """Steps per second over the last few steps, counting a frame held now (None before
        two steps)."""
        if len(self._steps) < 3:
            return None
        end = self._steps[-1]
        if self._axis is not None:
            now = self._clock()
            if now - end > self.interval:  # the next step is overdue: it counts already
                end = now
        span = end - self._steps[0]
        return (len(self._steps) - 1) / span if span > 0 else None

    def keeps_rate(self, tolerance: float = 0.9) -> bool:
        """Whether the measured rate is at least ``tolerance`` of the requested one."""
        rate = self.achieved_fps
        return rate is None or rate >= tolerance * self._fps

    def note(self) -> str | None:
        """What a status line says while playing below the requested rate (else None)."""
        if self._axis is None or self.keeps_rate():
            return None
        rate = self.achieved_fps
        assert rate is not None
        return (
            f"playing at {rate:.1f} of {self._fps:g} fps: each frame waits for its data "
            "(none is skipped)"
        )
