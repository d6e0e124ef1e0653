"""SloDialog: set or clear an endpoint's SLO (latency percentile, error rate, window).

The SLO is stored on the engine with the endpoint, so every console sees the same one. The
dialog checks the fields first, with a sentence per problem, then sends on a worker; the
engine's refusal (Invalid, Conflict) or an unreachable engine is shown in the dialog and
reported through the ErrorSink. Keyboard: every field has a mnemonic (Alt+P, L, E, W),
Enter saves, Alt+C clears the SLO, Escape cancels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.backends.base import BackendError, Conflict, Invalid
from console.domain.models import EndpointStatus, Slo
from console.domain.slo import slo_text
from console.ui.errors import ErrorSink
from console.ui.tasks import TaskRunner

if TYPE_CHECKING:
    from console.ui.controller import Console

MAX_LATENCY_MS = 600_000


@runtime_checkable
class SupportsSlo(Protocol):
    """A place that stores endpoint SLOs (the local engine)."""

    def set_slo(self, endpoint: str, slo: Slo | None) -> EndpointStatus: ...


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_slo(percentile: str, latency: str, error_rate: str, window: str) -> tuple[Slo | None, list[str]]:
    """The fields as an Slo, or the problems with them (one sentence each, naming the field)."""
    problems: list[str] = []
    latency_ms = error_rate_percent = None
    if latency.strip():
        latency_ms = _number(latency)
        if latency_ms is None:
            problems.append(f"Latency threshold: {latency.strip()!r} is not a number of milliseconds.")
        elif not 0 < latency_ms <= MAX_LATENCY_MS:
            problems.append(f"Latency threshold must be more than 0 and at most {MAX_LATENCY_MS} ms "
                            f"(got {latency.strip()}).")
    if error_rate.strip():
        error_rate_percent = _number(error_rate)
        if error_rate_percent is None:
            problems.append(f"Error-rate threshold: {error_rate.strip()!r} is not a number of percent.")
        elif not 0 <= error_rate_percent <= 100:
            problems.append(f"Error-rate threshold must be from 0 to 100 % (got {error_rate.strip()}).")
    window_s = 0
    if not window.strip().isdigit():
        problems.append(f"Window must be a whole number of seconds (got {window.strip() or 'nothing'!r}).")
    else:
        window_s = int(window.strip())
        if not 10 <= window_s <= 3600:
            problems.append(f"Window must be from 10 to 3600 seconds (got {window_s}).")
    if not latency.strip() and not error_rate.strip():
        problems.append("Set a latency threshold, an error-rate threshold or both; to remove the SLO, "
                        "use Clear SLO.")
    if problems:
        return None, problems
    slo = Slo(percentile="p99" if percentile == "p99" else "p95", latency_ms=latency_ms,
              error_rate_percent=error_rate_percent, window_s=window_s)
    return slo, []


def _plain(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class SloDialog(QDialog):
    sig_slo_saved = Signal(object)  # EndpointStatus, as the engine answered

    def __init__(self, runner: TaskRunner, backend: SupportsSlo, endpoint: EndpointStatus,
                 sink: ErrorSink | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sloDialog")
        self.setWindowTitle(f"SLO of {endpoint.name}")
        self.setAccessibleName(self.windowTitle())
        self._runner = runner
        self._backend = backend
        self._sink = sink
        self.endpoint = endpoint
        self.sending = False

        self.current = QLabel(f"Now: {slo_text(endpoint.slo)}", self)
        self.percentile = QComboBox(self)
        self.percentile.addItem("p95 (95th percentile)", "p95")
        self.percentile.addItem("p99 (99th percentile)", "p99")
        self.latency = QLineEdit(self)
        self.latency.setPlaceholderText("not checked")
        self.error_rate = QLineEdit(self)
        self.error_rate.setPlaceholderText("not checked")
        self.window_edit = QLineEdit(self)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d0342c")
        slo = endpoint.slo or Slo(latency_ms=None, error_rate_percent=None)
        self.percentile.setCurrentIndex(1 if slo.percentile == "p99" else 0)
        self.latency.setText(_plain(slo.latency_ms))
        self.error_rate.setText(_plain(slo.error_rate_percent))
        self.window_edit.setText(str(slo.window_s))
        for widget, name, accessible in (
            (self.current, "sloCurrent", "The endpoint's SLO now"),
            (self.percentile, "sloPercentile", "Latency percentile"),
            (self.latency, "sloLatency", "Latency threshold in milliseconds"),
            (self.error_rate, "sloErrorRate", "Error-rate threshold in percent of requests"),
            (self.window_edit, "sloWindow", "Window in seconds"),
            (self.message, "sloMessage", "Problems"),
        ):
            widget.setObjectName(name)
            widget.setAccessibleName(accessible)
        self.latency.setToolTip("The chosen percentile of each deployment's latency over the window must stay at "
                                "or under this; empty: latency is not checked")
        self.error_rate.setToolTip("5xx answers as a percent of requests over the window; empty: not checked")
        self.window_edit.setToolTip("Seconds each figure is judged over (10 to 3600)")

        form = QFormLayout()
        form.addRow("&Percentile", self.percentile)
        form.addRow("&Latency threshold (ms)", self.latency)
        form.addRow("&Error-rate threshold (%)", self.error_rate)
        form.addRow("&Window (s)", self.window_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setDefault(True)
        self.clear_button = QPushButton("&Clear SLO", self)
        self.clear_button.setObjectName("sloClear")
        self.clear_button.setAccessibleName("Clear the endpoint's SLO")
        self.clear_button.setAutoDefault(False)
        self.clear_button.setEnabled(endpoint.slo is not None)
        self.buttons.addButton(self.clear_button, QDialogButtonBox.ButtonRole.ResetRole)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.current)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.latency.setFocus()

    # ------------------------------------------------------------ checking and sending
    def values(self) -> tuple[Slo | None, list[str]]:
        return check_slo(str(self.percentile.currentData()), self.latency.text(), self.error_rate.text(),
                         self.window_edit.text())

    def _on_buttons_accepted(self) -> None:
        slo, problems = self.values()
        if problems:
            self.message.setText("\n".join(problems))
            fields = ((self.latency, "Latency"), (self.error_rate, "Error-rate"), (self.window_edit, "Window"))
            first = next((w for w, word in fields if problems[0].startswith(word)), self.latency)
            first.setFocus()
            return
        self.send(slo)

    def _on_clear_clicked(self) -> None:
        self.send(None)

    def send(self, slo: Slo | None) -> None:
        self.sending = True
        self._set_busy(True)
        self.message.setStyleSheet("")
        self.message.setText("Removing the SLO…" if slo is None else f"Saving {slo_text(slo)}…")
        self._runner.submit(self._backend.set_slo, self.endpoint.name, slo, on_done=self._on_sent,
                            on_error=self._on_failed, name=f"set the SLO of {self.endpoint.name}")

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.save_button, self.clear_button, self.percentile, self.latency, self.error_rate,
                       self.window_edit):
            widget.setEnabled(not busy)
        if not busy:
            self.clear_button.setEnabled(self.endpoint.slo is not None)

    def _on_sent(self, status: EndpointStatus) -> None:
        self.sending = False
        self.sig_slo_saved.emit(status)
        self.accept()

    def _on_failed(self, error: BaseException) -> None:
        self.sending = False
        self._set_busy(False)
        self.message.setStyleSheet("color: #d0342c")
        name = self.endpoint.name
        if isinstance(error, Invalid) and isinstance(error.detail, list) and error.detail:
            text = f"The engine refused the SLO of {name}:\n" + "\n".join(f"• {p}" for p in error.detail)
        elif isinstance(error, Conflict):
            text = f"The SLO of {name} was not changed: {error}"
        elif isinstance(error, BackendError):
            text = f"The SLO of {name} was not saved: {error}"
        else:
            text = f"The SLO of {name} was not saved: {type(error).__name__}: {error}"
        self.message.setText(text)
        if self._sink is not None:
            self._sink.report(text.replace("\n", " "), "error", "SLO")


def edit_slo(console: Console, parent: QWidget, place_id: str, endpoint: str) -> SloDialog | None:
    """Open the SLO dialog of an endpoint the inventory lists (or say why not)."""
    status = console.inventory_model.endpoint(place_id, endpoint)
    config = console.place(place_id)
    place_name = config.name if config else place_id
    if status is None:
        console.sink.report(f"{endpoint} is no longer listed at {place_name}", "warning", "SLO")
        return None
    backend = console.backend(place_id)
    if not isinstance(backend, SupportsSlo):
        console.sink.report(f"{place_name} does not store SLOs; SLOs are kept by the local engine", "warning", "SLO")
        return None
    dialog = SloDialog(console.runner, backend, status, console.sink, parent)

    def saved(result: EndpointStatus) -> None:
        console.sink.report(f"SLO of {endpoint} at {place_name}: {slo_text(result.slo)}", "info", "SLO")
        console.refresh(place_id)

    dialog.sig_slo_saved.connect(saved)
    dialog.open()
    return dialog
