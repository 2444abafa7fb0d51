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

__all__ = ["Rebindable", "connect_for_lifetime"]


def connect_for_lifetime(owner: QObject, signal: SignalInstance, slot: Callable[..., Any]) -> None:
    """Connect ``signal`` to ``slot`` until ``owner`` is destroyed (main thread)."""
    signal.connect(slot)

    # A closure over the signal and slot only: referencing ``owner`` would keep it alive.
    def disconnect(*_: object) -> None:
        signal.disconnect(slot, missing_ok=True)

    owner.destroyed.connect(disconnect)


class Rebindable:
    """One connection of ``slot`` to a signal that can be switched (or cleared) over time,
    dropped for good when ``owner`` is destroyed: e.g. controls following the selected layer."""

    def __init__(self, owner: QObject, slot: Callable[..., Any]) -> None:
        self._slot = slot
        self._signal: SignalInstance | None = None
        owner.destroyed.connect(self.unbind)

    def bind(self, signal: SignalInstance | None) -> None:
        """Connect ``slot`` to ``signal`` instead of the previous one (``None``: to nothing)."""
        self.unbind()
        if signal is not None:
            signal.connect(self._slot)
            self._signal = signal

    def unbind(self, *_: object) -> None:
        """Disconnect from the current signal, if any."""
        if self._signal is not None:
            self._signal.disconnect(self._slot, missing_ok=True)
            self._signal = None
