"""The charts fed by a real engine: the demo's deployments show latency and traffic from the
engine's telemetry stream (through the console's TelemetryFeed), and a traffic change shows as
a marker on every chart and as the observed share following the new target weight."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from console.backends import launcher
from console.backends.engine import EngineBackend
from console.ui.plots.panel import ChartsPanel
from console.ui.tasks import TaskRunner
from console.ui.telemetry_feed import LIVE, TelemetryFeed

pytestmark = [pytest.mark.integration, pytest.mark.gui]


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    tasks = TaskRunner(max_threads=4)
    yield tasks
    assert tasks.shutdown(timeout_s=5.0), "a worker was still busy after the test"
    assert tasks.active_threads() == 0


def _latest(panel: ChartsPanel, chart, key: str) -> float:
    curve = chart.data.get(key)
    if curve is None or np.isnan(curve.y).all():
        return float("nan")
    return float(curve.y[~np.isnan(curve.y)][-1])


def test_live_engine_telemetry_charts_the_demo_and_a_traffic_change(demo_engine, runner, qtbot):
    backend = EngineBackend("local", demo_engine.state_dir)
    feed = TelemetryFeed(runner)
    panel = ChartsPanel(interval_ms=200)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    feed.sig_batch_received.connect(panel.add_batch)
    feed.sig_source_changed.connect(panel.set_source_state)
    traffic = launcher.DemoTraffic(demo_engine.state_dir)
    client = backend.client()
    try:
        endpoint = client.endpoint("fraud")
        panel.show_endpoint("local", endpoint)
        panel.set_revisions("local", "fraud", client.revisions("fraud"))
        assert feed.start("local", backend)
        traffic.start()

        def charted() -> bool:
            return all(_latest(panel, panel.latency, f"{d}/False/p95") > 0 and
                       _latest(panel, panel.traffic, f"{d}/False/rate") > 0 for d in ("fraud-v1", "fraud-v2"))

        qtbot.waitUntil(charted, timeout=30_000)
        assert panel.source_label.text() == f"Telemetry: {LIVE}"
        assert {"fraud-v1", "fraud-v2", "fraud-v3"} <= {n.split()[-1] for n in panel.latency.legend_names()}
        assert panel.saturation.note.text() == "No GPU at this place"
        assert _latest(panel, panel.saturation, "fraud-v1/cpu_percent") >= 0

        changed = client.set_traffic("fraud", {"fraud-v1": 20, "fraud-v2": 80}, {}, if_match=endpoint.revision,
                                     reason="chart test")
        panel.show_endpoint("local", changed)
        panel.set_revisions("local", "fraud", client.revisions("fraud"))
        for chart in panel.charts:
            assert any(m.label.format.startswith(f"r{changed.revision} ") and "fraud-v2 80%" in m.label.format
                       for m in chart.markers)
        panel.traffic.mode.setCurrentText(panel.traffic.SHARE)
        target = panel.traffic.data["fraud-v2/target"]
        assert target.y[-1] == 80

        def share_followed() -> bool:
            share = panel.traffic.data["fraud-v2/share"]
            recent = share.y[-6:-1]  # the last five whole seconds
            return bool(np.count_nonzero(~np.isnan(recent)) >= 3 and np.nanmean(recent) > 50)

        qtbot.waitUntil(share_followed, timeout=30_000)
    finally:
        traffic.stop()
        feed.shutdown()
        backend.close()
