"""Computing dask reads on one shared pool, cancellable between chunks, with no global state.

``np.asarray(dask_array)`` from a worker thread makes dask's threaded scheduler create a
thread pool *per calling thread* (4 slice workers: 4 pools, each CPU-count threads, alive
until their thread dies). And the usual way to hook into a computation, ``dask.callbacks``,
goes through ``Callback.active``, a process-global set that dask's ``local_callbacks`` swaps
out and back per computation: two computations overlapping on different threads can restore
each other's set, leaving a cancelled read's check installed (every later read on that thread
raises ``Cancelled``) or dropping a live one.

:class:`DaskReads` avoids both: :meth:`DaskReads.compute` runs the graph with
``dask.threaded.get`` on one :class:`~tilescope.data.threads.DaemonExecutor` shared by all
callers, passes ``callbacks=()`` explicitly (so dask never touches ``Callback.active``), and
checks the :class:`~tilescope.cancel.CancelToken` each time dask hands a chunk to the pool and
again when the chunk starts: once the token is cancelled no further chunk starts and the
computation raises :class:`~tilescope.cancel.Cancelled` (napari cannot stop such a read).

A chunk that hangs (a stalled store under a dask graph) must not hang its computation's caller
or the shared pool either. Dask waits on futures that :class:`_TokenPool` hands it, not on the
pool's own: cancelling the token fails the unfinished ones at once, so the computation returns
``Cancelled`` while the hung chunk is still running; and the pool gives up on a chunk running
longer than :data:`STUCK_CHUNK_S` when new work arrives, so a fresh thread takes its place.

Threads: ``compute`` runs in whatever thread calls it (a slice worker), ``close`` anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, InvalidStateError
from typing import Any, ParamSpec, TypeVar, cast

import numpy as np

from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.threads import DaemonExecutor

__all__ = ["DaskReads", "is_dask_collection"]

P = ParamSpec("P")
T = TypeVar("T")

#: A chunk running this long is taken as hung: the shared pool replaces its thread.
STUCK_CHUNK_S = 5.0


def is_dask_collection(obj: object) -> bool:
    """True for a dask collection (array, delayed, ...); False without dask installed."""
    try:
        from dask.base import is_dask_collection as is_collection
    except ImportError:
        return False
    return bool(is_collection(obj))


class _TokenPool(Executor):
    """The shared pool seen through one computation's token (what ``dask.threaded.get`` uses)."""

    def __init__(self, pool: DaemonExecutor, token: CancelToken) -> None:
        self._pool = pool
        self._token = token
        self._max_workers = pool._max_workers

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self._token.raise_if_cancelled()  # dask stops handing out chunks
        token = self._token

        def guarded() -> T:
            token.raise_if_cancelled()  # queued behind other reads, cancelled meanwhile
            return fn(*args, **kwargs)

        # dask waits on this proxy, which a cancellation fails at once: a chunk that hangs
        # keeps its pool thread (until replaced) but never the computation's caller
        proxy: Future[T] = Future()
        proxy.set_running_or_notify_cancel()
        inner = self._pool.submit(guarded)
        inner.add_done_callback(functools.partial(_copy_outcome, proxy))
        token.on_cancel(functools.partial(_fail_cancelled, proxy))
        return proxy


def _copy_outcome(proxy: Future[T], inner: Future[T]) -> None:
    exc = Cancelled() if inner.cancelled() else inner.exception()
    with contextlib.suppress(InvalidStateError):  # already failed by a cancellation
        if exc is None:
            proxy.set_result(inner.result())
        else:
            proxy.set_exception(exc)


def _fail_cancelled(proxy: Future[Any]) -> None:
    with contextlib.suppress(InvalidStateError):  # finished first
        proxy.set_exception(Cancelled())


class DaskReads:
    """One dask thread pool for every slice worker, owned by the slicer (``close`` it)."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        stuck_after_s: float = STUCK_CHUNK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._workers = workers or min(8, os.cpu_count() or 4)
        self._stuck_after_s = stuck_after_s
        self._clock = clock
        self._pool: DaemonExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def compute(self, obj: Any, token: CancelToken | None = None) -> np.ndarray:
        """``obj`` as a numpy array; a dask collection is computed on the shared pool.

        Blocks until done; raises :class:`~tilescope.cancel.Cancelled` once ``token`` is
        cancelled (checked before each chunk starts). Call off the main thread.
        """
        if not is_dask_collection(obj):
            return np.asarray(obj)
        import dask.threaded
        from dask.base import compute as dask_compute

        pool = self._shared_pool()
        view = _TokenPool(pool, token if token is not None else CancelToken())

        def get(dsk: Any, keys: Any, **kwargs: Any) -> Any:
            kwargs.pop("callbacks", None)
            return dask.threaded.get(dsk, keys, pool=view, callbacks=(), **kwargs)

        (result,) = cast(Any, dask_compute)(obj, scheduler=get)
        return np.asarray(result)

    def close(self) -> None:
        """Stop the pool without waiting for a running chunk; later computes are cancelled."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _shared_pool(self) -> DaemonExecutor:
        with self._lock:
            if self._closed:
                raise Cancelled  # the owner closed: nobody wants this read any more
            if self._pool is None:
                # started lazily: a viewer showing only numpy or zarr data never starts it
                self._pool = DaemonExecutor(
                    self._workers,
                    "tilescope-dask",
                    stuck_after_s=self._stuck_after_s,
                    clock=self._clock,
                )
            return self._pool
