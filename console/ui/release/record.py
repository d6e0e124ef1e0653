"""ReleaseRecordDialog: "Release record…" — for an endpoint and a time window, every revision,
rollout step, approval and rollback with actor, reason, guard verdicts and the figures before
and after each change, as the engine assembles it; previewed as Markdown or JSON and saved to
a file (the evidence a post-incident review asks for)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.domain.records import ReleaseRecord, parse_when, to_json, to_markdown
from console.ui.plots.colours import BREACH
from console.ui.release.capabilities import SupportsRecords, place_name

if TYPE_CHECKING:
    from console.ui.controller import Console

FORMATS = (("Markdown", "md"), ("JSON", "json"))


def _write(path: str, text: str) -> str:
    Path(path).write_text(text, encoding="utf-8")
    return path


class ReleaseRecordDialog(QDialog):
    sig_record_saved = Signal(str)  # the path

    def __init__(self, console: Console, place_id: str = "", endpoint: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("releaseRecordDialog")
        self.setWindowTitle("Release record")
        self.setAccessibleName("Release record of an endpoint")
        self.console = console
        self.record: ReleaseRecord | None = None
        self.endpoint_box = QComboBox(self)
        self.endpoint_box.setObjectName("recordEndpoint")
        self.endpoint_box.setAccessibleName("Endpoint")
        for kind, key in console.inventory_model.walk():
            if kind == "endpoint" and isinstance(console.backend(key[0]), SupportsRecords):
                self.endpoint_box.addItem(f"{key[1]} · {place_name(console, key[0])}", (key[0], key[1]))
        if place_id and endpoint:
            self.endpoint_box.setCurrentIndex(max(0, self.endpoint_box.findData((place_id, endpoint))))
        self.since = QLineEdit("1h", self)
        self.since.setObjectName("recordSince")
        self.since.setToolTip("90s, 30m, 1h, 2d, 1w before now, or an ISO 8601 time with its zone")
        self.until = QLineEdit("", self)
        self.until.setObjectName("recordUntil")
        self.until.setPlaceholderText("now")
        self.format_box = QComboBox(self)
        self.format_box.setObjectName("recordFormat")
        for text, ext in FORMATS:
            self.format_box.addItem(text, ext)
        self.format_box.currentIndexChanged.connect(lambda _i: self._render())
        self.preview_button = QPushButton("&Preview", self)
        self.preview_button.setObjectName("recordPreview")
        self.preview_button.clicked.connect(self.load)
        self.preview = QPlainTextEdit(self)
        self.preview.setObjectName("recordText")
        self.preview.setAccessibleName("The release record")
        self.preview.setReadOnly(True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.status = QLabel("", self)
        self.status.setObjectName("recordStatus")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.save_button = buttons.addButton("&Save…", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setObjectName("recordSave")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.ask_save)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Endpoint", self.endpoint_box)
        form.addRow("S&ince", self.since)
        form.addRow("&Until", self.until)
        form.addRow("&Format", self.format_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_button)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(820, 640)
        if self.endpoint_box.count() == 0:
            self._say("No endpoint of a place that keeps release records (the local engine) is listed.", ok=False)
            self.preview_button.setEnabled(False)

    def _say(self, text: str, ok: bool = True) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("" if ok else f"color: {BREACH};")

    def _window(self) -> tuple[str, str | None] | None:
        now = datetime.now(UTC)
        since, until = self.since.text().strip() or "1h", self.until.text().strip() or None
        try:
            start = parse_when(since, now)
            end = parse_when(until, now) if until else now
        except ValueError as exc:
            self._say(f"Since/Until: {exc}", ok=False)
            return None
        if end <= start:
            self._say("Since must be before Until.", ok=False)
            return None
        return since, until

    def load(self) -> None:
        """Ask the engine for the record of the chosen endpoint and window (on a worker)."""
        data = self.endpoint_box.currentData()
        window = self._window()
        if data is None or window is None:
            return
        place_id, endpoint = data
        backend = self.console.backend(place_id)
        if not isinstance(backend, SupportsRecords):
            self._say(f"{place_name(self.console, place_id)} keeps no release records", ok=False)
            return
        self.preview_button.setEnabled(False)
        self._say(f"Reading the release record of {endpoint}…")
        self.console.runner.submit(backend.record, endpoint, *window, on_done=self._on_record_read,
                                   on_error=self._on_record_failed, name=f"release record of {endpoint}")

    def _on_record_read(self, record: ReleaseRecord) -> None:
        self.preview_button.setEnabled(True)
        self.record = record
        self._render()
        self._say(f"{len(record.changes)} revision(s), {len(record.proposals)} proposal(s), "
                  f"{len(record.events)} audit event(s) of {record.endpoint}.")

    def _on_record_failed(self, error: BaseException) -> None:
        self.preview_button.setEnabled(True)
        self._say(f"The release record could not be read: {error}", ok=False)

    def text(self) -> str:
        if self.record is None:
            return ""
        return to_json(self.record) if self.format_box.currentData() == "json" else to_markdown(self.record)

    def _render(self) -> None:
        self.preview.setPlainText(self.text())
        self.save_button.setEnabled(self.record is not None)

    def ask_save(self) -> None:
        if self.record is None:
            return
        ext = str(self.format_box.currentData())
        stamp = self.record.until.strftime("%Y%m%d-%H%M%S")
        path, _ = QFileDialog.getSaveFileName(self, "Save the release record",
                                              f"release-{self.record.endpoint}-{stamp}.{ext}",
                                              f"{self.format_box.currentText()} (*.{ext})")
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """Write the record, as previewed, to `path` (on a worker)."""
        text = self.text()

        def failed(error: BaseException) -> None:
            self._say(f"Could not save the release record to {path}: {error}", ok=False)

        def saved(where: str) -> None:
            self._say(f"Saved the release record to {where}.")
            self.console.sink.report(f"saved the release record of {self.record.endpoint if self.record else '?'} "
                                     f"to {where}", "info", "release record")
            self.sig_record_saved.emit(where)

        self.console.runner.submit(_write, path, text, on_done=saved, on_error=failed, name=f"save {path}")
