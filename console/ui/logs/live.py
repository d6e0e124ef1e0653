"""LiveLinesModel: live lines of several sources merged in time order, bounded in size.

Batches (about ten a second) are merged by time into the buffer: lines later than the last
shown are appended as one row insert; a line older than the tail (another source's, a bit
late) re-inserts only the tail it belongs in. Past `max_lines` the oldest lines leave the
view and row 0 becomes a marker saying how many; the engine's file on disk keeps them all.

Lines are kept as plain tuples, not LogEntry objects: the garbage collector stops tracking a
plain tuple of strings and numbers, so 50,000 kept lines neither lengthen its full passes nor,
churning at 10,000 a second, make it run them every few seconds.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

from console.backends.logstreams import Row, as_row
from console.domain.logparse import LogEntry
from console.ui.logs.filters import LogFilter
from console.ui.logs.model import LogLinesModel

_make = LogEntry._make
DEFAULT_MAX_LINES = 50_000
MAX_REORDER = 5_000  # a late line goes at most this far back; older ones are shown at that point


class LiveLinesModel(LogLinesModel):
    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, on_disk: str = "", parent: Any = None) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self.on_disk = on_disk  # where the complete log is kept, for the marker row
        self.dropped = 0  # lines dropped from the front; positions below are absolute (dropped + index)
        self.sources: set[str] = set()
        self.version = 0  # changes with every append or filter
        self._entries: list[Row] = []  # plain tuples, not LogEntry objects (see above)
        self._times: list[float] = []
        self._filter = LogFilter()
        self._match: Any = None
        self._view: list[int] | None = None  # absolute positions shown when filtered

    # ---- the base model's questions
    def entry_count(self) -> int:
        return len(self._view) if self._view is not None else len(self._entries)

    def entry_at(self, row: int) -> LogEntry:
        position = self._view[row] - self.dropped if self._view is not None else row
        return _make(self._entries[position])

    def marker_rows(self) -> int:
        return 1 if self.dropped else 0

    def marker_text(self) -> str:
        if not self.dropped:
            return ""
        where = f"; {self.on_disk} keeps every line" if self.on_disk else ""
        return (f"— {self.dropped:,} older lines dropped from view (it keeps the newest {self.max_lines:,}){where} —")

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[LogEntry]:
        return [_make(row) for row in self._entries]

    # ---- filter
    @property
    def filter(self) -> LogFilter:
        return self._filter

    def set_filter(self, log_filter: LogFilter) -> None:
        match = log_filter.matcher() if log_filter.active else None  # raises re.error before anything changes
        self.beginResetModel()
        self._filter, self._match = log_filter, match
        self._view = (None if match is None else
                      [self.dropped + i for i, row in enumerate(self._entries) if match(_make(row))])
        self.version += 1
        self.endResetModel()

    # ---- appending
    def append(self, batch: Iterable[Row]) -> bool:
        """Merge `batch` (LogEntry objects or Rows) in time order; True if it brought a source not seen before."""
        fresh = list(batch)
        if not fresh:
            return False
        last = self._times[-1] if self._times else 0.0
        keyed = []
        for entry in fresh:
            last = entry[0] if entry[0] is not None else last
            keyed.append((last, entry if type(entry) is tuple else as_row(entry)))  # type: ignore[arg-type]
        keyed.sort(key=lambda pair: pair[0])
        size = len(self._entries)
        keep = size
        if size and keyed[0][0] < self._times[-1]:
            keep = max(bisect_right(self._times, keyed[0][0]), size - MAX_REORDER)
        merged = keyed if keep == size else list(heapq.merge(
            zip(self._times[keep:], self._entries[keep:], strict=True), keyed, key=lambda pair: pair[0]))
        self._replace_tail(keep, merged)
        self._trim()
        self.version += 1
        before = len(self.sources)
        self.sources.update(entry[1] for entry in fresh)
        return len(self.sources) != before

    def _replace_tail(self, keep: int, merged: list[tuple[float, Row]]) -> None:
        marker = self.marker_rows()
        start_abs = self.dropped + keep
        if self._view is not None:
            first_row = bisect_left(self._view, start_abs)
            old_rows = len(self._view) - first_row
        else:
            first_row, old_rows = keep, len(self._entries) - keep
        if old_rows:
            self.beginRemoveRows(self.index(-1, -1), marker + first_row, marker + first_row + old_rows - 1)
        del self._entries[keep:], self._times[keep:]
        if self._view is not None:
            del self._view[first_row:]
        if old_rows:
            self.endRemoveRows()
        new_view: list[int] | None = None
        if self._match is not None:
            new_view = [start_abs + i for i, (_t, row) in enumerate(merged) if self._match(_make(row))]
            count = len(new_view)
        else:
            count = len(merged)
        if count:
            self.beginInsertRows(self.index(-1, -1), marker + first_row, marker + first_row + count - 1)
        self._times.extend(t for t, _e in merged)
        self._entries.extend(e for _t, e in merged)
        if self._view is not None and new_view is not None:
            self._view.extend(new_view)
        if count:
            self.endInsertRows()

    def _trim(self) -> None:
        excess = len(self._entries) - self.max_lines
        if excess <= max(1, self.max_lines // 20):  # trim in steps, not on every batch
            return
        marker = self.marker_rows()
        gone_abs = self.dropped + excess
        rows = bisect_left(self._view, gone_abs) if self._view is not None else excess
        if rows:
            self.beginRemoveRows(self.index(-1, -1), marker, marker + rows - 1)
        del self._entries[:excess], self._times[:excess]
        if self._view is not None:
            del self._view[:rows]
        self.dropped += excess
        if rows:
            self.endRemoveRows()
        if not marker:
            self.beginInsertRows(self.index(-1, -1), 0, 0)
            self.endInsertRows()
        else:
            self.dataChanged.emit(self.index(0, 0), self.index(0, self.columnCount() - 1))

    # ---- search and time
    def find(self, pattern: re.Pattern[str]) -> list[int]:
        """View rows (marker included in the numbering) whose text or source matches."""
        marker = self.marker_rows()
        search = pattern.search
        return [marker + row for row in range(self.entry_count())
                if search((entry := self.entry_at(row)).text) or search(entry.source)]

    def row_for_time(self, moment: float) -> int:
        """The first view row at or after `moment` (the last row if none)."""
        if self._view is None:
            row = bisect_left(self._times, moment)
        else:
            row = bisect_left(self._view, moment, key=lambda position: self._times[position - self.dropped])
        return self.marker_rows() + min(row, max(0, self.entry_count() - 1))

    def rows_with_request(self, request_id: str) -> list[LogEntry]:
        return [_make(row) for row in self._entries if row[3] == request_id or request_id in row[4]]
