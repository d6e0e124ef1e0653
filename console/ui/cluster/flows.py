"""ClusterActions: the cluster actions of the selected endpoint or deployment of a Kubernetes
place, in the Cluster menu, the inventory's context menu and the command palette.

Each goes preview (a worker reads the objects) → confirmation dialog → send on a worker
(actions.py, with the resourceVersion read where the tool sends one) → audit event → verify
(the place's own watch shows the change) → the exact outcome in the status bar and Messages.
Permissions are asked of the cluster on a worker and kept per place; an action not allowed is
disabled with the missing permission and namespace as its tooltip."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from console.backends.base import Conflict, Invalid, NotFound, PlaceKind
from console.ui.cluster.dialogs import ClusterActionDialog, conflict_box
from console.ui.cluster.spec import ACTIONS, ActionSpec, Target, targets, why_not
from console.ui.cluster.verify import Verification, conflict_now
from console.ui.models.palette import PaletteEntry

if TYPE_CHECKING:
    from console.backends.kubernetes.permissions import Permissions
    from console.ui.main_window import MainWindow

PERMISSIONS_TTL_S = 120.0  # asked again after this long (RBAC changes), keeping the old answers meanwhile
SOURCE = "cluster"


@dataclass
class _Asked:
    perms: Permissions | None = None
    namespaces: frozenset[str] = frozenset()
    read_at: float = 0.0
    asking: bool = False
    waiting: list[tuple[str, Target]] = field(default_factory=list)  # runs started before the answers came


@dataclass(frozen=True)
class Offer:
    spec: ActionSpec
    target: Target
    why_not: str | None  # None: allowed

    @property
    def text(self) -> str:
        if self.spec.id == "deployment-rollback":
            return f"Roll back Deployment {self.target.namespace}/{self.target.name}…"
        return self.spec.title


class ClusterActions(QObject):
    sig_permissions_changed = Signal(str)  # place id
    sig_action_finished = Signal(str, str)  # action id, the outcome sentence

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.console = window.console
        self._asked: dict[str, _Asked] = {}
        self.dialog: ClusterActionDialog | None = None
        self.conflict: QMessageBox | None = None
        self.verifying: list[Verification] = []
        self.menu = QMenu("&Cluster", window)
        self.menu.setObjectName("clusterMenu")
        self.menu.setToolTipsVisible(True)
        self.menu.aboutToShow.connect(self._on_menu_about_to_show)
        window.menuBar().addMenu(self.menu)
        self.context_menu = QMenu(window)  # the inventory's right-click (and Menu key) menu
        self.context_menu.setObjectName("clusterContextMenu")
        self.context_menu.setToolTipsVisible(True)
        tree = window.inventory.tree
        tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        tree.customContextMenuRequested.connect(self._on_tree_context_menu_requested)
        window.inventory.sig_selection_changed.connect(self._on_inventory_selection_changed)

    # ------------------------------------------------------------ what is offered
    def _kube(self, place_id: str) -> Any:
        config = self.console.place(place_id)
        if config is None or config.kind != PlaceKind.KUBERNETES:
            return None
        return self.console.backend(place_id)

    def offers(self, place_id: str, endpoint: str, deployment: str | None = None) -> list[Offer]:
        backend = self._kube(place_id)
        if backend is None:
            return []
        out = []
        for spec, target in targets(place_id, getattr(backend, "refs", {}), endpoint, deployment):
            perms = self.permissions(place_id, target.namespace)
            out.append(Offer(spec, target, why_not(perms, spec, target.namespace, bool(backend.read_only))))
        return out

    def selected_offers(self) -> list[Offer]:
        kind, key = self.window.inventory.current()
        if kind not in ("endpoint", "deployment"):
            return []
        return self.offers(key[0], key[1], key[2] if kind == "deployment" else None)

    def fill_menu(self, menu: QMenu) -> list[QAction]:
        menu.clear()
        offers = self.selected_offers()
        if not offers:
            empty = menu.addAction("Select an endpoint or deployment of a Kubernetes place")
            empty.setEnabled(False)
            return []
        made = []
        for offer in offers:
            action = menu.addAction(offer.text)
            action.setObjectName(f"cluster-{offer.spec.id}")
            action.setEnabled(offer.why_not is None)
            action.setToolTip(offer.why_not or offer.spec.detail)
            action.setStatusTip(offer.why_not or offer.spec.detail)
            action.triggered.connect(partial(self.run, offer.spec.id, offer.target))
            made.append(action)
        return made

    def _on_menu_about_to_show(self) -> None:
        self.fill_menu(self.menu)

    def _on_tree_context_menu_requested(self, pos: QPoint) -> None:
        if not self.selected_offers():
            return
        self.fill_menu(self.context_menu)
        self.context_menu.popup(self.window.inventory.tree.viewport().mapToGlobal(pos))

    def palette_entries(self, place_id: str, endpoint: str, deployment: str | None = None) -> list[PaletteEntry]:
        """Entries for the command palette (fixed words: spec.PALETTE_WORDS). Checked again when run."""
        if deployment is None:
            offers = [o for o in self.offers(place_id, endpoint) if o.spec.id != "deployment-rollback"]
        else:
            offers = self.offers(place_id, endpoint, deployment)
        return [PaletteEntry("deployment" if deployment else "endpoint", o.spec.title, o.spec.detail,
                             partial(self.run_by_name, o.spec.id, place_id, endpoint, deployment),
                             subject=deployment or endpoint) for o in offers]

    # ------------------------------------------------------------ permissions (asked on a worker)
    def permissions(self, place_id: str, namespace: str) -> Permissions | None:
        """The answers for `namespace` when known (asked now when not, or when old)."""
        asked = self._asked.setdefault(place_id, _Asked())
        known = namespace in asked.namespaces or "" in asked.namespaces
        if not known or time.monotonic() - asked.read_at > PERMISSIONS_TTL_S:
            self._ask(place_id, {namespace})
        return asked.perms if known else None

    def _ask(self, place_id: str, namespaces: set[str]) -> None:
        asked = self._asked.setdefault(place_id, _Asked())
        backend = self._kube(place_id)
        if asked.asking or backend is None:
            return
        refs = getattr(backend, "refs", {})
        wanted = tuple(sorted(set(asked.namespaces) | namespaces | {r.namespace for r in refs.values()}))
        asked.asking = True
        from console.ui.cluster import calls  # loads the client (the place is connected by now)

        self.console.runner.submit(calls.ask_permissions, backend, wanted,
                                   on_done=partial(self._on_permissions_answered, place_id, frozenset(wanted)),
                                   on_error=partial(self._on_permissions_failed, place_id),
                                   name=f"permissions at {self._name(place_id)}")

    def _on_permissions_answered(self, place_id: str, namespaces: frozenset[str], perms: Permissions) -> None:
        asked = self._asked.setdefault(place_id, _Asked())
        asked.perms, asked.namespaces, asked.read_at, asked.asking = perms, namespaces, time.monotonic(), False
        waiting, asked.waiting = asked.waiting, []
        self.sig_permissions_changed.emit(place_id)
        if self.menu.isVisible():
            self.fill_menu(self.menu)
        for spec_id, target in waiting:
            self.run(spec_id, target)

    def _on_permissions_failed(self, place_id: str, error: BaseException) -> None:
        asked = self._asked.setdefault(place_id, _Asked())
        asked.asking, asked.waiting = False, []
        self.console.sink.report(f"the permissions at {self._name(place_id)} could not be asked: {error}", "warning",
                                 SOURCE)

    def _on_inventory_selection_changed(self, kind: str, key: Any) -> None:
        if kind in ("endpoint", "deployment"):
            self.offers(key[0], key[1], key[2] if kind == "deployment" else None)  # asks ahead when unknown

    # ------------------------------------------------------------ the flow
    def run_by_name(self, spec_id: str, place_id: str, endpoint: str, deployment: str | None) -> None:
        found = [o for o in self.offers(place_id, endpoint, deployment) if o.spec.id == spec_id]
        if not found:
            self.console.sink.report(f"{deployment or endpoint} is no longer listed at {self._name(place_id)}",
                                     "warning", SOURCE)
            return
        self.run(spec_id, found[0].target)

    def run(self, spec_id: str, target: Target, *_args: Any) -> None:
        """Check the permission, then preview on a worker; the dialog opens with the preview."""
        spec = ACTIONS[spec_id]
        backend = self._kube(target.place_id)
        if backend is None:
            self.console.sink.report(f"{self._name(target.place_id)} is not a Kubernetes place", "warning", SOURCE)
            return
        perms = self.permissions(target.place_id, target.namespace)
        why = why_not(perms, spec, target.namespace, bool(backend.read_only))
        if perms is None and not backend.read_only:
            self._asked[target.place_id].waiting.append((spec_id, target))
            self.console.sink.report(f"{self._label(spec, target)}: checking the permissions first…", "info",
                                     SOURCE)
            return
        if why is not None:
            self.console.sink.report(f"{self._label(spec, target)} is not allowed: {why}", "warning", SOURCE)
            return
        from console.ui.cluster import calls

        self.console.sink.report(f"{self._label(spec, target)}: reading it for the preview…", "info", SOURCE)
        self.console.runner.submit(calls.preview, backend, spec, target, on_done=self._on_preview_ready,
                                   on_error=partial(self._on_preview_failed, spec, target),
                                   name=f"preview of {target.what}")

    def _on_preview_ready(self, plan: Any) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ClusterActionDialog(plan, self.window)
        self.dialog.sig_action_confirmed.connect(self._on_dialog_action_confirmed)
        self.dialog.open()

    def _on_preview_failed(self, spec: ActionSpec, target: Target, error: BaseException) -> None:
        refused = isinstance(error, Invalid | NotFound)  # paused, no previous revision: the cluster's sentence
        self.console.sink.report(f"{self._label(spec, target)} refused: {error}" if refused else
                                 f"{self._label(spec, target)}: the preview failed: {error}",
                                 "warning" if refused else "error", SOURCE)
        self.sig_action_finished.emit(spec.id, str(error))

    def _on_dialog_action_confirmed(self, plan: Any, reason: str) -> None:
        backend = self._kube(plan.target.place_id)
        if backend is None:
            return
        from console.ui.cluster import calls

        self.console.sink.report(f"{self._label(plan.spec, plan.target)}: sending…", "info", SOURCE)
        self.console.runner.submit(calls.send, backend, plan, reason, on_done=partial(self._on_sent, plan),
                                   on_error=partial(self._on_send_failed, plan),
                                   name=f"{plan.spec.id} {plan.target.what}")

    def _on_sent(self, plan: Any, sent: Any) -> None:
        record = sent.record
        audit = f"audit event #{sent.audit_seq}" if sent.audit_seq is not None else sent.audit_error or "no audit log"
        if sent.audit_error:
            self.console.sink.report(f"{plan.target.what}: changed, but {sent.audit_error}", "error", SOURCE)
        verification = Verification(self.console.backend(plan.target.place_id), plan, record, audit, self)
        verification.sig_verified.connect(self._on_verification_verified)
        self.verifying.append(verification)
        verification.start()

    def _on_verification_verified(self, verification: Verification, text: str, level: str) -> None:
        if verification in self.verifying:
            self.verifying.remove(verification)
        self.console.sink.report(text, level, SOURCE)
        self.sig_action_finished.emit(verification.plan.spec.id, text)

    def _on_send_failed(self, plan: Any, error: BaseException) -> None:
        what = plan.target.what
        if isinstance(error, Conflict):
            now = conflict_now(plan, error.current)
            text = (f"{self._label(plan.spec, plan.target)}: it changed since the preview; nothing was changed or "
                    f"retried. Now: {'; '.join(f'{k} {v}' for k, v in now)}")
            self.console.sink.report(text, "warning", SOURCE)
            if self.conflict is not None:
                self.conflict.close()
            self.conflict, again = conflict_box(self.window, what, now, str(error))
            again.clicked.connect(partial(self.run, plan.spec.id, plan.target))
            self.conflict.open()
        else:
            text = f"{self._label(plan.spec, plan.target)} failed: {error}"
            self.console.sink.report(text, "error", SOURCE)
        self.sig_action_finished.emit(plan.spec.id, text)

    def _label(self, spec: ActionSpec, target: Target) -> str:
        """"Roll back Deployment default/iris", "Abort rollout default/canary": for the messages."""
        return f"{spec.title.rstrip('…')} {target.namespace}/{target.name}"

    def _name(self, place_id: str) -> str:
        config = self.console.place(place_id)
        return config.name if config else place_id

    def stop(self) -> None:
        for verification in list(self.verifying):
            verification.stop()
        self.verifying.clear()
