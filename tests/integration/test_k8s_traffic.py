"""Traffic shifts and rollbacks from the console on a Kubernetes context, through the calls the traffic panel
makes (console/ui/traffic/calls.py → backends/kubernetes/traffic.py), against the fake API server via the official
client: the patch carries the resourceVersion that was reviewed, a concurrent change is a Conflict naming who made
it, rollback restores the previous split and appends history, HTTPRoute confirmation once the gateway accepts,
audit events in the console's log, and the exact errors of refused sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.audit_log import ConsoleAuditLog
from console.backends.base import Conflict, Forbidden, Invalid, NotFound, NotSupported, PlaceKind, Unauthorized
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.kubernetes.history import HISTORY_ANNOTATION
from console.backends.places import PlaceConfig
from console.ui.traffic import calls
from console.ui.traffic.calls import Change, EndpointRead
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster

GWV = "gateway.networking.k8s.io/v1"
ROUTE = "default/iris"
FORBIDDEN = ('patching HTTPRoute default/iris: HTTP 403: httproutes.gateway.networking.k8s.io "iris" is forbidden: '
             'User "bob" cannot patch resource "httproutes" in API group "gateway.networking.k8s.io" in the '
             'namespace "default"')


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        running.seed_deployment("iris-v1")
        running.seed_deployment("iris-v2", image="registry.example/iris:v2")
        running.create(objects.httproute("iris", {"iris-v1": 90, "iris-v2": 10}, gateways=("web", "internal")))
        yield running


@pytest.fixture
def opened(cluster: FakeCluster, tmp_path: Path) -> Iterator[list[KubernetesBackend]]:
    made: list[KubernetesBackend] = []
    yield made
    for backend in made:
        backend.close()


def connect(made: list[KubernetesBackend], cluster: FakeCluster, tmp_path: Path, context: str = "fake",
            read_only: bool = False) -> KubernetesBackend:
    config = PlaceConfig(id=f"kube-{context}", kind=PlaceKind.KUBERNETES, name=context, context=context,
                         kubeconfig=str(cluster.kubeconfig), read_only=read_only)
    backend = KubernetesBackend(config, env={"KUBECONFIG": str(cluster.kubeconfig)},
                                audit_log=ConsoleAuditLog(tmp_path / f"config-{context}" / "audit.jsonl"))
    made.append(backend)
    backend.inventory()
    return backend


@pytest.fixture
def backend(opened: list[KubernetesBackend], cluster: FakeCluster, tmp_path: Path) -> KubernetesBackend:
    return connect(opened, cluster, tmp_path)


def change_on(read: EndpointRead, traffic: dict[str, int], kind: str = "shift", actor: str = "alice@desk",
              reason: str = "canary step", to_revision: int | None = None) -> Change:
    return Change(place_id="kube-fake", endpoint=read.status.name, kind=kind, revision=read.status.revision,
                  before=dict(read.status.traffic), traffic=traffic, reason=reason, to_revision=to_revision,
                  precondition=read.precondition, seen=read.head, actor=actor)


def weights(cluster: FakeCluster) -> list[int]:
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    return [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]]


def test_a_shift_patches_the_reviewed_object_and_is_confirmed_when_every_gateway_accepts(
        cluster: FakeCluster, backend: KubernetesBackend) -> None:
    read = calls.read_endpoint(backend, ROUTE)
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    assert read.on_cluster and read.precondition == route["metadata"]["resourceVersion"]
    assert (read.status.traffic, read.status.revision, read.head) == ({"iris-v1": 90, "iris-v2": 10}, 1, 0)
    assert (read.target, read.confirms) == ("HTTPRoute default/iris", "gateways")

    sent = calls.send(backend, change_on(read, {"iris-v1": 70, "iris-v2": 30}))
    assert isinstance(sent, calls.Sent) and sent.outcome == "accepted" and sent.generation == 2
    assert sent.text == "HTTPRoute default/iris generation 2 accepted by the API server"
    assert weights(cluster) == [70, 30]
    assert sent.status.traffic == {"iris-v1": 70, "iris-v2": 30} and sent.status.applied_revision < 2

    cluster.accept_httproute("default", "iris")  # the gateway controller accepts generation 2 on both parents
    after = calls.read_endpoint(backend, ROUTE)
    assert after.status.applied_revision >= sent.generation and after.head == 2

    revisions = backend.revisions(ROUTE)  # SupportsHistory: the history annotation, read fresh
    assert [(r.number, r.kind, r.actor, r.traffic) for r in revisions] == [
        (1, "create", "cluster", {"iris-v1": 90, "iris-v2": 10}),
        (2, "shift", "alice@desk", {"iris-v1": 70, "iris-v2": 30})]
    assert revisions[1].reason == "canary step"

    [event] = backend.audit()
    assert (event.place, event.target, event.endpoint, event.actor) == ("kube-fake", "HTTPRoute default/iris", ROUTE,
                                                                        "alice@desk")
    assert (event.action, event.outcome) == ("kubernetes.traffic-shift", "accepted")
    assert (event.before, event.after) == ({"iris-v1": 90, "iris-v2": 10}, {"iris-v1": 70, "iris-v2": 30})
    assert event.hash and event.prev_hash

    with pytest.raises(Conflict):  # the same review again: the object has moved on since
        calls.send(backend, change_on(read, {"iris-v1": 50, "iris-v2": 50}))
    assert weights(cluster) == [70, 30]


def test_a_concurrent_change_is_a_conflict_that_names_who_made_it(
        cluster: FakeCluster, backend: KubernetesBackend, opened: list[KubernetesBackend], tmp_path: Path) -> None:
    cluster.add_token("bob", context="bob")
    other = connect(opened, cluster, tmp_path, context="bob")  # another console, another identity
    mine = calls.read_endpoint(backend, ROUTE)
    theirs = calls.read_endpoint(other, ROUTE)
    calls.send(other, Change(place_id="kube-bob", endpoint=ROUTE, kind="shift", revision=theirs.status.revision,
                             before=dict(theirs.status.traffic), traffic={"iris-v1": 0, "iris-v2": 100},
                             reason="all in", precondition=theirs.precondition, seen=theirs.head, actor="bob@laptop"))

    change = change_on(mine, {"iris-v1": 50, "iris-v2": 50})
    with pytest.raises(Conflict) as err:
        calls.send(backend, change)
    assert "the object has been modified" in str(err.value)
    assert weights(cluster) == [0, 100]  # nothing of alice's change was applied

    now, events = calls.conflict_details(backend, ROUTE, change.revision, change, err.value.current)
    assert now.status.traffic == {"iris-v1": 0, "iris-v2": 100} and now.status.revision == 2
    assert [(e.actor, e.after, e.reason, e.target) for e in events] == [
        ("bob@laptop", {"iris-v1": 0, "iris-v2": 100}, "all in", "HTTPRoute default/iris")]
    [conflict] = backend.audit()
    assert conflict.outcome.startswith("conflict: patching HTTPRoute default/iris: HTTP 409")
    assert (conflict.before, conflict.after) == ({"iris-v1": 90, "iris-v2": 10}, {"iris-v1": 50, "iris-v2": 50})

    # a change made outside any console (kubectl): no history entry, still named as a change
    fresh = calls.read_endpoint(backend, ROUTE)

    def halve(route: dict) -> dict:  # type: ignore[type-arg]
        for ref in route["spec"]["rules"][0]["backendRefs"]:
            ref["weight"] = 50
        return route

    cluster.modify(GWV, "HTTPRoute", "default", "iris", halve)
    with pytest.raises(Conflict) as err:
        calls.send(backend, change_on(fresh, {"iris-v1": 20, "iris-v2": 80}))
    _now, events = calls.conflict_details(backend, ROUTE, fresh.status.revision, change_on(fresh, {}),
                                          err.value.current)
    assert [e.action for e in events] == ["kubernetes.change-outside-the-console"]
    assert "generation 2 → 3" in events[0].outcome

    # the draft was made on an older generation than the read reviewed: a conflict, nothing patched
    stale = Change(place_id="kube-fake", endpoint=ROUTE, kind="shift", revision=1, before={}, traffic={
        "iris-v1": 10, "iris-v2": 90}, precondition=calls.read_endpoint(backend, ROUTE).precondition, actor="alice")
    with pytest.raises(Conflict, match=r"changed between the draft \(generation 1\) and the review \(generation 3\)"):
        calls.send(backend, stale)
    with pytest.raises(Invalid, match=r"resourceVersion 999999 .* review the change again"):
        calls.send(backend, Change(place_id="kube-fake", endpoint=ROUTE, kind="shift", revision=3, before={},
                                   traffic={"iris-v1": 10, "iris-v2": 90}, precondition="999999", actor="alice"))
    assert weights(cluster) == [50, 50]


def test_rollback_restores_the_previous_split_and_appends_to_the_history(
        cluster: FakeCluster, backend: KubernetesBackend) -> None:
    read = calls.read_endpoint(backend, ROUTE)
    calls.send(backend, change_on(read, {"iris-v1": 50, "iris-v2": 50}))
    read = calls.read_endpoint(backend, ROUTE)
    sent = calls.send(backend, change_on(read, {}, kind="rollback", reason="errors up"))
    assert isinstance(sent, calls.Sent) and sent.status.traffic == {"iris-v1": 90, "iris-v2": 10}
    assert weights(cluster) == [90, 10]
    last = backend.revisions(ROUTE)[-1]
    assert (last.number, last.kind, last.restores, last.actor) == (3, "rollback", 1, "alice@desk")
    assert last.reason == "rollback to revision 1: errors up"

    read = calls.read_endpoint(backend, ROUTE)  # to a chosen earlier revision
    calls.send(backend, change_on(read, {}, kind="rollback", reason="", to_revision=2))
    assert weights(cluster) == [50, 50]
    entries = json.loads(cluster.get(GWV, "HTTPRoute", "default", "iris")["metadata"]["annotations"][
        HISTORY_ANNOTATION])
    assert [(e["revision"], e["split"]) for e in entries][-2:] == [(3, {"iris-v1": 90, "iris-v2": 10}),
                                                                   (4, {"iris-v1": 50, "iris-v2": 50})]
    assert [e.action for e in backend.audit()] == ["kubernetes.traffic-shift", "kubernetes.traffic-rollback",
                                                   "kubernetes.traffic-rollback"]
    read = calls.read_endpoint(backend, ROUTE)
    with pytest.raises(NotFound, match="has no history revision 9"):
        calls.send(backend, change_on(read, {}, kind="rollback", to_revision=9))


def test_refused_sends_give_the_exact_error_and_the_missing_permission(
        cluster: FakeCluster, opened: list[KubernetesBackend], tmp_path: Path) -> None:
    token = cluster.add_token("bob", rules=[Rule(("get", "list", "watch", "create"))], context="bob")
    bob = connect(opened, cluster, tmp_path, context="bob")
    key, permissions = calls.cluster_permission(bob, ROUTE)
    assert key == ("HTTPRoute", "default")
    assert calls.cluster_blocked(bob, ROUTE, permissions) == (
        "missing permission: patch httproutes.gateway.networking.k8s.io in namespace default")
    read = calls.read_endpoint(bob, ROUTE)
    with pytest.raises(Forbidden) as err:
        calls.send(bob, change_on(read, {"iris-v1": 50, "iris-v2": 50}, actor="bob"))
    assert str(err.value) == FORBIDDEN
    assert [e.outcome for e in bob.audit()] == [f"refused: {FORBIDDEN}"]

    cluster.expire_token(token)
    with pytest.raises(Unauthorized, match=r"HTTP 401: Unauthorized \(token missing, expired or refused\)"):
        calls.send(bob, change_on(read, {"iris-v1": 50, "iris-v2": 50}, actor="bob"))

    viewer = connect(opened, cluster, tmp_path, context="fake", read_only=True)
    _key, permissions = calls.cluster_permission(viewer, ROUTE)
    assert calls.cluster_blocked(viewer, ROUTE, permissions) == "this context is marked read-only in the console"
    read = calls.read_endpoint(viewer, ROUTE)
    with pytest.raises(Forbidden, match="kube-fake is marked read-only in the console"):
        calls.send(viewer, change_on(read, {"iris-v1": 50, "iris-v2": 50}))
    assert weights(cluster) == [90, 10]


def test_rollouts_under_a_controller_are_not_shifted_by_hand_and_other_kinds_need_no_gateway(
        cluster: FakeCluster, opened: list[KubernetesBackend], tmp_path: Path) -> None:
    cluster.create(objects.rollout("ro", weight=20, step=1))
    cluster.create(objects.virtualservice("chat", {"v1": 80, "v2": 20}, subsets=True))
    backend = connect(opened, cluster, tmp_path)
    read = calls.read_endpoint(backend, "default/ro")
    assert read.control == "Argo Rollout"
    _key, permissions = calls.cluster_permission(backend, "default/ro")
    assert "under Argo Rollout control" in (calls.cluster_blocked(backend, "default/ro", permissions) or "")
    with pytest.raises(NotSupported, match="Rollout default/ro is under Argo Rollout control: its traffic is set by "
                                           "the Argo Rollout controller"):
        calls.send(backend, change_on(read, {"stable": 50, "canary": 50}))

    read = calls.read_endpoint(backend, "default/chat")
    assert read.confirms == "api-server"
    sent = calls.send(backend, change_on(read, {"v1": 60, "v2": 40}))
    assert isinstance(sent, calls.Sent) and sent.status.traffic == {"v1": 60, "v2": 40}
    assert sent.confirms == "api-server" and sent.target == "VirtualService default/chat"


def test_a_route_marked_for_approval_takes_a_proposal_not_a_patch(cluster: FakeCluster,
                                                                  backend: KubernetesBackend) -> None:
    def mark(route: dict) -> dict:  # type: ignore[type-arg]
        route["metadata"].setdefault("annotations", {})["switchboard.dev/approval-required"] = "true"
        return route

    cluster.modify(GWV, "HTTPRoute", "default", "iris", mark)
    read = calls.read_endpoint(backend, ROUTE)
    assert read.status.policy is not None and read.status.policy.approval_required
    sent = calls.send(backend, change_on(read, {"iris-v1": 70, "iris-v2": 30}, kind="propose"))
    assert isinstance(sent, calls.Sent) and sent.outcome == "proposed"
    assert "waits for another identity with patch permission to approve it" in sent.text
    route = cluster.get(GWV, "HTTPRoute", "default", "iris")
    assert weights(cluster) == [90, 10]  # the spec is unchanged until someone approves
    proposal = json.loads(route["metadata"]["annotations"]["switchboard.dev/proposal"])
    # proposed as the context's user, the identity the approvals dock approves as: not approvable from here
    assert (proposal["proposer"], proposal["after"]) == (cluster.user, {"iris-v1": 70, "iris-v2": 30})
    assert [(e.action, e.outcome) for e in backend.audit()] == [("kubernetes.traffic-propose", "proposed")]
    with pytest.raises(Forbidden, match="another identity must approve it"):
        backend.decide_route_proposal("approve", "HTTPRoute", "default", "iris",
                                      read=cluster.get(GWV, "HTTPRoute", "default", "iris"), endpoint=ROUTE)
    assert weights(cluster) == [90, 10]
