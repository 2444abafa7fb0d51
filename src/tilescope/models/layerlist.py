"""The ordered, evented list of layers and the world extent they span together.

:class:`LayerList` is napari's ``viewer.layers`` without selection or GUI
context: list operations (``append``, ``insert``, ``remove``, ``move``,
``reorder``, indexing by position or name), unique names (``"Image"``,
``"Image [1]"``, ...), and the union of the layers' world extents with the
finest step per axis, which is what :class:`~tilescope.models.viewer_model.ViewerModel`
turns into ``dims.range``.

Lower-dimensional layers are right-aligned (numpy broadcasting), as in napari:
a 2D layer in a 3D world spans the last two world axes. Axes that no layer
with finite extent covers get napari's default ``(-0.5, 511.5)``.

Layers are anything that satisfies :class:`LayerLike` (``name``, ``ndim``,
``extent`` with ``world``/``step`` arrays, ``events.changed``): the layer models
in :mod:`tilescope.models.layers` do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast, overload

import numpy as np
import numpy.typing as npt
from psygnal import Signal, SignalGroup, SignalInstance

from tilescope.errors import LayerListError
from tilescope.models.dims_state import DEFAULT_RANGE, RangeTuple

__all__ = [
    "EMPTY_EXTENT_MAX",
    "EMPTY_EXTENT_MIN",
    "LayerLike",
    "LayerList",
    "LayerListEvents",
    "WorldExtent",
    "union_extent",
]

EMPTY_EXTENT_MIN = -0.5
EMPTY_EXTENT_MAX = 511.5
"""napari's fallback for an axis no layer gives a finite extent (a 512-pixel image)."""


class ExtentLike(Protocol):
    """A layer's extent: ``world`` (2, ndim) [min, max] rows and ``step`` (ndim,)."""

    @property
    def world(self) -> npt.NDArray[Any]: ...

    @property
    def step(self) -> npt.NDArray[Any]: ...


class LayerEventsLike(Protocol):
    """The one layer signal the list needs: coarse ``changed``."""

    @property
    def changed(self) -> SignalInstance: ...


class LayerLike(Protocol):
    """What a :class:`LayerList` needs from a layer."""

    name: str

    @property
    def ndim(self) -> int: ...

    @property
    def extent(self) -> ExtentLike: ...

    @property
    def events(self) -> LayerEventsLike: ...


L = TypeVar("L", bound=LayerLike)


@dataclass(frozen=True, slots=True)
class WorldExtent:
    """Union of layer extents: ``world`` (2, ndim) [min, max] rows, ``step`` (ndim,) finest."""

    world: npt.NDArray[np.float64]
    step: npt.NDArray[np.float64]

    @property
    def ndim(self) -> int:
        """Number of world axes covered."""
        return int(self.step.shape[0])

    def ranges(self, ndim: int | None = None) -> tuple[RangeTuple, ...]:
        """``(min, max, step)`` per axis; with ``ndim`` larger than the extent, leading
        axes are padded with :data:`~tilescope.models.dims_state.DEFAULT_RANGE`."""
        n = self.ndim if ndim is None else ndim
        if n < self.ndim:
            raise LayerListError(
                f"ranges(ndim={ndim}): the layers span {self.ndim} axes; ndim must be >= that"
            )
        own = tuple(
            RangeTuple(float(lo), float(hi), float(st))
            for lo, hi, st in zip(self.world[0], self.world[1], self.step, strict=True)
        )
        return (DEFAULT_RANGE,) * (n - self.ndim) + own


def _right_aligned(rows: Sequence[npt.NDArray[Any]], ndim: int) -> npt.NDArray[np.float64]:
    """Stack 1-D arrays of lengths <= ndim right-aligned into (len(rows), ndim), NaN-padded."""
    out = np.full((len(rows), ndim), np.nan)
    for i, row in enumerate(rows):
        values = np.asarray(row, dtype=np.float64).reshape(-1)
        if values.size:
            out[i, ndim - values.size :] = values
    return out


def _nan_reduce(values: npt.NDArray[np.float64], largest: bool, fill: float) -> list[float]:
    """Per-column min (or max) ignoring NaN; ``fill`` where a column is all NaN."""
    result = []
    for column in values.T:
        finite = column[~np.isnan(column)]
        if finite.size == 0:
            result.append(fill)
        else:
            result.append(float(finite.max() if largest else finite.min()))
    return result


def union_extent(extents: Sequence[ExtentLike], ndim: int | None = None) -> WorldExtent:
    """Union of layer extents, right-aligned, with the finest (smallest) step per axis.

    Pure function; napari's ``LayerList.extent`` semantics: NaN entries (e.g. an
    empty Points layer) are ignored, an axis with no finite value gets
    ``(-0.5, 511.5)`` and step 1. No extents gives ``(0, 511)`` per axis with
    step 1 over ``ndim`` (default 2) axes, napari's empty-list extent.
    """
    if not extents:
        n = 2 if ndim is None else ndim
        return WorldExtent(
            world=np.vstack([np.zeros(n), np.full(n, 511.0)]), step=np.ones(n, dtype=np.float64)
        )
    n = max(int(np.asarray(e.step).size) for e in extents)
    if ndim is not None:
        n = max(n, ndim)
    mins = _right_aligned([np.asarray(e.world)[0] for e in extents], n)
    maxs = _right_aligned([np.asarray(e.world)[1] for e in extents], n)
    steps = _right_aligned([np.asarray(e.step) for e in extents], n)
    world = np.array(
        [
            _nan_reduce(mins, largest=False, fill=EMPTY_EXTENT_MIN),
            _nan_reduce(maxs, largest=True, fill=EMPTY_EXTENT_MAX),
        ]
    )
    step = np.array(_nan_reduce(steps, largest=False, fill=1.0))
    return WorldExtent(world=world, step=step)


_NUMBERED = re.compile(r"^(?P<base>.*) \[(?P<n>\d+)\]$")


def _next_name(name: str) -> str:
    """napari's ``inc_name_count``: ``"a"`` -> ``"a [1]"``, ``"a [1]"`` -> ``"a [2]"``."""
    match = _NUMBERED.match(name)
    if match is None:
        return f"{name} [1]"
    return f"{match['base']} [{int(match['n']) + 1}]"


class LayerListEvents(SignalGroup):
    """Signals of :class:`LayerList`.

    ``inserted(index, layer)``, ``removed(index, layer)``, ``moved(src, dst)`` per
    layer; ``reordered()`` after a ``move`` or ``reorder``; ``changed()`` once per
    list mutation, last; ``layer_changed(layer)`` when a contained layer emits its
    own ``changed``.
    """

    inserted = Signal(int, object)
    removed = Signal(int, object)
    moved = Signal(int, int)
    reordered = Signal()
    changed = Signal()
    layer_changed = Signal(object)


class LayerList(Generic[L]):
    """Ordered, evented container of layers (bottom to top), indexable by position or name."""

    def __init__(self, layers: Iterable[L] = ()) -> None:
        self._layers: list[L] = []
        self._callbacks: dict[int, Any] = {}
        self._renaming = False
        # (the layers' extents, their union, ranges per ndim): layer extents are kept until
        # their data or transform is replaced, so an unchanged tuple means an unchanged union
        self._union: tuple[tuple[ExtentLike, ...], WorldExtent, dict[int | None, Any]] | None = None
        self.events = LayerListEvents()
        for layer in layers:
            self.append(layer)

    def __repr__(self) -> str:
        return f"LayerList({[layer.name for layer in self._layers]!r})"

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[L]:
        return iter(list(self._layers))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return any(layer.name == item for layer in self._layers)
        return any(layer is item for layer in self._layers)

    @overload
    def __getitem__(self, key: int | str) -> L: ...

    @overload
    def __getitem__(self, key: slice) -> list[L]: ...

    def __getitem__(self, key: int | str | slice) -> L | list[L]:
        if isinstance(key, str):
            return self._layers[self.index(key)]
        return self._layers[key]

    def index(self, item: L | str) -> int:
        """Position of a layer (by identity) or of the layer named ``item``."""
        for i, layer in enumerate(self._layers):
            if (layer.name == item) if isinstance(item, str) else (layer is item):
                return i
        what = f"named {item!r}" if isinstance(item, str) else repr(item)
        raise KeyError(f"no layer {what} in {self!r}")

    @property
    def ndim(self) -> int:
        """Largest layer dimensionality (2 when empty, as napari)."""
        return max((layer.ndim for layer in self._layers), default=2)

    @property
    def extent(self) -> WorldExtent:
        """Union of the layers' world extents (see :func:`union_extent`).

        Every layer change asks for it (a camera move records the level in view on each
        layer), so the union is kept while every layer's extent is the same object.
        """
        extents = tuple(layer.extent for layer in self._layers)
        cached = self._union
        if (
            cached is not None
            and len(cached[0]) == len(extents)
            and all(a is b for a, b in zip(cached[0], extents, strict=True))
        ):
            return cached[1]
        union = union_extent(list(extents))
        self._union = (extents, union, {})
        return union

    def ranges(self, ndim: int | None = None) -> tuple[RangeTuple, ...]:
        """``dims.range`` for these layers: one ``(min, max, finest step)`` per world axis.

        ``ndim`` (>= :attr:`ndim`) pads leading axes with ``(0, 2, 1)``.
        """
        extent = self.extent
        assert self._union is not None
        memo = self._union[2]
        ranges = memo.get(ndim)
        if ranges is None:
            ranges = memo[ndim] = extent.ranges(ndim)
        return cast("tuple[RangeTuple, ...]", ranges)

    # ------------------------------------------------------------------ mutation

    def _unique_name(self, name: str, layer: L) -> str:
        taken = {other.name for other in self._layers if other is not layer}
        while name in taken:
            name = _next_name(name)
        return name

    def insert(self, index: int, layer: L) -> None:
        """Insert ``layer`` before ``index``; a duplicate name gets a ``" [n]"`` suffix."""
        for attr in ("name", "ndim", "extent", "events"):
            if not hasattr(layer, attr):
                raise LayerListError(
                    f"LayerList.insert: {layer!r} is not a layer (it has no {attr!r})"
                )
        if any(other is layer for other in self._layers):
            raise LayerListError(f"layer {layer.name!r} is already in this LayerList")
        unique = self._unique_name(layer.name, layer)
        if unique != layer.name:
            layer.name = unique
        position = min(max(index if index >= 0 else len(self._layers) + index, 0), len(self))
        self._layers.insert(position, layer)

        def on_layer_changed(*_: object) -> None:
            self._on_layer_changed(layer)

        self._callbacks[id(layer)] = on_layer_changed
        layer.events.changed.connect(on_layer_changed)
        self.events.inserted.emit(position, layer)
        self.events.changed.emit()

    def append(self, layer: L) -> None:
        """Add ``layer`` on top."""
        self.insert(len(self._layers), layer)

    def extend(self, layers: Iterable[L]) -> None:
        """Append each of ``layers`` in turn."""
        for layer in layers:
            self.append(layer)

    def pop(self, index: int = -1) -> L:
        """Remove and return the layer at ``index``."""
        layer = self._layers[index]
        position = self._layers.index(layer)
        del self._layers[position]
        callback = self._callbacks.pop(id(layer))
        layer.events.changed.disconnect(callback)
        self.events.removed.emit(position, layer)
        self.events.changed.emit()
        return layer

    def remove(self, item: L | str) -> None:
        """Remove a layer (by identity or name)."""
        self.pop(self.index(item))

    def __delitem__(self, key: int | str) -> None:
        self.pop(self.index(key) if isinstance(key, str) else key)

    def clear(self) -> None:
        """Remove every layer (top first)."""
        while self._layers:
            self.pop()

    def move(self, src: int | str, dst: int) -> None:
        """Move the layer at ``src`` (index or name) so that it ends at index ``dst``."""
        n = len(self._layers)
        source = self.index(src) if isinstance(src, str) else src
        if not -n <= source < n or not -n <= dst < n:
            raise IndexError(f"LayerList.move({src!r}, {dst!r}) out of range for {n} layers")
        source %= n
        dst %= n
        if source == dst:
            return
        layer = self._layers.pop(source)
        self._layers.insert(dst, layer)
        self.events.moved.emit(source, dst)
        self.events.reordered.emit()
        self.events.changed.emit()

    def reorder(self, new_order: Sequence[int]) -> None:
        """Put the layers in ``[self[i] for i in new_order]`` order (a permutation)."""
        order = list(new_order)
        if sorted(order) != list(range(len(self._layers))):
            raise LayerListError(
                f"LayerList.reorder: expected a permutation of 0..{len(self) - 1}, got {order}"
            )
        if order == sorted(order):
            return
        self._layers = [self._layers[i] for i in order]
        self.events.reordered.emit()
        self.events.changed.emit()

    def _on_layer_changed(self, layer: L) -> None:
        if self._renaming:  # our own rename below, echoed by the layer
            return
        unique = self._unique_name(layer.name, layer)
        if unique != layer.name:
            self._renaming = True
            try:
                layer.name = unique
            finally:
                self._renaming = False
        self.events.layer_changed.emit(layer)
