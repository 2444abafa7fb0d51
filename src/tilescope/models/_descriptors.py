"""The one descriptor skeleton behind the models' declared fields.

Models declare each public field in one line (``zoom = SettableStateField(...)``,
``opacity = LayerField(...)``) instead of a property/setter pair. Every such
descriptor knows its attribute name, carries its docstring, returns itself when
read from the class (so documentation tools and ``help()`` see it) and reads its
value from the instance with :meth:`ModelField._read`; subclasses add ``__set__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, Self, TypeVar, overload

__all__ = ["ModelField"]

OwnerT = TypeVar("OwnerT")
T = TypeVar("T")


class ModelField(ABC, Generic[OwnerT, T]):
    """A named, documented field of a model of type ``OwnerT`` holding a ``T``."""

    def __init__(self, doc: str) -> None:
        self.name = ""
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: OwnerT, owner: type | None = None) -> T: ...

    def __get__(self, obj: OwnerT | None, owner: type | None = None) -> Self | T:
        if obj is None:
            return self
        return self._read(obj)

    @abstractmethod
    def _read(self, obj: OwnerT) -> T:
        """The field's current value on ``obj``."""
