"""Controls of the selected layer: opacity, contrast limits, gamma, colormap, blending,
and in 3D the volume rendering mode (with the iso threshold for ``iso``).

:class:`LayerControls` follows one layer at a time (:meth:`LayerControls.set_layer`). It
listens to the layer's coarse ``events.changed`` only: :func:`controls_state` resolves a
frozen :class:`ControlsState` from the layer, and the widgets whose value differs are
updated with their signals blocked (no echo back into the model). A user edit sets the
one layer field it controls; the layer validates it, and a rejected value (a
:class:`~tilescope.errors.TilescopeError`) puts the widget back to the model's value and
is reported through :attr:`LayerControls.message`.

Rows show only for fields the layer has: an RGB image has no colormap; Labels and
Points have neither contrast limits nor gamma. The rendering row shows only while the
viewer displays 3 dimensions (:meth:`LayerControls.set_ndisplay`), the iso threshold
only then and with ``rendering == "iso"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast, get_args

from cmap import Colormap
from qtpy.QtCore import QSignalBlocker, Qt, Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QToolButton, QWidget
from superqt import QLabeledDoubleRangeSlider, QLabeledDoubleSlider

from tilescope.errors import TilescopeError
from tilescope.render.plan import Blending, Rendering
from tilescope.views._bind import Rebindable

__all__ = [
    "BLENDING_NAMES",
    "COLORMAP_NAMES",
    "RENDERING_NAMES",
    "ControlsState",
    "LayerControls",
    "colormap_label",
    "controls_state",
    "range_decimals",
]

COLORMAP_NAMES: tuple[str, ...] = (
    "gray",
    "gray_r",
    "viridis",
    "magma",
    "inferno",
    "plasma",
    "turbo",
    "red",
    "green",
    "blue",
    "cyan",
    "magenta",
    "yellow",
)
"""The colormaps the combo box offers (any other colormap of a layer is added when shown)."""

BLENDING_NAMES: tuple[str, ...] = get_args(Blending)
RENDERING_NAMES: tuple[str, ...] = get_args(Rendering)
GAMMA_RANGE = (0.2, 2.0)


def colormap_label(colormap: Any) -> str:
    """Short display name of a colormap: ``'bids:viridis'`` -> ``'viridis'``."""
    name = colormap.name if isinstance(colormap, Colormap) else str(colormap)
    return name.rsplit(":", 1)[-1]


def range_decimals(low: float, high: float) -> int:
    """Decimals that resolve about a thousandth of the span ``high - low`` (0 to 6)."""
    span = abs(high - low)
    if not math.isfinite(span) or span == 0:
        return 3
    return max(0, min(6, 3 - math.floor(math.log10(span))))


@dataclass(frozen=True, slots=True)
class ControlsState:
    """What the controls show for one layer; ``None`` marks a field the layer lacks."""

    opacity: float
    blending: str
    contrast_limits: tuple[float, float] | None = None
    contrast_limits_range: tuple[float, float] | None = None
    gamma: float | None = None
    colormap: str | None = None
    rendering: str | None = None
    iso_threshold: float | None = None


def _pair(value: Any) -> tuple[float, float]:
    low, high = value
    return float(low), float(high)


def controls_state(layer: Any) -> ControlsState:
    """Resolve the controls' state from a layer's fields (pure; reads no data)."""
    limits = getattr(layer, "contrast_limits", None)
    limits_range = getattr(layer, "contrast_limits_range", None)
    gamma = getattr(layer, "gamma", None)
    rgb = bool(getattr(layer, "rgb", False))
    colormap = getattr(layer, "colormap", None)
    rendering = getattr(layer, "rendering", None)
    iso = getattr(layer, "iso_threshold", None)
    return ControlsState(
        opacity=float(layer.opacity),
        blending=str(layer.blending),
        contrast_limits=None if limits is None else _pair(limits),
        contrast_limits_range=None if limits_range is None else _pair(limits_range),
        gamma=None if gamma is None else float(gamma),
        colormap=None if colormap is None or rgb else colormap_label(colormap),
        rendering=None if rendering is None else str(rendering),
        iso_threshold=None if iso is None else float(iso),
    )


def _double_slider(
    parent: QWidget, value_range: tuple[float, float], *, decimals: int, step: float
) -> Any:
    """A labelled float slider (typed ``Any``: superqt annotates it with QSlider's ints)."""
    slider: Any = cast(Any, QLabeledDoubleSlider(Qt.Orientation.Horizontal, parent))
    slider.setRange(*value_range)
    slider.setDecimals(decimals)
    slider.setSingleStep(step)
    return slider


def _show_in_range(slider: Any, value: Any, low: float, high: float) -> None:
    """Set a float (range) slider's span, its resolution (a thousandth) and value, silently."""
    with QSignalBlocker(slider):
        slider.setDecimals(range_decimals(low, high))
        slider.setRange(low, high)
        slider.setSingleStep((high - low) / 1000 if high > low else 1.0)
        slider.setValue(value)


class LayerControls(QWidget):
    """Form of controls bound to one layer (or disabled when there is none)."""

    #: A user-facing message: why an edit was rejected ("" clears it).
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layer: Any = None
        self._state: ControlsState | None = None
        self._ndisplay = 2
        self._binding = Rebindable(self, self._on_layer_changed)

        self.title = QLabel("no layer selected", self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.opacity = _double_slider(self, (0.0, 1.0), decimals=2, step=0.01)
        self.contrast: Any = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal, self)
        # one editable box per end showing the limits themselves, no labels over the handles
        self.contrast.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
        self.contrast.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
        self.contrast_reset = QToolButton(self)
        self.contrast_reset.setText("↔")
        self.contrast_reset.setToolTip("reset the contrast limits to the full range")
        contrast_row = QWidget(self)
        contrast_layout = QHBoxLayout(contrast_row)
        contrast_layout.setContentsMargins(0, 0, 0, 0)
        contrast_layout.addWidget(self.contrast, 1)
        contrast_layout.addWidget(self.contrast_reset)
        self._contrast_row = contrast_row
        self.gamma = _double_slider(self, GAMMA_RANGE, decimals=2, step=0.01)
        self.colormap = QComboBox(self)
        for name in COLORMAP_NAMES:
            self.colormap.addItem(name, name)
        self.blending = QComboBox(self)
        self.blending.addItems(list(BLENDING_NAMES))
        self.rendering = QComboBox(self)
        self.rendering.addItems(list(RENDERING_NAMES))
        self.rendering.setToolTip("how a 3D volume is rendered")
        self.iso_threshold = _double_slider(self, (0.0, 1.0), decimals=3, step=0.001)
        self.iso_threshold.setToolTip("surface threshold of the iso rendering")

        self._form = QFormLayout(self)
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._form.addRow(self.title)
        self._form.addRow("opacity", self.opacity)
        self._form.addRow("contrast", contrast_row)
        self._form.addRow("gamma", self.gamma)
        self._form.addRow("colormap", self.colormap)
        self._form.addRow("blending", self.blending)
        self._form.addRow("rendering", self.rendering)
        self._form.addRow("iso threshold", self.iso_threshold)

        # bound methods only: a lambda holding ``self`` would keep this widget alive
        self.opacity.valueChanged.connect(self._on_opacity)
        self.contrast.valueChanged.connect(self._on_contrast)
        self.contrast_reset.clicked.connect(self._reset_contrast)
        self.gamma.valueChanged.connect(self._on_gamma)
        self.colormap.activated.connect(self._on_colormap_chosen)
        self.blending.activated.connect(self._on_blending)
        self.rendering.activated.connect(self._on_rendering)
        self.iso_threshold.valueChanged.connect(self._on_iso_threshold)
        self.set_layer(None)

    # ---------------------------------------------------------------- public

    @property
    def layer(self) -> Any:
        """The layer shown, or ``None``."""
        return self._layer

    @property
    def state(self) -> ControlsState | None:
        """What the widgets show (``None`` without a layer)."""
        return self._state

    @property
    def ndisplay(self) -> int:
        """Displayed dimensions the controls are shown for (3: volume rendering rows)."""
        return self._ndisplay

    def set_ndisplay(self, ndisplay: int) -> None:
        """Show the 3D-only rows (rendering, iso threshold) only when ``ndisplay == 3``."""
        self._ndisplay = ndisplay
        self._show_volume_rows()

    def set_layer(self, layer: Any) -> None:
        """Show and edit ``layer`` (``None``: nothing, controls disabled)."""
        self._layer = layer
        self._state = None
        self._binding.bind(None if layer is None else layer.events.changed)
        self.setEnabled(layer is not None)
        if layer is None:
            self.title.setText("no layer selected")
            for widget in self._field_widgets():
                self._form.setRowVisible(widget, True)
            self._show_volume_rows()
            return
        self._on_layer_changed()

    # ---------------------------------------------------------------- model -> widgets

    def _field_widgets(self) -> tuple[QWidget, ...]:
        return (
            self.opacity,
            self._contrast_row,
            self.gamma,
            self.colormap,
            self.blending,
        )

    def _on_layer_changed(self, *_: object) -> None:
        layer = self._layer
        if layer is None:
            return
        new = controls_state(layer)
        old = self._state
        self._state = new
        self.title.setText(f"{type(layer).__name__}: {layer.name}")
        if old is None or old.opacity != new.opacity:
            with QSignalBlocker(self.opacity):
                self.opacity.setValue(new.opacity)
        if old is None or old.blending != new.blending:
            with QSignalBlocker(self.blending):
                self.blending.setCurrentText(new.blending)
        self._apply_contrast(old, new)
        self._apply_gamma(old, new)
        self._apply_colormap(old, new)
        self._apply_rendering(old, new)

    def _apply_contrast(self, old: ControlsState | None, new: ControlsState) -> None:
        self._form.setRowVisible(self._contrast_row, new.contrast_limits is not None)
        if new.contrast_limits is None:
            return
        if (
            old is not None
            and old.contrast_limits == new.contrast_limits
            and old.contrast_limits_range == new.contrast_limits_range
        ):
            return
        low, high = new.contrast_limits_range or new.contrast_limits
        low, high = min(low, *new.contrast_limits), max(high, *new.contrast_limits)
        _show_in_range(self.contrast, new.contrast_limits, low, high)

    def _apply_gamma(self, old: ControlsState | None, new: ControlsState) -> None:
        self._form.setRowVisible(self.gamma, new.gamma is not None)
        if new.gamma is None or (old is not None and old.gamma == new.gamma):
            return
        with QSignalBlocker(self.gamma):
            self.gamma.setRange(min(GAMMA_RANGE[0], new.gamma), max(GAMMA_RANGE[1], new.gamma))
            self.gamma.setValue(new.gamma)

    def _apply_colormap(self, old: ControlsState | None, new: ControlsState) -> None:
        self._form.setRowVisible(self.colormap, new.colormap is not None)
        if new.colormap is None or (old is not None and old.colormap == new.colormap):
            return
        with QSignalBlocker(self.colormap):
            index = self.colormap.findText(new.colormap)
            if index < 0:  # a colormap the list lacks: offer it, carrying the object itself
                self.colormap.addItem(new.colormap, getattr(self._layer, "colormap", None))
                index = self.colormap.count() - 1
            self.colormap.setCurrentIndex(index)

    def _apply_rendering(self, old: ControlsState | None, new: ControlsState) -> None:
        self._show_volume_rows()
        if new.rendering is not None and (old is None or old.rendering != new.rendering):
            with QSignalBlocker(self.rendering):
                if self.rendering.findText(new.rendering) < 0:
                    self.rendering.addItem(new.rendering)
                self.rendering.setCurrentText(new.rendering)
        iso = new.iso_threshold
        if iso is None or (
            old is not None
            and old.iso_threshold == iso
            and old.contrast_limits_range == new.contrast_limits_range
        ):
            return
        low, high = new.contrast_limits_range or new.contrast_limits or (iso, iso)
        _show_in_range(self.iso_threshold, iso, min(low, iso), max(high, iso))

    def _show_volume_rows(self) -> None:
        """The rendering row in 3D only (for layers that have it); iso threshold for iso."""
        state = self._state
        in_3d = self._ndisplay == 3
        if state is None:  # no layer: the (disabled) rendering row, like the other fields
            self._form.setRowVisible(self.rendering, in_3d)
            self._form.setRowVisible(self.iso_threshold, False)
            return
        self._form.setRowVisible(self.rendering, in_3d and state.rendering is not None)
        iso = in_3d and state.rendering == "iso" and state.iso_threshold is not None
        self._form.setRowVisible(self.iso_threshold, iso)

    # ---------------------------------------------------------------- widgets -> model

    def _set(self, field: str, value: object) -> None:
        layer = self._layer
        if layer is None:
            return
        try:
            setattr(layer, field, value)
        except TilescopeError as e:
            self.message.emit(f"{layer.name}: {e}")
            self._state = None  # re-show every field from the model
            self._on_layer_changed()
        else:
            self.message.emit("")

    def _on_opacity(self, value: float) -> None:
        self._set("opacity", float(value))

    def _on_contrast(self, value: Any) -> None:
        self._set("contrast_limits", _pair(value))

    def _on_gamma(self, value: float) -> None:
        self._set("gamma", float(value))

    def _on_blending(self, index: int) -> None:
        self._set("blending", self.blending.itemText(index))

    def _on_rendering(self, index: int) -> None:
        self._set("rendering", self.rendering.itemText(index))

    def _on_iso_threshold(self, value: float) -> None:
        self._set("iso_threshold", float(value))

    def _on_colormap_chosen(self, index: int) -> None:
        value = self.colormap.itemData(index)
        self._set("colormap", value if value is not None else self.colormap.itemText(index))

    def _reset_contrast(self) -> None:
        state = self._state
        if state is not None and state.contrast_limits_range is not None:
            self._set("contrast_limits", state.contrast_limits_range)
