"""Factories for the custom resources: HTTPRoute, VirtualService, InferenceService, Argo Rollout, Flagger Canary."""

from __future__ import annotations

from typing import Any

NOW = "2024-06-01T12:00:00Z"
GATEWAY_CONTROLLER = "gateway.example.net/controller"


def _cond(kind: str, status: str = "True", reason: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason or kind, "message": message,
            "lastTransitionTime": NOW, **extra}


def httproute_parent_status(gateway: str, generation: int, accepted: bool = True) -> dict[str, Any]:
    return {
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway},
        "controllerName": GATEWAY_CONTROLLER,
        "conditions": [
            _cond("Accepted", "True" if accepted else "False", "Accepted" if accepted else "NotAllowedByListeners",
                  "Route is accepted" if accepted else "No listener matched", observedGeneration=generation),
            _cond("ResolvedRefs", "True", "ResolvedRefs", "Resolved all the Object references for the Route",
                  observedGeneration=generation),
        ],
    }


def httproute(name: str, backends: dict[str, int], namespace: str = "default", gateways: tuple[str, ...] = ("web",),
              hostnames: tuple[str, ...] = (), port: int = 80) -> dict[str, Any]:
    """`backends`: Service name -> weight. Status reports generation 1 accepted by every parent."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": g} for g in gateways],
            "hostnames": list(hostnames or (f"{name}.example.com",)),
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": svc, "port": port, "weight": weight}
                                for svc, weight in backends.items()],
            }],
        },
        "status": {"parents": [httproute_parent_status(g, 1) for g in gateways]},
    }


def virtualservice(name: str, destinations: dict[str, int], namespace: str = "default", version: str = "v1",
                   mirror: str | None = None, mirror_percent: float | None = None,
                   subsets: bool = False) -> dict[str, Any]:
    """`destinations`: host (or subset when `subsets`) -> weight."""
    host = f"{name}.{namespace}.svc.cluster.local"

    def dest(target: str) -> dict[str, Any]:
        if subsets:
            return {"host": host, "subset": target, "port": {"number": 80}}
        return {"host": target, "port": {"number": 80}}

    route: dict[str, Any] = {"name": "primary", "route": [{"destination": dest(t), "weight": w}
                                                          for t, w in destinations.items()]}
    if mirror:
        route["mirror"] = dest(mirror)
        if mirror_percent is not None:
            route["mirrorPercentage"] = {"value": mirror_percent}
    return {
        "apiVersion": f"networking.istio.io/{version}",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": [host], "gateways": ["mesh"], "http": [route]},
    }


def inferenceservice(name: str, namespace: str = "default", model_format: str = "sklearn",
                     storage_uri: str = "gs://models/iris/v2", runtime: str = "kserve-sklearnserver",
                     canary_percent: int | None = 10, latest_ready: str | None = None,
                     previous: str | None = None) -> dict[str, Any]:
    latest = latest_ready or f"{name}-predictor-00002"
    prev = previous or f"{name}-predictor-00001"
    predictor: dict[str, Any] = {"model": {"modelFormat": {"name": model_format}, "storageUri": storage_uri,
                                           "runtime": runtime, "protocolVersion": "v2"}}
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
        traffic = [{"revisionName": latest, "percent": canary_percent, "latestRevision": True, "tag": "latest"},
                   {"revisionName": prev, "percent": 100 - canary_percent, "latestRevision": False, "tag": "prev"}]
    else:
        traffic = [{"revisionName": latest, "percent": 100, "latestRevision": True}]
    url = f"http://{name}.{namespace}.example.com"
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace,
                     "annotations": {"serving.kserve.io/deploymentMode": "Serverless"}},
        "spec": {"predictor": predictor},
        "status": {
            "url": url,
            "address": {"url": f"http://{name}.{namespace}.svc.cluster.local"},
            "components": {"predictor": {
                "latestCreatedRevision": latest, "latestReadyRevision": latest,
                "latestRolledoutRevision": prev if canary_percent is not None else latest,
                "previousRolledoutRevision": prev, "traffic": traffic,
                "url": f"http://{name}-predictor.{namespace}.example.com",
            }},
            "conditions": [_cond("IngressReady"), _cond("LatestDeploymentReady"), _cond("PredictorReady"),
                           _cond("PredictorRouteReady"), _cond("Ready")],
            "modelStatus": {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                            "transitionStatus": "UpToDate"},
            "observedGeneration": 1,
        },
    }


def rollout(name: str, namespace: str = "default", image: str = "registry.example/model:v2", weight: int = 20,
            step: int = 1, phase: str = "Paused") -> dict[str, Any]:
    """An Argo Rollout (argoproj.io/v1alpha1) paused at a canary step."""
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10m"}}]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 4,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "model", "image": image,
                                                  "ports": [{"containerPort": 8080}]}]}},
            "strategy": {"canary": {"canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                                    "trafficRouting": {"plugins": {}}, "steps": steps}},
        },
        "status": {
            "phase": phase,
            "message": "CanaryPauseStep" if phase == "Paused" else "",
            "currentStepIndex": step,
            "currentPodHash": "6b8c9d7f5",
            "stableRS": "5f4d8c7b9",
            "controllerPause": phase == "Paused",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": NOW}] if phase == "Paused" else [],
            "canary": {"weights": {"canary": {"podTemplateHash": "6b8c9d7f5", "serviceName": f"{name}-canary",
                                              "weight": weight},
                                   "stable": {"podTemplateHash": "5f4d8c7b9", "serviceName": f"{name}-stable",
                                              "weight": 100 - weight}}},
            "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4, "availableReplicas": 4,
            "observedGeneration": "1",
            "conditions": [_cond("Paused", "True", "RolloutPaused", "Rollout is paused"),
                           _cond("Available", "True", "AvailableReason", "Rollout has minimum availability")],
        },
    }


def canary(name: str, namespace: str = "default", target: str | None = None, weight: int = 20,
           phase: str = "Progressing") -> dict[str, Any]:
    """A Flagger Canary (flagger.app/v1beta1) targeting a Deployment."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target or name},
            "service": {"port": 80, "targetPort": 8080},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                         "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                                     {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "1m"}]},
        },
        "status": {
            "phase": phase, "canaryWeight": weight, "failedChecks": 0, "iterations": 0,
            "lastAppliedSpec": "5d9c8b7f6", "lastTransitionTime": NOW,
            "conditions": [_cond("Promoted", "Unknown", "Progressing", "New revision detected, progressing canary "
                                 "analysis.", lastUpdateTime=NOW)],
        },
    }
