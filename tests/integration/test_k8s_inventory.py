"""A Kubernetes context as a place, against the fake API server (tests/k8sfake) through the
official client: contexts from kubeconfig, inventory of every kind, watched changes, 410 → relist,
discovery, exact 401/403/TLS/DNS/timeout errors, SelfSubjectAccessReview permissions, read-only."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.base import (
    Forbidden,
    InventorySnapshot,
    PlaceKind,
    Unauthorized,
    Unreachable,
)
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.kubernetes.discovery import DEPLOYMENT, Kind
from console.backends.places import PlaceConfig, PlacesStore, kube_contexts
from console.domain.models import EndpointStatus
from tests.harness import wait_until
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.tls import other_ca_pem

HTTPROUTE = Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", patchable=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        yield running


def place(kubeconfig: Path, context: str = "fake", **fields: object) -> PlaceConfig:
    return PlaceConfig(id=f"kube-{context}", kind=PlaceKind.KUBERNETES, name=context, context=context,
                       kubeconfig=str(kubeconfig), **fields)  # type: ignore[arg-type]


@pytest.fixture
def backends() -> Iterator[list[KubernetesBackend]]:
    made: list[KubernetesBackend] = []
    yield made
    for backend in made:
        backend.close()


def open_backend(made: list[KubernetesBackend], kubeconfig: Path, context: str = "fake", **kw: object
                 ) -> KubernetesBackend:
    fields = {k: v for k, v in kw.items() if k in ("namespaces", "read_only")}
    options = {k: v for k, v in kw.items() if k not in fields}
    backend = KubernetesBackend(place(kubeconfig, context, **fields), env={"KUBECONFIG": str(kubeconfig)},
                                **options)  # type: ignore[arg-type]
    made.append(backend)
    return backend


def endpoint(snapshot: InventorySnapshot, name: str) -> EndpointStatus:
    return next(e for e in snapshot.endpoints if e.name == name)


def seed_everything(cluster: FakeCluster) -> None:
    cluster.seed_deployment("iris-v1")
    cluster.seed_deployment("iris-v2", image="registry.example/iris:v2", replicas=3)
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 30}))
    cluster.create(objects.virtualservice("iris-mesh", {"iris-v1": 80, "iris-v2": 20}, version="v1beta1",
                                          mirror="iris-v2", mirror_percent=5.0))
    cluster.create(objects.inferenceservice("sk", canary_percent=10))
    cluster.create(objects.rollout("ro", weight=20, step=1))
    cluster.seed_deployment("lone")
    cluster.create(objects.canary("can", target="iris-v1", weight=30))


# ----------------------------------------------------------------------------- connect


def test_contexts_come_from_the_kubeconfig_list(cluster: FakeCluster, tmp_path: Path,
                                                backends: list[KubernetesBackend]) -> None:
    cluster.add_token("bob", context="bob-ctx")
    missing = tmp_path / "not-there"
    assert kube_contexts([missing, cluster.kubeconfig]) == [("fake", str(cluster.kubeconfig)),
                                                             ("bob-ctx", str(cluster.kubeconfig))]
    env = {"KUBECONFIG": os.pathsep.join([str(missing), str(cluster.kubeconfig)])}
    bob = KubernetesBackend(place(cluster.kubeconfig, "bob-ctx"), env=env)
    backends.append(bob)
    result = bob.probe()
    assert result.ok, result.message
    assert result.detail["context"] == "bob-ctx" and result.detail["user"] == "bob"
    assert result.detail["version"] == "v1.31.0" and "all permissions" in result.message


def test_namespaces_and_read_only_are_saved_with_the_place(tmp_path: Path) -> None:
    store = PlacesStore(tmp_path / "cfg")
    store.save([place(tmp_path / "kc", namespaces=("team-a", "team-b"), read_only=True)])
    [loaded] = store.load()
    assert loaded.namespaces == ("team-a", "team-b") and loaded.read_only


# ----------------------------------------------------------------------------- inventory


def test_inventory_maps_every_kind(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    seed_everything(cluster)
    snap = open_backend(backends, cluster.kubeconfig).inventory()

    route = endpoint(snap, "default/iris")
    assert route.traffic == {"iris-v1": 75, "iris-v2": 25}  # 90:30 as percent of the sum
    assert route.revision == route.applied_revision == 1 and route.scoring_uri == "http://iris.example.com"
    v2 = next(d for d in route.deployments if d.name == "iris-v2")
    assert (v2.model.name, v2.model.version, v2.replicas_ready, v2.replicas_desired) == \
        ("registry.example/iris", "v2", 3, 3)
    assert v2.state == "Ready" and len(v2.replicas) == 3 and all(r.state == "ready" for r in v2.replicas)
    assert "parents: web accepted" in route.description

    mesh = endpoint(snap, "default/iris-mesh")
    assert mesh.traffic == {"iris-v1": 80, "iris-v2": 20} and mesh.mirror == {"iris-v2": 5}
    assert {d.name for d in mesh.deployments} == {"iris-v1", "iris-v2"}

    isvc = endpoint(snap, "default/sk")
    assert isvc.traffic == {"sk-predictor-00002": 10, "sk-predictor-00001": 90}
    assert isvc.scoring_uri == "http://sk.default.example.com" and "sklearn" in isvc.description
    for shown in ("gs://models/iris/v2", "latest ready sk-predictor-00002", "previously rolled out sk-predictor-00001",
                  "canaryTrafficPercent 10", "Ready=True"):
        assert shown in isvc.description, (shown, isvc.description)
    backend = backends[0]
    detail = backend.refs["default/sk"].detail
    assert detail["canary_traffic_percent"] == 10 and detail["storage_uri"] == "gs://models/iris/v2"
    assert (detail["latest_ready"], detail["previous_rolled_out"]) == ("sk-predictor-00002", "sk-predictor-00001")
    assert detail["runtime"] == "kserve-sklearnserver"

    rollout = endpoint(snap, "default/ro")
    assert rollout.traffic == {"ro-stable": 80, "ro-canary": 20}
    assert backend.refs["default/ro"].control == "Argo Rollout"
    assert backend.refs["default/ro"].detail == {"phase": "Paused", "message": "CanaryPauseStep", "step": "1/4",
                                                 "canary_weight": 20}
    canary = endpoint(snap, "default/can")
    assert canary.traffic == {"iris-v1-primary": 70, "iris-v1": 30}
    assert backend.refs["default/can"].control == "Flagger Canary"

    workload = backend.refs["default/iris"].workloads["iris-v1"]
    assert workload.revision == "1" and {p.node for p in workload.pods} == {"node-a", "node-b"}
    assert [o.name for o in snap.orphans] == ["lone"]


def test_watched_changes_are_reflected(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    seed_everything(cluster)
    backend = open_backend(backends, cluster.kubeconfig)
    backend.inventory()
    wait_until(lambda: cluster.watchers("gateway.networking.k8s.io/v1", "HTTPRoute"), 10, what="route watch")
    wait_until(lambda: cluster.watchers("apps/v1", "Deployment"), 10, what="deployment watch")

    def reweigh(route: dict) -> dict:
        route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 90
        return route
    cluster.modify("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "iris", reweigh)
    changed = wait_until(lambda: endpoint(backend.inventory(), "default/iris").traffic == {"iris-v1": 50,
                                                                                            "iris-v2": 50}, 10)
    assert changed
    snap = backend.inventory()
    assert endpoint(snap, "default/iris").revision == 2 and endpoint(snap, "default/iris").applied_revision == 1

    cluster.roll_deployment("default", "iris-v1", "registry.example/model:v3")

    def rolled() -> bool:  # the controller writes the Deployment more than once: wait for its last state
        v1 = next(d for d in endpoint(backend.inventory(), "default/iris").deployments if d.name == "iris-v1")
        w = backend.refs["default/iris"].workloads["iris-v1"]
        return v1.model.version == "v3" and w.revision == "2" and v1.replicas_ready == 2 and len(w.pods) == 2
    wait_until(rolled, 10, what="rolled image, revision 2, new pods")

    cluster.delete("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "iris")
    wait_until(lambda: all(e.name != "default/iris" for e in backend.inventory().endpoints), 10)


def test_a_watch_back_after_compaction_relists(tmp_path: Path, backends: list[KubernetesBackend]) -> None:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=30) as cluster:
        cluster.seed_deployment("iris-v1")
        backend = open_backend(backends, cluster.kubeconfig)
        backend.inventory()
        wait_until(lambda: cluster.watchers("apps/v1", "Deployment"), 10)
        assert backend._watches is not None
        watch = next(t for t in backend._watches.threads if t.kind == DEPLOYMENT)
        assert watch.relists == 1
        watch.interrupt()  # the connection drops; while it is down the cluster moves on and compacts
        cluster.roll_deployment("default", "iris-v1", "registry.example/model:v9")
        cluster.compact()
        wait_until(lambda: watch.relists == 2, 10, what="relist after 410")
        wait_until(lambda: backend.inventory().orphans[0].model.version == "v9", 10)
        cluster.roll_deployment("default", "iris-v1", "registry.example/model:v10")  # and the watch goes on
        wait_until(lambda: backend.inventory().orphans[0].model.version == "v10", 10)
        assert watch.relists == 2
        backend.close()


def test_only_served_api_groups_are_watched(tmp_path: Path, backends: list[KubernetesBackend]) -> None:
    with start_fake_cluster(tmp_path, drop_groups=("argoproj.io", "flagger.app", "serving.kserve.io")) as cluster:
        cluster.seed_deployment("iris-v1")
        cluster.create(objects.httproute("iris", {"iris-v1": 1}))
        backend = open_backend(backends, cluster.kubeconfig)
        snap = backend.inventory()
        assert [e.name for e in snap.endpoints] == ["default/iris"]
        assert {k.kind for k in backend.kinds()} == {"Deployment", "Pod", "Service", "HTTPRoute", "VirtualService"}
        assert cluster.requests(resource="rollouts") == cluster.requests(resource="canaries") == 0
        backend.close()


def test_namespaces_limit_what_is_read(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    cluster.seed_deployment("iris-v1")
    cluster.seed_deployment("other", namespace="team-b")
    snap = open_backend(backends, cluster.kubeconfig, namespaces=("team-b",)).inventory()
    assert [o.name for o in snap.orphans] == ["other"]


# ----------------------------------------------------------------------------- failures


def test_a_refused_token_is_an_exact_401(cluster: FakeCluster, tmp_path: Path,
                                         backends: list[KubernetesBackend]) -> None:
    bad = cluster.write_kubeconfig(tmp_path / "bad", token="not-a-token")
    backend = open_backend(backends, bad)
    result = backend.probe()
    assert not result.ok and result.kind == "unauthorized" and "HTTP 401: Unauthorized" in result.message
    with pytest.raises(Unauthorized, match="HTTP 401"):
        open_backend(backends, bad, initial_wait_s=5).inventory()


def test_a_forbidden_list_is_an_exact_403(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    cluster.add_token("carol", [Rule(("get", "list", "watch"), ("",), ("pods", "services"))], context="carol")
    with pytest.raises(Forbidden, match='cannot list resource "deployments" in API group "apps" at the cluster scope'):
        open_backend(backends, cluster.kubeconfig, "carol", initial_wait_s=5).inventory()


def test_an_unknown_ca_is_a_tls_failure(cluster: FakeCluster, tmp_path: Path,
                                        backends: list[KubernetesBackend]) -> None:
    wrong = cluster.write_kubeconfig(tmp_path / "wrong-ca", ca_pem=other_ca_pem())
    result = open_backend(backends, wrong).probe()
    assert not result.ok and result.kind == "tls"
    assert "TLS failed: the server's certificate was not accepted" in result.message


def test_dns_and_timeout_failures_are_named(cluster: FakeCluster, tmp_path: Path,
                                            backends: list[KubernetesBackend]) -> None:
    text = cluster.kubeconfig.read_text()
    nowhere = tmp_path / "dns"
    nowhere.write_text(text.replace(cluster.url, "https://no-such-host.invalid:6443"))
    result = open_backend(backends, nowhere).probe()
    assert not result.ok and result.kind == "dns" and "DNS lookup failed" in result.message

    with socket.socket() as silent:  # accepts connections (backlog) and never answers the TLS handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        mute = tmp_path / "mute"
        mute.write_text(text.replace(cluster.url, f"https://127.0.0.1:{silent.getsockname()[1]}"))
        result = open_backend(backends, mute, timeout=(1.0, 1.0)).probe()
    assert not result.ok and result.kind == "timeout" and "timed out" in result.message


def test_a_watch_down_past_its_bound_makes_the_place_stale(tmp_path: Path, backends: list[KubernetesBackend]) -> None:
    with start_fake_cluster(tmp_path) as cluster:
        cluster.seed_deployment("iris-v1")
        backend = open_backend(backends, cluster.kubeconfig, stale_after_s=0.5, timeout=(1.0, 2.0))
        backend.inventory()
        cluster.server.stop()

        def stale() -> Unreachable | None:
            try:
                backend.inventory()  # the cache still answers while the watch is down less than the bound
            except Unreachable as exc:
                return exc
            return None
        error = wait_until(stale, 10, what="the place to go stale")
        assert re.search(r"^watch of \S+ down for \d+ s: https://127.0.0.1:\d+: "
                         r"(connection refused|the connection was closed)", str(error))
        backend.close()


# ----------------------------------------------------------------------------- permissions


def test_permissions_name_what_is_missing_and_where(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    cluster.ensure_namespace("team-a")
    cluster.add_token("dave", [Rule(("get", "list", "watch"), ("*",), ("*",), ("team-a",)),
                               Rule(("patch",), ("gateway.networking.k8s.io",), ("httproutes",), ("team-a",))],
                      context="dave")
    backend = open_backend(backends, cluster.kubeconfig, "dave", namespaces=("team-a",))
    perms = backend.permissions()
    assert perms.allows("patch", HTTPROUTE, "team-a") and perms.allows("watch", DEPLOYMENT, "team-a")
    assert perms.missing_for("patch", DEPLOYMENT, "team-a") == \
        "missing permission: patch deployments.apps in namespace team-a"
    assert "patch deployments.apps in namespace team-a" in perms.missing()
    assert not perms.allows("list", DEPLOYMENT, "team-b")
    assert "1 permissions missing" in backend.probe().message or "permissions missing" in backend.probe().message


def test_a_read_only_context_allows_no_change(cluster: FakeCluster, backends: list[KubernetesBackend]) -> None:
    backend = open_backend(backends, cluster.kubeconfig, read_only=True)
    perms = backend.permissions()
    assert perms.allows("list", HTTPROUTE) and not perms.allows("patch", HTTPROUTE)
    assert perms.missing_for("patch", HTTPROUTE) == "this context is marked read-only in the console"
    result = backend.probe()
    assert result.ok and result.detail["read_only"] and "(read-only in the console)" in result.message
