"""LogsDock: tabs of live logs and log files, request-id views, remembered filters."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QStackedWidget, QTabBar, QTabWidget, QWidget

from console.backends.logfiles import LogFile, LogFileError
from console.backends.logstreams import LiveFeed, LogSource
from console.ui.logs.filepane import FilePane
from console.ui.logs.filters import LogFilter
from console.ui.logs.livepane import LivePane
from console.ui.logs.pane import DEFAULT_FONT_PT, LogPane
from console.ui.tasks import TaskRunner

FILTERS_KEY = "logs/filters"
FONT_KEY = "logs/fontSize"
MAX_REMEMBERED = 200
Report = Callable[[str, str], object]  # text, level
HINT = ("No log open.\n\nSelect a deployment and press Ctrl+L to follow its live log,\n"
        "or open a log file (File → Open log file…, or drop it here): text, JSON lines or .gz.")


def local_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    data = event.mimeData()
    return [Path(url.toLocalFile()) for url in data.urls() if url.isLocalFile()] if data.hasUrls() else []


class LogsDock(QDockWidget):
    def __init__(self, runner: TaskRunner, settings: QSettings, report: Report | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Logs", parent)
        self.setObjectName("logsDock")
        self.setAccessibleName("Logs")
        self.runner, self.settings = runner, settings
        self._report = report
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("logTabs")
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.setAccessibleName("Open logs")
        self.tabs.tabBar().setAccessibleName("Log tabs")
        self.hint = QLabel(HINT, self)
        self.hint.setObjectName("logsHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.tabs)
        self.setWidget(self.stack)
        self.setAcceptDrops(True)

    # ------------------------------------------------------------ panes
    def panes(self) -> list[LogPane]:
        return [w for i in range(self.tabs.count()) if isinstance(w := self.tabs.widget(i), LogPane)]

    def pane(self, key: str) -> LogPane | None:
        return next((p for p in self.panes() if p.key == key), None)

    def _add(self, pane: LogPane) -> LogPane:
        pane.sig_filter_changed.connect(self._on_pane_filter_changed)
        pane.sig_request_clicked.connect(self.show_request)
        pane.sig_message_reported.connect(self._on_pane_message_reported)
        pane.font_size.valueChanged.connect(self._on_pane_font_size_changed)
        pane.set_font_size(self.font_size())
        pane.restore_filter(self.remembered_filter(pane.key))
        index = self.tabs.addTab(pane, pane.title)
        self.tabs.setTabToolTip(index, pane.key.split(":", 1)[-1])
        close = self.tabs.tabBar().tabButton(index, QTabBar.ButtonPosition.RightSide)
        if close is not None:
            close.setAccessibleName(f"Close the log {pane.title}")
        self.tabs.setCurrentIndex(index)
        self.stack.setCurrentWidget(self.tabs)
        self.show()
        self.raise_()
        return pane

    def open_sources(self, key: str, title: str, sources: Sequence[LogSource], on_disk: str = "",
                     tail: int = 1000) -> LivePane:
        """Follow these live sources merged in one tab (the existing tab if `key` is open)."""
        found = self.pane(key)
        if isinstance(found, LivePane):
            self.tabs.setCurrentWidget(found)
            self.show()
            return found
        pane = LivePane(key, title, self.runner, [LiveFeed(s, tail=tail) for s in sources], on_disk=on_disk)
        self._add(pane)
        return pane

    def open_file(self, path: Path | str) -> FilePane | None:
        """Open a local log file (the existing tab if open); errors are reported, None returned."""
        path = Path(path)
        found = self.pane(f"file:{path.resolve()}")
        if isinstance(found, FilePane):
            self.tabs.setCurrentWidget(found)
            self.show()
            return found
        try:
            logfile = LogFile(path)
        except LogFileError as exc:
            self.report(str(exc), "error")
            return None
        pane = FilePane(logfile, self.runner)
        self._add(pane)
        return pane

    def open_file_dialog(self) -> None:
        paths, _kind = QFileDialog.getOpenFileNames(self, "Open log files", "",
                                                    "Logs (*.log *.txt *.json *.jsonl *.ndjson *.gz);;All files (*)")
        for path in paths:
            self.open_file(path)

    def show_request(self, request_id: str) -> LivePane:
        """A tab of every line with `request_id`, from every open log, in time order."""
        key = f"request:{request_id}"
        found = self.pane(key)
        if isinstance(found, LivePane):
            found.shutdown()
            self.close_tab(self.tabs.indexOf(found))
        sources = [p for p in self.panes() if not p.key.startswith("request:")]
        pane = LivePane(key, f"request {request_id}", self.runner)
        pane.follow_action.setChecked(False)
        self._add(pane)
        for source in sources:
            source.request_entries(request_id, pane.push)
        return pane

    def close_tab(self, index: int) -> None:
        pane = self.tabs.widget(index)
        if isinstance(pane, LogPane):
            pane.shutdown()
        self.tabs.removeTab(index)
        if pane is not None:
            pane.deleteLater()
        if not self.tabs.count():
            self.stack.setCurrentWidget(self.hint)

    def shutdown(self) -> None:
        """Stop every stream and job (the window is closing)."""
        for pane in self.panes():
            pane.shutdown()

    # ------------------------------------------------------------ remembered settings
    def remembered_filters(self) -> dict[str, object]:
        try:
            saved = json.loads(str(self.settings.value(FILTERS_KEY) or "{}"))
        except ValueError:
            return {}
        return saved if isinstance(saved, dict) else {}

    def remembered_filter(self, key: str) -> LogFilter:
        return LogFilter.from_json(self.remembered_filters().get(key))

    def _on_pane_filter_changed(self, key: str, log_filter: LogFilter) -> None:
        if key.startswith("request:"):
            return
        saved = self.remembered_filters()
        saved.pop(key, None)
        if log_filter.active:
            saved[key] = log_filter.to_json()
        while len(saved) > MAX_REMEMBERED:
            saved.pop(next(iter(saved)))
        self.settings.setValue(FILTERS_KEY, json.dumps(saved))

    def font_size(self) -> int:
        try:
            return int(self.settings.value(FONT_KEY) or DEFAULT_FONT_PT)
        except (TypeError, ValueError):
            return DEFAULT_FONT_PT

    def _on_pane_font_size_changed(self, points: int) -> None:
        self.settings.setValue(FONT_KEY, points)

    # ------------------------------------------------------------ messages, drops
    def report(self, text: str, level: str = "info") -> None:
        if self._report is not None:
            self._report(text, level)

    def _on_pane_message_reported(self, text: str, level: str) -> None:
        if level != "info":
            self.report(text, level)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for path in local_paths(event):
            self.open_file(path)
        event.acceptProposedAction()
