"""A dask read stops at the next chunk once its token is cancelled."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest

from tilescope.cancel import Cancelled, CancelToken
from tilescope.data.dask_support import cancel_dask_on


def test_cancelled_token_stops_the_computation_between_chunks() -> None:
    token = CancelToken()
    started: list[int] = []
    first = threading.Event()

    def block(block_info: dict[object, dict[str, tuple[int, ...]]] | None = None) -> np.ndarray:
        assert block_info is not None
        started.append(block_info[None]["chunk-location"][0])
        first.set()
        token.cancel()  # cancelled while the first chunk runs
        return np.zeros((1, 4), np.float32)

    arr = da.map_blocks(block, chunks=((1,) * 50, (4,)), dtype=np.float32)
    with (
        dask.config.set(scheduler="threads", num_workers=1),
        cancel_dask_on(token),
        pytest.raises(Cancelled),
    ):
        np.asarray(arr)
    assert first.is_set()
    assert len(started) <= 2  # at most the chunks already handed to workers


def test_other_threads_are_not_affected() -> None:
    token = CancelToken()
    token.cancel()
    arr = da.ones((4, 4), chunks=2)
    result: list[np.ndarray] = []
    with cancel_dask_on(token):
        t = threading.Thread(target=lambda: result.append(np.asarray(arr)))
        t.start()
        t.join()
    np.testing.assert_array_equal(result[0], np.ones((4, 4)))


def test_uncancelled_token_changes_nothing() -> None:
    arr = da.arange(16, chunks=4)
    with cancel_dask_on(CancelToken()):
        np.testing.assert_array_equal(np.asarray(arr), np.arange(16))
