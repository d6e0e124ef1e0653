"""The console against a real engine process: inventory, health through an outage, an
unreachable place beside a connected one, and a hanging backend that neither blocks the GUI
thread nor slows quitting."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer

from console.backends.base import PlaceKind, Unreachable
from console.backends.credentials import CredentialStore
from console.backends.engine import EngineBackend, read_engine_file
from console.backends.places import PlaceConfig, PlacesStore
from console.ui.controller import Console, engine_place_id
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.models.rows import Col
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.gui.httpfixtures import free_port, silent_server
from tests.harness import ROOT, start_engine

pytestmark = [pytest.mark.integration, pytest.mark.gui]


@pytest.fixture
def console(tmp_path, monkeypatch, qtbot) -> Iterator[Console]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    runner = TaskRunner()
    made = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "config"))
    yield made
    assert made.shutdown(timeout_s=5.0), "a worker was still busy after the test"
    assert runner.active_threads() == 0


def _row(model, index):
    return [model.index(index.row(), c, index.parent()).data() for c in Col]


def test_inventory_shows_the_demo_deployments_with_real_state_and_split(demo_engine, console, qtbot):
    pid = console.load(demo_engine.state_dir)
    console.monitors[pid].start()
    model = console.inventory_model

    def all_ready() -> bool:
        return all(model.find(pid, "fraud", d).isValid() and
                   _row(model, model.find(pid, "fraud", d))[Col.STATE] == "Ready"
                   for d in ("fraud-v1", "fraud-v2", "fraud-v3"))

    qtbot.waitUntil(all_ready, timeout=30000)
    with demo_engine.client() as client:
        truth = client.endpoint("fraud")
    for dep in truth["deployments"]:
        row = _row(model, model.find(pid, "fraud", dep["name"]))
        assert row[Col.MODEL] == f"{dep['model']['name']}:{dep['model']['version']}"
        assert row[Col.RUNTIME] == dep["runtime"]
        assert row[Col.REPLICAS] == f"{dep['replicas_ready']}/{dep['replicas_desired']}"
        assert row[Col.TRAFFIC] == str(truth["traffic"].get(dep["name"], 0))
    ep_row = _row(model, model.find(pid, "fraud"))
    assert ep_row[Col.SCORING_URI] == truth["scoring_uri"]
    assert console.places_model.health(pid).state == "connected"


def test_stopped_engine_is_unreachable_within_freshness_and_recovers(tmp_path, console, qtbot):
    state_dir = tmp_path / "state"
    engine = start_engine(state_dir)
    try:
        engine.apply_demo(wait_ready=False)
        pid = console.load(state_dir)
        monitor = console.monitors[pid]
        monitor.start()
        qtbot.waitUntil(lambda: console.inventory_model.find(pid, "fraud").isValid(), timeout=15000)
        freshness = monitor.backend.freshness_s
        engine.stop()
        stopped = time.monotonic()
        qtbot.waitUntil(lambda: console.places_model.health(pid).state == "unreachable",
                        timeout=int(freshness * 1000))
        assert time.monotonic() - stopped <= freshness
        assert console.inventory_model.find(pid, "fraud").isValid()  # last known rows stay, marked later as stale
        engine = start_engine(state_dir)  # new ports and maybe a new token: found again via engine.json
        qtbot.waitUntil(lambda: console.places_model.health(pid).state == "connected",
                        timeout=int((monitor.backoff_cap_s + 10) * 1000))
        assert not console.inventory_model.is_stale(pid)
    finally:
        engine.stop()


def test_an_unreachable_place_never_holds_up_a_connected_one(demo_engine, tmp_path, monkeypatch, qtbot):
    """A real engine, an engine place on a state dir where no engine runs, and a serving host
    on a closed port: the real one is connected with its inventory and keeps refreshing; the
    others show unreachable with their exact errors; the GUI thread keeps ticking throughout."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    empty_dir = tmp_path / "no-engine-here"
    empty_dir.mkdir()
    port = free_port()
    config_dir = tmp_path / "config"
    PlacesStore(config_dir).save([
        PlaceConfig(id="ghost", kind=PlaceKind.ENGINE, name="Ghost engine", state_dir=str(empty_dir)),
        PlaceConfig(id="closed", kind=PlaceKind.SERVING, name="Closed host", url=f"http://127.0.0.1:{port}"),
    ])
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(config_dir))
    window = MainWindow(console, QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    try:
        window.show()
        real = console.load(demo_engine.state_dir)
        window._on_console_places_changed()
        for pid in ("ghost", "closed"):
            console.monitors[pid].backoff_s = console.monitors[pid].backoff_cap_s = 0.2
        console.monitors[real].start()  # the others started on load

        health = console.places_model.health
        qtbot.waitUntil(lambda: health("ghost").state == "unreachable" and health("closed").state == "unreachable"
                        and console.inventory_model.find(real, "fraud", "fraud-v3").isValid(), timeout=20000)
        assert health(real).state == "connected"
        with pytest.raises(Unreachable) as missing:
            read_engine_file(empty_dir)
        assert health("ghost").error == str(missing.value)
        assert str(empty_dir) in health("ghost").error and "engine.json missing" in health("ghost").error
        assert health("closed").error == f"http://127.0.0.1:{port}/health: connection refused (nothing listening)"
        model = console.inventory_model
        assert [_row(model, model.find(real, "fraud", d))[Col.STATE] for d in ("fraud-v1", "fraud-v2", "fraud-v3")] \
            == ["Ready", "Ready", "Ready"]
        for pid in ("ghost", "closed"):
            assert _row(model, model.find(pid))[Col.STATE] == "unreachable"
            assert model.rowCount(model.find(pid)) == 0
            shown = console.places_model.find(pid)
            assert shown.siblingAtColumn(1).data().startswith("unreachable, next try in")
            assert health(pid).error in shown.data(Qt.ItemDataRole.ToolTipRole)
        # the connected place keeps refreshing while the others keep failing
        read_at = model.read_at(real)
        failures = health("ghost").failures
        qtbot.waitUntil(lambda: model.read_at(real) > read_at and health("ghost").failures > failures,
                        timeout=10000)
        assert health(real).state == "connected"
        window.places.select("closed")
        assert window.health_label.text().startswith("Closed host: unreachable")
        assert len(ticks) > 20 and max(b - a for a, b in itertools.pairwise(ticks)) < 0.5
    finally:
        timer.stop()
        window.close()
        assert console.shutdown(timeout_s=5.0)


def test_hanging_backend_does_not_block_the_gui_thread(tmp_path, console, qtbot):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    with silent_server() as server:  # on leaving, even by a failure, it lets the hanging call go
        url = server.url
        (state_dir / "engine.json").write_text(json.dumps(
            {"pid": os.getpid(), "control_url": url, "data_url": url, "version": "0", "started": "now"}))
        (state_dir / "token").write_text("t")
        pid = console.load(state_dir)
        monitor = console.monitors[pid]
        monitor.backend.close()
        monitor.backend = EngineBackend(pid, state_dir, timeout=30.0)  # hangs far longer than the test
        monitor.start()
        assert monitor.in_flight()
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(20)
        timer.timeout.connect(lambda: ticks.append(time.monotonic()))
        timer.start()
        qtbot.waitUntil(lambda: len(ticks) >= 25, timeout=3000)
        timer.stop()
        assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.5
        assert monitor.in_flight()
        started = time.monotonic()
        assert console.shutdown(timeout_s=1.0) is False  # the call still hangs: abandoned, not waited for
        assert time.monotonic() - started < 2.0
        assert console.runner.active_threads() == 1
        qtbot.waitUntil(lambda: len(server.held) == 1, timeout=5000)
    # released: the worker's call fails at once and the pool is idle before the test ends
    assert console.runner.shutdown(timeout_s=5.0)
    assert console.runner.active_threads() == 0


def test_quitting_the_app_with_a_hanging_call_takes_under_two_seconds(tmp_path):
    """The real app process: SIGTERM while its only place hangs; it must exit in < 2 s."""
    state_dir, config_dir = tmp_path / "state", tmp_path / "config"
    state_dir.mkdir()
    config_dir.mkdir()
    with silent_server() as server:
        url = server.url
        (state_dir / "engine.json").write_text(json.dumps(
            {"pid": os.getpid(), "control_url": url, "data_url": url, "version": "0", "started": "now"}))
        (state_dir / "token").write_text("t")
        places = {"version": 1, "places": [{"id": engine_place_id(state_dir), "kind": "engine",
                                            "name": "hanging engine", "state_dir": str(state_dir)}]}
        (config_dir / "places.json").write_text(json.dumps(places))
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KUBECONFIG": str(tmp_path / "none"),
               "PYTHONPATH": str(ROOT)}
        log = tmp_path / "app.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "console.app", "--config-dir", str(config_dir), "--no-demo"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            # the app's only place hangs: once it has connected, its call is in flight
            assert server.accepted.wait(30), log.read_text()
            assert proc.poll() is None, log.read_text()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, log.read_text()
        assert took < 2.0, f"quit took {took:.2f} s"
