"""LogPane: one log (live sources or a file) in a virtual table, with its bars and its jobs.

The table reads only the rows on screen. A timer (10 Hz) brings in what arrived (live lines,
index growth) and shows the progress of background jobs; jobs run on the TaskRunner and a new
job of a kind cancels the previous one. Subclasses: LivePane, FilePane.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from console.ui.logs.bars import FilterBar, SearchBar
from console.ui.logs.filters import LogFilter
from console.ui.logs.jobs import Job
from console.ui.logs.model import ENTRY_ROLE, MESSAGE, REQUEST, SOURCE, TIME, LogLinesModel
from console.ui.logs.table import LogTable
from console.ui.tasks import TaskRunner

TICK_MS = 100
DEFAULT_FONT_PT = 10


class LogPane(QWidget):
    sig_request_clicked = Signal(str)  # a request id to show across every open log
    sig_filter_changed = Signal(str, object)  # source key, LogFilter: the dock remembers it
    sig_message_reported = Signal(str, str)  # text, level ("error", "warning", "info")

    def __init__(self, key: str, title: str, model: LogLinesModel, runner: TaskRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logPane")
        self.key, self.title, self.model, self.runner = key, title, model, runner
        self.jobs: dict[str, Job] = {}
        self.matches = np.empty(0, dtype=np.int64)  # view rows, ascending
        self._match = -1
        self._wrapped: set[int] = set()
        self.last_message = ""
        self._figures = ""
        self.filter_bar = FilterBar(self)
        self.search_bar = SearchBar(self)
        self.view = LogTable(self)
        self.view.setObjectName("logView")
        self.view.setAccessibleName(f"Log lines of {title}")
        self.view.setModel(model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in ((TIME, 190), (SOURCE, 140), (2, 64), (REQUEST, 110)):
            self.view.setColumnWidth(column, width)
        self.toolbar = QToolBar(self)
        self.status = QLabel("", self)
        self.status.setObjectName("logStatus")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("logProgress")
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.wrap_action = self._action("Wrap", "Wrap long lines", checkable=True)
        self.wrap_action.toggled.connect(self.set_wrap)
        self.font_size = QSpinBox(self)
        self.font_size.setObjectName("logFontSize")
        self.font_size.setAccessibleName("Font size")
        self.font_size.setRange(6, 32)
        self.font_size.setSuffix(" pt")
        self.font_size.valueChanged.connect(self.set_font_size)
        self.copy_action = self._action("Copy", "Copy the selected lines (Ctrl+C)")
        self.copy_action.triggered.connect(self.copy_selected)
        self.export_action = self._action("Export…", "Save the lines shown (filter applied) to a file")
        self.export_action.triggered.connect(self.export_dialog)
        self.toolbar.addWidget(self.font_size)
        top = QHBoxLayout()
        top.addWidget(self.toolbar)
        top.addStretch(1)
        top.addWidget(self.progress)
        top.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.view, 1)

        self.filter_bar.sig_filter_changed.connect(self._on_filter_bar_filter_changed)
        self.search_bar.sig_search_requested.connect(self._on_search_bar_search_requested)
        self.search_bar.sig_step_requested.connect(self.step)
        self.search_bar.sig_time_requested.connect(self.jump_to_time)
        self.view.clicked.connect(self._on_view_clicked)
        for keys, slot in ((QKeySequence.StandardKey.Copy, self.copy_selected), ("F3", lambda: self.step(1)),
                           ("Shift+F3", lambda: self.step(-1)), (QKeySequence.StandardKey.Find, self.focus_search)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.view.verticalScrollBar().valueChanged.connect(lambda _v: self._fit_rows_soon())
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(30)
        self._fit_timer.timeout.connect(self._fit_visible_rows)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self.set_font_size(DEFAULT_FONT_PT)
        for box in self.findChildren(QAbstractSpinBox):  # their inner line edits take the box's name
            for edit in box.findChildren(QLineEdit):
                edit.setAccessibleName(box.accessibleName())

    def _action(self, text: str, tip: str, checkable: bool = False) -> QAction:
        action = self.toolbar.addAction(text)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        action.setObjectName(f"log{text.strip('…')}Action")
        return action

    # ------------------------------------------------------------ for subclasses
    def tick(self) -> None:
        """Bring in what arrived (timer, GUI thread)."""

    def apply_filter(self, log_filter: LogFilter) -> None:
        raise NotImplementedError

    def start_search(self, text: str, regex: bool, case: bool) -> None:
        raise NotImplementedError

    def jump_to_time(self, moment: float) -> None:
        raise NotImplementedError

    def export_to(self, path: Path) -> None:
        raise NotImplementedError

    def request_entries(self, request_id: str, deliver: Callable[[list[Any]], None]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ jobs
    def run_job(self, kind: str, what: str, fn: Callable[..., Any], *args: Any,
                on_done: Callable[[Any], None]) -> Job:
        """Run `fn(*args, job)` on a worker; a running job of the same kind is cancelled first."""
        self.cancel_job(kind)
        job = Job(what)
        self.jobs[kind] = job

        def done(result: Any) -> None:
            if self.jobs.get(kind) is job:
                del self.jobs[kind]
                on_done(result)

        def failed(error: BaseException) -> None:
            if self.jobs.get(kind) is job:
                del self.jobs[kind]
                self.report(str(error), "error")

        job.task_id = self.runner.submit(fn, *args, job, on_done=done, on_error=failed, name=f"log {kind}")
        return job

    def cancel_job(self, kind: str) -> None:
        job = self.jobs.pop(kind, None)
        if job is not None:
            job.cancel.set()
            self.runner.cancel(job.task_id)

    def busy(self) -> bool:
        return bool(self.jobs)

    def shutdown(self) -> None:
        """Stop the timer and cancel every job (the pane is closing)."""
        self._timer.stop()
        for kind in list(self.jobs):
            self.cancel_job(kind)

    def report(self, text: str, level: str = "info") -> None:
        """Say `text` in the status line (kept after the figures until the next message) and to the dock."""
        self.last_message = text
        self.show_status(self._figures)
        self.sig_message_reported.emit(text, level)

    def show_status(self, figures: str) -> None:
        self._figures = figures
        text = " · ".join(t for t in (figures, self.last_message) if t)
        if self.status.text() != text:
            self.status.setText(text)
            self.status.setToolTip(text)

    def _on_timer_timeout(self) -> None:
        self.tick()
        if self.jobs:
            job = min(self.jobs.values(), key=lambda j: j.progress)
            self.progress.setFormat(f"{job.what} %p%")
            self.progress.setValue(int(job.progress * 1000))
            self.progress.show()
        else:
            self.progress.hide()

    # ------------------------------------------------------------ filter and search
    def restore_filter(self, log_filter: LogFilter) -> None:
        self.filter_bar.set_filter(log_filter)
        if log_filter.active:
            self.apply_filter(log_filter)

    def _on_filter_bar_filter_changed(self, log_filter: LogFilter) -> None:
        self.sig_filter_changed.emit(self.key, log_filter)
        self.apply_filter(log_filter)

    def _on_search_bar_search_requested(self, text: str, regex: bool, case: bool) -> None:
        if not text:
            self.cancel_job("search")
            self.set_matches(np.empty(0, dtype=np.int64))
            self.search_bar.count.setText("")
            return
        self.start_search(text, regex, case)

    def set_matches(self, rows: np.ndarray, note: str = "") -> None:
        self.matches = np.asarray(rows, dtype=np.int64)
        self._match = -1
        self.search_bar.count.setText((f"{len(rows):,} matches" if len(rows) else "no match") + note)

    def step(self, delta: int) -> None:
        """Go to the next (+1) or previous (-1) match after the current row, wrapping around."""
        if not len(self.matches):
            return
        current = self.view.currentIndex().row()
        if delta > 0:
            position = int(np.searchsorted(self.matches, current, side="right"))
            position = 0 if position >= len(self.matches) else position
        else:
            position = int(np.searchsorted(self.matches, current, side="left")) - 1
            position = len(self.matches) - 1 if position < 0 else position
        self._match = position
        self.go_to_row(int(self.matches[position]))
        self.search_bar.count.setText(f"{position + 1:,} of {len(self.matches):,}")

    def go_to_row(self, row: int) -> None:
        index = self.model.index(row, MESSAGE)
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def focus_search(self) -> None:
        self.search_bar.text.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_bar.text.selectAll()

    # ------------------------------------------------------------ request ids, copy, export
    def _on_view_clicked(self, index: QModelIndex) -> None:
        entry = index.data(ENTRY_ROLE)
        if index.column() == REQUEST and entry is not None and entry.request_id:
            self.sig_request_clicked.emit(entry.request_id)

    def selected_text(self) -> str:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return "\n".join(self.model.full_text(row) for r in rows if (row := self.model.entry_row(r)) is not None)

    def copy_selected(self) -> None:
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.report(f"copied {text.count(chr(10)) + 1:,} lines")

    def export_dialog(self) -> None:
        path, _kind = QFileDialog.getSaveFileName(self, f"Export the lines shown of {self.title}",
                                                  f"{self.title.replace('/', '-')}-export.log")
        if path:
            self.export_to(Path(path))

    # ------------------------------------------------------------ look
    def set_font_size(self, points: int) -> None:
        if self.font_size.value() != points:
            self.font_size.setValue(points)
        font = self.view.font()
        font.setPointSize(points)
        self.view.setFont(font)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 6)
        self._fit_rows_soon()

    def set_wrap(self, on: bool) -> None:
        self.view.setWordWrap(on)
        if on:
            self._fit_rows_soon()
        else:
            size = self.view.verticalHeader().defaultSectionSize()
            for row in self._wrapped:
                if row < self.model.rowCount():
                    self.view.setRowHeight(row, size)
            self._wrapped.clear()

    def _fit_rows_soon(self) -> None:
        if self.view.wordWrap():
            self._fit_timer.start()

    def _fit_visible_rows(self) -> None:
        """Wrapped rows get their height only while on screen: the view stays virtual."""
        first = max(0, self.view.rowAt(0))
        last = self.view.rowAt(self.view.viewport().height())
        last = self.model.rowCount() - 1 if last < 0 else last
        for row in range(first, min(last, first + 200) + 1):
            self.view.resizeRowToContents(row)
            self._wrapped.add(row)
