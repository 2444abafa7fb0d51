"""What a reader found: :class:`LayerSpec`, one layer's data, kind, name and keywords."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LayerSpec"]


@dataclass(frozen=True)
class LayerSpec:
    """What a reader found: layer data (one array or a list of pyramid levels) and its kind.

    ``kwargs`` are the layer keywords the file's metadata implies (``scale``, ``translate``,
    ``colormap``, ``contrast_limits``, ``visible``, ``blending``, ...); ``kwargs["metadata"]``
    may carry ``axis_labels`` and ``units`` (one per layer axis), which the viewer shows.
    """

    data: Any
    layer_type: Literal["image", "labels"] = "image"
    name: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Releases the open file behind lazy data (TIFF); call it when the layer goes away.
    close: Callable[[], None] | None = None
