"""tilescope.views: the Qt window around a :class:`~tilescope.viewer.Viewer`.

The only package that imports Qt (through qtpy, on the PySide6 binding, and superqt).
Widgets here are thin: each binds Qt controls to fields of the evented models
(``Dims``, ``Layer``, ``LayerList``) and never slices or reads layer data.
Nothing else in tilescope imports this package.
"""

from __future__ import annotations

import os

# qtpy picks its binding at first import; tilescope ships and type-checks against PySide6.
os.environ.setdefault("QT_API", "pyside6")
