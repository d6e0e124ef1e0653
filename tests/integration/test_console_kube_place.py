"""A Kubernetes context found in kubeconfig, in the console: listed at start without being
contacted, connected when the person selects it, its HTTPRoute then listed as an endpoint with
its weighted deployments, and a change on the cluster shown through the watch. Against the fake
API server (tests/k8sfake) through the official client."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.credentials import CredentialStore
from console.backends.places import PlacesStore
from console.ui.controller import Console
from console.ui.errors import ErrorSink
from console.ui.models.rows import Col
from console.ui.tasks import TaskRunner
from tests.gui.fakes import MemoryKeyring
from tests.k8sfake import FakeCluster, objects, start_fake_cluster

pytestmark = [pytest.mark.integration, pytest.mark.gui]
PLACE = "kube-fake"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        yield running


@pytest.fixture
def console(tmp_path: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, qtbot: object) -> Iterator[Console]:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    runner = TaskRunner()
    made = Console(runner, ErrorSink(), CredentialStore(backend=MemoryKeyring()), PlacesStore(tmp_path / "config"))
    yield made
    assert made.shutdown(timeout_s=5.0), "a worker was still busy after the test"
    assert runner.active_threads() == 0


def _cell(console: Console, *key: str, col: Col) -> object:
    model = console.inventory_model
    index = model.find(PLACE, *key)
    return model.index(index.row(), col, index.parent()).data() if index.isValid() else None


def test_a_kubeconfig_context_connects_when_selected_and_follows_the_cluster(
        console: Console, cluster: FakeCluster, tmp_path: Path, qtbot) -> None:  # type: ignore[no-untyped-def]
    cluster.seed_deployment("iris-v1")
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2")
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))
    states: list[tuple[str, str]] = []
    console.telemetry.sig_source_changed.connect(lambda place, text: states.append((place, text)))
    console.load(tmp_path / "engine")
    assert PLACE in console.monitors
    # its charts say where telemetry would come from: no Prometheus place is linked to the context
    assert (PLACE, "none: link a Prometheus place to this context") in states
    assert console.places_model.health(PLACE).state == "on-demand"  # listed, not contacted
    assert cluster.requests("list", "httproutes") == 0

    console.connect_place(PLACE)
    qtbot.waitUntil(lambda: _cell(console, "default/iris", "iris-v2", col=Col.TRAFFIC) == "10", timeout=20000)
    assert _cell(console, "default/iris", "iris-v1", col=Col.TRAFFIC) == "90"
    assert console.places_model.health(PLACE).state == "connected"

    def even(route: dict) -> dict:  # type: ignore[type-arg]
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                ref["weight"] = 50
        return route

    cluster.modify("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "iris", even)
    qtbot.waitUntil(lambda: _cell(console, "default/iris", "iris-v2", col=Col.TRAFFIC) == "50", timeout=20000)


def test_a_cluster_deployment_shows_its_image_revision_conditions_and_pods(
        console: Console, cluster: FakeCluster, tmp_path: Path, qtbot) -> None:  # type: ignore[no-untyped-def]
    from console.ui.views.endpoint import EndpointView

    cluster.seed_deployment("iris-v1", image="registry.example/iris:v1")
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2", replicas=3)
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))
    console.load(tmp_path / "engine")
    console.connect_place(PLACE)
    qtbot.waitUntil(lambda: console.inventory_model.endpoint(PLACE, "default/iris") is not None, timeout=20000)
    view = EndpointView()
    qtbot.addWidget(view)
    view.show_endpoint(PLACE, console.inventory_model.endpoint(PLACE, "default/iris"))

    details = {view.deployments_model.index(r, 0).data(): view.deployments_model.index(
        r, len(view.deployments_model.columns) - 1).data() for r in range(view.deployments_model.rowCount())}
    assert details["iris-v2"].startswith("default/iris-v2 · registry.example/iris:v2 · revision 1")
    assert "Available=True" in details["iris-v2"]
    pods = cluster.list("v1", "Pod", "default")
    rows = [[view.replicas_model.index(r, c).data() for c in range(len(view.replicas_model.columns))]
            for r in range(view.replicas_model.rowCount())]
    v2 = [row for row in rows if row[0] == "iris-v2"]
    assert len(v2) == 3
    expected = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods
                if p["metadata"]["name"].startswith("iris-v2")}
    assert {row[1]: row[4] for row in v2} == {name: f"node {node}" for name, node in expected.items()}
    assert all(row[2] == "ready (Running)" for row in v2)
