"""PlacesPanel: the places dock — every place with its health, and add/edit/remove."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Signal, SignalInstance
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QPushButton, QTreeView, QVBoxLayout, QWidget

from console.backends.base import PlaceKind
from console.backends.places import PlaceConfig
from console.ui.models.places import PLACE_ROLE, PlacesTreeModel


class PlacesPanel(QWidget):
    sig_place_selected = Signal(str)  # place id ("" for none)
    sig_add_requested = Signal()
    sig_edit_requested = Signal(str)
    sig_remove_requested = Signal(str)

    def __init__(self, model: PlacesTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("placesPanel")
        self.model = model
        self.tree = QTreeView(self)
        self.tree.setObjectName("placesTree")
        self.tree.setAccessibleName("Places and their health")
        self.tree.setModel(model)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setUniformRowHeights(True)
        self.tree.expandAll()
        self.tree.setColumnWidth(0, 170)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        self.tree.selectionModel().currentChanged.connect(self._on_tree_current_changed)
        self.tree.doubleClicked.connect(lambda _index: self._emit_for_current(self.sig_edit_requested))
        self.add_button = self._button("Add…", "Add a place", "addPlace")
        self.edit_button = self._button("Edit…", "Edit the selected place", "editPlace")
        self.remove_button = self._button("Remove", "Remove the selected place", "removePlace")
        self.add_button.clicked.connect(self.sig_add_requested)
        self.edit_button.clicked.connect(lambda: self._emit_for_current(self.sig_edit_requested))
        self.remove_button.clicked.connect(lambda: self._emit_for_current(self.sig_remove_requested))
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._update_buttons()

    def _button(self, text: str, accessible: str, name: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(accessible)
        button.setToolTip(accessible)
        return button

    def current_place(self) -> PlaceConfig | None:
        config = self.tree.currentIndex().siblingAtColumn(0).data(PLACE_ROLE)
        return config if isinstance(config, PlaceConfig) else None

    def select(self, place_id: str) -> None:
        index = self.model.find(place_id)
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _emit_for_current(self, signal: SignalInstance) -> None:
        config = self.current_place()
        if config is not None:
            signal.emit(config.id)

    def _update_buttons(self) -> None:
        config = self.current_place()
        editable = config is not None and not config.auto
        kube = config is not None and config.kind == PlaceKind.KUBERNETES  # its settings: namespaces, read-only
        self.edit_button.setEnabled(editable or kube)
        self.edit_button.setToolTip("Namespaces and read-only for this Kubernetes context" if kube
                                    else "Edit the selected place")
        self.remove_button.setEnabled(editable)

    def _on_model_rows_inserted(self, parent: QModelIndex, _first: int, _last: int) -> None:
        if parent.isValid():
            self.tree.expand(parent)

    def _on_tree_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()
        config = self.current_place()
        self.sig_place_selected.emit(config.id if config else "")
