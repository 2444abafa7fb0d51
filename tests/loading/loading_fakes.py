"""Deterministic fakes for loader tests: a manual executor, gated and clocked loads, configs."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import numpy.typing as npt

from tilescope.cancel import CancelToken
from tilescope.loading.config import OctreeConfig, PoolSettings
from tilescope.loading.delay_queue import FakeClock


class ManualExecutor(Executor):
    """Runs submitted work only when the test says so, on the calling thread."""

    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings
        self.tasks: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self.shutdowns: list[tuple[bool, bool]] = []
        self.submitted = 0
        self.abandoned: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.tasks.append((future, fn, args))
        self.submitted += 1
        return future

    def run_next(self) -> bool:
        """Run the oldest task (callbacks included); False if it had been cancelled."""
        future, fn, args = self.tasks.popleft()
        if not future.running() and not future.set_running_or_notify_cancel():
            return False
        try:
            result = fn(*args)
        except BaseException as exc:
            future.set_exception(exc)
            # the traceback holds this frame: without its future, no future -> exception ->
            # traceback -> frame cycle (as concurrent.futures' own worker does)
            del future
            return True
        else:
            future.set_result(result)
        return True

    def abandon(self, future: Future[Any]) -> bool:
        """What DaemonExecutor does for a hung task (a fresh thread replaces its worker)."""
        if future.done() or future in self.abandoned:
            return False
        self.abandoned.append(future)
        return True

    def start_all(self) -> None:
        """Mark every queued task as started (a worker took it: ``cancel()`` cannot stop it)."""
        for future, _, _ in self.tasks:
            if not future.running():
                future.set_running_or_notify_cancel()

    def run_matching(self, pick: Callable[[Callable[..., Any], tuple[Any, ...]], bool]) -> None:
        """Run (now, on this thread) every queued task ``pick(fn, args)`` selects."""
        for task in [t for t in self.tasks if pick(t[1], t[2])]:
            self.tasks.remove(task)
            self.tasks.appendleft(task)
            self.run_next()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shutdowns.append((wait, cancel_futures))
        if cancel_futures:
            for future, _, _ in self.tasks:
                future.cancel()


class Executors:
    """An executor factory that remembers the ManualExecutor of each pool."""

    def __init__(self) -> None:
        self.by_offset: dict[int, ManualExecutor] = {}

    def __call__(self, settings: PoolSettings) -> Executor:
        ex = ManualExecutor(settings)
        self.by_offset[settings.level_offset] = ex
        return ex

    def __getitem__(self, offset: int) -> ManualExecutor:
        return self.by_offset[offset]

    def total_submitted(self) -> int:
        return sum(ex.submitted for ex in self.by_offset.values())


class GatedRead:
    """A load that signals when it starts and blocks until released."""

    def __init__(self, value: float = 1.0, shape: tuple[int, int] = (4, 4)) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.value = value
        self.shape = shape
        self.calls = 0
        self.check_token = True

    def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
        self.calls += 1
        self.started.set()
        if not self.gate.wait(timeout=10):
            raise TimeoutError("gate never opened")
        if self.check_token:
            token.raise_if_cancelled()
        return np.full(self.shape, self.value)


class ClockedRead:
    """A load that takes ``ms`` of fake-clock time."""

    def __init__(self, clock: FakeClock, ms: float, value: float = 1.0) -> None:
        self.clock = clock
        self.ms = ms
        self.value = value
        self.calls = 0

    def __call__(self, token: CancelToken) -> npt.NDArray[Any]:
        self.calls += 1
        self.clock.advance(self.ms / 1000)
        return np.full((2, 2), self.value)


def one_pool_config(**loader: Any) -> OctreeConfig:
    """One pool (offset 0) using ``loader_defaults``; auto-sync off unless asked for."""
    return OctreeConfig.from_dict(
        {"loader_defaults": {"auto_sync_ms": 0, **loader}, "octree": {"loaders": {"0": {}}}}
    )
