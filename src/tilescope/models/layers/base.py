"""The :class:`Layer` base: state, transform and events, nothing else.

A layer model holds what the user asked for (data, transform, display settings)
and emits psygnal events when it changes.  It does not slice (see
:mod:`tilescope.slicing`) and does not render (see :mod:`tilescope.render`).

Every setter validates first and assigns after: an invalid value raises a typed
error from :mod:`tilescope.errors` and leaves the layer exactly as it was.  After a
successful change the per-field signals fire (with the new value), then the coarse
``events.changed`` fires once.

Models are main-thread objects; slicing reads frozen snapshots built from them.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict, TypeVar, cast

import numpy as np
import numpy.typing as npt
from psygnal import Signal, SignalGroup, SignalInstance

from tilescope.errors import LayerPropertyError, TransformError
from tilescope.models._descriptors import ModelField
from tilescope.models.dims_mapping import world_to_layer_coords
from tilescope.models.layers._fields import LayerField, boolean, mapping, one_of, real_in
from tilescope.models.transforms import Affine, FloatArray, Transform, frozen_array

__all__ = ["BLENDINGS", "Extent", "Layer", "LayerEvents", "LayerOptions"]

BLENDINGS: frozenset[str] = frozenset({"translucent", "additive", "opaque", "minimum"})

_ids = itertools.count(1)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class Extent:
    """A layer's extent (napari's ``Layer.extent``).

    Attributes
    ----------
    data
        ``(2, ndim)`` min and max data coordinates (pixel centres for image-like
        layers, so ``[0, shape - 1]``; point coordinates for points; NaN when empty).
    world
        ``(2, ndim)`` world bounding box of ``data`` under the layer's transform.
    step
        ``(ndim,)`` world distance per data step along each axis.
    """

    data: FloatArray
    world: FloatArray
    step: FloatArray


class LayerEvents(SignalGroup):
    """Signals of every layer: one per field plus the coarse ``changed``."""

    changed = Signal()
    name = Signal(str)
    visible = Signal(bool)
    opacity = Signal(float)
    blending = Signal(str)
    metadata = Signal(object)
    transform = Signal(object)
    data = Signal(object)
    """Data replaced (carries the new data; ``layer.data_version`` was bumped)."""
    status = Signal(str)
    loading_progress = Signal(float)
    """Loading state changed (``ready``, ``loading``, ``error: ...``); not a ``changed``."""


class LayerOptions(TypedDict, total=False):
    """Keyword arguments every layer type accepts and passes on to :class:`Layer`."""

    name: str | None
    visible: bool
    opacity: float
    blending: str
    metadata: Mapping[str, Any] | None
    scale: Any
    translate: Any
    rotate: Any
    shear: Any
    affine: Any


class _TransformPart(ModelField["Layer", T]):
    """``layer.<name>``: that part (scale, translate, ...) of the layer's :class:`Transform`.

    Setting it rebuilds the whole transform with :meth:`Transform.replace`
    (validated: on error nothing changes), then emits ``transform`` and ``changed``.
    """

    def _read(self, obj: Layer) -> T:
        return cast(T, getattr(obj.transform, self.name))

    def __set__(self, obj: Layer, value: Any) -> None:
        obj._update(transform=obj.transform.replace(**{self.name: value}))


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class Layer(ABC):
    """State shared by every layer type.

    Subclasses set ``self._ndim`` from their data before calling
    ``Layer.__init__`` (passing their :class:`LayerOptions` on) and implement
    :meth:`_extent_data`.

    Parameters
    ----------
    name
        Display name (``None``: the layer type's name).
    visible, opacity, blending, metadata
        See the properties of the same names.
    scale, translate, rotate, shear, affine
        The data->world transform, in napari's forms (see :meth:`Transform.create`).
    """

    _events_class: ClassVar[type[LayerEvents]] = LayerEvents
    _default_name: ClassVar[str] = "Layer"

    _ndim: int

    def __init__(
        self,
        *,
        name: str | None = None,
        visible: bool = True,
        opacity: float = 1.0,
        blending: str = "translucent",
        metadata: Mapping[str, Any] | None = None,
        scale: Any = None,
        translate: Any = None,
        rotate: Any = None,
        shear: Any = None,
        affine: Any = None,
    ) -> None:
        self._name = self._validate_name(name)
        self._init_fields(visible=visible, opacity=opacity, blending=blending, metadata=metadata)
        self._transform = Transform.create(
            self._ndim, scale=scale, translate=translate, rotate=rotate, shear=shear, affine=affine
        )
        self._data_version = 0
        self._extent_cache: tuple[int, Transform, Extent] | None = None
        self._layer_id = next(_ids)
        self._status = "loading"
        self._loading_progress = 0.0
        self.events = self._events_class()

    # change machinery ---------------------------------------------------
    def _update(self, **values: Any) -> list[str]:
        """Assign validated values (to ``_<field>``), emit per-field signals, then ``changed``.

        Returns the names that actually changed.
        """
        return self._apply(values)

    def _apply(
        self,
        values: Mapping[str, Any],
        always: frozenset[str] = frozenset(),
        *,
        redraw: bool = True,
    ) -> list[str]:
        """Like :meth:`_update`; keys in ``always`` count as changed without comparing
        (used for data, which must never be compared element-wise). Without ``redraw`` only
        the per-field signals fire, not ``changed`` (values recorded *from* a drawn frame)."""
        changed = []
        for key, value in values.items():
            if key in always or not _same(getattr(self, "_" + key), value):
                setattr(self, "_" + key, value)
                changed.append(key)
        for key in changed:
            signal = getattr(self.events, key, None)
            if isinstance(signal, SignalInstance):
                signal.emit(getattr(self, key))
        if changed and redraw:
            self.events.changed.emit()
        return changed

    def _init_fields(self, **values: Any) -> None:
        """Validate and store initial values of :class:`LayerField` properties (no events)."""
        for key, value in values.items():
            field: LayerField[Any] = getattr(type(self), key)
            setattr(self, "_" + key, field.validate(value))

    # validation ---------------------------------------------------------
    def _validate_name(self, name: Any) -> str:
        if name is None:
            return self._default_name
        if not isinstance(name, str):
            raise LayerPropertyError(f"name must be a string, got {type(name).__name__}")
        return name

    # loading state --------------------------------------------------------
    @property
    def status(self) -> str:
        """``ready``, ``loading`` or ``error: <what went wrong>``, set by the viewer.

        Changing it emits only ``events.status``: it reports on the layer's data and is not a
        change of the layer (``changed`` would trigger a new slice).
        """
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        if not isinstance(value, str):
            raise LayerPropertyError(f"status must be a string, got {type(value).__name__}")
        if value != self._status:
            self._status = value
            self.events.status.emit(value)

    @property
    def loading_progress(self) -> float:
        """Fraction of the visible tiles at the ideal level that are on screen (0..1).

        Set by the viewer each frame for tiled layers; like :attr:`status`, changing it emits
        only ``events.loading_progress``, never ``changed``.
        """
        return self._loading_progress

    @loading_progress.setter
    def loading_progress(self, value: float) -> None:
        v = float(value)
        if not 0.0 <= v <= 1.0:
            raise LayerPropertyError(f"loading_progress must be in [0, 1], got {value!r}")
        if v != self._loading_progress:
            self._loading_progress = v
            self.events.loading_progress.emit(v)

    # identity -----------------------------------------------------------
    @property
    def layer_id(self) -> int:
        """A process-unique id (render and cache key)."""
        return self._layer_id

    @property
    def data_version(self) -> int:
        """Bumped every time the layer's data is replaced."""
        return self._data_version

    @property
    def ndim(self) -> int:
        """Number of layer (data) dimensions, excluding an RGB channel axis."""
        return self._ndim

    # simple fields ------------------------------------------------------
    @property
    def name(self) -> str:
        """Display name."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._update(name=self._validate_name(value))

    visible = LayerField(
        boolean("visible"), "Whether the layer is drawn (an invisible layer is not sliced either)."
    )
    opacity = LayerField(real_in("opacity", 0.0, 1.0), "Opacity in [0, 1].")
    blending = LayerField(
        one_of("blending", BLENDINGS),
        "One of ``translucent``, ``additive``, ``opaque``, ``minimum``.",
    )
    metadata = LayerField(
        mapping("metadata"), "Free-form user metadata (a copy is stored on assignment)."
    )

    # transform ----------------------------------------------------------
    @property
    def transform(self) -> Transform:
        """The layer's data->world :class:`Transform`."""
        return self._transform

    @transform.setter
    def transform(self, value: Transform) -> None:
        if not isinstance(value, Transform):
            raise TransformError(f"transform must be a Transform, got {type(value).__name__}")
        if value.ndim != self.ndim:
            raise TransformError(
                f"transform is {value.ndim}-D but the layer has {self.ndim} dimensions"
            )
        self._update(transform=value)

    scale = _TransformPart[FloatArray](
        "World size of one data step per axis (before rotate/shear/affine)."
    )
    translate = _TransformPart[FloatArray](
        "World offset of the data origin per axis (before affine)."
    )
    rotate = _TransformPart[FloatArray]("``(ndim, ndim)`` rotation matrix.")
    shear = _TransformPart[FloatArray]("``(ndim, ndim)`` triangular shear matrix.")
    affine = _TransformPart[Affine]("The extra physical->world :class:`Affine`.")

    @property
    def data_to_world_affine(self) -> Affine:
        """The full data->world :class:`Affine`."""
        return self._transform.data_to_world

    def world_to_data(self, coords: npt.ArrayLike) -> FloatArray:
        """World -> data coordinates, napari semantics.

        World coordinates longer than ``ndim`` use their last ``ndim`` values,
        shorter ones are left-padded with zeros (right alignment).  Accepts
        ``(D,)`` or ``(N, D)``.
        """
        return self._transform.world_to_data(world_to_layer_coords(coords, self.ndim))

    def data_to_world(self, coords: npt.ArrayLike) -> FloatArray:
        """Data -> world coordinates (same alignment rules as :meth:`world_to_data`)."""
        return self._transform.data_to_world(world_to_layer_coords(coords, self.ndim))

    # extent -------------------------------------------------------------
    @abstractmethod
    def _extent_data(self) -> FloatArray:
        """``(2, ndim)`` data-coordinate extent (pixel centres or point coordinates)."""

    def _extent_data_augmented(self) -> FloatArray:
        """:meth:`_extent_data` widened by the size of what is drawn at each coordinate."""
        return self._extent_data()

    @property
    def extent(self) -> Extent:
        """Data extent, its world bounding box, and the world step per axis.

        Kept until the data or the transform is replaced: every layer change (a camera move
        picking a new pyramid level, say) has the viewer re-check the union of all layers'
        extents, and a points layer's extent is a pass over all its points.
        """
        cached = self._extent_cache
        if cached is not None and cached[0] == self._data_version and cached[1] is self._transform:
            return cached[2]
        extent = self._extent_of(self._extent_data())
        self._extent_cache = (self._data_version, self._transform, extent)
        return extent

    @property
    def extent_augmented(self) -> Extent:
        """:attr:`extent` including the drawn size of the samples (napari's ``_extent_augmented``).

        Half a pixel around pixel centres, a point's radius around points: what the
        camera fits so that everything drawn is in view.
        """
        return self._extent_of(self._extent_data_augmented())

    def _extent_of(self, data_extent: npt.ArrayLike) -> Extent:
        data = frozen_array(data_extent)
        if np.all(np.isfinite(data)):
            world = self._transform.world_extent(data)
        else:
            world = frozen_array(np.full_like(data, np.nan))
        return Extent(data=data, world=world, step=self._transform.step)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} ndim={self.ndim} id={self._layer_id}>"
