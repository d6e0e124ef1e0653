"""AlertMonitor: judges every deployment's live telemetry against its endpoint's SLO and says
so once per change: a signal, an in-app notification, and a system-tray message where the
desktop has a tray.

Telemetry arrives as TelemetryBatch objects (`add_batch`, from the console's feed); the SLOs
come with the inventory snapshots (`set_inventory`). Samples are kept per deployment only as
long as its endpoint's SLO window (bounded, whatever the uptime), and only for endpoints that
have an SLO (or are not listed yet). Judging runs at most once a second, at the time of the
place's newest sample; the rules (window figures, minimum traffic, hysteresis) are in
console/domain/slo.py.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from console.backends.base import InventorySnapshot
from console.domain.models import Slo
from console.domain.slo import DEFAULT_MIN_REQUESTS, Breach, DeploymentSlo, label, step
from console.domain.telemetry import Sample, TelemetryBatch
from console.ui.errors import ErrorSink

KEEP_UNLISTED_S = 600.0  # samples of an endpoint the inventory has not listed yet
MAX_SAMPLES = 3700  # per deployment: the longest window (3600 s) at one sample a second, and some
Key = tuple[str, str, str]  # place id, endpoint, deployment


class AlertMonitor(QObject):
    sig_breach_started = Signal(object)  # Breach
    sig_breach_cleared = Signal(object)  # Breach, its text saying why it cleared
    sig_breaches_changed = Signal(str, str)  # place id, endpoint: its set of breaches changed

    def __init__(self, sink: ErrorSink | None = None, icon: QIcon | None = None,
                 place_name: Callable[[str], str] | None = None, min_requests: int = DEFAULT_MIN_REQUESTS,
                 interval_s: float = 1.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sink = sink
        self._icon = icon
        self._place_name = place_name or (lambda place_id: place_id)
        self.min_requests = min_requests
        self._interval_s = interval_s
        self._slos: dict[str, dict[str, Slo | None]] = {}  # place → endpoint → slo, once listed
        self._members: dict[str, dict[str, set[str]]] = {}  # place → endpoint → deployments listed
        self._samples: dict[Key, deque[Sample]] = {}
        self._states: dict[Key, DeploymentSlo] = {}
        self._newest: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._last_run = -1e9
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.tray: QSystemTrayIcon | None = None

    # ------------------------------------------------------------ inputs
    def add_batch(self, batch: TelemetryBatch) -> None:
        place = batch.place_id
        slos = self._slos.get(place)
        newest = self._newest.get(place, 0.0)
        for sample in batch.samples:
            if sample.mirror:
                continue  # shadow answers never reach a client: not judged
            if slos is not None and slos.get(sample.endpoint) is None:
                continue  # listed without an SLO: nothing to keep
            key = (place, sample.endpoint, sample.deployment)
            kept = self._samples.get(key)
            if kept is None:
                kept = self._samples[key] = deque(maxlen=MAX_SAMPLES)
            if kept and sample.time <= kept[-1].time:
                continue  # a second already seen (history overlapping live)
            kept.append(sample)
            newest = max(newest, sample.time)
        if newest:
            self._newest[place] = newest
        self._dirty.add(place)
        self._schedule()

    def set_inventory(self, snapshot: InventorySnapshot) -> None:
        """Learn each endpoint's SLO and deployments; close the breaches of what is gone."""
        place = snapshot.place_id
        self._slos[place] = {ep.name: ep.slo for ep in snapshot.endpoints}
        self._members[place] = {ep.name: {d.name for d in ep.deployments} for ep in snapshot.endpoints}
        for key in [k for k in self._samples if k[0] == place and self._slos[place].get(k[1]) is None]:
            del self._samples[key]
        gone: list[Breach] = []
        for key in [k for k in self._states if k[0] == place]:
            if key[2] not in self._members[place].get(key[1], set()):
                for was in self._states.pop(key).active():
                    gone.append(Breach(*key, was.figure, was.value, was.threshold, was.window_s,
                                       f"{key[1]} / {key[2]}: no longer listed; its {label(was.figure)} "
                                       "breach is closed", was.time))
        self._announce([("cleared", b) for b in gone])
        self._dirty.add(place)
        self._schedule()

    # ------------------------------------------------------------ judging
    def _schedule(self) -> None:
        if self._timer.isActive():
            return
        wait = self._last_run + self._interval_s - time.monotonic()
        if wait <= 0:
            self.evaluate()
        else:
            self._timer.start(max(1, int(wait * 1000)))

    def _on_timer_timeout(self) -> None:
        self.evaluate()

    def evaluate(self) -> None:
        """Judge every deployment of the places that got data or SLOs since the last time."""
        self._last_run = time.monotonic()
        events: list[tuple[str, Breach]] = []
        for place in sorted(self._dirty):
            now = self._newest.get(place)
            slos = self._slos.get(place)
            if now is None or slos is None:
                continue  # no data yet, or SLOs not known yet: keep what came, judge later
            members = self._members.get(place, {})
            keys = {k for k in self._samples if k[0] == place} | {k for k in self._states if k[0] == place}
            for key in sorted(keys):
                slo = slos.get(key[1])
                listed = key[2] in members.get(key[1], ())
                kept = self._samples.get(key)
                if kept is not None:
                    keep_s = slo.window_s if slo is not None and listed else KEEP_UNLISTED_S
                    while kept and kept[0].time <= now - keep_s:
                        kept.popleft()
                    if not kept:
                        del self._samples[key]
                if not listed:
                    continue  # not (or no longer, or not yet) in the inventory: not judged
                state = self._states.get(key, DeploymentSlo())
                new, found = step(state, slo, kept or (), now, place_id=key[0], endpoint=key[1],
                                  deployment=key[2], min_requests=self.min_requests)
                if new.active():
                    self._states[key] = new
                else:
                    self._states.pop(key, None)
                events.extend(found)
        self._dirty.clear()
        self._announce(events)

    # ------------------------------------------------------------ outputs
    def active(self) -> list[Breach]:
        return [b for state in self._states.values() for b in state.active()]

    def breaches(self, place_id: str, endpoint: str) -> dict[str, str]:
        """Deployment → what it breaches, for the inventory and the charts."""
        out: dict[str, list[str]] = {}
        for b in self.active():
            if (b.place_id, b.endpoint) == (place_id, endpoint):
                out.setdefault(b.deployment, []).append(b.text)
        return {dep: "; ".join(texts) for dep, texts in out.items()}

    def _announce(self, events: list[tuple[str, Breach]]) -> None:
        for kind, breach in events:
            where = self._place_name(breach.place_id)
            if kind == "started":
                self.sig_breach_started.emit(breach)
                self._notify(f"SLO breach: {breach.text}", where, "warning", QSystemTrayIcon.MessageIcon.Warning)
            else:
                self.sig_breach_cleared.emit(breach)
                self._notify(f"SLO: {breach.text}", where, "info", QSystemTrayIcon.MessageIcon.Information)
        for place, endpoint in sorted({(b.place_id, b.endpoint) for _, b in events}):
            self.sig_breaches_changed.emit(place, endpoint)

    def _notify(self, text: str, where: str, level: str, icon: QSystemTrayIcon.MessageIcon) -> None:
        if self._sink is not None:
            self._sink.report(f"{text} (at {where})", level, "SLO")
        tray = self._tray()
        if tray is not None:
            tray.showMessage(f"Switchboard · {where}", text, icon, 10_000)

    def _tray(self) -> QSystemTrayIcon | None:
        """The tray icon, made the first time a message needs it and the desktop has a tray."""
        if self.tray is None and QSystemTrayIcon.isSystemTrayAvailable() and self._icon is not None \
                and not self._icon.isNull():
            self.tray = QSystemTrayIcon(self._icon, self)
            self.tray.setToolTip("Switchboard")
            self.tray.show()
        return self.tray
