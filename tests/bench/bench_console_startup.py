"""Cold start to the first painted main window, against a bare PySide6 + pyqtgraph window.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_console_startup.py [--runs N]
(or under xvfb-run with QT_QPA_PLATFORM=xcb). Target: console <= 1.5 x bare window.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIRST_PAINT = r"""
import os, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and isinstance(obj.window(), QMainWindow):
            print(f"PAINTED {time.time():.6f}", flush=True)
            os._exit(0)
        return False

app = QApplication(sys.argv[:1])
spy = FirstPaint()
app.installEventFilter(spy)
"""

BARE = FIRST_PAINT + r"""
import pyqtgraph as pg
win = QMainWindow()
plot = pg.PlotWidget()
plot.plot([1, 2, 3], [3, 1, 2])
win.setCentralWidget(plot)
win.resize(1400, 820)
win.show()
app.exec()
"""

CONSOLE = FIRST_PAINT + r"""
from console.app import parse
from console.ui.run import run
run(parse(sys.argv[1:]))
"""


def measure(code: str, args: list[str], env: dict[str, str]) -> float:
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=20, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("PAINTED "):
            return float(line.split()[1]) - start
    raise RuntimeError(f"no paint: {out.stdout[-500:]} {out.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    state, config = tmp / "state", tmp / "config"
    state.mkdir()
    config.mkdir()
    from console.ui.controller import engine_place_id

    (config / "places.json").write_text(json.dumps({"version": 1, "places": [
        {"id": engine_place_id(state), "kind": "engine", "name": "bench engine", "state_dir": str(state)}]}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": str(tmp / "none")}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    console_args = ["--config-dir", str(config), "--no-demo"]
    measure(BARE, [], env)  # warm the OS file cache for both
    measure(CONSOLE, console_args, env)
    bare, app = [], []
    for _ in range(opts.runs):
        bare.append(measure(BARE, [], env))
        app.append(measure(CONSOLE, console_args, env))
    b, a = statistics.median(bare), statistics.median(app)
    print(f"platform={env['QT_QPA_PLATFORM']} runs={opts.runs}")
    print(f"bare PySide6+pyqtgraph window, first paint: median {b * 1000:.0f} ms (min {min(bare) * 1000:.0f})")
    print(f"switchboard main window, first paint:       median {a * 1000:.0f} ms (min {min(app) * 1000:.0f})")
    print(f"ratio console / bare: {a / b:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
