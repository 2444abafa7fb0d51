"""Layer list widget <-> LayerList and layer models (widgets only, no canvas)."""

from __future__ import annotations

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from qtpy.QtCore import QModelIndex, Qt

from tilescope.models.layerlist import LayerList
from tilescope.models.layers import Image, Labels, Points
from tilescope.views.layer_list import LayerListWidget

pytestmark = pytest.mark.qt


def three_layers() -> LayerList[Image | Labels | Points]:
    layers: LayerList[Image | Labels | Points] = LayerList()
    layers.append(Image(np.zeros((8, 8), np.uint8), name="image"))
    layers.append(Labels(np.zeros((8, 8), np.int32), name="labels"))
    layers.append(Points(np.array([[1.0, 2.0]]), name="points"))
    return layers


def make(qtbot: QtBot, layers: LayerList[Image | Labels | Points]) -> LayerListWidget:
    widget = LayerListWidget(layers)
    qtbot.addWidget(widget)
    return widget


def shown_names(widget: LayerListWidget) -> list[str]:
    return [widget.list.item(i).text() for i in range(widget.list.count())]


def model_names(layers: LayerList[Image | Labels | Points]) -> list[str]:
    return [layer.name for layer in layers]


def test_rows_list_the_top_layer_first_and_select_it(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    assert shown_names(widget) == ["points", "labels", "image"]
    assert widget.selected is layers["points"]


def test_check_box_toggles_visibility_and_follows_the_model(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    widget.list.item(2).setCheckState(Qt.CheckState.Unchecked)
    assert layers["image"].visible is False
    layers["image"].visible = True
    assert widget.list.item(2).checkState() == Qt.CheckState.Checked


def test_rename_in_place_and_from_the_model(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    widget.list.item(0).setText("spots")
    assert model_names(layers) == ["image", "labels", "spots"]
    widget.list.item(0).setText("image")  # taken: the list makes it unique
    assert layers[2].name == "image [1]"
    assert widget.list.item(0).text() == "image [1]"
    layers[0].name = "raw"
    assert shown_names(widget) == ["image [1]", "labels", "raw"]


def test_up_down_buttons_reorder_the_layers(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    widget.select(layers["image"])
    widget.up_button.click()
    assert model_names(layers) == ["labels", "image", "points"]
    assert shown_names(widget) == ["points", "image", "labels"]
    assert widget.selected is layers["image"]  # the selection follows the moved layer
    widget.up_button.click()
    widget.up_button.click()  # already on top: nothing happens
    assert model_names(layers) == ["labels", "points", "image"]
    widget.down_button.click()
    assert model_names(layers) == ["labels", "image", "points"]


def test_dragging_a_row_reorders_the_layers(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    # what an internal drag-and-drop does to the view's model: move the bottom row to the top
    assert widget.list.model().moveRow(QModelIndex(), 2, QModelIndex(), 0)
    qtbot.waitUntil(lambda: model_names(layers) == ["labels", "points", "image"], timeout=2000)
    assert shown_names(widget) == ["image", "points", "labels"]


def test_model_reorder_and_removal_update_rows_and_selection(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    selections: list[object] = []
    widget.selection_changed.connect(selections.append)
    layers.move(0, 2)
    assert shown_names(widget) == ["image", "points", "labels"]
    assert widget.selected is layers["points"]
    layers.remove("points")
    assert shown_names(widget) == ["image", "labels"]
    assert widget.selected is layers["image"]  # falls back to the top layer
    assert selections == [layers["image"]]


def test_new_layer_is_selected_and_delete_button_removes_it(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    extra = Image(np.ones((4, 4), np.float32), name="extra")
    layers.insert(1, extra)
    assert shown_names(widget) == ["points", "labels", "extra", "image"]
    assert widget.selected is extra
    widget.delete_button.click()
    assert "extra" not in layers
    layers.clear()
    assert widget.list.count() == 0
    assert widget.selected is None
    assert not widget.up_button.isEnabled()


def test_clicking_a_row_selects_its_layer(qtbot: QtBot) -> None:
    layers = three_layers()
    widget = make(qtbot, layers)
    widget.show()
    rect = widget.list.visualItemRect(widget.list.item(1))
    qtbot.mouseClick(widget.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert widget.selected is layers["labels"]
