"""The console's release record against a real engine: the "Release record…" dialog previews
the record of an endpoint and a window as Markdown and as JSON, both listing its revisions with
actor and reason, and saves each to a file; a bad window is refused with a sentence. Under Xvfb,
screenshots of the pending-approvals dock and of the rollout strip over the charts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import shutil
import subprocess
import sys

import pytest

from tests.gui.release_window import demo_traffic, release_window
from tests.harness import ROOT, start_engine
from tests.integration.release_helpers import add_endpoint, caller

pytestmark = [pytest.mark.integration, pytest.mark.gui]
UPDATE = "SWITCHBOARD_UPDATE_SCREENSHOTS"


def test_the_release_record_dialog_previews_and_saves_markdown_and_json(tmp_path, monkeypatch, qtbot):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    engine = start_engine(tmp_path / "state")
    try:
        add_endpoint(engine, "pay")
        with caller(engine, "alice@laptop", "cli-alice") as alice:
            rev = alice.endpoint("pay").revision
            alice.set_traffic("pay", {"pay-a": 90, "pay-b": 10}, {}, if_match=rev, reason="canary 10%")
            alice.set_traffic("pay", {"pay-a": 50, "pay-b": 50}, {}, if_match=rev + 1, reason="half")
        with release_window(engine.state_dir, tmp_path, qtbot) as window:
            qtbot.waitUntil(lambda: window.inventory.select(window.place_id, "pay"), timeout=30_000)
            dialog = window.window_actions["record"].trigger() or window.record_dialog
            assert dialog.endpoint_box.currentData() == (window.place_id, "pay")
            dialog.since.setText("yesterday")
            dialog.load()
            assert "'yesterday' is neither a duration" in dialog.status.text() and dialog.record is None
            dialog.since.setText("1h")
            dialog.load()
            qtbot.waitUntil(lambda: dialog.record is not None, timeout=15_000)
            assert "3 revision(s)" in dialog.status.text()
            markdown = dialog.preview.toPlainText()
            assert markdown.startswith("# Release record: pay")
            for expected in (f"### Revision {rev + 1} · shift", f"### Revision {rev + 2} · shift",
                             "- Actor: alice@laptop (identity cli-alice)", "- Reason: canary 10%",
                             "- Split: pay-a=100 → pay-a=90 pay-b=10", "- Reason: half"):
                assert expected in markdown, markdown
            md_path = tmp_path / "pay.md"
            with qtbot.waitSignal(dialog.sig_record_saved, timeout=10_000):
                dialog.save_to(str(md_path))
            assert md_path.read_text() == markdown and f"saved the release record of pay to {md_path}" in \
                window.console.sink.messages[-1].text

            dialog.format_box.setCurrentIndex(dialog.format_box.findData("json"))
            body = json.loads(dialog.preview.toPlainText())
            assert [c["revision"] for c in body["changes"]] == [rev, rev + 1, rev + 2]
            assert [c["reason"] for c in body["changes"]][1:] == ["canary 10%", "half"]
            assert body["changes"][2]["after"]["traffic"] == {"pay-a": 50, "pay-b": 50}
            json_path = tmp_path / "pay.json"
            with qtbot.waitSignal(dialog.sig_record_saved, timeout=10_000):
                dialog.save_to(str(json_path))
            assert json.loads(json_path.read_text()) == body
            dialog.reject()
    finally:
        engine.stop()


SHOT_SCRIPT = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring

state_dir, out_dir, folder = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
app = QApplication([])
runner = TaskRunner()
console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(folder / "config"))
window = MainWindow(console, QSettings(str(folder / "shot.ini"), QSettings.Format.IniFormat))
place = console.load(state_dir)
window._on_console_places_changed()
console.monitors[place].start()
window.resize(1500, 950)
window.show()
window.logs_dock.hide()
deadline = time.monotonic() + 60
strip, charts, dock = window.endpoint_view.rollout_strip, window.endpoint_view.charts, window.approvals_dock

def ready():
    return ("waiting for approval" in strip.text() and charts.has_data() and dock.model.rowCount() >= 1
            and any(m.label.format.startswith("step 1") for m in charts.latency.markers))

def check():
    window.inventory.select(place, "fraud")
    if ready() or time.monotonic() > deadline:
        charts.set_window(60)
        dock.select(place, dock.model.item(0).proposal.id) if dock.model.rowCount() else None
        QTimer.singleShot(500, finish)
    else:
        QTimer.singleShot(200, check)

def finish():
    dock.setFloating(True)
    dock.resize(1000, 420)
    dock.show()
    QTimer.singleShot(400, grab)

def grab():
    dock.grab().save(str(out_dir / "release_approvals.png"))
    window.endpoint_view.grab().save(str(out_dir / "rollout_strip.png"))
    print("ready" if ready() else "not-ready", strip.text())
    window.close()
    console.shutdown(3.0)
    app.quit()

QTimer.singleShot(200, check)
app.exec()
"""
GATE_PLAN = """\
kind: Rollout
endpoint: fraud
candidate: fraud-v3
steps: [10, {weight: 25, gate: true}, 50, 100]
bake_s: 5
analysis: {percentile: p95, latency_ms: 100, error_rate_percent: 1, window_s: 10, interval_s: 1, min_requests: 5}
"""


@pytest.mark.screenshot
def test_release_screenshots(demo_engine, tmp_path):
    if os.environ.get("DISPLAY"):
        display: list[str] = []
    elif shutil.which("xvfb-run"):
        display = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    else:
        pytest.skip("no X display and no xvfb-run")
    add_endpoint(demo_engine, "pay", "policy: {approval_required: true}\n")
    with demo_traffic(demo_engine.state_dir, rps=40):
        with caller(demo_engine, "bob@release-desk", "console-bob") as bob:
            bob.start_rollout("fraud", GATE_PLAN, "release fraud-v3")
            bob.propose("pay", {"pay-a": 75, "pay-b": 25}, revision=bob.endpoint("pay").revision,
                        reason="pay-b to 25% after a clean hour at 10%")
        env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT), "KUBECONFIG": str(tmp_path / "none")}
        result = subprocess.run([*display, sys.executable, "-c", SHOT_SCRIPT, str(demo_engine.state_dir),
                                 str(tmp_path), str(tmp_path)], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ready"), result.stdout + result.stderr
    for name in ("release_approvals.png", "rollout_strip.png"):
        shot = tmp_path / name
        assert shot.stat().st_size > 10_000
        artifact = ROOT / "tests" / "artifacts" / name
        artifact.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, artifact)
        if os.environ.get(UPDATE) == "1":
            (ROOT / "resources" / "screenshots").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, ROOT / "resources" / "screenshots" / name)
