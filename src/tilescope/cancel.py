"""Cancellation as an object: a token passed to work running in a worker.

The submitter keeps the token and calls :meth:`CancelToken.cancel` when the work is no longer
wanted; the work calls :meth:`CancelToken.raise_if_cancelled` between its steps (per chunk,
per plane) and stops with :class:`Cancelled`. Nothing is ever interrupted mid-step.

A token pickles as a fresh, uncancelled one, so work holding it can be sent to worker
processes (the loader's ``"processes"`` executor): there it can be cancelled before it
starts, not after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelToken", "Cancelled"]


class Cancelled(Exception):
    """Raised inside cancelled work at its next check; never reaches the user."""


#: Guards every token's flag flip and callback list (tiny critical sections): one lock for all,
#: since a frame creates hundreds of tokens and an Event each (a Condition and two locks) cost
#: the main thread more than the rest of queueing a load.
_LOCK = threading.Lock()


class CancelToken:
    """A one-way, thread-safe flag: once cancelled, always cancelled."""

    __slots__ = ("_callbacks", "_cancelled")

    def __init__(self) -> None:
        self._cancelled = False
        self._callbacks: list[Callable[[], object]] | None = None

    def cancel(self) -> None:
        """Ask the work to stop at its next check. Safe from any thread, idempotent."""
        with _LOCK:
            if self._cancelled:
                return
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (on the cancelling thread) when the token is cancelled; at once
        if it already is. For work that waits on something a check cannot interrupt."""
        with _LOCK:
            if not self._cancelled:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._cancelled  # a bool read is atomic; it only ever goes False -> True

    def raise_if_cancelled(self) -> None:
        """Called by the work between steps: raise :class:`Cancelled` if cancelled."""
        if self._cancelled:
            raise Cancelled

    def __reduce__(self) -> tuple[type[CancelToken], tuple[()]]:
        """Pickle as a fresh token: a cancellation cannot follow work into another process."""
        return (CancelToken, ())

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"
