"""From Kubernetes object dicts (as the API server sends them) to the console's domain
snapshots: Deployments with their pods, and the index the endpoint mappings resolve through
(Service → its Deployment by selector). Pure functions over dicts; no I/O."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.domain.models import (
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    ModelRef,
    ReplicaStatus,
    Runtime,
)

Obj = dict[str, Any]
Key = tuple[str, str]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    ready: bool
    restarts: int
    node: str


@dataclass(frozen=True)
class Workload:
    """A Deployment as the console shows it."""

    namespace: str
    name: str
    image: str
    ready: int
    desired: int
    revision: str
    conditions: tuple[tuple[str, str, str, str], ...]  # (type, status, reason, message)
    pods: tuple[PodInfo, ...]
    paused: bool = False


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def created(obj: Obj) -> datetime:
    stamp = meta(obj).get("creationTimestamp")
    try:
        return datetime.fromisoformat(stamp) if stamp else EPOCH
    except ValueError:
        return EPOCH


def label(text: str) -> str:
    """A DNS label made from any name (the domain's deployment and endpoint names are labels)."""
    safe = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return safe or "unnamed"


def model_of_image(image: str) -> ModelRef:
    """`registry/model:v2` → (registry/model, v2); a digest gives its first 12 hex digits."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return ModelRef(name=name[:200] or "image", version=digest.split(":")[-1][:12] or "digest")
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return ModelRef(name=image[:200] or "image", version="latest")
    return ModelRef(name=name[:200], version=tag[:100])


def conditions(obj: Obj) -> tuple[tuple[str, str, str, str], ...]:
    return tuple((str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")),
                  str(c.get("message", ""))) for c in (obj.get("status") or {}).get("conditions") or [])


def percents(weights: dict[str, float]) -> dict[str, int]:
    """Weights as whole percents of their sum (largest remainder: they add up to 100)."""
    total = sum(max(0.0, w) for w in weights.values())
    if total <= 0:
        return {k: 0 for k in weights}
    exact = {k: max(0.0, w) * 100 / total for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[:100 - sum(out.values())]:
        out[k] += 1
    return out


class Index:
    """The cluster's Deployments, Pods and Services, indexed for selector lookups."""

    def __init__(self, deployments: dict[Key, Obj], pods: dict[Key, Obj], services: dict[Key, Obj]) -> None:
        self.deployments, self.pods, self.services = deployments, pods, services
        self._dep_by_label: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
        for (ns, _), dep in deployments.items():
            for k, v in (((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
                         or {}).items():
                self._dep_by_label[(ns, k, v)].append(dep)
        self._pod_by_label: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
        for (ns, _), pod in pods.items():
            for k, v in (meta(pod).get("labels") or {}).items():
                self._pod_by_label[(ns, k, v)].append(pod)
        self.used: set[Key] = set()  # Deployments some endpoint resolved to

    def deployment(self, namespace: str, name: str) -> Obj | None:
        return self.deployments.get((namespace, name))

    def deployment_for_service(self, namespace: str, service: str) -> tuple[Obj | None, str]:
        """The Deployment whose pods the Service selects, or None and why."""
        svc = self.services.get((namespace, service))
        if svc is None:
            return None, f"Service {namespace}/{service} not found"
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return None, f"Service {namespace}/{service} has no selector"
        k, v = next(iter(sorted(selector.items())))
        for dep in self._dep_by_label.get((namespace, k, v), ()):
            labels = ((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
            if all(labels.get(a) == b for a, b in selector.items()):
                return dep, ""
        return None, f"no Deployment in {namespace} matches the selector of Service {service}"

    def pods_of(self, dep: Obj) -> list[Obj]:
        match = (((dep.get("spec") or {}).get("selector") or {}).get("matchLabels")) or {}
        if not match:
            return []
        ns = meta(dep).get("namespace") or ""
        k, v = next(iter(sorted(match.items())))
        return [p for p in self._pod_by_label.get((ns, k, v), ())
                if all((meta(p).get("labels") or {}).get(a) == b for a, b in match.items())]


def workload(dep: Obj, index: Index) -> Workload:
    spec, status, m = dep.get("spec") or {}, dep.get("status") or {}, meta(dep)
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    pods = []
    for pod in sorted(index.pods_of(dep), key=lambda p: meta(p).get("name", "")):
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        pods.append(PodInfo(
            name=meta(pod).get("name", ""), phase=(pod.get("status") or {}).get("phase", "Unknown"),
            ready=bool(statuses) and all(s.get("ready") for s in statuses),
            restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
            node=(pod.get("spec") or {}).get("nodeName") or ""))
    return Workload(
        namespace=m.get("namespace", ""), name=m.get("name", ""), image=str(containers[0].get("image") or ""),
        ready=int(status.get("readyReplicas") or 0), desired=int(spec.get("replicas", 1)),
        revision=str((m.get("annotations") or {}).get(REVISION_ANNOTATION, "")), conditions=conditions(dep),
        pods=tuple(pods), paused=bool(spec.get("paused")))


def state_of(w: Workload) -> tuple[DeploymentState, str]:
    conds = {c[0]: c for c in w.conditions}
    progressing = conds.get("Progressing")
    if progressing and progressing[1] == "False":
        return DeploymentState.FAILED, f"{progressing[2]}: {progressing[3]}"
    if w.paused:
        return DeploymentState.DEGRADED if w.ready < w.desired else DeploymentState.READY, "rollout paused"
    if w.ready >= w.desired:
        return DeploymentState.READY, ""
    if w.ready == 0:
        return DeploymentState.CREATING, f"0/{w.desired} pods ready"
    return DeploymentState.DEGRADED, f"{w.ready}/{w.desired} pods ready"


def _replica(pod: PodInfo) -> ReplicaStatus:
    state = "ready" if pod.ready else ("starting" if pod.phase == "Pending" else
                                       "crashed" if pod.phase == "Failed" else "not-ready")
    return ReplicaStatus(id=pod.name, pid=None, port=None, state=state, restarts=pod.restarts, node=pod.node or None,
                         phase=pod.phase)


def details(w: Workload) -> dict[str, str]:
    """The Deployment's own facts for the deployments table: name, image, revision, conditions."""
    found = {"Deployment": f"{w.namespace}/{w.name}", "image": w.image}
    if w.revision:
        found["revision"] = w.revision
    if w.conditions:
        found["conditions"] = ", ".join(f"{t}={st}" + (f" ({why})" if why else "") for t, st, why, _ in w.conditions)
    if w.paused:
        found["paused"] = "rollout paused (spec.paused)"
    return found


def deployment_status(key: str, endpoint: str, w: Workload | None, upstream: str, when: datetime,
                      why: str = "", model: ModelRef | None = None) -> DeploymentStatus:
    """One traffic target of an endpoint: `key` as the endpoint's split names it, backed by
    the Deployment `w` (None when it could not be resolved: FAILED, `why` says so)."""
    model = model or (model_of_image(w.image) if w else ModelRef(name=key[:200], version="unknown"))
    desired = w.desired if w else 0
    spec = DeploymentSpec(endpoint=label(endpoint), name=label(key), model=model, runtime=Runtime.UPSTREAM,
                          replicas=min(max(desired, 0), 64), upstream=upstream)
    if w is None:
        return DeploymentStatus(name=key, endpoint=endpoint, model=model, runtime=Runtime.UPSTREAM,
                                state=DeploymentState.FAILED, reason=why, replicas_ready=0, replicas_desired=0,
                                spec=spec, created=when)
    state, reason = state_of(w)
    return DeploymentStatus(name=key, endpoint=endpoint, model=model, runtime=Runtime.UPSTREAM, state=state,
                            reason=reason, replicas_ready=w.ready, replicas_desired=w.desired,
                            replicas=[_replica(p) for p in w.pods], spec=spec, created=when, detail=details(w))


def service_url(service: str, namespace: str) -> str:
    return f"http://{service}.{namespace}.svc"


# ---------------------------------------------------------------- what the cache keeps

_META = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "labels")
_KEEP_ANNOTATIONS = (REVISION_ANNOTATION,)


def _slim_meta(obj: Obj) -> Obj:
    m = meta(obj)
    out = {k: m[k] for k in _META if k in m}
    notes = {k: v for k, v in (m.get("annotations") or {}).items() if k in _KEEP_ANNOTATIONS}
    if notes:
        out["annotations"] = notes
    return out


def slim_deployment(obj: Obj) -> Obj:
    """The fields the console shows of a Deployment (thousands are kept: fewer objects to hold)."""
    spec, tpl = obj.get("spec") or {}, (obj.get("spec") or {}).get("template") or {}
    containers = [{"name": c.get("name"), "image": c.get("image")} for c in (tpl.get("spec") or {}).get("containers")
                  or []]
    status = obj.get("status") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": _slim_meta(obj),
            "spec": {"replicas": spec.get("replicas", 1), "paused": bool(spec.get("paused")),
                     "selector": spec.get("selector") or {},
                     "template": {"metadata": {"labels": (tpl.get("metadata") or {}).get("labels") or {}},
                                  "spec": {"containers": containers}}},
            "status": {k: status[k] for k in ("readyReplicas", "replicas", "updatedReplicas", "availableReplicas",
                                              "observedGeneration", "conditions") if k in status}}


def slim_pod(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": _slim_meta(obj),
            "spec": {"nodeName": (obj.get("spec") or {}).get("nodeName")},
            "status": {"phase": status.get("phase"),
                       "containerStatuses": [{"name": c.get("name"), "ready": c.get("ready"),
                                              "restartCount": c.get("restartCount", 0)}
                                             for c in status.get("containerStatuses") or []]}}


def slim_service(obj: Obj) -> Obj:
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": _slim_meta(obj),
            "spec": {"selector": (obj.get("spec") or {}).get("selector") or {}}}


#: kind (plural.group) → what the cache keeps of its objects; other kinds are kept whole
SLIM = {"deployments.apps": slim_deployment, "pods": slim_pod, "services": slim_service}
