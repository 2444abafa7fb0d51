"""Widgets never keep themselves alive through model connections, and a widget that is
gone never hears from its model again."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from qtpy.QtWidgets import QWidget

from tilescope.models.dims import Dims
from tilescope.models.layerlist import LayerList
from tilescope.models.layers import Image
from tilescope.views.dims_sliders import DimsSliders
from tilescope.views.layer_controls import LayerControls
from tilescope.views.layer_list import LayerListWidget

pytestmark = pytest.mark.qt


def _controls_on(layer: Image) -> LayerControls:
    widget = LayerControls()
    widget.set_layer(layer)
    return widget


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda dims, layers, layer: DimsSliders(dims), id="dims-sliders"),
        pytest.param(lambda dims, layers, layer: LayerListWidget(layers), id="layer-list"),
        pytest.param(lambda dims, layers, layer: _controls_on(layer), id="layer-controls"),
    ],
)
def test_dropped_widget_is_collected_and_disconnected(
    qtbot: QtBot, make: Callable[[Dims, LayerList[Image], Image], QWidget]
) -> None:
    dims = Dims(4, range=((0, 4, 1), (0, 3, 1), (0, 9, 1), (0, 9, 1)))
    layer = Image(np.zeros((8, 8), np.uint8), name="a")
    layers: LayerList[Image] = LayerList([layer])
    before = (len(dims.events.changed), len(layers.events.changed), len(layer.events.changed))
    widget = make(dims, layers, layer)
    ref = weakref.ref(widget)
    del widget
    gc.collect()
    qtbot.wait(1)
    assert ref() is None
    after = (len(dims.events.changed), len(layers.events.changed), len(layer.events.changed))
    assert after == before
    dims.set_current_step(0, 2)  # reaches no dead widget
    layer.opacity = 0.5
    layers.append(Image(np.zeros((8, 8), np.uint8), name="b"))
