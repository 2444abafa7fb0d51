"""Tie psygnal connections to a Qt widget's lifetime, without keeping the widget alive.

Models outlive widgets (a window can close while the viewer lives on), so every
connection from a model signal to a widget slot is dropped when the widget's C++
object is destroyed; a model event can then never reach a deleted widget. The hooks
hold bound-method slots weakly: a widget nobody references any more is collected
(and its C++ object deleted) as usual, and psygnal drops its weak connection then.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

from psygnal import SignalInstance
from qtpy.QtCore import QObject

__all__ = ["Rebindable", "connect_for_lifetime"]


def _weak(slot: Callable[..., Any]) -> Callable[[], Callable[..., Any] | None]:
    """A weak reference to a bound method; other callables are held strongly."""
    if inspect.ismethod(slot):
        return weakref.WeakMethod(slot)
    return lambda: slot


def connect_for_lifetime(owner: QObject, signal: SignalInstance, slot: Callable[..., Any]) -> None:
    """Connect ``signal`` to ``slot`` until ``owner`` is destroyed (main thread)."""
    signal.connect(slot)
    ref = _weak(slot)

    def disconnect(*_: object) -> None:
        target = ref()
        if target is not None:
            signal.disconnect(target, missing_ok=True)

    owner.destroyed.connect(disconnect)


class Rebindable:
    """One connection of ``slot`` to a signal that can be switched (or cleared) over time,
    dropped for good when ``owner`` is destroyed: e.g. controls following the selected layer."""

    def __init__(self, owner: QObject, slot: Callable[..., Any]) -> None:
        self._slot = _weak(slot)
        self._signal: SignalInstance | None = None
        owner.destroyed.connect(self.unbind)

    def bind(self, signal: SignalInstance | None) -> None:
        """Connect the slot to ``signal`` instead of the previous one (``None``: to nothing)."""
        self.unbind()
        slot = self._slot()
        if signal is not None and slot is not None:
            signal.connect(slot)
            self._signal = signal

    def unbind(self, *_: object) -> None:
        """Disconnect from the current signal, if any."""
        slot = self._slot()
        if self._signal is not None and slot is not None:
            self._signal.disconnect(slot, missing_ok=True)
        self._signal = None
