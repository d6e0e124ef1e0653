"""Cluster actions against the fake API server through the official client: traffic shifts on HTTPRoute,
VirtualService and InferenceService with resourceVersion preconditions (409 → Conflict with the current object),
HTTPRoute confirmation, the history annotation and traffic rollback, approvals by a second identity, rollout undo,
Argo Rollouts abort/promote/undo and the Flagger rollback gate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from console.backends.base import Conflict, Forbidden, Invalid, NotFound, NotSupported
from console.backends.kubernetes import actions, history, routes_patch
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.clientkit import api_client

ISTIO = "networking.istio.io/v1"
GWV = "gateway.networking.k8s.io/v1"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=100, bookmark_interval=0.2) as running:
        yield running


@pytest.fixture
def api(cluster: FakeCluster) -> Iterator[client.ApiClient]:
    with api_client(cluster.kubeconfig) as api:
        yield api


def _touch(cluster: FakeCluster, api_version: str, kind: str, name: str) -> None:
    """Someone else changes the object (a label): its resourceVersion moves on."""
    def label(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("labels", {})["touched"] = "yes"
        return obj
    cluster.modify(api_version, kind, "default", name, label)


# ------------------------------------------------------------------------------------ traffic shifts


def test_httproute_shift_conflict_and_confirmation(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.httproute("iris", {"iris-v1": 9, "iris-v2": 1}, gateways=("web", "internal")))
    seen = routes_patch.read_object(api, routes_patch.HTTPROUTE, "default", "iris")
    assert routes_patch.split_of("HTTPRoute", seen) == {"iris-v1": 90, "iris-v2": 10}  # percent of the sum

    record = routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 70, "iris-v2": 30},
                                        actor="alice", reason="canary step", read=seen, cluster="fake")
    assert (record.before, record.after) == ({"iris-v1": 90, "iris-v2": 10}, {"iris-v1": 70, "iris-v2": 30})
    assert (record.cluster, record.namespace, record.name, record.actor) == ("fake", "default", "iris", "alice")
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [70, 30]
    assert not routes_patch.httproute_applied(route)  # the gateways still report generation 1

    # the watch-based wait returns once both parents accepted the new generation
    result: list[routes_patch.ActionRecord] = []
    waiter = threading.Thread(target=lambda: result.append(routes_patch.confirm(api, record, timeout_s=10)))
    waiter.start()
    cluster.accept_httproute("default", "iris")
    waiter.join(15)
    assert result and result[0].confirmation == routes_patch.CONFIRMED
    cluster.accept_httproute("default", "iris", accepted=False)
    assert not routes_patch.httproute_applied(cluster.get(GWV, "HTTPRoute", "default", "iris"))
    assert not routes_patch.wait_httproute_applied(api, "default", "iris", record.generation, timeout_s=1)

    # the stale read (someone changed the route since) gets 409 → Conflict with the route as it is now
    _touch(cluster, GWV, "HTTPRoute", "iris")
    with pytest.raises(Conflict) as err:
        routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"iris-v1": 0, "iris-v2": 100},
                                   actor="alice", reason="all in", read=seen)
    assert "the object has been modified" in str(err.value)
    assert err.value.current["metadata"]["labels"]["touched"] == "yes"
    assert routes_patch.split_of("HTTPRoute", err.value.current) == {"iris-v1": 70, "iris-v2": 30}

    for bad, said in (({"iris-v1": 60, "iris-v2": 30}, "sum to 100"), ({"iris-v1": 100}, "missing: iris-v2"),
                      ({"iris-v1": 50, "x": 50}, "not a backend"), ({"iris-v1": 50.5, "iris-v2": 49.5}, "whole")):
        with pytest.raises(Invalid, match=said):
            routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", bad, actor="alice", reason="x")


def test_virtualservice_and_inferenceservice_shifts(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.virtualservice("chat", {"v1": 80, "v2": 20}, subsets=True, mirror="v3",
                                          mirror_percent=5.0))
    seen = routes_patch.read_object(api, routes_patch.VIRTUALSERVICE, "default", "chat")
    record = routes_patch.shift_traffic(api, "VirtualService", "default", "chat", {"v1": 50, "v2": 50},
                                        actor="alice", reason="half", read=seen, mirror_percent=25.0)
    assert record.after == {"v1": 50, "v2": 50} and record.confirmation == routes_patch.NOT_CONFIRMED
    http = cluster.get(ISTIO, "VirtualService", "default", "chat")["spec"]["http"][0]
    assert [d["weight"] for d in http["route"]] == [50, 50] and http["mirrorPercentage"] == {"value": 25.0}
    assert http["mirror"]["subset"] == "v3"  # untouched
    with pytest.raises(Conflict) as err:
        routes_patch.shift_traffic(api, "VirtualService", "default", "chat", {"v1": 100, "v2": 0},
                                   actor="alice", reason="stale", read=seen)
    assert routes_patch.split_of("VirtualService", err.value.current) == {"v1": 50, "v2": 50}

    cluster.create(objects.inferenceservice("iris", canary_percent=10))
    seen = routes_patch.read_object(api, routes_patch.INFERENCESERVICE, "default", "iris")
    assert routes_patch.split_of("InferenceService", seen) == {"iris-predictor-00002": 10,
                                                               "iris-predictor-00001": 90}
    record = routes_patch.shift_traffic(api, "InferenceService", "default", "iris",
                                        {"iris-predictor-00002": 40, "iris-predictor-00001": 60},
                                        actor="alice", reason="more canary", read=seen)
    assert record.confirmation == "accepted by the API server, data plane not confirmed"
    isvc = cluster.get("serving.kserve.io/v1beta1", "InferenceService", "default", "iris")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 40 and isinstance(
        isvc["spec"]["predictor"]["canaryTrafficPercent"], int)
    with pytest.raises(Conflict) as err:
        routes_patch.shift_traffic(api, "InferenceService", "default", "iris",
                                   {"iris-predictor-00002": 100, "iris-predictor-00001": 0},
                                   actor="alice", reason="stale", read=seen)
    assert err.value.current["spec"]["predictor"]["canaryTrafficPercent"] == 40


def test_history_is_bounded_and_traffic_rolls_back(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.httproute("iris", {"a": 100, "b": 0}))
    for step in range(1, 26):
        routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"a": 100 - step, "b": step},
                                   actor="alice", reason=f"step {step}", now=1_700_000_000 + step)
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    entries = json.loads(route["metadata"]["annotations"][history.HISTORY_ANNOTATION])
    assert len(entries) == history.HISTORY_LIMIT  # bounded: the oldest were dropped
    assert entries[-1] == {"revision": 26, "time": "2023-11-14T22:13:45Z", "actor": "alice", "reason": "step 25",
                           "split": {"a": 75, "b": 25}}

    record = history.rollback_traffic(api, "HTTPRoute", "default", "iris", actor="bob", reason="errors up")
    assert (record.before, record.after, record.action) == ({"a": 75, "b": 25}, {"a": 76, "b": 24},
                                                            "traffic-rollback")
    last = history.history_of(cluster.get(GWV, "HTTPRoute", "default", "iris"))[-1]
    assert (last["revision"], last["actor"], last["reason"], last["split"]) == (27, "bob", "errors up",
                                                                                {"a": 76, "b": 24})

    fresh = cluster.create(objects.httproute("fresh", {"a": 100}))
    with pytest.raises(NotFound, match="no earlier split"):
        history.rollback_traffic(api, "HTTPRoute", "default", "fresh", actor="bob", reason="x")
    assert fresh["metadata"]["name"] == "fresh"


def test_proposal_approved_by_another_identity(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.httproute("iris", {"v1": 90, "v2": 10}))
    viewer = [Rule(verbs=("get", "list", "watch", "create"), name="viewers")]
    cluster.add_token("carol", viewer)
    cluster.add_token("bob")
    proposed = history.propose(api, "HTTPRoute", "default", "iris", {"v1": 50, "v2": 50}, proposer="alice",
                               reason="canary looks good", now=1_700_000_000, ttl_s=600)
    assert proposed.action == "traffic-propose" and proposed.after == {"v1": 50, "v2": 50}
    stored = history.proposal_of(cluster.get(GWV, "HTTPRoute", "default", "iris"))
    assert stored is not None and stored["proposer"] == "alice" and stored["before"] == {"v1": 90, "v2": 10}
    assert stored["expires"] == "2023-11-14T22:23:20Z"

    with pytest.raises(Forbidden, match="another identity"):
        history.approve(api, "HTTPRoute", "default", "iris", approver="alice", now=1_700_000_010)
    with api_client(cluster.kubeconfig, context="carol") as carol, pytest.raises(Forbidden) as err:
        history.approve(carol, "HTTPRoute", "default", "iris", approver="carol", now=1_700_000_010)
    assert "patch httproutes.gateway.networking.k8s.io in namespace default" in str(err.value)
    with api_client(cluster.kubeconfig, context="bob") as bob:
        with pytest.raises(Invalid, match="expired"):
            history.approve(bob, "HTTPRoute", "default", "iris", approver="bob", now=1_700_000_700)
        record = history.approve(bob, "HTTPRoute", "default", "iris", approver="bob", now=1_700_000_020)
    assert (record.actor, record.before, record.after) == ("bob", {"v1": 90, "v2": 10}, {"v1": 50, "v2": 50})
    assert record.detail["proposer"] == "alice"
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    assert history.PROPOSAL_ANNOTATION not in route["metadata"]["annotations"]
    assert history.history_of(route)[-1]["actor"] == "bob"

    # a proposal made against a spec that changed since is refused with the current object
    history.propose(api, "HTTPRoute", "default", "iris", {"v1": 0, "v2": 100}, proposer="alice", reason="all in")
    routes_patch.shift_traffic(api, "HTTPRoute", "default", "iris", {"v1": 60, "v2": 40}, actor="dave",
                               reason="manual")
    with api_client(cluster.kubeconfig, context="bob") as bob, pytest.raises(Conflict, match="changed since"):
        history.approve(bob, "HTTPRoute", "default", "iris", approver="bob")


# ------------------------------------------------------------------------------------ rollout undo


def test_deployment_rollout_undo(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.seed_deployment("iris")
    cluster.roll_deployment("default", "iris", "registry.example/model:v2")
    plan = actions.preview_deployment_rollback(api, "default", "iris")
    assert plan.before == actions.TemplateSummary(2, ("registry.example/model:v2",), "v2")
    assert plan.after == actions.TemplateSummary(1, ("registry.example/model:v1",), "v1")
    assert "pod-template-hash" not in plan.template["metadata"]["labels"]

    record = actions.rollback_deployment(api, "default", "iris", actor="alice", reason="v2 errors", preview=plan,
                                         cluster="fake")
    assert record.before["images"] == ["registry.example/model:v2"]
    assert record.after["images"] == ["registry.example/model:v1"]
    dep = cluster.get("apps/v1", "Deployment", "default", "iris")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/model:v1"
    active = cluster.reconcile_deployment("default", "iris")  # the controller re-uses the revision-1 ReplicaSet
    assert active is not None and active["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    # the plan was read before another change: 409 → Conflict with the Deployment now
    cluster.roll_deployment("default", "iris", "registry.example/model:v3")
    with pytest.raises(Conflict) as err:
        actions.rollback_deployment(api, "default", "iris", actor="alice", reason="stale", preview=plan)
    assert err.value.current["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/model:v3"

    cluster.modify("apps/v1", "Deployment", "default", "iris",
                   lambda d: {**d, "spec": {**d["spec"], "paused": True}})
    with pytest.raises(Invalid, match="paused"):
        actions.rollback_deployment(api, "default", "iris", actor="alice", reason="x")
    cluster.seed_deployment("solo")
    with pytest.raises(NotFound, match="no previous revision"):
        actions.preview_deployment_rollback(api, "default", "solo")


# ------------------------------------------------------------------------------------ Argo, Flagger


def test_argo_rollouts_abort_promote_undo(cluster: FakeCluster, api: client.ApiClient) -> None:
    ro = cluster.create(objects.rollout("canary-ro"))
    record = actions.argo_abort(api, "default", "canary-ro", actor="alice", reason="latency")
    assert record.before["abort"] is False and record.after["abort"] is True
    assert cluster.get("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro")["status"]["abort"] is True

    record = actions.argo_promote(api, "default", "canary-ro", actor="alice", reason="good")
    assert record.before["pauseConditions"] == 1 and record.after["pauseConditions"] == 0
    previewed = cluster.get("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro")

    def next_step(obj: dict) -> dict:  # type: ignore[type-arg]  # the controller moves on after the preview
        obj["status"]["currentStepIndex"] = 2
        return obj

    cluster.modify("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro", next_step)
    with pytest.raises(Conflict, match="moved on since the preview"):
        actions.argo_promote(api, "default", "canary-ro", actor="alice", reason="stale", read=previewed)
    assert cluster.get("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro")["status"]["currentStepIndex"] == 2

    def back(obj: dict) -> dict:  # type: ignore[type-arg]
        obj["status"]["currentStepIndex"] = 1
        return obj

    cluster.modify("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro", back)
    record = actions.argo_promote(api, "default", "canary-ro", actor="alice", reason="next step")
    assert (record.before["step"], record.after["step"]) == (1, 2)
    record = actions.argo_promote(api, "default", "canary-ro", actor="alice", reason="ship it", full=True)
    assert record.after["promoteFull"] is True and record.action == "rollout-promote-full"

    # undo: the previous ReplicaSet's template (rollout.argoproj.io/revision), without the hash label
    owner = {"metadata": {**ro["metadata"]}, "spec": ro["spec"]}
    for revision, image, digest in ((1, "registry.example/model:v1", "5f4d8c7b9"),
                                    (2, "registry.example/model:v2", "6b8c9d7f5")):
        tpl = objects.pod_template("canary-ro", image)
        tpl["metadata"]["labels"]["rollouts-pod-template-hash"] = digest
        rs = objects.replicaset({**owner, "spec": {**ro["spec"], "template": tpl}}, revision, template=tpl)
        rs["metadata"]["name"] = f"canary-ro-{digest}"
        rs["metadata"]["annotations"] = {"rollout.argoproj.io/revision": str(revision)}
        rs["metadata"]["ownerReferences"][0].update(apiVersion="argoproj.io/v1alpha1", kind="Rollout")
        cluster.create(rs)
    record = actions.argo_undo(api, "default", "canary-ro", actor="alice", reason="back")
    assert (record.before["revision"], record.after["revision"]) == (2, 1)
    template = cluster.get("argoproj.io/v1alpha1", "Rollout", "default", "canary-ro")["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "registry.example/model:v1"
    assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]


def test_flagger_rollback_needs_a_rollback_gate(cluster: FakeCluster, api: client.ApiClient) -> None:
    cluster.create(objects.canary("iris"))
    with pytest.raises(NotSupported, match="rollback` webhook"):
        actions.flagger_rollback(api, "default", "iris", actor="alice", reason="x")
    gated = objects.canary("gated")
    gated["spec"]["analysis"]["webhooks"] = [{"name": "rollback", "type": "rollback",
                                              "url": "http://flagger-loadtester.test/rollback/check"}]
    assert actions.flagger_rollback_gate({**gated, "metadata": {"name": "gated", "namespace": "default"}}) == (
        "test", "flagger-loadtester", "80", "/rollback/open")
    cluster.create({**objects.canary("done", phase="Succeeded")})
    with pytest.raises(Conflict, match="Succeeded"):
        actions.flagger_rollback(api, "default", "done", actor="alice", reason="x")


# ------------------------------------------------------------------------------------ pod logs


def test_pod_logs_merged_followed_with_new_pods_and_previous(cluster: FakeCluster, api: client.ApiClient) -> None:
    from console.backends.kubernetes.podlogs import PodLogSource
    from tests.harness import wait_until

    cluster.seed_deployment("iris", replicas=2)
    cluster.seed_deployment("other", replicas=1)  # not selected
    first, second = sorted(p["metadata"]["name"] for p in cluster.list("v1", "Pod", "default")
                           if p["metadata"]["labels"]["app"] == "iris")
    other = next(p["metadata"]["name"] for p in cluster.list("v1", "Pod", "default")
                 if p["metadata"]["labels"]["app"] == "other")
    cluster.append_log("default", first, "model", "crashed run: loading", "crashed run: OOM")
    cluster.restart_container("default", first, "model")  # crashed before we came
    cluster.append_log("default", first, "model", "old 1", "old 2", "old 3")
    cluster.append_log("default", second, "model", "ERROR second old")
    cluster.append_log("default", other, "model", "not mine")

    source = PodLogSource(api, "default", "iris", place_id="fake")
    stop = threading.Event()
    got: list[Any] = []
    def consume() -> None:
        for item in source.lines(stop, tail=2):
            got.append(item)
    reader = threading.Thread(target=consume, name="podlog-test-reader")
    reader.start()
    try:
        wait_until(lambda: cluster.log_followers("default", first, "model") == 1
                   and cluster.log_followers("default", second, "model") == 1, timeout=10, what="followers")
        wait_until(lambda: len(got) >= 5, timeout=10, what="the tail and the previous log")
        texts = {(e.source, e.text) for e in got}
        assert (f"{first}/model (previous)", "crashed run: OOM") in texts
        assert (f"{first}/model", "old 3") in texts and (f"{first}/model", "old 1") not in texts  # tail 2
        assert (f"{second}/model", "ERROR second old") in texts
        assert all(e.time is not None for e in got) and not any(e.text == "not mine" for e in got)

        cluster.append_log("default", second, "model", "GET /v2/models/iris/infer 200")
        wait_until(lambda: any(e.text == "GET /v2/models/iris/infer 200" for e in got), timeout=10, what="follow")

        # a new pod (a rollout) joins the stream; a restarted container is followed from its new start
        cluster.roll_deployment("default", "iris", "registry.example/model:v2")
        new_pods = [p["metadata"]["name"] for p in cluster.list("v1", "Pod", "default")
                    if p["metadata"]["labels"]["app"] == "iris"]
        assert first not in new_pods
        for pod in new_pods:
            wait_until(lambda pod=pod: cluster.log_followers("default", pod, "model") == 1, timeout=10,
                       what=f"following the new pod {pod}")
            cluster.append_log("default", pod, "model", f"hello from {pod}")
        wait_until(lambda: all(any(e.source == f"{p}/model" and e.text == f"hello from {p}" for e in got)
                               for p in new_pods), timeout=10, what="the new pods' lines")
        cluster.restart_container("default", new_pods[0], "model")
        wait_until(lambda: cluster.log_followers("default", new_pods[0], "model") == 1, timeout=10,
                   what="following the restarted container")
        cluster.append_log("default", new_pods[0], "model", "after restart")
        wait_until(lambda: any(e.text == "after restart" for e in got), timeout=10, what="the restarted run")
    finally:
        stop.set()
        source.interrupt()
        reader.join(15)
    assert not reader.is_alive()
    assert source.key == "kubernetes:fake:default:iris" and source.label == "iris"
