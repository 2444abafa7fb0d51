"""The layer list: visibility, names, order and the selected layer.

:class:`LayerListWidget` shows a :class:`~tilescope.models.layerlist.LayerList` top
layer first (as napari does: what is drawn last is listed first). It listens to the
list's coarse ``changed`` and ``layer_changed`` signals, resolves the rows the list needs
now and applies the difference: a different order of layers rebuilds the rows (keeping
the selection), anything else only updates names and check boxes, with the widget's
signals blocked so that nothing echoes back into the models.

Users toggle visibility with the check box, rename with a double click, reorder by
dragging a row or with the up/down buttons (which call ``LayerList.move`` /
``LayerList.reorder``), and delete the selected layer. Selection is a view concern
(the models have none): :attr:`LayerListWidget.selected` and the
:attr:`LayerListWidget.selection_changed` signal carry it to the layer controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QModelIndex, QSignalBlocker, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tilescope.models.layerlist import LayerList
from tilescope.views._bind import connect_for_lifetime

__all__ = ["LayerListWidget", "LayerRow", "layer_rows"]

_LAYER_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True, slots=True)
class LayerRow:
    """What one row shows."""

    layer_key: int
    name: str
    visible: bool


def layer_rows(layers: LayerList[Any]) -> tuple[LayerRow, ...]:
    """Rows for ``layers``, top (last drawn) first."""
    return tuple(LayerRow(id(layer), layer.name, bool(layer.visible)) for layer in reversed(layers))


class LayerListWidget(QWidget):
    """Rows of layers with visibility check boxes, drag-to-reorder and a selection."""

    #: Emitted with the selected layer (or ``None``) whenever the selection changes.
    selection_changed = Signal(object)

    def __init__(self, layers: LayerList[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layers = layers
        self._rows: tuple[LayerRow, ...] = ()
        self._selected: Any = None

        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setAlternatingRowColors(True)
        self.up_button = self._tool_button("▲", "move the selected layer up (drawn later)")
        self.down_button = self._tool_button("▼", "move the selected layer down (drawn earlier)")
        self.delete_button = self._tool_button("✕", "remove the selected layer")

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.up_button)
        buttons.addWidget(self.down_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentItemChanged.connect(self._on_current_item_changed)
        self.list.model().rowsMoved.connect(self._on_rows_moved)
        # bound methods only: a lambda holding ``self`` would keep this widget alive
        self.up_button.clicked.connect(self._move_up)
        self.down_button.clicked.connect(self._move_down)
        self.delete_button.clicked.connect(self.remove_selected)
        connect_for_lifetime(self, layers.events.changed, self._sync)
        connect_for_lifetime(self, layers.events.layer_changed, self._on_layer_changed)
        connect_for_lifetime(self, layers.events.inserted, self._on_inserted)
        self._sync()
        if len(layers):
            self.select(layers[-1])

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

    # ---------------------------------------------------------------- public

    @property
    def layers(self) -> LayerList[Any]:
        """The list shown."""
        return self._layers

    @property
    def rows(self) -> tuple[LayerRow, ...]:
        """The rows currently shown, top first."""
        return self._rows

    @property
    def selected(self) -> Any:
        """The selected layer, or ``None``."""
        return self._selected

    def select(self, layer: Any) -> None:
        """Select ``layer`` (a layer of the list, or ``None`` to clear the selection)."""
        if layer is None:
            self.list.setCurrentRow(-1)
            self._set_selected(None)
            return
        row = self._row_of(layer)
        if row is None:
            raise KeyError(f"{layer!r} is not in the layer list")
        self.list.setCurrentRow(row)

    def move_selected(self, delta: int) -> None:
        """Move the selected layer ``delta`` places up (towards the top) in the drawing order."""
        layer = self._selected
        if layer is None:
            return
        index = self._layers.index(layer)
        target = min(max(index + delta, 0), len(self._layers) - 1)
        if target != index:
            self._layers.move(index, target)

    def _move_up(self) -> None:
        self.move_selected(+1)

    def _move_down(self) -> None:
        self.move_selected(-1)

    def remove_selected(self) -> None:
        """Remove the selected layer from the list."""
        if self._selected is not None:
            self._layers.remove(self._selected)

    # ---------------------------------------------------------------- model -> widget

    def _sync(self, *_: object) -> None:
        rows = layer_rows(self._layers)
        if rows == self._rows:
            return
        keys = [row.layer_key for row in rows]
        with QSignalBlocker(self.list):
            if keys != [row.layer_key for row in self._rows]:
                self._rebuild()
            for i, row in enumerate(rows):
                item = self.list.item(i)
                item.setText(row.name)
                check = Qt.CheckState.Checked if row.visible else Qt.CheckState.Unchecked
                item.setCheckState(check)
                item.setToolTip(f"{row.name} ({'visible' if row.visible else 'hidden'})")
        self._rows = rows
        self._restore_selection()

    def _rebuild(self) -> None:
        self.list.clear()
        for layer in reversed(self._layers):
            item = QListWidgetItem(layer.name)
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsEditable
                | Qt.ItemFlag.ItemIsDragEnabled
            )
            item.setData(_LAYER_ROLE, layer)
            self.list.addItem(item)

    def _restore_selection(self) -> None:
        selected = self._selected
        if selected is not None and selected not in self._layers:
            selected = self._layers[-1] if len(self._layers) else None
        row = -1 if selected is None else self._row_of(selected)
        with QSignalBlocker(self.list):
            self.list.setCurrentRow(-1 if row is None else row)
        self._set_selected(selected)

    def _on_layer_changed(self, _layer: object) -> None:
        self._sync()

    def _on_inserted(self, _index: int, layer: object) -> None:
        # napari selects a newly added layer; the rows already exist (inserted precedes changed)
        self._sync()
        self.select(layer)

    # ---------------------------------------------------------------- widget -> model

    def _layer_of(self, item: QListWidgetItem) -> Any:
        return item.data(_LAYER_ROLE)

    def _row_of(self, layer: Any) -> int | None:
        for i in range(self.list.count()):
            if self._layer_of(self.list.item(i)) is layer:
                return i
        return None

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        layer = self._layer_of(item)
        if layer is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        if bool(layer.visible) != visible:
            layer.visible = visible
        name = item.text().strip()
        if name and name != layer.name:
            layer.name = name  # the list may make it unique; _sync shows the result
        elif not name:
            with QSignalBlocker(self.list):
                item.setText(layer.name)

    def _on_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        self._set_selected(None if current is None else self._layer_of(current))

    def _on_rows_moved(
        self, _parent: QModelIndex, _start: int, _end: int, _dest: QModelIndex, _row: int
    ) -> None:
        # The drop is still in progress here; apply the new order once it has settled.
        QTimer.singleShot(0, self._apply_dragged_order)

    def _apply_dragged_order(self) -> None:
        shown = [self._layer_of(self.list.item(i)) for i in range(self.list.count())]
        current = list(self._layers)
        if len(shown) != len(current) or any(layer is None for layer in shown):
            self._rows = ()
            self._sync()
            return
        bottom_first = list(reversed(shown))
        order = [next(i for i, lay in enumerate(current) if lay is x) for x in bottom_first]
        self._layers.reorder(order)  # its ``changed`` re-syncs the rows

    def _set_selected(self, layer: Any) -> None:
        if layer is self._selected:
            return
        self._selected = layer
        has = layer is not None
        self.up_button.setEnabled(has)
        self.down_button.setEnabled(has)
        self.delete_button.setEnabled(has)
        self.selection_changed.emit(layer)
