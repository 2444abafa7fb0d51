"""A test array whose reads block on a gate and are recorded (deterministic concurrency)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

WAIT = 20.0


class GatedArray:
    """Wraps ``data``. A read records its first index in ``started`` (-1 when that is not an
    integer), blocks on ``gate`` (set by default), raises ``OSError`` if that index is in
    ``fail`` ("<what> <index> is unreadable"), and counts in ``finished`` when it returns."""

    def __init__(self, data: np.ndarray, what: str = "slice") -> None:
        self._data = data
        self._what = what
        self.gate = threading.Event()
        self.gate.set()
        self.cond = threading.Condition()
        self.started: list[int] = []
        self.finished = 0
        self.fail: set[int] = set()

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)

    def __getitem__(self, key: Any) -> np.ndarray:
        first = key[0] if isinstance(key, tuple) else key
        index = int(first) if isinstance(first, int | np.integer) else -1
        with self.cond:
            self.started.append(index)
            self.cond.notify_all()
        assert self.gate.wait(WAIT)
        if index in self.fail:
            raise OSError(f"{self._what} {index} is unreadable")
        out = self._data[key]
        with self.cond:
            self.finished += 1
            self.cond.notify_all()
        return out

    def reads_of(self, index: int) -> int:
        with self.cond:
            return self.started.count(index)

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, WAIT)
