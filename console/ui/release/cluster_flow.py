"""Deciding a proposal stored on a Kubernetes route, from the approvals dock: the patch permission asked of the
cluster (SelfSubjectAccessReview, on a worker, cached for a minute), the confirmation, then approve or withdraw
on a worker (console/backends/kubernetes/history.py through the place's backend, which writes the console's
audit log: approved, withdrawn or refused)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from console.backends.base import Conflict
from console.ui.models.tables import split_text
from console.ui.release.capabilities import SupportsClusterApprovals
from console.ui.release.cluster import ClusterProposal, permission_text, refusal_text
from console.ui.release.dialogs import ReasonConfirmDialog

if TYPE_CHECKING:
    from console.ui.controller import Console

PERMISSION_TTL_S = 60.0
VERBS = {"approve": "Approve", "withdraw": "Withdraw"}


@dataclass(frozen=True)
class Permission:
    allowed: bool | None  # None: the cluster could not be asked (it decides when the approval is sent)
    text: str
    at: float


def decision_text(item: ClusterProposal, verb: str) -> str:
    where = f"the proposal by {item.proposer} for {item.where}"
    if verb == "approve":
        return (f"Approve {where}?\n\nThe split becomes {split_text(item.after) or 'no live traffic'} "
                f"(now {split_text(item.live) or 'no live traffic'}). The patch is sent as {item.identity} and "
                f"carries the route's resourceVersion {item.route.get('metadata', {}).get('resourceVersion', '?')}"
                ": if the route changed since, nothing is applied. The proposal is removed from the route.")
    return (f"{'Withdraw' if item.mine else 'Reject'} {where}?\n\nThe proposal is removed from the route; "
            f"the split stays {split_text(item.live) or 'no live traffic'}.")


class ClusterDecisionDialog(ReasonConfirmDialog):
    """Approve, reject or withdraw a proposal stored on a cluster route."""

    def __init__(self, item: ClusterProposal, verb: str, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(verb, name="clusterDecisionConfirm", title=f"{VERBS[verb]} the cluster proposal?",
                         accessible=f"Confirm: {verb} the proposal for {item.where}",
                         text=decision_text(item, verb), button=VERBS[verb],
                         placeholder="Reason (recorded in the console's audit log)", reason=reason, parent=parent)
        self.verb = verb
        self.text.setObjectName("clusterDecisionText")
        self.reason.setObjectName("clusterDecisionReason")
        self.ok_button.setObjectName("clusterDecisionOk")


class ClusterDecisions(QObject):
    sig_permission_answered = Signal(object)  # ClusterProposal whose permission is now known
    sig_decision_started = Signal(object, str)  # ClusterProposal, verb
    sig_decision_finished = Signal(object, str, object, str)  # item, verb, ActionRecord or exception, the words

    def __init__(self, console: Console, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.permissions: dict[tuple[str, str, str, str], Permission] = {}
        self._asking: set[tuple[str, str, str, str]] = set()
        self.confirm: ClusterDecisionDialog | None = None

    def _backend(self, item: ClusterProposal) -> SupportsClusterApprovals | None:
        backend = self.console.backend(item.place_id)
        return backend if isinstance(backend, SupportsClusterApprovals) else None

    # ------------------------------------------------------------ permission
    def permission(self, item: ClusterProposal) -> Permission | None:
        """The cached answer (asked again on a worker once older than a minute); None until the first answer."""
        key = (item.place_id, item.kind, item.namespace, item.name)
        hit = self.permissions.get(key)
        if (hit is None or time.monotonic() - hit.at > PERMISSION_TTL_S) and key not in self._asking:
            backend = self._backend(item)
            if backend is not None:
                self._asking.add(key)
                self.console.runner.submit(backend.may_patch_route, item.kind, item.namespace, item.name,
                                           on_done=partial(self._on_permission_answered, item, key),
                                           on_error=partial(self._on_permission_failed, item, key),
                                           name=f"may {item.identity} patch {item.kind} {item.where}")
        return hit

    def _on_permission_answered(self, item: ClusterProposal, key: Any, answer: tuple[bool, str]) -> None:
        self._asking.discard(key)
        allowed, missing = answer
        text = (f"{item.identity} may patch {item.kind} {item.namespace}/{item.name}." if allowed else
                f"{item.identity} may not approve or withdraw: {permission_text(item, missing)}.")
        self.permissions[key] = Permission(allowed, text, time.monotonic())
        self.sig_permission_answered.emit(item)

    def _on_permission_failed(self, item: ClusterProposal, key: Any, error: BaseException) -> None:
        self._asking.discard(key)
        self.permissions[key] = Permission(None, f"The cluster could not be asked whether {item.identity} may patch "
                                                 f"the route ({error}); it decides on approval.", time.monotonic())
        self.sig_permission_answered.emit(item)

    # ------------------------------------------------------------ decisions
    def ask(self, item: ClusterProposal, verb: str, reason: str, parent: QWidget | None) -> ClusterDecisionDialog:
        """Open the confirmation; confirmed, the decision is sent."""
        dialog = ClusterDecisionDialog(item, verb, reason, parent)
        dialog.sig_confirmed.connect(lambda v, why: self.send(item, v, why))
        dialog.finished.connect(dialog.deleteLater)
        self.confirm = dialog
        dialog.open()
        return dialog

    def send(self, item: ClusterProposal, verb: str, reason: str) -> None:
        backend = self._backend(item)
        if backend is None:
            self.sig_decision_finished.emit(item, verb, LookupError(f"{item.place} is gone"), f"{item.place} is gone")
            return
        self.sig_decision_started.emit(item, verb)
        call = partial(backend.decide_route_proposal, verb, item.kind, item.namespace, item.name, reason=reason,
                       read=item.route if verb == "approve" else None, endpoint=item.endpoint)
        self.console.runner.submit(call, on_done=partial(self._on_decision_done, item, verb),
                                   on_error=partial(self._on_decision_failed, item, verb, backend),
                                   name=f"{verb} the proposal for {item.where}")

    def _on_decision_done(self, item: ClusterProposal, verb: str, record: Any) -> None:
        if verb == "approve":
            text = (f"Approved the proposal by {item.proposer} for {item.where}: the split is now "
                    f"{split_text(record.after) or 'no live traffic'} (resourceVersion {record.resource_version}); "
                    "the proposal is removed from the route.")
        else:
            text = f"{'Withdrew' if item.mine else 'Rejected'} the proposal by {item.proposer} for {item.where}."
        self.sig_decision_finished.emit(item, verb, record, text)

    def _on_decision_failed(self, item: ClusterProposal, verb: str, backend: SupportsClusterApprovals,
                            error: BaseException) -> None:
        now = None
        if isinstance(error, Conflict) and isinstance(error.current, dict):
            try:
                now = backend.route_split(item.kind, error.current)
            except Exception:  # an unreadable route: the words say "unknown"
                now = None
        text = f"Could not {verb} the proposal by {item.proposer} for {item.where}: {refusal_text(item, error, now)}"
        self.sig_decision_finished.emit(item, verb, error, text)
