"""FileLinesModel: a virtual view of a LogFile; rows are read by offset when painted.

Only the rows on screen are read (a small LRU of decoded, parsed lines). The model grows as
the index grows (`grow`, on the pane's timer); a filter replaces the rows with the matching
line numbers (a numpy array computed on a worker, extended as the index grows).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from console.backends.logfiles import LogFile
from console.domain.logparse import LogEntry, parse_line
from console.ui.logs.model import LogLinesModel

CACHE_LINES = 2048


class FileLinesModel(LogLinesModel):
    def __init__(self, logfile: LogFile, parent: Any = None) -> None:
        super().__init__(parent)
        self.file = logfile
        self.source = logfile.path.name
        self._shown = 0  # lines shown while unfiltered
        self._rows: np.ndarray | None = None  # line numbers shown while filtered
        self._cache: OrderedDict[int, LogEntry] = OrderedDict()

    # ---- the base model's questions
    def entry_count(self) -> int:
        return len(self._rows) if self._rows is not None else self._shown

    def line_of(self, row: int) -> int:
        return int(self._rows[row]) if self._rows is not None else row

    def entry_at(self, row: int) -> LogEntry:
        line = self.line_of(row)
        entry = self._cache.get(line)
        if entry is not None:
            self._cache.move_to_end(line)
            return entry
        text = self.file.text(line)
        parsed = parse_line(text)
        entry = LogEntry(parsed.time, self.source, parsed.level, parsed.request_id, text)
        self._cache[line] = entry
        if len(self._cache) > CACHE_LINES:
            self._cache.popitem(last=False)
        return entry

    def full_text(self, row: int) -> str:
        return self.file.raw_line(self.line_of(row))[0].decode("utf-8", "replace")

    # ---- rows
    @property
    def filtered(self) -> bool:
        return self._rows is not None

    def rows(self) -> np.ndarray:
        """Line numbers of the view's rows."""
        return self._rows if self._rows is not None else np.arange(self._shown, dtype=np.int64)

    def grow(self) -> int:
        """Show lines indexed since the last call (unfiltered); returns how many came."""
        count = len(self.file)
        if self._rows is not None or count <= self._shown:
            return 0
        self.beginInsertRows(self.index(-1, -1), self._shown, count - 1)
        added, self._shown = count - self._shown, count
        self.endInsertRows()
        return added

    def set_rows(self, rows: np.ndarray | None) -> None:
        """Show these line numbers (None: every line)."""
        self.beginResetModel()
        self._rows = rows
        self._shown = len(self.file) if rows is None else self._shown
        self.endResetModel()

    def add_rows(self, rows: np.ndarray) -> None:
        if self._rows is None or not len(rows):
            return
        first = len(self._rows)
        self.beginInsertRows(self.index(-1, -1), first, first + len(rows) - 1)
        self._rows = np.concatenate([self._rows, rows])
        self.endInsertRows()

    def view_rows_of(self, lines: np.ndarray) -> np.ndarray:
        """View rows showing any of `lines` (ascending line numbers)."""
        if self._rows is None:
            return lines[lines < self._shown]
        positions = np.searchsorted(self._rows, lines)
        inside = positions < len(self._rows)
        positions = positions[inside]
        found: np.ndarray = positions[self._rows[positions] == lines[inside]]
        return found
