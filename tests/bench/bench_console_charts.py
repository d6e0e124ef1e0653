"""The endpoint view's live charts under load, in simulated time.

An endpoint with 10 deployments is on screen (all four charts, 1 h window, the default choices:
50 curves: p95/p99, req/s, 5xx/s and CPU per deployment) while 50 deployments of other endpoints
keep buffering. For each simulated second (one hour by default) one batch of 60 samples arrives
(`add_batch`) and the panel redraws once; nothing waits for real seconds. The seconds take
turns:

- Even seconds run as the app does: a real event loop, the batch delivered in an event, then
  the panel's own 1 Hz tick (each chart redrawn in an event of its own, Qt painting it when it
  gets to it). A 1 ms precise timer runs meanwhile; how late it fires is how long input would
  have waited (the stall figure, as tests/bench/bench_logs.py measures it).
- Odd seconds compare costs: ours and bare pyqtgraph (four PlotWidgets with stock PlotDataItems
  given the panel's options: same pens, connect mode, downsampling and clip-to-view, `setData`
  with the same arrays and the same ranges) each redraw all four charts, one plot at a time,
  timed until Qt has painted it, in alternating order. Paints Qt still owes afterwards (stock
  pyqtgraph asks for a second paint of a plot whose view moved) are let happen untimed, so
  they count against neither side.

Figures: the event loop's lateness (p99 and max; target p99 under 50 ms), redraw cost against
bare pyqtgraph (target at most 1.2 times, median over the run), and memory growth of the
process (RSS; target under 50 MB). `--curves all` draws every figure a chart offers instead
of the defaults (p50 and 4xx too: 70 curves).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_console_charts.py [--seconds 3600]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

from console.domain.telemetry import Sample, TelemetryBatch
from console.ui.plots.chart import CONNECT, Chart
from console.ui.plots.panel import ChartsPanel
from tests.bench._benchlib import command_line, percentile
from tests.gui import factories

T0 = 1_750_000_000.0
SHOWN, OTHERS = 10, 50
PROBE_MS = 1  # the event loop's lateness is measured on a timer of this interval


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


def samples(t: float, rng: random.Random) -> tuple[Sample, ...]:
    out = []
    for i in range(SHOWN + OTHERS):
        endpoint = "bench" if i < SHOWN else f"other-{i // 10}"
        p95 = 20 + 10 * (i % 5) + rng.random() * 5
        out.append(Sample(time=t, endpoint=endpoint, deployment=f"{endpoint}-d{i}", requests=50 + rng.random() * 20,
                          errors_4xx=rng.random() * 2, errors_5xx=rng.random(), cpu_percent=40 + rng.random() * 10,
                          rss_bytes=3e8, latency_ms={"p50": p95 / 2, "p95": p95, "p99": p95 * 1.4}))
    return tuple(out)


class Bare(QWidget):
    """Bare pyqtgraph: four plots holding PlotDataItems configured as the panel's are."""

    def __init__(self, panel: ChartsPanel) -> None:
        super().__init__()
        grid = QGridLayout(self)
        self.plots = []
        for index in range(4):
            plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
            plot.setMouseEnabled(x=False, y=False)
            plot.disableAutoRange()
            grid.addWidget(plot, index // 2, index % 2)
            self.plots.append(plot)
        self.items: list[list[pg.PlotDataItem]] = [[] for _ in range(4)]
        self.panel = panel

    def draw(self, index: int, start: float, end: float) -> None:
        chart = self.panel.charts[index]
        curves = list(chart.data.values())
        items = self.items[index]
        while len(items) < len(curves):
            item = pg.PlotDataItem(pen=curves[len(items)].pen, connect=CONNECT)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.plots[index].addItem(item)
            items.append(item)
        for item, curve in zip(items, curves, strict=False):
            item.setData(curve.x, curve.y, connect=CONNECT)
        self.plots[index].setXRange(start, end, padding=0)
        self.plots[index].setYRange(*chart.plot.viewRange()[1], padding=0)


def settle(app: QApplication, seconds: float = 0.015) -> None:
    """Let paints Qt still owes (on its 5 ms update timer) happen, untimed: stock pyqtgraph asks
    for a second paint of each plot as it paints it, which would land in the next measurement."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()


class Live(QObject):
    """Runs one second as the app does, in a real event loop, and measures its lateness."""

    def __init__(self, app: QApplication, panel: ChartsPanel) -> None:
        super().__init__()
        self.app, self.panel = app, panel
        self.lateness: list[float] = []  # ms late, each time the probe fired
        self.adds: list[float] = []
        self.redraws: list[float] = []  # one chart's redraw (its event; Qt paints it in another)
        self.redrawn: set[Chart] = set()
        self.painted: set[Chart] = set()
        self.finished = False
        self.last = 0.0
        self.loop: QEventLoop | None = None
        self.probe = QTimer(self)
        self.probe.setTimerType(Qt.TimerType.PreciseTimer)
        self.probe.setInterval(PROBE_MS)
        self.probe.timeout.connect(self._on_probe_timeout)
        self.viewports = {chart.plot.viewport(): chart for chart in panel.charts}
        for viewport in self.viewports:
            viewport.installEventFilter(self)
        redraw = panel.redraw

        def timed_redraw(user: bool = False, only: Chart | None = None, at: float | None = None) -> None:
            began = time.perf_counter()
            redraw(user=user, only=only, at=at)
            if only is not None:
                self.redraws.append(time.perf_counter() - began)
                self.redrawn.add(only)

        panel.redraw = timed_redraw  # type: ignore[method-assign]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        chart = self.viewports.get(watched)  # type: ignore[call-overload]
        if chart is not None and event.type() == QEvent.Type.Paint and chart in self.redrawn:
            self.painted.add(chart)
            self.finished = len(self.painted) == len(self.panel.charts) and not self.panel._queue
        return False

    def _on_probe_timeout(self) -> None:
        now = time.perf_counter()
        self.lateness.append(max(0.0, (now - self.last) * 1000 - PROBE_MS))
        self.last = now
        if self.finished and self.loop is not None:
            self.loop.quit()

    def run(self, batch: TelemetryBatch) -> None:
        def add() -> None:
            began = time.perf_counter()
            self.panel.add_batch(batch)
            self.adds.append(time.perf_counter() - began)

        self.redrawn.clear()
        self.painted.clear()
        self.finished = False
        self.loop = QEventLoop()
        # (timers, not the posted events of a zero singleShot: those would all run in one pass)
        QTimer.singleShot(1, add)
        QTimer.singleShot(2, self.panel.timer.timeout.emit)  # the panel's own 1 Hz tick
        self.last = time.perf_counter()
        self.probe.start()
        self.loop.exec()
        self.probe.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds (default: one hour)")
    parser.add_argument("--curves", choices=("default", "all"), default="default",
                        help="the charts' default figures, or every one (p50 and 4xx too)")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    clock = Clock()
    panel = ChartsPanel(clock=clock, interval_ms=3_600_000)  # ticks are driven below
    panel.resize(1400, 900)
    panel.show()
    deployments = [factories.deployment(f"bench-d{i}", "bench") for i in range(SHOWN)]
    endpoint = factories.endpoint("bench", deployments=deployments,
                                  traffic={d.name: 10 for d in deployments})
    panel.show_endpoint("local", endpoint)
    panel.set_window(3600)
    if args.curves == "all":
        for box in (*panel.latency.boxes.values(), *panel.errors.boxes.values()):
            box.setChecked(True)
    bare = Bare(panel)
    bare.resize(1400, 900)
    bare.show()
    app.processEvents()
    rng = random.Random(7)
    process = psutil.Process()
    live = Live(app, panel)

    ours: list[float] = []  # per compared second, all four charts
    events: list[float] = []  # per chart: redraw and paint, timed together
    theirs: list[float] = []
    rss_start = 0
    for second in range(1, args.seconds + 1):
        clock.now = T0 + second
        batch = TelemetryBatch(place_id="local", read_at=clock.now, samples=samples(clock.now, rng))
        if second % 2 == 0:
            live.run(batch)
        else:
            panel.add_batch(batch)

            def ours_draw() -> None:
                total = 0.0
                for chart in panel.charts:
                    began = time.perf_counter()
                    panel.redraw(only=chart, at=clock.now)
                    app.processEvents()
                    events.append(time.perf_counter() - began)
                    total += events[-1]
                ours.append(total)

            def bare_draw() -> None:
                total = 0.0
                for index in range(4):
                    began = time.perf_counter()
                    bare.draw(index, clock.now - 3600, clock.now)
                    app.processEvents()
                    total += time.perf_counter() - began
                theirs.append(total)

            for step in (ours_draw, bare_draw) if second % 4 == 1 else (bare_draw, ours_draw):
                step()
                settle(app)
        if second == 60:  # after a minute: every series, curve and legend exists
            gc.collect()
            rss_start = process.memory_info().rss
    gc.collect()
    rss_end = process.memory_info().rss
    curves = sum(len(chart.data) for chart in panel.charts)
    late = live.lateness
    ms = 1000.0
    ratio = statistics.median(ours) / statistics.median(theirs)
    growth = (rss_end - rss_start) / 2**20
    print(f"command: {command_line()}")
    print(f"load average: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(f"simulated: {args.seconds} s at 1 Hz; on screen: {SHOWN} deployments, {curves} curves ({args.curves}), "
          f"1 h window; buffering in the background: {OTHERS} more deployments; series kept: {len(panel.store)}")
    print(f"add_batch (60 samples): median {statistics.median(live.adds) * ms:.2f} ms, "
          f"p99 {percentile(live.adds, 99) * ms:.2f} ms")
    print(f"one chart's redraw (its event; painted in the next): median {statistics.median(live.redraws) * ms:.1f} ms, "
          f"p99 {percentile(live.redraws, 99) * ms:.1f} ms")
    print(f"one chart's redraw+paint timed together: median {statistics.median(events) * ms:.1f} ms, "
          f"p99 {percentile(events, 99) * ms:.1f} ms")
    print(f"redraw+paint of all four, ours: median {statistics.median(ours) * ms:.1f} ms, "
          f"p99 {percentile(ours, 99) * ms:.1f} ms, max {max(ours) * ms:.1f} ms")
    print(f"redraw+paint of all four, bare pyqtgraph: median {statistics.median(theirs) * ms:.1f} ms, "
          f"p99 {percentile(theirs, 99) * ms:.1f} ms")
    print(f"GUI thread stall (event loop lateness, {PROBE_MS} ms timer, {len(late)} samples): "
          f"p50 {percentile(late, 50):.1f} ms, p99 {percentile(late, 99):.1f} ms (target < 50), "
          f"max {max(late):.1f} ms")
    print(f"redraw cost / bare pyqtgraph: {ratio:.2f}x (target <= 1.2)")
    print(f"memory growth (RSS, after the first minute to the end): {growth:.1f} MB (target < 50)")
    ok = percentile(late, 99) < 50 and ratio <= 1.2 and growth < 50
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
