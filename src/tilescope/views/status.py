"""What the status bar says: the world position and value under the cursor, layer state.

Pure formatting functions (tested without Qt) plus :class:`StatusBar`, a QStatusBar with
a cursor field on the left and the selected layer's state on the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from qtpy.QtWidgets import QLabel, QStatusBar, QWidget

__all__ = [
    "StatusBar",
    "format_coordinates",
    "format_cursor",
    "format_value",
    "unit_symbol",
    "world_units",
]

#: OME-Zarr (UDUNITS-2) unit names and their short symbols.
_UNIT_SYMBOLS = {
    "angstrom": "Å",
    "nanometer": "nm",
    "micrometer": "µm",
    "micron": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "nanosecond": "ns",
    "microsecond": "µs",
    "millisecond": "ms",
    "second": "s",
    "minute": "min",
    "hour": "h",
}


def unit_symbol(unit: str | None) -> str:
    """``"micrometer"`` -> ``"µm"``; unknown units as given; ``""`` for none."""
    if not unit:
        return ""
    return _UNIT_SYMBOLS.get(unit.lower(), unit)


def world_units(layers: Sequence[Any], ndim: int) -> tuple[str | None, ...] | None:
    """Units of the world axes: those of the topmost visible layer that has them.

    Readers store one unit per layer axis in ``layer.metadata["units"]``; layer axes are the
    last world axes (right-aligned, as napari aligns layers). None when no layer has units.
    """
    for layer in reversed(list(layers)):
        metadata = getattr(layer, "metadata", None) or {}
        units = metadata.get("units") if getattr(layer, "visible", True) else None
        if isinstance(units, tuple | list) and any(units) and len(units) <= ndim:
            return (None,) * (ndim - len(units)) + tuple(str(u) if u else None for u in units)
    return None


def _number(value: float) -> str:
    """A short, readable number: integers as integers, else 4 significant digits."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_coordinates(
    coords: Sequence[float],
    labels: Sequence[str] | None = None,
    units: Sequence[str | None] | None = None,
) -> str:
    """``[12, 40.5, 7]`` or, with axis labels, ``z=12 y=40.5 x=7``; with units ``y=40.5 µm``."""
    values = [_number(float(c)) for c in coords]
    if units is not None and len(units) == len(values):
        values = [f"{v} {unit_symbol(u)}".rstrip() for v, u in zip(values, units, strict=True)]
    if labels is not None and len(labels) == len(values):
        return " ".join(f"{label}={v}" for label, v in zip(labels, values, strict=True))
    return "[" + ", ".join(values) + "]"


def format_value(value: Any) -> str:
    """A data value: a number, an RGB(A) tuple, or ``-`` when there is none."""
    if value is None:
        return "-"
    if isinstance(value, np.ndarray | tuple | list):
        return "(" + ", ".join(format_value(v) for v in np.asarray(value).ravel().tolist()) + ")"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral | np.integer):
        return str(int(value))
    if isinstance(value, Real | np.floating):
        return _number(float(value))
    return str(value)


def format_cursor(
    info: Any,
    labels: Sequence[str] | None = None,
    units: Sequence[str | None] | None = None,
) -> str:
    """Status text for a cursor info (``world`` coordinates, ``layer_name``, ``value``)."""
    if info is None:
        return ""
    text = format_coordinates(tuple(info.world), labels, units)
    layer = getattr(info, "layer_name", None)
    if layer is not None:
        text += f"  {layer}: {format_value(getattr(info, 'value', None))}"
    return text


class StatusBar(QStatusBar):
    """The cursor readout (left) and the selected layer's state (right)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor_label = QLabel("", self)
        self.cursor_label.setObjectName("cursor")
        self.layer_label = QLabel("", self)
        self.layer_label.setObjectName("layer-status")
        self.addWidget(self.cursor_label, 1)
        self.addPermanentWidget(self.layer_label)

    def set_cursor_text(self, text: str) -> None:
        """Show the cursor readout."""
        self.cursor_label.setText(text)

    def set_layer_text(self, text: str) -> None:
        """Show the selected layer's state (e.g. ``"nuclei: loading 12/40 tiles"``)."""
        self.layer_label.setText(text)
