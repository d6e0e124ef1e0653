"""End to end under Xvfb: `switchboard` starts the engine, applies the demo, sends traffic,
selects `fraud`; the window is saved as tests/artifacts/main_window.png and checked.

With SWITCHBOARD_UPDATE_SCREENSHOTS=1 the PNG is also copied to
resources/screenshots/main_window.png, the screenshot the README shows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.screenshot]
ARTIFACT = ROOT / "tests" / "artifacts" / "main_window.png"
README_SHOT = ROOT / "resources" / "screenshots" / "main_window.png"
UPDATE = "SWITCHBOARD_UPDATE_SCREENSHOTS"
MUST_BE_VISIBLE = ("placesTree", "inventoryTree", "inventoryFilter", "endpointView", "endpointDeployments",
                   "revisionHistory", "statusPlaceHealth", "chartsPanel", "trafficPanel")


def _display_command() -> list[str]:
    if os.environ.get("DISPLAY"):
        return []
    if shutil.which("xvfb-run"):
        return ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    pytest.skip("no X display and no xvfb-run")


def _console_processes(state_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if str(state_dir) in cmd and "console" in cmd and " engine " not in f"{cmd} ":
            found.append(proc)
    return found


def _stop_engine(state_dir: Path) -> None:
    try:
        pid = int(json.loads((state_dir / "engine.json").read_text())["pid"])
        engine = psutil.Process(pid)
    except (OSError, ValueError, KeyError, psutil.Error):
        return
    engine.send_signal(signal.SIGTERM)
    try:
        engine.wait(timeout=20)
    except psutil.TimeoutExpired:
        engine.kill()


def test_main_window_on_the_demo(tmp_path):
    # A state dir named as a person's would be (…/switchboard/engine); the window shows it short.
    state_dir, config_dir = tmp_path / "switchboard" / "engine", tmp_path / "config"
    shot = tmp_path / "main_window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "KUBECONFIG": str(tmp_path / "none"), "PYTHONPATH": str(ROOT)}
    cmd = [*_display_command(), sys.executable, "-m", "console.app", "--state-dir", str(state_dir),
           "--config-dir", str(config_dir), "--screenshot", str(shot)]
    try:
        result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(Path(f"{shot}.json").read_text())
        assert report["ready"], report
        assert report["charts"], "the live charts drew no latency or traffic"
        assert {k for k, v in report["visible"].items() if v} >= set(MUST_BE_VISIBLE), report["visible"]
        assert report["endpoint"].startswith("fraud")
        assert report["selected"][0] == "endpoint" and report["selected"][1][1] == "fraud"
        assert sorted(report["deployments"]) == [["fraud-v1", "Ready"], ["fraud-v2", "Ready"], ["fraud-v3", "Ready"]]
        assert report["revisions"] >= 1
        assert report["health"] == "Local engine: connected"
        texts = report["texts"]
        assert "/tmp/…/switchboard/engine" in texts or "~/…/switchboard/engine" in texts, texts
        leaks = [t for t in texts if "pytest" in t or str(tmp_path) in t]
        assert leaks == [], "the screenshot shows a test's temporary path"
        assert shot.stat().st_size > 10_000
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACT)
        if os.environ.get(UPDATE) == "1":
            README_SHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, README_SHOT)
        # the console left nothing behind (the demo traffic was its child); the engine keeps running
        _gone, alive = psutil.wait_procs(_console_processes(state_dir), timeout=5)
        assert alive == []
        assert json.loads((state_dir / "engine.json").read_text())["pid"]
        assert psutil.pid_exists(int(json.loads((state_dir / "engine.json").read_text())["pid"]))
    finally:
        _stop_engine(state_dir)
