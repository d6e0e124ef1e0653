"""The console's window loads without the Kubernetes client: it loads with the first context connected,
so a person without clusters does not pay its half second at every start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ("import sys, console.ui.main_window, console.ui.run; "
           "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))")


def test_the_window_modules_do_not_load_the_kubernetes_client() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
