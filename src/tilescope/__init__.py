"""tilescope: an n-dimensional image viewer engine that never freezes.

``tilescope.Viewer`` is the entry point (see :mod:`tilescope.viewer`). It is imported lazily
so that ``import tilescope.models`` (or any core layer) stays free of rendering imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Viewer", "__version__"]

if TYPE_CHECKING:
    from tilescope.viewer import Viewer


def __getattr__(name: str) -> Any:
    if name == "Viewer":
        from tilescope.viewer import Viewer

        return Viewer
    raise AttributeError(f"module 'tilescope' has no attribute {name!r}")
