"""Validated, evented layer properties: one descriptor instead of a property pair per field.

A :class:`LayerField` reads ``layer._<name>`` and assigns through ``Layer._update``
after validating, so an invalid value raises a typed error and changes nothing,
and a valid one emits the field's signal, then ``changed`` (only when the value
actually changed).  The validator builders (:func:`one_of`, :func:`real_in`,
:func:`boolean`) give every field the same clear messages, naming the field, the
value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

import numpy as np

from tilescope.errors import LayerPropertyError
from tilescope.models._descriptors import ModelField

__all__ = ["LayerField", "Validator", "boolean", "mapping", "one_of", "real_in"]

T = TypeVar("T")

Validator = Callable[[Any], T]
"""Checks one user value and returns it normalised, or raises :class:`LayerPropertyError`."""


class _Updatable(Protocol):
    def _update(self, **values: Any) -> list[str]: ...


class LayerField(ModelField[Any, T]):
    """A layer property validated by ``validate`` and stored in ``_<name>``.

    Setting it validates first, then calls ``Layer._update`` (signals only on a
    real change).  Initial values are stored without events by ``Layer._init_fields``.
    """

    def __init__(self, validate: Validator[T], doc: str) -> None:
        super().__init__(doc)
        self.validate = validate

    def _read(self, obj: Any) -> T:
        return cast(T, getattr(obj, "_" + self.name))

    def __set__(self, obj: _Updatable, value: Any) -> None:
        obj._update(**{self.name: self.validate(value)})


def one_of(
    name: str, choices: frozenset[str], aliases: Mapping[str, str] | None = None
) -> Validator[str]:
    """A validator accepting one of ``choices`` (or an alias of one)."""
    alias = dict(aliases or {})

    def validate(value: Any) -> str:
        if isinstance(value, str):
            value = alias.get(value, value)
        if not isinstance(value, str) or value not in choices:
            raise LayerPropertyError(f"{name} must be one of {sorted(choices)}, got {value!r}")
        return value

    return validate


def real_in(
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Validator[float]:
    """A validator accepting a finite real number within the given bounds (as a float)."""
    bounds = []
    if low > -math.inf:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high < math.inf:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    expected = " ".join(["a finite number", " and ".join(bounds)]).strip()

    def validate(value: Any) -> float:
        if isinstance(value, bool | np.bool_ | str | bytes):
            raise LayerPropertyError(f"{name} must be {expected}, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError) as e:
            raise LayerPropertyError(f"{name} must be {expected}, got {value!r}") from e
        inside = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if not (math.isfinite(v) and inside):
            raise LayerPropertyError(f"{name} must be {expected}, got {value!r}")
        return v

    return validate


def boolean(name: str) -> Validator[bool]:
    """A validator accepting ``True`` or ``False`` (Python or numpy)."""

    def validate(value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise LayerPropertyError(f"{name} must be True or False, got {value!r}")
        return bool(value)

    return validate


def mapping(name: str) -> Validator[dict[str, Any]]:
    """A validator accepting any mapping (or ``None`` for empty), stored as a copy."""

    def validate(value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise LayerPropertyError(f"{name} must be a mapping, got {type(value).__name__}")
        return dict(value)

    return validate
