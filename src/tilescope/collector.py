"""Full garbage collections when the viewer rests, not in the middle of an interaction.

CPython's cyclic collector runs a full (generation 2) collection once enough objects have
survived the younger ones, on whichever thread allocates at that moment, with the GIL held
throughout, visiting every tracked object. With a viewer's heap (vispy visuals, zarr, aiohttp
and dask objects, the tile cache) one took 20-70 ms on a 2-core machine, in the middle of a
drag: the fault soak's longest main-thread tasks, traced with ``gc.callbacks``. Young
collections (generations 0 and 1) take a few milliseconds and stay as they are.

- While a viewer is open, CPython waits :data:`DEFER_FACTOR` times as many young collections
  as it normally would before a full one of its own (threshold 2 is raised; 0 and 1 keep
  their values). That is the safety net: an interaction that never rests still collects,
  and so does a process that never closes its viewers.
- Each viewer's :class:`RestCollector` hears of the user's activity (camera, slider and
  canvas changes, layer changes and additions). Once ``quiet_s`` has passed without any
  and a full collection is due (as many young collections since the last full one as
  CPython's threshold 2 asks for; CPython also waits for the long-lived objects to grow by a
  quarter, which the module cannot see, so this collects somewhat more often), the viewer
  runs one on its main thread, timed as the ``collect_at_rest`` task.
- A collection at rest walks every tracked object not frozen: what the modules imported
  since the viewer started (``open()`` brings zarr, fsspec, aiohttp) and everything the
  viewer made. That, not the garbage, is its cost: 43 ms for 971 garbage objects in the
  scrub benchmark, 20-76 ms with 33-105 thousand objects tracked in the fault soak. So what
  survives it is frozen (``gc.freeze()``, as the viewer does once at start): the next
  collection walks only what came since. A cycle among frozen objects is not freed until
  they are unfrozen, so every :data:`SWEEP_EVERY` th collection, and the first after a
  layer is removed (:meth:`RestCollector.sweep_soon`: its visuals and model die then), unfreezes
  everything first and walks it all; closing a collector that froze unfreezes too.
- The last viewer to close puts the thresholds back. If the collector is off
  (``gc.disable()``) or threshold 2 is 0, nothing is changed.

Threads: everything here runs on the viewer's main thread except ``arm``'s callback, which
the owner makes post to it.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Protocol

from tilescope.alarm import QuietTimer

__all__ = ["DEFER_FACTOR", "SWEEP_EVERY", "GcControl", "RestCollector"]

#: How many times CPython's own wait for a full collection it waits while a viewer is open.
DEFER_FACTOR = 10

#: Every this many collections at rest, frozen objects are unfrozen and walked too.
SWEEP_EVERY = 8


class GcControl(Protocol):
    """What is used of the :mod:`gc` module (a fake in tests)."""

    def isenabled(self) -> bool: ...
    def get_threshold(self) -> tuple[int, int, int]: ...
    def set_threshold(self, t0: int, t1: int = ..., t2: int = ..., /) -> None: ...
    def get_count(self) -> tuple[int, int, int]: ...
    def collect(self, generation: int = 2) -> int: ...
    def freeze(self) -> None: ...
    def unfreeze(self) -> None: ...


class _Deferral:
    """Threshold 2 raised while any :class:`RestCollector` holds it (process-wide, per
    :class:`GcControl`: the real module, or a test's fake)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: control -> (holders, the thresholds before the first)
        self._held: dict[GcControl, tuple[int, tuple[int, int, int]]] = {}

    def hold(self, control: GcControl) -> int | None:
        """Raise threshold 2 (first holder); return the young-collection count at which a
        full collection is due, or None if the collector is left alone."""
        with self._lock:
            held = self._held.get(control)
            if held is not None:
                self._held[control] = (held[0] + 1, held[1])
                return held[1][2]
            saved = control.get_threshold()
            if not control.isenabled() or saved[2] <= 0:
                return None
            self._held[control] = (1, saved)
            control.set_threshold(saved[0], saved[1], saved[2] * DEFER_FACTOR)
            return saved[2]

    def release(self, control: GcControl) -> None:
        """Put the thresholds back once the last holder lets go (unless changed meanwhile)."""
        with self._lock:
            holders, saved = self._held.pop(control)
            if holders > 1:
                self._held[control] = (holders - 1, saved)
            elif control.get_threshold() == (saved[0], saved[1], saved[2] * DEFER_FACTOR):
                control.set_threshold(*saved)


_DEFERRAL = _Deferral()

#: The controls whose objects a collector froze and nobody unfroze since (the freeze is
#: process-wide: one viewer's removal must sweep what another viewer's collection froze).
_FROZEN: set[GcControl] = set()


class RestCollector:
    """Runs the full garbage collections a viewer defers once its user rests (see the
    module doc). ``arm(delay_s)`` must call :meth:`rest` on the main thread after
    ``delay_s`` seconds."""

    def __init__(
        self,
        arm: Callable[[float], None],
        *,
        quiet_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        control: GcControl = gc,
    ) -> None:
        self._control = control
        self._due_at = _DEFERRAL.hold(control)
        self._quiet = QuietTimer(arm, quiet_s, clock)
        #: Full collections this collector ran at rest.
        self.collections = 0
        self._froze = False  # this collector froze (and must unfreeze at close)
        self._sweep = False  # the next collection unfreezes first

    @property
    def active(self) -> bool:
        """False when the collector was left alone (disabled, or closed)."""
        return self._due_at is not None

    def due(self) -> bool:
        """A full collection is due: as many young ones since the last as CPython waits for."""
        return self._due_at is not None and self._control.get_count()[2] >= self._due_at

    def activity(self) -> None:
        """The user did something (a camera, slider or layer change): rest starts over.
        Called for every such event: one attribute store unless an alarm must be armed."""
        if self._due_at is not None:
            self._quiet.touch()

    def poke(self) -> None:
        """Work the user did not ask for just now happened (a frame of arrived tiles): if a
        full collection is due, check for rest soon. Cheap enough to call every frame."""
        if self.due():
            self._quiet.arm_soon()

    def rest(self) -> bool:
        """The armed delay passed (main thread): collect if the user rested ``quiet_s`` and a
        collection is due; otherwise wait for the rest of the quiet time. True if it ran."""
        if self._due_at is None or not self._quiet.expired():
            return False
        if not self.due():
            return False
        control = self._control
        if control in _FROZEN and (self._sweep or self.collections % SWEEP_EVERY == 0):
            control.unfreeze()
        self._sweep = False
        control.collect()
        control.freeze()  # what survived is long-lived: the next collection skips it
        _FROZEN.add(control)
        self._froze = True
        self.collections += 1
        return True

    def sweep_soon(self) -> None:
        """Objects frozen by an earlier collection may have died (a layer was removed): the
        next collection at rest unfreezes everything first, so their cycles are freed."""
        self._sweep = True

    def close(self) -> None:
        """Let go of the deferral (the last collector puts CPython's thresholds back)."""
        if self._due_at is not None:
            self._due_at = None
            _DEFERRAL.release(self._control)
            if self._froze and self._control in _FROZEN:
                # the viewer's objects are garbage soon: let CPython see them
                self._control.unfreeze()
                _FROZEN.discard(self._control)
            self._froze = False
