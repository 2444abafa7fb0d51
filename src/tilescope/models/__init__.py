"""Evented, GUI-free state of a viewer: dims, camera, layers and their transforms.

Nothing here imports Qt, vispy or a GPU library. The intent models
(:class:`Dims`, :class:`Camera`, :class:`LayerList`, :class:`ViewerModel`) emit
psygnal events and expose frozen snapshots (:class:`DimsState`,
:class:`CameraState`) that slicing and rendering read.
"""

from tilescope.models.camera import Camera, CameraState
from tilescope.models.dims import Dims, DimsState, RangeTuple
from tilescope.models.layerlist import LayerList
from tilescope.models.viewer_model import ViewerModel

__all__ = [
    "Camera",
    "CameraState",
    "Dims",
    "DimsState",
    "LayerList",
    "RangeTuple",
    "ViewerModel",
]
