"""PaletteModel: the command palette's entries, filtered by the words typed.

Entries are the window's actions, every place, endpoint and deployment (a jump), and each
item's own actions ("fraud: copy scoring URI"). With 10,000 deployments that is some 45,000
entries, so the filter runs here in one pass over precomputed search texts rather than
through a proxy that calls back into Python for every row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 30


@dataclass(frozen=True, slots=True)
class PaletteEntry:
    """One line of the palette. `subject` names the item an item action applies to ("fraud");
    it is empty for jumps and for the window's actions."""

    kind: str  # action, place, endpoint, deployment
    title: str
    detail: str
    run: Callable[[], Any]
    shortcut: str = ""
    subject: str = ""
    haystack: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "haystack", f"{self.kind} {self.subject} {self.title} {self.detail}".lower())

    def text(self) -> str:
        return f"{self.subject}: {self.title}" if self.subject else f"{self.kind}: {self.title}"


def matches(entry: PaletteEntry, words: Sequence[str]) -> bool:
    """Every word typed occurs in the entry's kind, subject, title or detail."""
    hay = entry.haystack
    return all(word in hay for word in words)


class PaletteModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._entries: list[PaletteEntry] = []
        self._shown: list[PaletteEntry] = []
        self._words: list[str] = []

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._shown):
            return None
        entry = self._shown[index.row()]
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
        self._shown = self._filtered()
        self.endResetModel()

    def set_query(self, text: str) -> None:
        words = text.lower().split()
        if words == self._words:
            return
        self.beginResetModel()
        self._words = words
        self._shown = self._filtered()
        self.endResetModel()

    def _filtered(self) -> list[PaletteEntry]:
        if not self._words:
            return list(self._entries)
        words = self._words
        return [e for e in self._entries if matches(e, words)]

    def entry(self, row: int) -> PaletteEntry | None:
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def entries(self) -> list[PaletteEntry]:
        """The entries shown (those that match the query)."""
        return list(self._shown)
