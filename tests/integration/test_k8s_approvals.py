"""The KubernetesBackend's helpers for the approvals dock, against the fake API server: proposals listed from the
watch cache (a VirtualService's too, and an unreadable annotation named, not hidden), the patch permission asked
of the cluster, and each decision written to the console's audit log (refused ones included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.audit_log import ConsoleAuditLog
from console.backends.base import NotFound
from console.backends.kubernetes import history
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.places import PlaceConfig, PlaceKind
from tests.harness import wait_until
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster
from tests.k8sfake.clientkit import api_client

pytestmark = [pytest.mark.integration]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        running.create(objects.httproute("iris", {"v1": 90, "v2": 10}))
        running.create(objects.virtualservice("chat", {"v1": 80, "v2": 20}))
        running.add_token("bob")
        running.add_token("carol", [Rule(verbs=("get", "list", "watch", "create"), name="viewers")])
        yield running


def open_backend(cluster: FakeCluster, context: str, folder: Path) -> KubernetesBackend:
    config = PlaceConfig(id=f"kube-{context}", kind=PlaceKind.KUBERNETES, name=context, context=context,
                         kubeconfig=str(cluster.kubeconfig))
    return KubernetesBackend(config, env={"KUBECONFIG": str(cluster.kubeconfig)},
                             audit_log=ConsoleAuditLog(folder / "audit.jsonl"))


def test_proposals_from_the_cache_permissions_and_recorded_decisions(cluster: FakeCluster, tmp_path: Path) -> None:
    bob, carol = open_backend(cluster, "bob", tmp_path / "bob"), open_backend(cluster, "carol", tmp_path / "carol")
    try:
        assert bob.route_proposals() == []  # not connected: nothing is asked of the cluster
        bob.inventory()
        assert (bob.cluster_identity(), carol.cluster_identity()) == ("bob", "carol")
        with api_client(cluster.kubeconfig) as api:  # alice
            history.propose(api, "HTTPRoute", "default", "iris", {"v1": 50, "v2": 50}, proposer="alice",
                            reason="half")
            history.propose(api, "VirtualService", "default", "chat", {"v1": 0, "v2": 100}, proposer="alice",
                            reason="all in")

        def annotate(obj: dict) -> dict:  # type: ignore[type-arg]
            obj["metadata"].setdefault("annotations", {})[history.PROPOSAL_ANNOTATION] = "{not json"
            return obj

        cluster.create(objects.httproute("broken", {"v1": 100}))
        cluster.modify("gateway.networking.k8s.io/v1", "HTTPRoute", "default", "broken", annotate)
        wait_until(lambda: len(bob.route_proposals()) == 3, timeout=10)
        found = {(e["kind"], e["name"]): e for e in bob.route_proposals()}
        assert found[("HTTPRoute", "iris")]["proposal"]["after"] == {"v1": 50, "v2": 50}
        assert found[("HTTPRoute", "iris")]["split"] == {"v1": 90, "v2": 10}
        assert found[("VirtualService", "chat")]["proposal"]["proposer"] == "alice"
        assert found[("HTTPRoute", "broken")]["proposal"] is None
        assert "annotation is not JSON" in found[("HTTPRoute", "broken")]["error"]

        assert bob.may_patch_route("HTTPRoute", "default", "iris") == (True, "")
        assert carol.may_patch_route("HTTPRoute", "default", "iris") == (
            False, "patch httproutes.gateway.networking.k8s.io in namespace default")

        read = found[("HTTPRoute", "iris")]["object"]
        done = bob.decide_route_proposal("approve", "HTTPRoute", "default", "iris", reason="ok", read=read,
                                         endpoint="default/iris")
        assert done.after == {"v1": 50, "v2": 50}
        with pytest.raises(NotFound):  # nothing left to withdraw
            bob.decide_route_proposal("withdraw", "HTTPRoute", "default", "iris", endpoint="default/iris")
        bob.decide_route_proposal("withdraw", "VirtualService", "default", "chat", reason="superseded")
        outcomes = [(e.action, e.outcome, e.actor, e.place) for e in bob.audit()]
        assert outcomes == [("kubernetes.traffic-approve", "approved", "bob", "kube-bob"),
                            ("kubernetes.traffic-withdraw", "refused", "bob", "kube-bob"),
                            ("kubernetes.traffic-withdraw", "withdrawn", "bob", "kube-bob")]
        assert "no pending proposal" in bob.audit()[1].reason
        wait_until(lambda: len(bob.route_proposals()) == 1, timeout=10)  # only the broken one is left
    finally:
        bob.close()
        carol.close()
