"""PaletteModel: the command palette's entries (actions, places, endpoints, deployments)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 30


@dataclass(frozen=True)
class PaletteEntry:
    kind: str  # action, place, endpoint, deployment
    title: str
    detail: str
    run: Callable[[], Any]
    shortcut: str = ""

    def text(self) -> str:
        return f"{self.kind}: {self.title}"

    def haystack(self) -> str:
        return f"{self.kind} {self.title} {self.detail}".lower()


class PaletteModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._entries: list[PaletteEntry] = []

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            hint = f"    {entry.shortcut}" if entry.shortcut else ""
            return f"{entry.text()}{hint}"
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.StatusTipRole):
            return entry.detail
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{entry.text()}, {entry.detail}"
        if role == ENTRY_ROLE:
            return entry
        return None

    def set_entries(self, entries: Sequence[PaletteEntry]) -> None:
        """Entries are rebuilt each time the palette opens, so a reset is right here."""
        self.beginResetModel()
        self._entries = list(entries)
        self.endResetModel()


class PaletteFilter(QSortFilterProxyModel):
    """Every word typed must occur in the entry's kind, title or detail."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []

    def set_query(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self._words = text.lower().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self._words = text.lower().split()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self._words:
            return True
        entry = self.sourceModel().index(source_row, 0, source_parent).data(ENTRY_ROLE)
        hay = entry.haystack() if isinstance(entry, PaletteEntry) else ""
        return all(word in hay for word in self._words)
