"""CommandPalette (Ctrl+K): jump to any place, endpoint or deployment, or run an action of
the window or of one item; type to filter, arrows to choose, Enter to run."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from console.ui.models.palette import ENTRY_ROLE, PaletteEntry, PaletteGroup, PaletteModel

_MOVES = {int(Qt.Key.Key_Down): 1, int(Qt.Key.Key_Up): -1, int(Qt.Key.Key_PageDown): 10, int(Qt.Key.Key_PageUp): -10}


class CommandPalette(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("commandPalette")
        self.setWindowTitle("Command palette")
        self.setAccessibleName("Command palette")
        self.setModal(True)
        self.resize(620, 420)
        self.model = PaletteModel(self)
        self.edit = QLineEdit(self)
        self.edit.setObjectName("paletteQuery")
        self.edit.setAccessibleName("Search places, endpoints, deployments and actions")
        self.edit.setPlaceholderText("Jump to a place, endpoint or deployment, or run an action (e.g. fraud copy)…")
        self.list = QListView(self)
        self.list.setObjectName("paletteList")
        self.list.setAccessibleName("Matching entries")
        self.list.setModel(self.model)
        self.list.setUniformItemSizes(True)
        self.more = QLabel("", self)
        self.more.setObjectName("paletteMore")
        self.more.setAccessibleName("More matches")
        self.more.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        layout.addWidget(self.more)
        self.edit.textChanged.connect(self._on_edit_text_changed)
        self.edit.returnPressed.connect(self.run_current)
        self.list.activated.connect(self._on_list_activated)
        self.edit.installEventFilter(self)

    def open_with(self, entries: Sequence[PaletteEntry | PaletteGroup]) -> None:
        self.edit.clear()
        self.model.set_entries(entries)
        self._on_model_filtered()
        self.show()
        self.raise_()
        self.activateWindow()
        self.edit.setFocus()

    def shown_entries(self) -> list[PaletteEntry]:
        return self.model.entries()

    def _select_row(self, row: int) -> None:
        count = self.model.rowCount()
        if count:
            self.list.setCurrentIndex(self.model.index(max(0, min(row, count - 1)), 0))

    def _on_edit_text_changed(self, text: str) -> None:
        self.model.set_query(text)
        self._on_model_filtered()

    def _on_model_filtered(self) -> None:
        self._select_row(0)
        self.more.setText(f"The first {self.model.limit} matches are shown: type to narrow." if self.model.more
                          else "")
        self.more.setVisible(self.model.more)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            step = _MOVES.get(int(event.key()))
            if step is not None:
                self._select_row(self.list.currentIndex().row() + step)
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
