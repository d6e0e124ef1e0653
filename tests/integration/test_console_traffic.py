"""Traffic control from the console against a real engine with demo traffic flowing: drag,
review, confirm, applied and confirmed in the data plane; a blocked change; production
confirmation; the conflict dialog; rollback from the button and from the palette; an engine
that goes away mid-change. And the screenshots of the panel, the review and the rollback
confirmation, rendered under Xvfb (run as a script: `python tests/integration/test_console_traffic.py
--shots DIR`)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.domain.endpoint_policy import EndpointPolicy
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.harness import RunningEngine, demo_traffic, start_engine
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
SHOTS = ("traffic_panel", "traffic_review", "rollback_confirm")


def open_console(tmp: Path, engine: RunningEngine, qtbot: Any = None) -> tuple[Console, MainWindow, str]:
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp / "config"))
    window = MainWindow(console, QSettings(str(tmp / "console.ini"), QSettings.Format.IniFormat))
    if qtbot is not None:
        qtbot.addWidget(window)
    pid = console.load(engine.state_dir)
    assert pid is not None
    window._on_console_places_changed()
    console.monitors[pid].start()
    window.select_when_available(pid, "fraud")
    return console, window, pid


@pytest.fixture
def app(tmp_path, monkeypatch, qtbot, demo_engine) -> Iterator[tuple[Console, MainWindow, str, RunningEngine]]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with demo_engine.client() as client:  # a short bake time, as a release manager's policy might say
        client.set_policy("fraud", EndpointPolicy(bake_s=2))
    with demo_traffic(demo_engine.state_dir, 50):
        console, window, pid = open_console(tmp_path, demo_engine, qtbot)
        panel = window.endpoint_view.traffic_panel
        qtbot.waitUntil(lambda: panel.status is not None and panel.status.policy is not None, timeout=15000)
        qtbot.waitUntil(lambda: bool(window.traffic.observed.samples(pid, "fraud")), timeout=15000)
        yield console, window, pid, demo_engine
        window.close()
        assert console.shutdown(timeout_s=5.0)


def live(shares: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in shares.items() if v}


def _outcome(window: MainWindow, qtbot: Any, count: int, timeout: int = 30000) -> Any:
    qtbot.waitUntil(lambda: len(window.traffic.outcomes) >= count, timeout=timeout)
    return window.traffic.outcomes[count - 1]


def _review(window: MainWindow, qtbot: Any) -> Any:
    window.traffic.review_dialog = None
    window.endpoint_view.traffic_panel.review_button.click()
    qtbot.waitUntil(lambda: window.traffic.review_dialog is not None and window.traffic.review_dialog.isVisible(),
                    timeout=10000)
    return window.traffic.review_dialog


def _verdicts(dialog: Any) -> dict[str, str]:
    return {dialog.guards.item(r, 0).text(): dialog.guards.item(r, 1).text() for r in range(dialog.guards.rowCount())}


def test_drag_review_confirm_applied_and_confirmed_in_the_data_plane(app, qtbot):
    _console, window, _pid, engine = app
    panel = window.endpoint_view.traffic_panel
    slider = panel.rows["fraud-v2"].slider
    slider.setSliderDown(True)
    for value in (15, 20, 25):
        slider.setValue(value)
    slider.setSliderDown(False)
    with engine.client() as client:
        assert live(client.endpoint("fraud")["traffic"]) == {"fraud-v1": 90, "fraud-v2": 10}  # not sent
    dialog = _review(window, qtbot)
    verdicts = _verdicts(dialog)
    assert verdicts["freshness"] == verdicts["readiness"] == verdicts["one change at a time"] == "pass"
    assert verdicts["health"] in ("pass", "warn")
    assert "unknown" not in dialog.summary.text()  # the current load is known from the live telemetry
    dialog.reason.setText("canary 25%")
    if dialog.acknowledge.isVisible():
        dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled(), dialog.why_not.text()
    dialog.send_button.click()
    outcome = _outcome(window, qtbot, 1)
    assert outcome.state == "confirmed", outcome.text
    assert "confirmed in the data plane" in outcome.text and "fraud-v2" in outcome.text
    with engine.client() as client:
        now = client.endpoint("fraud")
    assert live(now["traffic"]) == {"fraud-v1": 75, "fraud-v2": 25}
    assert now["applied_revision"] == now["revision"] == outcome.revision
    assert "confirmed in the data plane" in panel.message.text()
    assert panel.traffic == {"fraud-v1": 75, "fraud-v2": 25, "fraud-v3": 0} and not panel.modified()


def test_a_blocked_change_cannot_be_sent(app, qtbot):
    _console, window, _pid, engine = app
    window.endpoint_view.traffic_panel.set_share("fraud-v3", 60)
    dialog = _review(window, qtbot)
    assert _verdicts(dialog)["step size"] == "block"
    assert not dialog.send_button.isEnabled()
    assert "fraud-v3 would rise 60 points" in dialog.why_not.text()
    dialog.send_button.click()
    dialog.reject()
    assert window.traffic.outcomes == []
    with engine.client() as client:
        assert client.endpoint("fraud")["revision"] == dialog.base.status.revision


def test_production_endpoint_needs_its_name_and_a_reason(app, qtbot):
    _console, window, _pid, engine = app
    with engine.client() as client:
        client.set_policy("fraud", EndpointPolicy(bake_s=0, production=True))
    panel = window.endpoint_view.traffic_panel
    window.console.refresh()
    qtbot.waitUntil(lambda: panel.status is not None and bool(panel.status.policy and panel.status.policy.production),
                    timeout=10000)
    panel.set_share("fraud-v2", 20)
    dialog = _review(window, qtbot)
    assert dialog.confirm_name.isVisible() and not dialog.send_button.isEnabled()
    assert "fraud is a production endpoint" in dialog.why_not.text()
    dialog.confirm_name.setText("fraud")
    dialog.reason.setText("CHG-7 canary")
    if dialog.acknowledge.isVisible():
        dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled(), dialog.why_not.text()
    dialog.send_button.click()
    outcome = _outcome(window, qtbot, 1)
    assert outcome.state == "confirmed", outcome.text
    with engine.client() as client:
        latest = client.request("GET", "/v1/endpoints/fraud/revisions")[-1]
    assert latest["reason"] == "CHG-7 canary" and latest["traffic"]["fraud-v2"] == 20


def test_a_second_writer_between_review_and_confirm_gets_the_conflict_dialog(app, qtbot):
    _console, window, _pid, engine = app
    panel = window.endpoint_view.traffic_panel
    panel.set_share("fraud-v2", 20)
    dialog = _review(window, qtbot)
    revision = dialog.base.status.revision
    dialog.reason.setText("mine")
    if dialog.acknowledge.isVisible():
        dialog.acknowledge.setChecked(True)
    with engine.client("intruder@elsewhere") as other:  # the other console, in between
        other.set_traffic("fraud", revision, {"fraud-v1": 80, "fraud-v2": 0, "fraud-v3": 20}, {}, "theirs")
    dialog.send_button.click()
    qtbot.waitUntil(lambda: window.traffic.conflict_dialog is not None, timeout=10000)
    conflict = window.traffic.conflict_dialog
    text = conflict.headline.text()
    assert "Nothing of your change was applied" in text and "intruder@elsewhere" in text
    assert "fraud-v1 80%, fraud-v3 20%" in text and f"now at revision {revision + 1}" in text
    assert conflict.revisions.item(0, 2).text() == "intruder@elsewhere"
    assert conflict.revisions.item(0, 5).text() == "theirs"
    assert any(conflict.events.item(r, 1).text() == "intruder@elsewhere" for r in range(conflict.events.rowCount()))
    outcome = _outcome(window, qtbot, 1)
    assert outcome.state == "conflict" and f"made on revision {revision}" in outcome.text
    with engine.client() as client:
        now = client.endpoint("fraud")
    assert live(now["traffic"]) == {"fraud-v1": 80, "fraud-v3": 20}  # nothing of ours
    conflict.start_over.click()
    assert live(panel.traffic) == {"fraud-v1": 80, "fraud-v3": 20}
    assert panel.status is not None and panel.status.revision == revision + 1 and not panel.modified()


def test_rollback_from_the_button_and_from_the_palette_is_confirmed(app, qtbot):
    _console, window, _pid, engine = app
    with engine.client("releaser@host") as client:
        before = client.endpoint("fraud")
        client.set_traffic("fraud", before["revision"], {"fraud-v1": 70, "fraud-v2": 30, "fraud-v3": 0}, {},
                           "canary 30%")
    panel = window.endpoint_view.traffic_panel
    qtbot.waitUntil(lambda: panel.status is not None and panel.status.revision == before["revision"] + 1,
                    timeout=10000)
    window.traffic.rollback_dialog = None
    panel.rollback_button.click()
    qtbot.waitUntil(lambda: window.traffic.rollback_dialog is not None, timeout=10000)
    dialog = window.traffic.rollback_dialog
    assert live(dialog.chosen().traffic) == live(before["traffic"])
    assert dialog.reason.text().startswith(f"rollback of revision {before['revision'] + 1} (canary 30%")
    dialog.confirm_button.click()
    outcome = _outcome(window, qtbot, 1)
    assert outcome.state == "confirmed", outcome.text
    with engine.client() as client:
        now = client.endpoint("fraud")
        revs = client.request("GET", "/v1/endpoints/fraud/revisions")
    assert live(now["traffic"]) == live(before["traffic"]) and revs[-1]["kind"] == "rollback"
    assert [d["state"] for d in now["deployments"] if d["name"] == "fraud-v2"] == ["Ready"]  # still running
    qtbot.waitUntil(lambda: panel.rows["fraud-v2"].note.text().startswith("rolled back from at"), timeout=10000)

    # and again from the command palette (Ctrl+K), rolling back the rollback
    window.traffic.rollback_dialog = None
    entry = next(e for e in window.commands.all_entries() if e.title == "rollback…" and e.subject == "fraud")
    entry.run()
    qtbot.waitUntil(lambda: window.traffic.rollback_dialog is not None, timeout=10000)
    window.traffic.rollback_dialog.confirm_button.click()
    outcome = _outcome(window, qtbot, 2)
    assert outcome.state == "confirmed", outcome.text
    with engine.client() as client:
        assert live(client.endpoint("fraud")["traffic"]) == {"fraud-v1": 70, "fraud-v2": 30}
    assert window.window_actions["rollback"].shortcut().toString() == "Ctrl+Shift+R"


def test_engine_gone_mid_change_outcome_unknown_then_read_back(app, qtbot, tmp_path):
    _console, window, _pid, engine = app
    panel = window.endpoint_view.traffic_panel
    panel.set_share("fraud-v2", 20)
    dialog = _review(window, qtbot)
    revision = dialog.base.status.revision
    if dialog.acknowledge.isVisible():
        dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled(), dialog.why_not.text()
    engine.stop()  # the engine goes away between confirm and the answer
    dialog.send_button.click()
    qtbot.waitUntil(lambda: "outcome unknown" in panel.message.text(), timeout=15000)
    assert window.traffic.outcomes == []  # not decided: nothing is guessed
    again = start_engine(engine.state_dir)
    try:
        outcome = _outcome(window, qtbot, 1, timeout=60000)
        assert outcome.state == "not-applied", outcome.text
        assert f"still at revision {revision}" in outcome.text and "fraud" in outcome.text
        with again.client() as client:
            assert client.endpoint("fraud")["revision"] == revision
    finally:
        again.stop()


# ---------------------------------------------------------------- screenshots under Xvfb

@pytest.mark.screenshot
def test_screenshots_of_the_panel_review_and_rollback(tmp_path):
    render_in_subprocess(__file__, tmp_path / "shots", *(f"{name}.png" for name in SHOTS), min_bytes=5_000,
                         env={"KUBECONFIG": str(tmp_path / "none")})


def render_screenshots(out: Path) -> None:
    """The demo with traffic; a canary step edited and reviewed; the rollback confirmation."""
    import tempfile

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from tests.harness import running_demo

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, running_demo(Path(folder)) as engine, \
            demo_traffic(engine.state_dir, 40):
        with engine.client("release-manager@ops") as client:
            client.set_policy("fraud", EndpointPolicy(bake_s=30))
            client.set_traffic("fraud", 1, {"fraud-v1": 75, "fraud-v2": 25}, {}, "canary step 2 of 4 (CHG-1042)")
        console, window, pid = open_console(Path(folder), engine)
        window.resize(1500, 940)
        window.show()
        panel = window.endpoint_view.traffic_panel
        pump(lambda: panel.status is not None and panel.status.revision == 2)
        pump(lambda: len(window.traffic.observed.samples(pid, "fraud")) > 24, 40)
        pump(lambda: all(r.observed.text() for r in panel.rows.values()))
        pump(lambda: bool(panel.rows["fraud-v2"].label.text()) and window.endpoint_view.revisions_model.rowCount() == 2)
        panel.candidate.setCurrentText("fraud-v2")
        panel.findChild(type(panel.promote_button), "trafficStep_50").click()
        QCoreApplication.processEvents()
        panel.grab().save(str(out / "traffic_panel.png"))
        window.traffic.review()
        pump(lambda: window.traffic.review_dialog is not None and window.traffic.review_dialog.isVisible())
        dialog = window.traffic.review_dialog
        dialog.reason.setText("canary step 3 of 4 (CHG-1042)")
        dialog.acknowledge.setChecked(True)
        QCoreApplication.processEvents()
        dialog.grab().save(str(out / "traffic_review.png"))
        dialog.reject()
        panel.reset()
        window.traffic.rollback()
        pump(lambda: window.traffic.rollback_dialog is not None and window.traffic.rollback_dialog.isVisible())
        QCoreApplication.processEvents()
        window.traffic.rollback_dialog.grab().save(str(out / "rollback_confirm.png"))
        window.traffic.rollback_dialog.reject()
        window.grab().save(str(out / "main_window_traffic.png"))
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shots":
        render_screenshots(Path(sys.argv[2]))
    else:
        sys.exit("usage: test_console_traffic.py --shots DIR")
