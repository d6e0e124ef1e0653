"""ChartsPanel with synthetic telemetry: curves, SLO lines, markers, pause, windows, gaps."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer, Signal

from console.domain.models import Revision, Slo
from tests.gui.plots_helpers import PLACE, T0, Clock, batch, feed, gpu, make_panel, sample


def curve(chart, key):
    return chart.curves[key]


def test_latency_and_traffic_curves_carry_the_samples(qtbot):
    clock = Clock(T0 + 60)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 60)
    panel.redraw()
    x, y = curve(panel.latency, "fraud-v1/False/p95").getData()
    assert x[-1] == T0 + 60 and y[-1] == 20.0
    assert panel.latency.curves["fraud-v2/False/p99"].getData()[1][-1] == 60.0
    assert panel.traffic.curves["fraud-v1/False/rate"].getData()[1][-1] == 90.0
    assert panel.errors.curves["fraud-v2/False/5xx"].getData()[1][-1] == 0.0
    assert sorted(panel.latency.legend_names()) == ["fraud-v1", "fraud-v2"]
    # one colour per deployment, the same on every chart
    pens = {panel.latency.curves["fraud-v1/False/p99"].opts["pen"].color().name(),
            panel.traffic.curves["fraud-v1/False/rate"].opts["pen"].color().name()}
    assert len(pens) == 1


def test_percentile_selector_hides_and_shows_curves(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    assert "fraud-v1/False/p50" not in panel.latency.curves  # the tail by default
    panel.latency.boxes["p50"].setChecked(True)
    assert panel.latency.data["fraud-v1/False/p50"].y[-1] == 10.0
    panel.latency.boxes["p95"].setChecked(False)
    assert "fraud-v1/False/p95" not in panel.latency.curves
    assert "fraud-v1/False/p99" in panel.latency.curves


def test_errors_show_5xx_by_default_and_4xx_one_click_away(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    assert sorted(panel.errors.curves) == ["fraud-v1/False/5xx", "fraud-v2/False/5xx"]  # server errors
    box = panel.errors.boxes["4xx"]
    assert box.isVisible() and not box.isChecked()
    box.setChecked(True)  # redraws at once
    assert panel.errors.data["fraud-v2/False/4xx"].y[-1] == 1.0
    assert panel.errors.curves["fraud-v2/False/4xx"].opts["pen"].style() == Qt.PenStyle.DashLine
    panel.errors.boxes["5xx"].setChecked(False)
    assert sorted(panel.errors.curves) == ["fraud-v1/False/4xx", "fraud-v2/False/4xx"]
    panel.errors.mode.setCurrentText(panel.errors.PERCENT)  # the boxes choose among rates only
    assert not box.isVisible() and sorted(panel.errors.curves) == ["fraud-v1/False/5xx%", "fraud-v2/False/5xx%"]


def test_slo_thresholds_are_drawn_at_their_values(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10), slo=Slo(percentile="p99", latency_ms=250, error_rate_percent=2))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    assert panel.latency.threshold.isVisible() and panel.latency.threshold.value() == 250
    low, high = panel.latency.plot.viewRange()[1]
    assert low <= 250 <= high  # the line is in view though every sample is far below it
    assert not panel.errors.threshold.isVisible()  # errors per second: no percent threshold
    panel.errors.mode.setCurrentText(panel.errors.PERCENT)
    assert panel.errors.threshold.isVisible() and panel.errors.threshold.value() == 2
    no_slo = make_panel(qtbot, Clock(T0 + 10))
    no_slo.redraw()
    assert not no_slo.latency.threshold.isVisible()


def revision(number: int, at: float, traffic: dict[str, int], actor: str = "alice") -> Revision:
    return Revision(endpoint="fraud", number=number, traffic=traffic, mirror={},
                    time=datetime.fromtimestamp(at, UTC), actor=actor, reason="", kind="shift")


def test_a_new_revision_appears_as_a_marker_on_every_chart(qtbot):
    clock = Clock(T0 + 60)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 60)
    first = [revision(1, T0 - 3000, {"fraud-v1": 100})]
    panel.set_revisions(PLACE, "fraud", first)
    assert all(chart.markers == [] for chart in panel.charts)  # r1 is outside the 5 m window
    panel.set_revisions(PLACE, "fraud", [*first, revision(2, T0 + 30, {"fraud-v1": 90, "fraud-v2": 10}, "bob")])
    for chart in panel.charts:
        [marker] = chart.markers
        assert marker.value() == T0 + 30
        assert marker.label.format == "r2 bob: fraud-v1 90%, fraud-v2 10%"
    # the traffic chart's target weight steps at the revision
    panel.traffic.mode.setCurrentText(panel.traffic.SHARE)
    x, y = panel.traffic.data["fraud-v2/target"].x, panel.traffic.data["fraud-v2/target"].y
    assert list(y) == [0, 0, 10, 10] and x[2] == T0 + 30
    share = panel.traffic.data["fraud-v2/share"].y
    assert np.nanmax(share) == pytest.approx(10.0)
    # markers of another endpoint do not show
    panel.set_revisions(PLACE, "other", [revision(9, T0 + 40, {"x": 100})])
    assert [m.value() for m in panel.latency.markers] == [T0 + 30]


def test_pause_stops_redraws_and_resume_catches_up(qtbot):
    clock = Clock(T0 + 30)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 30)
    panel.redraw()
    before = panel.latency.curves["fraud-v1/False/p95"].getData()[0].copy()
    panel.pause_button.click()
    assert panel.paused and panel.pause_button.text() == "Resume"
    feed(panel, T0 + 30, T0 + 40, p95=99.0)
    clock.now = T0 + 40
    panel._on_timer_timeout()  # the 1 Hz tick while paused
    x, _y = panel.latency.curves["fraud-v1/False/p95"].getData()
    assert np.array_equal(x, before)
    panel.pause_button.click()
    assert not panel.paused
    x, y = panel.latency.curves["fraud-v1/False/p95"].getData()
    assert x[-1] == T0 + 40 and y[-1] == 99.0  # buffered while paused


def test_the_timer_redraws_only_a_visible_panel(qtbot):
    clock = Clock(T0 + 5)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 5)
    clock.now = T0 + 6
    panel.timer.setInterval(20)
    # each chart is redrawn in an event of its own; the last one has the tick's time
    qtbot.waitUntil(lambda: panel.saturation.plot.viewRange()[0][1] == T0 + 6, timeout=3000)
    assert all(chart.plot.viewRange()[0][1] == T0 + 6 for chart in panel.charts)
    panel.hide()
    count = panel.redraws
    panel._on_timer_timeout()
    assert panel.redraws == count


class PaintSpy(QObject):
    """Notes, at each paint of a chart, how many redraws the panel has done so far."""

    painted = Signal()

    def __init__(self, panel) -> None:
        super().__init__()
        self.panel = panel
        self.charts = {chart.plot.viewport(): index for index, chart in enumerate(panel.charts)}
        self.seen: set[tuple[int, int]] = set()  # (chart's index, the panel's redraw count at a paint of it)
        for viewport in self.charts:
            viewport.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint and watched in self.charts:
            self.seen.add((self.charts[watched], self.panel.redraws))
            self.painted.emit()
        return False


def test_each_chart_is_painted_before_the_next_is_redrawn(qtbot):
    clock = Clock(T0 + 5)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 8)
    spy = PaintSpy(panel)
    probes: set[int] = set()  # the panel's redraw count each time a zero timer (as input would) got its turn
    probe = QTimer()
    probe.setInterval(0)
    probe.timeout.connect(lambda: probes.add(panel.redraws))
    probe.start()
    for second in (6, 7):  # the second tick is measured: the first also paints what showing the panel left
        spy.seen.clear()
        probes.clear()
        start = panel.redraws
        clock.now = T0 + second
        loop = QEventLoop()  # a plain event loop, as the app's (qtbot.waitUntil would pause in between)
        spy.painted.connect(lambda end=start + 4, loop=loop: loop.quit() if (3, end) in spy.seen else None)
        QTimer.singleShot(3000, loop.quit)
        panel.timer.timeout.emit()  # the 1 Hz tick
        loop.exec()
    probe.stop()
    # chart k is painted while the tick has redrawn k + 1 charts, and the GUI thread gets to
    # other events between the charts, not only after all four
    assert {(k, start + k + 1) for k in range(4)} <= spy.seen
    assert {start + 1, start + 2, start + 3} <= probes


def test_window_switch_changes_the_x_range(qtbot):
    clock = Clock(T0 + 3600)
    panel = make_panel(qtbot, clock)
    feed(panel, T0 + 3000, T0 + 3600)
    panel.redraw()
    assert panel.latency.plot.viewRange()[0] == pytest.approx([T0 + 3300, T0 + 3600])
    panel.window_box.setCurrentIndex(panel.window_box.findText("1 h"))
    assert panel.latency.plot.viewRange()[0] == pytest.approx([T0, T0 + 3600])
    hour = panel.latency.data["fraud-v1/False/p95"]
    assert len(hour.x) <= 302  # coarse buckets: as many points as five minutes
    panel.set_window(60)
    assert panel.traffic.plot.viewRange()[0] == pytest.approx([T0 + 3540, T0 + 3600])
    with pytest.raises(ValueError, match="no 7 s window"):
        panel.set_window(7)


def test_gaps_break_the_curves(qtbot):
    clock = Clock(T0 + 60)
    panel = make_panel(qtbot, clock)
    feed(panel, T0, T0 + 20)
    panel.add_batch(batch(T0 + 40, (), gap_from=T0 + 20, gap_to=T0 + 40))
    feed(panel, T0 + 40, T0 + 60)
    panel.redraw()
    data = panel.traffic.data["fraud-v1/False/rate"]
    inside = (data.x > T0 + 20) & (data.x <= T0 + 40)
    assert np.isnan(data.y[inside]).all() and not np.isnan(data.y[data.x == T0 + 41]).any()
    # the line drawn stops at the gap: it connects finite points only
    assert panel.traffic.curves["fraud-v1/False/rate"].curve.opts["connect"] == "finite"


def test_no_gpu_is_said_in_the_saturation_chart(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    assert panel.saturation.note.isVisible() and panel.saturation.note.text() == "No GPU at this place"
    assert panel.saturation.mode.currentText() == panel.saturation.CPU
    assert panel.saturation.data["fraud-v1/cpu_percent"].y[-1] == 30.0


def test_gpus_are_charted_per_gpu_and_deployment(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10, gpus=(gpu(0, 35.0), gpu(1, 70.0)))
    panel.redraw()
    assert not panel.saturation.note.isVisible()
    assert panel.saturation.mode.currentText() == panel.saturation.GPU_UTIL
    assert panel.saturation.data["fraud-v2/gpu_util:1"].y[-1] == 70.0
    panel.saturation.mode.setCurrentText(panel.saturation.GPU_MEMORY)
    assert panel.saturation.data["fraud-v1/gpu_memory:0"].y[-1] == 4e9
    panel.saturation.mode.setCurrentText(panel.saturation.KV)
    assert panel.saturation.note.text() == "No kv cache figures from this source"


def test_queue_depth_and_kv_cache_of_llm_servers(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    for t in range(1, 11):
        panel.add_batch(batch(T0 + t, (sample(T0 + t, "fraud-v1", kv_cache_percent=42.0, requests_running=3,
                                              requests_waiting=7, per_host=("kv_cache_percent",)),)))
    panel.saturation.mode.setCurrentText(panel.saturation.QUEUE)
    assert panel.saturation.data["fraud-v1/requests_waiting"].y[-1] == 7
    panel.saturation.mode.setCurrentText(panel.saturation.KV)
    kv = panel.saturation.data["fraud-v1/kv_cache_percent"]
    assert kv.y[-1] == 42.0 and kv.label == "KV cache (host)"


def test_breaches_show_a_banner_and_mark_the_legend(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    panel.set_breaches(PLACE, "fraud", {"fraud-v2": "p95 latency 480 ms is over the SLO's 300 ms"})
    assert panel.banner.isVisible()
    assert panel.banner.text() == "⚠ fraud-v2: p95 latency 480 ms is over the SLO's 300 ms"
    assert any("⚠ fraud-v2" in name for name in panel.latency.legend_names())
    panel.set_breaches(PLACE, "fraud", {})
    assert not panel.banner.isVisible()
    assert sorted(panel.latency.legend_names()) == ["fraud-v1", "fraud-v2"]


def test_source_state_is_shown_for_the_place_on_screen(qtbot):
    panel = make_panel(qtbot, Clock(T0))
    panel.set_source_state("elsewhere", "reconnecting in 2 s")
    assert panel.source_label.text() == ""
    panel.set_source_state(PLACE, "live")
    assert panel.source_label.text() == "Telemetry: live"


def test_crosshair_reads_every_visible_curve(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 60))
    feed(panel, T0, T0 + 60)
    panel.redraw()
    panel.latency.show_values_at(T0 + 30.2)
    text = panel.latency.readout.text()
    assert "fraud-v1 p95</span> 20 ms" in text and "fraud-v2 p99</span> 60 ms" in text


def test_keyboard_reaches_window_and_pause(qtbot):
    panel = make_panel(qtbot, Clock(T0))
    panel.window_box.setFocus()
    assert panel.window_box.focusPolicy() & panel.window_box.focusPolicy().TabFocus
    assert panel.pause_button.focusPolicy() & panel.pause_button.focusPolicy().TabFocus
    assert panel.window_box.nextInFocusChain() is panel.pause_button


def test_a_source_with_only_a_mean_latency_draws_it(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 5))
    for t in range(1, 6):
        panel.add_batch(batch(T0 + t, (sample(T0 + t, "fraud-v1", latency_ms={}, latency_mean_ms=7.0),)))
    panel.redraw()
    assert panel.latency.data["fraud-v1/False/mean"].y[-1] == 7.0
    assert np.isnan(panel.latency.data["fraud-v1/False/p95"].y).all()


def test_alert_monitor_breaches_mark_and_clear(qtbot):
    from console.domain.slo import Breach

    panel = make_panel(qtbot, Clock(T0 + 10))
    feed(panel, T0, T0 + 10)
    panel.redraw()
    breach = Breach(place_id=PLACE, endpoint="fraud", deployment="fraud-v2", figure="p95", value=412, threshold=250,
                    window_s=60, text="fraud / fraud-v2: p95 412 ms over 60 s > SLO 250 ms")
    panel._on_alerts_breach_started(breach)
    assert panel.banner.text() == "⚠ fraud / fraud-v2: p95 412 ms over 60 s > SLO 250 ms"
    assert any("⚠ fraud-v2" in name for name in panel.errors.legend_names())
    panel._on_alerts_breach_cleared(breach)
    assert not panel.banner.isVisible()


def test_has_data_once_latency_and_traffic_draw(qtbot):
    panel = make_panel(qtbot, Clock(T0 + 10))
    panel.redraw()
    assert not panel.has_data()
    feed(panel, T0, T0 + 10)
    panel.redraw()
    assert panel.has_data()
