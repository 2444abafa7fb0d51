"""Evented models over one frozen state: swap in a validated snapshot, then emit what changed.

:class:`~tilescope.models.dims.Dims` and :class:`~tilescope.models.camera.Camera`
keep their whole state in one frozen dataclass.  Every mutation builds and
validates a complete new state first (so an invalid value changes nothing), then
:meth:`StateModel._commit` swaps it in and emits the per-field signal of every
field that changed, then one coarse ``changed``; a mutation that changes nothing
emits nothing.  :class:`StateField` and :class:`SettableStateField` expose the
fields as attributes, so each model declares a field in one line instead of a
property/setter pair.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Never, TypeVar, cast

from psygnal import SignalGroup

from tilescope.models._descriptors import ModelField

__all__ = ["SettableStateField", "StateField", "StateModel"]

StateT = TypeVar("StateT")
G = TypeVar("G")
S = TypeVar("S")


class StateModel(ABC, Generic[StateT]):
    """Base of an evented model whose state is one frozen, comparable value.

    Subclasses set ``_state`` and ``events`` (a :class:`SignalGroup` with a
    ``changed`` signal and one signal per name in ``_signal_order``) and
    implement :meth:`update`.
    """

    _signal_order: ClassVar[tuple[str, ...]]
    """Per-field signals, in emission order (names of ``_state`` attributes)."""

    _state: StateT
    events: SignalGroup

    @property
    def state(self) -> StateT:
        """The current frozen snapshot (cheap; no copy)."""
        return self._state

    @abstractmethod
    def update(self, **changes: Any) -> None:
        """Change several fields in one validated step and one ``changed`` event."""

    def _commit(self, new: StateT) -> None:
        old = self._state
        if new == old:
            return
        self._state = new
        # Values are read from self._state at emission time: if a listener mutates
        # the model re-entrantly, later listeners still see the current state.
        for name in self._signal_order:
            if getattr(old, name) != getattr(new, name):
                self.events[name].emit(getattr(self._state, name))
        self.events["changed"].emit(self._state)


class StateField(ModelField[StateModel[Any], G]):
    """A read-only attribute: the field of the same name of the model's ``state``."""

    def _read(self, obj: StateModel[Any]) -> G:
        return cast(G, getattr(obj.state, self.name))

    def __set__(self, obj: StateModel[Any], value: Never) -> None:
        raise AttributeError(f"{type(obj).__name__}.{self.name} is read-only")


class SettableStateField(StateField[G], Generic[G, S]):
    """A state field whose setter is ``model.update(<name>=value)`` (validated, atomic)."""

    def __set__(self, obj: StateModel[Any], value: S) -> None:
        obj.update(**{self.name: value})
