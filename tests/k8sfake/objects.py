"""Factories for objects shaped as the real schemas. They return bodies without server-set metadata (uid,
resourceVersion, generation, creationTimestamp): the store sets those on create."""

from __future__ import annotations

import hashlib
import json
from typing import Any

NOW = "2024-06-01T12:00:00Z"
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels":
            {"kubernetes.io/metadata.name": name}}, "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def template_hash(template: dict[str, Any]) -> str:
    """A pod-template-hash-like label value (the real one is an FNV hash, safe-encoded). Like the controller's
    template comparison it ignores the pod-template-hash label and null fields."""
    labels = {k: v for k, v in (template.get("metadata", {}).get("labels") or {}).items() if k != "pod-template-hash"}
    clean = _without_nulls({**template, "metadata": {**template.get("metadata", {}), "labels": labels}})
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def pod_template(app: str, image: str, container: str = "model", extra_labels: dict[str, str] | None = None
                 ) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app, **(extra_labels or {})}, "creationTimestamp": None},
        "spec": {
            "containers": [{
                "name": container,
                "image": image,
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODEL_NAME", "value": app}],
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080, "scheme": "HTTP"},
                                   "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1,
                                   "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    }


def _condition(kind: str, status: str, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "status": status, "lastTransitionTime": NOW, "reason": reason, "message": message, **extra}


def deployment(name: str, namespace: str = "default", image: str = "registry.example/model:v1", replicas: int = 2,
               labels: dict[str, str] | None = None, paused: bool = False) -> dict[str, Any]:
    ready = 0 if paused else replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, **(labels or {})},
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, image),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            **({"paused": True} if paused else {}),
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                _condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.",
                           lastUpdateTime=NOW),
                _condition("Progressing", "True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{name}" has successfully progressed.', lastUpdateTime=NOW),
            ],
        },
    }


def replicaset(deploy: dict[str, Any], revision: int, replicas: int | None = None,
               template: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ReplicaSet owned by `deploy` (which must carry its uid, i.e. come back from the store)."""
    tpl = json.loads(json.dumps(template or deploy["spec"]["template"]))
    digest = template_hash(tpl)
    tpl["metadata"].setdefault("labels", {})["pod-template-hash"] = digest
    meta = deploy["metadata"]
    count = deploy["spec"].get("replicas", 1) if replicas is None else replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{digest}",
            "namespace": meta["namespace"],
            "labels": dict(tpl["metadata"]["labels"]),
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(deploy["spec"].get("replicas", 1)),
                "deployment.kubernetes.io/max-replicas": str(deploy["spec"].get("replicas", 1) + 1),
                "deployment.kubernetes.io/revision": str(revision),
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "replicas": count,
            "selector": {"matchLabels": {**deploy["spec"]["selector"]["matchLabels"], "pod-template-hash": digest}},
            "template": tpl,
        },
        "status": {"replicas": count, "fullyLabeledReplicas": count, "readyReplicas": count,
                   "availableReplicas": count, "observedGeneration": 1},
    }


def pod(rs: dict[str, Any], suffix: str, node: str = "node-a", phase: str = "Running", restarts: int = 0,
        ready: bool = True) -> dict[str, Any]:
    """A pod owned by ReplicaSet `rs` (as returned by the store)."""
    meta = rs["metadata"]
    spec = json.loads(json.dumps(rs["spec"]["template"]["spec"]))
    spec["nodeName"] = node
    containers = spec["containers"]
    statuses = []
    for c in containers:
        entry: dict[str, Any] = {
            "name": c["name"], "image": c["image"], "imageID": f"{c['image']}@sha256:{'0' * 64}",
            "containerID": f"containerd://{hashlib.sha256((meta['name'] + suffix).encode()).hexdigest()}",
            "ready": ready and phase == "Running", "started": phase == "Running", "restartCount": restarts,
            "state": ({"running": {"startedAt": NOW}} if phase == "Running"
                      else {"waiting": {"reason": "ContainerCreating"}}),
            "lastState": {},
        }
        if restarts:
            entry["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": NOW,
                                                 "finishedAt": NOW, "containerID": entry["containerID"]}}
        statuses.append(entry)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-{suffix}",
            "namespace": meta["namespace"],
            "labels": dict(rs["spec"]["template"]["metadata"]["labels"]),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [
                _condition("PodScheduled", "True", "", "") | {"lastProbeTime": None},
                _condition("Ready", "True" if ready else "False", "", "") | {"lastProbeTime": None},
            ],
            "hostIP": "10.0.0.10", "podIP": "10.244.0.15", "podIPs": [{"ip": "10.244.0.15"}],
            "startTime": NOW, "qosClass": "Burstable", "containerStatuses": statuses,
        },
    }


def service(name: str, namespace: str = "default", selector: dict[str, str] | None = None, port: int = 80
            ) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [{"name": "http", "port": port, "targetPort": 8080, "protocol": "TCP"}],
            "selector": selector or {"app": name}, "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


from .routes import canary, httproute, httproute_parent_status, inferenceservice, rollout, virtualservice  # noqa: E402

__all__ = [
    "canary", "deployment", "httproute", "httproute_parent_status", "inferenceservice", "namespace", "pod",
    "pod_template", "replicaset", "rollout", "service", "template_hash", "virtualservice",
]
