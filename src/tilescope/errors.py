"""Every error a tilescope user can hit, in one place.

Each message says what was wrong and what to do about it. All derive from
:class:`TilescopeError`, so ``except TilescopeError`` catches anything tilescope
raises on purpose. Errors that are also plain argument errors derive from
``ValueError`` / ``TypeError`` too, so callers used to numpy/napari idioms still
catch them.
"""

from __future__ import annotations

__all__ = [
    "ArrayProtocolError",
    "CameraError",
    "ChunkLoadError",
    "ReadValidationError",
    "ConfigError",
    "DataSourceError",
    "DimsError",
    "LayerDataError",
    "LayerListError",
    "LayerPropertyError",
    "NoDisplayError",
    "PyramidError",
    "RenderError",
    "ServeError",
    "SliceError",
    "TilescopeError",
    "TransformError",
    "UnsupportedFormatError",
    "ViewerClosedError",
]


class TilescopeError(Exception):
    """Base class of every error tilescope raises on purpose."""


class DimsError(TilescopeError, ValueError):
    """An invalid value for a :class:`~tilescope.models.dims.Dims` field."""


class CameraError(TilescopeError, ValueError):
    """An invalid value for a :class:`~tilescope.models.camera.Camera` field."""


class TransformError(TilescopeError, ValueError):
    """An invalid layer transform (scale, translate, rotate, shear, affine)."""


class ArrayProtocolError(TilescopeError, TypeError):
    """An object given as layer data lacks part of the array protocol."""


class LayerDataError(TilescopeError, ValueError):
    """Layer data of the wrong shape, dtype or dimensionality for its layer type."""


class LayerPropertyError(TilescopeError, ValueError):
    """An invalid value for a layer property (opacity, blending, colormap, contrast limits, ...)."""


class LayerListError(TilescopeError, ValueError):
    """An invalid layer-list operation (a layer added twice, a bad reorder)."""


class SliceError(TilescopeError, RuntimeError):
    """Slicing a layer failed (the read raised, or timed out)."""


class ReadValidationError(SliceError):
    """A read returned something that cannot be drawn (wrong shape, complex/object/str dtype).

    It counts as a failed read: the layer shows the error and the next change retries.
    """


class ViewerClosedError(TilescopeError, RuntimeError):
    """A call on a :class:`~tilescope.viewer.Viewer` after ``close()``; create a new viewer."""


class ChunkLoadError(TilescopeError, RuntimeError):
    """Loading one chunk (tile) failed; the chunk is marked failed and retried later."""


class ConfigError(TilescopeError, ValueError):
    """An invalid tile-engine / loader configuration (unknown key or wrong type)."""


class DataSourceError(TilescopeError, OSError):
    """A path or URL that cannot be opened (missing, unreadable, timed out)."""


class UnsupportedFormatError(TilescopeError, ValueError):
    """A file whose format tilescope cannot read."""


class PyramidError(TilescopeError, ValueError):
    """Invalid arguments for building a pyramid (levels, chunks, axes, scale, units)."""


class ServeError(TilescopeError, OSError):
    """``tilescope serve`` cannot start (not a directory, port in use) or got a bad setting."""


class RenderError(TilescopeError, RuntimeError):
    """The rendering backend could not be started or failed to draw."""


class NoDisplayError(RenderError):
    """A window was asked for but there is no display; use ``show=False`` or screenshots."""
