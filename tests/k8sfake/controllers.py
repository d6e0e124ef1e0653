"""What the controllers of a real cluster would do, as helpers tests call (or the fake calls after writes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import objects

if TYPE_CHECKING:
    from . import FakeCluster

REVISION = "deployment.kubernetes.io/revision"


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _revision(obj: dict[str, Any]) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))


def reconcile_deployment(cluster: FakeCluster, namespace: str, name: str, pods: bool = True) -> dict[str, Any] | None:
    """The deployment controller, in one step: the ReplicaSet whose template equals the Deployment's becomes the
    newest revision (reusing an old one as `rollout undo` does), the others scale to 0, pods follow, status and the
    revision annotation are updated. A paused Deployment only gets its observedGeneration. Returns the active RS."""
    dep = cluster.get("apps/v1", "Deployment", namespace, name)
    uid = dep["metadata"]["uid"]
    if dep["spec"].get("paused"):
        cluster.modify("apps/v1", "Deployment", namespace, name,
                       lambda d: {**d, "status": {**d.get("status", {}),
                                                  "observedGeneration": d["metadata"]["generation"]}})
        return None
    owned = [rs for rs in cluster.list("apps/v1", "ReplicaSet", namespace) if _owned_by(rs, uid)]
    digest = objects.template_hash(dep["spec"]["template"])
    latest = max((_revision(rs) for rs in owned), default=0)
    replicas = int(dep["spec"].get("replicas", 1))
    active = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == digest), None)
    if active is None:
        active = cluster.create(objects.replicaset(dep, latest + 1, replicas))
    else:
        revision = _revision(active)
        new_revision = revision if revision == latest else latest + 1

        def promote(rs: dict[str, Any]) -> dict[str, Any]:
            notes = rs["metadata"].setdefault("annotations", {})
            if new_revision != revision:
                history = [h for h in notes.get("deployment.kubernetes.io/revision-history", "").split(",") if h]
                notes["deployment.kubernetes.io/revision-history"] = ",".join([*history, str(revision)])
            notes[REVISION] = str(new_revision)
            rs["spec"]["replicas"] = replicas
            rs["status"] = {**rs.get("status", {}), "replicas": replicas, "fullyLabeledReplicas": replicas,
                            "readyReplicas": replicas, "availableReplicas": replicas}
            return rs

        active = cluster.modify("apps/v1", "ReplicaSet", namespace, active["metadata"]["name"], promote)
    for rs in owned:
        if rs["metadata"]["name"] != active["metadata"]["name"] and rs["spec"].get("replicas"):
            cluster.modify("apps/v1", "ReplicaSet", namespace, rs["metadata"]["name"],
                           lambda r: {**r, "spec": {**r["spec"], "replicas": 0},
                                      "status": {"replicas": 0, "observedGeneration": r["metadata"]["generation"]}})
    if pods:
        others = [rs for rs in owned if rs["metadata"]["uid"] != active["metadata"]["uid"]]
        _sync_pods(cluster, namespace, active, others)

    def status(d: dict[str, Any]) -> dict[str, Any]:
        d["metadata"].setdefault("annotations", {})[REVISION] = active["metadata"]["annotations"][REVISION]
        base = objects.deployment(name, namespace, replicas=replicas)["status"]
        d["status"] = {**base, "observedGeneration": d["metadata"]["generation"]}
        rs_name = active["metadata"]["name"]
        d["status"]["conditions"][1]["message"] = f'ReplicaSet "{rs_name}" has successfully progressed.'
        return d

    cluster.modify("apps/v1", "Deployment", namespace, name, status)
    return cluster.get("apps/v1", "ReplicaSet", namespace, active["metadata"]["name"])


def _sync_pods(cluster: FakeCluster, namespace: str, active: dict[str, Any], others: list[dict[str, Any]]) -> None:
    pods = cluster.list("v1", "Pod", namespace)
    for rs in others:
        for pod in pods:
            if _owned_by(pod, rs["metadata"]["uid"]):
                cluster.delete("v1", "Pod", namespace, pod["metadata"]["name"])
    mine = [p for p in pods if _owned_by(p, active["metadata"]["uid"])]
    for index in range(len(mine), int(active["spec"].get("replicas", 0))):
        cluster.create(objects.pod(active, f"p{index}{active['metadata']['uid'][:3]}",
                                   node=f"node-{'abc'[index % 3]}"))


def roll_deployment(cluster: FakeCluster, namespace: str, name: str, image: str, container: str | None = None
                    ) -> dict[str, Any] | None:
    """Change the image (a new pod template) and let the controller roll to a new ReplicaSet."""

    def set_image(d: dict[str, Any]) -> dict[str, Any]:
        for c in d["spec"]["template"]["spec"]["containers"]:
            if container is None or c["name"] == container:
                c["image"] = image
        return d

    cluster.modify("apps/v1", "Deployment", namespace, name, set_image)
    return reconcile_deployment(cluster, namespace, name)


def accept_httproute(cluster: FakeCluster, namespace: str, name: str, accepted: bool = True) -> dict[str, Any]:
    """The gateway controller: every parent reports the route's current generation (accepted or not)."""

    def ack(route: dict[str, Any]) -> dict[str, Any]:
        generation = route["metadata"]["generation"]
        route["status"] = {"parents": [objects.httproute_parent_status(ref["name"], generation, accepted)
                                       for ref in route["spec"].get("parentRefs", [])]}
        return route

    return cluster.modify("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, name, ack)
