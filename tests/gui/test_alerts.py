"""SLO alerts in the console: the AlertMonitor's transitions and notifications, the inventory's
breach marks, the SLO dialog against a real engine, and a breach raised by real telemetry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QIcon
from PySide6.QtWidgets import QLabel, QSystemTrayIcon

from console.backends.base import InventorySnapshot
from console.backends.engine import EngineBackend
from console.backends.launcher import DemoTraffic
from console.backends.telemetry_stream import EngineTelemetryStream
from console.domain.models import Slo
from console.domain.slo import Breach
from console.domain.telemetry import Sample, TelemetryBatch
from console.ui.alerts import AlertMonitor
from console.ui.dialogs.slo import SloDialog, check_slo
from console.ui.errors import ErrorSink
from console.ui.models.inventory_tree import BREACH_COLOR
from console.ui.models.rows import Col
from tests.gui.factories import endpoint
from tests.gui.fakes import FakeBackend, start_window
from tests.harness import DEMO, RunningEngine, running_demo, wait_until

pytestmark = pytest.mark.gui

PLACE = "engine-test"
SLO = Slo(percentile="p95", latency_ms=250, error_rate_percent=1, window_s=60)


def snapshot(slo: Slo | None = SLO, place: str = PLACE, names: tuple[str, ...] = ("fraud-v1", "fraud-v2", "fraud-v3"),
             ) -> InventorySnapshot:
    ep = endpoint("fraud").model_copy(update={"slo": slo})
    ep = ep.model_copy(update={"deployments": [d for d in ep.deployments if d.name in names]})
    return InventorySnapshot(place, time.time(), (ep,))


def batch(first: int, last: int, p95: float, deployment: str = "fraud-v3", place: str = PLACE,
          endpoint_name: str = "fraud", history: bool = False, errors: float = 0) -> TelemetryBatch:
    samples = tuple(Sample(time=float(t), endpoint=endpoint_name, deployment=deployment, requests=10, errors_4xx=0,
                           errors_5xx=errors, latency_ms={"p50": p95 / 2, "p95": p95, "p99": p95})
                    for t in range(first, last + 1))
    return TelemetryBatch(place_id=place, read_at=float(last), samples=samples, history=history)


class Recorder:
    def __init__(self, monitor: AlertMonitor) -> None:
        self.started: list[Breach] = []
        self.cleared: list[Breach] = []
        monitor.sig_breach_started.connect(self.started.append)
        monitor.sig_breach_cleared.connect(self.cleared.append)


def test_a_breach_starts_once_and_clears_once_with_a_notification_each(qtbot) -> None:
    sink = ErrorSink()
    monitor = AlertMonitor(sink, interval_s=0, place_name=lambda _p: "Local engine")
    seen = Recorder(monitor)
    monitor.set_inventory(snapshot())
    monitor.add_batch(batch(1, 60, p95=412.0, history=True))  # the stream's history: already in breach
    assert [b.text for b in seen.started] == ["fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms"]
    assert monitor.breaches(PLACE, "fraud") == {"fraud-v3": "fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms"}
    for t in range(61, 70):  # still slow: no second notification
        monitor.add_batch(batch(t, t, p95=412.0))
    for t in range(70, 250):  # fast again: it clears once, a window after the slow seconds left
        monitor.add_batch(batch(t, t, p95=20.0))
    assert len(seen.started) == 1
    assert [(b.deployment, b.figure, b.time) for b in seen.cleared] == [("fraud-v3", "p95", 186.0)]
    assert seen.cleared[0].text == "fraud / fraud-v3: p95 back within SLO 250 ms (20 ms over 60 s)"
    assert monitor.breaches(PLACE, "fraud") == {}
    assert [(m.level, m.source, m.text) for m in sink.messages] == [
        ("warning", "SLO", "SLO breach: fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms (at Local engine)"),
        ("info", "SLO", "SLO: fraud / fraud-v3: p95 back within SLO 250 ms (20 ms over 60 s) (at Local engine)"),
    ]


def test_offscreen_there_is_no_tray_and_no_tray_icon_is_made(qtbot) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    monitor = AlertMonitor(ErrorSink(), QIcon(str(Path("resources/icons/switchboard.svg").resolve())), interval_s=0)
    monitor.set_inventory(snapshot())
    with qtbot.waitSignal(monitor.sig_breach_started):
        monitor.add_batch(batch(1, 60, p95=412.0))
    assert monitor.tray is None


def test_it_judges_at_most_once_a_second(qtbot) -> None:
    monitor = AlertMonitor(ErrorSink())
    seen = Recorder(monitor)
    monitor.set_inventory(snapshot())  # the first judgement (nothing to judge yet) runs now
    monitor.add_batch(batch(1, 60, p95=412.0))
    assert seen.started == []  # judged again only a second after the last time
    with qtbot.waitSignal(monitor.sig_breach_started, timeout=3000):
        pass
    assert len(seen.started) == 1


def test_errors_are_their_own_breach_and_too_little_traffic_is_none(qtbot) -> None:
    monitor = AlertMonitor(ErrorSink(), interval_s=0)
    seen = Recorder(monitor)
    monitor.set_inventory(snapshot())
    monitor.add_batch(TelemetryBatch(place_id=PLACE, read_at=2.0, samples=(
        Sample(time=1.0, endpoint="fraud", deployment="fraud-v2", requests=1, errors_5xx=1, latency_ms={"p95": 900}),
        Sample(time=2.0, endpoint="fraud", deployment="fraud-v2", requests=1, errors_5xx=0, latency_ms={"p95": 900}),
    )))
    assert seen.started == []  # one failed request of two is not an incident
    monitor.add_batch(batch(3, 60, p95=20.0, deployment="fraud-v2", errors=1))
    assert [(b.deployment, b.figure) for b in seen.started] == [("fraud-v2", "errors")]
    assert seen.started[0].text.startswith("fraud / fraud-v2: 5xx errors 10.1% over 60 s > SLO 1%")


def test_endpoints_without_an_slo_keep_no_samples_and_memory_stays_bounded(qtbot) -> None:
    monitor = AlertMonitor(ErrorSink(), interval_s=0)
    monitor.set_inventory(snapshot(slo=None))
    monitor.add_batch(batch(1, 100, p95=412.0))
    assert monitor._samples == {}
    monitor.set_inventory(snapshot(slo=Slo(latency_ms=100, window_s=30)))
    for first in range(1, 5000, 100):
        monitor.add_batch(batch(first, first + 99, p95=20.0))
    assert [len(kept) for kept in monitor._samples.values()] == [30]


def test_a_deployment_that_goes_away_closes_its_breach_and_removing_the_slo_too(qtbot) -> None:
    monitor = AlertMonitor(ErrorSink(), interval_s=0)
    seen = Recorder(monitor)
    monitor.set_inventory(snapshot())
    monitor.add_batch(batch(1, 60, p95=412.0))
    monitor.add_batch(batch(1, 60, p95=412.0, deployment="fraud-v2"))
    assert sorted(b.deployment for b in seen.started) == ["fraud-v2", "fraud-v3"]
    monitor.set_inventory(snapshot(names=("fraud-v1", "fraud-v2")))
    assert [b.text for b in seen.cleared] == ["fraud / fraud-v3: no longer listed; its p95 breach is closed"]
    monitor.add_batch(batch(61, 70, p95=412.0))  # its last seconds, still in the stream: not judged again
    assert len(seen.started) == 2
    monitor.set_inventory(snapshot(slo=None, names=("fraud-v1", "fraud-v2")))
    assert seen.cleared[-1].text == "fraud / fraud-v2: p95 SLO removed (was 412 ms > SLO 250 ms)"
    assert monitor.active() == []


# ---------------------------------------------------------------- the main window

def test_a_breach_marks_the_deployment_and_its_endpoint_in_the_inventory(env, qtbot) -> None:
    place = env["place_id"]
    env["factory"].backends[place] = FakeBackend(place, snapshot(place=place))
    console, window = start_window(env)
    model = console.inventory_model
    qtbot.waitUntil(lambda: model.find(place, "fraud", "fraud-v3").isValid(), timeout=5000)
    row = model.find(place, "fraud", "fraud-v3")
    window.alerts._interval_s = 0
    window.alerts.add_batch(batch(1, 60, p95=412.0, place=place))
    state = row.siblingAtColumn(Col.STATE)
    assert state.data() == "Ready · SLO breach"
    assert state.data(Qt.ItemDataRole.ToolTipRole).startswith(
        "SLO breach: fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms")
    assert state.data(Qt.ItemDataRole.ForegroundRole) == QBrush(BREACH_COLOR)
    assert row.data(Qt.ItemDataRole.ForegroundRole) == QBrush(BREACH_COLOR)
    assert "SLO breach" in model.find(place, "fraud").siblingAtColumn(Col.STATE).data()
    assert model.find(place, "fraud", "fraud-v1").siblingAtColumn(Col.STATE).data() == "Ready"
    assert "SLO breach: fraud / fraud-v3" in window.message_label.text()
    for t in range(61, 200):
        window.alerts.add_batch(batch(t, t, p95=20.0, place=place))
    assert state.data() == "Ready"
    assert state.data(Qt.ItemDataRole.ForegroundRole) != QBrush(BREACH_COLOR)
    console.shutdown()


def test_edit_slo_on_a_place_that_keeps_none_says_so(env, qtbot) -> None:
    console, window = start_window(env)
    qtbot.waitUntil(lambda: console.inventory_model.find(env["place_id"], "fraud").isValid(), timeout=5000)
    assert window.edit_slo() is None
    assert window.message_label.text().endswith("select an endpoint to edit its SLO")
    window.inventory.select(env["place_id"], "fraud")
    assert window.window_actions["edit_slo"].shortcut().toString() == "Ctrl+Shift+L"
    window.window_actions["edit_slo"].trigger()
    assert "does not store SLOs; SLOs are kept by the local engine" in window.message_label.text()
    titles = [e.title for e in window.palette_entries() if e.kind == "endpoint"]
    assert "edit SLO…" in titles
    console.shutdown()


# ---------------------------------------------------------------- the dialog, against a real engine

@pytest.mark.parametrize(("fields", "problem"), [
    (("p95", "", "", "60"), "Set a latency threshold, an error-rate threshold or both; to remove the SLO, use Clear"),
    (("p95", "fast", "", "60"), "Latency threshold: 'fast' is not a number of milliseconds."),
    (("p95", "-3", "", "60"), "Latency threshold must be more than 0 and at most 600000 ms (got -3)."),
    (("p95", "", "101", "60"), "Error-rate threshold must be from 0 to 100 % (got 101)."),
    (("p95", "", "nan", "60"), "Error-rate threshold: 'nan' is not a number of percent."),
    (("p95", "250", "", "1.5"), "Window must be a whole number of seconds (got '1.5')."),
    (("p95", "250", "", "5"), "Window must be from 10 to 3600 seconds (got 5)."),
])
def test_each_bad_field_gets_its_own_sentence(fields, problem) -> None:
    slo, problems = check_slo(*fields)
    assert slo is None
    assert any(p.startswith(problem) for p in problems), problems


def test_check_slo_accepts_a_decimal_comma() -> None:
    assert check_slo("p99", "12,5", "0.5", "30") == (
        Slo(percentile="p99", latency_ms=12.5, error_rate_percent=0.5, window_s=30), [])


@pytest.fixture
def engine_place(engine: RunningEngine, runner):
    with engine.client() as client:
        client.apply_yaml("kind: Endpoint\nname: fraud\n", engine.state_dir)
    backend = EngineBackend(PLACE, engine.state_dir)
    yield engine, backend
    backend.close()


def test_the_dialog_is_keyboard_ready_and_refuses_bad_fields_in_place(engine_place, runner, qtbot) -> None:
    _engine, backend = engine_place
    status = backend.inventory().endpoints[0]
    dialog = SloDialog(runner, backend, status)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.findChild(QLabel, "sloCurrent").text() == "Now: no SLO"
    buddies = {label.text(): label.buddy() for label in dialog.findChildren(QLabel) if label.buddy() is not None}
    assert buddies == {"&Percentile": dialog.percentile, "&Latency threshold (ms)": dialog.latency,
                       "&Error-rate threshold (%)": dialog.error_rate, "&Window (s)": dialog.window_edit}
    assert not dialog.clear_button.isEnabled()  # nothing to clear
    dialog.window_edit.setText("5")
    qtbot.keyClick(dialog.latency, Qt.Key.Key_Return)  # Enter saves: refused here, nothing sent
    assert dialog.message.text() == ("Window must be from 10 to 3600 seconds (got 5).\nSet a latency threshold, an "
                                     "error-rate threshold or both; to remove the SLO, use Clear SLO.")
    assert dialog.focusWidget() is dialog.window_edit and not dialog.sending and dialog.isVisible()
    assert backend.inventory().endpoints[0].slo is None


def test_the_dialog_saves_to_the_engine_and_clears(engine_place, runner, qtbot) -> None:
    engine, backend = engine_place
    dialog = SloDialog(runner, backend, backend.inventory().endpoints[0])
    qtbot.addWidget(dialog)
    dialog.percentile.setCurrentIndex(1)
    dialog.latency.setText("300")
    dialog.error_rate.setText("2")
    dialog.window_edit.setText("30")
    with qtbot.waitSignal(dialog.sig_slo_saved, timeout=10_000) as saved:
        dialog.save_button.click()
    expected = Slo(percentile="p99", latency_ms=300, error_rate_percent=2, window_s=30)
    assert saved.args[0].slo == expected
    assert backend.inventory().endpoints[0].slo == expected
    with engine.client() as client:
        event = client.request("GET", "/v1/audit")[-1]
    assert (event["action"], event["after"]["latency_ms"]) == ("endpoint.slo", 300.0)

    again = SloDialog(runner, backend, backend.inventory().endpoints[0])
    qtbot.addWidget(again)
    assert (again.latency.text(), again.error_rate.text(), again.window_edit.text()) == ("300", "2", "30")
    assert again.percentile.currentData() == "p99" and again.clear_button.isEnabled()
    with qtbot.waitSignal(again.sig_slo_saved, timeout=10_000):
        again.clear_button.click()
    assert backend.inventory().endpoints[0].slo is None


def test_the_engines_refusal_is_shown_in_the_dialog_and_reported(engine_place, runner, qtbot) -> None:
    _engine, backend = engine_place
    sink = ErrorSink()
    status = backend.inventory().endpoints[0]
    gone = SloDialog(runner, backend, status.model_copy(update={"name": "gone"}), sink)
    qtbot.addWidget(gone)
    with qtbot.waitSignal(sink.sig_message_reported, timeout=10_000):
        gone.send(Slo(latency_ms=100))
    assert gone.message.text().startswith("The SLO of gone was not saved: ")
    assert "no endpoint named 'gone'" in gone.message.text()
    assert gone.save_button.isEnabled() and not gone.sending

    bad = SloDialog(runner, backend, status, sink)
    qtbot.addWidget(bad)
    with qtbot.waitSignal(sink.sig_message_reported, timeout=10_000):
        bad.send(Slo.model_construct(percentile="p95", latency_ms=-1.0, error_rate_percent=None, window_s=60))
    assert bad.message.text().startswith("The engine refused the SLO of fraud:\n• latency_ms: Input should be")
    assert sink.messages[-1].level == "error" and sink.messages[-1].source == "SLO"


# ---------------------------------------------------------------- end to end

@pytest.mark.integration
def test_injected_latency_on_fraud_v3_raises_a_p95_breach_from_live_telemetry(tmp_path, qtbot) -> None:
    """Demo engine and traffic; fraud-v3 re-applied with DEMO_LATENCY_MS and given 10% of the
    traffic; the engine's own telemetry stream feeds an AlertMonitor until it names the breach."""
    with running_demo(tmp_path) as engine:
        docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
        (v3,) = [d for d in docs if d.get("name") == "fraud-v3"]
        v3["env"]["DEMO_LATENCY_MS"] = "300"
        with engine.client() as client:
            client.apply_yaml(yaml.safe_dump(v3), DEMO.parent)

            def slowed() -> bool:
                dep = client.request("GET", "/v1/deployments/fraud-v3")
                return dep["state"] == "Ready" and all(r["state"] == "ready" for r in dep["replicas"]) and \
                    dep["spec"]["env"]["DEMO_LATENCY_MS"] == "300" and len(dep["replicas"]) == 1

            wait_until(slowed, 60, what="fraud-v3 replaced by a replica with DEMO_LATENCY_MS=300")
            revision = client.endpoint("fraud")["revision"]
            client.set_traffic("fraud", revision, {"fraud-v1": 80, "fraud-v2": 10, "fraud-v3": 10}, {})
        backend = EngineBackend(PLACE, engine.state_dir)
        monitor = AlertMonitor(ErrorSink(), interval_s=0)
        seen = Recorder(monitor)
        inventory = backend.inventory()
        assert inventory.endpoints[0].slo == Slo(percentile="p95", latency_ms=100, error_rate_percent=1, window_s=30)
        monitor.set_inventory(inventory)
        traffic = DemoTraffic(engine.state_dir)
        traffic.start()
        stream = EngineTelemetryStream.for_state_dir(engine.state_dir, PLACE, history_s=0)
        try:
            with stream:
                stream.connect()
                deadline = time.monotonic() + 90
                for got in stream.batches():
                    monitor.add_batch(got)
                    if any(b.deployment == "fraud-v3" and b.figure == "p95" for b in seen.started) or \
                            time.monotonic() > deadline:
                        break
        finally:
            traffic.stop(timeout=5)
            backend.close()
    breach = next(b for b in seen.started if b.figure == "p95")
    assert (breach.endpoint, breach.deployment, breach.threshold, breach.window_s) == ("fraud", "fraud-v3", 100, 30)
    assert breach.value > 250
    assert breach.text.startswith("fraud / fraud-v3: p95 ") and breach.text.endswith(" ms over 30 s > SLO 100 ms")
    assert all(b.deployment == "fraud-v3" for b in seen.started), [b.text for b in seen.started]
