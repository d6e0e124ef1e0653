"""Endpoint objects to domain endpoints: HTTPRoute, VirtualService, InferenceService, and Argo
Rollout / Flagger Canary (endpoints under rollout control). Pure functions over dicts; each
returns the EndpointStatus and an `EndpointRef` naming the object and its kind-specific detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.backends.kubernetes.mapping import (
    Index,
    Obj,
    Workload,
    conditions,
    created,
    deployment_status,
    meta,
    model_of_image,
    percents,
    service_url,
    workload,
)
from console.domain.models import DeploymentState, DeploymentStatus, EndpointStatus, ModelRef


@dataclass(frozen=True)
class EndpointRef:
    """Which object an endpoint is, and what only Kubernetes knows about it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    resource_version: str
    generation: int
    control: str = ""  # "Argo Rollout" or "Flagger Canary": under a rollout controller
    detail: dict[str, Any] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)  # traffic key → its Deployment


def _ref(obj: Obj, **extra: Any) -> EndpointRef:
    m = meta(obj)
    return EndpointRef(obj.get("apiVersion", ""), obj.get("kind", ""), m.get("namespace", ""), m.get("name", ""),
                       str(m.get("resourceVersion", "")), int(m.get("generation") or 0), **extra)


def _through_service(key: str, ns: str, service: str, endpoint: str, obj: Obj, index: Index,
                     found: dict[str, Workload]) -> DeploymentStatus:
    dep, why = index.deployment_for_service(ns, service)
    w = None
    if dep is not None:
        w = workload(dep, index)
        index.used.add((ns, w.name))
        found[key] = w
    return deployment_status(key, endpoint, w, service_url(service, ns), created(obj), why)


def httproute(obj: Obj, name: str, index: Index) -> tuple[EndpointStatus, EndpointRef]:
    """Each weighted Service backendRef a deployment; weights as percent of their sum (summed
    over rules); applied when every parent reports the generation Accepted."""
    m, spec = meta(obj), obj.get("spec") or {}
    ns = m.get("namespace", "")
    weights: dict[str, float] = {}
    for rule in spec.get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if (ref.get("kind") or "Service") == "Service" and (ref.get("group") or "") == "":
                weights[ref["name"]] = weights.get(ref["name"], 0) + float(ref.get("weight", 1))
    parents = []
    accepted_generations = []
    for parent in (obj.get("status") or {}).get("parents") or []:
        conds = {c.get("type"): c for c in parent.get("conditions") or []}
        acc = conds.get("Accepted") or {}
        parents.append({"parent": (parent.get("parentRef") or {}).get("name", ""),
                        "controller": parent.get("controllerName", ""),
                        "conditions": [(c.get("type"), c.get("status"), c.get("reason"), c.get("message"),
                                        c.get("observedGeneration")) for c in parent.get("conditions") or []]})
        accepted_generations.append(int(acc.get("observedGeneration") or 0) if acc.get("status") == "True" else 0)
    generation = int(m.get("generation") or 0)
    found: dict[str, Workload] = {}
    deployments = [_through_service(svc, ns, svc, name, obj, index, found) for svc in weights]
    hosts = spec.get("hostnames") or []
    accepted = ", ".join(f"{p['parent']} {'accepted' if g == generation else 'not accepted'}"
                         f"{f' (generation {g})' if g and g != generation else ''}"
                         for p, g in zip(parents, accepted_generations, strict=True))
    endpoint = EndpointStatus(
        name=name, description=f"HTTPRoute {ns}/{m.get('name')} · parents: {accepted or 'none reported'}",
        traffic=percents(weights), mirror={}, revision=generation,
        revision_name="generation",
        applied_revision=min(accepted_generations) if accepted_generations else 0,
        scoring_uri=f"http://{hosts[0]}" if hosts else "", deployments=deployments, created=created(obj))
    return endpoint, _ref(obj, detail={"parents": parents, "weights": weights}, workloads=found)


def _service_of_host(host: str, ns: str) -> tuple[str, str]:
    """(namespace, service) of an Istio destination host: `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`."""
    parts = host.split(".")
    if len(parts) == 1:
        return ns, parts[0]
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[1], parts[0]
    return "", ""


def virtualservice(obj: Obj, name: str, index: Index) -> tuple[EndpointStatus, EndpointRef]:
    m, spec = meta(obj), obj.get("spec") or {}
    ns = m.get("namespace", "")
    weights: dict[str, float] = {}
    targets: dict[str, dict[str, Any]] = {}
    mirror: dict[str, int] = {}

    def key_of(dest: dict[str, Any]) -> str:
        key = dest.get("subset") or dest.get("host", "")
        targets.setdefault(key, dest)
        return str(key)

    for http in spec.get("http") or []:
        routes = http.get("route") or []
        for r in routes:
            key = key_of(r.get("destination") or {})
            weights[key] = weights.get(key, 0) + float(r.get("weight", 100 if len(routes) == 1 else 0))
        if http.get("mirror"):
            share = (http.get("mirrorPercentage") or {}).get("value", 100)
            mirror[key_of(http["mirror"])] = round(float(share))
    found: dict[str, Workload] = {}
    deployments = []
    for key, dest in targets.items():
        svc_ns, svc = _service_of_host(str(dest.get("host", "")), ns)
        if dest.get("subset"):
            deployments.append(deployment_status(key, name, None, service_url(svc, svc_ns or ns), created(obj),
                                                 f"subset {key} of {dest.get('host')}: its pods are chosen by a "
                                                 f"DestinationRule, which the console does not read"))
        elif not svc:
            deployments.append(deployment_status(key, name, None, f"http://{dest.get('host')}", created(obj),
                                                 f"{dest.get('host')} is not a Service of this cluster"))
        else:
            deployments.append(_through_service(key, svc_ns, svc, name, obj, index, found))
    hosts = spec.get("hosts") or []
    generation = int(m.get("generation") or 0)
    endpoint = EndpointStatus(
        name=name, description=f"VirtualService {ns}/{m.get('name')} · {obj.get('apiVersion')}",
        traffic=percents(weights), mirror=mirror, revision=generation,
        revision_name="generation",
        applied_revision=int((obj.get("status") or {}).get("observedGeneration") or generation),
        scoring_uri=f"http://{hosts[0]}" if hosts else "", deployments=deployments, created=created(obj))
    return endpoint, _ref(obj, detail={"weights": weights, "mirror": mirror}, workloads=found)


def inferenceservice(obj: Obj, name: str, index: Index) -> tuple[EndpointStatus, EndpointRef]:
    m, spec, status = meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    ns = m.get("namespace", "")
    predictor = spec.get("predictor") or {}
    model = predictor.get("model") or {}
    fmt = str((model.get("modelFormat") or {}).get("name") or "model")
    comp = (status.get("components") or {}).get("predictor") or {}
    latest, previous = comp.get("latestReadyRevision"), comp.get("previousRolledoutRevision")
    traffic = {t["revisionName"]: int(t.get("percent") or 0) for t in comp.get("traffic") or []
               if t.get("revisionName")}
    if not traffic and latest:
        traffic = {latest: 100}
    ready = {c[0]: c[1] for c in conditions(obj)}.get("Ready") == "True"
    found: dict[str, Workload] = {}
    deployments = []
    for rev in dict.fromkeys([*traffic, *(r for r in (latest, previous) if r)]):
        dep = index.deployment(ns, f"{rev}-deployment")  # Knative's Deployment of a revision
        w = workload(dep, index) if dep else None
        if w:
            index.used.add((ns, w.name))
            found[rev] = w
        ref = ModelRef(name=fmt[:200], version=rev[:100],
                       path=model.get("storageUri") if rev == latest else None)
        why = f"no Deployment {rev}-deployment in {ns}"
        ds = deployment_status(rev, name, w, comp.get("url") or status.get("url") or "http://unknown",
                               created(obj), why, model=ref)
        if w is None and ready:  # serverless revisions scale to zero; the service says it is ready
            ds = ds.model_copy(update={"state": DeploymentState.READY, "reason": f"pods not listed ({why})"})
        deployments.append(ds)
    detail = {"model_format": fmt, "storage_uri": model.get("storageUri", ""), "runtime": model.get("runtime", ""),
              "latest_ready": latest, "previous_rolled_out": previous,
              "canary_traffic_percent": predictor.get("canaryTrafficPercent"), "url": status.get("url", ""),
              "conditions": conditions(obj)}
    generation = int(m.get("generation") or 0)
    endpoint = EndpointStatus(
        name=name, description=" · ".join(part for part in (
            f"InferenceService {ns}/{m.get('name')}", fmt, f"runtime {model.get('runtime') or '?'}",
            model.get("storageUri", ""), f"latest ready {latest}" if latest else "",
            f"previously rolled out {previous}" if previous else "",
            f"canaryTrafficPercent {predictor['canaryTrafficPercent']}"
            if predictor.get("canaryTrafficPercent") is not None else "",
            ", ".join(f"{t}={st}" for t, st, _why, _msg in conditions(obj))) if part),
        traffic=traffic, mirror={}, revision=generation,
        revision_name="generation",
        applied_revision=int(status.get("observedGeneration") or 0), scoring_uri=status.get("url", ""),
        deployments=deployments, created=created(obj))
    return endpoint, _ref(obj, detail=detail, workloads=found)


def rollout(obj: Obj, name: str, index: Index) -> tuple[EndpointStatus, EndpointRef]:
    """An Argo Rollout (canary strategy): stable and canary as the split, under rollout control."""
    m, spec, status = meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    ns = m.get("namespace", "")
    canary = (spec.get("strategy") or {}).get("canary") or {}
    weights = ((status.get("canary") or {}).get("weights") or {})
    weight = int((weights.get("canary") or {}).get("weight") or 0)
    stable_key = canary.get("stableService") or "stable"
    canary_key = canary.get("canaryService") or "canary"
    steps = canary.get("steps") or []
    step = status.get("currentStepIndex")
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = str(containers[0].get("image") or "")
    desired = int(spec.get("replicas", 1))
    w = Workload(ns, m.get("name", ""), image, int(status.get("readyReplicas") or 0), desired,
                 str(status.get("currentPodHash", "")), conditions(obj), ())
    stable_model = model_of_image(image).model_copy(update={"version": f"rs-{status.get('stableRS', '?')}"})
    deployments = [deployment_status(stable_key, name, w, service_url(stable_key, ns), created(obj),
                                     model=stable_model),
                   deployment_status(canary_key, name, w, service_url(canary_key, ns), created(obj))]
    detail = {"phase": status.get("phase", ""), "message": status.get("message", ""),
              "step": f"{step}/{len(steps)}" if step is not None else "", "canary_weight": weight}
    endpoint = EndpointStatus(
        name=name, description=(f"Argo Rollout {ns}/{m.get('name')} · {detail['phase']} · step {detail['step']} · "
                                f"canary weight {weight}%"),
        traffic={stable_key: 100 - weight, canary_key: weight}, mirror={}, revision=int(m.get("generation") or 0),
        revision_name="generation",
        applied_revision=int(status.get("observedGeneration") or 0), scoring_uri=service_url(stable_key, ns),
        deployments=deployments, created=created(obj))
    return endpoint, _ref(obj, control="Argo Rollout", detail=detail)


def flagger_canary(obj: Obj, name: str, index: Index) -> tuple[EndpointStatus, EndpointRef]:
    """A Flagger Canary: `<target>-primary` and the target Deployment as the split."""
    m, spec, status = meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    ns = m.get("namespace", "")
    target = (spec.get("targetRef") or {}).get("name") or m.get("name", "")
    weight = int(status.get("canaryWeight") or 0)
    found: dict[str, Workload] = {}
    deployments = []
    for key in (f"{target}-primary", target):
        dep = index.deployment(ns, key)
        w = workload(dep, index) if dep else None
        if w:
            index.used.add((ns, key))
            found[key] = w
        deployments.append(deployment_status(key, name, w, service_url(key, ns), created(obj),
                                             f"Deployment {ns}/{key} not found"))
    detail = {"phase": status.get("phase", ""), "canary_weight": weight,
              "failed_checks": status.get("failedChecks", 0), "iterations": status.get("iterations", 0)}
    endpoint = EndpointStatus(
        name=name, description=f"Flagger Canary {ns}/{m.get('name')} · {detail['phase']} · canary weight {weight}%",
        traffic={f"{target}-primary": 100 - weight, target: weight}, mirror={}, revision=int(m.get("generation") or 0),
        revision_name="generation",
        applied_revision=int(status.get("observedGeneration") or m.get("generation") or 0),
        scoring_uri=service_url(target, ns), deployments=deployments, created=created(obj))
    return endpoint, _ref(obj, control="Flagger Canary", detail=detail, workloads=found)


#: kind (plural.group) → its mapping, in the order endpoints are listed
MAPPERS = {
    "httproutes.gateway.networking.k8s.io": httproute,
    "virtualservices.networking.istio.io": virtualservice,
    "inferenceservices.serving.kserve.io": inferenceservice,
    "rollouts.argoproj.io": rollout,
    "canaries.flagger.app": flagger_canary,
}
