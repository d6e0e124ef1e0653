"""PaletteModel: the command palette's entries, filtered by the words typed.

Entries are the window's actions, every place, endpoint and deployment (a jump), and each
item's own actions ("fraud: copy scoring URI"). With 10,000 deployments that is some 45,000
entries, so:
- an item's entries come as one PaletteGroup, made only when the group matches (a group's
  search text holds every word of its entries' search texts);
- the filter runs here in one pass, not through a proxy calling into Python for every row;
- at most `limit` matches are shown; `more` says there are others (type to narrow).
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


@dataclass(slots=True)
class PaletteGroup:
    """One item's entries (its jump and its actions), made on first need. `haystack` must
    contain every whitespace-separated word of every entry's haystack, so that a query that
    matches an entry also matches its group (tests check this of the groups Commands builds)."""

    haystack: str
    make: Callable[[], list[PaletteEntry]]
    made: list[PaletteEntry] | None = None

    def entries(self) -> list[PaletteEntry]:
        if self.made is None:
            self.made = self.make()
        return self.made


def matches(entry: PaletteEntry | PaletteGroup, words: Sequence[str]) -> bool:
    """Every word typed occurs in the entry's kind, subject, title or detail."""
    hay = entry.haystack
    return all(word in hay for word in words)


class PaletteModel(QAbstractListModel):
    def __init__(self, parent: Any = None, limit: int = 500) -> None:
        super().__init__(parent)
        self.limit = limit
        self.more = False  # more entries match than are shown
        self._entries: list[PaletteEntry | PaletteGroup] = []
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

    def set_entries(self, entries: Sequence[PaletteEntry | PaletteGroup]) -> None:
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
        words, limit = self._words, self.limit
        shown: list[PaletteEntry] = []
        self.more = False
        for item in self._entries:
            if words and not matches(item, words):
                continue
            for entry in item.entries() if isinstance(item, PaletteGroup) else (item,):
                if words and not matches(entry, words):
                    continue
                if len(shown) == limit:
                    self.more = True
                    return shown
                shown.append(entry)
        return shown

    def entry(self, row: int) -> PaletteEntry | None:
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def entries(self) -> list[PaletteEntry]:
        """The entries shown (those that match the query)."""
        return list(self._shown)
