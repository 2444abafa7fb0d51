"""CancelToken: a one-way flag whose callbacks run once, on the cancelling thread."""

from __future__ import annotations

import pickle

import pytest

from tilescope.cancel import Cancelled, CancelToken


def test_callbacks_run_once_on_cancel_and_at_once_when_already_cancelled() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    token.raise_if_cancelled()  # not cancelled: no raise
    assert calls == []
    token.cancel()
    token.cancel()  # idempotent: callbacks do not run twice
    assert calls == ["a"]
    assert token.cancelled
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["a", "late"]
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_a_token_pickles_as_a_fresh_one() -> None:
    token = CancelToken()
    token.cancel()
    assert not pickle.loads(pickle.dumps(token)).cancelled
