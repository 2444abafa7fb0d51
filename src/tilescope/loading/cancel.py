"""Cancel tokens: how the loader tells a running load to stop.

A :class:`CancelToken` is handed to every load.  The main thread (or the
loader, when a load leaves the wanted set) calls :meth:`CancelToken.cancel`;
the worker checks :meth:`CancelToken.raise_if_cancelled` between steps (tile
sources do so between child reads) and stops with :class:`LoadCancelled`.
Loads still waiting in a delay queue or an executor queue are dropped without
running at all.

Tokens are thread-safe.  Pickling gives a fresh, uncancelled token: a load in a
worker *process* cannot be cancelled once started (only before).
"""

from __future__ import annotations

import threading

__all__ = ["CancelToken", "LoadCancelled"]


class LoadCancelled(Exception):
    """Raised inside a load whose token was cancelled; the loader records it, never posts it."""


class CancelToken:
    """A one-way, thread-safe cancellation flag."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the load to stop (idempotent; any thread)."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`LoadCancelled` if cancelled.  Called by loads, in workers."""
        if self._event.is_set():
            raise LoadCancelled

    def __reduce__(self) -> tuple[type[CancelToken], tuple[()]]:
        return (CancelToken, ())

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"
