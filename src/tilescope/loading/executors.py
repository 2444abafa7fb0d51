"""Executors the loader can run loads on: threads, processes, or a dask.distributed cluster.

The loader creates one executor per pool through :func:`make_executor` and owns
it: it is shut down with ``cancel_futures=True`` when the loader closes.  No
module-level pools.

* ``"threads"`` (default): a :class:`~tilescope.data.threads.DaemonExecutor` (daemon
  threads: a hung load never holds up close() or exit); loads share memory with
  the caller, cancel tokens reach running loads.
* ``"processes"``: a ``ProcessPoolExecutor`` with the ``spawn`` start method
  (safe with threads in the parent).  Loads and their data must pickle (zarr
  and tensorstore arrays do cheaply; numpy arrays are copied); tokens only
  cancel loads that have not started.
* ``"dask"``: ``client.get_executor()`` of a ``dask.distributed`` client — the
  one passed in, or ``distributed.get_client()``.  ``distributed`` is optional;
  tilescope does not depend on it.  For chunks that are computed, not read.
"""

from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from tilescope.data.threads import DaemonExecutor
from tilescope.errors import ConfigError
from tilescope.loading.config import ExecutorKind

__all__ = ["make_executor", "shutdown_executor"]


def make_executor(
    kind: ExecutorKind, num_workers: int, name: str, dask_client: Any = None
) -> Executor:
    """Create an executor of ``kind`` with ``num_workers`` workers."""
    if kind == "threads":
        # daemon threads: a load that never returns holds up neither close() nor exit
        return DaemonExecutor(num_workers, name)
    if kind == "processes":
        return ProcessPoolExecutor(
            max_workers=num_workers, mp_context=multiprocessing.get_context("spawn")
        )
    if kind == "dask":
        client = dask_client
        if client is None:
            try:  # optional dependency, imported only when asked for
                distributed: Any = importlib.import_module("distributed")
            except ImportError:
                raise ConfigError(
                    "executor 'dask' needs the optional 'distributed' package "
                    "(pip install distributed) or a client passed as dask_client="
                ) from None
            try:
                client = distributed.get_client()
            except ValueError as exc:
                raise ConfigError(
                    f"executor 'dask' found no running dask.distributed client ({exc}); "
                    "create a distributed.Client first or pass dask_client="
                ) from exc
        get_executor = getattr(client, "get_executor", None)
        if get_executor is None:
            raise ConfigError(
                f"dask_client {client!r} has no get_executor(); pass a distributed.Client"
            )
        executor = get_executor()
        if not isinstance(executor, Executor):
            raise ConfigError(f"{client!r}.get_executor() did not return an Executor")
        return executor
    raise ConfigError(f"unknown executor kind {kind!r}; use 'threads', 'processes' or 'dask'")


def shutdown_executor(executor: Executor, wait: bool = False) -> None:
    """Shut an executor down, cancelling queued futures where the executor supports it."""
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
    except TypeError:  # executors predating cancel_futures (e.g. distributed's)
        executor.shutdown(wait=wait)
