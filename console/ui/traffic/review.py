"""ReviewDialog: the preview of a traffic change before anything is sent.

A before/after table with the requests/s each deployment will receive at the current load,
each guard's verdict (domain/guards.py) with its reason, and the equivalent `switchboard`
command with a copy button. A blocked change cannot be sent (the button stays disabled and
the dialog says why); warnings need the acknowledgement box ticked; a production endpoint
needs its name typed and a reason. When the endpoint's policy requires approval the button
says "Propose" and the change is sent as a proposal. The verdicts are judged again every
second (data ages) and on every keystroke. The dialog does no I/O: Refresh asks for a new
read (`sig_refresh_requested`), Confirm hands the change on (`sig_change_confirmed`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.domain.guards import Level, Proposal, Verdict, evaluate, expected_rps, overall, requires_approval
from console.domain.telemetry import Sample
from console.ui.traffic.calls import Change, EndpointRead
from console.ui.traffic.context import build_context, cli_command, proposal

REFRESH_TICKS = 2  # seconds between reads while the dialog is open: the data stays fresh
LEVEL_COLOURS = {Level.PASS: "#2e7d32", Level.WARN: "#b26a00", Level.BLOCK: "#c62828"}


def table(parent: QWidget, name: str, headers: Sequence[str]) -> QTableWidget:
    view = QTableWidget(0, len(headers), parent)
    view.setObjectName(name)
    view.setHorizontalHeaderLabels(list(headers))
    view.verticalHeader().setVisible(False)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(True)
    return view


def fill(view: QTableWidget, rows: Sequence[Sequence[str]], colours: dict[int, str] | None = None) -> None:
    view.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if colours and c in colours and text in LEVEL_COLOURS:
                item.setForeground(QBrush(QColor(LEVEL_COLOURS[Level(text)])))
            view.setItem(r, c, item)
    if view.wordWrap():
        view.resizeRowsToContents()


def _rps(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


class ReviewDialog(QDialog):
    sig_change_confirmed = Signal(object)  # Change
    sig_refresh_requested = Signal(str, str)  # place id, endpoint

    def __init__(self, place_id: str, base: EndpointRead, traffic: dict[str, int], mirror: dict[str, int],
                 actor: str, samples: Callable[[], list[Sample]], in_flight: Callable[[], str | None],
                 parent: QWidget | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        status = base.status
        self.setObjectName("trafficReviewDialog")
        self.setWindowTitle(f"Review the traffic change of {status.name}")
        self.setAccessibleName(self.windowTitle())
        self.place_id, self.base, self.read = place_id, base, base
        self.traffic, self.mirror, self.actor = traffic, mirror, actor
        self._samples, self._in_flight, self._clock = samples, in_flight, clock
        self.verdicts: list[Verdict] = []
        self.proposal: Proposal | None = None
        # a cluster: the resourceVersion (and history head) of the latest read made on the draft's generation:
        # the object the person reviews, and the one the change is patched onto
        self.precondition, self.seen = base.precondition, base.head
        self.summary = QLabel(self)
        self.summary.setObjectName("reviewSummary")
        self.summary.setWordWrap(True)
        self.splits = table(self, "reviewSplits", ("Deployment", "Before", "After", "Change", "Mirror before",
                                                   "Mirror after", "Expected req/s"))
        self.splits.setAccessibleName("Before and after, with the expected requests per second")
        self.guards = table(self, "reviewVerdicts", ("Guard", "Verdict", "Reason"))
        self.guards.setAccessibleName("The guards' verdicts")
        self.command = QLineEdit(self)
        self.command.setObjectName("reviewCommand")
        self.command.setReadOnly(True)
        self.command.setAccessibleName("The equivalent switchboard command")
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("reviewCopyCommand")
        self.copy_button.setToolTip("Copy the command (for the record, or to run it from a terminal)")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.text()))
        self.reason = QLineEdit(self)
        self.reason.setObjectName("reviewReason")
        self.reason.setPlaceholderText("why: ticket, incident, release note")
        self.confirm_name = QLineEdit(self)
        self.confirm_name.setObjectName("reviewConfirmName")
        self.confirm_name.setPlaceholderText(f"type {status.name} to confirm")
        self.acknowledge = QCheckBox("I have read the warnings above and accept them", self)
        self.acknowledge.setObjectName("reviewAcknowledge")
        self.why_not = QLabel(self)
        self.why_not.setObjectName("reviewWhyNot")
        self.why_not.setWordWrap(True)
        self.refresh_button = QPushButton("Re&fresh", self)
        self.refresh_button.setObjectName("reviewRefresh")
        self.refresh_button.setToolTip("Read the endpoint again and judge the change on fresh data")
        self.refresh_button.clicked.connect(lambda: self.sig_refresh_requested.emit(self.place_id, status.name))
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.reject)
        self.send_button = QPushButton("Apply change", self)
        self.send_button.setObjectName("reviewSend")
        self.send_button.clicked.connect(self._on_send_button_clicked)
        command_row = QHBoxLayout()
        command_row.addWidget(self.command, 1)
        command_row.addWidget(self.copy_button)
        form = QFormLayout()
        form.addRow("&Reason", self.reason)
        self.confirm_label = QLabel("&Type the endpoint name", self)
        self.confirm_label.setBuddy(self.confirm_name)
        form.addRow(self.confirm_label, self.confirm_name)
        form.addRow("Command", command_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.splits, 2)
        layout.addWidget(QLabel("<b>Guards</b>", self))
        layout.addWidget(self.guards, 3)
        layout.addLayout(form)
        layout.addWidget(self.acknowledge)
        layout.addWidget(self.why_not)
        layout.addLayout(buttons)
        self.reason.textChanged.connect(self.judge)
        self.confirm_name.textChanged.connect(self.judge)
        self.acknowledge.toggled.connect(self._enable)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self._ticks = 0
        self.resize(900, 640)
        self.judge()

    def set_read(self, read: EndpointRead) -> None:
        """A fresh read of the endpoint: judge the same change (made on the same revision) again."""
        if read.status.name == self.base.status.name:
            self.read = read
            if read.on_cluster and read.status.revision == self.base.status.revision:
                self.precondition, self.seen = read.precondition, read.head
            self.judge()

    def _on_timer_timeout(self) -> None:
        self._ticks += 1
        if self._ticks % REFRESH_TICKS == 0:
            self.sig_refresh_requested.emit(self.place_id, self.base.status.name)
        self.judge()

    # ------------------------------------------------------------ judging
    def judge(self) -> None:
        now = self._clock()
        read = self.read
        status = self.base.status
        p = proposal(status, self.traffic, self.mirror, self.actor, self.reason.text().strip(),
                     self.confirm_name.text())
        rollout = read.rollout.get("description") if read.rollout else None
        in_flight = self._in_flight() or (f"automated rollout {read.rollout.get('id', '')} {rollout}".strip()
                                          if read.rollout else None)
        ctx = build_context(read.status, read.revisions, self._samples(), read.read_at, now, in_flight)
        self.proposal, self.verdicts = p, evaluate(p, ctx)
        expected = expected_rps(p, ctx)
        names = sorted(set(p.before) | set(p.after) | set(p.mirror_before) | set(p.mirror_after))
        fill(self.splits, [(n, f"{p.before.get(n, 0)}%", f"{p.after.get(n, 0)}%",
                            f"{p.after.get(n, 0) - p.before.get(n, 0):+d}" if p.after.get(n, 0) != p.before.get(n, 0)
                            else "", f"{p.mirror_before.get(n, 0)}%" if p.mirror_before.get(n) else "",
                            f"{p.mirror_after.get(n, 0)}%" if p.mirror_after.get(n) else "", _rps(expected.get(n)))
                           for n in names])
        fill(self.guards, [(v.guard.value, v.level.value, v.reason) for v in self.verdicts], {1: "colour"})
        approval = requires_approval(self.verdicts)
        self.command.setText(cli_command(p, propose=approval) if not read.on_cluster else
                             f"{read.target}: patched by the console, conditional on resourceVersion "
                             f"{self.precondition}")
        load = ctx.load_rps()
        self.summary.setText(
            f"<b>{status.name}</b> at {'generation' if read.on_cluster else 'revision'} {status.revision}"
            + (f" ({read.target})" if read.on_cluster else "") + " → the split below. Current load: "
            f"{'unknown (no telemetry)' if load is None else f'{load:.1f} live req/s'}. "
            f"Data read {max(0.0, now - read.read_at):.0f} s ago. Overall: <b>{overall(self.verdicts).value}</b>.")
        self.send_button.setText("Propose" if approval else "Apply change")
        self.send_button.setToolTip("Send as a proposal another person must approve" if approval else
                                    f"Patch {read.target} on resourceVersion {self.precondition} (a newer object "
                                    "is a conflict, never overwritten)" if read.on_cluster else
                                    f"Send with If-Match: revision {status.revision}")
        self.confirm_label.setVisible(ctx.is_production)
        self.confirm_name.setVisible(ctx.is_production)
        warned = any(v.level == Level.WARN for v in self.verdicts)
        self.acknowledge.setVisible(warned)
        if not warned:
            self.acknowledge.setChecked(False)
        self._enable()

    def blocked(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.level == Level.BLOCK]

    def _enable(self) -> None:
        blocked = self.blocked()
        warned = any(v.level == Level.WARN for v in self.verdicts)
        if blocked:
            why = "Cannot be sent: " + " · ".join(f"{v.guard.value}: {v.reason}" for v in blocked)
        elif warned and not self.acknowledge.isChecked():
            why = "Tick the acknowledgement to send a change with warnings."
        else:
            why = ""
        self.why_not.setText(why)
        self.why_not.setStyleSheet(f"color: {LEVEL_COLOURS[Level.BLOCK]};" if blocked else "")
        self.send_button.setEnabled(not why)

    def _on_send_button_clicked(self) -> None:
        self.judge()
        p = self.proposal
        if p is None or not self.send_button.isEnabled():
            return
        approval = requires_approval(self.verdicts)
        change = Change(place_id=self.place_id, endpoint=p.endpoint, kind="propose" if approval else "shift",
                        revision=p.revision, before=dict(p.before), traffic=dict(p.after),
                        mirror_before=dict(p.mirror_before), mirror=dict(p.mirror_after), reason=p.reason,
                        verdicts=tuple(self.verdicts), clicked=time.perf_counter(),
                        precondition=self.precondition if self.read.on_cluster else "",
                        seen=self.seen if self.read.on_cluster else None, actor=self.actor)
        self._timer.stop()
        self.accept()
        self.sig_change_confirmed.emit(change)

    def done(self, result: int) -> None:
        self._timer.stop()
        super().done(result)


__all__ = ["ReviewDialog", "fill", "table"]
