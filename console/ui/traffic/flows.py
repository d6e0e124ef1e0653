"""TrafficFlows: the traffic controls' flows between the panel, the dialogs, the sender and the
console — review, rollback (button, palette, shortcut), abort of an automated rollout, the
conflict dialog, progress and outcomes. Reads run on the TaskRunner; outcomes go to the
ErrorSink (status bar and Messages)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from console.backends.engine import actor
from console.ui.traffic import calls
from console.ui.traffic.calls import Change, EndpointRead
from console.ui.traffic.conflict import ConflictDialog
from console.ui.traffic.convergence import live_counts
from console.ui.traffic.observed import ObservedTraffic
from console.ui.traffic.panel import TrafficPanel
from console.ui.traffic.review import ReviewDialog
from console.ui.traffic.rollback import RollbackDialog
from console.ui.traffic.send import ChangeSender, ConflictInfo, Outcome

if TYPE_CHECKING:
    from console.ui.controller import Console

OBSERVED_WINDOW_S = 10.0
PERMISSIONS_TTL_S = 120.0  # a cluster's answer about patch permission is asked again after this
LEVELS = {"confirmed": "info", "proposed": "info", "applied": "info", "unconfirmed": "warning"}


class TrafficFlows(QObject):
    def __init__(self, console: Console, panel: TrafficPanel, window: QWidget,
                 current: Callable[[], tuple[str, str] | None] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.console, self.panel, self.window = console, panel, window
        self._current = current
        self.actor = actor()
        self.observed = ObservedTraffic(parent=self)
        self.changes = ChangeSender(console.runner, self.observed, parent=self)
        self.review_dialog: ReviewDialog | None = None
        self.rollback_dialog: RollbackDialog | None = None
        self.conflict_dialog: ConflictDialog | None = None
        self.outcomes: list[Outcome] = []
        console.telemetry.sig_batch_received.connect(self.observed.add_batch)
        console.sig_history_loaded.connect(self._on_console_history_loaded)
        panel.sig_review_requested.connect(self.review)
        panel.sig_rollback_requested.connect(self.rollback)
        panel.sig_endpoint_shown.connect(self._on_panel_endpoint_shown)
        # place id → (kind, namespace) → (answer, when asked: time.monotonic()); asked again after PERMISSIONS_TTL_S
        self._permissions: dict[str, dict[tuple[str, str], tuple[Any, float]]] = {}
        self._asking: set[tuple[str, tuple[str, str]]] = set()
        console.sig_places_changed.connect(self._on_console_places_changed)
        self.changes.sig_progress_changed.connect(self._on_changes_progress_changed)
        self.changes.sig_change_finished.connect(self._on_changes_change_finished)
        self.changes.sig_conflict_found.connect(self._on_changes_conflict_found)
        self._observed_timer = QTimer(self)
        self._observed_timer.setInterval(1000)
        self._observed_timer.timeout.connect(self._on_observed_timer_timeout)
        self._observed_timer.start()

    # ------------------------------------------------------------ which endpoint
    def _target(self, place_id: str | None, endpoint: str | None, what: str) -> tuple[str, str] | None:
        if place_id and endpoint:
            return place_id, endpoint
        if self.panel.status is not None:
            return self.panel.place_id, self.panel.status.name
        found = self._current() if self._current else None
        if found is None:
            self.console.sink.report(f"select an endpoint to {what}", "info", "traffic")
        return found

    def _refused(self, target: tuple[str, str], what: str) -> bool:
        """The shown endpoint may not be changed by this person: say why (the panel's buttons are disabled)."""
        why = self.panel.blocked() if target == (self.panel.place_id, self._panel_endpoint()) else None
        if why:
            self.console.sink.report(f"{target[1]}: cannot {what}: {why}", "warning", "traffic")
        return bool(why)

    # ------------------------------------------------------------ cluster permissions
    def _on_panel_endpoint_shown(self, place_id: str, endpoint: str) -> None:
        backend = self.console.backend(place_id)
        key = calls.cluster_key(backend, endpoint) if endpoint else None
        if key is None:
            self.panel.set_blocked(place_id, endpoint, None)
            return
        known = self._permissions.get(place_id, {}).get(key)
        if known is not None:  # shown at once; asked again in the background once it is old (RBAC changes)
            self.panel.set_blocked(place_id, endpoint, calls.cluster_blocked(backend, endpoint, known[0]))
            if time.monotonic() - known[1] < PERMISSIONS_TTL_S:
                return
        else:
            self.panel.set_blocked(place_id, endpoint, f"asking the cluster whether you may patch {key[0]} objects "
                                   f"in namespace {key[1]}…")
        if (place_id, key) in self._asking:
            return
        self._asking.add((place_id, key))

        def done(result: tuple[tuple[str, str], Any]) -> None:
            self._asking.discard((place_id, key))
            self._permissions.setdefault(place_id, {})[result[0]] = (result[1], time.monotonic())
            if self.panel.status is not None and self.panel.place_id == place_id:
                self._on_panel_endpoint_shown(place_id, self.panel.status.name)

        def failed(error: BaseException) -> None:
            self._asking.discard((place_id, key))
            self.panel.set_blocked(place_id, endpoint, f"the cluster could not be asked for permissions: {error}")

        self.console.runner.submit(calls.cluster_permission, backend, endpoint, on_done=done, on_error=failed,
                                   name=f"permissions on {endpoint}")

    def _on_console_places_changed(self) -> None:
        self._permissions.clear()  # a place edited (read-only, another context): ask again when next shown

    def forget_permissions(self, place_id: str) -> None:
        """Ask the cluster again (after a refusal, or when the person asks)."""
        self._permissions.pop(place_id, None)

    def _read(self, place_id: str, endpoint: str, done: Callable[[EndpointRead], None], what: str) -> None:
        backend = self.console.backend(place_id)

        def failed(error: BaseException) -> None:
            self.console.sink.report(f"{endpoint}: cannot {what}: {error}", "error", "traffic")

        if backend is None:
            failed(LookupError("its place is not connected"))
            return
        self.observed.watch(place_id, endpoint)
        self.console.runner.submit(calls.read_endpoint, backend, endpoint, on_done=done, on_error=failed,
                                   name=f"read {endpoint} to {what}")

    def _in_flight(self, place_id: str, endpoint: str) -> Callable[[], str | None]:
        return lambda: self.changes.in_flight(place_id, endpoint)

    def _samples(self, place_id: str, endpoint: str) -> Callable[[], list[Any]]:
        return lambda: self.observed.samples(place_id, endpoint)

    # ------------------------------------------------------------ review
    def review(self, place_id: str | None = None, endpoint: str | None = None) -> None:
        target = self._target(place_id, endpoint, "review a traffic change")
        if target is None or self.panel.status is None or target != (self.panel.place_id, self.panel.status.name):
            return
        if self._refused(target, "review a traffic change"):
            return
        if not self.panel.modified():
            self.console.sink.report(f"{target[1]}: the draft equals the live split: nothing to review", "info",
                                     "traffic")
            return
        base, (traffic, mirror) = self.panel.status, self.panel.draft()

        def opened(read: EndpointRead) -> None:
            dialog = ReviewDialog(target[0], dataclasses.replace(read, status=base),
                                  traffic, mirror, self.actor, self._samples(*target), self._in_flight(*target),
                                  self.window)
            dialog.set_read(read)
            dialog.sig_change_confirmed.connect(self.send)
            dialog.sig_refresh_requested.connect(lambda p, e: self._read(p, e, dialog.set_read, "review"))
            self.review_dialog = dialog
            dialog.open()

        self._read(*target, opened, "review a traffic change")

    def send(self, change: Change) -> None:
        backend = self.console.backend(change.place_id)
        if backend is None:
            self.console.sink.report(f"{change.describe()} not sent: its place is not connected", "error", "traffic")
            return
        if self.changes.send(change, backend) and (self.panel.place_id, self._panel_endpoint()) == \
                (change.place_id, change.endpoint):
            self.panel.set_busy(f"sending the {change.describe()}…")

    # ------------------------------------------------------------ rollback
    def rollback(self, place_id: str | None = None, endpoint: str | None = None) -> None:
        target = self._target(place_id, endpoint, "roll it back")
        if target is None or self._refused(target, "roll it back"):
            return

        def opened(read: EndpointRead) -> None:
            dialog = RollbackDialog(target[0], read, self.actor, self._in_flight(*target), self.window)
            dialog.sig_rollback_confirmed.connect(self.send)
            dialog.sig_abort_confirmed.connect(self.abort_rollout)
            dialog.sig_refresh_requested.connect(lambda p, e: self._read(p, e, dialog.set_read, "roll it back"))
            self.rollback_dialog = dialog
            dialog.open()

        self._read(*target, opened, "roll it back")

    def abort_rollout(self, place_id: str, endpoint: str, reason: str) -> None:
        backend = self.console.backend(place_id)
        if backend is None:
            return
        started = time.perf_counter()

        def done(result: dict[str, Any]) -> None:
            self.console.sink.report(f"{endpoint}: rollout {result.get('id', '')} aborted in "
                                     f"{time.perf_counter() - started:.2f} s: {result.get('description', '')}; "
                                     f"live traffic back to {result.get('baseline', 'its baseline')}", "info",
                                     "traffic")
            self.console.refresh(place_id)
            self.console.load_history(place_id, endpoint)

        def failed(error: BaseException) -> None:
            self.console.sink.report(f"{endpoint}: the rollout could not be aborted: {error}", "error", "traffic")

        self.console.runner.submit(calls.rollout_abort, backend, endpoint, reason, on_done=done, on_error=failed,
                                   name=f"abort the rollout of {endpoint}")

    # ------------------------------------------------------------ outcomes
    def _panel_endpoint(self) -> str:
        return self.panel.status.name if self.panel.status else ""

    def _on_changes_progress_changed(self, place_id: str, endpoint: str, text: str) -> None:
        if (place_id, endpoint) == (self.panel.place_id, self._panel_endpoint()):
            self.panel.set_message(text)

    def _on_changes_change_finished(self, outcome: Outcome) -> None:
        change = outcome.change
        self.outcomes.append(outcome)
        del self.outcomes[:-50]
        timing = f" ({outcome.timings['confirmed']:.2f} s after the click)" if "confirmed" in outcome.timings else ""
        self.console.sink.report(outcome.text + timing, LEVELS.get(outcome.state, "error"), "traffic")
        if outcome.state == "refused" and change.on_cluster:
            self.forget_permissions(change.place_id)
        if (change.place_id, change.endpoint) == (self.panel.place_id, self._panel_endpoint()):
            self.panel.set_busy("")
            if outcome.status is not None and outcome.state != "conflict":
                self.panel.start_from(outcome.status)
            self.panel.set_message(outcome.text + timing)
        self.console.refresh(change.place_id)
        self.console.load_history(change.place_id, change.endpoint)

    def _on_changes_conflict_found(self, info: ConflictInfo) -> None:
        dialog = ConflictDialog(info, self.window)
        dialog.sig_start_over_requested.connect(self._on_conflict_start_over_requested)
        self.conflict_dialog = dialog
        dialog.open()

    def _on_conflict_start_over_requested(self, place_id: str, status: Any) -> None:
        if (place_id, status.name) == (self.panel.place_id, self._panel_endpoint()):
            self.panel.start_from(status)
            self.panel.set_message(f"{status.name}: starting again from {status.revision_name} {status.revision}")

    # ------------------------------------------------------------ panel feeds
    def _on_console_history_loaded(self, place_id: str, endpoint: str, revisions: Any, _events: Any) -> None:
        self.panel.set_history(place_id, endpoint, revisions)

    def _on_observed_timer_timeout(self) -> None:
        status = self.panel.status
        if status is None:
            return
        place_id = self.panel.place_id
        self.observed.watch(place_id, status.name)
        latest = self.observed.latest_time(place_id, status.name)
        if latest is None:
            self.panel.set_observed(None)
            return
        counts = live_counts(self.observed.samples(place_id, status.name), status.name, latest - OBSERVED_WINDOW_S)
        total = sum(counts.values())
        self.panel.set_observed({n: 100 * c / total for n, c in counts.items()} if total else {})
