"""FilePane: a local log file, shown while its index grows; filter and search on workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QWidget

from console.backends.logfiles import LogFile
from console.ui.logs.filemodel import FileLinesModel
from console.ui.logs.filters import LogFilter
from console.ui.logs.jobs import Job, export_file, filter_lines, line_at_time, request_entries, search_lines
from console.ui.logs.pane import LogPane
from console.ui.tasks import TaskRunner

FILTER_STEP = 200_000  # while indexing, filter the new lines once this many have come


def _build(logfile: LogFile, job: Job) -> Any:
    return logfile.build(job.cancel)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


class FilePane(LogPane):
    def __init__(self, logfile: LogFile, runner: TaskRunner, parent: QWidget | None = None) -> None:
        self.file = logfile
        self.lines = FileLinesModel(logfile)
        super().__init__(f"file:{logfile.path.resolve()}", logfile.path.name, self.lines, runner, parent)
        self.lines.setParent(self)
        self._filter = LogFilter()
        self._filtered_to = 0
        self._search: tuple[str, bool, bool] | None = None
        self._searched_to = 0
        self.indexed = False
        self.run_job("index", "indexing", _build, logfile, on_done=self._on_index_done)

    # ------------------------------------------------------------ index
    def tick(self) -> None:
        progress = self.file.progress
        job = self.jobs.get("index")
        if job is not None:
            job.progress = progress.fraction
        self.lines.grow()
        if self._filter.active and "filter" not in self.jobs and len(self.file) > self._filtered_to and (
                self.indexed or len(self.file) - self._filtered_to >= FILTER_STEP):
            self._filter_more()
        self._show_status()

    def _show_status(self) -> None:
        shown = self.lines.entry_count()
        total = len(self.file)
        parts = [f"{shown:,} of {total:,} lines" if self.lines.filtered else f"{total:,} lines",
                 f"{self.file.kind}, {_human(self.file.size)}"]
        if not self.indexed:
            parts.append(f"indexing {self.file.progress.fraction:.0%}")
        parts.extend(self.file.progress.notes)
        if self.file.progress.error:
            parts.append(self.file.progress.error)
        self.show_status(" · ".join(parts))

    def _on_index_done(self, _progress: Any) -> None:
        self.indexed = True
        self.lines.grow()
        for note in self.file.progress.notes:
            self.report(f"{self.file.path.name}: {note}", "warning")
        if self.file.progress.error:
            self.report(self.file.progress.error, "error")
        if self._search is not None and self._searched_to < len(self.file):
            self.start_search(*self._search)  # searched while indexing: search the whole file now
        self._show_status()

    # ------------------------------------------------------------ filter
    def apply_filter(self, log_filter: LogFilter) -> None:
        self.cancel_job("filter")
        self._filter = log_filter
        self._filtered_to = 0
        self.lines.set_rows(np.empty(0, dtype=np.int64) if log_filter.active else None)
        if log_filter.active:
            self._filter_more()
        if self._search is not None:
            self.start_search(*self._search)

    def _filter_more(self) -> None:
        first, last = self._filtered_to, len(self.file)
        self.run_job("filter", "filtering", filter_lines, self.file, self._filter, first, last,
                     on_done=lambda rows: self._on_filter_done(rows, last))

    def _on_filter_done(self, rows: np.ndarray, last: int) -> None:
        self._filtered_to = last
        self.lines.add_rows(rows)
        if self._search is not None:
            self.start_search(*self._search)

    # ------------------------------------------------------------ search, time
    def start_search(self, text: str, regex: bool, case: bool) -> None:
        self._search = (text, regex, case)
        searched_to = len(self.file)
        self.run_job("search", "searching", search_lines, self.file, text, regex, case,
                     on_done=lambda lines: self._on_search_done(lines, searched_to))

    def _on_search_done(self, lines: np.ndarray, searched_to: int) -> None:
        self._searched_to = searched_to
        note = "" if self.indexed else f" in the first {searched_to:,} lines (indexing)"
        self.set_matches(self.lines.view_rows_of(lines), note)

    def jump_to_time(self, moment: float) -> None:
        self.run_job("jump", "finding the time", line_at_time, self.file, moment, on_done=self._on_jump_done)

    def _on_jump_done(self, line: int) -> None:
        rows = self.lines.rows()
        row = int(np.searchsorted(rows, line)) if self.lines.filtered else line
        self.go_to_row(min(row, max(0, self.lines.entry_count() - 1)))

    # ------------------------------------------------------------ export, requests, close
    def export_to(self, path: Path) -> None:
        rows = self.lines.rows() if self.lines.filtered else None
        self.run_job("export", f"exporting to {path.name}", export_file, self.file, rows, path,
                     on_done=lambda count: self.report(f"exported {count:,} lines to {path}"))

    def request_entries(self, request_id: str, deliver: Callable[[list[Any]], None]) -> None:
        self.run_job("request", f"finding request {request_id}", request_entries, self.file, request_id,
                     on_done=deliver)

    def shutdown(self) -> None:
        super().shutdown()
        self.file.close()
