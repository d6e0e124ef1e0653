"""The fake Kubernetes API server (tests/k8sfake) written to through the official `kubernetes` client: patches of
every content type, 409/415/422, status and scale subresources, delete, RBAC with access reviews, pod logs, and
the controller helpers (rollout, rollout undo, route acceptance)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.harness import wait_until
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.clientkit import GW, api_client, in_thread, status_of


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=50, bookmark_interval=0.1) as running:
        yield running


@pytest.fixture
def api(cluster: FakeCluster) -> Iterator[client.ApiClient]:
    with api_client(cluster.kubeconfig) as api:
        yield api


# ----------------------------------------------------------------------------- writes


def test_merge_strategic_and_json_patches(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris")
    cluster.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}))
    apps, custom = client.AppsV1Api(api), client.CustomObjectsApi(api)

    # strategic merge (the client's default for built-ins): containers merge by name, env by name
    patched = apps.patch_namespaced_deployment("iris", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "model", "image": "registry.example/model:v2", "env": [{"name": "LOG_LEVEL", "value": "debug"}]}]}}}})
    container = patched.spec.template.spec.containers[0]
    assert container.image == "registry.example/model:v2" and container.ports[0].container_port == 8080
    assert [e.name for e in container.env] == ["MODEL_NAME", "LOG_LEVEL"]
    patched = apps.patch_namespaced_deployment("iris", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "model", "env": [{"name": "MODEL_NAME", "$patch": "delete"}]}]}}}})
    assert [e.name for e in patched.spec.template.spec.containers[0].env] == ["LOG_LEVEL"]

    # merge patch (the client's default for custom objects): lists replaced whole, generation bumped
    before = custom.get_namespaced_custom_object(*GW, "default", "httproutes", "iris")
    refs = before["spec"]["rules"][0]["backendRefs"]
    refs[0]["weight"], refs[1]["weight"] = 50, 50
    route = custom.patch_namespaced_custom_object(*GW, "default", "httproutes", "iris",
                                                  {"spec": {"rules": [{"backendRefs": refs}]}})
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    assert route["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert route["status"]["parents"][0]["conditions"][0]["observedGeneration"] == 1

    # JSON patch with a test op guarding the read value
    ops = [{"op": "test", "path": "/spec/replicas", "value": 2},
           {"op": "replace", "path": "/spec/replicas", "value": 4}]
    assert apps.patch_namespaced_deployment("iris", "default", ops).spec.replicas == 4
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("iris", "default", ops)
    assert err.value.status == 422 and status_of(err.value)["reason"] == "Invalid"

    # the scale subresource
    assert apps.patch_namespaced_deployment_scale("iris", "default", {"spec": {"replicas": 6}}).spec.replicas == 6
    scale = apps.read_namespaced_deployment_scale("iris", "default")
    assert scale.spec.replicas == 6 and scale.status.selector == "app=iris"

    # strategic merge and server-side apply are refused on custom resources
    for content_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
        with pytest.raises(ApiException) as err:
            custom.patch_namespaced_custom_object(*GW, "default", "httproutes", "iris", {"spec": {}},
                                                  _content_type=content_type)
        assert err.value.status == 415 and status_of(err.value)["reason"] == "UnsupportedMediaType"


def test_stale_resource_version_gets_409_conflict(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.virtualservice("chat", {"chat-v1": 80, "chat-v2": 20}, version="v1beta1"))
    custom = client.CustomObjectsApi(api)
    vs_path = ("networking.istio.io", "v1beta1", "default", "virtualservices", "chat")
    read = custom.get_namespaced_custom_object(*vs_path)
    assert read["apiVersion"] == "networking.istio.io/v1beta1"
    cluster.modify("networking.istio.io/v1", "VirtualService", "default", "chat",
                   lambda vs: {**vs, "metadata": {**vs["metadata"], "annotations": {"someone": "else"}}})

    stale = {"metadata": {"resourceVersion": read["metadata"]["resourceVersion"]},
             "spec": {"http": [{"route": [{"destination": {"host": "chat-v1"}, "weight": 100}]}]}}
    for call in (lambda: custom.patch_namespaced_custom_object(*vs_path, stale),
                 lambda: custom.replace_namespaced_custom_object(*vs_path, {**read, "spec": stale["spec"]})):
        with pytest.raises(ApiException) as err:
            call()
        body = status_of(err.value)
        assert err.value.status == 409 and body["reason"] == "Conflict"
        assert body["message"] == (
            'Operation cannot be fulfilled on virtualservices.networking.istio.io "chat": the object has been '
            "modified; please apply your changes to the latest version and try again")
        assert body["details"] == {"name": "chat", "group": "networking.istio.io", "kind": "virtualservices"}

    fresh = custom.get_namespaced_custom_object(*vs_path)["metadata"]["resourceVersion"]
    done = custom.patch_namespaced_custom_object(*vs_path, {**stale, "metadata": {"resourceVersion": fresh}})
    assert done["spec"]["http"][0]["route"][0]["weight"] == 100 and done["metadata"]["resourceVersion"] != fresh

    client.CoreV1Api(api).create_namespaced_service("default", objects.service("dup"))
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).create_namespaced_service("default", objects.service("dup"))
    assert err.value.status == 409 and status_of(err.value)["message"] == 'services "dup" already exists'


def test_status_subresource_is_separate_from_spec(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.inferenceservice("iris", canary_percent=10))
    custom = client.CustomObjectsApi(api)
    path = ("serving.kserve.io", "v1beta1", "default", "inferenceservices", "iris")
    out = custom.patch_namespaced_custom_object(*path, {"spec": {"predictor": {"canaryTrafficPercent": 30}},
                                                        "status": {"url": "http://hijacked"}})
    assert out["spec"]["predictor"]["canaryTrafficPercent"] == 30 and out["metadata"]["generation"] == 2
    assert out["status"]["url"] == "http://iris.default.example.com"
    out = custom.patch_namespaced_custom_object_status(*path, {"status": {"observedGeneration": 2}})
    assert out["status"]["observedGeneration"] == 2 and out["metadata"]["generation"] == 2
    assert out["status"]["components"]["predictor"]["previousRolledoutRevision"] == "iris-predictor-00001"


def test_delete_returns_status_and_watch_sees_deleted(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.canary("iris"))
    custom = client.CustomObjectsApi(api)
    listed = custom.list_namespaced_custom_object("flagger.app", "v1beta1", "default", "canaries")
    rv = listed["metadata"]["resourceVersion"]
    gone = custom.delete_namespaced_custom_object("flagger.app", "v1beta1", "default", "canaries", "iris")
    assert gone["kind"] == "Status" and gone["status"] == "Success" and gone["details"]["name"] == "iris"
    events = list(watch.Watch().stream(custom.list_namespaced_custom_object, "flagger.app", "v1beta1", "default",
                                       "canaries", resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in events] == ["DELETED"]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(rv)
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object("flagger.app", "v1beta1", "default", "canaries", "iris")
    assert status_of(err.value)["message"] == 'canaries.flagger.app "iris" not found'


# ------------------------------------------------------------------------------ RBAC


def test_access_reviews_and_forbidden_requests(cluster: FakeCluster) -> None:
    cluster.seed_deployment("iris")
    bob = cluster.add_token("bob", [Rule(verbs=("get", "list", "watch"), groups=("apps",), resources=("deployments",),
                                   namespaces=("default",), name="viewers")])
    with api_client(cluster.kubeconfig, context="bob") as api:
        auth = client.AuthorizationV1Api(api)

        def review(verb: str, namespace: str = "default") -> Any:
            body = {"spec": {"resourceAttributes": {"namespace": namespace, "verb": verb, "group": "apps",
                                                    "resource": "deployments"}}}
            return auth.create_self_subject_access_review(body).status

        allowed = review("list")
        assert allowed.allowed and allowed.reason == (
            'RBAC: allowed by RoleBinding "viewers/default" of Role "viewers" to User "bob"')
        assert not review("patch").allowed and not review("list", "prod").allowed

        apps = client.AppsV1Api(api)
        assert apps.read_namespaced_deployment("iris", "default").metadata.name == "iris"
        with pytest.raises(ApiException) as err:
            apps.patch_namespaced_deployment("iris", "default", {"spec": {"replicas": 3}})
        body = status_of(err.value)
        assert err.value.status == 403 and body["reason"] == "Forbidden"
        assert body["message"] == ('deployments.apps "iris" is forbidden: User "bob" cannot patch resource '
                                   '"deployments" in API group "apps" in the namespace "default"')
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(api).list_namespaced_pod("default")
        assert status_of(err.value)["message"] == ('pods is forbidden: User "bob" cannot list resource "pods" in '
                                                   'API group "" in the namespace "default"')
        cluster.set_rules([Rule(verbs=("*",), name="admins")], token=bob)
        assert apps.patch_namespaced_deployment("iris", "default", {"spec": {"replicas": 3}}).spec.replicas == 3


# ------------------------------------------------------------------------------ logs


def test_pod_logs_tail_previous_and_follow(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris", replicas=1)
    pod = cluster.list("v1", "Pod", "default")[0]["metadata"]["name"]
    core = client.CoreV1Api(api)
    cluster.append_log("default", pod, "model", "loading model", "ready on :8080", "GET /v2/health/ready 200")
    assert core.read_namespaced_pod_log(pod, "default", tail_lines=2) == "ready on :8080\nGET /v2/health/ready 200\n"
    stamped = core.read_namespaced_pod_log(pod, "default", timestamps=True, tail_lines=1)
    assert stamped.endswith("Z GET /v2/health/ready 200\n") and stamped[:4].isdigit()
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(pod, "default", previous=True)
    assert err.value.status == 400 and status_of(err.value)["message"] == (
        f'previous terminated container "model" in pod "{pod}" not found')

    cluster.restart_container("default", pod, "model")
    assert core.read_namespaced_pod_log(pod, "default", previous=True).startswith("loading model\n")
    assert core.read_namespaced_pod(pod, "default").status.container_statuses[0].restart_count == 1
    cluster.append_log("default", pod, "model", "restarted")

    def follow() -> Iterator[str]:
        return watch.Watch().stream(core.read_namespaced_pod_log, pod, "default", container="model",
                                    _request_timeout=10)

    thread, lines = in_thread(follow)
    wait_until(lambda: cluster.log_followers("default", pod, "model") == 1, timeout=5, what="the log follower")
    cluster.append_log("default", pod, "model", "GET /v2/models/iris/infer 200", "GET /v2/models/iris/infer 500")
    wait_until(lambda: len(lines) == 3, timeout=5, what="followed lines")
    cluster.delete("v1", "Pod", "default", pod)  # the stream ends with the pod
    thread.join(10)
    assert not thread.is_alive()
    assert lines == ["restarted", "GET /v2/models/iris/infer 200", "GET /v2/models/iris/infer 500"]


# ------------------------------------------------------------------- objects + helpers


def test_realistic_objects_and_rollout_undo_helpers(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris", replicas=2)
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    apps, core, custom = client.AppsV1Api(api), client.CoreV1Api(api), client.CustomObjectsApi(api)
    dep = apps.read_namespaced_deployment("iris", "default")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    rss = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
           for rs in apps.list_namespaced_replica_set("default").items}
    assert rss["1"].spec.replicas == 0 and rss["2"].spec.replicas == 2
    assert rss["1"].metadata.owner_references[0].uid == dep.metadata.uid
    new_hash = rss["2"].metadata.labels["pod-template-hash"]
    pods = core.list_namespaced_pod("default", label_selector=f"pod-template-hash={new_hash}")
    assert len(pods.items) == 2 and pods.items[0].status.phase == "Running" and pods.items[0].spec.node_name

    # rollout undo's semantics: the previous ReplicaSet's template, which then becomes revision 3
    template = api.sanitize_for_serialization(rss["1"].spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]  # as kubectl rollout undo does
    undo = [{"op": "replace", "path": "/spec/template", "value": template}]
    apps.patch_namespaced_deployment("iris", "default", undo)
    cluster.reconcile_deployment("default", "iris")
    assert apps.read_namespaced_deployment("iris", "default").metadata.annotations[
        "deployment.kubernetes.io/revision"] == "3"
    back = apps.read_namespaced_replica_set(rss["1"].metadata.name, "default")
    assert back.spec.replicas == 2 and back.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"

    cluster.create(objects.httproute("iris", {"iris": 100}))
    custom.patch_namespaced_custom_object(*GW, "default", "httproutes", "iris", {"spec": {"hostnames": ["x.test"]}})
    route = cluster.accept_httproute("default", "iris")
    assert all(c["observedGeneration"] == 2 for p in route["status"]["parents"] for c in p["conditions"])
    for factory in (objects.rollout("canary-ro"), objects.virtualservice("vs", {"a": 50, "b": 50}, mirror="c",
                                                                         mirror_percent=5.0)):
        cluster.create(factory)
    ro = custom.get_namespaced_custom_object("argoproj.io", "v1alpha1", "default", "rollouts", "canary-ro")
    assert ro["status"]["canary"]["weights"]["canary"]["weight"] == 20 and ro["metadata"]["uid"]
    vs = custom.get_namespaced_custom_object("networking.istio.io", "v1", "default", "virtualservices", "vs")
    assert vs["spec"]["http"][0]["mirrorPercentage"] == {"value": 5.0}
    assert cluster.requests("patch", "httproutes") == 1 and cluster.requests("list") >= 2
    assert cluster.server.errors == []
