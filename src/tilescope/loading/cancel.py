"""Cancel tokens for loads: the project's :class:`tilescope.cancel.CancelToken`, picklable.

A :class:`CancelToken` is handed to every load.  The loader cancels it when the
tile leaves the wanted set; the worker checks
:meth:`~tilescope.cancel.CancelToken.raise_if_cancelled` between steps (tile
sources do so between child reads) and stops with :class:`LoadCancelled`
(which *is* :class:`tilescope.cancel.Cancelled`).  Loads still waiting in a
delay queue or an executor queue are dropped without running at all.

The only addition to the shared token: pickling gives a fresh, uncancelled
token, so loads can be sent to worker processes — where they can be cancelled
before they start, not after.
"""

from __future__ import annotations

from tilescope.cancel import Cancelled
from tilescope.cancel import CancelToken as _SharedCancelToken

__all__ = ["CancelToken", "LoadCancelled"]

#: Raised inside a load whose token was cancelled; recorded by the loader, never posted.
LoadCancelled = Cancelled


class CancelToken(_SharedCancelToken):
    """A one-way, thread-safe cancellation flag that pickles as a fresh token."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[CancelToken], tuple[()]]:
        return (CancelToken, ())
