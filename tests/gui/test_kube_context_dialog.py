"""A kubeconfig context's console settings: namespaces (all or a list) and read-only, with a
connection test that names the identity and the refused permissions; saved, used at once, and
kept across restarts without listing the context twice. Against the fake API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.dialogs.kube_context import KubeContextDialog
from console.ui.dialogs.place_flows import PlaceFlows
from console.ui.errors import ErrorSink
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.shots import pump, render_in_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.gui]
PLACE = "kube-fake"
VIEWER = [Rule(("get", "list", "watch"), ("*",), ("*",), name="viewer")]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        running.ensure_namespace("ml")
        running.seed_deployment("iris-v1")
        running.create(objects.httproute("iris", {"iris-v1": 100}))
        running.seed_deployment("fraud-v1", namespace="ml")
        running.create(objects.httproute("fraud", {"fraud-v1": 100}, namespace="ml"))
        yield running


def _console(tmp_path: Path) -> Console:
    return Console(TaskRunner(), ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "cfg"))


@pytest.fixture
def consoles(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Console]]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    made: list[Console] = []
    yield made
    for console in made:
        assert console.shutdown(timeout_s=5.0), "a worker was still busy after the test"


def test_namespaces_and_read_only_are_saved_and_used(consoles: list[Console], cluster: FakeCluster, tmp_path: Path,
                                                     qtbot) -> None:  # type: ignore[no-untyped-def]
    console = _console(tmp_path)
    consoles.append(console)
    console.load(None)
    flows = PlaceFlows(console, None)  # type: ignore[arg-type]
    dialog = flows.edit(PLACE)
    assert isinstance(dialog, KubeContextDialog)
    qtbot.addWidget(dialog)
    assert dialog.all_namespaces.isChecked() and not dialog.namespaces.isEnabled()

    dialog.some_namespaces.setChecked(True)
    dialog.namespaces.setText("ML_Prod, ml")
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result_config() is None
    assert "'ML_Prod' is not a namespace name" in dialog.test_result.text()

    dialog.namespaces.setText("ml")
    dialog.read_only.setChecked(True)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith(("Connected", "Failed")), timeout=20000)
    text = dialog.test_result.text()
    assert text.startswith(f"Connected to {cluster.url}") and "as alice" in text, text
    assert "Read-only in the console" in text
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result_config() is not None

    saved = console.place(PLACE)
    assert saved is not None and saved.namespaces == ("ml",) and saved.read_only and not saved.auto
    qtbot.waitUntil(lambda: console.inventory_model.find(PLACE, "ml/fraud").isValid(), timeout=20000)
    assert not console.inventory_model.find(PLACE, "default/iris").isValid()  # only the chosen namespace

    again = _console(tmp_path)  # a restart: the saved settings, listed once, still on demand
    consoles.append(again)
    again.load(None)
    kube = [p for p in again.places_model.places() if p.id == PLACE]
    assert len(kube) == 1 and kube[0].namespaces == ("ml",) and kube[0].read_only
    assert again.places_model.health(PLACE).state == "on-demand"


def test_the_test_names_refused_permissions(consoles: list[Console], cluster: FakeCluster, tmp_path: Path,
                                            qtbot) -> None:  # type: ignore[no-untyped-def]
    cluster.add_token("viewer", VIEWER, context="viewer")
    console = _console(tmp_path)
    consoles.append(console)
    console.load(None)
    dialog = PlaceFlows(console, None).edit("kube-viewer")  # type: ignore[arg-type]
    assert isinstance(dialog, KubeContextDialog)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith(("Connected", "Failed")), timeout=20000)
    text = dialog.test_result.text()
    assert "as viewer" in text and "The cluster refuses" in text, text
    assert "patch httproutes.gateway.networking.k8s.io in all namespaces" in text


def test_closing_during_the_test_drops_its_answer(consoles: list[Console], tmp_path: Path, qtbot) -> None:  # type: ignore[no-untyped-def]
    console = _console(tmp_path)
    consoles.append(console)
    console.load(None)
    dialog = PlaceFlows(console, None).edit(PLACE)  # type: ignore[arg-type]
    assert isinstance(dialog, KubeContextDialog)
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    # the flows delete the dialog; the test's answer must not reach its widgets (an exception in the
    # callback, run right after the runner reports nothing in flight, fails the test)
    with qtbot.waitSignal(console.runner.sig_busy_changed, check_params_cb=lambda n: n == 0, timeout=20000):
        dialog.reject()
    config = console.place(PLACE)
    assert config is not None and config.auto  # nothing saved


# ---------------------------------------------------------------- screenshots, under Xvfb

@pytest.mark.screenshot
def test_kube_context_and_replicas_screenshots(tmp_path: Path) -> None:
    render_in_subprocess(__file__, tmp_path / "shots", "kube_context.png", "cluster_replicas.png")


def render_screenshots(out: Path) -> None:
    """The context settings dialog after a connection test (a viewer identity: refused permissions listed),
    and the endpoint view's Replicas tab for a cluster endpoint."""
    import os
    import tempfile

    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from console.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as folder, start_fake_cluster(Path(folder), context="prod-eu") as cluster:
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
        cluster.add_token("viewer", VIEWER, context="prod-eu-viewer")
        cluster.ensure_namespace("ml")
        cluster.seed_deployment("fraud-v1", namespace="ml", image="registry.example/models/fraud:2024.05.1",
                                replicas=3)
        cluster.seed_deployment("fraud-v2", namespace="ml", image="registry.example/models/fraud:2024.06.0")
        cluster.create(objects.httproute("fraud", {"fraud-v1": 90, "fraud-v2": 10}, namespace="ml"))
        cluster.restart_container("ml", next(p["metadata"]["name"] for p in cluster.list("v1", "Pod", "ml")
                                             if p["metadata"]["name"].startswith("fraud-v2")), "model")
        console = _console(Path(folder))
        window = MainWindow(console, QSettings(str(Path(folder) / "console.ini"), QSettings.Format.IniFormat))
        console.load(Path(folder) / "engine")
        window._on_console_places_changed()
        window.resize(1500, 900)
        window.show()

        dialog = window.place_flows.edit("kube-prod-eu-viewer")
        assert isinstance(dialog, KubeContextDialog)
        dialog.some_namespaces.setChecked(True)
        dialog.namespaces.setText("ml")
        dialog.test_connection()
        pump(lambda: dialog.test_result.text().startswith(("Connected", "Failed")))
        dialog.resize(760, dialog.sizeHint().height())
        QCoreApplication.processEvents()
        dialog.grab().save(str(out / "kube_context.png"))
        dialog.reject()

        console.connect_place("kube-prod-eu")
        pump(lambda: window.inventory.select("kube-prod-eu", "ml/fraud"))
        view = window.endpoint_view
        pump(lambda: view.replicas_model.rowCount() == 5)  # 3 + 2 pods
        view.history_tabs.setCurrentWidget(view.replicas_table)
        QCoreApplication.processEvents()
        view.grab().save(str(out / "cluster_replicas.png"))
        window.close()
        console.shutdown(timeout_s=5.0)
    app.quit()


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--shots":
        render_screenshots(Path(sys.argv[2]))
