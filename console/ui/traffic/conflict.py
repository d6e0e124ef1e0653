"""ConflictDialog: the endpoint changed between review and confirm; nothing of the change was
applied. Shows who changed what and when (the engine's revision history and audit log), the
split as it stands now, and offers to start a new draft from it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.ui.models.tables import split_text, when
from console.ui.traffic.review import fill, table
from console.ui.traffic.send import ConflictInfo


class ConflictDialog(QDialog):
    sig_start_over_requested = Signal(str, object)  # place id, EndpointStatus (the current state)

    def __init__(self, info: ConflictInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        change, status = info.change, info.read.status
        self.setObjectName("trafficConflictDialog")
        self.setWindowTitle(f"{change.endpoint} changed: your change was not applied")
        self.setAccessibleName(self.windowTitle())
        since = change.seen if change.on_cluster and change.seen is not None else change.revision
        newer = sorted((r for r in info.read.revisions if r.number > since and r.kind != "create"),
                       key=lambda r: r.number)
        who = ", ".join(sorted({r.actor for r in newer} or {e.actor for e in info.events})) or "someone"
        now = f"generation {status.revision} of {info.read.target}" if info.read.on_cluster else \
            f"revision {status.revision}"
        self.headline = QLabel(
            f"<b>Nothing of your change was applied.</b> You made it on {change.made_on()} of "
            f"<b>{change.endpoint}</b>, but {who} changed the endpoint since: it is now at {now}."
            f"<br>Your change: {split_text(change.before)} → {split_text(change.traffic)}."
            f"<br>Current split: <b>{split_text(status.traffic)}</b>"
            + (f" · mirror {split_text(status.mirror)}" if any(status.mirror.values()) else "")
            + (f"<br>An automated rollout is under way: {info.read.rollout.get('description', '')}"
               if info.read.rollout else "")
            + f"<br><small>{'The API server' if change.on_cluster else 'The engine'} said: {info.cause}</small>",
            self)
        self.headline.setObjectName("conflictHeadline")
        self.headline.setWordWrap(True)
        self.revisions = table(self, "conflictRevisions", ("Revision", "When", "Who", "What", "Split", "Why"))
        self.revisions.setAccessibleName("Changes made since your revision")
        fill(self.revisions, [(str(r.number), when(r.time), r.actor,
                               r.kind + (f" (restores {r.restores})" if r.restores else ""),
                               split_text(r.traffic), r.reason) for r in newer])
        self.events = table(self, "conflictAudit", ("When", "Who", "Console", "Action", "Outcome", "Why"))
        self.events.setAccessibleName("Audit events of those changes")
        fill(self.events, [(when(e.time), e.actor, e.identity or "", e.action, e.outcome, e.reason)
                           for e in info.events])
        self.start_over = QPushButton("&Start from the current state", self)
        self.start_over.setObjectName("conflictStartOver")
        self.start_over.setToolTip("Drop your draft; edit a new change from the split live now")
        self.start_over.clicked.connect(self._on_start_over_clicked)
        close = QPushButton("Close", self)
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.start_over)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(QLabel("<b>Changed since your revision</b>", self))
        layout.addWidget(self.revisions, 1)
        layout.addWidget(QLabel("<b>Audit log</b>", self))
        layout.addWidget(self.events, 1)
        layout.addLayout(buttons)
        self.resize(860, 480)

    def _on_start_over_clicked(self) -> None:
        self.accept()
        self.sig_start_over_requested.emit(self.info.change.place_id, self.info.read.status)
