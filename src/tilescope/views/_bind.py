"""Tie psygnal connections to a Qt widget's lifetime.

Models outlive widgets (a window can close while the viewer lives on), so every
connection from a model signal to a widget slot is dropped when the widget's C++
object is destroyed; a model event can then never reach a deleted widget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psygnal import SignalInstance
from qtpy.QtCore import QObject

__all__ = ["connect_for_lifetime"]


def connect_for_lifetime(owner: QObject, signal: SignalInstance, slot: Callable[..., Any]) -> None:
    """Connect ``signal`` to ``slot`` until ``owner`` is destroyed (main thread)."""
    signal.connect(slot)

    # A closure over the signal and slot only: referencing ``owner`` would keep it alive.
    def disconnect(*_: object) -> None:
        signal.disconnect(slot, missing_ok=True)

    owner.destroyed.connect(disconnect)
