"""PendingApprovalsDock: the proposals waiting at every engine place, with their details
(proposer, before and after split, revision, reason, expiry, the guard verdicts the proposer
reviewed) and Approve / Reject (a rejection needs a reason, the proposer reads it).

The engine decides: it refuses approval by the proposer, applies an approval only onto the
revision the proposal was made on (a proposal made before a later change is stale), and
expires proposals nobody decided. Its refusal is shown in its own words.

Proposals on Kubernetes routes are listed too (console/ui/release/cluster.py): Approve is disabled
while the cluster does not allow this identity to patch the route, each decision is confirmed
first and sent on a worker (cluster_flow.py), and the cluster's refusals are put in words.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.domain.approvals import ChangeProposal
from console.domain.models import EndpointStatus
from console.ui.models.tables import split_text, when
from console.ui.plots.colours import BREACH
from console.ui.release.capabilities import SupportsApprovals
from console.ui.release.cluster import ClusterProposal
from console.ui.release.cluster import details_html as cluster_details_html
from console.ui.release.cluster_flow import ClusterDecisions
from console.ui.release.pending import ApprovalsWatcher, PlacedProposal, ProposalsTableModel, Row, expires_text

if TYPE_CHECKING:
    from console.ui.controller import Console

LEVEL_MARK = {"pass": "✔", "warn": "⚠", "block": "✖"}


def details_html(item: PlacedProposal, now: datetime) -> str:
    p = item.proposal
    rows = [("Proposal", f"{p.id} of <b>{html.escape(p.endpoint)}</b> at {html.escape(item.place)}"),
            ("Proposer", html.escape(p.proposer_text())),
            ("Made on", f"revision {p.revision}, {when(p.created)}"),
            ("Before", html.escape(split_text(p.before.traffic) or "no live traffic")),
            ("After", f"<b>{html.escape(split_text(p.after.traffic) or 'no live traffic')}</b>")]
    if any(p.before.mirror.values()) or any(p.after.mirror.values()):
        rows.append(("Mirror", html.escape(f"{split_text(p.before.mirror) or 'none'} → "
                                           f"{split_text(p.after.mirror) or 'none'}")))
    rows += [("Reason", html.escape(p.reason or "(none given)")),
             ("Expires", f"{when(p.expires)} ({expires_text(p.expires, now)})")]
    table = "".join(f"<tr><td><i>{k}</i>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
    verdicts = "".join(f"<li>{LEVEL_MARK.get(v.level.value, '')} {v.level.value} · {v.guard.value}: "
                       f"{html.escape(v.reason)}</li>" for v in p.verdicts)
    checks = f"<p><i>Guard verdicts the proposer reviewed</i></p><ul>{verdicts}</ul>" if verdicts else \
        "<p><i>No guard verdicts were sent with it.</i></p>"
    return f"<table>{table}</table>{checks}"


class PendingApprovalsDock(QDockWidget):
    sig_decision_finished = Signal(object, object)  # PlacedProposal, the answer or the exception

    def __init__(self, console: Console, watcher: ApprovalsWatcher, parent: QWidget | None = None) -> None:
        super().__init__("Pending approvals", parent)
        self.setObjectName("pendingApprovalsDock")
        self.setAccessibleName("Pending approvals")
        self.console = console
        self.watcher = watcher
        self.model = ProposalsTableModel(self)
        self.cluster = ClusterDecisions(console, self)
        self._busy = False

        body = QWidget(self)
        self.status = QLabel("Reading pending proposals…", body)
        self.status.setObjectName("approvalsStatus")
        self.status.setAccessibleName("Pending approvals: how many and when read")
        self.table = QTableView(body)
        self.table.setObjectName("pendingProposals")
        self.table.setAccessibleName("Proposals waiting for approval")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.details = QTextBrowser(body)
        self.details.setObjectName("proposalDetails")
        self.details.setAccessibleName("Details of the selected proposal")
        self.reason = QLineEdit(body)
        self.reason.setObjectName("approvalReason")
        self.reason.setAccessibleName("Reason for approving or rejecting")
        self.reason.setPlaceholderText("Reason (required to reject; the proposer reads it)")
        self.approve_button = QPushButton("&Approve", body)
        self.approve_button.setObjectName("approveProposal")
        self.approve_button.setAccessibleName("Approve the selected proposal and apply it")
        self.reject_button = QPushButton("Re&ject", body)
        self.reject_button.setObjectName("rejectProposal")
        self.reject_button.setAccessibleName("Reject the selected proposal")
        self.outcome = QLabel("", body)
        self.outcome.setObjectName("approvalOutcome")
        self.outcome.setAccessibleName("Outcome of the last decision")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        buttons.addWidget(self.reason, 1)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.reject_button)
        split = QSplitter(Qt.Orientation.Horizontal, body)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.outcome)
        self.setWidget(body)

        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        watcher.sig_proposals_changed.connect(self._on_watcher_proposals_changed)
        watcher.sig_place_failed.connect(self._on_watcher_place_failed)
        self.cluster.sig_permission_answered.connect(self._on_cluster_permission_answered)
        self.cluster.sig_decision_started.connect(self._on_cluster_decision_started)
        self.cluster.sig_decision_finished.connect(self._on_cluster_decision_finished)
        self._sync()

    # ------------------------------------------------------------ list and details
    def _on_watcher_proposals_changed(self, items: list[Row]) -> None:
        self.model.set_items(items)
        errors = "; ".join(self.watcher.errors.values())
        count = len(items)
        self.status.setText(f"{count} pending proposal{'s' if count != 1 else ''} · read "
                            f"{datetime.now().strftime('%H:%M:%S')}" + (f" · {errors}" if errors else ""))
        if self.selected() is None and items:
            self.select(*items[0].key)
        self._sync()

    def _on_watcher_place_failed(self, _place_id: str, _text: str) -> None:
        self.status.setText("; ".join(self.watcher.errors.values()))

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._sync()

    def select(self, place_id: str, proposal_id: int | str) -> bool:
        """Select a proposal: an engine's by its id, a cluster's by "Kind namespace/name"."""
        for row, item in enumerate(self.model.items()):
            if item.key == (place_id, proposal_id):
                self.table.selectRow(row)
                return True
        return False

    def selected(self) -> Row | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.item(rows[0].row()) if rows else None

    def _sync(self) -> None:
        item = self.selected()
        if isinstance(item, ClusterProposal):
            self._sync_cluster(item)
            return
        self.details.setHtml(details_html(item, datetime.now(UTC)) if item else
                             "<p><i>Select a proposal to see what it changes.</i></p>")
        self.reject_button.setText("Re&ject")
        self.reason.setPlaceholderText("Reason (required to reject; the proposer reads it)")
        for button in (self.approve_button, self.reject_button):
            button.setEnabled(item is not None and not self._busy)
            button.setToolTip("")

    def _sync_cluster(self, item: ClusterProposal) -> None:
        """Approve needs patch on the route (asked of the cluster, cached); a read-only context decides nothing."""
        permission = self.cluster.permission(item)
        read_only = bool(getattr(self.console.backend(item.place_id), "read_only", False))
        if read_only:
            why = f"{item.place} is read-only in the console: its proposals are decided elsewhere."
        elif permission is None:
            why = f"Asking the cluster whether {item.identity} may patch {item.kind} {item.namespace}/{item.name}…"
        else:
            why = permission.text
        allowed = not read_only and permission is not None and permission.allowed is not False
        self.details.setHtml(cluster_details_html(item, datetime.now(UTC), why))
        self.reject_button.setText("&Withdraw" if item.mine else "Re&ject")
        self.reason.setPlaceholderText("Reason (recorded in the console's audit log)")
        for button in (self.approve_button, self.reject_button):
            button.setEnabled(allowed and not self._busy and not item.error)
            button.setToolTip(why if not allowed else "")
        if allowed and item.mine:
            self.approve_button.setToolTip("You proposed this: another identity must approve it.")
        elif allowed and item.expired():
            self.approve_button.setToolTip("This proposal expired: it can be withdrawn, not approved.")

    # ------------------------------------------------------------ decisions
    def approve_selected(self) -> None:
        self._decide("approve")

    def reject_selected(self) -> None:
        self._decide("reject")

    def _decide(self, verb: str) -> None:
        item = self.selected()
        if item is None or self._busy:
            return
        reason = self.reason.text().strip()
        if isinstance(item, ClusterProposal):
            self.cluster.ask(item, "approve" if verb == "approve" else "withdraw", reason, self)
            return
        if verb == "reject" and not reason:
            self._show("A rejection needs a reason: the proposer reads it.", ok=False)
            self.reason.setFocus()
            return
        backend = self.console.backend(item.place_id)
        if not isinstance(backend, SupportsApprovals):
            self._show(f"{item.place} is gone or keeps no proposals", ok=False)
            return
        self._busy = True
        self._sync()
        self._show(f"{'Approving' if verb == 'approve' else 'Rejecting'} proposal {item.proposal.id} of "
                   f"{item.proposal.endpoint}…", ok=True)
        call = backend.approve if verb == "approve" else backend.reject
        self.console.runner.submit(call, item.proposal.id, reason,
                                   on_done=lambda result: self._on_decision_done(item, verb, result),
                                   on_error=lambda error: self._on_decision_failed(item, verb, error),
                                   name=f"{verb} proposal {item.proposal.id}")

    def _on_decision_done(self, item: PlacedProposal, verb: str, result: Any) -> None:
        self._busy = False
        p = item.proposal
        if verb == "approve":
            done, endpoint = result
            assert isinstance(endpoint, EndpointStatus)
            text = (f"Approved proposal {p.id} of {p.endpoint}: revision {done.applied_revision} is live, "
                    f"split {split_text(endpoint.traffic) or 'no live traffic'}.")
        else:
            assert isinstance(result, ChangeProposal)
            text = f"Rejected proposal {p.id} of {p.endpoint}: {result.decision_reason}"
        self.reason.clear()
        self._show(text, ok=True)
        self.console.sink.report(f"{text} (at {item.place})", "info", "approvals")
        self.console.refresh(item.place_id)
        self.watcher.poll()
        self._sync()
        self.sig_decision_finished.emit(item, result)

    def _on_decision_failed(self, item: PlacedProposal, verb: str, error: BaseException) -> None:
        self._busy = False
        text = f"Could not {verb} proposal {item.proposal.id} of {item.proposal.endpoint}: {error}"
        self._show(text, ok=False)
        self.console.sink.report(text, "error", "approvals")
        self.watcher.poll()  # a stale or expired one leaves the list
        self._sync()
        self.sig_decision_finished.emit(item, error)

    # ------------------------------------------------------------ cluster decisions
    def _on_cluster_permission_answered(self, item: ClusterProposal) -> None:
        if self.selected() is not None and self.selected().key == item.key:  # type: ignore[union-attr]
            self._sync()

    def _on_cluster_decision_started(self, item: ClusterProposal, verb: str) -> None:
        self._busy = True
        self._sync()
        self._show(f"{'Approving' if verb == 'approve' else 'Withdrawing'} the proposal by {item.proposer} for "
                   f"{item.where}…", ok=True)

    def _on_cluster_decision_finished(self, item: ClusterProposal, _verb: str, result: Any, text: str) -> None:
        self._busy = False
        ok = not isinstance(result, BaseException)
        if ok:
            self.reason.clear()
        self._show(text, ok=ok)
        self.console.sink.report(text, "info" if ok else "error", "approvals")
        self.console.refresh(item.place_id)
        self.watcher.poll()
        self._sync()
        self.sig_decision_finished.emit(item, result)

    def _show(self, text: str, ok: bool) -> None:
        self.outcome.setText(text)
        self.outcome.setStyleSheet("" if ok else f"color: {BREACH};")
