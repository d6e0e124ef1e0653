"""The endpoint view's live charts under load, in simulated time.

An endpoint with 10 deployments is on screen (all four charts, 1 h window, the default choices:
60 curves: p95/p99, req/s, 4xx/s and 5xx/s, CPU per deployment) while 50 deployments of other
endpoints keep buffering. For each simulated second (one hour by default) one batch of 60
samples arrives (`add_batch`) and the panel redraws once, as its 1 Hz timer does (each chart in
an event of its own); nothing waits for real seconds. In the same run, bare pyqtgraph (four
PlotWidgets with the same items, pens, ranges, downsampling and clip-to-view, `setData` with
the same arrays, one plot per event too) draws the same curves, in alternating order with ours.
Every redraw is timed until Qt has painted it.

Figures: the GUI thread's stalls (each add_batch and each redraw+paint is one event; p99 and
max), redraw cost against bare pyqtgraph (target at most 1.2 times, median over the run),
and memory growth of the process (RSS; target under 50 MB).

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
from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

from console.domain.telemetry import Sample, TelemetryBatch
from console.ui.plots.panel import ChartsPanel
from tests.bench._benchlib import command_line, percentile
from tests.gui import factories

T0 = 1_750_000_000.0
SHOWN, OTHERS = 10, 50


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
            item = pg.PlotDataItem(pen=curves[len(items)].pen, connect="finite")
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.plots[index].addItem(item)
            items.append(item)
        for item, curve in zip(items, curves, strict=False):
            item.setData(curve.x, curve.y, connect="finite")
        self.plots[index].setXRange(start, end, padding=0)
        self.plots[index].setYRange(*chart.plot.viewRange()[1], padding=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds (default: one hour)")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    clock = Clock()
    panel = ChartsPanel(clock=clock, interval_ms=3_600_000)  # redraws are driven below
    panel.resize(1400, 900)
    panel.show()
    deployments = [factories.deployment(f"bench-d{i}", "bench") for i in range(SHOWN)]
    endpoint = factories.endpoint("bench", deployments=deployments,
                                  traffic={d.name: 10 for d in deployments})
    panel.show_endpoint("local", endpoint)
    panel.set_window(3600)
    bare = Bare(panel)
    bare.resize(1400, 900)
    bare.show()
    app.processEvents()
    rng = random.Random(7)
    process = psutil.Process()

    adds: list[float] = []
    ours: list[float] = []  # per tick, all four charts
    events: list[float] = []  # per chart: one GUI event each
    theirs: list[float] = []
    rss_start = 0
    for second in range(1, args.seconds + 1):
        clock.now = T0 + second
        batch = TelemetryBatch(place_id="local", read_at=clock.now, samples=samples(clock.now, rng))
        began = time.perf_counter()
        panel.add_batch(batch)
        adds.append(time.perf_counter() - began)

        # as the panel's timer does: each chart redrawn and painted in an event of its own
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

        for step in (ours_draw, bare_draw) if second % 2 else (bare_draw, ours_draw):
            step()
        if second == 60:  # after a minute: every series, curve and legend exists
            gc.collect()
            rss_start = process.memory_info().rss
    gc.collect()
    rss_end = process.memory_info().rss
    curves = sum(len(chart.data) for chart in panel.charts)
    stalls = adds + events
    ms = 1000.0
    ratio = statistics.median(ours) / statistics.median(theirs)
    growth = (rss_end - rss_start) / 2**20
    print(f"command: {command_line()}")
    print(f"load average: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(f"simulated: {args.seconds} s at 1 Hz; on screen: {SHOWN} deployments, {curves} curves, 1 h window; "
          f"buffering in the background: {OTHERS} more deployments; series kept: {len(panel.store)}")
    print(f"add_batch (60 samples): median {statistics.median(adds) * ms:.2f} ms, "
          f"p99 {percentile(adds, 99) * ms:.2f} ms")
    print(f"one chart's redraw+paint (one GUI event): median {statistics.median(events) * ms:.1f} ms, "
          f"p99 {percentile(events, 99) * ms:.1f} ms")
    print(f"redraw+paint of all four, ours: median {statistics.median(ours) * ms:.1f} ms, "
          f"p99 {percentile(ours, 99) * ms:.1f} ms, max {max(ours) * ms:.1f} ms")
    print(f"redraw+paint of all four, bare pyqtgraph: median {statistics.median(theirs) * ms:.1f} ms, "
          f"p99 {percentile(theirs, 99) * ms:.1f} ms")
    print(f"GUI thread stall: p99 {percentile(stalls, 99) * ms:.1f} ms (target < 50), "
          f"max {max(stalls) * ms:.1f} ms")
    print(f"redraw cost / bare pyqtgraph: {ratio:.2f}x (target <= 1.2)")
    print(f"memory growth (RSS, after the first minute to the end): {growth:.1f} MB (target < 50)")
    ok = percentile(stalls, 99) < 0.050 and ratio <= 1.2 and growth < 50
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
