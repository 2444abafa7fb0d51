"""tilescope: an n-dimensional image viewer engine that never freezes.

``tilescope.Viewer`` is the entry point (see :mod:`tilescope.viewer`). It is imported lazily
so that ``import tilescope.models`` (or any core layer) stays free of rendering imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Viewer", "__version__", "open"]

if TYPE_CHECKING:
    import os

    from tilescope.viewer import Viewer


def open(path: str | os.PathLike[str], *, show: bool = True, **viewer_kwargs: Any) -> Viewer:
    """Open a file or URL in a new :class:`Viewer` and return the viewer.

    ``tilescope.open("cells.ome.zarr")`` is ``Viewer(show=True)`` followed by
    ``viewer.open(path)``: like ``tilescope view PATH`` it opens a window (``show=False``
    renders off-screen, e.g. for ``viewer.screenshot()``); the layers are in
    ``viewer.layers``. In a script, call ``viewer.run()`` to keep the window open. If the
    path cannot be opened, the viewer is closed again and the error raised.
    """
    from tilescope.viewer import Viewer

    viewer = Viewer(show=show, **viewer_kwargs)
    try:
        viewer.open(path)
    except BaseException:
        viewer.close()
        raise
    return viewer


def __getattr__(name: str) -> Any:
    if name == "Viewer":
        from tilescope.viewer import Viewer

        return Viewer
    raise AttributeError(f"module 'tilescope' has no attribute {name!r}")
