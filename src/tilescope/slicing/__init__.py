"""Slicing: frozen slice requests (callables) and their responses; thick-slice projections.

The worker-side runner is :class:`tilescope.slicing.slicer.LayerSlicer`.
"""

from tilescope.slicing.projection import PROJECTION_MODES, point_index, project, thick_window
from tilescope.slicing.requests import (
    ImageSliceRequest,
    ImageSliceResponse,
    PointsSliceRequest,
    PointsSliceResponse,
    SliceRequest,
    SliceResponse,
    build_slice_request,
    data_slice_point,
)

__all__ = [
    "PROJECTION_MODES",
    "ImageSliceRequest",
    "ImageSliceResponse",
    "PointsSliceRequest",
    "PointsSliceResponse",
    "SliceRequest",
    "SliceResponse",
    "build_slice_request",
    "data_slice_point",
    "point_index",
    "project",
    "thick_window",
]
