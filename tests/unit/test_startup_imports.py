"""The console starts without the Kubernetes client: kubeconfig contexts are listed at start, but the client
loads with the first context connected, so a person who does not open a cluster does not pay its half second."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.tasks import TaskRunner
import console.ui.main_window, console.ui.run
console = Console(TaskRunner(), ErrorSink(), CredentialStore(), PlacesStore(Path(sys.argv[1])))
console.load(Path(sys.argv[1]) / "engine")
assert "kube-prod" in console.monitors, sorted(console.monitors)
loaded = sorted(m for m in sys.modules if m == "kubernetes" or m.startswith("kubernetes."))
console.shutdown(timeout_s=2.0)
print(loaded)
"""
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: prod, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: ops, user: {token: not-used}}]
contexts: [{name: prod, context: {cluster: prod, user: ops}}]
current-context: prod
"""


def test_listing_kubeconfig_contexts_does_not_load_the_kubernetes_client(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT),
           "KUBECONFIG": str(tmp_path / "kubeconfig")}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path / "cfg")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
