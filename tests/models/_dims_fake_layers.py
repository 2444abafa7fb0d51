"""A minimal stand-in layer for the dims/layer-list/viewer-model tests.

It has exactly the surface :class:`tilescope.models.layerlist.LayerLike` needs
(``name``, ``ndim``, ``extent`` with ``world``/``step``, ``events.changed``) and
computes its extent the way napari does for an axis-aligned image: pixel
centres ``0 .. shape - 1`` mapped by ``scale`` and ``translate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from psygnal import Signal, SignalGroup


class FakeLayerEvents(SignalGroup):
    changed = Signal()
    name = Signal(str)


@dataclass(frozen=True, slots=True)
class FakeExtent:
    data: npt.NDArray[np.float64]
    world: npt.NDArray[np.float64]
    step: npt.NDArray[np.float64]


class FakeImage:
    """An image-like layer of a given shape with scale and translate only."""

    def __init__(
        self,
        shape: Sequence[int],
        *,
        scale: Sequence[float] | None = None,
        translate: Sequence[float] | None = None,
        name: str = "Image",
    ) -> None:
        self.events = FakeLayerEvents()
        self._name = name
        self.shape = tuple(shape)
        n = len(self.shape)
        self._scale = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
        self._translate = (
            np.zeros(n) if translate is None else np.asarray(translate, dtype=np.float64)
        )

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if value != self._name:
            self._name = value
            self.events.name.emit(value)
            self.events.changed.emit()

    @property
    def scale(self) -> npt.NDArray[np.float64]:
        return self._scale

    @scale.setter
    def scale(self, value: Sequence[float]) -> None:
        self._scale = np.asarray(value, dtype=np.float64)
        self.events.changed.emit()

    @property
    def translate(self) -> npt.NDArray[np.float64]:
        return self._translate

    @translate.setter
    def translate(self, value: Sequence[float]) -> None:
        self._translate = np.asarray(value, dtype=np.float64)
        self.events.changed.emit()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def extent(self) -> FakeExtent:
        data = np.array([np.zeros(self.ndim), np.array(self.shape, dtype=np.float64) - 1])
        world = np.sort(data * self._scale + self._translate, axis=0)
        return FakeExtent(data=data, world=world, step=np.abs(self._scale))

    def __repr__(self) -> str:
        return f"FakeImage({self.shape}, name={self._name!r})"


class FakePoints:
    """A points-like layer: extent of the given coordinates, NaN when empty."""

    def __init__(self, coords: npt.ArrayLike, *, ndim: int, name: str = "Points") -> None:
        self.events = FakeLayerEvents()
        self.name = name
        self.coords = np.asarray(coords, dtype=np.float64).reshape(-1, ndim)
        self._ndim = ndim

    @property
    def ndim(self) -> int:
        return self._ndim

    @property
    def extent(self) -> FakeExtent:
        if len(self.coords) == 0:
            data = np.full((2, self._ndim), np.nan)
        else:
            data = np.array([self.coords.min(axis=0), self.coords.max(axis=0)])
        return FakeExtent(data=data, world=data, step=np.ones(self._ndim))
