"""The logs dock against a real engine: Ctrl+L follows the selected endpoint's deployments live,
router lines carry request ids that open a request view, pause holds lines without loss, and
closing stops the streams. The screenshot of the dock is taken under Xvfb."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.domain.logparse import LogEntry
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.logs.livepane import LivePane
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.gui]
ARTIFACT = ROOT / "tests" / "artifacts" / "logs_dock.png"
README_SHOT = ROOT / "resources" / "screenshots" / "logs_dock.png"


@pytest.fixture
def window(demo_engine, tmp_path, monkeypatch, qtbot) -> Iterator[MainWindow]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "config"))
    made = MainWindow(console, QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(made)
    made.place_id = console.load(demo_engine.state_dir)
    made._on_console_places_changed()
    console.monitors[made.place_id].start()
    made.show()
    yield made
    made.close()
    assert console.shutdown(timeout_s=5.0), "a log stream was still running after the window closed"
    assert runner.active_threads() == 0


def texts(pane: LivePane) -> list[str]:
    return [pane.live.entry_at(r).text for r in range(pane.live.entry_count())]


def test_ctrl_l_follows_the_endpoint_live_with_request_ids_and_pause(window, demo_engine, qtbot):
    place = window.place_id
    qtbot.waitUntil(lambda: window.inventory.select(place, "fraud"), timeout=20_000)
    window.window_actions["logs"].trigger()
    pane = window.logs_dock.pane(f"engine:{place}:endpoint:fraud")
    assert isinstance(pane, LivePane) and window.logs_dock.isVisible()
    # the tail: every replica said it started; the sources are prefixed with their deployment
    qtbot.waitUntil(lambda: sum("replica ready" in t for t in texts(pane)) >= 4, timeout=20_000)
    assert {"fraud-v1", "fraud-v2", "fraud-v3"} <= {s.split("/")[0] for s in pane.live.sources}

    response = demo_engine.score("fraud", **{"x-request-id": "it-logs-0001"})
    assert response.status_code == 200
    qtbot.waitUntil(lambda: any(pane.live.entry_at(r).request_id == "it-logs-0001"
                                for r in range(pane.live.entry_count())), timeout=10_000)
    request = window.logs_dock.show_request("it-logs-0001")
    qtbot.waitUntil(lambda: request.live.entry_count() >= 1)
    assert request.live.entry_at(0).source.endswith("/router")
    assert "status 200" in request.live.entry_at(0).text

    # pause: lines keep arriving and are held, none lost; resume shows them all
    window.logs_dock.tabs.setCurrentWidget(pane)
    pane.set_paused(True)
    shown = pane.live.entry_count()
    for i in range(20):
        assert demo_engine.score("fraud", **{"x-request-id": f"it-paused-{i:04d}"}).status_code == 200
    qtbot.waitUntil(lambda: sum(LogEntry._make(row).request_id.startswith("it-paused-") for row in pane.held) == 20,
                    timeout=10_000)
    assert pane.live.entry_count() == shown and "lines held" in pane.status.text()
    pane.set_paused(False)
    ids = {pane.live.entry_at(r).request_id for r in range(pane.live.entry_count())}
    assert {f"it-paused-{i:04d}" for i in range(20)} <= ids

    # closing the tab stops its streams
    window.logs_dock.close_tab(window.logs_dock.tabs.indexOf(pane))
    assert all(feed.stopped for feed in pane.feeds)
    qtbot.waitUntil(lambda: all(feed.state == "stopped" for feed in pane.feeds), timeout=5_000)


SHOT_SCRIPT = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
from console.backends.logstreams import EngineLogSource
from console.ui.logs import LogsDock
from console.ui.tasks import TaskRunner

state_dir, out, settings_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
app = QApplication([])
runner = TaskRunner()
window = QMainWindow()
dock = LogsDock(runner, QSettings(settings_path, QSettings.Format.IniFormat))
window.setCentralWidget(dock)
window.resize(1400, 560)
sources = [EngineLogSource(state_dir, name) for name in ("fraud-v1", "fraud-v2", "fraud-v3")]
pane = dock.open_sources("engine:shot:fraud", "fraud (all deployments)", sources, str(state_dir / "logs"))
window.show()
deadline = time.monotonic() + 30

def check():
    if pane.live.entry_count() >= 40 or time.monotonic() > deadline:
        pane.search_bar.text.setText("status 200")
        pane.search_bar.request()
        pane.step(1)
        QTimer.singleShot(300, finish)
    else:
        QTimer.singleShot(100, check)

def finish():
    window.grab().save(out)
    print(pane.live.entry_count())
    dock.shutdown()
    runner.shutdown(3.0)
    app.quit()

QTimer.singleShot(100, check)
app.exec()
"""


@pytest.mark.screenshot
def test_logs_dock_screenshot(demo_engine, tmp_path):
    for i in range(30):
        demo_engine.score("fraud", **{"x-request-id": f"shot-{i:04d}"})
    if os.environ.get("DISPLAY"):
        display: list[str] = []
    elif shutil.which("xvfb-run"):
        display = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    else:
        pytest.skip("no X display and no xvfb-run")
    shot = tmp_path / "logs_dock.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*display, sys.executable, "-c", SHOT_SCRIPT, str(demo_engine.state_dir), str(shot),
                             str(tmp_path / "shot.ini")], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[-1]) >= 40, "the dock showed too few live lines"
    assert shot.stat().st_size > 10_000
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    if os.environ.get("SWITCHBOARD_UPDATE_SCREENSHOTS") == "1":
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)


def test_one_replicas_logs_open_from_the_command_palette(window, demo_engine, qtbot):
    place = window.place_id
    qtbot.waitUntil(lambda: window.inventory.select(place, "fraud", "fraud-v1"), timeout=20_000)
    endpoint = window.console.inventory_model.endpoint(place, "fraud")
    [v1] = [d for d in endpoint.deployments if d.name == "fraud-v1"]
    replica = v1.replicas[0].id
    entries = window.commands._deployment_entries(place, "fraud", "fraud-v1", "Local engine")
    [entry] = [e for e in entries if e.title == f"logs of replica {replica}"]
    entry.run()
    qtbot.waitUntil(lambda: any(replica in p.key for p in window.logs_dock.panes()), timeout=5_000)
    pane = next(p for p in window.logs_dock.panes() if replica in p.key)
    qtbot.waitUntil(lambda: any("replica ready" in t for t in texts(pane)), timeout=20_000)
    sources = {pane.live.entry_at(r).source for r in range(pane.live.entry_count())}
    assert sources == {f"fraud-v1/{replica}"}, sources  # that replica's lines only
