"""The fake Kubernetes API server (tests/k8sfake) read through the official `kubernetes` client, unmodified,
with the kubeconfig it writes: TLS with its CA, tokens, discovery, list, pagination, selectors, watch and 410."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.harness import wait_until
from tests.k8sfake import FakeCluster, objects, start_fake_cluster
from tests.k8sfake.clientkit import GW, api_client, in_thread, status_of
from tests.k8sfake.tls import other_ca_pem


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=50, bookmark_interval=0.1) as running:
        yield running


@pytest.fixture
def api(cluster: FakeCluster) -> Iterator[client.ApiClient]:
    with api_client(cluster.kubeconfig) as api:
        yield api


# ----------------------------------------------------------------------------- connect


def test_tls_is_verified_against_the_generated_ca(cluster: FakeCluster, api: client.ApiClient, tmp_path: Path) -> None:
    names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
    assert "default" in names and "kube-system" in names
    assert api.configuration.verify_ssl and api.configuration.ssl_ca_cert

    wrong = cluster.write_kubeconfig(tmp_path / "wrong-ca", ca_pem=other_ca_pem())
    with api_client(wrong) as bad:
        with pytest.raises(urllib3.exceptions.MaxRetryError, match="CERTIFICATE_VERIFY_FAILED"):
            client.CoreV1Api(bad).list_namespace()


def test_wrong_missing_and_expired_tokens_get_401(cluster: FakeCluster, tmp_path: Path) -> None:
    with api_client(cluster.write_kubeconfig(tmp_path / "bad-token", token="not-a-token")) as bad:
        with pytest.raises(ApiException) as err:
            client.AppsV1Api(bad).list_namespaced_deployment("default")
    assert err.value.status == 401
    assert status_of(err.value)["reason"] == "Unauthorized" and status_of(err.value)["message"] == "Unauthorized"

    http = urllib3.PoolManager(ca_certs=str(cluster.pki.ca_path))
    anonymous = http.request("GET", f"{cluster.url}/api/v1/namespaces")
    assert anonymous.status == 401 and json.loads(anonymous.data)["reason"] == "Unauthorized"
    assert http.request("GET", f"{cluster.url}/version").status == 200  # public, as on a real cluster
    http.clear()

    with api_client(cluster.kubeconfig) as api:
        client.CoreV1Api(api).list_namespace()
        cluster.expire_token()
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(api).list_namespace()
    assert err.value.status == 401 and status_of(err.value)["message"] == "Unauthorized"


def test_discovery_lists_served_groups_and_resources(tmp_path: Path) -> None:
    with start_fake_cluster(tmp_path, drop_groups=("argoproj.io",)) as cluster, api_client(cluster.kubeconfig) as api:
        groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
        assert "argoproj.io" not in groups
        assert groups["networking.istio.io"].preferred_version.group_version == "networking.istio.io/v1"
        assert {v.version for v in groups["networking.istio.io"].versions} == {"v1", "v1beta1"}
        assert {"gateway.networking.k8s.io", "serving.kserve.io", "flagger.app", "apps"} <= set(groups)
        deployments = next(r for r in client.AppsV1Api(api).get_api_resources().resources if r.name == "deployments")
        assert deployments.kind == "Deployment" and deployments.namespaced
        assert {"get", "list", "watch", "patch", "update"} <= set(deployments.verbs)
        assert client.CoreApi(api).get_api_versions().versions == ["v1"]
        assert client.VersionApi(api).get_code().git_version.startswith("v1.")

        dyn = dynamic.DynamicClient(api)
        routes = dyn.resources.get(api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute")
        assert routes.namespaced and routes.name == "httproutes"
        with pytest.raises(dynamic.exceptions.ResourceNotFoundError):
            dyn.resources.get(api_version="argoproj.io/v1alpha1", kind="Rollout")
        with pytest.raises(ApiException) as err:
            client.CustomObjectsApi(api).list_namespaced_custom_object("argoproj.io", "v1alpha1", "default",
                                                                       "rollouts")
        assert err.value.status == 404
        assert status_of(err.value)["message"] == "the server could not find the requested resource"


# ------------------------------------------------------------------------- list + watch


def test_watch_from_list_resource_version_sees_a_patch(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris")
    apps = client.AppsV1Api(api)
    listed = apps.list_namespaced_deployment("default")
    rv = listed.metadata.resource_version
    assert int(rv) == cluster.resource_version and listed.items[0].metadata.resource_version <= rv

    w = watch.Watch()

    def read() -> list[Any]:
        for event in w.stream(apps.list_namespaced_deployment, "default", resource_version=rv, timeout_seconds=5):
            w.stop()
            return [event]
        return []

    thread, events = in_thread(read)
    wait_until(lambda: cluster.watchers("apps/v1", "Deployment") == 1, timeout=5, what="the watch to open")
    patched = apps.patch_namespaced_deployment("iris", "default", {"spec": {"replicas": 5}})
    thread.join(10)
    assert [e["type"] for e in events] == ["MODIFIED"]
    obj = events[0]["object"]
    assert obj.spec.replicas == 5 and obj.metadata.resource_version == patched.metadata.resource_version
    assert obj.metadata.generation == 2


def test_watch_without_resource_version_starts_with_state_then_bookmarks(cluster: FakeCluster,
                                                                         api: client.ApiClient) -> None:
    cluster.create(objects.httproute("chat", {"chat-v1": 90, "chat-v2": 10}))
    custom = client.CustomObjectsApi(api)
    seen: list[dict[str, Any]] = []
    w = watch.Watch()
    for event in w.stream(custom.list_namespaced_custom_object, *GW, "default", "httproutes",
                          allow_watch_bookmarks=True, timeout_seconds=5):
        seen.append(event)
        if event["type"] == "BOOKMARK":
            w.stop()
    assert [e["type"] for e in seen] == ["ADDED", "BOOKMARK"]
    assert seen[0]["object"]["spec"]["rules"][0]["backendRefs"][1]["weight"] == 10
    assert seen[1]["object"]["metadata"]["resourceVersion"] == str(cluster.resource_version)


def test_watch_too_old_gets_410_and_a_relist_recovers(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris")
    apps = client.AppsV1Api(api)
    old_rv = apps.list_namespaced_deployment("default").metadata.resource_version
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    cluster.compact()

    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        list(w.stream(apps.list_namespaced_deployment, "default", resource_version=old_rv, timeout_seconds=5))
    assert err.value.status == 410
    assert err.value.reason.startswith(f"Expired: too old resource version: {old_rv} (")

    relisted = apps.list_namespaced_deployment("default")
    assert relisted.items[0].spec.template.spec.containers[0].image == "registry.example/model:v2"
    cluster.modify("apps/v1", "Deployment", "default", "iris",
                   lambda d: {**d, "metadata": {**d["metadata"], "labels": {"app": "iris", "tier": "gold"}}})
    events = list(watch.Watch().stream(apps.list_namespaced_deployment, "default",
                                       resource_version=relisted.metadata.resource_version, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.labels.get("tier")) for e in events] == [("MODIFIED", "gold")]


def test_history_window_expires_old_versions(tmp_path: Path) -> None:
    with start_fake_cluster(tmp_path, history=3) as cluster, api_client(cluster.kubeconfig) as api:
        first = cluster.create(objects.service("a"))["metadata"]["resourceVersion"]
        for name in "bcde":
            cluster.create(objects.service(name))
        with pytest.raises(ApiException) as err:
            list(watch.Watch().stream(client.CoreV1Api(api).list_namespaced_service, "default",
                                      resource_version=first, timeout_seconds=1))
        assert err.value.status == 410


def test_pagination_with_continue_and_expired_token(cluster: FakeCluster, api: client.ApiClient) -> None:
    for n in range(25):
        cluster.create(objects.deployment(f"model-{n:02d}"))
    apps = client.AppsV1Api(api)
    page1 = apps.list_namespaced_deployment("default", limit=10)
    assert len(page1.items) == 10 and page1.metadata.remaining_item_count == 15
    cluster.create(objects.deployment("model-99"))  # after the snapshot: not in the following pages
    page2 = apps.list_namespaced_deployment("default", limit=10, _continue=page1.metadata._continue)
    page3 = apps.list_namespaced_deployment("default", limit=10, _continue=page2.metadata._continue)
    names = [d.metadata.name for page in (page1, page2, page3) for d in page.items]
    assert names == [f"model-{n:02d}" for n in range(25)]
    assert page3.metadata._continue is None and page3.metadata.resource_version == page1.metadata.resource_version

    token = apps.list_namespaced_deployment("default", limit=5).metadata._continue
    cluster.delete("apps/v1", "Deployment", "default", "model-99")
    cluster.compact()
    with pytest.raises(ApiException) as err:
        apps.list_namespaced_deployment("default", limit=5, _continue=token)
    assert err.value.status == 410 and status_of(err.value)["reason"] == "Expired"


def test_label_and_field_selectors(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.deployment("a", labels={"team": "search"}))
    cluster.create(objects.deployment("b", labels={"team": "ads"}))
    cluster.create(objects.deployment("c", namespace="prod"))
    apps = client.AppsV1Api(api)
    in_ads = apps.list_namespaced_deployment("default", label_selector="team in (ads)").items
    assert [d.metadata.name for d in in_ads] == ["b"]
    assert [d.metadata.name for d in apps.list_deployment_for_all_namespaces(label_selector="!team").items] == ["c"]
    assert [d.metadata.name for d in apps.list_deployment_for_all_namespaces(
        field_selector="metadata.namespace=default,metadata.name!=a").items] == ["b"]
    with pytest.raises(ApiException) as err:
        apps.list_deployment_for_all_namespaces(field_selector="spec.replicas=2")
    assert err.value.status == 400 and "field label not supported: spec.replicas" in status_of(err.value)["message"]
