"""RollbackDialog: one confirmation for a rollback — the target split (the split live before
the latest change, or a revision picked from the history), a prefilled reason, and the two
guards a rollback answers to (freshness, one change at a time). The deployment rolled away
from keeps running. During an automated rollout the engine refuses a rollback by hand: the
dialog offers to abort the rollout instead (100% back to its baseline)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.domain.guards import Level, Proposal, Verdict, evaluate
from console.domain.models import Revision
from console.ui.models.tables import split_text
from console.ui.traffic.calls import Change, EndpointRead
from console.ui.traffic.context import build_context, named, rollback_command
from console.ui.traffic.review import LEVEL_COLOURS, fill, table

REFRESH_TICKS = 2  # seconds between reads while the dialog is open: the data stays fresh


def _choice(r: Revision) -> str:
    return f"revision {r.number} · {r.time.astimezone():%H:%M:%S} · {split_text(r.traffic)} · {r.actor}"


class RollbackDialog(QDialog):
    sig_rollback_confirmed = Signal(object)  # Change
    sig_abort_confirmed = Signal(str, str, str)  # place id, endpoint, reason
    sig_refresh_requested = Signal(str, str)  # place id, endpoint: read it again (keeps the data fresh)

    def __init__(self, place_id: str, read: EndpointRead, actor: str, in_flight: Callable[[], str | None],
                 parent: QWidget | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        status = read.status
        self.place_id, self.read, self.actor = place_id, read, actor
        self._in_flight, self._clock = in_flight, clock
        self.verdicts: list[Verdict] = []
        self.setObjectName("rollbackDialog")
        self.setWindowTitle(f"Roll back {status.name}")
        self.setAccessibleName(self.windowTitle())
        latest = next((r for r in read.revisions if r.number == read.latest), None)
        self.heading = QLabel(self)
        self.heading.setObjectName("rollbackHeading")
        self.heading.setWordWrap(True)
        self.target = QComboBox(self)
        self.target.setObjectName("rollbackTarget")
        self.target.setAccessibleName("Revision to restore")
        self.targets: list[Revision] = []
        self._fill_targets()
        self.splits = table(self, "rollbackSplits", ("Deployment", "Now", "After the rollback", "Note"))
        self.guards = table(self, "rollbackVerdicts", ("Guard", "Verdict", "Reason"))
        for view in (self.splits, self.guards):
            view.setWordWrap(False)
        self.reason = QLineEdit(self)
        self.reason.setObjectName("rollbackReason")
        what = f"revision {latest.number} ({latest.reason or latest.kind} by {latest.actor})" if latest else \
            f"{'generation' if read.on_cluster else 'revision'} {status.revision}"
        self.reason.setText(f"rollback of {what}")
        self.command = QLabel(self)
        self.command.setObjectName("rollbackCommand")
        self.why_not = QLabel(self)
        self.why_not.setObjectName("rollbackWhyNot")
        self.why_not.setWordWrap(True)
        self.rollout_note = QLabel(self)
        self.rollout_note.setObjectName("rollbackRolloutNote")
        self.rollout_note.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button = QPushButton("Roll &back now", self)
        self.confirm_button.setObjectName("rollbackConfirm")
        self.confirm_button.setDefault(True)
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)
        form = QFormLayout()
        form.addRow("Restore", self.target)
        form.addRow("&Reason", self.reason)
        form.addRow("Command", self.command)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.splits, 1)
        layout.addWidget(self.guards, 1)
        layout.addWidget(self.rollout_note)
        layout.addWidget(self.why_not)
        layout.addLayout(buttons)
        self.target.currentIndexChanged.connect(self.judge)
        self.reason.textChanged.connect(self.judge)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self._ticks = 0
        self.resize(760, 460)
        self.judge()

    def _fill_targets(self) -> None:
        keep = self.target.currentData()
        history = sorted(self.read.revisions, key=lambda r: -r.number)
        self.targets = [r for r in history if r.number < self.read.latest]
        self.target.blockSignals(True)
        self.target.clear()
        for r in self.targets:
            self.target.addItem(_choice(r), r.number)
        if keep is not None and self.target.findData(keep) >= 0:
            self.target.setCurrentIndex(self.target.findData(keep))
        self.target.blockSignals(False)

    def set_read(self, read: EndpointRead) -> None:
        """A fresh read of the endpoint (every REFRESH_TICKS s while the dialog is open)."""
        if read.status.name != self.read.status.name:
            return
        changed = (read.status.revision, read.latest) != (self.read.status.revision, self.read.latest)
        self.read = read
        if changed:
            self._fill_targets()
        self.judge()

    def _on_timer_timeout(self) -> None:
        self._ticks += 1
        if self._ticks % REFRESH_TICKS == 0:
            self.sig_refresh_requested.emit(self.place_id, self.read.status.name)
        self.judge()

    def chosen(self) -> Revision | None:
        number = self.target.currentData()
        return next((r for r in self.targets if r.number == number), None)

    def judge(self) -> None:
        status, target = self.read.status, self.chosen()
        rollout = self.read.rollout
        where = (f"generation {status.revision} of {self.read.target} (history revision {self.read.latest})"
                 if self.read.on_cluster else f"revision {status.revision}")
        self.heading.setText(f"<b>{status.name}</b> is at {where}: "
                             f"{split_text(status.traffic)}. A rollback makes a new revision with the split of "
                             "the revision chosen below; the deployments it takes traffic from keep running.")
        if rollout:
            self.rollout_note.setText(
                f"An automated rollout is under way ({rollout.get('description', '')}): the engine refuses a "
                f"rollback by hand while it runs. Abort it instead: all live traffic goes back to its baseline "
                f"{rollout.get('baseline', '')}.")
            self.confirm_button.setText("&Abort the rollout")
        if target is None:
            self.why_not.setText(f"{status.name} has no earlier revision to roll back to.")
            self.confirm_button.setEnabled(bool(rollout))
            fill(self.splits, [])
            return
        names = sorted(set(status.traffic) | set(target.traffic))
        fill(self.splits, [(n, f"{status.traffic.get(n, 0)}%", f"{target.traffic.get(n, 0)}%",
                            "rolled back from: keeps running" if target.traffic.get(n, 0) < status.traffic.get(n, 0)
                            else "") for n in names])
        p = named(Proposal, status.name, kind="rollback", before={n: status.traffic.get(n, 0) for n in names},
                     after={n: target.traffic.get(n, 0) for n in names},
                     mirror_before={k: v for k, v in status.mirror.items() if v},
                     mirror_after={k: v for k, v in target.mirror.items() if v},
                     revision=status.revision, actor=self.actor, reason=self.reason.text())
        in_flight = self._in_flight()
        ctx = build_context(status, self.read.revisions, [], self.read.read_at, self._clock(), in_flight)
        self.verdicts = evaluate(p, ctx)
        fill(self.guards, [(v.guard.value, v.level.value, v.reason) for v in self.verdicts], {1: "colour"})
        self.command.setText(rollback_command(status.name, target.number, self.reason.text()) if not
                             self.read.on_cluster else f"{self.read.target}: patched by the console, conditional "
                             f"on resourceVersion {self.read.precondition}")
        blocked = [v for v in self.verdicts if v.level == Level.BLOCK]
        self.why_not.setText("" if rollout or not blocked else
                             "Cannot roll back now: " + " · ".join(v.reason for v in blocked))
        self.why_not.setStyleSheet(f"color: {LEVEL_COLOURS[Level.BLOCK]};")
        self.confirm_button.setEnabled(bool(rollout) or not blocked)

    def _on_confirm_button_clicked(self) -> None:
        self.judge()
        if not self.confirm_button.isEnabled():
            return
        status, target, reason = self.read.status, self.chosen(), self.reason.text().strip()
        self._timer.stop()
        self.accept()
        if self.read.rollout:
            self.sig_abort_confirmed.emit(self.place_id, status.name, reason)
            return
        assert target is not None
        self.sig_rollback_confirmed.emit(Change(
            place_id=self.place_id, endpoint=status.name, kind="rollback", revision=status.revision,
            before=dict(status.traffic), traffic=dict(target.traffic), mirror_before=dict(status.mirror),
            mirror=dict(target.mirror), reason=reason, to_revision=target.number, clicked=time.perf_counter(),
            precondition=self.read.precondition, seen=self.read.head, actor=self.actor))

    def done(self, result: int) -> None:
        self._timer.stop()
        super().done(result)
