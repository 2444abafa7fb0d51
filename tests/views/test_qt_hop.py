"""The Qt waker drains tilescope's main-thread queue from the Qt event loop."""

from __future__ import annotations

import logging
import threading

import pytest
from pytestqt.qtbot import QtBot

from tilescope.hop import MainThreadQueue
from tilescope.views.qt_hop import QtWaker, install_waker

pytestmark = pytest.mark.qt


class CountingQueue(MainThreadQueue):
    """A queue that counts how often it is drained."""

    def __init__(self) -> None:
        super().__init__()
        self.drains = 0

    def drain(self, budget_s: float | None = None) -> int:
        self.drains += 1
        return super().drain(budget_s)


def test_post_from_worker_runs_on_main_thread(qtbot: QtBot) -> None:
    queue = MainThreadQueue()
    waker = install_waker(queue)
    ran_on: list[int] = []
    worker = threading.Thread(
        target=queue.post, args=(lambda: ran_on.append(threading.get_ident()),)
    )
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(ran_on) == 1, timeout=2000)
    assert ran_on == [threading.get_ident()]
    waker.uninstall()


def test_burst_of_posts_coalesces_into_few_drains(qtbot: QtBot) -> None:
    queue = CountingQueue()
    install_waker(queue, budget_s=None)  # no time budget: one drain empties the queue
    results: list[int] = []

    def burst() -> None:
        for i in range(200):
            queue.post(results.append, i)

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join()  # the main thread has not run its event loop: one wake-up is pending
    qtbot.waitUntil(lambda: len(results) == 200, timeout=2000)
    assert results == list(range(200))
    assert queue.drains == 1


def test_drain_budget_yields_and_reschedules(qtbot: QtBot) -> None:
    queue = CountingQueue()
    install_waker(queue, budget_s=0.0)  # every drain runs one callback, then asks for more
    results: list[int] = []
    for i in range(5):
        queue.post(results.append, i)
    qtbot.waitUntil(lambda: len(results) == 5, timeout=2000)
    assert results == [0, 1, 2, 3, 4]
    assert queue.drains >= 5


def test_install_drains_what_was_posted_before(qtbot: QtBot) -> None:
    queue = MainThreadQueue()
    results: list[str] = []
    queue.post(results.append, "early")
    install_waker(queue)
    qtbot.waitUntil(lambda: results == ["early"], timeout=2000)


def test_failing_callback_is_logged_and_the_rest_still_run(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    queue = MainThreadQueue()
    install_waker(queue)
    results: list[int] = []

    def boom() -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="tilescope.views.qt_hop"):
        queue.post(results.append, 1)
        queue.post(boom)
        queue.post(results.append, 2)
        qtbot.waitUntil(lambda: results == [1, 2], timeout=2000)
    assert any("boom" in (r.exc_text or "") for r in caplog.records)


def test_uninstalled_waker_leaves_the_queue_alone(qtbot: QtBot) -> None:
    queue = MainThreadQueue()
    waker = QtWaker(queue)
    waker.install()
    waker.uninstall()
    results: list[int] = []
    queue.post(results.append, 1)
    qtbot.wait(50)
    assert results == []
    assert queue.drain() == 1
    assert results == [1]
