"""Pod logs of a Kubernetes place in the logs dock: a deployment selected in the inventory opens its pods'
logs merged and followed (each line prefixed pod/container), a pod that appears later joins, an endpoint
merges the pods of every Deployment behind it, and a traffic target with no Deployment says why it has no
logs. Against the fake API server (tests/k8sfake) through the official client, from a generated kubeconfig.
The screenshot of the dock is taken under Xvfb (run this file with --shots DIR)."""

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
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.logs.livepane import LivePane
from console.ui.logs.targets import POD_TAIL
from console.ui.main_window import MainWindow
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, objects, start_fake_cluster
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
PLACE = "kube-fake"


def open_window(tmp: Path, cluster: FakeCluster) -> tuple[Console, MainWindow]:
    """The console's main window with the fake cluster's context connected (KUBECONFIG set by the caller)."""
    runner = TaskRunner()
    console = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp / "config"))
    window = MainWindow(console, QSettings(str(tmp / "console.ini"), QSettings.Format.IniFormat))
    console.load(tmp / "engine")
    window._on_console_places_changed()
    console.connect_place(PLACE)
    return console, window


def close_window(console: Console, window: MainWindow) -> bool:
    window.close()
    return console.shutdown(timeout_s=5.0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=500, bookmark_interval=0.2) as running:
        yield running


@pytest.fixture
def window(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> Iterator[MainWindow]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    console, made = open_window(tmp_path, cluster)
    qtbot.addWidget(made)
    made.show()
    yield made
    assert close_window(console, made), "a log stream was still running after the window closed"
    assert console.runner.active_threads() == 0


def pods_of(cluster: FakeCluster, app: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cluster.list("v1", "Pod", "default")
                  if p["metadata"]["labels"].get("app") == app and not p["metadata"].get("deletionTimestamp"))


def lines(pane: LivePane) -> set[tuple[str, str]]:
    """(source, text) of every line shown."""
    return {(e.source, e.text) for e in (pane.live.entry_at(r) for r in range(pane.live.entry_count()))}


def open_logs(window: MainWindow, qtbot: Any, *selection: str) -> None:
    """Select in the inventory (once the place lists it) and press the logs action, as Ctrl+L does."""
    qtbot.waitUntil(lambda: window.inventory.select(PLACE, *selection), timeout=20_000)
    window.window_actions["logs"].trigger()


def test_a_deployment_follows_its_pods_and_a_new_pod_joins(window: MainWindow, cluster: FakeCluster,
                                                           qtbot: Any) -> None:
    cluster.seed_deployment("iris-v1")
    cluster.create(objects.httproute("iris", {"iris-v1": 100}))
    first, second = pods_of(cluster, "iris-v1")
    cluster.append_log("default", first, "model", *(f"old {i}" for i in range(POD_TAIL + 5)))
    cluster.append_log("default", second, "model", "ERROR model load took 41 s")

    open_logs(window, qtbot, "default/iris", "iris-v1")
    pane = window.logs_dock.pane(f"kubernetes:{PLACE}:default:iris-v1")
    assert isinstance(pane, LivePane) and window.logs_dock.isVisible()
    assert window.logs_dock.tabs.tabText(window.logs_dock.tabs.indexOf(pane)) == "iris-v1 (pods)"
    qtbot.waitUntil(lambda: (f"{second}/model", "ERROR model load took 41 s") in lines(pane)
                    and (f"{first}/model", f"old {POD_TAIL + 4}") in lines(pane), timeout=20_000)
    assert (f"{first}/model", "old 4") not in lines(pane)  # the tail: the last POD_TAIL lines of each container
    assert (f"{first}/model", "old 5") in lines(pane)

    # followed: a line written now is shown; the source filter offers each pod/container
    cluster.append_log("default", first, "model", "GET /v2/models/iris/infer 200")
    qtbot.waitUntil(lambda: (f"{first}/model", "GET /v2/models/iris/infer 200") in lines(pane), timeout=10_000)
    combo = pane.filter_bar.source
    assert {f"{first}/model", f"{second}/model"} <= {combo.itemData(i) for i in range(combo.count())}

    # a scale-up: the new pod joins the stream
    cluster.modify("apps/v1", "Deployment", "default", "iris-v1",
                   lambda d: {**d, "spec": {**d["spec"], "replicas": 3}})
    cluster.reconcile_deployment("default", "iris-v1")
    [new] = sorted(set(pods_of(cluster, "iris-v1")) - {first, second})
    qtbot.waitUntil(lambda: cluster.log_followers("default", new, "model") == 1, timeout=10_000)
    cluster.append_log("default", new, "model", "hello from the new pod")
    qtbot.waitUntil(lambda: (f"{new}/model", "hello from the new pod") in lines(pane), timeout=10_000)
    assert pane.status.text().endswith("following")

    # closing the tab stops every follow (the fake counts no follower left)
    window.logs_dock.close_tab(window.logs_dock.tabs.indexOf(pane))
    qtbot.waitUntil(lambda: all(feed.state == "stopped" for feed in pane.feeds), timeout=10_000)
    qtbot.waitUntil(lambda: all(cluster.log_followers("default", pod, "model") == 0 for pod in (first, second, new)),
                    timeout=10_000)


def test_an_endpoint_merges_the_pods_of_its_deployments(window: MainWindow, cluster: FakeCluster,
                                                        qtbot: Any) -> None:
    cluster.seed_deployment("iris-v1", replicas=1)
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2", replicas=1)
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))
    [v1], [v2] = pods_of(cluster, "iris-v1"), pods_of(cluster, "iris-v2")
    cluster.append_log("default", v1, "model", "v1 ready")
    cluster.append_log("default", v2, "model", "v2 ready")

    open_logs(window, qtbot, "default/iris")
    pane = window.logs_dock.pane(f"kubernetes:{PLACE}:endpoint:default/iris")
    assert isinstance(pane, LivePane) and len(pane.feeds) == 2
    assert window.logs_dock.tabs.tabText(window.logs_dock.tabs.indexOf(pane)) == "default/iris (all deployments)"
    qtbot.waitUntil(lambda: {(f"{v1}/model", "v1 ready"), (f"{v2}/model", "v2 ready")} <= lines(pane),
                    timeout=20_000)
    cluster.append_log("default", v2, "model", "v2 answered")
    cluster.append_log("default", v1, "model", "v1 answered")
    qtbot.waitUntil(lambda: {(f"{v1}/model", "v1 answered"), (f"{v2}/model", "v2 answered")} <= lines(pane),
                    timeout=10_000)
    times = [pane.live.entry_at(r).time for r in range(pane.live.entry_count())]
    assert times == sorted(times)  # merged in time order


def test_a_target_without_a_deployment_says_why(window: MainWindow, cluster: FakeCluster, qtbot: Any) -> None:
    cluster.seed_deployment("iris-v1", replicas=1)
    cluster.create(objects.service("ghost", selector={"app": "nothing-runs-this"}))
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "ghost": 10}))
    cluster.create(objects.httproute("haunted", {"ghost": 100}))
    sink = window.console.sink

    open_logs(window, qtbot, "default/haunted", "ghost")
    assert not window.logs_dock.panes()
    said = sink.messages[-1].text
    assert said.startswith("ghost of default/haunted has no pod logs to follow: ghost is not a Deployment")
    assert "no Deployment in default matches the selector of Service ghost" in said

    open_logs(window, qtbot, "default/haunted")
    assert not window.logs_dock.panes()
    assert sink.messages[-1].text.startswith("endpoint default/haunted has no pod logs to follow")

    # an endpoint with one mapped Deployment follows it, and says which target it leaves out
    [v1] = pods_of(cluster, "iris-v1")
    cluster.append_log("default", v1, "model", "v1 ready")
    open_logs(window, qtbot, "default/iris")
    pane = window.logs_dock.pane(f"kubernetes:{PLACE}:endpoint:default/iris")
    assert isinstance(pane, LivePane) and len(pane.feeds) == 1
    assert "not followed: ghost is not a Deployment" in sink.messages[-1].text
    qtbot.waitUntil(lambda: (f"{v1}/model", "v1 ready") in lines(pane), timeout=20_000)


# ---------------------------------------------------------------- the screenshot, under Xvfb

@pytest.mark.screenshot
def test_logs_pods_screenshot(tmp_path: Path) -> None:
    render_in_subprocess(__file__, tmp_path / "shots", "logs_pods.png")


SHOT_LINES = (
    "INFO loading model iris:v{v} from s3://models/iris/v{v}",
    "INFO model iris:v{v} ready in 3.2 s (onnxruntime, CUDAExecutionProvider)",
    "INFO POST /v2/models/iris/infer 200 12.4 ms request_id=req-{n:04d}",
    "WARNING batch queue at 80% (26/32)",
    "INFO POST /v2/models/iris/infer 200 9.8 ms request_id=req-{n:04d}",
    "ERROR POST /v2/models/iris/infer 500 CUDA out of memory request_id=req-{n:04d}",
)


def render_screenshot(out: Path) -> None:
    """Two Deployments behind one HTTPRoute; a crashed container; the endpoint's pod logs in the dock."""
    import tempfile

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, start_fake_cluster(Path(folder)) as cluster:
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
        cluster.seed_deployment("iris-v1", replicas=2)
        cluster.seed_deployment("iris-v2", image="registry.example/iris:v2", replicas=1)
        cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))
        pods = [(pod, 1) for pod in pods_of(cluster, "iris-v1")] + [(pod, 2) for pod in pods_of(cluster, "iris-v2")]
        crashed = pods[-1][0]
        cluster.append_log("default", crashed, "model", "INFO loading model iris:v2",
                           "CRITICAL CUDA error: out of memory; exiting")
        cluster.restart_container("default", crashed, "model")
        n = 0
        for line in SHOT_LINES:
            for pod, v in pods:
                n += 1
                cluster.append_log("default", pod, "model", line.format(v=v, n=n))
        console, window = open_window(Path(folder), cluster)
        window.resize(1500, 900)
        window.show()
        pump(lambda: window.inventory.select(PLACE, "default/iris"))
        window.window_actions["logs"].trigger()
        pane = window.logs_dock.pane(f"kubernetes:{PLACE}:endpoint:default/iris")
        assert isinstance(pane, LivePane)
        pump(lambda: pane.live.entry_count() >= len(SHOT_LINES) * len(pods) + 2)
        window.logs_dock.resize(1500, 640)
        longest = max(pane.view.fontMetrics().horizontalAdvance(s) for s in pane.live.sources)
        assert pane.view.columnWidth(1) >= longest, "the Source column was not widened to the pod names"
        pane.view.scrollToTop()
        QCoreApplication.processEvents()
        window.logs_dock.grab().save(str(out / "logs_pods.png"))
        close_window(console, window)
    app.quit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--shots":
        render_screenshot(Path(sys.argv[2]))
    else:
        sys.exit("usage: test_logs_pods.py --shots DIR")
