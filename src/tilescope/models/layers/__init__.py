"""Layer models: state, transform and events (no slicing, no rendering)."""

from tilescope.models.layers.base import BLENDINGS, Extent, Layer, LayerEvents
from tilescope.models.layers.image import Image, ImageEvents
from tilescope.models.layers.labels import Labels, LabelsEvents
from tilescope.models.layers.points import Points, PointsEvents

__all__ = [
    "BLENDINGS",
    "Extent",
    "Image",
    "ImageEvents",
    "Labels",
    "LabelsEvents",
    "Layer",
    "LayerEvents",
    "Points",
    "PointsEvents",
]
