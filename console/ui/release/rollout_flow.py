"""RolloutFlow: keeps the endpoint view's rollout strip and charts up to date and carries out
what the strip asks for.

Every second it reads the shown endpoint's rollout on a worker (one read in flight at most);
the answer goes to the strip and to the charts (step markers, failed analyses shaded). When a
rollout ends it says so once (messages and tray): a rollback as a warning. Each action is
confirmed first (ConfirmActionDialog: what it does to the split, and a reason), then sent; the
engine's refusal is reported in its own words.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from console.backends.base import NotFound
from console.ui.release.capabilities import SupportsRollouts, place_name
from console.ui.release.dialogs import ConfirmActionDialog, PlanDialog
from console.ui.release.rollout import RolloutStrip

if TYPE_CHECKING:
    from console.ui.controller import Console
    from console.ui.views.endpoint import EndpointView

POLL_MS = 1000
ACTIVE = ("pending", "progressing", "paused")
Key = tuple[str, str]


class RolloutFlow(QObject):
    sig_rollout_read = Signal(str, str, object)  # place id, endpoint, the rollout's JSON or None
    sig_action_finished = Signal(str, object)  # action, the rollout's JSON or the exception

    def __init__(self, console: Console, view: EndpointView, parent: QWidget,
                 notify: Callable[[str, str, str], None] | None = None, interval_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.console, self.view, self.parent_widget = console, view, parent
        self.strip: RolloutStrip = view.rollout_strip
        self._notify = notify  # (title, text, level)
        self.key: Key | None = None
        self.rollouts: dict[Key, dict[str, Any] | None] = {}
        self._phases: dict[Key, tuple[str, str]] = {}  # rollout id, phase last seen
        self._events: dict[Key, int] = {}
        self._in_flight: set[Key] = set()
        self.confirm: ConfirmActionDialog | None = None
        self.plan_dialog: PlanDialog | None = None
        self.strip.sig_action_requested.connect(self._on_strip_action_requested)
        self.strip.sig_start_requested.connect(self._on_strip_start_requested)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _backend(self, place_id: str) -> SupportsRollouts | None:
        backend = self.console.backend(place_id)
        return backend if isinstance(backend, SupportsRollouts) else None

    def _shown(self) -> Key | None:
        ep = self.view.endpoint
        return (self.view.place_id, ep.name) if ep is not None else None

    # ------------------------------------------------------------ reading
    def _on_timer_timeout(self) -> None:
        self.poll()

    def poll(self) -> None:
        key = self._shown()
        if key != self.key:
            self.key = key
            self._show()
        if key is None or key in self._in_flight:
            return
        backend = self._backend(key[0])
        if backend is None:
            return
        self._in_flight.add(key)
        self.console.runner.submit(backend.rollout, key[1], on_done=partial(self._on_read, key),
                                   on_error=partial(self._on_read_failed, key), name=f"rollout of {key[1]}")

    def _on_read(self, key: Key, rollout: dict[str, Any] | None) -> None:
        self._in_flight.discard(key)
        self._take(key, rollout)

    def _on_read_failed(self, key: Key, error: BaseException) -> None:
        self._in_flight.discard(key)
        if isinstance(error, NotFound):
            self._take(key, None)
        # otherwise the place is unreachable: its monitor says so; the strip keeps what it knew

    def _take(self, key: Key, rollout: dict[str, Any] | None) -> None:
        self.rollouts[key] = rollout
        self._announce(key, rollout)
        self.view.charts.set_rollout(key[0], key[1], rollout)
        if key == self.key:
            self._show()
        self.sig_rollout_read.emit(key[0], key[1], rollout)

    def _show(self) -> None:
        key = self.key
        supported = key is not None and self._backend(key[0]) is not None
        self.strip.show_rollout(self.rollouts.get(key) if key else None, key[1] if key else "", supported)

    def _announce(self, key: Key, rollout: dict[str, Any] | None) -> None:
        """Say once when a rollout ends; read the endpoint again when the rollout moved its split."""
        if rollout is None:
            return
        now = (str(rollout.get("id")), str(rollout.get("phase")))
        was = self._phases.get(key)
        self._phases[key] = now
        events = len(rollout.get("events") or [])
        if self._events.get(key, events) != events:
            self.console.refresh(key[0])
            if key == self.key:
                self.console.load_history(*key)
        self._events[key] = events
        if rollout.get("active") or was is None or was[0] != now[0] or was[1] not in ACTIVE:
            return  # still running, or it had ended before this console looked
        where = place_name(self.console, key[0])
        text = f"{key[1]}: rollout {now[0]} {rollout.get('outcome') or now[1]}"
        level = "warning" if now[1] in ("rolled-back", "aborted") else "info"
        self.console.sink.report(f"{text} (at {where})", level, "rollout")
        if self._notify is not None and now[1] == "rolled-back":
            self._notify(f"Rollout rolled back: {key[1]}", text, level)

    # ------------------------------------------------------------ actions
    def _on_strip_action_requested(self, action: str) -> None:
        self.ask(action)

    def ask(self, action: str) -> ConfirmActionDialog | None:
        """Open the confirmation of `action` on the shown endpoint's rollout."""
        key, rollout = self.key, self.rollouts.get(self.key) if self.key else None
        if key is None or rollout is None or not rollout.get("active"):
            self.console.sink.report("no rollout is running on the shown endpoint", "info", "rollout")
            return None
        dialog = ConfirmActionDialog(action, rollout, self.parent_widget)
        dialog.sig_confirmed.connect(lambda a, reason, k=key: self.send(k, a, reason))
        dialog.finished.connect(dialog.deleteLater)
        self.confirm = dialog
        dialog.open()
        return dialog

    def send(self, key: Key, action: str, reason: str) -> None:
        backend = self._backend(key[0])
        if backend is None:
            return

        def done(rollout: dict[str, Any]) -> None:
            self.console.sink.report(f"{key[1]}: rollout {rollout.get('id')} {action}: "
                                     f"{rollout.get('outcome') or rollout.get('description')}", "info", "rollout")
            self._take(key, rollout)
            self.console.refresh(key[0])
            self.sig_action_finished.emit(action, rollout)

        def failed(error: BaseException) -> None:
            self.console.sink.report(f"{key[1]}: the rollout could not {action}: {error}", "error", "rollout")
            self.poll()
            self.sig_action_finished.emit(action, error)

        self.console.runner.submit(backend.rollout_action, key[1], action, reason, on_done=done, on_error=failed,
                                   name=f"{action} the rollout of {key[1]}")

    def _on_strip_start_requested(self) -> None:
        self.open_plan()

    def open_plan(self, path: str | None = None) -> PlanDialog | None:
        """The "Start rollout from plan…" dialog of the shown endpoint (reading `path` if given)."""
        key, endpoint = self.key or self._shown(), self.view.endpoint
        backend = self._backend(key[0]) if key else None
        if key is None or endpoint is None or backend is None:
            self.console.sink.report("select an endpoint of the local engine to start a rollout", "info", "rollout")
            return None
        dialog = PlanDialog(self.console.runner, backend, endpoint, self.parent_widget)

        def started(rollout: dict[str, Any]) -> None:
            self.console.sink.report(f"{key[1]}: rollout {rollout.get('id')} started: {rollout.get('description')}",
                                     "info", "rollout")
            self._take(key, rollout)
            self.console.refresh(key[0])

        dialog.sig_rollout_started.connect(started)
        dialog.finished.connect(dialog.deleteLater)
        self.plan_dialog = dialog
        dialog.open()
        if path:
            dialog.load_file(path)
        return dialog
