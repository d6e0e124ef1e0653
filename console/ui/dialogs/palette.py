"""CommandPalette (Ctrl+K): jump to any place, endpoint or deployment, or run an action."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLineEdit, QListView, QVBoxLayout, QWidget

from console.ui.models.palette import ENTRY_ROLE, PaletteEntry, PaletteFilter, PaletteModel


class CommandPalette(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("commandPalette")
        self.setWindowTitle("Command palette")
        self.setAccessibleName("Command palette")
        self.setModal(True)
        self.resize(560, 380)
        self.model = PaletteModel(self)
        self.filter = PaletteFilter(self)
        self.filter.setSourceModel(self.model)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("paletteQuery")
        self.edit.setAccessibleName("Search places, endpoints, deployments and actions")
        self.edit.setPlaceholderText("Jump to a place, endpoint or deployment, or run an action…")
        self.list = QListView(self)
        self.list.setObjectName("paletteList")
        self.list.setAccessibleName("Matching entries")
        self.list.setModel(self.filter)
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.edit.textChanged.connect(self._on_edit_text_changed)
        self.edit.returnPressed.connect(self.run_current)
        self.list.activated.connect(self._on_list_activated)
        self.edit.installEventFilter(self)

    def open_with(self, entries: Sequence[PaletteEntry]) -> None:
        self.model.set_entries(entries)
        self.edit.clear()
        self._select_first()
        self.show()
        self.raise_()
        self.activateWindow()
        self.edit.setFocus()

    def _select_first(self) -> None:
        if self.filter.rowCount():
            self.list.setCurrentIndex(self.filter.index(0, 0))

    def _on_edit_text_changed(self, text: str) -> None:
        self.filter.set_query(text)
        self._select_first()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentIndex().row() + (1 if event.key() == Qt.Key.Key_Down else -1)
                if 0 <= row < self.filter.rowCount():
                    self.list.setCurrentIndex(self.filter.index(row, 0))
                return True
        return super().eventFilter(watched, event)

    def _on_list_activated(self, index: QModelIndex) -> None:
        self.list.setCurrentIndex(index)
        self.run_current()

    def run_current(self) -> None:
        entry = self.list.currentIndex().data(ENTRY_ROLE)
        if not isinstance(entry, PaletteEntry):
            return
        self.accept()
        entry.run()
