"""ChartsPanel: the endpoint view's live charts — latency, traffic, errors and saturation.

`add_batch` only buffers (numpy writes into the TelemetryStore, every place, endpoint and
deployment, shown or not). One 1 Hz timer redraws the charts that are on screen, unless the
person paused them; resuming redraws at once, with everything buffered meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.domain.models import EndpointStatus, Revision
from console.domain.series import TelemetryStore
from console.domain.slo import Breach
from console.domain.telemetry import TelemetryBatch
from console.ui.models.tables import split_text
from console.ui.plots.chart import Chart
from console.ui.plots.colours import BREACH
from console.ui.plots.figures import ErrorsChart, LatencyChart, SaturationChart, TrafficChart, View
from console.ui.plots.rollout_marks import failed_spans, rollout_actor, rollout_markers, rollout_signature

WINDOWS = (("1 m", 60), ("5 m", 300), ("15 m", 900), ("1 h", 3600))


def marker_text(revision: Revision) -> str:
    return f"r{revision.number} {revision.actor}: {split_text(revision.traffic) or 'no live traffic'}"


class ChartsPanel(QWidget):
    sig_export_finished = Signal(str, str)  # a sentence for the person, its level

    def __init__(self, parent: QWidget | None = None, store: TelemetryStore | None = None,
                 clock: Callable[[], float] = time.time, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.setObjectName("chartsPanel")
        self.setAccessibleName("Live charts of the endpoint")
        self.store = store if store is not None else TelemetryStore()
        self.clock = clock
        self.place_id = ""
        self.endpoint_name = ""
        self.endpoint: EndpointStatus | None = None
        self.redraws = 0
        self.drawn_at: float | None = None  # the `now` of the last redraw
        self._paused_at: float | None = None
        self._revisions: dict[tuple[str, str], list[Revision]] = {}
        self._rollouts: dict[tuple[str, str], dict[str, Any]] = {}  # the rollout JSON of each endpoint
        self._breaches: dict[tuple[str, str], dict[str, str]] = {}
        self._alerts: dict[tuple[str, str], dict[tuple[str, str], str]] = {}  # (deployment, figure) → text
        self._sources: dict[str, str] = {}
        self._queue: list[Chart] = []  # charts still to redraw in this tick
        self._tick_at = 0.0
        self._painting: Chart | None = None  # the chart redrawn in the last event, to paint in the next
        # The steps wait for a zero timer, not a posted event (a zero singleShot): posted events
        # all run in one pass, without input between them. Qt paints a window on a 5 ms timer of
        # its own, all that is dirty at once; so each chart is painted in a step of its own.
        self._next = QTimer(self)
        self._next.setSingleShot(True)
        self._next.setInterval(0)
        self._next.timeout.connect(self._on_queue_next)

        self.window_box = QComboBox(self)
        self.window_box.setObjectName("chartsWindow")
        self.window_box.setAccessibleName("Time window of the charts")
        for text, seconds in WINDOWS:
            self.window_box.addItem(text, seconds)
        self.window_box.setCurrentIndex(1)
        self.window_box.currentIndexChanged.connect(lambda _i: self.redraw(user=True))
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("chartsPause")
        self.pause_button.setAccessibleName("Pause the charts")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.source_label = QLabel("", self)
        self.source_label.setObjectName("chartsSource")
        self.source_label.setAccessibleName("Telemetry source state")
        self.banner = QLabel("", self)
        self.banner.setObjectName("chartsBreaches")
        self.banner.setAccessibleName("SLO breaches")
        self.banner.setStyleSheet(f"color: {BREACH}; font-weight: bold;")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)

        self.latency, self.traffic = LatencyChart(self), TrafficChart(self)
        self.errors, self.saturation = ErrorsChart(self), SaturationChart(self)
        self.charts: tuple[LatencyChart, TrafficChart, ErrorsChart, SaturationChart] = (
            self.latency, self.traffic, self.errors, self.saturation)
        for each in self.charts:
            each.sig_mode_changed.connect(lambda _mode, c=each: self._on_chart_mode_changed(c))
            each.sig_export_finished.connect(self.sig_export_finished)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        window_label = QLabel("&Window", self)
        window_label.setBuddy(self.window_box)
        bar.addWidget(window_label)
        bar.addWidget(self.window_box)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.source_label, 1)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        for index, chart in enumerate(self.charts):
            grid.addWidget(chart, index // 2, index % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.banner)
        layout.addLayout(grid, 1)
        self.setTabOrder(self.window_box, self.pause_button)

        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.timer.start()

    # ------------------------------------------------------------ inputs
    def add_batch(self, batch: TelemetryBatch) -> None:
        """Buffer a batch (any place, endpoint, deployment); drawing waits for the timer."""
        self.store.add_batch(batch)

    def show_endpoint(self, place_id: str, endpoint: EndpointStatus | None) -> None:
        name = endpoint.name if endpoint else ""
        changed = (place_id, name) != (self.place_id, self.endpoint_name)
        self.place_id, self.endpoint_name, self.endpoint = place_id, name, endpoint
        if changed:
            self._show_source()
            self._show_breaches()
            self.redraw(user=True)

    def set_revisions(self, place_id: str, endpoint: str, revisions: list[Revision]) -> None:
        self._revisions[(place_id, endpoint)] = sorted(revisions, key=lambda r: r.number)
        if (place_id, endpoint) == (self.place_id, self.endpoint_name):
            self.redraw(user=True)

    def set_rollout(self, place_id: str, endpoint: str, rollout: dict[str, Any] | None) -> None:
        """The endpoint's rollout (active or last; None: none): steps and decisions become markers,
        failed analyses shaded spans."""
        key = (place_id, endpoint)
        before = rollout_signature(self._rollouts.get(key))
        if rollout:
            self._rollouts[key] = rollout
        else:
            self._rollouts.pop(key, None)
        if key == (self.place_id, self.endpoint_name) and rollout_signature(rollout) != before:
            self.redraw(user=True)

    def set_breaches(self, place_id: str, endpoint: str, breaches: dict[str, str]) -> None:
        if breaches:
            self._breaches[(place_id, endpoint)] = dict(breaches)
        else:
            self._breaches.pop((place_id, endpoint), None)
        if (place_id, endpoint) == (self.place_id, self.endpoint_name):
            self._show_breaches()

    def _on_alerts_breach_started(self, breach: Breach) -> None:
        """AlertMonitor.sig_breach_started: mark the deployment until its breach clears."""
        active = self._alerts.setdefault((breach.place_id, breach.endpoint), {})
        active[(breach.deployment, breach.figure)] = breach.text
        self._set_alerts(breach.place_id, breach.endpoint)

    def _on_alerts_breach_cleared(self, breach: Breach) -> None:
        self._alerts.get((breach.place_id, breach.endpoint), {}).pop((breach.deployment, breach.figure), None)
        self._set_alerts(breach.place_id, breach.endpoint)

    def _set_alerts(self, place_id: str, endpoint: str) -> None:
        by_deployment: dict[str, list[str]] = {}
        for (deployment, _figure), text in sorted(self._alerts.get((place_id, endpoint), {}).items()):
            by_deployment.setdefault(deployment, []).append(text)
        self.set_breaches(place_id, endpoint, {d: "; ".join(texts) for d, texts in by_deployment.items()})

    def set_source_state(self, place_id: str, text: str) -> None:
        self._sources[place_id] = text
        if place_id == self.place_id:
            self._show_source()

    def _show_source(self) -> None:
        text = self._source_text()
        self.source_label.setText(text)
        self.source_label.setToolTip(text + (
            "\nA Kubernetes context's charts come from the Prometheus that scrapes it: add that Prometheus as a "
            "place and set Kubernetes context (and Namespace label) in its label mapping." if "link a Prometheus"
            in text else ""))

    def _source_text(self) -> str:
        text = self._sources.get(self.place_id, "")
        return f"Telemetry: {text}" if text else ""

    def _show_breaches(self) -> None:
        breaches = self._breaches.get((self.place_id, self.endpoint_name), {})
        self.banner.setText("\n".join(f"⚠ {text}" if name in text else f"⚠ {name}: {text}"
                                      for name, text in sorted(breaches.items())))
        self.banner.setVisible(bool(breaches))
        for chart in self.charts:
            chart.set_breached(set(breaches))

    # ------------------------------------------------------------ window and pause
    def window_s(self) -> int:
        return int(self.window_box.currentData())

    def set_window(self, seconds: int) -> None:
        index = self.window_box.findData(seconds)
        if index < 0:
            raise ValueError(f"no {seconds} s window; choose one of {', '.join(t for t, _ in WINDOWS)}")
        self.window_box.setCurrentIndex(index)

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self._paused_at = (self.drawn_at or self.clock()) if paused else None
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setAccessibleName("Resume the charts" if paused else "Pause the charts")
        for chart in self.charts:
            chart.plot.setMouseEnabled(x=paused, y=False)  # paused: the person may pan and zoom in time
        if not paused:
            self.redraw()

    # ------------------------------------------------------------ drawing
    def _on_timer_timeout(self) -> None:
        """The 1 Hz tick: each chart on screen is redrawn in an event of its own and painted in
        the next, one chart after the other, so the GUI thread handles input between them."""
        if self.paused or not self.isVisible():
            return
        self._queue = [c for c in self.charts if c.is_showing()]
        self._tick_at = self.clock()
        self._painting = None
        self._on_queue_next()

    def _on_queue_next(self) -> None:
        chart = self._painting
        if chart is not None:  # redrawn in the last event: paint it now, on its own
            self._painting = None
            if chart.is_showing():
                chart.plot.viewport().repaint()
            if self._queue:
                self._next.start()
            return
        if not self._queue or self.paused:
            self._queue = []
            return
        chart = self._queue.pop(0)
        self.redraw(only=chart, at=self._tick_at)
        self._painting = chart
        self._next.start()

    def _on_chart_mode_changed(self, chart: Chart) -> None:
        self.redraw(user=True, only=chart)

    def redraw(self, user: bool = False, only: Chart | None = None, at: float | None = None) -> None:
        """Redraw the charts on screen (or only `only`) now. The timer's redraws stop while
        paused; a person's own change (window, mode, endpoint) still redraws then, at the time
        the charts stopped."""
        if (self.paused and not user) or not self.isVisible():
            return
        now = self._paused_at if self._paused_at is not None else at if at is not None else self.clock()
        span = self.window_s()
        view = View(self.store, self.place_id, self.endpoint_name, self.endpoint, self.store.window(span, now),
                    now - span, now, self._changes())
        markers = self._markers(now - span, now)
        spans = failed_spans(self._rollouts.get((self.place_id, self.endpoint_name)), now - span, now)
        for chart in self.charts:
            if (only is None or chart is only) and chart.is_showing():
                chart.refresh(view)
                chart.set_markers(markers)
                chart.set_spans(spans)
                chart.set_range(now - span, now)
        self.drawn_at = now
        self.redraws += 1

    def has_data(self) -> bool:
        """Whether the latency and traffic charts each draw at least one value (for screenshots)."""
        return all(any(not np.isnan(c.y).all() for c in chart.data.values()) for chart in (self.latency, self.traffic))

    def _changes(self) -> list[tuple[float, dict[str, int]]]:
        return [(r.time.timestamp(), r.traffic) for r in self._revisions.get((self.place_id, self.endpoint_name), [])]

    def _markers(self, start: float, end: float) -> list[tuple[float, str]]:
        revisions = self._revisions.get((self.place_id, self.endpoint_name), [])
        rollout = self._rollouts.get((self.place_id, self.endpoint_name))
        ours = rollout_actor(rollout)  # its revisions are marked by its own steps
        found = [(r.time.timestamp(), marker_text(r)) for r in revisions
                 if start <= r.time.timestamp() <= end and r.actor != ours]
        return sorted(found + rollout_markers(rollout, start, end))
