"""PlaceMonitor: reads one place on a schedule and reports its health.

connected → (a read fails) → reconnecting, with backoff and the time of the next try →
(three failures in a row) → unreachable, still retrying with backoff. A place never blocks
another: each monitor has at most one read in flight, on a worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, QTimer, Signal

from console.backends.base import Backend, NotSupported
from console.ui.models.rows import PreparedInventory, prepare
from console.ui.tasks import TaskRunner

UNREACHABLE_AFTER = 3


@dataclass(frozen=True)
class Health:
    state: str = "loading"  # loading, starting, connected, reconnecting, unreachable, on-demand
    error: str = ""
    next_try: float | None = None
    last_ok: float | None = None
    failures: int = 0

    def text(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.state == "connected":
            return "connected"
        if self.state in ("reconnecting", "unreachable") and self.next_try is not None:
            wait = max(0, round(self.next_try - now))
            return f"{self.state}, next try in {wait} s"
        if self.state == "loading":
            return "loading…"
        return self.state

    def tooltip(self) -> str:
        parts = [self.text()]
        if self.error:
            parts.append(self.error)
        if self.last_ok:
            parts.append("last read " + time.strftime("%H:%M:%S", time.localtime(self.last_ok)))
        return "\n".join(parts)


class PlaceMonitor(QObject):
    """Reads its place on a worker, which also computes the rows (rows.prepare): the GUI
    thread only compares them. `sig_inventory_prepared` (for the item model) comes first,
    then `sig_snapshot_received` with the bare snapshot."""

    sig_inventory_prepared = Signal(object)  # PreparedInventory
    sig_snapshot_received = Signal(object)  # InventorySnapshot
    sig_health_changed = Signal(str, object)  # place id, Health

    def __init__(self, backend: Backend, runner: TaskRunner, refresh_s: float = 2.0,
                 backoff_s: float = 1.0, backoff_cap_s: float = 8.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.place_id = backend.place_id
        self._runner = runner
        self.refresh_s = refresh_s
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.health = Health()
        self._task = 0
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._stopped = False
        self.refresh_now()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()
        if self._task:
            self._runner.cancel(self._task)
            self._task = 0

    def in_flight(self) -> bool:
        return bool(self._task)

    def set_health(self, health: Health) -> None:
        self.health = health
        self.sig_health_changed.emit(self.place_id, health)

    def refresh_now(self) -> None:
        """Read now (F5), unless a read is already on its way."""
        if self._stopped or self._task:
            return
        self._timer.stop()
        self._task = self._runner.submit(self._read, on_done=self._on_backend_answered,
                                         on_error=self._on_backend_failed, name=f"inventory of {self.place_id}")

    def _read(self) -> PreparedInventory:
        """On the worker: the read and its rows."""
        return prepare(self.backend.inventory())

    def _on_timer_timeout(self) -> None:
        self.refresh_now()

    def _on_backend_answered(self, prepared: PreparedInventory) -> None:
        self._task = 0
        if self._stopped:
            return
        if self.health.state != "connected" or self.health.failures:
            self.set_health(Health("connected", last_ok=prepared.read_at))
        else:
            self.health = replace(self.health, last_ok=prepared.read_at)
        self.sig_inventory_prepared.emit(prepared)
        self.sig_snapshot_received.emit(prepared.snapshot)
        self._timer.start(int(self.refresh_s * 1000))

    def _on_backend_failed(self, error: BaseException) -> None:
        self._task = 0
        if self._stopped:
            return
        if isinstance(error, NotSupported):
            self.set_health(Health("on-demand", error=str(error)))
            return
        failures = self.health.failures + 1
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (failures - 1))
        state = "reconnecting" if failures < UNREACHABLE_AFTER else "unreachable"
        self.set_health(Health(state, error=str(error), next_try=time.time() + delay,
                               last_ok=self.health.last_ok, failures=failures))
        self._timer.start(int(delay * 1000))
