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


class CancelToken:
    """A one-way, thread-safe flag: once cancelled, always cancelled."""

    __slots__ = ("_callbacks", "_event", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []

    def cancel(self) -> None:
        """Ask the work to stop at its next check. Safe from any thread, idempotent."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (on the cancelling thread) when the token is cancelled; at once
        if it already is. For work that waits on something a check cannot interrupt."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Called by the work between steps: raise :class:`Cancelled` if cancelled."""
        if self._event.is_set():
            raise Cancelled

    def __reduce__(self) -> tuple[type[CancelToken], tuple[()]]:
        """Pickle as a fresh token: a cancellation cannot follow work into another process."""
        return (CancelToken, ())

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"
