"""Item models of log lines: a base table with level colours, over a file or a live buffer."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.domain.logparse import CRITICAL, DEBUG, ERROR, LEVELS, TRACE, WARNING, LogEntry, format_time

COLUMNS = ("Time (UTC)", "Source", "Level", "Request id", "Message")
TIME, SOURCE, LEVEL, REQUEST, MESSAGE = range(5)
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
MARKER_ROLE = Qt.ItemDataRole.UserRole + 2
LEVEL_COLOURS = {TRACE: QColor("#8a8a8a"), DEBUG: QColor("#8a8a8a"), WARNING: QColor("#b36b00"),
                 ERROR: QColor("#d02020"), CRITICAL: QColor("#ffffff")}
CRITICAL_BACKGROUND = QColor("#b01010")
MARKER_BACKGROUND = QColor("#fff2c0")
MARKER_FOREGROUND = QColor("#5a4500")
REQUEST_COLOUR = QColor("#1a5fb4")
AnyIndex = QModelIndex | QPersistentModelIndex
# A row as the delegate paints it: the five cell texts, the text colour (None: the palette's),
# the request id's colour, the background (None: the view's), bold.
RowLook = tuple[tuple[str, str, str, str, str], QColor | None, QColor | None, QColor | None, bool]


class LogLinesModel(QAbstractTableModel):
    """Rows are log entries (`entry_at`); row 0 may be a marker row (`marker_text`)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._bold = QFont()
        self._bold.setBold(True)

    # ---- for subclasses
    def entry_count(self) -> int:
        raise NotImplementedError

    def entry_at(self, row: int) -> LogEntry:
        """The entry of view row `row` (marker row excluded)."""
        raise NotImplementedError

    def full_text(self, row: int) -> str:
        """The whole line of view row `row`, for copying (a cut line whole)."""
        entry = self.entry_at(row)
        prefix = f"{format_time(entry.time)} {entry.source} " if entry.source else ""
        return prefix + entry.text

    def marker_text(self) -> str:
        return ""

    # ---- rows
    def marker_rows(self) -> int:
        return 1 if self.marker_text() else 0

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount() (two more Python calls) for every cell painted
        if 0 <= column < 5 and 0 <= row < self.entry_count() + self.marker_rows() and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self.entry_count() + self.marker_rows()

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < 5:
            return COLUMNS[section]
        return None

    def entry_row(self, view_row: int) -> int | None:
        """The entry index of a view row, None for the marker row."""
        marker = self.marker_rows()
        return None if view_row < marker else view_row - marker

    def row_look(self, view_row: int) -> RowLook | None:
        """How view row `view_row` is painted (LogTable); None for the marker row."""
        row = self.entry_row(view_row)
        if row is None or row >= self.entry_count():
            return None
        entry = self.entry_at(row)  # not cached: following a busy log, each repaint shows new rows anyway
        critical = entry.level == CRITICAL
        return ((format_time(entry.time), entry.source, LEVELS[entry.level], entry.request_id, entry.text),
                LEVEL_COLOURS.get(entry.level), None if critical else REQUEST_COLOUR,
                CRITICAL_BACKGROUND if critical else None, entry.level >= ERROR)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.entry_row(index.row())
        if row is None:
            return self._marker_data(index.column(), role)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole,
                        Qt.ItemDataRole.ToolTipRole, ENTRY_ROLE, Qt.ItemDataRole.FontRole):
            return None
        if row >= self.entry_count():
            return None
        entry = self.entry_at(row)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == TIME:
                return format_time(entry.time)
            if column == SOURCE:
                return entry.source
            if column == LEVEL:
                return LEVELS[entry.level]
            if column == REQUEST:
                return entry.request_id
            return entry.text
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == REQUEST and entry.request_id:
                return QBrush(REQUEST_COLOUR) if entry.level != CRITICAL else None
            colour = LEVEL_COLOURS.get(entry.level)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(CRITICAL_BACKGROUND) if entry.level == CRITICAL else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == REQUEST and entry.request_id:
                return f"Show every line of request {entry.request_id} across the open logs"
            return None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if entry.level >= ERROR else None
        return entry

    def _marker_data(self, column: int, role: int) -> Any:
        if role == MARKER_ROLE:
            return True
        if role == Qt.ItemDataRole.DisplayRole and column == MESSAGE:
            return self.marker_text()
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(MARKER_BACKGROUND)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(MARKER_FOREGROUND)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self.entry_row(index.row()) is None:
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
