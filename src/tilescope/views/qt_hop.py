"""Qt's side of the thread hop: wake the main thread when a worker posts a result.

:class:`~tilescope.hop.MainThreadQueue` is the one place work crosses threads; it asks
its *waker* to schedule a ``drain`` on the main thread. :class:`QtWaker` does that with
a signal emitted from the posting thread and delivered through a queued connection to a
slot that runs on the thread owning the waker (the Qt main thread). Wake-ups coalesce:
however many results a burst posts, at most one drain is pending at a time, and each
drain runs for a bounded time so a flood of results cannot stall the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from qtpy.QtCore import QObject, Qt, Signal

from tilescope.hop import MainThreadQueue

__all__ = ["DEFAULT_DRAIN_BUDGET_S", "QtWaker", "install_waker"]

DEFAULT_DRAIN_BUDGET_S = 0.008
"""Time one drain may run before yielding back to the event loop (half a 60 Hz frame)."""

_log = logging.getLogger(__name__)


class QtWaker(QObject):
    """Schedules ``queue.drain()`` on the Qt main thread whenever something is posted.

    Create it on the main thread (it must live there: queued slots run on the thread
    of the receiving object), then :meth:`install` it. :meth:`wake` is thread-safe.
    """

    _wake = Signal()

    def __init__(
        self, queue: MainThreadQueue, *, budget_s: float | None = DEFAULT_DRAIN_BUDGET_S
    ) -> None:
        super().__init__()
        self._queue = queue
        self._budget_s = budget_s
        self._lock = threading.Lock()
        self._pending = False
        self._installed = False
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    @property
    def queue(self) -> MainThreadQueue:
        """The queue this waker drains."""
        return self._queue

    def install(self) -> None:
        """Become the queue's waker; drains anything already posted. Main thread only."""
        self._queue.set_waker(self.wake)
        self._installed = True
        if not self._queue.empty():
            self.wake()

    def uninstall(self) -> None:
        """Stop waking (the queue then needs explicit drains). Main thread only."""
        if self._installed:
            self._queue.set_waker(None)
            self._installed = False

    def wake(self) -> None:
        """Ask for a drain on the main thread soon. Called from any thread."""
        with self._lock:
            if self._pending:
                return
            self._pending = True
        # RuntimeError: the Qt object was deleted (window closed) while a worker posted.
        with contextlib.suppress(RuntimeError):
            self._wake.emit()

    def _drain(self) -> None:
        """Run posted callbacks (main thread, from the event loop)."""
        with self._lock:
            self._pending = False  # posts from now on schedule another drain
        if not self._installed:
            return
        try:
            self._queue.drain(self._budget_s)
        except Exception:
            # One failing callback must not kill the event loop; the queue itself asks for
            # another drain for the callbacks after it.
            _log.exception("a main-thread callback posted to tilescope's queue failed")


def install_waker(
    queue: MainThreadQueue, *, budget_s: float | None = DEFAULT_DRAIN_BUDGET_S
) -> QtWaker:
    """Create a :class:`QtWaker` for ``queue`` on the calling (main) thread and install it."""
    waker = QtWaker(queue, budget_s=budget_s)
    waker.install()
    return waker
