"""Slicing: frozen slice requests (callables) and their responses; thick-slice projections.

The worker-side runner is :class:`tilescope.slicing.slicer.LayerSlicer`.
"""

from tilescope.slicing.projection import point_index, project, thick_window
from tilescope.slicing.requests import (
    ImageSliceRequest,
    ImageSliceResponse,
    PointsSliceRequest,
    PointsSliceResponse,
    SliceRequest,
    SliceResponse,
    build_slice_request,
    request_signature,
)

__all__ = [
    "ImageSliceRequest",
    "ImageSliceResponse",
    "PointsSliceRequest",
    "PointsSliceResponse",
    "SliceRequest",
    "SliceResponse",
    "build_slice_request",
    "request_signature",
    "point_index",
    "project",
    "thick_window",
]
