"""The log pane's bars: what to show (level, source, text, time range) and what to find."""

from __future__ import annotations

from PySide6.QtCore import QDateTime, Qt, QTimer, QTimeZone, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from console.domain.logparse import CRITICAL, DEBUG, ERROR, INFO, WARNING
from console.ui.logs.filters import LogFilter

LEVEL_CHOICES = (("All levels", 0), ("Debug and above", DEBUG), ("Info and above", INFO),
                 ("Warning and above", WARNING), ("Error and above", ERROR), ("Critical only", CRITICAL))
ALL_SOURCES = "All sources"
TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"


def time_edit(parent: QWidget, name: str, accessible: str) -> QDateTimeEdit:
    edit = QDateTimeEdit(parent)
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    edit.setTimeZone(QTimeZone.utc())
    edit.setDisplayFormat(TIME_FORMAT)
    edit.setCalendarPopup(True)
    edit.setDateTime(QDateTime.currentDateTimeUtc())
    return edit


def epoch_of(edit: QDateTimeEdit) -> float:
    return edit.dateTime().toMSecsSinceEpoch() / 1000.0


def set_epoch(edit: QDateTimeEdit, epoch: float) -> None:
    edit.setDateTime(QDateTime.fromMSecsSinceEpoch(int(epoch * 1000), QTimeZone.utc()))


class FilterBar(QWidget):
    sig_filter_changed = Signal(object)  # LogFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = QComboBox(self)
        self.level.setObjectName("logLevelFilter")
        self.level.setAccessibleName("Show levels")
        for text, code in LEVEL_CHOICES:
            self.level.addItem(text, code)
        self.source = QComboBox(self)
        self.source.setObjectName("logSourceFilter")
        self.source.setAccessibleName("Show source")
        self.source.addItem(ALL_SOURCES, "")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.text = QLineEdit(self)
        self.text.setObjectName("logTextFilter")
        self.text.setAccessibleName("Show only lines containing")
        self.text.setPlaceholderText("Show only lines containing…")
        self.text.setClearButtonEnabled(True)
        self.regex = QCheckBox("Regex", self)
        self.regex.setObjectName("logFilterRegex")
        self.timed = QCheckBox("From", self)
        self.timed.setObjectName("logTimeRange")
        self.timed.setToolTip("Show only lines between these two times (UTC)")
        self.since = time_edit(self, "logSince", "Show lines from")
        self.until = time_edit(self, "logUntil", "Show lines until")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.level, self.source, self.text, self.regex, self.timed, self.since, QLabel("to", self),
                       self.until):
            layout.addWidget(widget)
        layout.setStretch(2, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(lambda: self.sig_filter_changed.emit(self.current()))
        self.text.textChanged.connect(lambda _t: self._debounce.start())
        for combo in (self.level, self.source):
            combo.currentIndexChanged.connect(lambda _i: self._debounce.start())
        for box in (self.regex, self.timed):
            box.toggled.connect(lambda _on: self._debounce.start())
        for edit in (self.since, self.until):
            edit.dateTimeChanged.connect(lambda _dt: self._debounce.start() if self.timed.isChecked() else None)

    def current(self) -> LogFilter:
        source = str(self.source.currentData() or "")
        return LogFilter(
            min_level=int(self.level.currentData() or 0), sources=frozenset([source]) if source else frozenset(),
            text=self.text.text(), regex=self.regex.isChecked(),
            since=epoch_of(self.since) if self.timed.isChecked() else None,
            until=epoch_of(self.until) if self.timed.isChecked() else None)

    def set_filter(self, log_filter: LogFilter) -> None:
        """Show `log_filter` (restored from settings) without announcing it."""
        self.blockSignals(True)
        for widget in (self.level, self.source, self.text, self.regex, self.timed, self.since, self.until):
            widget.blockSignals(True)
        self.level.setCurrentIndex(max(0, self.level.findData(log_filter.min_level)))
        for source in sorted(log_filter.sources):
            self.add_sources([source])
            self.source.setCurrentIndex(self.source.findData(source))
        self.text.setText(log_filter.text)
        self.regex.setChecked(log_filter.regex)
        self.timed.setChecked(log_filter.since is not None)
        if log_filter.since is not None:
            set_epoch(self.since, log_filter.since)
        if log_filter.until is not None:
            set_epoch(self.until, log_filter.until)
        for widget in (self.level, self.source, self.text, self.regex, self.timed, self.since, self.until):
            widget.blockSignals(False)
        self.blockSignals(False)

    def add_sources(self, sources: list[str]) -> None:
        for source in sorted(sources):
            if self.source.findData(source) < 0:
                self.source.addItem(source, source)


class SearchBar(QWidget):
    sig_search_requested = Signal(str, bool, bool)  # text, regex, match case
    sig_step_requested = Signal(int)  # +1 next, -1 previous
    sig_time_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLineEdit(self)
        self.text.setObjectName("logSearch")
        self.text.setAccessibleName("Find in log")
        self.text.setPlaceholderText("Find (Enter: next, Shift+Enter: previous)")
        self.text.setClearButtonEnabled(True)
        self.regex = QCheckBox("Regex", self)
        self.regex.setObjectName("logSearchRegex")
        self.case = QCheckBox("Match case", self)
        self.case.setObjectName("logSearchCase")
        self.previous = self._button("◀", "logSearchPrevious", "Previous match (Shift+F3)", -1)
        self.next = self._button("▶", "logSearchNext", "Next match (F3)", 1)
        self.count = QLabel("", self)
        self.count.setObjectName("logSearchCount")
        self.count.setMinimumWidth(110)
        self.goto = time_edit(self, "logGotoTime", "Go to time")
        self.goto.setToolTip("Go to the first line at or after this time (UTC)")
        go = QToolButton(self)
        go.setText("Go to time")
        go.setObjectName("logGotoButton")
        go.clicked.connect(lambda: self.sig_time_requested.emit(epoch_of(self.goto)))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.text, self.regex, self.case, self.previous, self.next, self.count, self.goto, go):
            layout.addWidget(widget)
        layout.setStretch(0, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.request)
        self.text.textChanged.connect(lambda _t: self._debounce.start())
        self.regex.toggled.connect(lambda _on: self._debounce.start())
        self.case.toggled.connect(lambda _on: self._debounce.start())
        self.text.returnPressed.connect(self._on_text_return_pressed)

    def _button(self, text: str, name: str, tip: str, step: int) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.clicked.connect(lambda: self.sig_step_requested.emit(step))
        return button

    def request(self) -> None:
        self._debounce.stop()
        self.sig_search_requested.emit(self.text.text(), self.regex.isChecked(), self.case.isChecked())

    def _on_text_return_pressed(self) -> None:
        if self._debounce.isActive():
            self.request()
        shift = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.sig_step_requested.emit(-1 if shift else 1)
