"""Cancelling a dask computation between its tasks.

``np.asarray(dask_array[key])`` runs dask's local scheduler in the calling (worker) thread.
Inside :func:`cancel_dask_on`, that scheduler checks a :class:`~tilescope.cancel.CancelToken`
before it starts each task: once the token is cancelled no further chunk starts, the
computation raises :class:`~tilescope.cancel.Cancelled`, and the worker is free within one
chunk's time instead of finishing a slice nobody wants (napari cannot stop such a read).

dask's callbacks are process-global, so the check applies only to computations run by the
thread that entered the block.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tilescope.cancel import CancelToken

__all__ = ["cancel_dask_on"]


@contextmanager
def cancel_dask_on(token: CancelToken) -> Iterator[None]:
    """Within this block, dask computations of this thread stop when ``token`` is cancelled."""
    try:
        from dask.callbacks import Callback
    except ImportError:  # dask not installed: nothing to cancel
        yield
        return
    owner = threading.get_ident()

    class _CancelCheck(Callback):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]

        def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
            if threading.get_ident() == owner:
                token.raise_if_cancelled()

    with _CancelCheck():
        yield
