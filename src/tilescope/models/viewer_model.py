"""The viewer's model without any GUI: dims, camera and layers kept consistent.

:class:`ViewerModel` reproduces what napari 0.9's ``ViewerModel`` does between
its three parts (no Qt, no vispy, no slicing):

- adding, removing or reordering layers, or a layer whose extent changes, sets
  ``dims.ndim`` to the layers' dimensionality and ``dims.range`` to the union of
  their extents with the finest step (``point`` stays where it was, clamped into
  the new range; new axes are prepended with point 0 clamped into their range);
- adding the *first* layer fits the camera to it and moves every slider to its
  middle step (``current_step = (nsteps - 1) // 2``);
- removing the last layer resets dims to 2 axes with napari's defaults;
- changing ``dims.order`` refits the camera to the newly displayed axes;
- switching ``ndisplay`` keeps the camera in sync (napari's ``synced`` mode): going
  to 3D, the new depth axis's centre is the slider position; going back to 2D,
  the slider takes the camera's depth centre.

Differences from napari, by design: dims updates happen in one atomic
``dims.update`` (one event) instead of a burst of field assignments; a layer
change that leaves the layers' union extent unchanged does not touch dims (napari
re-applies ranges on every transform event, undoing a hand-set ``dims.range``);
layer axis labels and units are not merged into dims.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tilescope.errors import CameraError
from tilescope.models.camera import Camera, clamp_zoom
from tilescope.models.dims import Dims
from tilescope.models.dims_state import (
    RangeTuple,
    changed_state,
    default_dims_state,
    nsteps_of,
    reset_state,
    resize_dims_state,
)
from tilescope.models.layerlist import (
    EMPTY_EXTENT_MAX,
    EMPTY_EXTENT_MIN,
    LayerLike,
    LayerList,
    WorldExtent,
    union_extent,
)

__all__ = ["DEFAULT_CANVAS_SIZE", "ViewerModel", "augmented_world_extent"]

DEFAULT_CANVAS_SIZE: tuple[int, int] = (800, 600)
"""napari's default canvas size, (height, width) in screen pixels."""


def augmented_world_extent(layer: LayerLike) -> npt.NDArray[np.float64]:
    """World bounding box of a layer including the size of its samples, (2, ndim).

    napari's ``_extent_world_augmented``, used to fit the camera. tilescope's
    layers provide it (``extent_augmented``: half a pixel around images, the
    largest radius around points); any other :class:`LayerLike` is treated as an
    axis-aligned image: its world extent widened by half a world step.
    """
    augmented = getattr(layer, "extent_augmented", None)
    if augmented is not None:
        return np.asarray(augmented.world, dtype=np.float64)
    extent = layer.extent
    world = np.asarray(extent.world, dtype=np.float64)
    half = np.abs(np.asarray(extent.step, dtype=np.float64)) / 2
    return np.vstack([world[0] - half, world[1] + half])


class ViewerModel:
    """Dims, camera and layers of one viewer, kept consistent the way napari 0.9 does.

    Parameters
    ----------
    ndisplay, order, axis_labels
        Initial dims settings; ``ndim`` is ``max(2, len(axis_labels), ndisplay,
        len(order))`` and shorter tuples are padded as napari does.
    canvas_size
        (height, width) in screen pixels used by :meth:`reset_view` when none is
        given; a view updates :attr:`canvas_size` as its canvas resizes.
    """

    def __init__(
        self,
        *,
        ndisplay: int = 2,
        order: Sequence[int] = (),
        axis_labels: Sequence[str] = (),
        canvas_size: Sequence[int] = DEFAULT_CANVAS_SIZE,
    ) -> None:
        ndim = max(2, len(axis_labels), ndisplay, len(order))
        state = default_dims_state(ndim, ndisplay)
        for field, values in (("axis_labels", axis_labels), ("order", order)):
            if values:
                # Shorter tuples grow to ndim the way napari's Dims grows (axes prepended).
                short = changed_state(default_dims_state(len(values)), {field: values})
                padded = getattr(resize_dims_state(short, ndim), field)
                state = changed_state(state, {field: padded})
        self.dims = Dims.from_state(state)
        self.camera = Camera(center=(0.0,) * ndisplay)
        self.layers: LayerList[LayerLike] = LayerList()
        self._canvas_size = self._checked_canvas_size(canvas_size)
        self._layer_ranges: tuple[RangeTuple, ...] | None = None
        self._ndisplay = self.dims.ndisplay

        self.layers.events.inserted.connect(self._on_layer_inserted)
        self.layers.events.removed.connect(self._on_layers_change)
        self.layers.events.reordered.connect(self._on_layers_change)
        self.layers.events.layer_changed.connect(self._on_layer_changed)
        self.dims.events.order.connect(self._on_order_changed)
        self.dims.events.ndisplay.connect(self._on_ndisplay_changed)

    def __repr__(self) -> str:
        return f"ViewerModel(dims={self.dims!r}, camera={self.camera!r}, layers={self.layers!r})"

    # ------------------------------------------------------------------ canvas

    @staticmethod
    def _checked_canvas_size(size: Sequence[int]) -> tuple[int, int]:
        items = tuple(size)
        if len(items) != 2 or not all(isinstance(s, int | np.integer) and s > 0 for s in items):
            raise CameraError(
                f"canvas_size: expected (height, width) as two positive integers, got {size!r}"
            )
        return (int(items[0]), int(items[1]))

    @property
    def canvas_size(self) -> tuple[int, int]:
        """Canvas (height, width) in screen pixels, used by :meth:`reset_view`."""
        return self._canvas_size

    @canvas_size.setter
    def canvas_size(self, value: Sequence[int]) -> None:
        self._canvas_size = self._checked_canvas_size(value)

    # ------------------------------------------------------------------ layers

    def add_layer(self, layer: LayerLike) -> LayerLike:
        """Append ``layer`` (same as ``layers.append``) and return it."""
        self.layers.append(layer)
        return layer

    def _on_layer_inserted(self, index: int, layer: object) -> None:
        if len(self.layers) != 1:
            self._on_layers_change()
            return
        # the first layer: its ranges and the middle slider positions in one update, so
        # nothing is sliced at position 0 first (one wasted read of a whole volume in 3D)
        ranges = self.layers.ranges()
        self._layer_ranges = ranges
        middle = tuple((nsteps_of(r) - 1) // 2 for r in ranges)
        self.dims.update(ndim=len(ranges), range=ranges, current_step=middle)
        self.reset_view()

    def _on_layer_changed(self, layer: object) -> None:
        if self.layers.ranges() != self._layer_ranges:
            self._on_layers_change()

    def _on_layers_change(self, *_: object) -> None:
        """napari's ``_on_layers_change``: dims follow the layers (one atomic update)."""
        if len(self.layers) == 0:
            self._layer_ranges = None
            self.dims.set_state(reset_state(resize_dims_state(self.dims.state, 2)))
            return
        ranges = self.layers.ranges()
        self._layer_ranges = ranges
        self.dims.update(ndim=len(ranges), range=ranges)

    # ------------------------------------------------------------------ camera

    def _displayed_extent(self) -> npt.NDArray[np.float64]:
        """Augmented world extent (2, len(displayed)) of the layers over the displayed axes."""
        ndim = self.dims.ndim
        if len(self.layers) == 0:
            world = np.vstack([np.full(ndim, EMPTY_EXTENT_MIN), np.full(ndim, EMPTY_EXTENT_MAX)])
        else:
            boxes = [
                WorldExtent(
                    augmented_world_extent(layer), np.asarray(layer.extent.step, dtype=np.float64)
                )
                for layer in self.layers
            ]
            world = union_extent(boxes, ndim).world
        return world[:, list(self.dims.displayed)]

    def fit_to_view(
        self, canvas_size: Sequence[int] | None = None, *, margin: float = 0.05
    ) -> None:
        """Centre the camera on the layers and zoom so they fill ``1 - margin`` of the canvas.

        napari's ``fit_to_view``: extent = augmented world extent over the
        displayed axes; ``zoom = (1 - margin) * min(canvas / size)`` over the last
        two displayed axes (zero sizes count as 1). In 3D the rotated bounding box
        is not taken into account (exact for ``angles == (0, 0, 0)``).
        """
        if not 0 <= margin < 1:
            raise CameraError(f"fit_to_view: margin must be in [0, 1), got {margin!r}")
        canvas = np.array(
            self._canvas_size if canvas_size is None else self._checked_canvas_size(canvas_size),
            dtype=np.float64,
        )
        extent = self._displayed_extent()
        size = extent[1] - extent[0]
        center = list(extent[0] + size / 2)
        ndisplay = self.dims.ndisplay
        center = [0.0] * (ndisplay - len(center)) + center
        scale_factor = 1 - margin
        if size.size == 0 or float(np.max(size)) == 0:
            zoom = scale_factor * float(np.min(canvas))
        else:
            scale = np.array(size[-2:], dtype=np.float64)
            scale[np.isclose(scale, 0)] = 1
            zoom = scale_factor * float(np.min(canvas / scale))
        # clamped: a layer with tiny or huge units is shown as near as the renderer can draw
        self.camera.update(
            center=tuple(float(c) for c in center[-ndisplay:]), zoom=clamp_zoom(zoom)
        )

    def reset_view(
        self,
        canvas_size: Sequence[int] | None = None,
        *,
        margin: float = 0.05,
        reset_camera_angle: bool = True,
    ) -> None:
        """napari's ``reset_view``: in 3D reset the angles, then :meth:`fit_to_view`."""
        if self.dims.ndisplay == 3 and reset_camera_angle:
            self.camera.angles = (0.0, 0.0, 0.0)
        self.fit_to_view(canvas_size, margin=margin)

    def _on_order_changed(self, _order: object) -> None:
        self.fit_to_view()

    def _on_ndisplay_changed(self, ndisplay: object) -> None:
        """napari's synced-camera switch between 2D and 3D."""
        previous, self._ndisplay = self._ndisplay, self.dims.ndisplay
        center = self.camera.center
        if previous == 2 and self.dims.ndisplay == 3:
            depth = 0.0
            if self.dims.ndim >= 3:
                depth = self.dims.point[self.dims.order[-3]]
            self.camera.center = (depth, *center[-2:])
        elif previous == 3 and self.dims.ndisplay == 2:
            if self.dims.ndim >= 3:
                self.dims.set_point(self.dims.order[-3], center[0])
            self.camera.center = center[-2:]
