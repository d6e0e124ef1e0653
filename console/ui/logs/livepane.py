"""LivePane: live sources followed on workers, merged in time order, pausable without loss."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QWidget

from console.backends.logstreams import LiveFeed, Row
from console.ui.logs.filters import LogFilter
from console.ui.logs.jobs import export_texts
from console.ui.logs.live import DEFAULT_MAX_LINES, LiveLinesModel
from console.ui.logs.model import SOURCE
from console.ui.logs.pane import LogPane
from console.ui.tasks import TaskRunner

MAX_HELD = 2_000_000  # lines held while paused; past this the oldest held are dropped (and counted)


class LivePane(LogPane):
    def __init__(self, key: str, title: str, runner: TaskRunner, feeds: list[LiveFeed] | None = None,
                 on_disk: str = "", max_lines: int = DEFAULT_MAX_LINES, parent: QWidget | None = None) -> None:
        self.live = LiveLinesModel(max_lines, on_disk)
        super().__init__(key, title, self.live, runner, parent)
        self.live.setParent(self)
        self.feeds: list[LiveFeed] = []
        self.paused = False
        self.held: list[Row] = []  # plain tuples (logstreams.Row), not LogEntry objects: see Row
        self.held_dropped = 0
        self._search: tuple[str, bool, bool] | None = None
        self._search_version = -1
        self.pause_action = self._action("Pause", "Pause the view; lines keep arriving and are held (Space)",
                                         checkable=True)
        self.pause_action.toggled.connect(self.set_paused)
        self.follow_action = self._action("Follow", "Keep the newest line in view", checkable=True)
        self.follow_action.setChecked(True)
        self.toolbar.insertAction(self.wrap_action, self.pause_action)
        self.toolbar.insertAction(self.wrap_action, self.follow_action)
        for feed in feeds or []:
            self.add_feed(feed)

    def add_feed(self, feed: LiveFeed) -> None:
        self.feeds.append(feed)
        self.runner.submit(feed.run, name=f"log stream of {feed.source.label}")

    # ------------------------------------------------------------ arrivals
    def tick(self) -> None:
        batch: list[Row] = []
        for feed in self.feeds:
            batch.extend(feed.drain())
        if self.paused:
            self.held.extend(batch)
            excess = len(self.held) - MAX_HELD
            if excess > 0:
                del self.held[:excess]
                self.held_dropped += excess
            self.show_status(f"paused · {len(self.held):,} lines held")
            return
        self.push(batch)
        states = sorted({feed.state for feed in self.feeds if feed.state != "live"})
        text = "; ".join(states) if states else ("following" if self.feeds else "")
        self.show_status(f"{self.live.entry_count():,} lines · {text}" if text else
                         f"{self.live.entry_count():,} lines")

    def push(self, batch: Sequence[Row]) -> None:
        """Show `batch` (LogEntry objects or Rows), merged in time order."""
        if not batch:
            return
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        if self.live.append(batch):
            self.filter_bar.add_sources(sorted(self.live.sources))
            self._fit_source_column()
        if self.follow_action.isChecked() and at_bottom:
            self.view.scrollToBottom()

    def _fit_source_column(self) -> None:
        """Widen the Source column to the longest source (a pod/container name), up to a third of the view."""
        font = QFont(self.view.font())
        font.setBold(True)  # error lines are bold
        metrics = QFontMetrics(font)
        wanted = max((metrics.horizontalAdvance(s) for s in self.live.sources), default=0) + 16
        limit = max(140, self.view.viewport().width() // 3)
        if wanted > self.view.columnWidth(SOURCE):
            self.view.setColumnWidth(SOURCE, min(wanted, limit))

    def set_paused(self, paused: bool) -> None:
        if self.pause_action.isChecked() != paused:
            self.pause_action.setChecked(paused)
            return
        self.paused = paused
        if not paused:
            held, self.held = self.held, []
            self.push(held)
            if self.held_dropped:
                self.report(f"{self.held_dropped:,} lines held while paused did not fit and were dropped", "warning")
                self.held_dropped = 0

    # ------------------------------------------------------------ filter, search, time
    def apply_filter(self, log_filter: LogFilter) -> None:
        try:
            self.live.set_filter(log_filter)
        except re.error as exc:
            self.report(f"the filter is not a valid regular expression: {exc}", "error")
            return
        self._search_version = -1

    def start_search(self, text: str, regex: bool, case: bool) -> None:
        self._search = (text, regex, case)
        try:
            pattern = re.compile(text if regex else re.escape(text), 0 if case else re.IGNORECASE)
        except re.error as exc:
            self.report(f"not a valid regular expression: {exc}", "error")
            return
        self._search_version = self.live.version
        self.set_matches(np.asarray(self.live.find(pattern), dtype=np.int64))

    def step(self, delta: int) -> None:
        if self._search is not None and self._search_version != self.live.version:
            self.start_search(*self._search)  # lines came or went since: count again
        super().step(delta)

    def jump_to_time(self, moment: float) -> None:
        if self.live.entry_count():
            self.follow_action.setChecked(False)
            self.go_to_row(self.live.row_for_time(moment))

    def export_to(self, path: Path) -> None:
        texts = [self.live.full_text(row) for row in range(self.live.entry_count())]
        self.run_job("export", f"exporting to {path.name}", export_texts, texts, path,
                     on_done=lambda count: self.report(f"exported {count:,} lines to {path}"))

    def request_entries(self, request_id: str, deliver: Callable[[list[Any]], None]) -> None:
        deliver(self.live.rows_with_request(request_id))

    def shutdown(self) -> None:
        for feed in self.feeds:
            feed.stop()
        super().shutdown()
