"""vispy visuals used by the backend: images and volumes that report their texture
uploads, and a labels image that colours labels exactly through a lookup texture.

vispy has no type information; everything vispy-typed here is ``Any`` and stays
inside this package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from vispy.gloo import Texture2D
from vispy.scene.visuals import create_visual_node
from vispy.visuals.image import ImageVisual
from vispy.visuals.markers import MarkersVisual
from vispy.visuals.shaders import Function, FunctionChain
from vispy.visuals.volume import VolumeVisual

__all__ = [
    "LUT_MAX_WIDTH",
    "Image",
    "LabelsImage",
    "Markers",
    "Volume",
    "lut_texture_array",
]

UploadHook = Callable[[], None]

LUT_MAX_WIDTH = 4096
"""Width of the label colour lookup texture (its height grows with the label count)."""

# Index -> colour, exact: the index is an integer stored in an r32f texel; the lookup
# texture is read at texel centres with nearest sampling. (v + 0.5) / w keeps the row
# robust to rounding in the division.
_LABEL_LOOKUP = """
vec4 label_color(vec4 data) {
    float v = floor(data.r + 0.5);
    float w = $lut_shape.x;
    float row = floor((v + 0.5) / w);
    float col = v - row * w;
    return texture2D($lut, vec2((col + 0.5) / w, (row + 0.5) / $lut_shape.y));
}
"""


class _CountingImageVisual(ImageVisual):  # type: ignore[misc]
    """An ImageVisual that calls ``upload_hook`` whenever vispy uploads its texture."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.upload_hook: UploadHook | None = None
        super().__init__(*args, **kwargs)

    def _build_texture(self) -> None:
        super()._build_texture()
        if self.upload_hook is not None:
            self.upload_hook()


class _CountingVolumeVisual(VolumeVisual):  # type: ignore[misc]
    """A VolumeVisual that calls ``upload_hook`` whenever its data is uploaded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.upload_hook: UploadHook | None = None
        super().__init__(*args, **kwargs)

    def set_data(self, vol: Any, clim: Any = None, copy: bool = True) -> None:
        super().set_data(vol, clim=clim, copy=copy)
        if self.upload_hook is not None:
            self.upload_hook()


def lut_texture_array(colors: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Lay ``(n, 4)`` colours out row-major in a ``(h, w, 4)`` texture (w <= LUT_MAX_WIDTH)."""
    n = max(1, colors.shape[0])
    w = min(n, LUT_MAX_WIDTH)
    h = math.ceil(n / w)
    out = np.zeros((h * w, 4), dtype=np.uint8)
    out[: colors.shape[0]] = colors
    return out.reshape(h, w, 4)


class _LabelsImageVisual(_CountingImageVisual):
    """A 2D image of label *indices* (float32, exact up to 2**24) coloured by a lookup texture.

    Changing colours replaces only the small lookup texture (:meth:`set_lut`),
    never the label texture.
    """

    def __init__(self) -> None:
        self._lut = Texture2D(np.zeros((1, 1, 4), np.uint8), interpolation="nearest")
        self._lut_shape = (1.0, 1.0)
        super().__init__(
            data=np.zeros((1, 1), np.float32),
            texture_format="r32f",
            interpolation="nearest",
            clim=(0.0, 1.0),
            cmap="grays",
        )

    def set_lut(self, colors: npt.NDArray[np.uint8]) -> None:
        """Set the colour of index ``i`` to ``colors[i]`` (RGBA uint8)."""
        arr = lut_texture_array(colors)
        self._lut.set_data(arr)
        self._lut_shape = (float(arr.shape[1]), float(arr.shape[0]))
        self._need_colortransform_update = True
        self.update()

    def _build_color_transform(self) -> Any:
        fn = Function(_LABEL_LOOKUP)
        fn["lut"] = self._lut
        fn["lut_shape"] = self._lut_shape
        return FunctionChain(None, [fn])

    def _update_colortransform_clim(self) -> None:
        """Contrast limits do not apply to labels (the clim is fixed)."""


Image: Any = create_visual_node(_CountingImageVisual)
Volume: Any = create_visual_node(_CountingVolumeVisual)
LabelsImage: Any = create_visual_node(_LabelsImageVisual)
Markers: Any = create_visual_node(MarkersVisual)
