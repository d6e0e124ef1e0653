"""The status bar (latest message, the selected place's health and last refresh, calls in
flight) and the Messages list: where the ErrorSink's messages are shown."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QListWidget, QStatusBar, QWidget

from console.ui.errors import Message
from console.ui.monitor import Health

KEEP_MESSAGES = 500


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.setAccessibleName("Status bar")
        self.message_label = self._label("statusMessage", "Latest message")
        self.health_label = self._label("statusPlaceHealth", "Health of the selected place")
        self.refresh_label = self._label("statusLastRefresh", "Last refresh of the selected place")
        self.busy_label = self._label("statusBusy", "Calls in flight")
        self.addWidget(self.message_label, 1)
        for label in (self.health_label, self.refresh_label, self.busy_label):
            self.addPermanentWidget(label)

    def _label(self, name: str, accessible: str) -> QLabel:
        label = QLabel("", self)
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        return label

    def show_message(self, message: Message) -> None:
        self.message_label.setText(message_text(message, level=False))
        self.message_label.setToolTip(message.text)

    def show_place(self, name: str | None, health: Health | None, read_at: float | None, stale: bool,
                   note: str = "") -> None:
        if name is None:
            self.health_label.setText("")
            self.health_label.setToolTip("")
            self.refresh_label.setText("")
            return
        suffix = f" ({note})" if note else ""
        self.health_label.setText(f"{name}: {health.text() if health else '?'}{suffix}")
        self.health_label.setToolTip((health.tooltip() if health else "") + (f"\n{note}" if note else ""))
        self.refresh_label.setText(
            "last refresh " + time.strftime("%H:%M:%S", time.localtime(read_at)) + (" (stale)" if stale else "")
            if read_at else "not read yet")

    def set_busy(self, count: int) -> None:
        self.busy_label.setText(f"{count} call{'s' if count != 1 else ''} in flight" if count else "")


class MessagesList(QListWidget):
    """Every error and notice, newest last, the last KEEP_MESSAGES of them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messagesList")
        self.setAccessibleName("Messages: errors and notices")

    def add(self, message: Message) -> None:
        self.addItem(message_text(message, level=True))
        if self.count() > KEEP_MESSAGES:
            self.takeItem(0)
        self.scrollToBottom()


def message_text(message: Message, level: bool) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(message.time))
    source = f"{message.source}: " if message.source else ""
    return f"{stamp} {f'[{message.level}] ' if level else ''}{source}{message.text}"
