"""Layer controls <-> layer models (widgets only, no canvas)."""

from __future__ import annotations

import numpy as np
import pytest
from cmap import Colormap
from pytestqt.qtbot import QtBot

from tilescope.models.layers import Image, Labels, Points
from tilescope.views.layer_controls import (
    COLORMAP_NAMES,
    ControlsState,
    LayerControls,
    colormap_label,
    controls_state,
    range_decimals,
)

pytestmark = pytest.mark.qt


def image() -> Image:
    return Image(np.arange(64, dtype=np.uint16).reshape(8, 8) * 100, name="img")


def make(qtbot: QtBot, layer: object) -> LayerControls:
    widget = LayerControls()
    qtbot.addWidget(widget)
    widget.set_layer(layer)
    return widget


@pytest.mark.parametrize(
    ("low", "high", "decimals"),
    [
        pytest.param(0, 65535, 0, id="uint16"),
        pytest.param(0, 255, 1, id="uint8"),
        pytest.param(0, 1, 3, id="unit-float"),
        pytest.param(0, 0.001, 6, id="tiny"),
        pytest.param(5, 5, 3, id="empty"),
    ],
)
def test_range_decimals(low: float, high: float, decimals: int) -> None:
    assert range_decimals(low, high) == decimals


def test_controls_state_of_each_layer_type() -> None:
    assert controls_state(image()) == ControlsState(
        opacity=1.0,
        blending="translucent",
        contrast_limits=(0.0, 6300.0),
        contrast_limits_range=(0.0, 6300.0),
        gamma=1.0,
        colormap="gray",
        rendering="mip",
        iso_threshold=3150.0,
    )
    rgb = Image(np.zeros((40, 40, 3), np.uint8), rgb=True)
    assert controls_state(rgb).colormap is None
    labels = controls_state(Labels(np.zeros((4, 4), np.int32), opacity=0.5))
    assert labels == ControlsState(opacity=0.5, blending="translucent")
    points = controls_state(Points(np.zeros((1, 2)), blending="additive"))
    assert points == ControlsState(opacity=1.0, blending="additive")


def test_colormap_label_drops_the_namespace() -> None:
    assert colormap_label(Colormap("viridis")) == "viridis"
    assert all(colormap_label(Colormap(name)) == name for name in COLORMAP_NAMES)


def test_widgets_show_the_layer(qtbot: QtBot) -> None:
    layer = image()
    layer.opacity = 0.25
    layer.gamma = 0.5
    layer.colormap = "magma"
    layer.blending = "additive"
    widget = make(qtbot, layer)
    assert widget.opacity.value() == pytest.approx(0.25)
    assert widget.gamma.value() == pytest.approx(0.5)
    assert widget.colormap.currentText() == "magma"
    assert widget.blending.currentText() == "additive"
    assert widget.contrast.value() == pytest.approx((0, 6300))
    assert (widget.contrast.minimum(), widget.contrast.maximum()) == pytest.approx((0, 6300))
    assert "img" in widget.title.text()


def test_editing_controls_sets_the_layer(qtbot: QtBot) -> None:
    layer = image()
    widget = make(qtbot, layer)
    widget.opacity.setValue(0.4)
    assert layer.opacity == pytest.approx(0.4)
    widget.contrast.setValue((1000.0, 2000.0))
    assert layer.contrast_limits == pytest.approx((1000, 2000))
    widget.gamma.setValue(1.5)
    assert layer.gamma == pytest.approx(1.5)
    widget.colormap.setCurrentText("viridis")
    widget.colormap.activated.emit(widget.colormap.currentIndex())
    assert layer.colormap.name == "bids:viridis"
    widget.blending.setCurrentText("minimum")
    widget.blending.activated.emit(widget.blending.currentIndex())
    assert layer.blending == "minimum"
    widget.rendering.setCurrentText("iso")
    widget.rendering.activated.emit(widget.rendering.currentIndex())
    assert layer.rendering == "iso"
    widget.iso_threshold.setValue(4000.0)
    assert layer.iso_threshold == pytest.approx(4000)


def test_model_changes_update_controls_without_echo(qtbot: QtBot) -> None:
    layer = image()
    widget = make(qtbot, layer)
    changes: list[None] = []
    layer.events.changed.connect(lambda: changes.append(None))
    layer.opacity = 0.7
    layer.contrast_limits = (100.0, 9000.0)  # beyond the range: the range widens
    layer.colormap = "cyan"
    layer.gamma = 3.0  # beyond the slider's usual 0.2-2: the slider widens
    assert widget.opacity.value() == pytest.approx(0.7)
    assert widget.contrast.value() == pytest.approx((100, 9000))
    assert widget.contrast.maximum() == pytest.approx(9000)
    assert widget.colormap.currentText() == "cyan"
    assert widget.gamma.value() == pytest.approx(3.0)
    assert len(changes) == 4  # no widget wrote anything back


def test_custom_colormap_is_offered_and_kept(qtbot: QtBot) -> None:
    layer = image()
    custom = Colormap(["black", "orange"], name="ember")
    layer.colormap = custom
    widget = make(qtbot, layer)
    assert widget.colormap.currentText() == "ember"
    widget.colormap.setCurrentText("gray")
    widget.colormap.activated.emit(widget.colormap.currentIndex())
    assert layer.colormap.name == "matlab:gray"
    widget.colormap.setCurrentText("ember")
    widget.colormap.activated.emit(widget.colormap.currentIndex())
    assert layer.colormap.name == "ember"


def test_rejected_value_restores_the_widget_and_reports(qtbot: QtBot) -> None:
    layer = image()
    widget = make(qtbot, layer)
    messages: list[str] = []
    widget.message.connect(messages.append)
    widget.contrast.setValue((3000.0, 3000.0))  # min == max: the layer refuses it
    assert layer.contrast_limits == (0.0, 6300.0)
    assert widget.contrast.value() == pytest.approx((0, 6300))
    assert messages
    assert "contrast_limits" in messages[-1]


def test_reset_button_restores_the_full_range(qtbot: QtBot) -> None:
    layer = image()
    layer.contrast_limits = (10.0, 20.0)
    widget = make(qtbot, layer)
    widget.contrast_reset.click()
    assert layer.contrast_limits == (0.0, 6300.0)


def test_rows_shown_depend_on_the_layer_type(qtbot: QtBot) -> None:
    widget = make(qtbot, image())
    widget.show()
    assert widget.colormap.isVisible()
    assert widget.contrast.isVisible()
    widget.set_layer(Labels(np.zeros((4, 4), np.int32)))
    assert not widget.colormap.isVisible()
    assert not widget.contrast.isVisible()
    assert not widget.gamma.isVisible()
    assert widget.opacity.isVisible()
    assert widget.blending.isVisible()


def test_switching_layers_stops_following_the_old_one(qtbot: QtBot) -> None:
    first, second = image(), image()
    widget = make(qtbot, first)
    widget.set_layer(second)
    first.opacity = 0.1
    assert widget.opacity.value() == pytest.approx(1.0)
    widget.opacity.setValue(0.3)
    assert first.opacity == pytest.approx(0.1)
    assert second.opacity == pytest.approx(0.3)
    widget.set_layer(None)
    assert not widget.isEnabled()
    second.opacity = 0.9  # no longer followed, no error


def test_volume_rows_show_only_in_3d(qtbot: QtBot) -> None:
    """Rendering (and, for iso, its threshold) only while 3 dimensions are displayed."""
    layer = image()
    widget = make(qtbot, layer)
    widget.show()
    assert widget.ndisplay == 2
    assert not widget.rendering.isVisible()
    assert not widget.iso_threshold.isVisible()
    widget.set_ndisplay(3)
    assert widget.rendering.isVisible()
    assert widget.rendering.currentText() == "mip"
    assert not widget.iso_threshold.isVisible()  # mip has no threshold
    layer.rendering = "iso"
    assert widget.iso_threshold.isVisible()
    assert widget.iso_threshold.value() == pytest.approx(3150)
    assert (widget.iso_threshold.minimum(), widget.iso_threshold.maximum()) == pytest.approx(
        (0, 6300)
    )
    layer.iso_threshold = 5000.0
    assert widget.iso_threshold.value() == pytest.approx(5000)
    widget.set_layer(Labels(np.zeros((4, 4, 4), np.int32)))  # labels: no rendering mode
    assert not widget.rendering.isVisible()
    assert not widget.iso_threshold.isVisible()
    widget.set_layer(layer)
    assert widget.iso_threshold.isVisible()
    widget.set_ndisplay(2)
    assert not widget.rendering.isVisible()
    assert not widget.iso_threshold.isVisible()
    widget.set_layer(None)
    assert not widget.rendering.isVisible()
    assert widget.opacity.isVisible()
