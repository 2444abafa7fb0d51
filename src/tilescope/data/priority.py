"""Background threads give way to the main thread for the CPU: a lower scheduling priority.

Reads, decoding and the HTTP client's event loop run on threads of their own, and on a
machine with few cores they are runnable most of the time a view moves. The main thread,
woken for a frame (or taking the GIL back after a GL call lets it go), then waits for a core
behind them: on 2 cores the fault-injection soak's longest main-thread tasks spent most of
their time not running (12-13 ms of CPU in 20-34 ms). With the background threads' nice
value raised (Linux schedules each thread on its own), the kernel runs the main thread first
when both want a core, and the background threads still take every cycle it leaves: reads
are not slower on an idle main thread.

Linux only: elsewhere a thread has no nice value of its own (``setpriority`` would change
the whole process), so nothing changes. A thread's nice value is only ever raised (an
unprivileged process cannot lower it again), so a later, smaller setting applies to threads
started after it.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import cast

__all__ = [
    "DEFAULT_BACKGROUND_NICE",
    "background_nice",
    "lower_thread_priority",
    "set_background_nice",
]

DEFAULT_BACKGROUND_NICE = 10
"""Nice value of background threads: about a tenth of a core's share against the main thread
(the kernel's weights: 110 against 1024) whenever both are runnable."""

_MAX_NICE = 19
_nice = DEFAULT_BACKGROUND_NICE
_done = threading.local()


def set_background_nice(nice: int) -> None:
    """The nice value background threads started from now on take (0: as the process)."""
    global _nice
    if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= _MAX_NICE:
        raise ValueError(f"background nice must be an int from 0 to {_MAX_NICE}, got {nice!r}")
    _nice = nice


def background_nice() -> int:
    """The nice value background threads take (see :func:`set_background_nice`)."""
    return _nice


def lower_thread_priority(nice: int | None = None) -> int | None:
    """Raise the calling thread's nice value to ``nice`` (default :func:`background_nice`)
    unless it is already that high; the thread's nice value afterwards, or None where threads
    have none of their own (not Linux) or the system refused. Cheap after the first call on a
    thread: event-loop threads call it from every coroutine that reads."""
    want = _nice if nice is None else nice
    done = getattr(_done, "asked", None)  # (nice asked for, what it gave) on this thread
    if done is not None and done[0] == want:
        return cast("int | None", done[1])
    result = _lower(want)
    _done.asked = (want, result)
    return result


def _lower(want: int) -> int | None:
    main = threading.current_thread() is threading.main_thread()
    if main or not sys.platform.startswith("linux") or want <= 0:  # never the main thread
        return None
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        if now < want:
            os.setpriority(os.PRIO_PROCESS, tid, want)
            now = want
    except OSError:  # a sandbox may forbid it: the thread keeps the process's priority
        return None
    return now
