"""The one place that reports errors and notices to the person.

Everything that goes wrong (a failed task, a refused change, a missing keyring) is handed
to `ErrorSink.report`; the status bar and the Messages dock show it. No worker and no
callback opens a dialog.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from console.backends.base import redact_text

log = logging.getLogger("switchboard")


@dataclass(frozen=True)
class Message:
    time: float
    level: str  # info, warning, error
    text: str
    source: str = ""


class ErrorSink(QObject):
    sig_message_reported = Signal(object)  # Message

    def __init__(self, keep: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.messages: deque[Message] = deque(maxlen=keep)

    def report(self, text: str, level: str = "error", source: str = "") -> Message:
        """Show `text`; any URL in it loses its user name, password and query values."""
        message = Message(time.time(), level, redact_text(text), source)
        self.messages.append(message)
        getattr(log, "warning" if level == "warning" else "error" if level == "error" else "info")(
            "%s%s", f"[{source}] " if source else "", message.text)
        self.sig_message_reported.emit(message)
        return message

    def report_exception(self, error: BaseException, source: str = "") -> Message:
        return self.report(str(error) or error.__class__.__name__, "error", source)

    def _on_task_failed(self, name: str, error: object) -> None:
        self.report(str(error) or type(error).__name__, "error", name)
