"""Which world axis is which layer axis.

Layers with fewer dimensions than the world are right-aligned, like numpy
broadcasting: a 2D layer in a 4D world owns world axes 2 and 3.  The mapping
depends on axis *identity* only, never on ``Dims.order``: reordering the displayed
axes changes which axes are shown, not which data axis a world axis is.  This fixes
napari's open bug #3882, where ``Layer._world_to_layer_dims`` remaps a lower-dim
layer's axes when ``dims.order`` changes (a 2D layer in a 3D world with order
``(2, 0, 1)`` displays its axes ``(1, 0)`` there, i.e. transposed, while the world
displays axes 0 and 1).

Following the expected behaviour stated in #3882, a displayed world axis that a
layer does not have is a length-1 (``np.newaxis``) axis of the layer's slice, and
not-displayed world axes the layer lacks are broadcast (the layer shows at every
position along them).

Pure functions over :class:`~tilescope.models.dims.DimsState`; any thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tilescope.errors import DimsError
from tilescope.models.dims import DimsState
from tilescope.models.transforms import Transform

__all__ = [
    "LayerAxes",
    "data_slice_point",
    "layer_axes",
    "layer_axis_to_world",
    "plane_to_world",
    "world_axis_to_layer",
    "world_to_layer_coords",
]


def _offset(ndim_world: int, ndim_layer: int) -> int:
    if ndim_layer < 1 or ndim_world < ndim_layer:
        raise DimsError(
            f"a {ndim_layer}-D layer cannot live in a {ndim_world}-D world: the world must have "
            "at least as many dimensions as each layer"
        )
    return ndim_world - ndim_layer


def world_axis_to_layer(world_axis: int, ndim_world: int, ndim_layer: int) -> int | None:
    """The layer axis at ``world_axis``, or ``None`` when the layer lacks it (right-aligned)."""
    if not 0 <= world_axis < ndim_world:
        raise DimsError(f"world axis {world_axis} is out of range for a {ndim_world}-D world")
    a = world_axis - _offset(ndim_world, ndim_layer)
    return a if a >= 0 else None


def layer_axis_to_world(layer_axis: int, ndim_world: int, ndim_layer: int) -> int:
    """The world axis of ``layer_axis`` (right-aligned)."""
    if not 0 <= layer_axis < ndim_layer:
        raise DimsError(f"layer axis {layer_axis} is out of range for a {ndim_layer}-D layer")
    return layer_axis + _offset(ndim_world, ndim_layer)


@dataclass(frozen=True, slots=True)
class LayerAxes:
    """How one layer's axes relate to the world's current display.

    Attributes
    ----------
    ndim_world, ndim_layer
        Dimensionalities.
    displayed_world
        World axes on the canvas, in display order (``dims.displayed``).
    displayed
        For each entry of ``displayed_world``, the layer axis there, or ``None`` when the
        layer lacks that world axis (its slice has a length-1 axis there).
    not_displayed
        Layer axes that are sliced (their world axis is not displayed), ascending.
    """

    ndim_world: int
    ndim_layer: int
    displayed_world: tuple[int, ...]
    displayed: tuple[int | None, ...]
    not_displayed: tuple[int, ...]

    @property
    def displayed_layer(self) -> tuple[int, ...]:
        """The layer's own displayed axes, in display order (``None`` entries dropped)."""
        return tuple(a for a in self.displayed if a is not None)


def layer_axes(dims: DimsState, ndim_layer: int) -> LayerAxes:
    """Map ``dims``' displayed / not-displayed world axes onto a ``ndim_layer``-D layer."""
    # memoized: every frame asks this for every layer, and it depends on three small values
    return _layer_axes(dims.order[len(dims.order) - dims.ndisplay :], dims.ndim, ndim_layer)


@functools.lru_cache(maxsize=256)
def _layer_axes(shown_world: tuple[int, ...], ndim_world: int, ndim_layer: int) -> LayerAxes:
    displayed_world = tuple(int(a) for a in shown_world)
    displayed = tuple(world_axis_to_layer(a, ndim_world, ndim_layer) for a in displayed_world)
    shown = {a for a in displayed if a is not None}
    not_displayed = tuple(a for a in range(ndim_layer) if a not in shown)
    return LayerAxes(
        ndim_world=ndim_world,
        ndim_layer=ndim_layer,
        displayed_world=displayed_world,
        displayed=displayed,
        not_displayed=not_displayed,
    )


def world_to_layer_coords(coords: npt.ArrayLike, ndim_layer: int) -> npt.NDArray[np.float64]:
    """Right-align world coordinates to a layer's axes (napari's ``world_to_data`` padding).

    Longer inputs keep their last ``ndim_layer`` values; shorter ones are left-padded
    with zeros.  Works on ``(D,)`` and ``(N, D)`` arrays.
    """
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim not in (1, 2):
        raise DimsError(f"coordinates must be (D,) or (N, D), got shape {c.shape}")
    d = c.shape[-1]
    if d >= ndim_layer:
        out: npt.NDArray[np.float64] = c[..., d - ndim_layer :]
        return out
    pad = [(0, 0)] * (c.ndim - 1) + [(ndim_layer - d, 0)]
    return np.pad(c, pad)


def data_slice_point(
    transform: Transform, dims: DimsState, axes: LayerAxes | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The slice point and margins in data coordinates of the sliced layer axes.

    Returns ``(point, margin_left, margin_right)``, each ``(len(not_displayed),)``,
    for ``axes.not_displayed`` in order.  Like napari, only the sliced block of
    the world->data transform is used (world values of displayed axes are
    meaningless); margins are mapped by its linear part.
    """
    axes = layer_axes(dims, transform.ndim) if axes is None else axes
    nd = list(axes.not_displayed)
    if not nd:
        empty: npt.NDArray[np.float64] = np.zeros(0)
        return empty, empty, empty
    off = axes.ndim_world - axes.ndim_layer
    world_ax = [a + off for a in nd]
    w2d = transform.world_to_data.subset(nd)
    p = w2d(np.asarray(dims.point, dtype=np.float64)[world_ax])
    ml = w2d.apply_vectors(np.asarray(dims.margin_left, dtype=np.float64)[world_ax])
    mr = w2d.apply_vectors(np.asarray(dims.margin_right, dtype=np.float64)[world_ax])
    return p, ml, mr


def plane_to_world(
    transform: Transform, axes: LayerAxes, point: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``(k+1, k+1)`` map from data coordinates of the displayed layer axes to world.

    ``k = len(axes.displayed_layer)``; rows and columns follow ``axes.displayed_layer``
    (display order).  The sliced axes sit at ``point`` (data coordinates, as from
    :func:`data_slice_point`), so a shear or rotation coupling a sliced axis into the
    displayed ones shifts the plane (napari drops that coupling).
    """
    shown = list(axes.displayed_layer)
    k = len(shown)
    w = transform.data_to_world.matrix
    out = np.eye(k + 1)
    out[:k, :k] = w[np.ix_(shown, shown)]
    nd = list(axes.not_displayed)
    out[:k, k] = w[shown, -1] + (w[np.ix_(shown, nd)] @ point if nd else 0.0)
    return out
